"""Usage metering end to end (docs/hooks.md, docs/billing.md): sessions reported
through the hooks, the hourly usage job (billing-calculate-usage and POST
jobs/calculate-usage), GET usage and GET admin/reports, through nginx.

The clock is fixed: billingd and the helpers run with BILLING_TEST_NOW (a
test build honours it), tokens are minted for that instant.
"""

import json
import os
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase, wait_for
import stack as stackmod

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = int(datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc).timestamp())


class MeteringTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = {"sessionTimeoutMinutes": 15}

    # -- helpers ----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def hook(self, name, body):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.token("platform", "service"))
        self.assertIn(status, (200, 201), resp)
        return resp

    def run_job(self, now=NOW, check=True):
        return self.stack.run_helper("billing-calculate-usage", check=check,
                                     env={"BILLING_TEST_NOW": now})

    def get_exact(self, path, token):
        """GET with the JSON parsed exactly: numbers become Decimal, and the
        raw text is kept so tests can see how amounts were written."""
        req = urllib.request.Request(self.stack.api + path,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
        return json.loads(text, parse_float=Decimal, parse_int=Decimal), text

    def usage(self, user, query=""):
        body, text = self.get_exact("usage" + query, self.token(user))
        items = {i["resource_type"]: i for i in body["items"]}
        return body, items, text

    def session(self, user, sid, started, cpu, mem, storage=0):
        return self.hook("session-created", {
            "session_id": sid, "user_id": user, "cpu_cores": cpu,
            "memory_gb": mem, "storage_gb": storage, "started_at": started})

    def record_count(self, user):
        return int(self.sql(
            "SELECT COUNT(*) FROM billing_usage_records r JOIN billing_accounts a "
            "ON a.id = r.account_id WHERE a.user_id = '%s'" % user)[0][0])

    def assertLedgerConsistent(self):
        """Daily totals equal their records; segments' metered cost too;
        no record crosses an hour or a day."""
        rows = self.sql(
            "SELECT d.account_id, d.day, d.resource_type, d.quantity, d.total_cost, "
            "d.records, COALESCE(SUM(r.quantity), 0), COALESCE(SUM(r.total_cost), 0), "
            "COUNT(r.id) FROM billing_usage_daily d LEFT JOIN billing_usage_records r "
            "ON r.account_id = d.account_id AND DATE(r.start_time) = d.day "
            "AND r.resource_type = d.resource_type AND r.unit_price = d.unit_price "
            "GROUP BY d.account_id, d.day, d.resource_type, d.unit_price "
            "HAVING d.quantity <> SUM(r.quantity) OR d.total_cost <> SUM(r.total_cost) "
            "OR d.records <> COUNT(r.id)")
        self.assertEqual(rows, [], "daily totals differ from their records")
        rows = self.sql(
            "SELECT g.id, g.metered_cost, COALESCE(SUM(r.total_cost), 0) AS metered "
            "FROM billing_session_segments g LEFT JOIN billing_usage_records r "
            "ON r.segment_id = g.id GROUP BY g.id, g.metered_cost "
            "HAVING g.metered_cost <> metered")
        self.assertEqual(rows, [], "segments' metered_cost differs from their records")
        rows = self.sql(
            "SELECT id FROM billing_usage_records WHERE "
            "end_time > DATE_ADD(DATE_FORMAT(start_time, '%Y-%m-%d %H:00:00'), INTERVAL 1 HOUR)")
        self.assertEqual(rows, [], "a record crosses an hour boundary")
        dups = self.sql(
            "SELECT segment_id, resource_type, start_time FROM billing_usage_records "
            "GROUP BY segment_id, resource_type, start_time HAVING COUNT(*) > 1")
        self.assertEqual(dups, [])

    # -- the seed example -------------------------------------------------

    def test_seed_example_2_cores_4_gb_10_hours_is_1_40(self):
        user = "seed@example.com"
        self.session(user, "seed-1", "2025-03-09T00:00:00Z", 2, 4)
        self.hook("session-terminated", {"session_id": "seed-1",
                                         "ended_at": "2025-03-09T10:00:00Z"})
        self.run_job()
        body, items, text = self.usage(user, "?from=2025-03-09&to=2025-03-09")
        self.assertEqual(items["cpu"]["quantity"], Decimal(20))
        self.assertEqual(items["cpu"]["unit"], "core-hours")
        self.assertEqual(items["cpu"]["unit_price"], Decimal("0.05"))
        self.assertEqual(items["cpu"]["total_cost"], Decimal("1.00"))
        self.assertEqual(items["memory"]["quantity"], Decimal(40))
        self.assertEqual(items["memory"]["unit"], "gb-hours")
        self.assertEqual(items["memory"]["total_cost"], Decimal("0.40"))
        self.assertEqual(body["total_cost"], Decimal("1.40"))
        # written as exact decimals, never through a binary float
        self.assertIn('"total_cost":1.40', text)
        self.assertIn('"total_cost":1.00', text)
        self.assertEqual(body["currency"], "usd")
        self.assertEqual(self.record_count(user), 20)

        # running the job again, or twice at once, changes nothing
        self.run_job()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: self.run_job(), range(2)))
        status, _, r = self.request("POST", "jobs/calculate-usage",
                                    token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, r)
        self.assertEqual(self.record_count(user), 20)
        body2, _, _ = self.usage(user, "?from=2025-03-09&to=2025-03-09")
        self.assertEqual(body2["total_cost"], Decimal("1.40"))
        self.assertLedgerConsistent()

    def test_resize_mid_session_bills_each_size_for_its_own_time(self):
        user = "resize@example.com"
        self.session(user, "resize-1", "2025-03-08T00:00:00Z", 2, 4)
        self.hook("session-heartbeat", {"session_id": "resize-1",
                                        "at": "2025-03-08T05:00:00Z", "cpu_cores": 4})
        self.hook("session-terminated", {"session_id": "resize-1",
                                         "ended_at": "2025-03-08T10:00:00Z"})
        self.run_job()
        _, items, _ = self.usage(user, "?from=2025-03-08&to=2025-03-08")
        # 2 cores x 5 h + 4 cores x 5 h = 30 core-hours; memory unchanged
        self.assertEqual(items["cpu"]["quantity"], Decimal(30))
        self.assertEqual(items["cpu"]["total_cost"], Decimal("1.50"))
        self.assertEqual(items["memory"]["quantity"], Decimal(40))
        self.assertLedgerConsistent()

    def test_stale_session_is_metered_only_to_its_last_heartbeat(self):
        user = "stale@example.com"
        self.session(user, "stale-1", "2025-03-10T08:00:00Z", 2, 0)
        self.hook("session-heartbeat", {"session_id": "stale-1",
                                        "at": "2025-03-10T09:20:00Z"})
        self.run_job()
        rows = self.sql(
            "SELECT start_time, end_time, quantity, total_cost FROM billing_usage_records r "
            "JOIN billing_accounts a ON a.id = r.account_id WHERE a.user_id = '%s' "
            "ORDER BY start_time" % user)
        self.assertEqual(rows, [
            ["2025-03-10 08:00:00.000000", "2025-03-10 09:00:00.000000", "2.000000", "0.100000"],
            ["2025-03-10 09:00:00.000000", "2025-03-10 09:20:00.000000", "0.666667", "0.033333"],
        ])
        body, _, _ = self.usage(user)
        [live] = body["active_sessions"]
        self.assertTrue(live["stale"])
        # nothing accrues past the last heartbeat
        self.assertEqual(live["accrued_cost"], Decimal("0.133333"))
        # a heartbeat later resumes metering from where it stood
        self.hook("session-heartbeat", {"session_id": "stale-1",
                                        "at": "2025-03-10T12:25:00Z"})
        self.run_job()
        rows = self.sql(
            "SELECT start_time, end_time FROM billing_usage_records r JOIN billing_accounts a "
            "ON a.id = r.account_id WHERE a.user_id = '%s' ORDER BY start_time" % user)
        self.assertEqual([r[0][11:16] + "-" + r[1][11:16] for r in rows],
                         ["08:00-09:00", "09:00-09:20", "09:20-10:00", "10:00-11:00",
                          "11:00-12:00"])
        self.assertLedgerConsistent()

    def test_session_across_a_month_boundary_splits_into_both_periods(self):
        user = "monthend@example.com"
        self.session(user, "month-1", "2025-02-28T22:00:00Z", 1, 2)
        self.hook("session-terminated", {"session_id": "month-1",
                                         "ended_at": "2025-03-01T02:30:00Z"})
        self.run_job()
        _, feb, _ = self.usage(user, "?from=2025-02-01&to=2025-02-28")
        _, mar, _ = self.usage(user, "?from=2025-03-01&to=2025-03-31")
        self.assertEqual(feb["cpu"]["quantity"], Decimal(2))
        self.assertEqual(feb["cpu"]["total_cost"], Decimal("0.10"))
        self.assertEqual(mar["cpu"]["quantity"], Decimal("2.5"))
        self.assertEqual(mar["cpu"]["total_cost"], Decimal("0.125"))
        # the default period is the current one (invoiceDay 1): March
        body, cur, _ = self.usage(user)
        self.assertEqual(body["period"], {"from": "2025-03-01T00:00:00Z",
                                          "to": "2025-04-01T00:00:00Z"})
        self.assertEqual(cur["cpu"]["quantity"], Decimal("2.5"))
        # a range that is not day-aligned reads the edges from the records
        _, part, _ = self.usage(user, "?from=2025-02-28T23:00:00Z&to=2025-03-01T01:00:00Z")
        self.assertEqual(part["cpu"]["quantity"], Decimal(2))
        self.assertLedgerConsistent()

    def test_active_session_shows_live_accrued_cost(self):
        user = "live@example.com"
        self.session(user, "live-1", "2025-03-10T11:00:00Z", 2, 4)
        self.hook("session-heartbeat", {"session_id": "live-1",
                                        "at": "2025-03-10T12:29:00Z"})
        self.run_job()
        body, items, _ = self.usage(user)
        # 11:00-12:00 metered: 0.10 + 0.04; 12:00-12:30 live: 0.05 + 0.02
        self.assertEqual(items["cpu"]["total_cost"], Decimal("0.10"))
        [live] = body["active_sessions"]
        self.assertFalse(live["stale"])
        self.assertEqual(live["accrued_cost"], Decimal("0.21"))
        self.assertEqual(body["pending_cost"], Decimal("0.07"))
        self.assertEqual(body["estimated_total_cost"], Decimal("0.21"))
        # quotas against the free plan: 2 of 2 cores, 4 of 4 GB
        self.assertEqual(body["plan"]["id"], "free")
        self.assertEqual(body["quota"]["cpu"]["percent"], Decimal("100.00"))
        self.assertEqual(body["quota"]["memory"]["in_use"], Decimal(4))

    def test_users_see_only_their_own_usage(self):
        status, _, body = self.request("GET", "usage?user_id=seed%40example.com",
                                       token=self.token("mallory@example.com"))
        self.assertEqual(status, 403, body)
        status, _, body = self.request("GET", "usage?user_id=seed%40example.com",
                                       token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], "seed@example.com")

    def test_usage_rejects_bad_ranges(self):
        tok = self.token("alice@example.com")
        for query, param in (("?from=yesterday", "from"), ("?to=2025-13-01", "to"),
                             ("?from=2025-03-05&to=2025-03-01", "to"),
                             ("?from=2020-01-01&to=2025-01-01", "to")):
            status, _, body = self.request("GET", "usage" + query, token=tok)
            self.assertEqual(status, 400, (query, body))
            self.assertEqual(body["error"]["param"], param)

    def test_jobs_api_runs_the_job_and_records_the_run(self):
        status, _, body = self.request("POST", "jobs/calculate-usage",
                                       token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "succeeded")
        status, _, body = self.request("GET", "jobs/status",
                                       token=self.token("admin@example.com", "admin"))
        job = {j["name"]: j for j in body["jobs"]}["calculate-usage"]
        self.assertEqual(job["last_run"]["status"], "succeeded")
        self.assertIsNotNone(job["last_success_at"])

    # -- reports ------------------------------------------------------------

    def test_csv_report_line_by_line(self):
        user = "csv@example.com"
        self.session(user, "csv-1", "2025-03-07T10:00:00Z", 2, 0, 10)
        self.hook("session-terminated", {"session_id": "csv-1",
                                         "ended_at": "2025-03-07T11:30:00Z"})
        self.run_job()
        status, headers, text = self.request(
            "GET", "admin/reports?format=csv&from=2025-03-07&to=2025-03-07&user_id="
            + "csv%40example.com", token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, text)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        self.assertEqual(text.split("\r\n"), [
            "user_id,session_id,resource_type,quantity,unit,unit_price,total_cost,"
            "start_time,end_time",
            "csv@example.com,csv-1,cpu,2,core-hours,0.05,0.10,"
            "2025-03-07T10:00:00Z,2025-03-07T11:00:00Z",
            "csv@example.com,csv-1,storage,0.013699,gb-months,0.10,0.00137,"
            "2025-03-07T10:00:00Z,2025-03-07T11:00:00Z",
            "csv@example.com,csv-1,cpu,1,core-hours,0.05,0.05,"
            "2025-03-07T11:00:00Z,2025-03-07T11:30:00Z",
            "csv@example.com,csv-1,storage,0.006849,gb-months,0.10,0.000685,"
            "2025-03-07T11:00:00Z,2025-03-07T11:30:00Z",
            ""])
        status, _, text = self.request(
            "GET", "admin/reports?format=csv&group_by=resource&from=2025-03-07&to=2025-03-07"
            "&user_id=csv%40example.com", token=self.token("admin@example.com", "admin"))
        self.assertEqual(text.split("\r\n"), [
            "resource_type,unit,quantity,total_cost,records",
            "cpu,core-hours,3,0.15,2",
            "storage,gb-months,0.020548,0.002055,2",
            ""])

    def test_json_report_groups_by_user_and_day(self):
        admin = self.token("admin@example.com", "admin")
        self.session("rep-a@example.com", "rep-a", "2025-03-06T10:00:00Z", 1, 0)
        self.hook("session-terminated", {"session_id": "rep-a",
                                         "ended_at": "2025-03-06T12:00:00Z"})
        self.run_job()
        body, _ = self.get_exact("admin/reports?from=2025-03-06&to=2025-03-06&group_by=day",
                                 admin)
        self.assertEqual(body["group_by"], "day")
        [day] = body["rows"]
        self.assertEqual(day["day"], "2025-03-06")
        self.assertEqual(day["cpu_core_hours"], Decimal(2))
        body, _ = self.get_exact("admin/reports?from=2025-03-06&to=2025-03-06&group_by=user",
                                 admin)
        self.assertEqual([r["user_id"] for r in body["rows"]], ["rep-a@example.com"])
        self.assertEqual(body["rows"][0]["total_cost"], Decimal("0.10"))
        for bad, param in (("group_by=week", "group_by"), ("format=xml", "format"),
                           ("user_id=nobody", "user_id")):
            status, _, b = self.request("GET", "admin/reports?" + bad, token=admin)
            self.assertIn(status, (400, 404), b)
            self.assertEqual(b["error"]["param"], param)
        status, _, b = self.request("GET", "admin/reports",
                                    token=self.token("alice@example.com"))
        self.assertEqual(status, 403)


