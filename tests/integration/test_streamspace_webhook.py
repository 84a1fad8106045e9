"""POST hooks/streamspace: StreamSpace's own webhook (docs/hooks.md).

Deliveries are signed here as StreamSpace signs them: X-StreamSpace-Signature
is the lowercase hex HMAC-SHA256 of the raw body.  The clock is fixed
(BILLING_TEST_NOW); each effect happens at the delivery's timestamp.
"""

import hashlib
import hmac
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = int(datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc).timestamp())
SECRETS = ("ss_old_secret", "ss_new_secret")


def sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(event, timestamp, **data):
    return {"event": event, "timestamp": timestamp, "data": data,
            "metadata": {"source": "streamspace-api"}}


def session_data(name, user, cpu="1000m", memory="2Gi", **extra):
    d = {"name": name, "user": user, "template": "firefox",
         "resources": {"cpu": cpu, "memory": memory}}
    d.update(extra)
    return d


class StreamSpaceCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW,
                 "STREAMSPACE_WEBHOOK_SECRET": ", ".join(SECRETS)}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def post(self, body, signature=None):
        headers = {} if signature is None else {"X-StreamSpace-Signature": signature}
        return self.request("POST", "hooks/streamspace", raw=body, headers=headers,
                            content_type="application/json")

    def send(self, obj, secret=SECRETS[0]):
        body = json.dumps(obj).encode()
        return self.post(body, sign(secret, body))

    def ok(self, obj, outcome="applied", **kw):
        status, _, resp = self.send(obj, **kw)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["outcome"], outcome, resp)
        return resp

    def event(self, event, ts, name, user, **extra):
        if event in ("session.created", "session.started"):
            data = session_data(name, user, **extra)
        else:
            data = {"name": name, "user": user}
        return delivery(event, ts, **data)

    def assertError(self, resp, status, code, param=None):
        err = super().assertError(resp, status, code)
        if param is not None:
            self.assertEqual(err.get("param"), param, err)
        return err

    def deliveries(self):
        return int(self.sql("SELECT COUNT(*) FROM billing_streamspace_deliveries")[0][0])

    def snapshot(self):
        return [self.sql(q) for q in (
            "SELECT body_sha256, event, outcome FROM billing_streamspace_deliveries "
            "ORDER BY body_sha256",
            "SELECT session_id, account_id, hibernated, COALESCE(ended_at, '') "
            "FROM billing_sessions ORDER BY id",
            "SELECT session_pk, seq, started_at, COALESCE(ended_at, ''), cpu_cores "
            "FROM billing_session_segments ORDER BY id",
            "SELECT user_id, COALESCE(email, '') FROM billing_accounts ORDER BY id")]

    def segments(self, sid):
        return [tuple(r) for r in self.sql(
            "SELECT g.started_at, COALESCE(g.ended_at, 'NULL'), g.cpu_cores, "
            "g.memory_gb, g.storage_gb FROM billing_session_segments g "
            "JOIN billing_sessions s ON s.id = g.session_pk "
            "WHERE s.session_id = '%s' ORDER BY g.seq" % sid)]

    def records(self, user):
        return self.sql(
            "SELECT r.resource_type, SUM(r.quantity), SUM(r.total_cost) "
            "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id = '%s' AND r.quantity > 0 GROUP BY r.resource_type "
            "ORDER BY r.resource_type" % user)

    def run_job(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})


