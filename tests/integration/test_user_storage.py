"""Per-user storage (docs/hooks.md, docs/billing.md "Per-user storage"):
POST hooks/user-storage gives a user's persistent volume a size from an
instant on; the usage job meters it hourly as the account's storage, with or
without sessions, exactly once; quotas count it against storage_limit.

The clock is fixed: billingd and the helpers run with BILLING_TEST_NOW.
"""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = int(datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc).timestamp())


class UserStorageTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = {"sessionTimeoutMinutes": 15}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def call(self, body, name="user-storage", token=None):
        return self.request("POST", "hooks/" + name, body=body,
                            token=token or self.token("platform", "service"))

    def volume(self, user, gb, at, expect=(200, 201)):
        status, _, r = self.call({"user_id": user, "storage_gb": gb, "at": at})
        self.assertIn(status, expect, r)
        return status, r

    def run_job(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def usage(self, user, query=""):
        req = urllib.request.Request(self.stack.api + "usage" + query,
                                     headers={"Authorization": "Bearer " + self.token(user)})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = json.loads(resp.read().decode(), parse_float=Decimal,
                              parse_int=Decimal)
        return body, {i["resource_type"]: i for i in body["items"]}

    def records(self, user):
        return self.sql(
            "SELECT r.resource_type, SUM(r.quantity), SUM(r.total_cost), COUNT(*) "
            "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id = '%s' GROUP BY r.resource_type ORDER BY r.resource_type"
            % user)

    def segments(self, user):
        return [tuple(r) for r in self.sql(
            "SELECT g.started_at, COALESCE(g.ended_at, 'NULL'), g.storage_gb "
            "FROM billing_session_segments g JOIN billing_sessions s ON s.id = g.session_pk "
            "JOIN billing_accounts a ON a.id = s.account_id "
            "WHERE a.user_id = '%s' AND s.kind = 'user_storage' ORDER BY g.seq" % user)]

    def invoice(self, user, day):
        status, _, inv = self.request("POST", "admin/invoices",
                                      token=self.token("admin@example.com", "admin"),
                                      body={"user_id": user, "period_start": day,
                                            "period_end": day})
        self.assertEqual(status, 201, inv)
        return inv

    def test_50_gb_for_10_hours_without_a_session(self):
        """50 x 10 / 730 x 0.10 = 0.0684931...: 10 records of 50/730
        GB-months (0.068493) at 0.10, 0.006849 each; 0.06849, invoiced 0.07."""
        user = "vol50@example.com"
        status, r = self.volume(user, 50, "2025-03-09T00:00:00Z")
        self.assertEqual((status, r["storage_gb"]), (201, 50))
        status, r = self.volume(user, 0, "2025-03-09T10:00:00Z")
        self.assertEqual((status, r["storage_gb"]), (200, 0))
        self.run_job()
        self.run_job()  # exactly once
        self.assertEqual(self.records(user), [["storage", "0.684930", "0.068490", "10"]])
        body, items = self.usage(user, "?from=2025-03-09&to=2025-03-09")
        self.assertEqual(items["storage"]["quantity"], Decimal("0.68493"))
        self.assertEqual(items["storage"]["total_cost"], Decimal("0.06849"))
        self.assertEqual(body["active_sessions"], [])
        inv = self.invoice(user, "2025-03-09")
        self.assertEqual([(l["resource_type"], Decimal(str(l["amount"])))
                          for l in inv["lines"]], [("storage", Decimal("0.07"))])
        self.assertEqual(Decimal(str(inv["total"])), Decimal("0.07"))

    def test_a_change_of_size_mid_way(self):
        """50 GB 00:00-05:00, "100Gi" 05:00-10:00: 5 x 0.006849 + 5 x 0.013699
        = 0.102740 (by hand: 750 GB-hours / 730 x 0.10 = 0.10274), 0.10."""
        user = "volchange@example.com"
        self.volume(user, 50, "2025-03-09T00:00:00Z")
        self.volume(user, "100Gi", "2025-03-09T05:00:00Z")
        self.volume(user, "0", "2025-03-09T10:00:00Z")
        self.assertEqual(self.segments(user), [
            ("2025-03-09 00:00:00.000000", "2025-03-09 05:00:00.000000", "50.000000"),
            ("2025-03-09 05:00:00.000000", "2025-03-09 10:00:00.000000", "100.000000"),
            ("2025-03-09 10:00:00.000000", "NULL", "0.000000")])
        self.run_job()
        self.assertEqual(self.records(user), [["storage", "1.027395", "0.102740", "10"]])
        inv = self.invoice(user, "2025-03-09")
        self.assertEqual(Decimal(str(inv["total"])), Decimal("0.10"))

    def test_repeats_have_one_effect(self):
        user = "volrepeat@example.com"
        body = {"user_id": user, "storage_gb": 20, "at": "2025-03-09T00:00:00Z"}
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: self.call(body), range(8)))
        self.assertEqual(sorted(a[0] for a in answers), [200] * 7 + [201])
        self.assertEqual(self.volume(user, 20, "2025-03-09T00:00:00Z")[0], 200)
        # the same size later is no change either
        self.assertEqual(self.volume(user, "20Gi", "2025-03-09T03:00:00Z")[0], 200)
        self.assertEqual(len(self.segments(user)), 1)
        self.volume(user, 0, "2025-03-09T04:00:00Z")
        self.volume(user, 0, "2025-03-09T04:00:00Z")
        self.assertEqual(len(self.segments(user)), 2)
        self.assertEqual(int(self.sql(
            "SELECT COUNT(*) FROM billing_sessions s JOIN billing_accounts a "
            "ON a.id = s.account_id WHERE a.user_id = '%s'" % user)[0][0]), 1)
        # no volume and 0: nothing recorded
        status, r = self.volume("volnone@example.com", 0, "2025-03-09T00:00:00Z")
        self.assertEqual((status, r["storage_gb"]), (200, 0))
        self.assertEqual(self.segments("volnone@example.com"), [])

    def test_an_open_volume_accrues_with_no_heartbeat_and_counts_in_quotas(self):
        user = "volnow@example.com"
        self.volume(user, 20, "2025-03-10T10:00:00Z")
        self.run_job()
        # 10:00-12:00 metered: 2 x 20/730 x 0.10 = 2 x 0.002740
        self.assertEqual(self.records(user), [["storage", "0.054794", "0.005480", "2"]])
        body, _ = self.usage(user)
        self.assertEqual(body["user_storage_gb"], Decimal(20))
        self.assertEqual(body["active_sessions"], [])
        # 12:00-12:30: 20 x 0.5 / 730 x 0.10 = 0.00136986 -> 0.00137
        self.assertEqual(body["pending_cost"], Decimal("0.00137"))
        self.assertEqual(body["quota"]["storage"]["in_use"], Decimal(20))
        # with a session's storage too
        self.request("POST", "hooks/session-created", token=self.token("platform", "service"),
                     body={"session_id": "volnow-s", "user_id": user, "cpu_cores": 1,
                           "memory_gb": 1, "storage_gb": 5,
                           "started_at": "2025-03-10T12:20:00Z"})
        body, _ = self.usage(user)
        self.assertEqual(body["quota"]["storage"]["in_use"], Decimal(25))
        self.assertEqual([s["session_id"] for s in body["active_sessions"]], ["volnow-s"])
        self.stack.run_helper("billing-check-quotas", env={"BILLING_TEST_NOW": NOW})
        rows = self.sql(
            "SELECT q.resource_type, q.in_use, q.level FROM billing_quota_state q "
            "JOIN billing_accounts a ON a.id = q.account_id WHERE a.user_id = '%s' "
            "AND q.resource_type = 'storage'" % user)
        # the free plan's storage_limit is 10 GB
        self.assertEqual(rows, [["storage", "25.000000", "exceeded"]])
        # admin/users counts sessions, not the volume
        status, _, users = self.request("GET", "admin/users?limit=500",
                                        token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, users)
        [me] = [u for u in users["users"] if u["user_id"] == user]
        self.assertEqual(me["active_sessions"], 1)

    def test_refusals(self):
        user = "volbad@example.com"
        self.volume(user, 10, "2025-03-09T08:00:00Z")
        for body, param in [({"storage_gb": 1}, "user_id"),
                            ({"user_id": user}, "storage_gb"),
                            ({"user_id": user, "storage_gb": "1Pi"}, "storage_gb"),
                            ({"user_id": user, "storage_gb": -1}, "storage_gb"),
                            ({"user_id": user, "storage_gb": "1e3"}, "storage_gb"),
                            ({"user_id": user, "storage_gb": 1, "at": "later"}, "at"),
                            ({"user_id": user, "storage_gb": 1,
                              "at": "2025-03-09T07:59:59Z"}, "at"),
                            ({"user_id": user, "storage_gb": 1, "size": 1}, "size")]:
            with self.subTest(body=body):
                err = self.assertError(self.call(body), 400, "invalid_argument")
                self.assertEqual(err.get("param"), param, err)
        self.assertEqual(len(self.segments(user)), 1)
        status, _, r = self.call({"user_id": user, "storage_gb": 1},
                                 token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 403, r)
