#!/usr/bin/env python3
"""Benchmark: the hourly usage job against a raw INSERT, and GET usage's
cost against the length of an account's history.

    python3 bench/metering.py                 # 100,000 sessions (about 1.5 minutes)
    python3 bench/metering.py --sessions 20000
    python3 bench/metering.py --quick         # 2,000 sessions, CI smoke run (< 1 minute)

One private stack (MariaDB + billingd + nginx, scripts/stack.py) in a
temporary directory, with the test clock fixed at 2025-03-10T12:30:00Z
(the binaries must be built with --enable-test-clock).

1. Metering.  N active sessions (10 per account), each with one open segment
   started at 11:00 and a heartbeat at 12:29: exactly one hour (11:00-12:00)
   is pending, 3 records per session (cpu, memory, storage).  Each round
   times billing-calculate-usage (wall time of the process) and, in the same
   round, the same number of rows written with plain 1,000-row INSERT
   statements through the mariadb client into a copy of the table
   (CREATE TABLE ... LIKE: same columns, keys and checks, no foreign keys),
   and into billing_usage_records itself (with its foreign keys).
   Target: job <= 3x the raw INSERT (the LIKE copy).
2. GET usage.  Account A with 100 usage records and account B with 100,000
   in the current billing period (ended sessions metered by the job, so the
   daily totals are the job's own), then GET /api/plugins/billing/usage for
   each through nginx: sequential keep-alive requests, and wrk if installed.
   Target: B costs the same as A, within +-20%.

Standard library only.  Exit status: 0 ok; 1 a correctness check failed
(record counts, second run, daily totals, GET answers); 3 a performance
target was missed (full runs only: --quick prints the verdicts but does
not enforce them, a few thousand rows are too few to judge a ratio).
"""

import argparse
import calendar
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from lib import (ROOT, HERE, CheckFailed, Timed, check, diff_counters, fmt_ms,
                 fmt_rate, fmt_s, log, machine_info, mariadb_client, profile_statements,
                 snapshot_binaries, sql, sql1, stackmod, status_counters)

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = calendar.timegm(time.strptime(NOW, "%Y-%m-%dT%H:%M:%SZ"))
HOUR_START = "2025-03-10 11:00:00"
HOUR_END = "2025-03-10 12:00:00"
HEARTBEAT = "2025-03-10 12:29:00"
SESSIONS_PER_ACCOUNT = 10
# what the job writes for a 2-core / 4 GB / 10 GB session over one hour at
# the seed rates (0.05 per core-hour, 0.01 per GB-hour, 0.10 per GB-month)
SIZE = {"cpu": 2, "memory": 4, "storage": 10}
HOUR_ROWS = [("cpu", "2.000000", "core-hours", "0.050000", "0.100000"),
             ("memory", "4.000000", "gb-hours", "0.010000", "0.040000"),
             ("storage", "0.013699", "gb-months", "0.100000", "0.001370")]
INSERT_ROWS_PER_STATEMENT = 1000
JOB_TARGET = 3.0          # job time <= 3x raw INSERT time
FLAT_TARGET = 0.20        # GET usage B/A within +-20%
USAGE_PATH = stackmod.API_PREFIX + "usage"
RECORD_COLUMNS = ("account_id, session_pk, segment_id, resource_type, quantity, unit, "
                  "unit_price, total_cost, start_time, end_time")


# -- the stack ----------------------------------------------------------------

def run_job(st):
    """billing-calculate-usage once; returns (Timed, records written, segments, counters)."""
    c0 = status_counters(st)
    with Timed(st) as t:
        r = st.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
    counters = diff_counters(c0, status_counters(st))
    m = re.search(r"(\d+) usage records, (\d+) segments examined", r.stderr + r.stdout)
    if not m:
        raise CheckFailed("billing-calculate-usage said: %r" % (r.stderr + r.stdout))
    return t, int(m.group(1)), int(m.group(2)), counters


# -- the data -----------------------------------------------------------------

def load_active_sessions(st, n):
    """n active sessions, 10 per account, each with one open segment from 11:00."""
    accounts = (n + SESSIONS_PER_ACCOUNT - 1) // SESSIONS_PER_ACCOUNT
    acct = "(seq - 1) DIV %d + 1" % SESSIONS_PER_ACCOUNT
    sql(st, """
        INSERT INTO billing_accounts (id, user_id, email, plan_id, billing_mode, status)
          SELECT seq, CONCAT('bench-user-', seq), CONCAT('bench-user-', seq, '@example.com'),
                 'pro', 'usage', 'active' FROM seq_1_to_%(accounts)d;
        INSERT INTO billing_sessions (id, session_id, account_id, started_at,
                 last_heartbeat_at, cpu_cores, memory_gb, storage_gb)
          SELECT seq, CONCAT('bench-session-', seq), %(acct)s, '%(start)s', '%(hb)s',
                 %(cpu)d, %(mem)d, %(sto)d FROM seq_1_to_%(n)d;
        INSERT INTO billing_session_segments (id, session_pk, account_id, seq, started_at,
                 cpu_cores, memory_gb, storage_gb)
          SELECT seq, seq, %(acct)s, 0, '%(start)s', %(cpu)d, %(mem)d, %(sto)d
          FROM seq_1_to_%(n)d;
        ANALYZE TABLE billing_accounts, billing_sessions, billing_session_segments;
        """ % {"accounts": accounts, "n": n, "acct": acct, "start": HOUR_START,
               "hb": HEARTBEAT, "cpu": SIZE["cpu"], "mem": SIZE["memory"],
               "sto": SIZE["storage"]})
    return accounts