class StreamSpaceLifeTest(StreamSpaceCase):
    """Deliveries of the day before NOW: a wider tolerance."""

    config_overrides = {"streamspaceWebhookToleranceSeconds": 172800,
                        "streamspaceHomeStorageGb": 50,
                        "sessionTimeoutMinutes": 15}

    def test_a_session_life_metered_and_invoiced_to_the_cent(self):
        """1000m and 2Gi (1 core, 2 GB, no storage): 08:00-10:00 running,
        10:00-13:00 hibernated, 13:00-14:00 running again: 3 core-hours x
        0.05 = 0.15, 6 GB-hours x 0.01 = 0.06; total 0.21."""
        user, sid = "life@example.com", "ss-life-1"
        self.ok(self.event("session.created", "2025-03-09T08:00:00Z", sid, user))
        self.ok(self.event("session.hibernated", "2025-03-09T10:00:00Z", sid, user))
        self.ok(self.event("session.started", "2025-03-09T13:00:00Z", sid, user))
        self.ok(self.event("session.terminated", "2025-03-09T14:00:00Z", sid, user))
        # a late session.failed of the ended session: recorded, ignored
        r = self.ok(self.event("session.failed", "2025-03-09T14:00:05Z", sid, user),
                    outcome="ignored")
        self.assertEqual(r["ignored"], "the session has ended")
        self.assertEqual(self.segments(sid), [
            ("2025-03-09 08:00:00.000000", "2025-03-09 10:00:00.000000",
             "1.000000", "2.000000", "0.000000"),
            ("2025-03-09 10:00:00.000000", "2025-03-09 13:00:00.000000",
             "0.000000", "0.000000", "0.000000"),
            ("2025-03-09 13:00:00.000000", "2025-03-09 14:00:00.000000",
             "1.000000", "2.000000", "0.000000")])
        self.run_job()
        self.run_job()  # exactly once
        self.assertEqual(self.records(user), [["cpu", "3.000000", "0.150000"],
                                              ["memory", "6.000000", "0.060000"]])
        status, _, inv = self.request(
            "POST", "admin/invoices",
            token=self.stack.token("admin@example.com", "admin", now=NOW_EPOCH),
            body={"user_id": user, "period_start": "2025-03-09", "period_end": "2025-03-09"})
        self.assertEqual(status, 201, inv)
        lines = sorted((l["resource_type"], Decimal(str(l["amount"])))
                       for l in inv["lines"] if Decimal(str(l["amount"])) != 0)
        self.assertEqual(lines, [("cpu", Decimal("0.15")), ("memory", Decimal("0.06"))])
        self.assertEqual(Decimal(str(inv["total"])), Decimal("0.21"))

    def test_a_delivered_session_is_never_cut_as_stale(self):
        """Started at 09:00 by a delivery, no heartbeat ever: at 12:30 it has
        accrued 09:00-12:00 (3 records), and GET usage counts it as live;
        a hooks session of the same start without heartbeats is cut at 09:00."""
        user, sid = "quiet@example.com", "ss-quiet-1"
        self.ok(self.event("session.created", "2025-03-10T09:00:00Z", sid, user))
        status, _, _ = self.request(
            "POST", "hooks/session-created",
            token=self.stack.token("platform", "service", now=NOW_EPOCH),
            body={"session_id": "hook-quiet-1", "user_id": "hookquiet@example.com",
                  "cpu_cores": 1, "memory_gb": 2, "storage_gb": 0,
                  "started_at": "2025-03-10T09:00:00Z"})
        self.assertEqual(status, 201)
        self.run_job()
        self.assertEqual(self.records(user), [["cpu", "3.000000", "0.150000"],
                                              ["memory", "6.000000", "0.060000"]])
        self.assertEqual(self.records("hookquiet@example.com"), [])
        req = urllib.request.Request(
            self.stack.api + "usage",
            headers={"Authorization": "Bearer " + self.stack.token(user, "user", now=NOW_EPOCH)})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read().decode())
        live = [s for s in body["active_sessions"] if s["session_id"] == sid]
        self.assertEqual(len(live), 1, body)
        self.assertFalse(live[0]["stale"])
        self.assertEqual(self.sql("SELECT heartbeats FROM billing_sessions "
                                  "WHERE session_id = '%s'" % sid), [["0"]])

    def test_ten_concurrent_copies_of_one_delivery_have_one_effect(self):
        user, sid = "conc@example.com", "ss-conc-1"
        body = json.dumps(self.event("session.created", "2025-03-10T11:00:00Z",
                                     sid, user)).encode()
        sig = sign(SECRETS[0], body)
        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(lambda _: self.post(body, sig), range(10)))
        outcomes = sorted(r[2]["outcome"] for r in results)
        self.assertTrue(all(r[0] == 200 for r in results), results)
        self.assertEqual(outcomes, ["applied"] + ["duplicate"] * 9)
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_streamspace_deliveries "
            "WHERE body_sha256 = '%s'" % hashlib.sha256(body).hexdigest()), [["1"]])
        self.assertEqual(len(self.segments(sid)), 1)
        # and once more, later: still one effect, answered as a duplicate
        status, _, resp = self.post(body, sig)
        self.assertEqual((status, resp.get("duplicate")), (200, True), resp)

    def test_forged_or_missing_signatures_are_401_and_change_nothing(self):
        obj = self.event("session.created", "2025-03-10T11:00:00Z", "ss-forged", "f@example.com")
        body = json.dumps(obj).encode()
        before = self.snapshot()
        for sig in (None, "", sign("not-the-secret", body), sign(SECRETS[0], body).upper(),
                    sign(SECRETS[0], body + b" "), "sha256=" + sign(SECRETS[0], body)):
            with self.subTest(sig=sig):
                self.assertError(self.post(body, sig), 401, "unauthenticated")
        self.assertEqual(self.snapshot(), before)

    def test_the_second_secret_works_too(self):
        r = self.ok(delivery("template.updated", "2025-03-10T12:00:00Z", name="x"),
                    secret=SECRETS[1], outcome="ignored")
        self.assertEqual(r["ignored"], "unhandled event")

    def test_an_unknown_event_is_recorded_as_ignored(self):
        obj = delivery("node.drained", "2025-03-10T12:01:00Z", node="n1")
        self.ok(obj, outcome="ignored")
        sha = hashlib.sha256(json.dumps(obj).encode()).hexdigest()
        self.assertEqual(self.sql("SELECT event, outcome FROM billing_streamspace_deliveries "
                                  "WHERE body_sha256 = '%s'" % sha),
                         [["node.drained", "ignored"]])

    def test_a_user_mismatch_is_409_and_changes_nothing(self):
        sid = "ss-owned"
        self.ok(self.event("session.created", "2025-03-10T10:00:00Z", sid, "owner@example.com"))
        before = self.snapshot()
        for ev in ("session.hibernated", "session.terminated", "session.started"):
            with self.subTest(event=ev):
                status, _, resp = self.send(self.event(ev, "2025-03-10T11:00:00Z", sid,
                                                       "intruder@example.com"))
                self.assertError((status, _, resp), 409, "conflict", "data.user")
        self.assertEqual(self.snapshot(), before)

    def test_an_event_for_an_unknown_session_is_404_and_changes_nothing(self):
        """Bad input, as on the hooks: nothing is recorded, so the same
        delivery applies once billing has seen the session start."""
        before = self.snapshot()
        n = self.deliveries()
        for ev in ("session.hibernated", "session.terminated", "session.failed"):
            with self.subTest(event=ev):
                status, _, resp = self.send(self.event(ev, "2025-03-10T11:00:00Z",
                                                       "ss-never-seen", "ghost@example.com"))
                self.assertError((status, _, resp), 404, "not_found", "data.name")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.deliveries(), n)

    def test_a_persistent_home_gives_the_user_a_volume(self):
        user = "home@example.com"
        self.ok(self.event("session.created", "2025-03-10T10:00:00Z", "ss-home-1", user,
                           persistentHome=True))
        self.ok(self.event("session.created", "2025-03-10T10:30:00Z", "ss-home-2", user,
                           persistentHome=True))
        self.assertEqual(self.sql(
            "SELECT s.storage_gb, s.started_at FROM billing_sessions s "
            "JOIN billing_accounts a ON a.id = s.account_id "
            "WHERE s.kind = 'user_storage' AND a.user_id = '%s'" % user),
            [["50.000000", "2025-03-10 10:00:00.000000"]])

    def test_user_created_makes_the_account(self):
        self.ok(delivery("user.created", "2025-03-10T12:00:00Z",
                         username="newbie", email="newbie@example.com", role="user"))
        self.assertEqual(self.sql("SELECT email FROM billing_accounts WHERE user_id = 'newbie'"),
                         [["newbie@example.com"]])
        status, _, resp = self.send(delivery("user.created", "2025-03-10T12:00:01Z",
                                             username="newbie", email="other@example.com"))
        self.assertError((status, _, resp), 409, "conflict", "data.email")

    def test_user_deleted_of_an_unknown_user_is_ignored(self):
        r = self.ok(delivery("user.deleted", "2025-03-10T12:02:00Z", username="gone"),
                    outcome="ignored")
        self.assertEqual(r["ignored"], "unknown user")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_accounts "
                                  "WHERE user_id = 'gone'"), [["0"]])
        self.assertError(self.send(delivery("user.deleted", "2025-03-10T12:02:00Z")),
                         400, "invalid_argument", "data.username")

    def hook(self, name, body):
        return self.request("POST", "hooks/" + name, body=body,
                            token=self.stack.token("platform", "service", now=NOW_EPOCH))

    def test_user_deleted_closes_the_account(self):
        """A running session (1 core, 2 GB) and a 50 GB home from 20:00 the
        day before, another session running 21:00-22:00 then hibernated;
        the user is deleted at 10:00: 15 core-hours and 30 GB-hours (0.75 +
        0.30) and 14 hours of 50 GB (0.10) are billed, no more; the account
        is closed, every hook for it is 409, and the invoice run still
        invoices it."""
        user, sid = "closer@example.com", "ss-close-1"
        self.ok(self.event("session.created", "2025-03-09T20:00:00Z", sid, user,
                           persistentHome=True))
        self.ok(self.event("session.created", "2025-03-09T21:00:00Z", "ss-close-2", user))
        self.ok(self.event("session.hibernated", "2025-03-09T22:00:00Z", "ss-close-2", user))
        gone = delivery("user.deleted", "2025-03-10T10:00:00Z", username=user,
                        email=user)
        self.ok(gone)
        self.assertEqual(self.send(gone)[2].get("duplicate"), True)
        self.assertEqual(self.sql("SELECT status FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user), [["closed"]])
        self.assertEqual(self.sql(
            "SELECT session_id, ended_at FROM billing_sessions "
            "WHERE kind = 'session' AND session_id LIKE 'ss-close-%' ORDER BY id"),
            [[sid, "2025-03-10 10:00:00.000000"],
             ["ss-close-2", "2025-03-10 10:00:00.000000"]])
        self.assertEqual(self.segments(sid), [
            ("2025-03-09 20:00:00.000000", "2025-03-10 10:00:00.000000",
             "1.000000", "2.000000", "0.000000")])
        self.assertEqual([tuple(r) for r in self.sql(
            "SELECT g.started_at, COALESCE(g.ended_at, 'NULL'), g.storage_gb "
            "FROM billing_session_segments g JOIN billing_sessions s ON s.id = g.session_pk "
            "JOIN billing_accounts a ON a.id = s.account_id WHERE s.kind = 'user_storage' "
            "AND a.user_id = '%s' ORDER BY g.seq" % user)], [
            ("2025-03-09 20:00:00.000000", "2025-03-10 10:00:00.000000", "50.000000"),
            ("2025-03-10 10:00:00.000000", "NULL", "0.000000")])
        # a second, different user.deleted: acknowledged, nothing more
        before = self.snapshot()
        r = self.ok(delivery("user.deleted", "2025-03-10T11:00:00Z", username=user),
                    outcome="ignored")
        self.assertEqual(r["ignored"], "the account is closed already")
        after = self.snapshot()
        self.assertEqual(after[1:], before[1:])
        # every hook for its user or sessions: 409, nothing changes
        before = self.snapshot()
        for name, body in (
                ("session-created", {"session_id": "hook-close-3", "user_id": user,
                                     "cpu_cores": 1, "memory_gb": 2, "storage_gb": 0,
                                     "started_at": "2025-03-10T11:00:00Z"}),
                ("session-heartbeat", {"session_id": sid, "at": "2025-03-10T11:00:00Z"}),
                ("session-heartbeat", {"session_id": sid, "at": "2025-03-10T11:00:00Z",
                                       "cpu_cores": 2}),
                ("session-hibernated", {"session_id": sid, "at": "2025-03-10T11:00:00Z"}),
                ("session-woken", {"session_id": "ss-close-2",
                                   "at": "2025-03-10T11:00:00Z"}),
                ("session-terminated", {"session_id": sid,
                                        "ended_at": "2025-03-10T10:00:00Z"}),
                ("user-storage", {"user_id": user, "storage_gb": 10,
                                  "at": "2025-03-10T11:00:00Z"}),
                ("user-storage", {"user_id": user, "storage_gb": 0,
                                  "at": "2025-03-10T11:00:00Z"}),
                ("user-created", {"user_id": user}),
                ("user-created", {"user_id": user, "email": user})):
            with self.subTest(hook=name, body=body):
                self.assertError(self.hook(name, body), 409, "conflict")
        for ev, name in (("session.created", "ss-close-3"), ("session.started", sid),
                         ("session.started", "ss-close-2"),
                         ("session.hibernated", sid), ("session.terminated", sid),
                         ("session.failed", "ss-close-2")):
            with self.subTest(event=ev, name=name):
                self.assertError(self.send(self.event(ev, "2025-03-10T11:30:00Z", name,
                                                      user, persistentHome=True)
                                           if ev == "session.created" else
                                           self.event(ev, "2025-03-10T11:30:00Z", name, user)),
                                 409, "conflict", "data.user")
        self.assertError(self.send(delivery("user.created", "2025-03-10T11:30:00Z",
                                            username=user, email=user)),
                         409, "conflict", "data.user")
        self.assertEqual(self.snapshot(), before)
        # metered up to the deletion only, now and later
        self.run_job()
        self.stack.run_helper("billing-calculate-usage",
                              env={"BILLING_TEST_NOW": "2025-03-20T12:00:00Z"})
        recs = self.records(user)
        self.assertEqual(recs[:2], [["cpu", "15.000000", "0.750000"],
                                    ["memory", "30.000000", "0.300000"]])
        # 50 GB for 14 hours, in GB-months of 730 hours (14 x 0.068493)
        self.assertEqual([recs[2][0], recs[2][1]], ["storage", "0.958902"])
        self.assertEqual(self.sql(
            "SELECT MAX(r.end_time) FROM billing_usage_records r JOIN billing_accounts a "
            "ON a.id = r.account_id WHERE a.user_id = '%s' AND r.quantity > 0" % user),
            [["2025-03-10 10:00:00.000000"]])
        # the quotas job leaves it closed
        self.stack.run_helper("billing-check-quotas", env={"BILLING_TEST_NOW": NOW})
        self.assertEqual(self.sql("SELECT status FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user), [["closed"]])
        # GET usage still answers for it
        token = self.stack.token(user, "user", now=NOW_EPOCH)
        status, _, usage = self.request("GET", "usage", token=token)
        self.assertEqual(status, 200, usage)
        self.assertEqual(usage["active_sessions"], [])
        # March's invoice run invoices what it used, to the cent
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-04-01T00:30:00Z"})
        status, _, invs = self.request("GET", "invoices", token=token)
        self.assertEqual(status, 200, invs)
        march = [i for i in invs["invoices"] if i["period_start"].startswith("2025-03-01")]
        self.assertEqual(len(march), 1, invs)
        storage = Decimal(recs[2][2]).quantize(Decimal("0.01"))
        self.assertEqual(Decimal(str(march[0]["total"])),
                         Decimal("1.05") + storage, march)
        self.assertEqual(storage, Decimal("0.10"))

    def test_user_deleted_stops_the_plan_fee_after_its_period(self):
        """A subscription account (pro, 29.99 a month) deleted on March 10th:
        March's run bills the month's fee, April's bills nothing."""
        user = "subclose@example.com"
        self.ok(delivery("user.created", "2025-03-10T09:00:00Z", username=user))
        self.sql("UPDATE billing_accounts SET billing_mode = 'subscription', "
                 "plan_id = 'pro', created_at = '2025-03-01' WHERE user_id = '%s'" % user)
        self.ok(delivery("user.deleted", "2025-03-10T10:00:00Z", username=user))
        self.assertEqual(self.sql("SELECT status, closed_at FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user),
                         [["closed", "2025-03-10 10:00:00.000000"]])
        for now in ("2025-04-01T00:30:00Z", "2025-05-01T00:30:00Z"):
            self.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": now})
        status, _, invs = self.request(
            "GET", "invoices", token=self.stack.token(user, "user", now=NOW_EPOCH))
        self.assertEqual(status, 200, invs)
        self.assertEqual(sorted((i["period_start"][:10], Decimal(str(i["total"])))
                                for i in invs["invoices"]),
                         [("2025-03-01", Decimal("29.99"))])
        self.assertEqual(self.sql("SELECT billed_through FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user),
                         [["2025-05-01 00:00:00.000000"]])

    def test_bad_bodies_are_400(self):
        before = self.snapshot()
        for obj, param in (
                ({"timestamp": "2025-03-10T12:00:00Z", "data": {}}, "event"),
                ({"event": "session.created", "data": {}}, "timestamp"),
                ({"event": "session.created", "timestamp": "yesterday"}, "timestamp"),
                (delivery("session.created", "2025-03-10T12:00:00Z", user="u"), "data.name"),
                (delivery("session.created", "2025-03-10T12:00:00Z",
                          **session_data("n", "u", cpu="1 core")), "data.resources.cpu"),
                (delivery("session.created", "2025-03-10T12:00:00Z",
                          **session_data("n", "u", memory="2gi")), "data.resources.memory")):
            with self.subTest(param=param):
                self.assertError(self.send(obj), 400, "invalid_argument", param)
        self.assertEqual(self.snapshot(), before)


class StreamSpaceToleranceTest(StreamSpaceCase):
    """The default tolerance: 3600 seconds either way."""

    def test_a_stale_or_future_timestamp_is_400(self):
        before = self.snapshot()
        for ts in ("2025-03-10T11:29:59Z", "2025-03-10T13:30:01Z", "2025-03-01T00:00:00Z"):
            with self.subTest(ts=ts):
                self.assertError(self.send(self.event("session.created", ts, "ss-old",
                                                      "old@example.com")),
                                 400, "invalid_argument", "timestamp")
        self.assertEqual(self.snapshot(), before)
        self.ok(self.event("session.created", "2025-03-10T11:30:00Z", "ss-old",
                           "old@example.com"))


class StreamSpaceUnconfiguredTest(StreamSpaceCase):
    stack_env = {"BILLING_TEST_NOW": NOW, "STREAMSPACE_WEBHOOK_SECRET": ""}

    def test_no_secret_is_503(self):
        self.assertError(self.send(delivery("user.created", "2025-03-10T12:00:00Z",
                                            username="x")), 503, "unavailable")
        self.assertEqual(self.deliveries(), 0)


class StreamSpaceDisabledTest(StreamSpaceCase):
    """enabled: false: a signed delivery is answered, not recorded."""

    config_overrides = {"enabled": False}

    def test_disabled_billing_records_nothing(self):
        status, _, resp = self.send(delivery("user.created", "2025-03-10T12:00:00Z",
                                             username="off"))
        self.assertEqual((status, resp.get("billing")), (200, "disabled"), resp)
        self.assertEqual(self.deliveries(), 0)
        body = b'{"event": "user.created"}'
        self.assertError(self.post(body, sign("wrong", body)), 401, "unauthenticated")
