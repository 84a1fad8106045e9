#!/usr/bin/env python3
"""Benchmark: POST hooks/batch heartbeats against the raw multi-row UPDATE.

    python3 bench/batch_hooks.py [--quick] [--sessions N] [--rounds R]
                                 [--clients C] [--build-dir DIR] [--results FILE]

One private stack (scripts/stack.py: MariaDB, billingd with 4 workers, nginx)
on a fixed clock, with N running sessions (default 100,000; --quick 10,000),
10 per account, each with its open segment.  Then, R times (default 3;
--quick 1), interleaved:

  raw   the same rows' last_heartbeat_at set by the bare multi-row UPDATE
        (UPDATE (VALUES (id, at), ...) v JOIN billing_sessions ON the primary
        key SET last_heartbeat_at), 1,000 rows per statement, every statement
        of the round in one mariadb client session over the socket;
  batch every session's heartbeat (a newer `at` each round) through nginx
        as POST hooks/batch, 1,000 events per request, C concurrent clients
        (default 4), keep-alive; each answer checked (200, 1,000 results of
        200) and afterwards every session's last_heartbeat_at.

Reports events/s of each and batch time / raw time.  Targets (issue 18):
batch >= 50,000 events/s (its median round) and within 2x of the raw
UPDATE (the median of the rounds' ratios, each round's raw and batch run
back to back).  Standard library only.  Exit status: 0 targets met (or
--quick); 1 a check failed; 3 a target was missed.
"""

import argparse
import http.client
import json
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

from lib import (HERE, CheckFailed, Timed, check, fmt_n, log, machine_info, mariadb_client,
                 proc_cpu, snapshot_binaries, sql, sql1, stackmod)

NOW = "2025-03-10T12:30:00Z"
NOW_DT = datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc)
STARTED = "2025-03-10 11:00:00"
HEARTBEAT = "2025-03-10 12:20:00"
SESSIONS_PER_ACCOUNT = 10
BATCH = 1000
TARGET_RATE = 50000.0
TARGET_RATIO = 2.0
PATH = stackmod.API_PREFIX + "hooks/batch"


def load_sessions(st, n):
    accounts = (n + SESSIONS_PER_ACCOUNT - 1) // SESSIONS_PER_ACCOUNT
    acct = "(seq - 1) DIV %d + 1" % SESSIONS_PER_ACCOUNT
    sql(st, """
        INSERT INTO billing_accounts (id, user_id, email, plan_id, billing_mode, status)
          SELECT seq, CONCAT('bench-user-', seq), CONCAT('bench-user-', seq, '@example.com'),
                 'pro', 'usage', 'active' FROM seq_1_to_%(accounts)d;
        INSERT INTO billing_sessions (id, session_id, account_id, started_at,
                 last_heartbeat_at, cpu_cores, memory_gb, storage_gb)
          SELECT seq, CONCAT('bench-session-', seq), %(acct)s, '%(start)s', '%(hb)s',
                 2, 4, 10 FROM seq_1_to_%(n)d;
        INSERT INTO billing_session_segments (id, session_pk, account_id, seq, started_at,
                 cpu_cores, memory_gb, storage_gb)
          SELECT seq, seq, %(acct)s, 0, '%(start)s', 2, 4, 10 FROM seq_1_to_%(n)d;
        ANALYZE TABLE billing_accounts, billing_sessions, billing_session_segments;
        """ % {"accounts": accounts, "n": n, "acct": acct, "start": STARTED,
               "hb": HEARTBEAT})


def instant(k):
    """The k-th heartbeat instant of the run: strictly increasing, before NOW."""
    return datetime(2025, 3, 10, 12, 21, tzinfo=timezone.utc) + timedelta(seconds=k)