def reset_metering(st, n):
    """Back to 'one hour pending' for the n active sessions (between rounds)."""
    sql(st, """
        TRUNCATE TABLE billing_usage_records;
        TRUNCATE TABLE billing_usage_daily;
        TRUNCATE TABLE billing_usage_day_totals;
        TRUNCATE TABLE bench_usage_records;
        UPDATE billing_session_segments SET metered_until = NULL, metered_cost = 0,
               metered_done = 0 WHERE id <= %d;
        DELETE FROM billing_job_runs;
        """ % n)


def write_insert_file(path, table, n):
    """3n rows like the job's, 1,000 per INSERT statement (autocommit)."""
    with open(path, "w") as f:
        rows = []

        def flush():
            if rows:
                f.write("INSERT INTO %s (%s) VALUES\n%s;\n" % (table, RECORD_COLUMNS,
                                                              ",\n".join(rows)))
                rows.clear()

        for seg in range(1, n + 1):
            acct = (seg - 1) // SESSIONS_PER_ACCOUNT + 1
            for res, qty, unit, price, cost in HOUR_ROWS:
                rows.append("(%d,%d,%d,'%s',%s,'%s',%s,%s,'%s','%s')"
                            % (acct, seg, seg, res, qty, unit, price, cost,
                               HOUR_START, HOUR_END))
                if len(rows) == INSERT_ROWS_PER_STATEMENT:
                    flush()
        flush()


def add_history_accounts(st, n, b_records):
    """Accounts A (100 records) and B (b_records), from ended sessions with
    2 cores / 4 GB / no storage (2 records per hour), metered by the job.

    A: 10 sessions of 5 hours, one a day from 2025-03-01.
    B: 250 sessions of b_records/500 hours each from 2025-03-01 00:00."""
    accounts = (n + SESSIONS_PER_ACCOUNT - 1) // SESSIONS_PER_ACCOUNT
    a_id, b_id = accounts + 1, accounts + 2
    b_sessions = 250
    b_hours = b_records // (2 * b_sessions)
    check(b_hours * 2 * b_sessions == b_records and 0 < b_hours <= 9 * 24,
          "--b-records must be a multiple of 500, at most 1,080,000")
    a_base, b_base = n, n + 10
    sql(st, """
        INSERT INTO billing_accounts (id, user_id, email, plan_id, billing_mode, status) VALUES
          (%(a)d, 'bench-a', 'bench-a@example.com', 'pro', 'usage', 'active'),
          (%(b)d, 'bench-b', 'bench-b@example.com', 'pro', 'usage', 'active');
        INSERT INTO billing_sessions (id, session_id, account_id, started_at,
                 last_heartbeat_at, ended_at, cpu_cores, memory_gb, storage_gb)
          SELECT %(ab)d + seq, CONCAT('bench-a-', seq), %(a)d,
                 TIMESTAMP('2025-03-01') + INTERVAL (seq - 1) DAY,
                 TIMESTAMP('2025-03-01') + INTERVAL (seq - 1) DAY + INTERVAL 5 HOUR,
                 TIMESTAMP('2025-03-01') + INTERVAL (seq - 1) DAY + INTERVAL 5 HOUR,
                 2, 4, 0 FROM seq_1_to_10;
        INSERT INTO billing_session_segments (id, session_pk, account_id, seq, started_at,
                 ended_at, cpu_cores, memory_gb, storage_gb)
          SELECT id, id, account_id, 0, started_at, ended_at, 2, 4, 0
          FROM billing_sessions WHERE account_id = %(a)d;
        INSERT INTO billing_sessions (id, session_id, account_id, started_at,
                 last_heartbeat_at, ended_at, cpu_cores, memory_gb, storage_gb)
          SELECT %(bb)d + seq, CONCAT('bench-b-', seq), %(b)d, '2025-03-01 00:00:00',
                 TIMESTAMP('2025-03-01') + INTERVAL %(bh)d HOUR,
                 TIMESTAMP('2025-03-01') + INTERVAL %(bh)d HOUR,
                 2, 4, 0 FROM seq_1_to_%(bs)d;
        INSERT INTO billing_session_segments (id, session_pk, account_id, seq, started_at,
                 ended_at, cpu_cores, memory_gb, storage_gb)
          SELECT id, id, account_id, 0, started_at, ended_at, 2, 4, 0
          FROM billing_sessions WHERE account_id = %(b)d;
        """ % {"a": a_id, "b": b_id, "ab": a_base, "bb": b_base, "bh": b_hours,
               "bs": b_sessions})
    return a_id, b_id


