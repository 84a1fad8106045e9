"""Helpers shared by the benchmarks in bench/ (standard library only).

    from lib import log, check, CheckFailed, Timed, snapshot_binaries, ...

bench/metering.py and bench/invoices.py import this module from their own
directory (python3 puts the script's directory first on sys.path)."""

import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.join(ROOT, "scripts") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "scripts"))

import stack as stackmod  # noqa: E402  (scripts/stack.py)


def log(msg=""):
    print(msg, flush=True)


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


# -- measuring processes --------------------------------------------------------

def proc_cpu(pid, reaped=False):
    """User + system CPU seconds of a running process, from /proc; with
    reaped, those of the children it has waited for too (cutime, cstime)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15 if reaped else 13]) / \
            os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Timed:
    """Wall time of a block, CPU of the children it waited for (the client)
    and CPU of mariadbd meanwhile (the server)."""

    def __init__(self, st):
        self.st = st

    def __enter__(self):
        self.srv0 = proc_cpu(self.st.mariadb.process.pid)
        self.cli0 = children_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.client_cpu = children_cpu() - self.cli0
        self.server_cpu = proc_cpu(self.st.mariadb.process.pid) - self.srv0
        return False


STATUS_COUNTERS = ("Questions", "Com_insert", "Com_update", "Com_select", "Com_commit",
                   "Com_stmt_prepare", "Com_stmt_execute", "Handler_write",
                   "Handler_update", "Handler_read_key", "Handler_read_next",
                   "Innodb_row_lock_waits")


def status_counters(st, names=STATUS_COUNTERS):
    rows = st.mariadb.sql("SHOW GLOBAL STATUS WHERE Variable_name IN (%s)"
                          % ",".join("'%s'" % n for n in names))
    return {k: int(v) for k, v in rows}


def diff_counters(a, b):
    return {k: b[k] - a.get(k, 0) for k in b}


# -- the stack's database ---------------------------------------------------------

def sql1(st, text):
    """The single value of a query."""
    rows = st.mariadb.sql(text, database=st.db_name)
    return rows[0][0] if rows else None


def sql(st, text):
    return st.mariadb.sql(text, database=st.db_name)


def mariadb_argv(st, *extra):
    return ([stackmod.find_program("mariadb"), "--no-defaults", "-S", st.mariadb.socket,
             "-u", "root"] + list(extra) + [st.db_name])


def mariadb_client(st, path):
    """The mariadb client fed a file of SQL."""
    with open(path, "rb") as f:
        r = subprocess.run(mariadb_argv(st), stdin=f, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("mariadb < %s failed: %s" % (path, r.stderr.decode(errors="replace")))


def snapshot_binaries(tmp, build_dir, programs):
    """Copies of the built programs, so that a rebuild of src/ during the run
    (make in another shell) changes nothing under us; refuses programs built
    without --enable-test-clock (they would ignore BILLING_TEST_NOW and run
    on the real clock).  Returns the directory to use as the stack's
    build_dir (its src/ holds the copies)."""
    build = os.path.join(tmp, "build")
    os.makedirs(os.path.join(build, "src"), exist_ok=True)
    for name in programs:
        path = os.path.join(build_dir, "src", name)
        for _ in range(30):   # not while the linker is writing it
            if os.path.exists(path) and time.time() - os.path.getmtime(path) > 2:
                break
            time.sleep(1)
        if not os.access(path, os.X_OK):
            raise CheckFailed("%s is not built (cd %s && make)" % (path, build_dir))
        mtime = os.path.getmtime(path)
        with open(path, "rb") as f:
            data = f.read()
        if b"BILLING_TEST_NOW" not in data:
            raise CheckFailed("%s was built without the test clock: "
                              "./configure --enable-test-clock && make" % path)
        dest = os.path.join(build, "src", name)
        with open(dest, "wb") as f:
            f.write(data)
        os.chmod(dest, 0o755)
        os.utime(dest, (mtime, mtime))
    return build


# -- the slow query log: server time per statement kind ------------------------------

def profile_statements(st, run, kinds_sql):
    """Runs run() with every statement in the slow query log
    (long_query_time=0, log_output=TABLE) and sums the log by kind:
    kinds_sql is an SQL expression over sql_text naming each statement's kind
    (e.g. a CASE of LIKEs; inserted as is, not %-formatted).  Returns
    {"wall": seconds of run() with the log on, "rows": [(kind, count,
    server s, lock s, rows examined, rows affected)]}.  The log is left
    filled (for further queries by the caller) and switched off; truncate
    mysql.slow_log when done."""
    st.mariadb.sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL long_query_time = 0; "
                   "TRUNCATE TABLE mysql.slow_log; SET GLOBAL slow_query_log = ON")
    t0 = time.perf_counter()
    try:
        run()
    finally:
        wall = time.perf_counter() - t0
        st.mariadb.sql("SET GLOBAL slow_query_log = OFF; SET GLOBAL long_query_time = 10")
    rows = st.mariadb.sql(
        "SELECT kind, COUNT(*), SUM(TIME_TO_SEC(query_time)), SUM(TIME_TO_SEC(lock_time)), "
        "SUM(rows_examined), SUM(rows_affected) FROM (SELECT %s AS kind, query_time, "
        "lock_time, rows_examined, rows_affected FROM mysql.slow_log "
        "WHERE db = '%s' AND sql_text NOT LIKE 'SET GLOBAL%%') k GROUP BY kind ORDER BY kind"
        % (kinds_sql, st.db_name))
    return {"wall": wall,
            "rows": [(k, int(c), float(t), float(lk), int(ex), int(af))
                     for k, c, t, lk, ex, af in rows]}


# -- machine ------------------------------------------------------------------------

def machine_info(st):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["ram"] = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["mariadb"] = st.mariadb.sql("SELECT VERSION()")[0][0]
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    info["commit"] = r.stdout.strip() if r.returncode == 0 else "?"
    r = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"],
                       capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        info["commit"] += " (src/ has uncommitted changes)"
    return info


# -- formatting -------------------------------------------------------------------------

def fmt_s(v):
    return "%.3f s" % v


def fmt_ms(v):
    return "-" if v is None else "%.2f ms" % (v * 1000)


def fmt_rate(rows, secs):
    return "{:,.0f}".format(rows / secs) if secs > 0 else "-"


def fmt_n(n):
    return "{:,}".format(n)
