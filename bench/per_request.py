#!/usr/bin/env python3
"""Load-independent cost per request of billingd's hot paths.

    python3 bench/per_request.py --build-dir BUILD --trivial PATH [--requests N]

On a busy shared machine wall-clock rates move by tens of percent; these do
not: for each path, one client sends N requests one after the other through
nginx to a stack whose billingd has ONE worker (and the trivial responder
one), and the script counts

  - the worker's instructions per request: billingd run under
    `valgrind --tool=callgrind` (its counters dumped and zeroed with
    callgrind_control before and after the N requests: the Ir of the N);
  - the worker's system calls per request: `strace -c -f -p WORKER` (billingd
    without valgrind) over the N requests;
  - what MariaDB did per request: statements executed (Com_stmt_execute +
    Com_select...), rows read by key/next and rows written or updated
    (SHOW GLOBAL STATUS before and after).

The same for (b), the trivial FastCGI responder (bench/trivial_fcgi.c).
Data as bench/http_loads.py's, smaller (--accounts, --records).  Needs
valgrind and strace.  Prints a markdown table.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import http_loads as hl
from lib import check, log, sql1, status_counters, diff_counters, stackmod

API = stackmod.API_PREFIX
COUNTERS = ("Questions", "Com_stmt_execute", "Com_select", "Com_update", "Com_insert",
            "Handler_read_key", "Handler_read_next", "Handler_update", "Handler_write")


class PerStack(hl.BenchStack):
    valgrind = None

    def start_billingd(self):
        if not self.valgrind:
            return super().start_billingd()
        self.billingd = stackmod.Process(
            "billingd",
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.valgrind,
             stackmod.find_program("billingd", self.build_dir), "-c", self.config_path,
             "-p", os.path.join(self.var, "billingd.pid")],
            os.path.join(self.var, "billingd.log"), env=self.env())
        self.billingd.start()
        stackmod.wait_until(self._billingd_ready, 120, "billingd under valgrind")


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(e))
            except (OSError, ValueError):
                pass
    return out


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def do(self, method, path, body=None, headers=None):
        self.c.request(method, path, body=body, headers=headers or {})
        r = self.c.getresponse()
        data = r.read()
        return r.status, data


def make_requests(st, tmp, n, accounts):
    """{key: [(method, path, body, headers)] * n}; heartbeats move forward."""
    now = int(time.time())
    tokens = os.path.join(tmp, "tokens.txt")
    hl.write_tokens(st, tokens, min(1000, accounts), now)
    with open(tokens) as f:
        toks = [l.strip() for l in f]
    service = st.token("platform", "service", ttl=4 * 3600, now=now)
    ev = os.path.join(tmp, "events.txt")
    hl.write_events(ev, st.webhook_secret, 3 * n + 600, "pr%d" % now, accounts)
    with open(ev) as f:
        events = [l.rstrip("\n").split("\t", 1) for l in f]
    ctr = [0]

    def beat(i):
        ctr[0] += 1
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%06dZ" % ctr[0]
        return ("POST", API + "hooks/session-heartbeat",
                json.dumps({"session_id": "bench-session-%d" % (i * 7919 % accounts + 1),
                            "at": at}),
                {"Authorization": "Bearer " + service, "Content-Type": "application/json"})
    ev_i = [0]

    def webhook(i):
        sig, body = events[ev_i[0]]
        ev_i[0] += 1
        return ("POST", API + "webhook", body,
                {"Stripe-Signature": sig, "Content-Type": "application/json"})
    return {
        "b": lambda i: ("GET", "/bench/fcgi", None, {}),
        "c": lambda i: ("GET", API + "health", None, {}),
        "d": lambda i: ("GET", API + "usage", None,
                        {"Authorization": "Bearer " + toks[i % len(toks)]}),
        "e": beat,
        "f": webhook,
    }


def run_n(cl, gen, start, n):
    for i in range(start, start + n):
        m, p, b, h = gen(i)
        s, data = cl.do(m, p, b, h)
        check(s == 200, "%s %s answered %d: %s" % (m, p, s, data[:200]))


def worker_ir(prefix_dir, wpid, timeout=60):
    """SIGTERM to a worker under callgrind; the Ir total of its dump."""
    os.kill(wpid, signal.SIGTERM)
    path = None
    for _ in range(timeout * 5):
        time.sleep(0.2)
        for name in os.listdir(prefix_dir):
            if name.endswith(".%d" % wpid):
                path = os.path.join(prefix_dir, name)
        if path and not os.path.exists("/proc/%d" % wpid):
            break
    check(path is not None, "no callgrind dump of worker %d" % wpid)
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + path)


def ir_per_request(prefix_dir, get_worker, send, n1, n2):
    """(Ir of a worker that served n2 requests - one that served n1) / (n2 - n1):
    the worker's start and its first request's one-time costs cancel out."""
    tot = []
    for m in (n1, n2):
        w = get_worker()
        send(m)
        tot.append(worker_ir(prefix_dir, w))
    return (tot[1] - tot[0]) / (n2 - n1)


def wait_worker(getpids, old=()):
    for _ in range(600):
        p = [x for x in getpids() if x not in old]
        if p:
            time.sleep(0.5)
            return p[0]
        time.sleep(0.1)
    raise RuntimeError("no worker")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--trivial", required=True)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--keys", default="bcdef")
    ap.add_argument("--results", default=None, help="also write the table (markdown) here")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="billing-bench-per-request-")
    st = PerStack(os.path.join(tmp, "var"), args.trivial, build_dir=args.build_dir, workers=1,
                  env={"BILLING_NGINX_ACCESS_LOG": "off"},
                  config_overrides={"maxRequests": 1000000})
    n = args.requests
    res = {k: {} for k in args.keys}
    try:
        st.start()
        hl.load_data(st, args.accounts, args.records, int(time.time()))
        gens = make_requests(st, tmp, n, args.accounts)
        cl = Client(st.port)
        pos = 0
        global_pos = [10 * n + 1000]
        for k in args.keys:
            run_n(cl, gens[k], pos, 100)
            pos += 100
        # syscalls, billingd as it runs in production
        for k in args.keys:
            pids = children(st.trivial.pid) if k == "b" else st.worker_pids()
            check(len(pids) == 1, "%s: %d workers" % (k, len(pids)))
            out = os.path.join(tmp, "strace-%s.txt" % k)
            tr = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(pids[0])],
                                  stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            run_n(cl, gens[k], pos, n)
            pos += n
            time.sleep(0.2)
            tr.send_signal(signal.SIGINT)
            tr.wait(30)
            calls, by = 0, {}
            with open(out) as f:
                for line in f:
                    fs = line.split()
                    if len(fs) >= 5 and fs[-1] == "total":
                        calls = int(fs[3])
                    elif len(fs) >= 5 and fs[0][0].isdigit() and fs[-1] != "total":
                        by[fs[-1]] = int(fs[3])
            res[k]["syscalls"] = calls / n
            res[k]["by"] = ", ".join("%s %.1f" % (s, c / n) for s, c in
                                     sorted(by.items(), key=lambda x: -x[1]) if c / n >= 0.05)
        # the database's work per request (billingd without valgrind)
        for k in args.keys:
            if k == "b":
                continue
            c0 = status_counters(st, COUNTERS)
            run_n(cl, gens[k], pos, n)
            pos += n
            c1 = status_counters(st, COUNTERS)
            d = diff_counters(c0, c1)
            d["Questions"] -= 2  # the SHOW STATUS themselves
            res[k]["db"] = d
        # instructions: billingd and the trivial responder under callgrind
        st.billingd.stop()
        st.trivial.stop()
        cgdir = os.path.join(tmp, "cg")
        os.makedirs(cgdir)
        st.valgrind = os.path.join(cgdir, "billingd.%p")
        st.start_billingd()
        tv = subprocess.Popen(["valgrind", "--tool=callgrind",
                               "--callgrind-out-file=" + os.path.join(cgdir, "trivial.%p"),
                               st.trivial_bin, st.trivial_socket, "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        cl = Client(st.port)
        seen = set()
        for k in args.keys:
            getpids = (lambda: children(tv.pid)) if k == "b" else st.worker_pids

            def get_worker():
                w = wait_worker(getpids, seen)
                seen.add(w)
                return w

            def send(m):
                global_pos[0] += m
                run_n(Client(st.port), gens[k], global_pos[0], m)
            res[k]["ir"] = ir_per_request(cgdir, get_worker, send, 20, 20 + n)
        tv.terminate()
        tv.wait(30)
    finally:
        st.stop()
    lines = ["", "## Cost per request, load-independent (bench/per_request.py)", "",
             "%d requests per path from one client, one after the other, through nginx to "
             "ONE worker (billingd's, the trivial responder's). Instructions: the worker "
             "under callgrind (a worker that served 20 + N requests minus one that served "
             "20). Syscalls: strace -c -f on the worker. Database: SHOW GLOBAL STATUS "
             "deltas (statements = Questions; rows read = Handler_read_key + "
             "Handler_read_next; rows written = Handler_update + Handler_write). Data: "
             "%s accounts, %s usage records." % (n, "{:,}".format(args.accounts),
                                                  "{:,}".format(args.records)), "",
             "| path | worker instructions/request | / (b) | syscalls/request | syscalls "
             "| DB statements/request | DB rows read/request | DB rows written/request |",
             "|---|---|---|---|---|---|---|---|"]
    base = res.get("b", {}).get("ir")
    for k in args.keys:
        r = res[k]
        d = r.get("db")
        lines.append("| %s | %s | %s | %.1f | %s | %s | %s | %s |" % (
            hl.LOADS[k][0], "{:,.0f}".format(r["ir"]) if "ir" in r else "-",
            "%.1f" % (r["ir"] / base) if base and "ir" in r else "-",
            r.get("syscalls", 0), r.get("by", ""),
            "%.2f" % (d["Questions"] / n) if d else "-",
            "%.1f" % ((d["Handler_read_key"] + d["Handler_read_next"]) / n) if d else "-",
            "%.1f" % ((d["Handler_update"] + d["Handler_write"]) / n) if d else "-"))
    for l in lines:
        log(l)
    if args.results:
        with open(args.results, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


def trivial_ir(sock, vpid, prefix, ctl, n):
    """Ir per request of the trivial responder, spoken to in FastCGI directly."""
    import socket
    import struct

    def rec(t, rid, content):
        return struct.pack(">BBHHBx", 1, t, rid, len(content), 0) + content

    def one():
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        params = b""
        for k, v in ((b"REQUEST_METHOD", b"GET"), (b"SCRIPT_NAME", b"/bench/fcgi")):
            params += bytes([len(k), len(v)]) + k + v
        s.sendall(rec(1, 1, struct.pack(">HB5x", 1, 0)) + rec(4, 1, params) + rec(4, 1, b"")
                  + rec(5, 1, b""))
        while s.recv(65536):
            pass
        s.close()
    for _ in range(50):
        one()
    wpid = children(vpid)[0]
    callgrind_ir(prefix, wpid, ctl)
    for _ in range(n):
        one()
    return callgrind_ir(prefix, wpid, ctl) / n


if __name__ == "__main__":
    sys.exit(main())