def check_daily_totals(st, account_ids):
    """The daily totals of the accounts agree with their records, key by key."""
    ids = ",".join(str(i) for i in account_ids)
    bad = sql1(st, """
        SELECT COUNT(*) FROM (
          SELECT account_id, DATE(start_time) AS day, resource_type, unit_price,
                 SUM(quantity) AS q, SUM(total_cost) AS c, COUNT(*) AS n
          FROM billing_usage_records WHERE account_id IN (%(ids)s)
          GROUP BY account_id, DATE(start_time), resource_type, unit_price) r
        LEFT JOIN billing_usage_daily d ON d.account_id = r.account_id AND d.day = r.day
          AND d.resource_type = r.resource_type AND d.unit_price = r.unit_price
        WHERE d.account_id IS NULL OR d.quantity <> r.q OR d.total_cost <> r.c
          OR d.records <> r.n""" % {"ids": ids})
    groups = sql1(st, "SELECT COUNT(DISTINCT account_id, DATE(start_time), resource_type, "
                      "unit_price) FROM billing_usage_records WHERE account_id IN (%s)" % ids)
    daily = sql1(st, "SELECT COUNT(*) FROM billing_usage_daily WHERE account_id IN (%s)" % ids)
    check(int(bad) == 0 and int(groups) == int(daily),
          "daily totals disagree with the records (%s mismatched keys, %s keys, %s daily rows)"
          % (bad, groups, daily))
    return int(daily)


# -- HTTP ---------------------------------------------------------------------

