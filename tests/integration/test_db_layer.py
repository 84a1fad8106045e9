"""The database layer under a real worker (issue 12, items 8 and 9).

Statement cache: one worker (workers=1) is driven through every endpoint
and every POST jobs/* job; no answer is a 500, the worker prepared more
than 128 distinct statements (the old fixed cap) and still answers.  With
the server's max_prepared_stmt_count lowered below what the worker needs,
the least recently used statements are closed and the worker still answers
every request.

Lock waits: a second connection (the mariadb client through the stack's
socket) holds an account's row lock while a request needs it: the request
ends quickly in a 503 with the contract's `unavailable` error (the session's
innodb_lock_wait_timeout is a third of the read timeout), billingd's session
leaves nothing waiting on the row, and once the lock is released the same
request succeeds.

admin/reports: a range longer than reportMaxDays is 400 naming `to`.

TLS: MariaDB restarted with a throwaway CA's certificate and the billing
user REQUIRE SSL: billingd connects with database.ssl, is refused without
it, and logs the TLS error with a wrong CA.

The daemon's clock is fixed (BILLING_TEST_NOW).
"""

import json
import os
import secrets
import subprocess
import sys
import time
import uuid

from base import StackTestCase, stack as stackmod

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)
from test_webhook import (  # noqa: E402
    checkout_obj, event, invoice_obj, payment_intent_obj, signature, subscription_obj)

