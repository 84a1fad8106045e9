#!/usr/bin/env python3
"""HTTP throughput of billingd behind nginx, each load next to its baseline.

Run through bench/run (which builds the release binaries and the trivial
FastCGI responder); directly:

    python3 bench/http_loads.py --build-dir BUILD --trivial PATH [--quick] [--duration S]

One private stack (scripts/stack.py: MariaDB, billingd with 4 workers,
nginx) in a temporary directory, on the real clock, with 10,000 accounts,
1,000,000 usage records in the current billing period (and their daily
totals), and one active session per account.  nginx runs dev.conf.in's
configuration plus one location, /bench/fcgi, that passes to a trivial
libfcgi responder (bench/trivial_fcgi.c, 4 preforked workers) with the same
fastcgi settings as billingd's location.  Then wrk over loopback, in this
order: a, b, c, b, d, b, e, b, f, b where

  (a) GET /bench/nginx-200        nginx answering by itself (the ceiling)
  (b) GET /bench/fcgi             the trivial FastCGI responder (the baseline)
  (c) GET health
  (d) GET usage                   1,000 users' tokens, cycled
  (e) POST hooks/session-heartbeat  random sessions, at = now
  (f) POST webhook                unique signed customer.created events

Each of c-f is compared with the mean of the two (b) runs around it.
Standard library only (plus wrk, nginx, MariaDB).  Exit status: 0 all
targets met; 1 a check failed or the stack did not start; 3 a target was
missed (not enforced with --quick).
"""

import argparse
import calendar
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from lib import (ROOT, HERE, CheckFailed, check, children_cpu, log, machine_info, mariadb_argv,
                 proc_cpu, sql, sql1, stackmod)

API = stackmod.API_PREFIX
ACCOUNTS = 10000
RECORDS = 1000000
USAGE_TOKENS = 1000
WORKERS = 4
THREADS = 2
CONNECTIONS = 64
RSS_LIMIT_KIB = 16 * 1024
P99_LIMIT = 0.010

LOADS = {
    "a": ("nginx return 200 (ceiling)", "GET /bench/nginx-200"),
    "b": ("trivial FastCGI responder (baseline)", "GET /bench/fcgi"),
    "c": ("GET health", "GET " + API + "health"),
    "d": ("GET usage", "GET " + API + "usage"),
    "e": ("POST hooks/session-heartbeat", "POST " + API + "hooks/session-heartbeat"),
    "f": ("POST webhook (signed, unique)", "POST " + API + "webhook"),
}
# minimum throughput as a fraction of (b)
TARGETS = {"c": 0.80, "d": 0.50, "e": 0.50, "f": 0.50}  # issue 18

# -- wrk scripts ----------------------------------------------------------------

LUA_COMMON = r"""
-- each thread learns its number; done() sums what the threads report
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  io.write(string.format("BENCH_WRAPPED %d\n", w))
end
wrapped = 0
"""

# (d): one prebuilt request per token (this thread's share of the file), cycled
LUA_USAGE = LUA_COMMON + r"""
local reqs = {}
local i = 0
function init(args)
  local nthreads = tonumber(args[2])
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == tid then
      reqs[#reqs + 1] = wrk.format("GET", args[3], {["Authorization"] = "Bearer " .. line})
    end
    n = n + 1
  end
  i = tid * 7 % #reqs
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
"""

# (e): a random session, at = the current second plus a per-thread counter as
# the fraction (so that each heartbeat moves last_heartbeat_at forward; never
# more than a fraction of a second ahead of the real clock)
LUA_HEARTBEAT = LUA_COMMON + r"""
local hdr, path, nsess, nthreads
local sec, stamp, frac = 0, "", 0
function init(args)
  nsess = tonumber(args[1])
  path = args[3]
  nthreads = tonumber(args[4])
  hdr = {["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json"}
  math.randomseed(os.time() * 16 + tid)
end
function request()
  local now = os.time()
  if now ~= sec then
    sec = now
    stamp = os.date("!%Y-%m-%dT%H:%M:%S", now)
    frac = 0
  end
  frac = frac + 1
  local body = string.format('{"session_id":"bench-session-%d","at":"%s.%06dZ"}',
                             math.random(nsess), stamp, frac * nthreads + tid)
  return wrk.format("POST", path, hdr, body)
end
"""

# (f): this thread's share of the prebuilt signed events, each sent once
LUA_WEBHOOK = LUA_COMMON + r"""
local reqs = {}
local i = 0
function init(args)
  local nthreads = tonumber(args[2])
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == tid then
      local tab = string.find(line, "\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", args[3],
        {["Stripe-Signature"] = string.sub(line, 1, tab - 1),
         ["Content-Type"] = "application/json"}, string.sub(line, tab + 1))
    end
    n = n + 1
  end
end
function request()
  i = i + 1
  if i > #reqs then
    i = 1
    wrapped = wrapped + 1
  end
  return reqs[i]
end
"""


