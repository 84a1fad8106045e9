"""What the fault suites share: the integration harness (tests/integration/
base.py, scripts/stack.py), the ledger checks every test ends with, bulk
seeding, and a small timed-request recorder for load.

Standard library only.
"""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
for p in (os.path.join(TESTS, "integration"), TESTS, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from base import StackTestCase, clock, clock_utc, wait_for  # noqa: E402,F401  (tests/integration/base.py)
import stack as stackmod  # noqa: E402,F401  (scripts/stack.py)
from ledger import ledger_problems, ledger_summary  # noqa: E402


class FaultCase(StackTestCase):
    """A stack per class; every test ends with the ledger checks (tearDown
    runs them when the test itself did not)."""

    def setUp(self):
        super().setUp()
        self._ledger_checked = False
        self.ensure_billingd()
        if not self.stack.mariadb.process.alive():
            self.stack.mariadb.start()

    def tearDown(self):
        try:
            if not self._ledger_checked and self._outcome_ok():
                self.assertLedger("at the end of the test")
        finally:
            super().tearDown()

    def _outcome_ok(self):
        # when the test already failed, one report is enough
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return True
        return not any(t is self for t, _ in result.failures + result.errors)

    # -- database -----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def scalar(self, text):
        rows = self.sql(text)
        self.assertEqual(len(rows), 1, "%s -> %r" % (text, rows))
        return rows[0][0]

    def count(self, table, where="1"):
        return int(self.scalar("SELECT COUNT(*) FROM %s WHERE %s" % (table, where)))

    def assertLedger(self, when=""):
        """The ledger checks (tests/fault/ledger.py); when says where we are."""
        problems = ledger_problems(self.sql)
        self._ledger_checked = True
        self.assertEqual(problems, [], "ledger broken %s (%s):\n  %s"
                         % (when, ledger_summary(self.sql), "\n  ".join(problems)))

    # -- seeding ------------------------------------------------------------

    def seed_accounts(self, prefix, n, months, mode_every=5, credit_every=7):
        """n accounts named <prefix>-<i> with one hour of CPU usage (2 cores,
        0.10) on the 15th of each given month ("2025-01", ...), written as the
        usage job writes it (records and their daily totals).  Every
        mode_every-th account is on Pro in subscription mode; every
        credit_every-th has a 0.05 credit without expiry.  Returns the
        accounts' ids range (first, last)."""
        self.sql("INSERT INTO billing_accounts (user_id) SELECT CONCAT('%s-', seq) "
                 "FROM seq_1_to_%d" % (prefix, n))
        first, last = (int(x) for x in self.sql(
            "SELECT MIN(id), MAX(id) FROM billing_accounts WHERE user_id LIKE '%s-%%'"
            % prefix)[0])
        if mode_every:
            self.sql("UPDATE billing_accounts SET plan_id = 'pro', billing_mode = 'subscription' "
                     "WHERE id BETWEEN %d AND %d AND (id - %d) %% %d = 0"
                     % (first, last, first, mode_every))
        if credit_every:
            self.sql("INSERT INTO billing_credits (account_id, amount, remaining, currency, "
                     "reason) SELECT id, 0.05, 0.05, 'usd', 'fault-suite credit' FROM "
                     "billing_accounts WHERE id BETWEEN %d AND %d AND (id - %d) %% %d = 1"
                     % (first, last, first, credit_every))
        for month in months:
            start = "%s-15 10:00:00" % month
            self.sql(
                "INSERT INTO billing_usage_records (account_id, resource_type, quantity, unit, "
                "unit_price, total_cost, start_time, end_time) SELECT id, 'cpu', 2, "
                "'core-hours', 0.05, 0.10, '%s', '%s' + INTERVAL 1 HOUR FROM billing_accounts "
                "WHERE id BETWEEN %d AND %d" % (start, start, first, last))
            self.sql(
                "INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, "
                "quantity, total_cost, records) SELECT id, '%s-15', 'cpu', 0.05, 2, 0.10, 1 "
                "FROM billing_accounts WHERE id BETWEEN %d AND %d" % (month, first, last))
            # and the day's total over every account, as the usage job adds it
            self.sql(
                "INSERT INTO billing_usage_day_totals (day, total_cost, records) "
                "SELECT '%s-15', SUM(0.10), COUNT(*) FROM billing_accounts "
                "WHERE id BETWEEN %d AND %d ON DUPLICATE KEY UPDATE "
                "total_cost = total_cost + VALUES(total_cost), "
                "records = records + VALUES(records)" % (month, first, last))
        return first, last

    def invoices_per_account(self, first, last, period_start):
        """{number of live invoices of the period: how many accounts}."""
        rows = self.sql(
            "SELECT n, COUNT(*) FROM (SELECT a.id, COUNT(i.id) AS n FROM billing_accounts a "
            "LEFT JOIN billing_invoices i ON i.account_id = a.id AND i.status <> 'void' "
            "AND i.period_start = '%s' WHERE a.id BETWEEN %d AND %d GROUP BY a.id) x "
            "GROUP BY n" % (period_start, first, last))
        return {int(n): int(c) for n, c in rows}


class Recorder:
    """Requests from several threads, each recorded with its start and end
    (time.monotonic()) and its outcome: an HTTP status or an exception."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []   # (t0, t1, name, status or "exception", detail)
        self.stopping = threading.Event()
        self.threads = []

    def call(self, name, fn):
        t0 = time.monotonic()
        try:
            status, headers, body = fn()
            detail = body if status >= 400 else None
            rid = headers.get("X-Request-Id")
        except Exception as e:   # a reset, a truncated answer, a timeout
            status, detail, rid = "exception", repr(e), None
        t1 = time.monotonic()
        with self.lock:
            self.records.append((t0, t1, name, status, detail, rid))
        return status

    def loop(self, name, fn, pause=0.0):
        def run():
            while not self.stopping.is_set():
                self.call(name, fn)
                if pause:
                    time.sleep(pause)
        t = threading.Thread(target=run, daemon=True, name=name)
        self.threads.append(t)
        t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)

    def failures(self, ok=(200, 201)):
        return [r for r in self.records if r[3] not in ok]