HOUR = 3600
# an invoice day (invoiceDay 1): the invoice run bills June
NOW = "2025-07-01T00:30:00Z"
NOW_EPOCH = 1751329800
BULK = 85  # 64 + 16 + 4 + 1: every chunk size of a multi-row statement


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class DbCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    # tokens are minted at the daemon's fixed clock
    def admin_token(self, **kw):  # noqa: D102
        return super().admin_token(now=NOW_EPOCH, **kw)

    def user_token(self, sub="alice@example.com", **kw):
        return super().user_token(sub, now=NOW_EPOCH, **kw)

    def service_token(self, **kw):
        return super().service_token(now=NOW_EPOCH, **kw)

    def status_var(self, name):
        rows = self.stack.mariadb.sql("SHOW GLOBAL STATUS LIKE '%s'" % name)
        return int(rows[0][1])

    def post_webhook(self, evt):
        body = json.dumps(evt).encode()
        sig = signature(self.stack.webhook_secret, NOW_EPOCH, body)
        return self.request("POST", "webhook", raw=body,
                            headers={"Stripe-Signature": sig})

    def tour(self, tag):
        """Every endpoint and every job once, with bodies that reach the
        database; returns [(method, path, status)] of the answers."""
        admin, svc = self.admin_token(), self.service_token()
        user = "tour-%s@example.com" % tag
        utok = self.user_token(user)
        seen = []

        def call(method, path, token=None, body=None, **kw):
            status, headers, resp = self.request(method, path, token=token, body=body, **kw)
            seen.append((method, path, status, resp))
            return status, resp

        start = NOW_EPOCH - 5 * HOUR
        call("GET", "health")
        for i in range(BULK):
            call("POST", "hooks/session-created", svc, {
                "session_id": "bulk-%s-%d" % (tag, i), "user_id": "bulk-%s-%d@example.com"
                % (tag, i), "cpu_cores": 3, "memory_gb": 1, "storage_gb": 1,
                "started_at": iso(start - 10 * HOUR)})
            call("POST", "hooks/session-heartbeat", svc, {
                "session_id": "bulk-%s-%d" % (tag, i), "cpu_cores": 3, "memory_gb": 1,
                "storage_gb": 1, "at": iso(start)})
        call("POST", "hooks/user-created", svc, {"user_id": user, "email": user})
        for i in range(3):
            sid = "tour-%s-%d" % (tag, i)
            call("POST", "hooks/session-created", svc, {
                "session_id": sid, "user_id": user, "cpu_cores": 1 + i, "memory_gb": 2,
                "storage_gb": 1, "started_at": iso(start)})
            call("POST", "hooks/session-heartbeat", svc, {
                "session_id": sid, "cpu_cores": 2 + i, "memory_gb": 2, "storage_gb": 1,
                "at": iso(start + HOUR)})
        call("POST", "hooks/session-terminated", svc, {
            "session_id": "tour-%s-0" % tag, "ended_at": iso(start + 2 * HOUR)})
        for job in ("calculate-usage", "check-quotas", "generate-invoices",
                    "dispatch-events"):
            call("POST", "jobs/" + job, admin, {})
        call("POST", "jobs/generate-invoices", admin, {"date": NOW[:10]})
        call("GET", "jobs/status", admin)
        call("GET", "usage", utok)
        call("GET", "usage?from=2025-06-01&to=2025-06-16", utok)
        call("POST", "credits", admin, {"user_id": user, "amount": "5.00",
                                        "reason": "tour"})
        call("POST", "admin/credits", admin, {"user_id": user, "amount": "1.00",
                                              "reason": "tour",
                                              "idempotency_key": uuid.uuid4().hex})
        status, created = call("POST", "admin/invoices", admin, {
            "user_id": user, "period_start": "2025-05-01", "period_end": "2025-05-31"})
        call("POST", "invoices", admin, {
            "user_id": user, "period_start": "2025-04-01", "period_end": "2025-04-30"})
        status, lst = call("GET", "invoices", utok)
        ids = [inv["id"] for inv in lst.get("invoices", [])] if isinstance(lst, dict) else []
        if isinstance(created, dict) and created.get("id"):
            ids.append(created["id"])
        for inv in ids[:2]:
            call("GET", "invoices/%s" % inv, utok)
            call("GET", "invoices/%s/pdf" % inv, utok)
        if ids:
            call("PATCH", "admin/invoices/%s" % ids[0], admin, {"status": "paid"})
        call("GET", "subscription", utok)
        call("POST", "subscription", utok, {"plan_id": "pro"})
        call("POST", "create-checkout", utok, {"plan_id": "pro"})
        call("GET", "payment-methods", utok)
        call("GET", "admin/users", admin)
        call("GET", "admin/users?search=tour", admin)
        call("GET", "admin/events", admin)
        for group in ("", "&group_by=user", "&group_by=day", "&group_by=resource"):
            call("GET", "admin/reports?from=2025-06-01&to=2025-06-16" + group, admin)
            call("GET", "admin/reports?from=2025-06-01&to=2025-06-16&format=csv&user_id="
                 + user + group, admin)
        cus, sub = "cus_tour" + tag, "sub_tour" + tag
        for evt in (
                event("checkout.session.completed", checkout_obj(user, cus, sub)),
                event("customer.subscription.updated", subscription_obj(
                    sub, cus, "active", NOW_EPOCH - HOUR, NOW_EPOCH + 30 * 24 * HOUR,
                    user=user, plan="pro")),
                event("invoice.paid", invoice_obj("in_tour" + tag, cus, pi="pi_tour" + tag)),
                event("payment_intent.succeeded", payment_intent_obj(
                    "pi_tour" + tag, 500, customer=cus)),
                event("customer.subscription.deleted", subscription_obj(
                    sub, cus, "canceled", NOW_EPOCH - HOUR, NOW_EPOCH + 30 * 24 * HOUR,
                    user=user, plan="pro", ended_at=NOW_EPOCH))):
            status, _, resp = self.post_webhook(evt)
            seen.append(("POST", "webhook " + evt["type"], status, resp))
        call("GET", "health")
        return seen

    def assertNo500(self, seen):
        bad = [(m, p, s, r) for m, p, s, r in seen if s >= 500]
        self.assertEqual(bad, [], "server errors in the tour")


class TourCase(DbCase):
    """One worker, Stripe through the stand-in, overage suspension on: the
    tour reaches the Stripe flows and the quota actions too."""

    workers = 1
    config_overrides = {"autoSuspendOnOverage": True, "gracePeriodDays": 0}

    @classmethod
    def setUpClass(cls):
        key = "sk_test_" + secrets.token_hex(20)
        cls.standin = Standin(secret_key=key).start()
        cls.stack_env = {"BILLING_TEST_NOW": NOW, "STRIPE_API_BASE": cls.standin.url,
                         "STRIPE_SECRET_KEY": key, "STRIPE_TIMEOUT_SECONDS": "2"}
        try:
            super().setUpClass()
        except BaseException:
            cls.standin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.standin.stop()