def parse_time(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


# the programs whose CPU time each load shows, by /proc comm
CPU_GROUPS = ("wrk", "nginx", "billingd", "trivial_fcgi", "mariadbd")


def cpu_by_process():
    """CPU seconds so far per CPU_GROUPS program: user + system time of the
    live processes plus what their parents reaped (billingd's master reaps
    the workers it replaces every maxRequests; wrk is this script's child)."""
    t = dict.fromkeys(CPU_GROUPS, 0.0)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in t:
            t[comm] += proc_cpu(int(d), reaped=True)
    t["wrk"] += children_cpu()
    return t


def run_wrk(url, duration, script=None, script_args=(), headers=()):
    argv = ["wrk", "-t%d" % THREADS, "-c%d" % CONNECTIONS, "-d%ds" % duration, "--latency"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    argv.append(url)
    if script_args:
        argv += ["--"] + [str(a) for a in script_args]
    cpu0, t0 = cpu_by_process(), time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True)
    cpu1, wall = cpu_by_process(), time.perf_counter() - t0
    out = r.stdout
    if r.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError("wrk failed (%d): %s%s" % (r.returncode, out[-1000:], r.stderr[-1000:]))
    res = {"out": out}
    res["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % p, out, re.M)
        res["p" + p] = parse_time(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", out)
    res["errors"] = sum(int(x) for x in re.findall(r"\d+", m.group(1))) if m else 0
    res["errors_text"] = m.group(1).strip() if m else ""
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"BENCH_WRAPPED (\d+)", out)
    res["wrapped"] = int(m.group(1)) if m else 0
    # CPU microseconds per completed request, by program, and the CPUs busy
    n = max(res["requests"], 1)
    res["cpu"] = {k: (cpu1[k] - cpu0[k]) * 1e6 / n for k in CPU_GROUPS}
    res["busy"] = sum(cpu1[k] - cpu0[k] for k in CPU_GROUPS) / wall
    return res


def fmt_cpu(r):
    """'wrk 12, nginx 30, ... us/request; 1.9 CPUs busy' (programs that ran)."""
    return "%s us/request; %.2f CPUs busy" % (
        ", ".join("%s %.0f" % (k, v) for k, v in r["cpu"].items() if v >= 0.5),
        r["busy"])


# -- MariaDB's CPU per statement -----------------------------------------------------

STMT_RUNS = 5000


def captured_executes(st, requests):
    """The statements billingd ran for each request, as MariaDB's general log
    writes them (a prepared statement's Execute with its parameters in):
    [(name, [sql, ...])].  requests: [(name, callable that sends it)]."""
    out = []
    for name, send in requests:
        sql(st, "SET GLOBAL log_output = 'TABLE'")
        sql(st, "TRUNCATE mysql.general_log")
        sql(st, "SET GLOBAL general_log = 1")
        try:
            # MariaDB logs an Execute with its parameters only for a statement
            # prepared while the log was on: fresh workers prepare anew
            old = set(st.worker_pids())
            for pid in old:
                os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 10
            while time.time() < deadline and (set(st.worker_pids()) & old or
                                              len(st.worker_pids()) < WORKERS):
                time.sleep(0.05)
            send()
        finally:
            sql(st, "SET GLOBAL general_log = 0")
        rows = st.mariadb.sql("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                              "WHERE command_type = 'Execute' ORDER BY event_time",
                              database="mysql")
        out.append((name, [r[0] for r in rows]))
    return out


def mariadb_settle(st, limit=60.0):
    """Waits (up to limit seconds) until mariadbd is idle (under 2% of a CPU
    over half a second): after a load of UPDATEs InnoDB's purge goes on for a
    while, and its CPU would count against the statements measured."""
    pid = st.mariadb.process.pid
    end = time.time() + limit
    while time.time() < end:
        a = proc_cpu(pid)
        time.sleep(0.5)
        if (proc_cpu(pid) - a) / 0.5 < 0.02:
            return True
    return False


def statement_cpu(st, tmp, text_of):
    """MariaDB's CPU time per execution, in microseconds, of STMT_RUNS
    statements text_of(i) fed to the mariadb client (the least of 3 runs;
    the server's CPU from /proc, so the client's own work is not in it)."""
    path = os.path.join(tmp, "stmt.sql")
    pid = st.mariadb.process.pid
    best = None
    for run in range(3):
        with open(path, "w") as f:
            for i in range(STMT_RUNS):
                f.write(text_of(run * STMT_RUNS + i) + ";\n")
        mariadb_settle(st)
        a = proc_cpu(pid)
        r = subprocess.run(mariadb_argv(st), stdin=open(path, "rb"), capture_output=True)
        b = proc_cpu(pid)
        if r.returncode != 0:
            raise RuntimeError("statement cost: %s" % r.stderr.decode(errors="replace")[-400:])
        us = (b - a) * 1e6 / STMT_RUNS
        best = us if best is None else min(best, us)
    return best


def statement_costs(st, tmp, service, token, accounts):
    """[(what, MariaDB us per execution)]: the floor of each path, from the
    statements billingd itself sent for one request of each (general log),
    repeated by the text protocol (which adds the parse a prepared statement
    skips: an upper bound by a few us)."""
    stamp = lambda i: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 60)) + \
        ".%06d" % (i % 1000000)
    got = dict(captured_executes(st, [
        ("usage", lambda: probe(st, "GET", API + "usage",
                                headers={"Authorization": "Bearer " + token})),
        ("heartbeat", lambda: probe(st, "POST", API + "hooks/session-heartbeat",
                                    body=json.dumps({"session_id": "bench-session-7"}).encode(),
                                    headers={"Authorization": "Bearer " + service,
                                             "Content-Type": "application/json"})),
    ]))
    rows = [
        ("`DO 1` (a round trip, no table)", lambda i: "DO 1"),
        ("`SELECT 1` (GET health's statement)", lambda i: "SELECT 1"),
        ("an account by primary key", lambda i: "SELECT id, user_id, status FROM "
         "billing_accounts WHERE id = %d" % (i % accounts + 1)),
    ]
    usage = [q for q in got["usage"] if "UNION ALL" in q]
    if usage:
        rows.append(("GET usage's statement (one UNION ALL of 4 parts)", lambda i: usage[0]))
    beat = [q for q in got["heartbeat"] if q.startswith("UPDATE billing_sessions")]
    if beat:
        # each execution its own session and a later instant, as under load
        m = re.search(r"'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)'", beat[0])
        tmpl = beat[0].replace("bench-session-7'", "bench-session-%d'")
        if m:
            tmpl = tmpl.replace(m.group(0), "'%(at)s'")
        rows.append(("the heartbeat's one UPDATE", lambda i: (
            tmpl.replace("'%(at)s'", "'" + stamp(i) + "'") % (i % accounts + 1))))
    return [(what, statement_cpu(st, tmp, f)) for what, f in rows], \
        {k: len(v) for k, v in got.items()}


