"""GET health and the database going away and coming back
(docs/architecture.md and docs/api.md): a worker's MariaDB connection is reopened
on the next request, without restarting billingd.
"""

import os
import signal
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from base import StackTestCase, wait_for


class HealthTest(StackTestCase):

    def health(self):
        return self.request("GET", "health", timeout=10)

    def all_workers_answer(self, n):
        """n health requests, three at a time so that both workers serve
        some; returns the list of (status, body)."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            return [(r[0], r[2]) for r in pool.map(lambda _: self.health(), range(n))]

    def test_health_is_200_ok_without_a_token(self):
        status, headers, body = self.health()
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"status": "ok", "database": "ok"})
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        self.assertTrue(headers.get("X-Request-Id"))
        self.assertEqual(headers.get("Cache-Control"), "no-store")

    def test_database_down_then_up_again_without_restarting_billingd(self):
        master = self.stack.billingd.pid
        workers = self.stack.worker_pids()
        self.assertEqual(len(workers), 2)
        # both workers hold a live connection before the database goes
        for status, body in self.all_workers_answer(10):
            self.assertEqual(status, 200, body)

        self.stack.mariadb.stop()
        try:
            for status, body in self.all_workers_answer(6):
                self.assertEqual(status, 503, body)
                self.assertNotEqual(body.get("database"), "ok", body)
                self.assertNotEqual(body.get("status"), "ok", body)
                self.assertEqual(body.get("error", {}).get("code"), "unavailable", body)

            resp = self.request("GET", "jobs/status", token=self.admin_token(), timeout=10)
            self.assertError(resp, 503, "unavailable")
            # the health check of nginx/load balancers answers fast when down
            t0 = time.monotonic()
            self.assertEqual(self.health()[0], 503)
            self.assertLess(time.monotonic() - t0, 2.0)
        finally:
            self.stack.mariadb.start()

        # back within 2 s, on both workers
        t0 = time.monotonic()
        ok = wait_for(lambda: self.health()[0] == 200, 2.0, interval=0.05)
        self.assertTrue(ok, "health still not 200 %.1f s after MariaDB came back"
                        % (time.monotonic() - t0))
        for status, body in self.all_workers_answer(20):
            self.assertEqual(status, 200, body)
            self.assertEqual(body, {"status": "ok", "database": "ok"})
        resp = self.request("GET", "jobs/status", token=self.admin_token())
        self.assertEqual(resp[0], 200, resp[2])

        # the same processes: nothing was restarted
        self.assertTrue(self.stack.billingd.alive())
        self.assertEqual(self.stack.billingd.pid, master)
        self.assertEqual(self.stack.worker_pids(), workers)
        log = self.log_text()
        self.assertRegex(log, r"info: req=\S+ GET /health 503 .* error=unavailable")
        self.assertNotIn("killed by signal", log)

    def test_killed_database_connections_are_reopened_on_the_next_request(self):
        # both workers connected
        for status, body in self.all_workers_answer(10):
            self.assertEqual(status, 200, body)
        rows = self.stack.mariadb.sql(
            "SELECT id FROM information_schema.processlist WHERE user = 'billing'")
        self.assertTrue(rows, "billingd holds no database connection")
        for (conn_id,) in rows:
            self.stack.mariadb.sql("KILL CONNECTION %d" % int(conn_id))
        # a lost connection is retried once on a fresh one: no request fails
        for status, body in self.all_workers_answer(20):
            self.assertEqual(status, 200, body)
        resp = self.request("GET", "jobs/status", token=self.admin_token())
        self.assertEqual(resp[0], 200, resp[2])

    def test_jobs_status_reports_the_last_run_and_last_success_from_the_database(self):
        db = self.stack.db_name
        self.stack.mariadb.sql(
            "DELETE FROM billing_job_runs; "
            "INSERT INTO billing_job_runs (job, trigger_source, status, started_at, "
            "finished_at, items, message) VALUES "
            "('calculate-usage', 'cron', 'succeeded', '2025-01-31 10:00:00', "
            "'2025-01-31 10:00:05', 12, 'ok'), "
            "('calculate-usage', 'manual', 'failed', '2025-01-31 11:00:00', "
            "'2025-01-31 11:00:01', 0, 'boom'), "
            "('check-quotas', 'cron', 'running', '2025-01-31 11:15:00', NULL, 0, NULL)",
            database=db)
        try:
            status, _, body = self.request("GET", "jobs/status", token=self.admin_token())
            self.assertEqual(status, 200, body)
            jobs = {j["name"]: j for j in body["jobs"]}
            usage = jobs["calculate-usage"]
            self.assertEqual(usage["last_run"]["status"], "failed")
            self.assertEqual(usage["last_run"]["trigger"], "manual")
            self.assertEqual(usage["last_run"]["started_at"], "2025-01-31T11:00:00Z")
            self.assertEqual(usage["last_run"]["finished_at"], "2025-01-31T11:00:01Z")
            self.assertEqual(usage["last_run"]["message"], "boom")
            self.assertEqual(usage["last_success_at"], "2025-01-31T10:00:05Z")
            quotas = jobs["check-quotas"]
            self.assertEqual(quotas["last_run"]["status"], "running")
            self.assertIsNone(quotas["last_run"]["finished_at"])
            self.assertIsNone(quotas["last_success_at"])
            self.assertIsNone(jobs["generate-invoices"]["last_run"])
            self.assertIsNone(jobs["dispatch-events"]["last_run"])
        finally:
            self.stack.mariadb.sql("DELETE FROM billing_job_runs", database=db)

    def reload_with(self, cfg):
        """Rewrites the config and SIGHUPs billingd; waits for new workers."""
        old = set(self.stack.worker_pids())
        self.stack.write_config(cfg)
        os.kill(self.stack.billingd.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: len(self.stack.worker_pids()) == 2 and
                                 not (set(self.stack.worker_pids()) & old), 5.0))

    def test_health_answers_503_within_3_s_when_the_database_hangs(self):
        # database.readTimeoutSeconds bounds how long a hung server can hold
        # a request (default 10 s); 2 s here
        cfg = self.stack.config()
        cfg["database"]["readTimeoutSeconds"] = 2
        self.reload_with(cfg)
        self.addCleanup(self.reload_with, self.stack.config())
        for status, body in self.all_workers_answer(6):
            self.assertEqual(status, 200, body)
        mariadbd = self.stack.mariadb.process.pid
        os.kill(mariadbd, signal.SIGSTOP)
        try:
            try:
                status, _, body = self.request("GET", "health", timeout=3)
            except OSError as e:  # socket.timeout
                self.fail("no answer within 3 s: %r" % e)
            self.assertEqual(status, 503, body)
        finally:
            os.kill(mariadbd, signal.SIGCONT)
            wait_for(lambda: self.health()[0] == 200, 10.0)
