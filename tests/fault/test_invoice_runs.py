"""The invoice run (billing-generate-invoices) under concurrency and kills.

- 20 runs at once on the invoice day over 600 accounts (usage, Pro
  subscriptions, credits): every run exits 0, every account gets exactly one
  invoice for the period, the ledger holds (numbers gap-free, totals, credits).
- The run SIGKILLed at a random moment (after a random number of batches
  plus a random delay), then run again, five times (one billing period
  each, 500 accounts): after each kill the ledger holds
  (whole batches only), after each rerun every account has exactly one
  invoice for the period and the ledger holds.  The random delays come from
  FAULT_SEED (printed; set it to replay a run).
"""

import os
import random
import signal
import subprocess
import time
from decimal import Decimal

from fault_base import FaultCase, stackmod, wait_for

CONCURRENT_RUNS = 20
KILL_ITERATIONS = 5


class InvoiceRunCase(FaultCase):

    def popen_run(self, now):
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = now
        prog = stackmod.find_program("billing-generate-invoices", self.stack.build_dir)
        return subprocess.Popen([prog], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)


class ConcurrentInvoiceRunsTest(InvoiceRunCase):

    def test_20_concurrent_invoice_runs_make_one_invoice_per_account(self):
        n = 600
        first, last = self.seed_accounts("conc", n, ["2024-11"])
        [[last_run]] = self.sql("SELECT COALESCE(MAX(id), 0) FROM billing_job_runs")
        t0 = time.monotonic()
        procs = [self.popen_run("2024-12-01T00:30:00Z") for _ in range(CONCURRENT_RUNS)]
        outs = [p.communicate(timeout=180)[0].decode(errors="replace") for p in procs]
        codes = [p.returncode for p in procs]
        took = time.monotonic() - t0
        # what each run says it did: its billing_job_runs row
        runs = self.sql("SELECT status, items FROM billing_job_runs WHERE id > %s "
                        "AND job = 'generate-invoices'" % last_run)
        created = sum(int(items) for _, items in runs)
        print("\n  %d runs at once took %.1f s; they created %d invoices in all"
              % (CONCURRENT_RUNS, took, created), end=" ", flush=True)
        self.assertEqual(codes, [0] * CONCURRENT_RUNS,
                         [o for o, c in zip(outs, codes) if c != 0][:3])
        self.assertEqual(self.invoices_per_account(first, last, "2024-11-01 00:00:00"), {1: n})
        self.assertEqual(sorted(r[0] for r in runs), ["succeeded"] * CONCURRENT_RUNS, runs)
        self.assertEqual(created, n, "the runs' own counts do not add up to one per "
                         "account: %s" % runs)
        self.assertEqual(self.count("billing_usage_billed",
                                    "invoice_id IS NULL AND account_id BETWEEN %d AND %d"
                                    % (first, last)), 0)
        # one run more changes nothing
        before = self.sql("SELECT COUNT(*), MAX(id) FROM billing_invoices")
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2024-12-01T00:30:00Z"})
        self.assertEqual(self.sql("SELECT COUNT(*), MAX(id) FROM billing_invoices"), before)
        self.assertLedger("after %d concurrent runs" % CONCURRENT_RUNS)



