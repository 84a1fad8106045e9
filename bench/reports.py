#!/usr/bin/env python3
"""GET admin/reports streams: exporting a million usage records keeps the
worker's memory flat.

Loads N usage records (default 1,000,000), then exports them all as CSV and
as JSON through nginx while sampling the serving worker's RSS every 50 ms,
and compares the peak with the RSS of the same worker after a small export.

    python3 bench/reports.py [--records N] [--quick]
"""

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import stack as stackmod  # noqa: E402


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def export(s, token, query, pids):
    """Streams one export; returns (bytes, seconds, peak RSS KiB of the workers)."""
    peak = [max(rss_kib(p) for p in pids)]
    done = []

    def sample():
        while not done:
            peak[0] = max(peak[0], max(rss_kib(p) for p in pids))
            time.sleep(0.05)

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.monotonic()
    req = urllib.request.Request(s.api + "admin/reports?" + query,
                                 headers={"Authorization": "Bearer " + token})
    n = 0
    with urllib.request.urlopen(req, timeout=600) as resp:
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            n += len(chunk)
    secs = time.monotonic() - t0
    done.append(1)
    t.join()
    return n, secs, peak[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--quick", action="store_true", help="50,000 records")
    args = ap.parse_args()
    n = 50000 if args.quick else args.records
    var = tempfile.mkdtemp(prefix="billing-bench-reports-")
    # one worker, so every export is served by the process we watch
    s = stackmod.Stack(var, workers=1, env={"BILLING_NGINX_ACCESS_LOG": "off"})
    try:
        s.start()
        s.mariadb.sql(
            "INSERT INTO billing_accounts (user_id) SELECT CONCAT('r-', seq) FROM seq_1_to_1000;"
            "INSERT INTO billing_usage_records (account_id, resource_type, quantity, unit, "
            "unit_price, total_cost, start_time, end_time) SELECT 1 + seq %% 1000, 'cpu', 2, "
            "'core-hours', 0.05, 0.10, '2025-01-01 00:00:00' + INTERVAL (seq DIV 1000) HOUR, "
            "'2025-01-01 01:00:00' + INTERVAL (seq DIV 1000) HOUR FROM seq_1_to_%d" % n,
            database="billing")
        token = s.token("admin@example.com", "admin")
        pids = s.worker_pids()
        rows = []
        small = export(s, token, "from=2025-01-01&to=2025-01-01&user_id=r-1&format=csv", pids)
        rows.append(("CSV, one account, one day (baseline)", small))
        for fmt in ("csv", "json"):
            rows.append(("%s, all %d records" % (fmt.upper(), n),
                         export(s, token, "from=2024-12-01&to=2026-01-01&format=" + fmt, pids)))
        base = small[2]
        print("\n| export | bytes | seconds | rows/s | worker peak RSS | vs baseline |")
        print("|---|---|---|---|---|---|")
        worst = 0
        for name, (nbytes, secs, peak) in rows:
            print("| %s | %s | %.2f | %s | %.1f MiB | %+.1f MiB |" % (
                name, format(nbytes, ","), secs,
                format(int(n / secs), ",") if "all" in name else "-",
                peak / 1024, (peak - base) / 1024))
            worst = max(worst, peak - base)
        ok = worst < 8 * 1024
        print("\nTarget: the worker's peak RSS grows by less than 8 MiB for the full export: %s"
              % ("PASS" if ok else "FAIL"))
        return 0 if ok else 3
    finally:
        s.stop()
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
