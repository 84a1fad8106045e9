"""enabled: false (docs/configuration.md, "enabled"): billing is turned off.
The platform's hooks are answered 200 and record nothing; every job (POST
jobs/* and the cron helpers) succeeds having done nothing, says so and
records its run; reads and admin corrections still work.

The clock is fixed at 2025-02-01T00:30Z, an invoice day (invoiceDay 1).
"""

from datetime import datetime, timezone

from base import StackTestCase

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())
DISABLED = "billing disabled, nothing done"
JOBS = ("calculate-usage", "check-quotas", "generate-invoices", "dispatch-events")


class DisabledTest(StackTestCase):
    config_overrides = {"enabled": False}
    stack_env = {"BILLING_TEST_NOW": NOW}

    @classmethod
    def setUpStack(cls):
        # a session of January, ended before billing was turned off and not
        # metered yet: a job that did its work would bill it
        sql = cls.stack.mariadb.sql
        db = cls.stack.db_name
        sql("INSERT INTO billing_accounts (user_id) VALUES ('old@example.com')", database=db)
        sql("INSERT INTO billing_sessions (session_id, account_id, started_at, "
            "last_heartbeat_at, ended_at, cpu_cores, memory_gb, storage_gb) "
            "SELECT 'old-1', id, '2025-01-15 08:00:00', '2025-01-15 18:00:00', "
            "'2025-01-15 18:00:00', 2, 4, 0 FROM billing_accounts "
            "WHERE user_id = 'old@example.com'", database=db)
        sql("INSERT INTO billing_session_segments (session_pk, account_id, seq, "
            "started_at, ended_at, cpu_cores, memory_gb, storage_gb) "
            "SELECT id, account_id, 1, started_at, ended_at, 2, 4, 0 "
            "FROM billing_sessions WHERE session_id = 'old-1'", database=db)

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=NOW_EPOCH)

    def service(self):
        return self.stack.token("platform", "service", now=NOW_EPOCH)

    def count(self, table):
        return int(self.sql("SELECT COUNT(*) FROM %s" % table)[0][0])

    def nothing_billed(self):
        self.assertEqual(self.count("billing_usage_records"), 0)
        self.assertEqual(self.count("billing_invoices"), 0)
        self.assertEqual(self.sql("SELECT COALESCE(metered_until, 'NULL') FROM "
                                  "billing_session_segments"), [["NULL"]])

    # -- hooks ----------------------------------------------------------------

    def test_hooks_answer_200_and_record_nothing(self):
        accounts, sessions = self.count("billing_accounts"), self.count("billing_sessions")
        for name, body in (
                ("user-created", {"user_id": "new@example.com"}),
                ("session-created", {"session_id": "new-1", "user_id": "new@example.com",
                                     "cpu_cores": 2, "memory_gb": 4, "storage_gb": 0,
                                     "started_at": "2025-02-01T00:00:00Z"}),
                ("session-heartbeat", {"session_id": "old-1"}),
                ("session-terminated", {"session_id": "old-1"})):
            with self.subTest(hook=name):
                status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                               token=self.service())
                self.assertEqual(status, 200, resp)
                self.assertEqual(resp["billing"], "disabled")
                self.assertIs(resp["recorded"], False)
                self.assertIn("disabled", resp["message"])
        self.assertEqual(self.count("billing_accounts"), accounts)
        self.assertEqual(self.count("billing_sessions"), sessions)
        self.assertEqual(self.sql("SELECT last_heartbeat_at, ended_at FROM billing_sessions "
                                  "WHERE session_id = 'old-1'"),
                         [["2025-01-15 18:00:00.000000", "2025-01-15 18:00:00.000000"]])

    def test_hooks_still_check_who_calls(self):
        for tok, status in ((None, 401), (self.admin(), 403)):
            with self.subTest(status=status):
                resp = self.request("POST", "hooks/user-created",
                                    body={"user_id": "x@example.com"}, token=tok)
                self.assertEqual(resp[0], status, resp[2])

    # -- jobs -----------------------------------------------------------------

    def test_post_jobs_succeed_doing_nothing_and_say_so(self):
        for job in JOBS:
            with self.subTest(job=job):
                status, _, resp = self.request("POST", "jobs/" + job, token=self.admin())
                self.assertEqual(status, 200, resp)
                self.assertEqual((resp["status"], resp["items"], resp["message"]),
                                 ("succeeded", 0, DISABLED))
                run = self.sql("SELECT trigger_source, status, items, message FROM "
                               "billing_job_runs WHERE id = %d" % resp["run_id"])
                self.assertEqual(run, [["api", "succeeded", "0", DISABLED]])
        self.nothing_billed()

    def test_cron_helpers_exit_0_doing_nothing_and_say_so(self):
        for job in JOBS:
            with self.subTest(job=job):
                r = self.stack.run_helper("billing-" + job, check=False)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn(DISABLED, r.stdout + r.stderr)
                [[status, message]] = self.sql(
                    "SELECT status, message FROM billing_job_runs WHERE job = '%s' AND "
                    "trigger_source = 'cron' ORDER BY id DESC LIMIT 1" % job)
                self.assertEqual((status, message), ("succeeded", DISABLED))
        self.nothing_billed()

    # -- reads ----------------------------------------------------------------

    def test_reads_still_work(self):
        status, _, resp = self.request("GET", "usage?user_id=old%40example.com",
                                       token=self.admin())
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["user_id"], "old@example.com")
        status, _, resp = self.request("GET", "jobs/status", token=self.admin())
        self.assertEqual(status, 200, resp)
        status, _, resp = self.request("GET", "admin/users", token=self.admin())
        self.assertEqual(status, 200, resp)