class StatementCacheTest(TourCase):

    def test_one_worker_runs_every_endpoint_and_job_without_a_500(self):
        pid = self.stack.worker_pids()
        seen = []
        for tag in ("a", "b"):
            seen += self.tour(tag)
        self.assertNo500(seen)
        if os.environ.get("TOUR_VERBOSE"):
            for m, p, st, r in seen:
                print(m, p, st, str(r)[:150])
        # the same worker did it all, and needed more than the old cap
        self.assertEqual(self.stack.worker_pids(), pid)
        # (more than 128 statements on one connection: CacheBeyond128Test)
        self.assertGreater(self.status_var("Prepared_stmt_count"), 64)
        status, _, body = self.request("GET", "health")
        self.assertEqual((status, body), (200, {"status": "ok", "database": "ok"}))
        self.assertNotIn("statement cache full", self.log_text())


class CacheBeyond128Test(StackTestCase):
    """tests/unit/check_db_cache against this stack's MariaDB: 300 distinct
    statements on one connection, an open result kept across the cache's
    growth, and the server's statement limit met by eviction."""

    def test_check_db_cache_passes_against_the_stack_database(self):
        env = dict(os.environ, BILLING_TEST_DB_SOCKET=self.stack.mariadb.socket,
                   BILLING_TEST_DB_USER="root", BILLING_TEST_DB_NAME=self.stack.db_name,
                   CK_VERBOSITY="verbose")
        prog = os.path.join(stackmod.ROOT, "tests", "unit", "check_db_cache")
        r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("100%: Checks: 3", r.stdout)


class StatementEvictionTest(TourCase):

    def test_server_statement_limit_evicts_the_least_recently_used(self):
        self.stack.mariadb.sql("SET GLOBAL max_prepared_stmt_count = 40")
        try:
            seen = self.tour("evict")
        finally:
            self.stack.mariadb.sql("SET GLOBAL max_prepared_stmt_count = 16382")
        self.assertNo500(seen)
        self.assertLessEqual(self.status_var("Prepared_stmt_count"), 40)