def raw_file(path, n, at):
    at_s = at.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "w") as f:
        for lo in range(1, n + 1, BATCH):
            rows = ",".join("(%d,'%s')" % (i, at_s) for i in range(lo, min(n, lo + BATCH - 1) + 1))
            f.write("UPDATE (SELECT 0 AS id, CAST(NULL AS DATETIME(6)) AS at FROM DUAL "
                    "WHERE 0 UNION ALL VALUES %s) v STRAIGHT_JOIN billing_sessions s "
                    "FORCE INDEX (PRIMARY) ON s.id = v.id SET s.last_heartbeat_at = v.at;\n"
                    % rows)


def batch_bodies(n, at):
    at_s = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for lo in range(1, n + 1, BATCH):
        events = [{"type": "session-heartbeat", "session_id": "bench-session-%d" % i,
                   "at": at_s} for i in range(lo, min(n, lo + BATCH - 1) + 1)]
        out.append((len(events), json.dumps({"events": events}).encode()))
    return out


def send_batches(st, token, bodies, clients):
    """Sends every body, clients at a time; returns the errors seen."""
    q = queue.Queue()
    for b in bodies:
        q.put(b)
    errors = []
    host, port = "127.0.0.1", int(st.base_url.rsplit(":", 1)[1])
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while True:
            try:
                n, body = q.get_nowait()
            except queue.Empty:
                break
            conn.request("POST", PATH, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                errors.append("%d %s" % (resp.status, data[:200]))
                continue
            # a cheap check here (the rows are checked afterwards): 200s only
            if data.count(b'"status":200') != n:
                errors.append("results: %s" % data[:300])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-dir", default=os.path.dirname(HERE))
    ap.add_argument("--results", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    n = args.sessions or (10000 if args.quick else 100000)
    rounds = args.rounds or (1 if args.quick else 3)
    results_path = args.results or os.path.join(
        HERE, "results-batch-hooks-quick.md" if args.quick else "results-batch-hooks.md")

    def on_term(*_):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="billing-bench-")
    st = stackmod.Stack(os.path.join(tmp, "var"), workers=4,
                        env={"BILLING_TEST_NOW": NOW, "BILLING_NGINX_ACCESS_LOG": "off"})
    rc = 0
    try:
        st.build_dir = snapshot_binaries(tmp, args.build_dir, ("billingd", "billing-migrate"))
        st.start()
        info = machine_info(st)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        load_sessions(st, n)
        log("setup: %s running sessions in %.1f s" % (fmt_n(n), time.perf_counter() - t0))
        token = st.token("bench-platform", "service", ttl=86400)
        # warm the workers' prepared statements (and the buffer pool)
        for _, body in batch_bodies(min(n, 4 * BATCH), instant(0)):
            check(not send_batches(st, token, [(BATCH, body)], 1), "warm-up batch failed")
        rows = []
        for r in range(rounds):
            at_raw, at_batch = instant(2 * r + 1), instant(2 * r + 2)
            path = os.path.join(tmp, "raw.sql")
            raw_file(path, n, at_raw)
            with Timed(st) as raw:
                mariadb_client(st, path)
            check(int(sql1(st, "SELECT COUNT(*) FROM billing_sessions WHERE last_heartbeat_at = "
                               "'%s'" % at_raw.strftime("%Y-%m-%d %H:%M:%S"))) == n,
                  "raw UPDATE: wrong row count")
            bodies = batch_bodies(n, at_batch)
            workers = st.worker_pids()
            cpu0 = sum(proc_cpu(p) for p in workers)
            with Timed(st) as bt:
                errors = send_batches(st, token, bodies, args.clients)
            cpu_b = sum(proc_cpu(p) for p in workers) - cpu0
            check(not errors, "hooks/batch: %d errors, first: %s" % (
                len(errors), errors[0] if errors else ""))
            moved = int(sql1(st, "SELECT COUNT(*) FROM billing_sessions WHERE "
                                 "last_heartbeat_at = '%s'" % at_batch.strftime(
                                     "%Y-%m-%d %H:%M:%S")))
            check(moved == n, "hooks/batch moved %d of %d sessions" % (moved, n))
            rows.append((raw.wall, raw.server_cpu, bt.wall, bt.server_cpu, cpu_b))
            log("round %d: raw UPDATE %.3f s (%s rows/s), hooks/batch %.3f s (%s events/s), "
                "ratio %.2fx" % (r + 1, raw.wall, fmt_n(int(n / raw.wall)), bt.wall,
                                 fmt_n(int(n / bt.wall)), bt.wall / raw.wall))
        load1 = os.getloadavg()
        raw_m = median([x[0] for x in rows])
        bt_m = median([x[2] for x in rows])
        rate = n / bt_m
        # rounds are interleaved: each ratio compares neighbours in time
        ratio = median([x[2] / x[0] for x in rows])
        ok = rate >= TARGET_RATE and ratio <= TARGET_RATIO
        lines = []
        add = lines.append
        add("## Heartbeats through POST hooks/batch against the raw multi-row UPDATE")
        add("")
        add("%s sessions, %d events per request, %d concurrent clients over keep-alive, "
            "%d round(s), raw and batch interleaved; the medians:" % (
                fmt_n(n), BATCH, args.clients, rounds))
        add("")
        add("| round | raw UPDATE | rows/s | mariadbd CPU | hooks/batch | events/s "
            "| mariadbd CPU | billingd CPU | batch / raw |")
        add("|---|---|---|---|---|---|---|---|---|")
        for i, (rw, rs, bw, bs, bc) in enumerate(rows):
            add("| %d | %.3f s | %s | %.2f s | %.3f s | %s | %.2f s | %.2f s | %.2fx |" % (
                i + 1, rw, fmt_n(int(n / rw)), rs, bw, fmt_n(int(n / bw)), bs, bc, bw / rw))
        add("")
        add("Target: >= %s events/s and within %.0fx of the raw UPDATE: **%s** "
            "(%s events/s, ratio %.2fx)." % (fmt_n(int(TARGET_RATE)), TARGET_RATIO,
                                              "met" if ok else "missed", fmt_n(int(rate)), ratio))
        cpu_ratio = median([(x[3] + x[4]) / x[1] for x in rows if x[1] > 0] or [0])
        add("CPU: the batch rounds' mariadbd + billingd CPU is %.1fx the raw rounds' "
            "mariadbd CPU (median); %.1f µs of billingd and %.1f µs of mariadbd per event. "
            "On 2 shared cores the wall-time ratio follows how much of the second core "
            "the batch gets." % (cpu_ratio, 1e6 * median([x[4] for x in rows]) / n,
                                 1e6 * median([x[3] for x in rows]) / n))
        add("")
        add("## Machine")
        add("")
        add("- %s CPUs (%s), %s RAM, kernel %s; MariaDB %s; commit %s" % (
            info["nproc"], info.get("cpu", "?"), info.get("ram", "?"), info["kernel"],
            info["mariadb"], info["commit"]))
        add("- load average before %.2f / %.2f / %.2f, after %.2f / %.2f / %.2f "
            "(the machine is shared: other work ran meanwhile)" % (load0 + load1))
        log("")
        log("\n".join(lines))
        with open(results_path, "w") as f:
            f.write("# bench/batch_hooks.py results\n\n")
            f.write("Written by `python3 bench/batch_hooks.py%s` (overwritten on each run).\n\n"
                    % (" --quick" if args.quick else ""))
            f.write("\n".join(lines) + "\n")
        if not ok and not args.quick:
            rc = 3
    except CheckFailed as e:
        log("CHECK FAILED: %s" % e)
        rc = 1
    except BaseException as e:
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            log("ERROR: %s: %s" % (type(e).__name__, e))
            for name in ("billingd.log", "nginx-error.log"):
                log("--- %s (tail) ---\n%s" % (name, st.read_log(name)[-1500:]))
        rc = 1
    finally:
        st.stop()
        if args.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(rc)


if __name__ == "__main__":
    main()
