#!/usr/bin/env python3
"""Billing Management's lists with 10,000 accounts: GET admin/users (first
page, a q filter, a status filter), admin/summary and admin/invoices answer
within 100 ms through nginx.

Seeds N accounts (default 10,000) with multi-row INSERTs: a month of daily
usage totals each (3 resources) and the days' totals over every account
that admin/summary reads, two invoices each (paid, and sent or
overdue), a credit and a payment for every tenth; every 20th account is
suspended.  Then times each request R times (default 20) after one warm-up
and prints the median and the worst.

    python3 bench/admin_lists.py [--accounts N] [--repeat R]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lib import check, log, sql, sql1, stackmod  # noqa: E402

TARGET_MS = 100
CHUNK = 1000


def insert(st, head, rows):
    """rows as multi-row INSERTs of CHUNK rows each."""
    for i in range(0, len(rows), CHUNK):
        sql(st, head + ", ".join(rows[i:i + CHUNK]))


def seed(st, n):
    insert(st, "INSERT INTO billing_accounts (user_id, email, status, created_at) VALUES ",
           ["('user-%05d', 'user-%05d@example.com', '%s', '2025-01-01')"
            % (i, i, "suspended" if i % 20 == 0 else "active") for i in range(1, n + 1)])
    first = int(sql1(st, "SELECT MIN(id) FROM billing_accounts WHERE user_id = 'user-00001'"))
    ids = range(first, first + n)
    daily = []
    for a in ids:
        for d in range(1, 31):
            day = "2025-01-%02d" % d
            daily += ["(%d, '%s', 'cpu', 0.05, 2, 0.100000, 1)" % (a, day),
                      "(%d, '%s', 'memory', 0.01, 4, 0.040000, 1)" % (a, day),
                      "(%d, '%s', 'storage', 0.10, 1, 0.000137, 1)" % (a, day)]
    insert(st, "INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, "
           "quantity, total_cost, records) VALUES ", daily)
    # the days' totals over every account, as the usage job keeps them
    # (the same statement as sql/013_usage_day_totals.sql's fill)
    sql(st, "INSERT INTO billing_usage_day_totals (day, total_cost, records) "
        "SELECT day, SUM(total_cost), SUM(records) FROM billing_usage_daily GROUP BY day "
        "ON DUPLICATE KEY UPDATE total_cost = VALUES(total_cost), records = VALUES(records)")
    invoices = []
    for a in ids:
        invoices += ["(%d, '2024-12-01', '2025-01-01', 'usage', 'usd', 4.21, 4.21, 'paid')" % a,
                     "(%d, '2025-01-01', '2025-02-01', 'usage', 'usd', 4.21, 4.21, '%s')"
                     % (a, "overdue" if a % 7 == 0 else "sent")]
    insert(st, "INSERT INTO billing_invoices (account_id, period_start, period_end, "
           "billing_mode, currency, subtotal, total, status) VALUES ", invoices)
    insert(st, "INSERT INTO billing_credits (account_id, amount, remaining, currency, reason) "
           "VALUES ", ["(%d, 5.00, 5.00, 'usd', 'welcome')" % a for a in ids if a % 10 == 0])
    sql(st, "ANALYZE TABLE billing_accounts, billing_usage_daily, billing_usage_day_totals, "
        "billing_invoices, billing_credits")
    return first


def timed(st, token, path, repeat):
    url = st.api + path
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    times = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            check(resp.status == 200, "%s answered %d" % (path, resp.status))
            resp.read()
        if i:   # the first one warms the worker's statement cache
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    var = tempfile.mkdtemp(prefix="billing-bench-admin-")
    st = stackmod.Stack(var, workers=2, env={"BILLING_NGINX_ACCESS_LOG": "off",
                                             "BILLING_TEST_NOW": "2025-01-20T12:00:00Z"})
    try:
        st.start()
        t0 = time.perf_counter()
        seed(st, args.accounts)
        log("seeded %d accounts in %.1f s" % (args.accounts, time.perf_counter() - t0))
        token = st.token("admin@example.com", "admin")
        cases = [
            ("admin/users, first page (50)", "admin/users"),
            ("admin/users, q=user-0999 (prefix)", "admin/users?q=user-0999"),
            ("admin/users, q=user-09999@ (email)", "admin/users?q=user-09999%40"),
            ("admin/users, status=suspended", "admin/users?status=suspended"),
            ("admin/users, from/to January", "admin/users?from=2025-01-01&to=2025-01-31"),
            ("admin/summary (current period)", "admin/summary"),
            ("admin/summary, January", "admin/summary?from=2025-01-01&to=2025-01-31"),
            ("admin/invoices, first page (50)", "admin/invoices"),
            ("admin/invoices, status=overdue", "admin/invoices?status=overdue"),
            ("admin/invoices, period January", "admin/invoices?from=2025-01-01&to=2025-01-31"),
        ]
        print("\n| request (%s accounts) | median ms | worst ms |" % format(args.accounts, ","))
        print("|---|---|---|")
        worst = 0.0
        for name, path in cases:
            med, mx = timed(st, token, path, args.repeat)
            worst = max(worst, med)
            print("| %s | %.1f | %.1f |" % (name, med, mx))
        ok = worst < TARGET_MS
        print("\nTarget: every median under %d ms: %s" % (TARGET_MS, "PASS" if ok else "FAIL"))
        return 0 if ok else 3
    finally:
        st.stop()
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