class MeteringAtScaleTest(StackTestCase):
    """Many sessions: concurrent runs and a run killed half way."""

    stack_env = {"BILLING_TEST_NOW": NOW}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def make_sessions(self, prefix, n, accounts=50):
        """n active sessions of 1 core and 1 GB since 09:00 (3 pending hours)."""
        self.sql(
            "INSERT INTO billing_accounts (user_id) SELECT CONCAT('%(p)s-', seq) "
            "FROM seq_1_to_%(a)d;"
            "INSERT INTO billing_sessions (session_id, account_id, started_at, "
            "last_heartbeat_at, cpu_cores, memory_gb, storage_gb) "
            "SELECT CONCAT('%(p)s-s-', s.seq), a.id, '2025-03-10 09:00:00', "
            "'2025-03-10 12:29:00', 1, 1, 0 FROM seq_1_to_%(n)d s "
            "JOIN billing_accounts a ON a.user_id = CONCAT('%(p)s-', 1 + s.seq %% %(a)d);"
            "INSERT INTO billing_session_segments (session_pk, account_id, seq, started_at, "
            "cpu_cores, memory_gb, storage_gb) SELECT id, account_id, 0, started_at, "
            "cpu_cores, memory_gb, storage_gb FROM billing_sessions "
            "WHERE session_id LIKE '%(p)s-s-%%'" % {"p": prefix, "n": n, "a": accounts})

    def counts(self, prefix):
        [[n, qty, cost]] = self.sql(
            "SELECT COUNT(*), COALESCE(SUM(r.quantity), 0), COALESCE(SUM(r.total_cost), 0) "
            "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id LIKE '%s-%%'" % prefix)
        [[dqty, dn]] = self.sql(
            "SELECT COALESCE(SUM(d.quantity), 0), COALESCE(SUM(d.records), 0) "
            "FROM billing_usage_daily d JOIN billing_accounts a ON a.id = d.account_id "
            "WHERE a.user_id LIKE '%s-%%'" % prefix)
        return int(n), Decimal(qty), Decimal(cost), Decimal(dqty), int(dn)

    def helper(self):
        return [stackmod.find_program("billing-calculate-usage", self.stack.build_dir)]

    def test_two_concurrent_runs_write_what_one_run_would(self):
        self.make_sessions("conc", 3000)
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        procs = [subprocess.Popen(self.helper(), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT) for _ in range(2)]
        outs = [p.communicate(timeout=120)[0].decode() for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0], outs)
        n, qty, cost, dqty, dn = self.counts("conc")
        # 3000 sessions x 3 hours x (cpu, memory)
        self.assertEqual(n, 18000)
        self.assertEqual(qty, Decimal(18000))
        self.assertEqual(cost, Decimal("3000") * 3 * (Decimal("0.05") + Decimal("0.01")))
        self.assertEqual((dqty, dn), (qty, n))

    def test_run_killed_half_way_then_rerun_gives_the_clean_result(self):
        self.make_sessions("kill", 20000, accounts=200)
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        p = subprocess.Popen(self.helper(), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        # kill it once some batches have committed, before it is done
        got = wait_for(lambda: self.counts("kill")[0] > 0, 60, interval=0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        partial = self.counts("kill")[0]
        self.assertTrue(got)
        self.assertLess(partial, 120000, "the run finished before it was killed")
        # whole batches only: records and totals agree even now
        n, qty, _, dqty, dn = self.counts("kill")
        self.assertEqual((dqty, dn), (qty, n))
        # the killed run left its "running" record behind as evidence
        self.assertIn(["running"], self.sql(
            "SELECT status FROM billing_job_runs WHERE job = 'calculate-usage'"))
        r = self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        self.assertEqual(r.returncode, 0, r.stderr)
        n, qty, cost, dqty, dn = self.counts("kill")
        self.assertEqual(n, 120000)
        self.assertEqual(qty, Decimal(120000))
        self.assertEqual(cost, Decimal("20000") * 3 * (Decimal("0.05") + Decimal("0.01")))
        self.assertEqual((dqty, dn), (qty, n))
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM (SELECT 1 FROM billing_usage_records GROUP BY segment_id, "
            "resource_type, start_time HAVING COUNT(*) > 1) d"), [["0"]])