# -- the stack with the trivial responder -----------------------------------------

LOCATION_RE = re.compile(r"^location /api/plugins/billing/ \{\n.*?^\}\n", re.M | re.S)
NESTED_RE = re.compile(r"^    location [^\n]*\{\n.*?^    \}\n", re.M | re.S)


class BenchStack(stackmod.Stack):
    """scripts/stack.py's Stack; nginx gets dev.conf.in with one upstream and
    one location added (/bench/fcgi, billingd's location block verbatim with
    another fastcgi_pass), and the trivial responder runs beside billingd."""

    def __init__(self, var, trivial, **kw):
        super().__init__(var, **kw)
        self.trivial_bin = trivial
        self.trivial_socket = os.path.join(self.var, "trivial.sock")
        self.trivial = None

    def nginx_conf_text(self):
        with open(os.path.join(ROOT, "nginx", "dev.conf.in")) as f:
            text = f.read()
        with open(os.path.join(ROOT, "nginx", "streamspace-billing.conf")) as f:
            m = LOCATION_RE.search(f.read())
        check(m is not None, "billingd's location block not found in streamspace-billing.conf")
        # an exact location holds no nested one (the webhook's larger bodies)
        outer = NESTED_RE.sub("", m.group(0))
        block = (outer.replace("location /api/plugins/billing/ {", "location = /bench/fcgi {")
                 .replace("fastcgi_pass streamspace_billing;", "fastcgi_pass bench_trivial;"))
        block = "\n".join(("        " + l) if l else l for l in block.splitlines()) + "\n"
        anchor_up = "    upstream streamspace_billing {"
        anchor_loc = "        location / {"
        check(anchor_up in text and anchor_loc in text, "dev.conf.in changed shape")
        text = text.replace(anchor_up, "    # bench/http_loads.py: the trivial FastCGI responder\n"
                            "    upstream bench_trivial {\n        server unix:%s;\n    }\n\n"
                            % self.trivial_socket + anchor_up)
        text = text.replace(anchor_loc, "        # bench/http_loads.py: baseline (b)\n" + block + "\n"
                            + anchor_loc)
        return text

    def start_nginx(self):
        self.trivial = stackmod.Process("trivial_fcgi", [self.trivial_bin, self.trivial_socket,
                                                         str(self.workers)],
                                        os.path.join(self.var, "trivial.log"))
        self.trivial.start()
        stackmod.wait_until(lambda: os.path.exists(self.trivial_socket), 10,
                            "the trivial responder")
        os.makedirs(os.path.join(self.var, "nginx-tmp"), exist_ok=True)
        text = self.nginx_conf_text()
        subst = {
            "@USER@": "user root root;" if os.geteuid() == 0 else "",
            "@VAR@": self.var,
            "@PORT@": str(self.port),
            "@SOCKET@": self.socket,
            "@NGINX_DIR@": os.path.join(ROOT, "nginx"),
            "@ACCESS_LOG@": "off" if self.extra_env.get("BILLING_NGINX_ACCESS_LOG") == "off"
            else os.path.join(self.var, "nginx-access.log"),
        }
        for k, v in subst.items():
            text = text.replace(k, v)
        self.write_web_snippet()   # dev.conf.in includes the pages' snippet
        conf = os.path.join(self.var, "nginx.conf")
        with open(conf, "w") as f:
            f.write(text)
        self.nginx = stackmod.Process("nginx", [stackmod.find_program("nginx"), "-p", self.var,
                                                "-c", conf, "-e",
                                                os.path.join(self.var, "nginx-error.log")],
                                      os.path.join(self.var, "nginx-out.log"))
        self.nginx.start()
        stackmod.wait_until(self._nginx_ready, 15, "nginx to listen on %d" % self.port)

    def stop(self):
        super().stop()
        if self.trivial is not None:
            self.trivial.stop()


# -- data ---------------------------------------------------------------------------