class Holder:
    """A mariadb client session that holds row locks until released."""

    def __init__(self, stack, statement):
        self.proc = subprocess.Popen(
            [stackmod.find_program("mariadb"), "--no-defaults", "-S", stack.mariadb.socket,
             "-u", "root", "--batch", "--skip-column-names", "--unbuffered",
             stack.db_name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.send("SET SESSION innodb_lock_wait_timeout = 60; START TRANSACTION; "
                  + statement + "; SELECT 'held';")
        line = ""
        while line.strip() != "held":
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the lock holder exited")

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def release(self):
        if self.proc.poll() is None:
            self.send("ROLLBACK;")
            self.proc.stdin.close()
            self.proc.wait(10)


class LockWaitTest(DbCase):

    @classmethod
    def setUpStack(cls):
        # readTimeoutSeconds 6: lock waits of 2 s (the client would give up
        # at 6 s; the server's default lock wait is 50 s)
        cls.stack.billingd.stop()
        cfg = cls.stack.config()
        cfg["database"]["readTimeoutSeconds"] = 6
        cls.stack.write_config(cfg)
        cls.stack.start_billingd()
        svc = cls.stack.token("platform", "service", now=NOW_EPOCH)
        status, _, body = cls.stack.request("POST", "hooks/user-created", token=svc,
                                            body={"user_id": "locked@example.com"})
        assert status in (200, 201), body

    def waiting_on_locks(self):
        return int(self.stack.mariadb.sql(
            "SELECT COUNT(*) FROM information_schema.INNODB_LOCK_WAITS")[0][0])

    def test_a_held_account_row_is_a_quick_503_and_leaves_nothing_waiting(self):
        admin = self.admin_token()
        body = {"user_id": "locked@example.com", "amount": "2.50", "reason": "lock test"}
        holder = Holder(self.stack, "SELECT id FROM billing_accounts WHERE "
                        "user_id = 'locked@example.com' FOR UPDATE")
        try:
            t0 = time.monotonic()
            resp = self.request("POST", "admin/credits", token=admin, body=body, timeout=30)
            elapsed = time.monotonic() - t0
            self.assertError(resp, 503, "unavailable")
            # two lock waits of 2 s, well before the 6 s read timeout
            self.assertLess(elapsed, 5.5, "the request took %.1f s" % elapsed)
            # billingd's session gave up its wait: nobody queues on the holder
            self.assertEqual(self.waiting_on_locks(), 0)
        finally:
            holder.release()
        credits = self.sql("SELECT COUNT(*) FROM billing_credits c JOIN billing_accounts a "
                           "ON a.id = c.account_id WHERE a.user_id = 'locked@example.com'")
        self.assertEqual(credits, [["0"]])
        # the row is free: the same request now succeeds at once
        t0 = time.monotonic()
        status, _, resp = self.request("POST", "admin/credits", token=admin, body=body)
        self.assertIn(status, (200, 201), resp)
        self.assertLess(time.monotonic() - t0, 2.0)


class ReportRangeTest(DbCase):
    config_overrides = {"reportMaxDays": 31}

    def test_a_range_longer_than_report_max_days_is_400_naming_to(self):
        admin = self.admin_token()
        resp = self.request("GET", "admin/reports?from=2025-05-01&to=2025-06-02", token=admin)
        err = self.assertError(resp, 400, "invalid_argument")
        self.assertEqual(err.get("param"), "to")
        self.assertIn("31 days", err["message"])
        status, _, body = self.request("GET", "admin/reports?from=2025-05-01&to=2025-05-31",
                                       token=admin)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["rows"], [])


def make_certs(d):
    """A throwaway CA with a server certificate for localhost, and a second
    CA that signed nothing here."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
         "-out", "ca.pem", "-days", "30", "-subj", "/CN=billing test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem",
         "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
         "-CAcreateserial", "-out", "server.pem", "-days", "30", "-extfile", "ext.cnf")
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-key.pem",
         "-out", "other-ca.pem", "-days", "30", "-subj", "/CN=another CA")


class DatabaseTlsTest(StackTestCase):
    """MariaDB with TLS (on its unix socket) and a billing user that
    REQUIRES SSL: billingd connects only with database.ssl, and a wrong CA
    is a clear failure."""

    workers = 1

    @classmethod
    def setUpStack(cls):
        cls.tls = os.path.join(cls.var, "tls")
        os.makedirs(cls.tls)
        make_certs(cls.tls)
        cls.stack.billingd.stop()
        cls.stack.mariadb.stop()
        cls.stack.mariadb.extra_args = [
            "--ssl-ca=" + os.path.join(cls.tls, "ca.pem"),
            "--ssl-cert=" + os.path.join(cls.tls, "server.pem"),
            "--ssl-key=" + os.path.join(cls.tls, "server-key.pem")]
        cls.stack.mariadb.start()
        cls.stack.mariadb.sql("ALTER USER 'billing'@'localhost' REQUIRE SSL")

    def restart_with(self, ssl):
        if self.stack.billingd is not None and self.stack.billingd.alive():
            self.stack.billingd.stop()
        cfg = self.stack.config()
        if ssl is not None:
            cfg["database"]["ssl"] = ssl
        self.stack.write_config(cfg)
        self.stack.start_billingd()

    def health(self):
        return self.request("GET", "health")

    def test_with_the_right_ca_billingd_connects_over_tls(self):
        self.restart_with({"ca": os.path.join(self.tls, "ca.pem"), "verifyServerCert": True})
        status, _, body = self.health()
        self.assertEqual((status, body), (200, {"status": "ok", "database": "ok"}))

    def test_without_database_ssl_the_server_refuses_billingd(self):
        self.restart_with(None)
        status, _, body = self.health()
        self.assertEqual(status, 503, body)

    def test_a_wrong_ca_fails_clearly(self):
        self.restart_with({"ca": os.path.join(self.tls, "other-ca.pem")})
        status, _, body = self.health()
        self.assertEqual(status, 503, body)
        self.assertIn("database not reachable yet: TLS/SSL error", self.log_text())
