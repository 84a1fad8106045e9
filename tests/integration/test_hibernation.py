"""Hibernation (docs/hooks.md, docs/billing.md "Hibernation"): POST
hooks/session-hibernated and hooks/session-woken stop and resume a session's
cpu and memory; its storage goes on accruing, stale heartbeats or not.

The clock is fixed: billingd and the helpers run with BILLING_TEST_NOW.
"""

import json
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = int(datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc).timestamp())


class HibernationTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = {"sessionTimeoutMinutes": 15}

    # -- helpers ----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def call(self, name, body):
        return self.request("POST", "hooks/" + name, body=body,
                            token=self.token("platform", "service"))

    def hook(self, name, body, expect=(200, 201)):
        status, _, resp = self.call(name, body)
        self.assertIn(status, expect, resp)
        return resp

    def run_job(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def usage(self, user, query=""):
        req = urllib.request.Request(self.stack.api + "usage" + query,
                                     headers={"Authorization": "Bearer " + self.token(user)})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read().decode(), parse_float=Decimal,
                              parse_int=Decimal)
        return body, {i["resource_type"]: i for i in body["items"]}

    def create(self, user, sid, started, cpu=2, mem=4, storage=10):
        return self.hook("session-created", {
            "session_id": sid, "user_id": user, "cpu_cores": cpu,
            "memory_gb": mem, "storage_gb": storage, "started_at": started})

    def segments(self, sid):
        return [tuple(r) for r in self.sql(
            "SELECT g.started_at, COALESCE(g.ended_at, 'NULL'), g.cpu_cores, "
            "g.memory_gb, g.storage_gb FROM billing_session_segments g "
            "JOIN billing_sessions s ON s.id = g.session_pk "
            "WHERE s.session_id = '%s' ORDER BY g.seq" % sid)]

    def records(self, user):
        return self.sql(
            "SELECT r.resource_type, SUM(r.quantity), SUM(r.total_cost), COUNT(*) "
            "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id = '%s' GROUP BY r.resource_type ORDER BY r.resource_type"
            % user)

    def assertError(self, resp, status, code, param=None):
        err = super().assertError(resp, status, code)
        if param is not None:
            self.assertEqual(err.get("param"), param, err)
        return err

    # -- the hand-computed day ---------------------------------------------

    def test_two_hours_running_three_hibernated_one_running_bills_to_the_cent(self):
        """2 cores, 4 GB, 10 GB storage: 08:00-10:00 running, 10:00-13:00
        hibernated, 13:00-14:00 running.
        cpu 2 cores x 3 h = 6 core-hours x 0.05 = 0.30
        memory 4 GB x 3 h = 12 GB-hours x 0.01 = 0.12
        storage 10 GB x 6 h: 6 records of 10/730 GB-months (0.013699) at
        0.10, each 1/730 = 0.001370; 0.008220 in all, 0.01 on the invoice
        total 0.43 (without the hibernation: 0.60 + 0.24 + 0.01 = 0.85)."""
        user, sid = "hib@example.com", "hib-1"
        self.create(user, sid, "2025-03-09T08:00:00Z")
        r = self.hook("session-hibernated", {"session_id": sid,
                                             "at": "2025-03-09T10:00:00Z"})
        self.assertEqual(r["state"], "hibernated")
        # the sizes it resumes with are kept
        self.assertEqual((r["cpu_cores"], r["memory_gb"], r["storage_gb"]), (2, 4, 10))
        r = self.hook("session-woken", {"session_id": sid, "at": "2025-03-09T13:00:00Z"})
        self.assertEqual(r["state"], "running")
        r = self.hook("session-terminated", {"session_id": sid,
                                             "ended_at": "2025-03-09T14:00:00Z"})
        # the other hooks' answers keep their shape for a running session
        self.assertEqual(r["ended_at"], "2025-03-09T14:00:00Z")
        self.assertNotIn("state", r)
        self.assertEqual(self.segments(sid), [
            ("2025-03-09 08:00:00.000000", "2025-03-09 10:00:00.000000",
             "2.000000", "4.000000", "10.000000"),
            ("2025-03-09 10:00:00.000000", "2025-03-09 13:00:00.000000",
             "0.000000", "0.000000", "10.000000"),
            ("2025-03-09 13:00:00.000000", "2025-03-09 14:00:00.000000",
             "2.000000", "4.000000", "10.000000")])
        self.run_job()
        self.run_job()  # exactly once
        self.assertEqual(self.records(user), [
            ["cpu", "6.000000", "0.300000", "3"],
            ["memory", "12.000000", "0.120000", "3"],
            ["storage", "0.082194", "0.008220", "6"]])
        body, items = self.usage(user, "?from=2025-03-09&to=2025-03-09")
        self.assertEqual(items["cpu"]["quantity"], Decimal(6))
        self.assertEqual(items["cpu"]["total_cost"], Decimal("0.30"))
        self.assertEqual(items["memory"]["quantity"], Decimal(12))
        self.assertEqual(items["memory"]["total_cost"], Decimal("0.12"))
        self.assertEqual(items["storage"]["quantity"], Decimal("0.082194"))
        self.assertEqual(items["storage"]["total_cost"], Decimal("0.00822"))
        self.assertEqual(body["total_cost"], Decimal("0.42822"))
        status, _, inv = self.request("POST", "admin/invoices",
                                      token=self.token("admin@example.com", "admin"),
                                      body={"user_id": user, "period_start": "2025-03-09",
                                            "period_end": "2025-03-09"})
        self.assertEqual(status, 201, inv)
        lines = sorted((l["resource_type"], Decimal(str(l["amount"])))
                       for l in inv["lines"])
        self.assertEqual(lines, [("cpu", Decimal("0.30")), ("memory", Decimal("0.12")),
                                 ("storage", Decimal("0.01"))])
        self.assertEqual(Decimal(str(inv["total"])), Decimal("0.43"))

    def test_a_hibernated_session_shows_as_such_and_accrues_storage_only(self):
        """Hibernated at 10:00 with its last heartbeat then: older than
        sessionTimeoutMinutes at 12:30, yet its storage is not cut."""
        user, sid = "hibnow@example.com", "hibnow-1"
        self.create(user, sid, "2025-03-10T09:00:00Z")
        self.hook("session-hibernated", {"session_id": sid, "at": "2025-03-10T10:00:00Z"})
        self.run_job()
        # 09:00-10:00 everything; 10:00-12:00 storage only (2 records)
        self.assertEqual(self.records(user), [
            ["cpu", "2.000000", "0.100000", "1"],
            ["memory", "4.000000", "0.040000", "1"],
            ["storage", "0.041097", "0.004110", "3"]])
        body, items = self.usage(user)
        [live] = body["active_sessions"]
        self.assertEqual(live["state"], "hibernated")
        self.assertFalse(live["stale"])
        self.assertEqual((live["cpu_cores"], live["memory_gb"], live["storage_gb"]),
                         (2, 4, 10))
        # metered 0.14411, plus 12:00-12:30 of 10 GB: 5/730 x 0.10 = 0.000685
        self.assertEqual(live["accrued_cost"], Decimal("0.144795"))
        self.assertEqual(body["pending_cost"], Decimal("0.000685"))
        # the quota counts its storage, not its cores or memory
        self.assertEqual(body["quota"]["cpu"]["in_use"], Decimal(0))
        self.assertEqual(body["quota"]["memory"]["in_use"], Decimal(0))
        self.assertEqual(body["quota"]["storage"]["in_use"], Decimal(10))
        # a running one says so
        self.create(user, "hibnow-2", "2025-03-10T12:00:00Z", 1, 1, 0)
        body, _ = self.usage(user)
        states = {s["session_id"]: s["state"] for s in body["active_sessions"]}
        self.assertEqual(states, {sid: "hibernated", "hibnow-2": "running"})

    def test_the_quota_job_counts_a_hibernated_session_s_storage_only(self):
        user, sid = "hibquota@example.com", "hibquota-1"
        self.create(user, sid, "2025-03-10T09:00:00Z", 2, 4, 8)
        self.hook("session-hibernated", {"session_id": sid, "at": "2025-03-10T10:00:00Z"})
        self.stack.run_helper("billing-check-quotas", env={"BILLING_TEST_NOW": NOW})
        rows = self.sql(
            "SELECT q.resource_type, q.in_use FROM billing_quota_state q "
            "JOIN billing_accounts a ON a.id = q.account_id WHERE a.user_id = '%s' "
            "ORDER BY q.resource_type" % user)
        # no cores or memory in use (no row); its storage, although its last
        # heartbeat (10:00) is older than sessionTimeoutMinutes
        self.assertEqual([(r[0], Decimal(r[1])) for r in rows], [("storage", 8)])

    def test_a_resize_while_hibernated_is_kept_for_the_wake(self):
        user, sid = "hibresize@example.com", "hibresize-1"
        self.create(user, sid, "2025-03-09T08:00:00Z")
        self.hook("session-hibernated", {"session_id": sid, "at": "2025-03-09T09:00:00Z"})
        r = self.hook("session-heartbeat", {"session_id": sid, "at": "2025-03-09T10:00:00Z",
                                            "cpu_cores": "4", "storage_gb": "20Gi"})
        self.assertEqual((r["cpu_cores"], r["storage_gb"], r["state"]), (4, 20, "hibernated"))
        self.hook("session-woken", {"session_id": sid, "at": "2025-03-09T11:00:00Z"})
        self.assertEqual([g[2:] for g in self.segments(sid)], [
            ("2.000000", "4.000000", "10.000000"),
            ("0.000000", "0.000000", "10.000000"),
            ("0.000000", "0.000000", "20.000000"),
            ("4.000000", "4.000000", "20.000000")])

    def test_ended_while_hibernated_its_storage_stops_there(self):
        user, sid = "hibend@example.com", "hibend-1"
        self.create(user, sid, "2025-03-09T08:00:00Z", 1, 1, 73)
        self.hook("session-hibernated", {"session_id": sid, "at": "2025-03-09T09:00:00Z"})
        r = self.hook("session-terminated", {"session_id": sid,
                                             "ended_at": "2025-03-09T11:00:00Z"})
        self.assertEqual(r["state"], "ended")
        self.run_job()
        # 73 GB for 3 h: 3 x 73/730 = 0.3 GB-months, 0.03; 1 core-hour, 1 GB-hour
        self.assertEqual(self.records(user), [
            ["cpu", "1.000000", "0.050000", "1"],
            ["memory", "1.000000", "0.010000", "1"],
            ["storage", "0.300000", "0.030000", "3"]])
        body, _ = self.usage(user)
        self.assertEqual(body["active_sessions"], [])

    # -- idempotence and order ---------------------------------------------

    def test_the_same_call_twice_has_one_effect(self):
        user, sid = "hibtwice@example.com", "hibtwice-1"
        self.create(user, sid, "2025-03-09T08:00:00Z")
        hib = {"session_id": sid, "at": "2025-03-09T09:00:00Z"}
        wake = {"session_id": sid, "at": "2025-03-09T10:00:00Z"}
        for _ in range(2):
            status, _, r = self.call("session-hibernated", hib)
            self.assertEqual((status, r["state"]), (200, "hibernated"), r)
        # another instant while hibernated: still one hibernation
        status, _, r = self.call("session-hibernated",
                                 {"session_id": sid, "at": "2025-03-09T09:30:00Z"})
        self.assertEqual(status, 200, r)
        self.assertEqual(len(self.segments(sid)), 2)
        for _ in range(2):
            status, _, r = self.call("session-woken", wake)
            self.assertEqual((status, r["state"]), (200, "running"), r)
        # a wake without `at` repeats the latest one
        status, _, r = self.call("session-woken", {"session_id": sid})
        self.assertEqual((status, r["state"]), (200, "running"), r)
        # a late repeat of the earlier hibernation changes nothing
        status, _, r = self.call("session-hibernated", hib)
        self.assertEqual((status, r["state"]), (200, "running"), r)
        self.assertEqual(len(self.segments(sid)), 3)
        # and a second hibernation later is a new one
        status, _, r = self.call("session-hibernated",
                                 {"session_id": sid, "at": "2025-03-09T11:00:00Z"})
        self.assertEqual((status, r["state"]), (200, "hibernated"), r)
        self.assertEqual(len(self.segments(sid)), 4)
        # the earlier wake, late again: already applied
        status, _, r = self.call("session-woken", wake)
        self.assertEqual((status, r["state"]), (200, "hibernated"), r)
        self.assertEqual(len(self.segments(sid)), 4)

    def test_refusals_change_nothing(self):
        user, sid = "hibbad@example.com", "hibbad-1"
        self.create(user, sid, "2025-03-09T08:00:00Z")
        before = self.segments(sid)
        # a wake of a session never hibernated: 409
        self.assertError(self.call("session-woken", {"session_id": sid}), 409, "conflict")
        self.assertError(self.call("session-woken", {"session_id": sid,
                                                     "at": "2025-03-09T09:00:00Z"}),
                         409, "conflict")
        # unknown session: 404
        self.assertError(self.call("session-hibernated", {"session_id": "no-such"}),
                         404, "not_found")
        self.assertError(self.call("session-woken", {"session_id": "no-such"}),
                         404, "not_found")
        # before the start: 400 naming at
        self.assertError(self.call("session-hibernated",
                                   {"session_id": sid, "at": "2025-03-09T07:59:59Z"}),
                         400, "invalid_argument", "at")
        # malformed bodies
        for body, param in [({}, "session_id"), ({"session_id": sid, "at": "soon"}, "at"),
                            ({"session_id": sid, "cpu_cores": 1}, "cpu_cores"),
                            ({"session_id": sid, "at": "2025-03-10T13:00:00Z"}, "at")]:
            with self.subTest(body=body):
                self.assertError(self.call("session-hibernated", body), 400,
                                 "invalid_argument", param)
        self.assertEqual(self.segments(sid), before)
        # a wake before its hibernation: 400; after a wake, a hibernation
        # before that wake: 400
        self.hook("session-hibernated", {"session_id": sid, "at": "2025-03-09T10:00:00Z"})
        self.assertError(self.call("session-woken",
                                   {"session_id": sid, "at": "2025-03-09T09:59:00Z"}),
                         400, "invalid_argument", "at")
        self.hook("session-woken", {"session_id": sid, "at": "2025-03-09T11:00:00Z"})
        self.assertError(self.call("session-hibernated",
                                   {"session_id": sid, "at": "2025-03-09T10:30:00Z"}),
                         400, "invalid_argument", "at")
        # another wake instant on an awake session: 409
        self.assertError(self.call("session-woken",
                                   {"session_id": sid, "at": "2025-03-09T11:30:00Z"}),
                         409, "conflict")
        # an ended session: 409 both ways
        self.hook("session-terminated", {"session_id": sid, "ended_at": "2025-03-09T12:00:00Z"})
        n = len(self.segments(sid))
        self.assertError(self.call("session-hibernated", {"session_id": sid}), 409, "conflict")
        self.assertError(self.call("session-woken", {"session_id": sid}), 409, "conflict")
        self.assertEqual(len(self.segments(sid)), n)

    def test_only_the_service_role(self):
        status, _, r = self.request("POST", "hooks/session-hibernated",
                                    body={"session_id": "x"},
                                    token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 403, r)