def period_start(now):
    """The current billing period's start: invoiceDay 1 at 00:00 UTC."""
    t = time.gmtime(now)
    return calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, 0))


def load_data(st, accounts, records, now):
    """accounts accounts (pro, usage); records usage records in the current
    period (per account half cpu, half memory, one hour each, spread over the
    period's hours so far, no session: the columns allow NULL) with the daily
    totals summed from them; one active session per account, with its open
    segment 0 started 30 minutes ago and a heartbeat 1 minute ago."""
    start = period_start(now)
    per_account = records // accounts
    check(per_account * accounts == records and per_account % 2 == 0,
          "--records must be an even multiple of --accounts")
    hours = max(1, int((now - start) // 3600) - 1)
    step = max(1, hours // (per_account // 2))
    fmt = lambda e: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e))
    p = {"accounts": accounts, "records": records, "per": per_account, "hours": hours,
         "step": step, "start": fmt(start), "sess_start": fmt(now - 1800),
         "hb": fmt(now - 60)}
    # record seq (1..N): account = (seq-1) mod accounts + 1 (spread over the
    # table as the hourly job writes them), k = (seq-1) div accounts
    sql(st, """
        INSERT INTO billing_accounts (id, user_id, email, plan_id, billing_mode, status)
          SELECT seq, CONCAT('bench-user-', seq), CONCAT('bench-user-', seq, '@example.com'),
                 'pro', 'usage', 'active' FROM seq_1_to_%(accounts)d;
        INSERT INTO billing_usage_records (account_id, resource_type, quantity, unit,
                 unit_price, total_cost, start_time, end_time)
          SELECT a, IF(k %% 2 = 0, 'cpu', 'memory'),
                 IF(k %% 2 = 0, c, 2 * c), IF(k %% 2 = 0, 'core-hours', 'gb-hours'),
                 IF(k %% 2 = 0, 0.05, 0.01), IF(k %% 2 = 0, 0.05 * c, 0.02 * c),
                 TIMESTAMP('%(start)s') + INTERVAL ((k DIV 2) * %(step)d) %% %(hours)d HOUR,
                 TIMESTAMP('%(start)s') + INTERVAL ((k DIV 2) * %(step)d) %% %(hours)d + 1 HOUR
          FROM (SELECT (seq - 1) %% %(accounts)d + 1 AS a, (seq - 1) DIV %(accounts)d AS k,
                       1 + ((seq - 1) %% %(accounts)d + 1) %% 4 AS c
                FROM seq_1_to_%(records)d) s;
        INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, quantity,
                 total_cost, records)
          SELECT account_id, DATE(start_time), resource_type, unit_price, SUM(quantity),
                 SUM(total_cost), COUNT(*)
          FROM billing_usage_records GROUP BY account_id, DATE(start_time), resource_type,
                 unit_price;
        INSERT INTO billing_sessions (id, session_id, account_id, started_at,
                 last_heartbeat_at, cpu_cores, memory_gb, storage_gb)
          SELECT seq, CONCAT('bench-session-', seq), seq, '%(sess_start)s', '%(hb)s', 2, 4, 10
          FROM seq_1_to_%(accounts)d;
        INSERT INTO billing_session_segments (id, session_pk, account_id, seq, started_at,
                 cpu_cores, memory_gb, storage_gb)
          SELECT seq, seq, seq, 0, '%(sess_start)s', 2, 4, 10 FROM seq_1_to_%(accounts)d;
        ANALYZE TABLE billing_accounts, billing_usage_records, billing_usage_daily,
                 billing_sessions, billing_session_segments;
        """ % p)
    n = int(sql1(st, "SELECT COUNT(*) FROM billing_usage_records WHERE start_time >= '%s' "
                     "AND end_time <= '%s'" % (p["start"], fmt(now))))
    check(n == records, "%d of %d records in the current period" % (n, records))
    return p


def write_tokens(st, path, n, now):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write(st.token("bench-user-%d" % i, "user", ttl=4 * 3600, now=now) + "\n")


def write_events(path, secret, n, run_id, accounts):
    """n distinct customer.created events, each signed now: 'header\\tbody' lines."""
    t = int(time.time())
    key = secret.encode()
    with open(path, "w") as f:
        for i in range(n):
            body = ('{"id":"evt_bench_%s_%d","object":"event","api_version":"2024-06-20",'
                    '"created":%d,"livemode":false,"pending_webhooks":1,'
                    '"request":{"id":null,"idempotency_key":null},"type":"customer.created",'
                    '"data":{"object":{"id":"cus_bench%s%d","object":"customer",'
                    '"email":"bench-user-%d@example.com","created":%d,"livemode":false,'
                    '"metadata":{}}}}' % (run_id, i, t - 1, run_id, i,
                                          i % accounts + 1, t - 1))
            sig = hmac.new(key, b"%d." % t + body.encode(), hashlib.sha256).hexdigest()
            f.write("t=%d,v1=%s\t%s\n" % (t, sig, body))
    return t


# -- measuring -----------------------------------------------------------------------

def worker_memory(st):
    """(max VmRSS, max VmHWM) in KiB over billingd's workers."""
    rss = hwm = 0
    for pid in st.worker_pids():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = max(rss, int(line.split()[1]))
                    elif line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
    return rss, hwm


LOG_RE = re.compile(r" req=\S+ (GET|POST) (\S+) (\d{3}) ([\d.]+)ms")


def service_times(st):
    """[(method path, (mean ms, count))] of the 200 answers in billingd's log."""
    sums = {}
    for line in st.read_log("billingd.log").splitlines():
        m = LOG_RE.search(line)
        if m and m.group(3) == "200":
            k = m.group(1) + " " + m.group(2)
            t, n = sums.get(k, (0.0, 0))
            sums[k] = (t + float(m.group(4)), n + 1)
    return [(k, (t / n, n)) for k, (t, n) in sorted(sums.items()) if n >= 100]


def probe(st, method, path, body=None, headers=None):
    req = urllib.request.Request(st.base_url + path, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def fmt_ms(v):
    return "-" if v is None else "%.2f" % (v * 1000)


def fmt_kib(k):
    return "%.1f MiB" % (k / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="release build tree (src/billingd ...)")
    ap.add_argument("--trivial", required=True, help="the built trivial_fcgi program")
    ap.add_argument("--quick", action="store_true", help="3 s loads instead of 10 s")
    ap.add_argument("--duration", type=int, default=None, help="seconds per wrk run")
    ap.add_argument("--accounts", type=int, default=ACCOUNTS)
    ap.add_argument("--records", type=int, default=RECORDS)
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--batch", default="", help="markdown about the batch jobs to append")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", default="", metavar="KEYS",
                    help="run these loads in this order (e.g. b,d,b) with their CPU per "
                         "program, and write no results (for profiling a change)")
    ap.add_argument("--statements", action="store_true",
                    help="with --only: then MariaDB's CPU per statement of each path")
    ap.add_argument("--hold", action="store_true",
                    help="with --only: keep the stack serving after the loads until "
                         "interrupted (to look at it by hand)")
    ap.add_argument("--perf", default="", metavar="DIR",
                    help="with --only: record each load with perf (system-wide, call "
                         "graphs) into DIR/N-KEY.data and write DIR/N-KEY.txt, its report "
                         "by program and function")
    args = ap.parse_args()
    duration = args.duration or (3 if args.quick else 10)
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install wrk)")
        return 1

    def on_term(*_):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="billing-bench-http-")
    st = BenchStack(os.path.join(tmp, "var"), args.trivial, build_dir=args.build_dir,
                    workers=WORKERS, env={"BILLING_NGINX_ACCESS_LOG": "off"})
    load_start = os.getloadavg()
    started = time.time()
    rc = 0
    try:
        log("stack: starting in %s (billingd %d workers from %s)" % (tmp, WORKERS,
                                                                      args.build_dir))
        st.start()
        info = machine_info(st)
        # the binaries are a clone's: its commit, not the checkout's state
        r = subprocess.run(["git", "-C", args.build_dir, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            info["commit"] = r.stdout.strip()
        now = int(time.time())
        t0 = time.perf_counter()
        p = load_data(st, args.accounts, args.records, now)
        log("data: %s accounts, %s usage records from %s (%d per account, every %d h), "
            "%s daily rows, %s active sessions, in %.1f s"
            % ("{:,}".format(args.accounts), "{:,}".format(args.records), p["start"],
               p["per"], p["step"],
               "{:,}".format(int(sql1(st, "SELECT COUNT(*) FROM billing_usage_daily"))),
               "{:,}".format(args.accounts), time.perf_counter() - t0))
        ntok = min(USAGE_TOKENS, args.accounts)
        tokens = os.path.join(tmp, "tokens.txt")
        write_tokens(st, tokens, ntok, now)
        service = st.token("platform", "service", ttl=4 * 3600, now=now)
        scripts = {}
        for name, text in (("usage", LUA_USAGE), ("heartbeat", LUA_HEARTBEAT),
                           ("webhook", LUA_WEBHOOK)):
            scripts[name] = os.path.join(tmp, name + ".lua")
            with open(scripts[name], "w") as f:
                f.write(text)

        # one request of each, checked, before any load
        with open(tokens) as f:
            tok1 = f.readline().strip()
        s, b = probe(st, "GET", "/bench/nginx-200")
        check(s == 200 and b == "ok\n", "(a) answered %d %r" % (s, b))
        s, b = probe(st, "GET", "/bench/fcgi")
        check(s == 200 and b == "ok\n", "(b) answered %d %r" % (s, b))
        s, b = probe(st, "GET", API + "health")
        check(s == 200 and json.loads(b).get("database") == "ok", "health: %d %s" % (s, b))
        s, b = probe(st, "GET", API + "usage", headers={"Authorization": "Bearer " + tok1})
        check(s == 200, "usage: %d %s" % (s, b[:300]))
        u = json.loads(b)
        want = int(sql1(st, "SELECT COUNT(*) FROM billing_usage_records WHERE account_id = 1"))
        cost = float(sql1(st, "SELECT SUM(total_cost) FROM billing_usage_records "
                              "WHERE account_id = 1"))
        check(abs(float(u["total_cost"]) - cost) < 0.005 and want == p["per"],
              "usage of bench-user-1: total_cost %s, records' sum %s" % (u["total_cost"], cost))
        s, b = probe(st, "POST", API + "hooks/session-heartbeat",
                     body=json.dumps({"session_id": "bench-session-1"}).encode(),
                     headers={"Authorization": "Bearer " + service,
                              "Content-Type": "application/json"})
        check(s == 200, "heartbeat: %d %s" % (s, b[:300]))
        ev = os.path.join(tmp, "events-probe.txt")
        write_events(ev, st.webhook_secret, 1, "probe", args.accounts)
        with open(ev) as f:
            sig, body = f.readline().rstrip("\n").split("\t", 1)
        s, b = probe(st, "POST", API + "webhook", body=body.encode(),
                     headers={"Stripe-Signature": sig, "Content-Type": "application/json"})
        check(s == 200 and json.loads(b).get("received") is True, "webhook: %d %s" % (s, b))
        log("probes: a-f each answered 200 (usage of bench-user-1: %s, total_cost %s; "
            "webhook: %s)" % ("{:,} records".format(want), u["total_cost"], b.strip()))

        url = lambda path: st.base_url + path
        usage_args = (tokens, THREADS, API + "usage")
        hb_args = (args.accounts, service, API + "hooks/session-heartbeat", THREADS)

        def load(key):
            if key == "a":
                return run_wrk(url("/bench/nginx-200"), duration)
            if key == "b":
                return run_wrk(url("/bench/fcgi"), duration)
            if key == "c":
                return run_wrk(url(API + "health"), duration)
            if key == "d":
                return run_wrk(url(API + "usage"), duration, scripts["usage"], usage_args)
            if key == "e":
                t_before = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                r = run_wrk(url(API + "hooks/session-heartbeat"), duration,
                            scripts["heartbeat"], hb_args)
                r["moved"] = int(sql1(st, "SELECT COUNT(*) FROM billing_sessions "
                                          "WHERE last_heartbeat_at >= '%s'" % t_before))
                return r
            if key == "f":
                n = int(max(rates_b + [20000]) * duration * 1.3) + 1000
                path = os.path.join(tmp, "events.txt")
                t1 = time.perf_counter()
                write_events(path, st.webhook_secret, n, "%d" % time.time(), args.accounts)
                log("  (f): %s signed events written in %.1f s"
                    % ("{:,}".format(n), time.perf_counter() - t1))
                before = int(sql1(st, "SELECT COUNT(*) FROM billing_stripe_events"))
                r = run_wrk(url(API + "webhook"), duration, scripts["webhook"],
                            (path, THREADS, API + "webhook"))
                r["recorded"] = int(sql1(st, "SELECT COUNT(*) FROM billing_stripe_events")) \
                    - before
                r["events"] = n
                return r
            raise ValueError(key)

        rates_b = []
        # warm-up (not reported): buffer pool, workers' prepared statements
        log("warm-up: 2 s each of b, c, d, e")
        run_wrk(url("/bench/fcgi"), 2)
        run_wrk(url(API + "health"), 2)
        run_wrk(url(API + "usage"), 2, scripts["usage"], usage_args)
        run_wrk(url(API + "hooks/session-heartbeat"), 2, scripts["heartbeat"], hb_args)

        if args.only:
            for i, key in enumerate(args.only.split(",")):
                rec = None
                if args.perf:
                    os.makedirs(args.perf, exist_ok=True)
                    data = os.path.join(args.perf, "%d-%s.data" % (i + 1, key))
                    rec = subprocess.Popen(["perf", "record", "-q", "-a", "-g", "-F", "499",
                                            "-o", data], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                r = load(key)
                if rec is not None:
                    rec.send_signal(signal.SIGINT)
                    rec.wait()
                    with open(data[:-5] + ".txt", "w") as f:
                        subprocess.run(["perf", "report", "-i", data, "--no-children",
                                        "--sort", "comm,dso,sym", "--stdio", "-g", "none",
                                        "--percent-limit", "0.3"], stdout=f,
                                       stderr=subprocess.DEVNULL)
                if key == "b":
                    rates_b.append(r["rps"])
                log("  (%s) %-38s %9.0f req/s  p99 %6s ms  non-2xx %d  errors %d\n"
                    "      %s" % (key, LOADS[key][0], r["rps"], fmt_ms(r["p99"]),
                                 r["non2xx"], r["errors"], fmt_cpu(r)))
            if args.statements:
                costs, counts = statement_costs(st, tmp, service, tok1, args.accounts)
                log("statements per request: %s" % counts)
                for what, us in costs:
                    log("  %-55s %6.0f us of MariaDB's CPU" % (what, us))
            if args.hold:
                log("holding the stack (SIGTERM or Ctrl-C ends it): %s; MariaDB socket %s"
                    % (st.base_url, st.mariadb.socket))
                signal.pause()
            return 0
        order = ["a", "b", "c", "b", "d", "b", "e", "b", "f", "b"]
        runs = []
        rss_after = {}
        log("loads: wrk -t%d -c%d -d%ds --latency, in the order %s"
            % (THREADS, CONNECTIONS, duration, ", ".join(order)))
        for key in order:
            r = load(key)
            r["key"] = key
            r["load1"] = os.getloadavg()[0]
            if key == "b":
                rates_b.append(r["rps"])
            if key in TARGETS:
                rss_after[key] = worker_memory(st)
            runs.append(r)
            log("  (%s) %-38s %9.0f req/s  p50 %6s ms  p99 %6s ms  non-2xx %d  errors %d%s"
                % (key, LOADS[key][0], r["rps"], fmt_ms(r["p50"]), fmt_ms(r["p99"]),
                   r["non2xx"], r["errors"],
                   ("  RSS %s" % fmt_kib(rss_after[key][0])) if key in rss_after else ""))
            log("      %s" % fmt_cpu(r))
        rss_end, hwm_end = worker_memory(st)
        workers_end = len(st.worker_pids())
        load_end = os.getloadavg()

        # ratios: each of c-f against the mean of the (b) runs on either side
        a_rps = runs[0]["rps"]
        rows = []
        all_ok = True
        for i, r in enumerate(runs):
            key = r["key"]
            if key in TARGETS:
                base = (runs[i - 1]["rps"] + runs[i + 1]["rps"]) / 2
            elif key == "b":
                base = None
            else:
                base = None
            ratio_b = r["rps"] / base if base else None
            ratio_a = r["rps"] / a_rps
            checks = []
            ok = True
            if r["non2xx"] or r["errors"]:
                ok = False
                checks.append("errors")
            if key in TARGETS:
                if ratio_b < TARGETS[key]:
                    ok = False
                    checks.append("throughput")
                if r["p99"] is None or r["p99"] >= P99_LIMIT:
                    ok = False
                    checks.append("p99")
            if key == "f" and r["wrapped"]:
                ok = False
                checks.append("events reused")
            all_ok = all_ok and ok
            rows.append((r, ratio_b, ratio_a, ok, checks))
        rss_ok = max([v[0] for v in rss_after.values()] + [rss_end]) < RSS_LIMIT_KIB
        all_ok = all_ok and rss_ok

        fr = next(r for r in runs if r["key"] == "f")
        er = next(r for r in runs if r["key"] == "e")
        b_runs = [r["rps"] for r in runs if r["key"] == "b"]
        lines = []
        add = lines.append
        add("Loads in the order run (wrk -t%d -c%d -d%ds --latency over loopback). Ratio to "
            "(b): each of (c)-(f) over the mean of the (b) runs just before and after it; "
            "(b) over (a) in the (a) column." % (THREADS, CONNECTIONS, duration))
        add("")
        add("| # | load | req/s | p50 ms | p99 ms | non-2xx | socket errors | / (b) | / (a) "
            "| target | verdict |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for n, (r, rb, ra, ok, why) in enumerate(rows, 1):
            key = r["key"]
            if key in TARGETS:
                target = ">= %d%% of (b), p99 < 10 ms, 0 errors" % (TARGETS[key] * 100)
            else:
                target = "0 errors"
            add("| %d | (%s) %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |"
                % (n, key, LOADS[key][0], "{:,.0f}".format(r["rps"]), fmt_ms(r["p50"]),
                   fmt_ms(r["p99"]), r["non2xx"], r["errors"],
                   "%.2f" % rb if rb else "-", "%.3f" % ra, target,
                   "PASS" if ok else "**FAIL** (%s)" % ", ".join(why)))
        add("")
        add("(b) runs: %s req/s (spread %.0f%% of their mean)."
            % (", ".join("{:,.0f}".format(x) for x in b_runs),
               100 * (max(b_runs) - min(b_runs)) / (sum(b_runs) / len(b_runs))))
        add("")
        add("Where the CPU went, per program (user + system time from /proc over the "
            "run, the replaced billingd workers' included through their master; wrk's "
            "from this script's children), in microseconds per completed request, and how "
            "many of the %s CPUs were busy:" % info["nproc"])
        add("")
        add("| # | load | %s | total | CPUs busy |" % " | ".join(CPU_GROUPS))
        add("|---|---|%s---|---|" % ("---|" * len(CPU_GROUPS)))
        for n, r in enumerate(runs, 1):
            add("| %d | (%s) %s | %s | %.0f | %.2f |"
                % (n, r["key"], LOADS[r["key"]][0],
                   " | ".join("%.0f" % r["cpu"][k] if r["cpu"][k] >= 0.5 else "-"
                              for k in CPU_GROUPS),
                   sum(r["cpu"].values()), r["busy"]))
        add("")
        add("Worker RSS (max over the %d billingd workers, /proc VmRSS): %s after (c), %s "
            "after (d), %s after (e), %s after (f), %s at the end (VmHWM %s); "
            "target < 16 MiB: **%s**. Note: `maxRequests` is 10,000 (the default), so at "
            "these rates each worker is replaced every few seconds; the figures are of "
            "workers that served up to 10,000 requests, not of long-lived ones."
            % (workers_end, fmt_kib(rss_after["c"][0]), fmt_kib(rss_after["d"][0]),
               fmt_kib(rss_after["e"][0]), fmt_kib(rss_after["f"][0]), fmt_kib(rss_end),
               fmt_kib(hwm_end), "PASS" if rss_ok else "FAIL"))
        add("")
        add("Checks: (e) moved last_heartbeat_at forward on %s of %s sessions during its "
            "run. (f) %s distinct signed events prebuilt (%s sent in time, %s reused: %s); "
            "billing_stripe_events gained %s rows for %s completed requests (the "
            "difference is requests still in flight when wrk stopped)."
            % ("{:,}".format(er["moved"]), "{:,}".format(args.accounts),
               "{:,}".format(fr["events"]), "{:,}".format(fr["requests"]),
               "none" if not fr["wrapped"] else "some",
               "every event was delivered once" if not fr["wrapped"] else "FAIL",
               "{:,}".format(fr["recorded"]), "{:,}".format(fr["requests"])))
        try:
            costs, counts = statement_costs(st, tmp, service, tok1, args.accounts)
        except (RuntimeError, OSError, KeyError) as e:
            costs, counts = [], {}
            log("statement costs: not measured (%s)" % e)
        if costs:
            add("")
            add("MariaDB's CPU per statement, the floor under each path: the statements "
                "billingd sent for one request (MariaDB's general log: %s), each run %s "
                "times through the mariadb client on the same data after the loads, the "
                "server's CPU time from /proc (least of 3 runs; the text protocol adds the "
                "parse that billingd's prepared statements skip, a few us):"
                % (", ".join("%s %d statement%s" % (k, v, "" if v == 1 else "s")
                             for k, v in counts.items()), "{:,}".format(STMT_RUNS)))
            add("")
            add("| statement | MariaDB us per execution |")
            add("|---|---|")
            for what, us in costs:
                add("| %s | %.0f |" % (what, us))
        svc = service_times(st)
        if svc:
            add("")
            add("billingd's own time per request, from its log (the worker's time from "
                "accept to the end of the answer; mean over the warm-up and the loads, "
                "under load, 4 workers sharing the CPUs with everything else): %s."
                % "; ".join("%s %.3f ms (%s requests)" % (k, v[0], "{:,}".format(v[1]))
                            for k, v in svc))
        check(fr["recorded"] >= fr["requests"] - fr["non2xx"],
              "webhook: %d events recorded for %d requests" % (fr["recorded"],
                                                               fr["requests"]))
        add("")
        add("Overall: **%s**." % ("all targets met" if all_ok else "targets missed (see FAIL)"))

        report = []
        report.append("# bench/run results")
        report.append("")
        report.append("Written by `%s` (overwritten on each run). How it measures: "
                      "bench/README.md, section bench/run." % args.command)
        report.append("")
        report.append("## HTTP loads")
        report.append("")
        report.extend(lines)
        if args.batch and os.path.exists(args.batch):
            with open(args.batch) as f:
                report.append("")
                report.append(f.read().rstrip())
        report.append("")
        report.append("## Machine and setup")
        report.append("")
        nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        wrk_v = (wrk_v.stdout + wrk_v.stderr).splitlines()[0] if (wrk_v.stdout + wrk_v.stderr) \
            else "wrk"
        report.append("- date: %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)))
        report.append("- command: `%s`" % args.command)
        report.append("- machine: nproc %s; RAM %s; CPU %s; kernel %s; load average at "
                      "start %.2f, at end %.2f (1 min; the run itself loads the machine)"
                      % (info["nproc"], info.get("ram", "?"), info.get("cpu", "?"),
                         info["kernel"], load_start[0], load_end[0]))
        report.append("- MariaDB %s (the stack's: innodb_buffer_pool_size=256M, "
                      "innodb_flush_log_at_trx_commit=2, no binlog); %s (2 workers, access "
                      "log off); %s" % (info["mariadb"], nginx_v.replace("nginx version: ", ""),
                                        wrk_v))
        report.append("- source %s, release build (`-O2 -g`, --enable-test-clock but no "
                      "BILLING_TEST_NOW: real clock) of a clone of HEAD; billingd %d workers, "
                      "maxRequests 10000, logging every request as in production"
                      % (info["commit"], WORKERS))
        report.append("- data: %s accounts, %s usage records from %s (%d per account, half "
                      "cpu, half memory, one hour each), their daily totals, %s active "
                      "sessions; (d) cycles through %s users' tokens"
                      % ("{:,}".format(args.accounts), "{:,}".format(args.records),
                         p["start"], p["per"], "{:,}".format(args.accounts),
                         "{:,}".format(ntok)))
        report.append("- wrk, nginx, billingd, the trivial responder and MariaDB all share "
                      "the same %s CPUs; figures vary by 10-30%% from run to run."
                      % info["nproc"])
        text = "\n".join(report) + "\n"
        log("")
        log("\n".join(lines))
        with open(args.results, "w") as f:
            f.write(text)
        log("")
        log("written: %s (%.0f s)" % (os.path.relpath(args.results), time.time() - started))
        if not all_ok:
            rc = 0 if args.quick else 3
    except CheckFailed as e:
        log("CHECK FAILED: %s" % e)
        rc = 1
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            log("interrupted")
            rc = 130
        elif isinstance(e, SystemExit):
            rc = 143
        else:
            log("ERROR: %s: %s" % (type(e).__name__, e))
            if getattr(e, "stderr", None):
                log("stderr: %s" % (e.stderr if isinstance(e.stderr, str)
                                    else e.stderr.decode(errors="replace")))
            for name in ("billingd.log", "nginx-error.log", "mysql-error.log", "trivial.log"):
                tail = st.read_log(name)[-1500:]
                if tail.strip():
                    log("--- %s (tail) ---\n%s" % (name, tail))
            rc = 1
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