def get_usage(conn, token):
    conn.request("GET", USAGE_PATH, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, body


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def sequential(st, tokens, requests, warmup):
    """Alternating keep-alive requests, one connection per account, so that
    drift on the machine hits both alike.  Returns {name: latencies (s)}."""
    conns = {name: http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
             for name in tokens}
    lat = {name: [] for name in tokens}
    try:
        for i in range(warmup + requests):
            for name, token in tokens.items():
                t0 = time.perf_counter()
                status, body = get_usage(conns[name], token)
                dt = time.perf_counter() - t0
                if status != 200:
                    raise CheckFailed("GET usage for %s: %d %s" % (name, status, body[:200]))
                if i >= warmup:
                    lat[name].append(dt)
    finally:
        for c in conns.values():
            c.close()
    return lat


def parse_wrk_time(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return None
    v = float(m.group(1))
    return v * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


def run_wrk(st, token, duration, threads=2, connections=16):
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--latency",
            "-H", "Authorization: Bearer " + token, st.base_url + USAGE_PATH]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("wrk failed: %s" % r.stderr)
    out = r.stdout
    res = {"argv": " ".join(argv[:6]) + " -H 'Authorization: Bearer ...' " + argv[-1]}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % p, out, re.M)
        res["p" + p] = parse_wrk_time(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", out)
    res["errors"] = m.group(1).strip() if m else ""
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    return res


# -- the benchmark ------------------------------------------------------------

def metering_rounds(st, n, rounds, tmp, results):
    rows = 3 * n
    plain_sql = os.path.join(tmp, "insert-plain.sql")
    fk_sql = os.path.join(tmp, "insert-fk.sql")
    write_insert_file(plain_sql, "bench_usage_records", n)
    write_insert_file(fk_sql, "billing_usage_records", n)
    log("  INSERT files: %d statements of %d rows (%.1f MB each)"
        % ((rows + INSERT_ROWS_PER_STATEMENT - 1) // INSERT_ROWS_PER_STATEMENT,
           INSERT_ROWS_PER_STATEMENT, os.path.getsize(plain_sql) / 1e6))

    for rnd in range(1, rounds + 1):
        if rnd > 1:
            reset_metering(st, n)
        r = {"round": rnd}

        # the raw INSERT into the real table (foreign keys and all) needs
        # it empty: first, then emptied again for the job
        with Timed(st) as t:
            mariadb_client(st, fk_sql)
        r["fk"] = t
        check(int(sql1(st, "SELECT COUNT(*) FROM billing_usage_records")) == rows,
              "raw INSERT into billing_usage_records: wrong row count")
        sql(st, "TRUNCATE TABLE billing_usage_records")

        def job():
            t, recs, segs, counters = run_job(st)
            check(recs == rows, "round %d: the job wrote %d records, expected %d"
                  % (rnd, recs, rows))
            got = int(sql1(st, "SELECT COUNT(*) FROM billing_usage_records"))
            check(got == rows, "round %d: %d rows in billing_usage_records, expected %d"
                  % (rnd, got, rows))
            r["job"], r["job_counters"], r["segments"] = t, counters, segs

        def plain():
            with Timed(st) as t:
                mariadb_client(st, plain_sql)
            check(int(sql1(st, "SELECT COUNT(*) FROM bench_usage_records")) == rows,
                  "raw INSERT into bench_usage_records: wrong row count")
            r["plain"] = t

        # alternate which goes first, so that neither always finds the
        # server fresh (or busy flushing the other's pages)
        for step in ((job, plain) if rnd % 2 else (plain, job)):
            step()
        r["order"] = "job first" if rnd % 2 else "INSERT first"

        if rnd == 1:
            t2, recs2, _, _ = run_job(st)
            check(recs2 == 0, "a second run wrote %d records, expected 0" % recs2)
            r["second"] = t2
            # the daily totals of the active accounts: one row per account
            # and resource, 10 sessions' worth each
            daily = sql(st, "SELECT COUNT(*), SUM(records), SUM(total_cost) "
                            "FROM billing_usage_daily")[0]
            accounts = (n + SESSIONS_PER_ACCOUNT - 1) // SESSIONS_PER_ACCOUNT
            check(int(daily[0]) == 3 * accounts and int(daily[1]) == rows,
                  "daily totals: %s rows, %s records (expected %d, %d)"
                  % (daily[0], daily[1], 3 * accounts, rows))
            want = sum(float(c) for *_, c in HOUR_ROWS) * n
            check(abs(float(daily[2]) - want) < 1e-6 * n, "daily total cost %s, expected %.6f"
                  % (daily[2], want))

        r["ratio"] = r["job"].wall / r["plain"].wall
        log("  round %d (%s): job %s (%s rows/s), INSERT %s (%s rows/s), ratio %.2fx; "
            "INSERT with FKs %s (%s rows/s)"
            % (rnd, r["order"], fmt_s(r["job"].wall), fmt_rate(rows, r["job"].wall),
               fmt_s(r["plain"].wall), fmt_rate(rows, r["plain"].wall), r["ratio"],
               fmt_s(r["fk"].wall), fmt_rate(rows, r["fk"].wall)))
        results["rounds"].append(r)


STATEMENT_KINDS = """
  CASE
    WHEN sql_text LIKE 'SELECT id, session_pk%%' THEN '1 SELECT pending segments FOR UPDATE SKIP LOCKED'
    WHEN sql_text LIKE 'SELECT g.id, s.last_heartbeat_at%%' THEN '2 SELECT their sessions (join)'
    WHEN sql_text LIKE 'INSERT INTO billing_usage_records%%' THEN '3 INSERT usage records (multi-row)'
    WHEN sql_text LIKE 'UPDATE billing_session_segments%%'
      OR sql_text LIKE 'UPDATE (SELECT 0 AS id%%' THEN '4 UPDATE segments'' progress'
    WHEN sql_text LIKE 'INSERT INTO billing_usage_daily%%' THEN '5 INSERT ... ON DUPLICATE KEY UPDATE daily'
    WHEN sql_text LIKE 'INSERT INTO billing_usage_day_totals%%' THEN '5 INSERT ... ON DUPLICATE KEY UPDATE day totals'
    WHEN sql_text LIKE 'INSERT INTO bench_usage_records%%' THEN 'raw INSERT (LIKE copy)'
    WHEN sql_text LIKE 'START TRANSACTION%%' OR sql_text LIKE 'commit%%'
      OR sql_text LIKE 'rollback%%' THEN '6 START TRANSACTION / COMMIT'
    ELSE '7 other (connect, session setup, job run rows)'
  END"""


def profile_round(st, n, plain_sql, results):
    """One more job run and raw INSERT with every statement in the slow query
    log (long_query_time=0, log_output=TABLE), summed by kind: server time per
    statement type.  Logging slows both a little; not part of the timings."""
    reset_metering(st, n)
    kinds = {}
    for name, run in (("job", lambda: run_job(st)),
                      ("insert", lambda: mariadb_client(st, plain_sql))):
        kinds[name] = profile_statements(st, run, STATEMENT_KINDS)
        if name == "job":
            # the batch SELECT's time by position in the run: flat if each
            # batch costs the same, rising if a batch rescans what came before
            times = [float(r[0]) for r in st.mariadb.sql(
                "SELECT TIME_TO_SEC(query_time) FROM mysql.slow_log WHERE db = '%s' AND "
                "sql_text LIKE 'SELECT id, session_pk%%' ORDER BY start_time" % st.db_name)]
            if len(times) >= 4:
                q = len(times) // 4
                kinds[name]["select_quarters"] = [statistics.mean(times[i * q:(i + 1) * q])
                                                  for i in range(4)]
    st.mariadb.sql("TRUNCATE TABLE mysql.slow_log")
    results["profile"] = kinds
    for name, p in kinds.items():
        total = sum(r[2] for r in p["rows"])
        log("  profile %s: wall %s with the query log on, %s of it in statements"
            % (name, fmt_s(p["wall"]), fmt_s(total)))
        for k, c, t, lk, ex, af in p["rows"]:
            log("    %-50s %6d x  %8.3f s  (%.0f us each)" % (k.lstrip("1234567 "), c, t,
                                                          t / c * 1e6 if c else 0))
    if "select_quarters" in kinds["job"]:
        log("    pending-segment SELECT, mean per batch by quarter of the run: %s"
            % ", ".join("%.2f ms" % (v * 1000) for v in kinds["job"]["select_quarters"]))
    # the state after the profile is as after a round: one hour metered
    check(int(sql1(st, "SELECT COUNT(*) FROM billing_usage_records")) == 3 * n,
          "profile round: wrong record count")


def history_and_get(st, n, b_records, requests, wrk_seconds, wrk_repeats, results):
    a_id, b_id = add_history_accounts(st, n, b_records)
    t, recs, segs, _ = run_job(st)
    check(recs == 100 + b_records, "metering A and B wrote %d records, expected %d"
          % (recs, 100 + b_records))
    results["history_job"] = (t.wall, recs, segs)
    counts = dict(sql(st, "SELECT account_id, COUNT(*) FROM billing_usage_records "
                          "WHERE account_id IN (%d,%d) GROUP BY account_id" % (a_id, b_id)))
    check(int(counts.get(str(a_id), 0)) == 100 and int(counts.get(str(b_id), 0)) == b_records,
          "records per account: %r" % counts)
    daily_rows = check_daily_totals(st, (a_id, b_id))
    per = dict((row[0], row[1:]) for row in sql(
        st, "SELECT account_id, COUNT(*), SUM(total_cost) FROM billing_usage_daily "
            "WHERE account_id IN (%d,%d) GROUP BY account_id" % (a_id, b_id)))
    log("  metered A and B: %d records in %s; daily totals match the records "
        "(%d daily rows: A %s, B %s)" % (recs, fmt_s(t.wall), daily_rows,
                                         per[str(a_id)][0], per[str(b_id)][0]))

    tokens = {"A": st.token("bench-a", "user", now=NOW_EPOCH, ttl=86400),
              "B": st.token("bench-b", "user", now=NOW_EPOCH, ttl=86400)}
    # the answers are right before they are fast
    for name, acct in (("A", a_id), ("B", b_id)):
        status, _, body = st.request("GET", "usage", token=tokens[name])
        check(status == 200, "GET usage for %s: %d %r" % (name, status, body))
        want = float(sql1(st, "SELECT SUM(total_cost) FROM billing_usage_records "
                              "WHERE account_id = %d" % acct))
        got = float(body["total_cost"])
        check(abs(got - round(want, 2)) < 0.005 and not body["active_sessions"],
              "GET usage for %s: total_cost %s, records sum to %.6f" % (name, got, want))
        results["get_body_" + name] = {"total_cost": body["total_cost"],
                                       "items": len(body["items"]),
                                       "period": body["period"]}

    lat = sequential(st, tokens, requests, warmup=min(200, requests))
    seq = {}
    for name, v in lat.items():
        seq[name] = {"rps": len(v) / sum(v), "p50": pct(v, 50), "p99": pct(v, 99),
                     "mean": statistics.mean(v)}
    results["seq"] = seq
    results["seq_requests"] = requests
    log("  sequential, %d keep-alive requests each (alternating): A %.0f req/s "
        "(p50 %s, p99 %s), B %.0f req/s (p50 %s, p99 %s)"
        % (requests, seq["A"]["rps"], fmt_ms(seq["A"]["p50"]), fmt_ms(seq["A"]["p99"]),
           seq["B"]["rps"], fmt_ms(seq["B"]["p50"]), fmt_ms(seq["B"]["p99"])))

    if shutil.which("wrk") is None:
        results["wrk"] = None
        log("  wrk: not installed (apt-get install wrk), skipped")
        return
    runs = {"A": [], "B": []}
    for i in range(wrk_repeats):
        for name in ("A", "B"):
            w = run_wrk(st, tokens[name], wrk_seconds)
            check(w["non2xx"] == 0 and w["requests"] > 0,
                  "wrk on %s: %d non-2xx of %d requests" % (name, w["non2xx"], w["requests"]))
            runs[name].append(w)
            log("  wrk %s run %d: %.0f req/s, p50 %s, p99 %s%s"
                % (name, i + 1, w["rps"], fmt_ms(w["p50"]), fmt_ms(w["p99"]),
                   (", socket errors: " + w["errors"]) if w["errors"] else ""))
    wrk = {}
    for name, ws in runs.items():
        wrk[name] = {"rps": statistics.mean(w["rps"] for w in ws),
                     "p50": statistics.mean(w["p50"] for w in ws),
                     "p99": statistics.mean(w["p99"] for w in ws),
                     "argv": ws[0]["argv"]}
    results["wrk"] = wrk
    results["wrk_desc"] = "%d x %ds per account, alternating A/B; means" % (wrk_repeats,
                                                                          wrk_seconds)


def verdicts(results):
    rows = results["rows"]
    rs = results["rounds"]
    job = statistics.median(r["job"].wall for r in rs)
    plain = statistics.median(r["plain"].wall for r in rs)
    fk = statistics.median(r["fk"].wall for r in rs)
    ratio = statistics.median(r["ratio"] for r in rs)
    v = {"job": job, "plain": plain, "fk": fk, "ratio": ratio,
         "job_ok": ratio <= JOB_TARGET, "rows": rows}
    seq = results["seq"]
    v["seq_ratio"] = seq["B"]["mean"] / seq["A"]["mean"]   # cost (time per request)
    v["seq_ok"] = abs(v["seq_ratio"] - 1) <= FLAT_TARGET
    if results.get("wrk"):
        v["wrk_ratio"] = results["wrk"]["A"]["rps"] / results["wrk"]["B"]["rps"]
        v["wrk_ok"] = abs(v["wrk_ratio"] - 1) <= FLAT_TARGET
    return v


def report(results, v, info, args):
    rows = v["rows"]
    lines = []
    add = lines.append
    add("## Metering: %s active sessions, one hour pending (%s usage records)"
        % ("{:,}".format(args.sessions), "{:,}".format(rows)))
    add("")
    add("| round | order | job | job rows/s | raw INSERT (LIKE copy, no FKs) | rows/s "
        "| job / INSERT | raw INSERT into billing_usage_records (FKs) | rows/s |")
    add("|---|---|---|---|---|---|---|---|---|")
    for r in results["rounds"]:
        add("| %d | %s | %s | %s | %s | %s | %.2fx | %s | %s |"
            % (r["round"], r["order"], fmt_s(r["job"].wall), fmt_rate(rows, r["job"].wall),
               fmt_s(r["plain"].wall), fmt_rate(rows, r["plain"].wall), r["ratio"],
               fmt_s(r["fk"].wall), fmt_rate(rows, r["fk"].wall)))
    add("| **median** | | **%s** | **%s** | **%s** | **%s** | **%.2fx** | %s | %s |"
        % (fmt_s(v["job"]), fmt_rate(rows, v["job"]), fmt_s(v["plain"]),
           fmt_rate(rows, v["plain"]), v["ratio"], fmt_s(v["fk"]), fmt_rate(rows, v["fk"])))
    add("")
    add("Target: job within %.0fx of the raw INSERT: **%s** (median ratio %.2fx)."
        % (JOB_TARGET, "PASS" if v["job_ok"] else "FAIL", v["ratio"]))
    add("")
    r1 = results["rounds"][0]
    add("Where the time goes (round 1; CPU seconds from getrusage and /proc):")
    add("")
    add("| | wall | client CPU | mariadbd CPU |")
    add("|---|---|---|---|")
    add("| billing-calculate-usage | %s | %s | %s |"
        % (fmt_s(r1["job"].wall), fmt_s(r1["job"].client_cpu), fmt_s(r1["job"].server_cpu)))
    add("| mariadb < INSERT file (LIKE copy) | %s | %s | %s |"
        % (fmt_s(r1["plain"].wall), fmt_s(r1["plain"].client_cpu),
           fmt_s(r1["plain"].server_cpu)))
    add("| mariadb < INSERT file (billing_usage_records) | %s | %s | %s |"
        % (fmt_s(r1["fk"].wall), fmt_s(r1["fk"].client_cpu), fmt_s(r1["fk"].server_cpu)))
    c = r1["job_counters"]
    add("")
    add("Job, server counters (round 1, SHOW GLOBAL STATUS deltas): %s statements "
        "(%s prepared executions: %s INSERT, %s UPDATE, %s SELECT), %s COMMITs; "
        "handler: %s rows written, %s updated, %s index lookups, %s index-next reads; "
        "%s row lock waits; %s segments examined."
        % (tuple("{:,}".format(c.get(k, 0)) for k in (
            "Questions", "Com_stmt_execute", "Com_insert", "Com_update", "Com_select",
            "Com_commit", "Handler_write", "Handler_update", "Handler_read_key",
            "Handler_read_next", "Innodb_row_lock_waits"))
           + ("{:,}".format(r1["segments"]),)))
    add("A second run right after wrote 0 records in %s." % fmt_s(r1["second"].wall))
    add("")
    prof = results.get("profile")
    if prof:
        add("Server time per statement kind (one extra run of each with the slow query log "
            "at long_query_time=0, which slows both; not part of the timings above):")
        add("")
        add("| run | statement | count | server time | per statement | rows examined "
            "| rows affected |")
        add("|---|---|---|---|---|---|---|")
        for name, label in (("job", "job"), ("insert", "raw INSERT")):
            p = prof[name]
            for k, c, t, lk, ex, af in p["rows"]:
                add("| %s | %s | %s | %s | %.0f us | %s | %s |"
                    % (label, k.lstrip("1234567 "), "{:,}".format(c), fmt_s(t),
                       t / c * 1e6 if c else 0, "{:,}".format(ex), "{:,}".format(af)))
            add("| %s | **all statements** (process wall %s) | | **%s** | | | |"
                % (label, fmt_s(p["wall"]), fmt_s(sum(r[2] for r in p["rows"]))))
        add("")
        if "select_quarters" in prof["job"]:
            add("The pending-segment SELECT, mean server time per batch by quarter of the "
                "run (1st to 4th): %s."
                % ", ".join("%.2f ms" % (v * 1000) for v in prof["job"]["select_quarters"]))
            add("")
    hw, hrecs, hsegs = results["history_job"]
    add("## GET usage: account A (100 records) vs account B (%s records)"
        % "{:,}".format(args.b_records))
    add("")
    add("Both in the current billing period (2025-03-01 to 2025-04-01), from ended "
        "sessions metered by the job (%s records, %s segments examined, in %s); the daily totals "
        "were checked against the records, and each answer's total_cost against the "
        "records' sum (A %s, B %s)." % ("{:,}".format(hrecs), "{:,}".format(hsegs), fmt_s(hw),
                                        results["get_body_A"]["total_cost"],
                                        results["get_body_B"]["total_cost"]))
    add("")
    add("| measure | A req/s | A p50 | A p99 | B req/s | B p50 | B p99 | B / A cost |")
    add("|---|---|---|---|---|---|---|---|")
    s = results["seq"]
    add("| sequential, %s keep-alive requests each | %.0f | %s | %s | %.0f | %s | %s | %.3f |"
        % ("{:,}".format(results["seq_requests"]), s["A"]["rps"], fmt_ms(s["A"]["p50"]),
           fmt_ms(s["A"]["p99"]), s["B"]["rps"], fmt_ms(s["B"]["p50"]),
           fmt_ms(s["B"]["p99"]), v["seq_ratio"]))
    w = results.get("wrk")
    if w:
        add("| wrk -t2 -c16, %s | %.0f | %s | %s | %.0f | %s | %s | %.3f |"
            % (results["wrk_desc"], w["A"]["rps"], fmt_ms(w["A"]["p50"]),
               fmt_ms(w["A"]["p99"]), w["B"]["rps"], fmt_ms(w["B"]["p50"]),
               fmt_ms(w["B"]["p99"]), v["wrk_ratio"]))
    else:
        add("| wrk | not installed | | | | | | |")
    add("")
    add("B / A cost: time per request of B over A (sequential: mean latency; wrk: "
        "A's req/s over B's).  Target: within +-%d%%: sequential **%s**%s."
        % (FLAT_TARGET * 100, "PASS" if v["seq_ok"] else "FAIL",
           ", wrk **%s**" % ("PASS" if v["wrk_ok"] else "FAIL") if w else ""))
    add("")
    add("## Machine")
    add("")
    add("- date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    add("- command: `%s`" % " ".join(["python3 bench/metering.py"] + sys.argv[1:]))
    add("- nproc: %s; RAM: %s; CPU: %s; kernel %s"
        % (info["nproc"], info.get("ram", "?"), info.get("cpu", "?"), info["kernel"]))
    add("- MariaDB %s (the stack's: innodb_buffer_pool_size=256M, "
        "innodb_flush_log_at_trx_commit=2, no binlog)" % info["mariadb"])
    add("- billingd: 2 workers behind nginx (2 workers, access log off); "
        "source %s; binaries built %s with --enable-test-clock (copied at start); "
        "clock fixed at %s" % (info["commit"], results.get("built", "?"), NOW))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=None,
                    help="active sessions to meter (default 100000; --quick: 2000)")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke run: 2,000 sessions, 1 round, short HTTP runs")
    ap.add_argument("--rounds", type=int, default=None,
                    help="job / raw INSERT rounds, interleaved (default 3; --quick: 1)")
    ap.add_argument("--b-records", type=int, default=100000,
                    help="usage records of account B (a multiple of 500; default 100000)")
    ap.add_argument("--requests", type=int, default=None,
                    help="sequential GET usage requests per account (default 2000; "
                         "--quick: 300)")
    ap.add_argument("--wrk-seconds", type=int, default=None,
                    help="duration of each wrk run (default 5; --quick: 2)")
    ap.add_argument("--results", default=None,
                    help="markdown file to (over)write (default bench/results-metering.md; "
                         "--quick: bench/results-metering-quick.md)")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the extra job / INSERT run under the slow query log "
                         "(server time per statement kind)")
    ap.add_argument("--build-dir", default=ROOT,
                    help="the build tree whose src/ holds billingd and the helpers "
                         "(default: this checkout)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs, data) for inspection")
    args = ap.parse_args()
    args.sessions = args.sessions or (2000 if args.quick else 100000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.requests = args.requests or (300 if args.quick else 2000)
    args.wrk_seconds = args.wrk_seconds or (2 if args.quick else 5)
    wrk_repeats = 1 if args.quick else 2
    results_path = args.results or os.path.join(
        HERE, "results-metering-quick.md" if args.quick else "results-metering.md")
    if args.sessions < 1 or args.rounds < 1 or args.requests < 10:
        ap.error("--sessions, --rounds and --requests must be positive (--requests >= 10)")

    def on_term(*_):
        log("terminated: stopping the stack")
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)

    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="billing-bench-")
    st = stackmod.Stack(os.path.join(tmp, "var"), workers=2,
                        env={"BILLING_TEST_NOW": NOW, "BILLING_NGINX_ACCESS_LOG": "off"})
    results = {"rounds": [], "rows": 3 * args.sessions}
    rc = 0
    try:
        st.build_dir = snapshot_binaries(tmp, args.build_dir, (
            "billingd", "billing-calculate-usage", "billing-migrate"))
        results["built"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(
            os.path.getmtime(os.path.join(st.build_dir, "src", "billing-calculate-usage"))))
        log("stack: starting in %s" % tmp)
        st.start()
        info = machine_info(st)
        log("stack: MariaDB %s, nginx on %s, billingd 2 workers; clock %s"
            % (info["mariadb"], st.base_url, NOW))

        t0 = time.perf_counter()
        accounts = load_active_sessions(st, args.sessions)
        sql(st, "CREATE TABLE bench_usage_records LIKE billing_usage_records")
        fks = int(sql1(st, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                           "WHERE CONSTRAINT_SCHEMA = DATABASE() "
                           "AND TABLE_NAME = 'bench_usage_records'"))
        results["like_fks"] = fks
        log("setup: %s accounts, %s active sessions with an open segment from 11:00, "
            "in %.1f s; bench_usage_records LIKE billing_usage_records (%d foreign keys "
            "copied)" % ("{:,}".format(accounts), "{:,}".format(args.sessions),
                         time.perf_counter() - t0, fks))

        log("metering: %d round(s) of billing-calculate-usage vs raw INSERT of %s rows"
            % (args.rounds, "{:,}".format(3 * args.sessions)))
        metering_rounds(st, args.sessions, args.rounds, tmp, results)
        if args.profile:
            log("profile: one more run of each with every statement in the slow query log")
            profile_round(st, args.sessions, os.path.join(tmp, "insert-plain.sql"), results)

        log("GET usage: A with 100 records, B with %s" % "{:,}".format(args.b_records))
        history_and_get(st, args.sessions, args.b_records, args.requests, args.wrk_seconds,
                        wrk_repeats, results)

        v = verdicts(results)
        lines = report(results, v, info, args)
        log("")
        log("\n".join(lines))
        with open(results_path, "w") as f:
            f.write("# bench/metering.py results\n\n")
            f.write("Written by `python3 bench/metering.py` (overwritten on each run).\n\n")
            f.write("\n".join(lines) + "\n")
        log("")
        log("written: %s (%.0f s in all)" % (os.path.relpath(results_path, os.getcwd()),
                                             time.perf_counter() - started))
        perf_ok = v["job_ok"] and v["seq_ok"] and v.get("wrk_ok", True)
        if not perf_ok:
            if args.quick:
                log("note: a target was missed; --quick does not enforce the targets")
            else:
                rc = 3
    except CheckFailed as e:
        log("CHECK FAILED: %s" % e)
        rc = 1
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            log("interrupted")
        elif not isinstance(e, SystemExit):
            log("ERROR: %s: %s" % (type(e).__name__, e))
        for name in ("billingd.log", "nginx-error.log", "mysql-error.log"):
            tail = st.read_log(name)[-1500:]
            if tail.strip() and not isinstance(e, (KeyboardInterrupt, SystemExit)):
                log("--- %s (tail) ---\n%s" % (name, tail))
        rc = (130 if isinstance(e, KeyboardInterrupt) else 143 if isinstance(e, SystemExit)
              else 1)
    finally:
        try:
            st.stop()
        finally:
            if args.keep:
                log("kept: %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
