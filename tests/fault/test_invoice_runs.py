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
