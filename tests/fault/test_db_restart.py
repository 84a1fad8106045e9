"""MariaDB stopped and started again: under request load, and in the middle
of an invoice run.

Under load: six client threads (GET health, GET usage, POST
hooks/session-heartbeat) run while the database is stopped for ~1.5 s and
started again.  Every failed request must be a 503 (never a 500, a 502 or a
dropped connection), must overlap the outage (from the stop until 2 s after
the database answers again), and service must be back within 2 s of the
database returning (measured: the end of the last failed request minus the
moment mariadb-admin ping succeeded).

Webhooks: Stripe deliveries from four threads while the database stops
and starts, each retried until it is acknowledged (as Stripe does): every
answer is 200 or 503, and in the end each event is recorded once with its
one payment row.

Invoice run: billing-generate-invoices over 2500 accounts; the database is
stopped once some invoices exist; the run must fail; the database starts;
the ledger holds (whole batches only: no duplicate or half-written
invoice); a rerun invoices every account exactly once.
"""

import hashlib
import hmac
import json
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from fault_base import FaultCase, Recorder, stackmod, wait_for

INVOICE_DAY = "2025-02-01T00:30:00Z"
RECOVERY_LIMIT = 2.0


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class DatabaseRestartTest(FaultCase):

    @classmethod
    def setUpStack(cls):
        svc = cls.stack.token("platform", "service")
        started = stackmod.clock_utc() - timedelta(hours=3)
        for i in range(2):
            status, _, body = cls.stack.request("POST", "hooks/session-created", token=svc, body={
                "session_id": "db-load-%d" % i, "user_id": "dbload@example.com",
                "cpu_cores": 1, "memory_gb": 2, "storage_gb": 0, "started_at": iso(started)})
            assert status == 201, body

    def healthy(self):
        try:
            return self.request("GET", "health", timeout=5)[0] == 200
        except Exception:
            return False

    def test_restart_under_load_is_503_only_while_down_and_recovers_within_2_s(self):
        user = self.user_token("dbload@example.com")
        svc = self.service_token()
        rec = Recorder()
        for i in range(2):
            rec.loop("health", lambda: self.request("GET", "health", timeout=30), pause=0.005)
            rec.loop("usage", lambda: self.request("GET", "usage", token=user, timeout=30),
                     pause=0.005)
            rec.loop("heartbeat", lambda i=i: self.request(
                "POST", "hooks/session-heartbeat", token=svc, timeout=30,
                body={"session_id": "db-load-%d" % i}), pause=0.005)
        try:
            time.sleep(1.0)
            t_stop = time.monotonic()
            self.stack.mariadb.stop()
            t_down = time.monotonic()
            time.sleep(1.5)
            t_start = time.monotonic()
            self.stack.mariadb.start()       # returns once mariadb-admin ping answers
            t_up = time.monotonic()
            time.sleep(3.0)
        finally:
            rec.stop()
            if not self.stack.mariadb.process.alive():
                self.stack.mariadb.start()

        failures = rec.failures()
        before = [r for r in rec.records if r[1] < t_stop]
        during = [r for r in rec.records if t_down <= r[0] and r[1] <= t_start]
        self.assertTrue(before and all(r[3] in (200, 201) for r in before),
                        "requests failed before the stop: %s"
                        % [r for r in before if r[3] not in (200, 201)][:5])
        self.assertTrue(during, "no request while the database was down")
        self.assertTrue(all(r[3] == 503 for r in during),
                        "not 503 while down: %s" % [r for r in during if r[3] != 503][:5])
        bad = [r for r in failures if r[3] != 503]
        self.assertEqual(bad, [], "failures other than 503 (status, body): %s"
                         % [(r[2], r[3], r[4]) for r in bad[:10]])
        for r in failures:
            self.assertTrue(isinstance(r[4], dict) and r[4].get("error", {}).get("code")
                            == "unavailable" and r[5], "not billingd's 503: %r" % (r,))
        outside = [r for r in failures if r[1] < t_stop or r[0] > t_up + RECOVERY_LIMIT]
        self.assertEqual(outside, [], "503 outside the outage (stop at %.2f, up at %.2f): %s"
                         % (t_stop, t_up, [(r[0], r[1], r[2]) for r in outside[:5]]))
        recovery = max([r[1] for r in failures] + [t_up]) - t_up
        after = [r for r in rec.records if r[0] > t_up + recovery]
        print("\n  %d requests, %d were 503 while the database was down (%.2f s); "
              "recovered %.3f s after it answered" % (len(rec.records), len(failures),
                                                       t_up - t_stop, recovery),
              end=" ", flush=True)
        self.assertLessEqual(recovery, RECOVERY_LIMIT)
        self.assertGreater(len(after), 50, "too few requests after the restart")
        self.assertTrue(all(r[3] in (200, 201) for r in after))
        status, _, body = self.request("GET", "health")
        self.assertEqual((status, body), (200, {"status": "ok", "database": "ok"}))
        self.stack.run_helper("billing-calculate-usage")
        self.assertLedger("after the restart under load")

    def test_database_stopped_during_an_invoice_run_then_rerun(self):
        n = 2500
        first, last = self.seed_accounts("dbrun", n, ["2025-01"])
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = INVOICE_DAY
        prog = stackmod.find_program("billing-generate-invoices", self.stack.build_dir)
        proc = subprocess.Popen([prog], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            made = lambda: self.count("billing_invoices", "account_id BETWEEN %d AND %d"
                                      % (first, last))
            self.assertTrue(wait_for(lambda: made() >= 300, 60, interval=0.02),
                            "the run made no invoices")
            self.stack.mariadb.stop()
            try:
                out = proc.communicate(timeout=60)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
                self.fail("the run did not end within 60 s of the database stopping")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if not self.stack.mariadb.process.alive():
                self.stack.mariadb.start()
        self.assertNotEqual(proc.returncode, 0, "the run succeeded without its database: "
                            + out)
        self.assertTrue(wait_for(self.healthy, 5.0))
        partial = made()
        print("\n  the run stopped with %d of %d invoices: %s" % (partial, n, out.strip()[-160:]),
              end=" ", flush=True)
        self.assertLess(partial, n, "the run finished before the database stopped")
        self.assertLedger("after the run lost its database")
        self.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": INVOICE_DAY})
        self.assertEqual(self.invoices_per_account(first, last, "2025-01-01 00:00:00"), {1: n})
        self.assertEqual(self.count("billing_usage_billed",
                                    "invoice_id IS NULL AND account_id BETWEEN %d AND %d"
                                    % (first, last)), 0)
        self.assertLedger("after the rerun")

    def test_webhooks_while_the_database_restarts_apply_each_event_once(self):
        user, cus = "dbhooks@example.com", "cus_dbhooks"
        status, _, body = self.request("POST", "hooks/user-created", body={"user_id": user},
                                       token=self.service_token())
        self.assertIn(status, (200, 201), body)
        self.sql("UPDATE billing_accounts SET stripe_customer_id = '%s' WHERE user_id = '%s'"
                 % (cus, user))
        now = int(stackmod.clock())
        events = [{"id": "evt_db_" + uuid.uuid4().hex[:16], "object": "event",
                   "type": "invoice.payment_failed", "created": now - 600 + i,
                   "data": {"object": {
                       "id": "in_db_%d" % i, "object": "invoice", "customer": cus,
                       "currency": "usd", "amount_due": 500 + i, "amount_paid": 0,
                       "amount_remaining": 500 + i, "status": "open", "attempt_count": 1,
                       "metadata": {}, "status_transitions": {"paid_at": None}}}}
                  for i in range(40)]
        secret = self.stack.webhook_secret.encode()
        answers, lock = [], threading.Lock()

        def deliver(evt):
            body = json.dumps(evt).encode()
            t = int(stackmod.clock())
            mac = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
            t0 = time.monotonic()
            try:
                st, _, resp = self.request("POST", "webhook", raw=body, timeout=30,
                                           headers={"Stripe-Signature": "t=%d,v1=%s" % (t, mac)})
            except Exception as e:
                st, resp = "exception", repr(e)
            with lock:
                answers.append((t0, time.monotonic(), evt["id"], st, resp))
            return st

        def stripe(mine):
            for evt in mine:
                deadline = time.monotonic() + 30
                while deliver(evt) != 200 and time.monotonic() < deadline:
                    time.sleep(0.05)      # Stripe retries (much later, in truth)
                time.sleep(0.1)           # spread over the outage

        threads = [threading.Thread(target=stripe, args=(events[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            t_stop = time.monotonic()
            self.stack.mariadb.stop()
            time.sleep(1.0)
            self.stack.mariadb.start()
            t_up = time.monotonic()
        finally:
            for t in threads:
                t.join(60)
            if not self.stack.mariadb.process.alive():
                self.stack.mariadb.start()
        statuses = {a[3] for a in answers}
        self.assertLessEqual(statuses, {200, 503}, [a for a in answers if a[3] not in (200, 503)])
        late = [a for a in answers if a[3] == 503 and (a[1] < t_stop or a[0] > t_up + 2)]
        self.assertEqual(late, [], "503 outside the outage")
        acked = {a[2] for a in answers if a[3] == 200}
        self.assertEqual(acked, {e["id"] for e in events}, "events never acknowledged")
        print("\n  %d deliveries for %d events, %d answered 503"
              % (len(answers), len(events), sum(1 for a in answers if a[3] == 503)),
              end=" ", flush=True)
        self.assertGreater(sum(1 for a in answers if a[3] == 503), 0,
                           "no delivery met the outage")
        # each event once, with its one payment row; a redelivery is a duplicate
        ids = ", ".join("'%s'" % e["id"] for e in events)
        self.assertEqual(self.count("billing_stripe_events", "event_id IN (%s)" % ids), 40)
        rows = self.sql("SELECT idempotency_key, amount FROM billing_payments WHERE "
                        "idempotency_key LIKE 'stripe-invoice-failed:evt_db_%' ORDER BY amount")
        self.assertEqual(rows, [["stripe-invoice-failed:%s" % e["id"], "%d.%02d"
                                 % divmod(500 + i, 100)] for i, e in enumerate(events)])
        self.assertEqual(deliver(events[0]), 200)
        self.assertTrue(answers[-1][4].get("duplicate"), answers[-1])
        self.assertLedger("after webhooks across a restart")