class KilledInvoiceRunTest(InvoiceRunCase):
    """Its own stack: each rerun walks only these accounts."""

    def test_invoice_run_killed_at_random_points_then_rerun(self):
        seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))
        rnd = random.Random(seed)
        n = 500
        months = ["2025-%02d" % m for m in range(2, 2 + KILL_ITERATIONS)]
        first, last = self.seed_accounts("kill", n, months)
        report = []
        for i, month in enumerate(months):
            y, m = int(month[:4]), int(month[5:])
            run_day = "%04d-%02d-01T00:30:00Z" % (y + m // 12, m % 12 + 1)
            period = "%s-01 00:00:00" % month
            # a random batch (the run commits 100 accounts at a time), then a
            # random moment: so that the kill lands inside the run however
            # fast this machine is
            target = rnd.randrange(0, n, 100)
            extra = rnd.uniform(0.0, 0.3)
            t0 = time.monotonic()
            proc = self.popen_run(run_day)
            wait_for(lambda: proc.poll() is not None or self.invoices_per_account(
                first, last, period).get(1, 0) >= target, 60, interval=0.01)
            time.sleep(extra)
            delay = time.monotonic() - t0
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            killed_early = proc.returncode == -signal.SIGKILL
            done = self.invoices_per_account(first, last, period)
            report.append("%.2f s (>= %d, +%.2f s): %d%s" % (delay, target, extra, done.get(1, 0),
                                            "" if killed_early else " (had finished)"))
            self.assertEqual(set(done) - {0, 1}, set(),
                             "iteration %d: an account with two invoices after the kill" % i)
            self.assertLedger("after kill %d (seed %d, %.2f s in)" % (i + 1, seed, delay))
            self.stack.run_helper("billing-generate-invoices",
                                  env={"BILLING_TEST_NOW": run_day})
            self.assertEqual(self.invoices_per_account(first, last, period), {1: n},
                             "iteration %d (seed %d)" % (i + 1, seed))
            self.assertLedger("after rerun %d (seed %d)" % (i + 1, seed))
        print("\n  seed %d; killed after / invoices then: %s" % (seed, "; ".join(report)),
              end=" ", flush=True)
        self.assertEqual(self.count("billing_usage_billed",
                                    "invoice_id IS NULL AND account_id BETWEEN %d AND %d"
                                    % (first, last)), 0)


class UsageAndInvoiceRunsTest(InvoiceRunCase):
    """The usage job and the invoice run at once, on accounts never invoiced
    before (billed_through NULL), some runs killed: every record is billed
    exactly once, on the period's invoice or, when it was metered after the
    account was invoiced, on the next one (docs/billing.md "Usage taken")."""

    ACCOUNTS = 150
    RUNS = 10   # of each job
    START = "2025-06-30T12:00:00Z"
    RUN_DAY = "2025-07-01T00:30:00Z"
    stack_env = {"BILLING_TEST_NOW": "2025-06-30T23:59:00Z"}

    @classmethod
    def setUpStack(cls):
        svc = cls.stack.token("platform", "service")
        for i in range(cls.ACCOUNTS):
            status, _, body = cls.stack.request("POST", "hooks/session-created", token=svc, body={
                "session_id": "race-%d" % i, "user_id": "race-%d@example.com" % i,
                "cpu_cores": 1, "memory_gb": 2, "storage_gb": 0, "started_at": cls.START})
            assert status == 201, body
            # running until now (23:59): metered up to the heartbeat
            status, _, body = cls.stack.request("POST", "hooks/session-heartbeat", token=svc,
                                                body={"session_id": "race-%d" % i})
            assert status == 200, body

    def popen_usage(self, now):
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = now
        prog = stackmod.find_program("billing-calculate-usage", self.stack.build_dir)
        return subprocess.Popen([prog], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    def race_accounts(self):
        return "SELECT id FROM billing_accounts WHERE user_id LIKE 'race-%'"

    def test_concurrent_usage_and_invoice_runs_with_kills_bill_every_record_once(self):
        seed = int(os.environ.get("FAULT_SEED") or random.randrange(1 << 30))
        rnd = random.Random(seed)
        self.assertEqual(self.count("billing_accounts", "user_id LIKE 'race-%' "
                                    "AND billed_through IS NOT NULL"), 0)
        procs = []
        for _ in range(self.RUNS):
            procs.append(self.popen_usage(self.RUN_DAY))
            procs.append(self.popen_run(self.RUN_DAY))
        rnd.shuffle(procs)
        victims = rnd.sample(procs, 6)
        time.sleep(rnd.uniform(0.05, 0.4))
        for p in victims:
            time.sleep(rnd.uniform(0.0, 0.1))
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.communicate(timeout=180)
        self.assertLedger("after %d usage and %d invoice runs at once, 6 killed (seed %d)"
                          % (self.RUNS, self.RUNS, seed))
        # the runs that were not killed, and one more of each, finish the work
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": self.RUN_DAY})
        self.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": self.RUN_DAY})
        self.assertLedger("after the reruns (seed %d)" % seed)
        accounts = "account_id IN (%s)" % self.race_accounts()
        # 12 hours of cpu and memory each, metered once
        self.assertEqual(self.count("billing_usage_records", accounts), self.ACCOUNTS * 24)
        first, last = (int(x) for x in self.sql(
            "SELECT MIN(id), MAX(id) FROM billing_accounts WHERE user_id LIKE 'race-%'")[0])
        # an account the run closed before its usage was metered has no June
        # invoice (its usage goes on July's); none has two
        june = self.invoices_per_account(first, last, "2025-06-01 00:00:00")
        self.assertEqual(set(june) - {0, 1}, set(), "seed %d" % seed)
        # what no invoice holds yet lies at or after the account's watermark
        self.assertEqual(self.count(
            "billing_usage_billed r JOIN billing_accounts a ON a.id = r.account_id",
            "r.invoice_id IS NULL AND a.user_id LIKE 'race-%' "
            "AND (a.billed_through IS NULL OR r.bill_from < a.billed_through)"), 0,
            "seed %d" % seed)
        # the next run bills the rest: every record on exactly one invoice
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-08-01T00:30:00Z"})
        self.assertEqual(self.count("billing_usage_billed", "invoice_id IS NULL AND %s"
                                    % accounts), 0, "seed %d" % seed)
        print("\n  seed %d; June invoices: %s" % (seed, june), end=" ", flush=True)
        billed = self.scalar("SELECT COALESCE(SUM(l.amount), 0) FROM billing_invoice_lines l "
                             "JOIN billing_invoices i ON i.id = l.invoice_id WHERE "
                             "l.kind = 'usage' AND i.status <> 'void' AND i.%s" % accounts)
        # each invoice bills its records per resource and rate, rounded once
        metered = self.scalar("SELECT COALESCE(SUM(amount), 0) FROM (SELECT "
                              "ROUND(SUM(total_cost), 2) AS amount FROM billing_usage_billed "
                              "WHERE %s GROUP BY invoice_id, resource_type, unit_price) g"
                              % accounts)
        self.assertEqual(Decimal(billed), Decimal(metered), "seed %d" % seed)
        self.assertLedger("after the next period's run (seed %d)" % seed)
