"""A private MariaDB Galera cluster on loopback ports, for tests/galera/run.

Each node is a mariadbd with its own datadir (mariadb-install-db
--no-defaults), its own SQL port and socket, and its own Galera ports
(group communication, IST, SST), all on 127.0.0.1 and chosen free.
Node 1 bootstraps the cluster (--wsrep-new-cluster); the others start
with an empty datadir, join, and receive the state by SST (rsync) from a
donor; a node restarted later catches up by IST.  Run as root, the nodes
run as the mysql user: rsync's SST daemon, started by a server running as
root, drops to "nobody" and cannot write the joiner's datadir.

Standard library only; reuses scripts/stack.py's Process, find_program and
wait_until.
"""

import os
import pwd
import shutil
import socket
import subprocess
import time

import stack  # scripts/stack.py (run adds scripts/ to sys.path)

PROVIDER_CANDIDATES = ("/usr/lib/galera/libgalera_smm.so",
                       "/usr/lib/libgalera_smm.so",
                       "/usr/lib64/galera-4/libgalera_smm.so",
                       "/usr/lib64/galera/libgalera_smm.so")


def find_provider():
    for p in PROVIDER_CANDIDATES:
        if os.path.exists(p):
            return p
    return None


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound together so none repeats)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Node:
    def __init__(self, cluster, index, port, gport, ist_port, sst_port):
        self.cluster = cluster
        self.index = index
        self.name = "node%d" % index
        self.dir = os.path.join(cluster.var, self.name)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysql.sock")
        self.port = port
        self.gport = gport
        self.ist_port = ist_port
        self.sst_port = sst_port
        self.process = None
        self.error_log = os.path.join(self.dir, "error.log")

    def _user_args(self):
        return ["--user=" + self.cluster.user] if self.cluster.user else []

    def _own(self):
        if self.cluster.user:
            shutil.chown(self.dir, self.cluster.user, self.cluster.user)

    def install(self):
        os.makedirs(self.dir, exist_ok=True)
        self._own()
        argv = [stack.find_program("mariadb-install-db"), "--no-defaults",
                "--datadir=" + self.datadir, "--auth-root-authentication-method=normal",
                "--skip-test-db"] + self._user_args()
        for _ in (1, 2):
            os.makedirs(self.datadir, exist_ok=True)
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode == 0:
                return
            shutil.rmtree(self.datadir, ignore_errors=True)
        raise RuntimeError("mariadb-install-db failed for %s:\n%s%s"
                           % (self.name, r.stdout[-2000:], r.stderr[-2000:]))

    def argv(self, bootstrap=False):
        c = self.cluster
        provider_options = ";".join([
            "gmcast.listen_addr=tcp://127.0.0.1:%d" % self.gport,
            "ist.recv_addr=127.0.0.1:%d" % self.ist_port,
            "gcache.size=64M",
            # a stopped node is noticed in seconds, not the default 15 s
            "evs.keepalive_period=PT0.5S",
            "evs.suspect_timeout=PT2S",
            "evs.inactive_timeout=PT4S",
            "evs.install_timeout=PT3S",
            "evs.inactive_check_period=PT0.5S",
            "pc.recovery=false",
        ])
        a = [stack.find_program("mariadbd"), "--no-defaults",
             "--datadir=" + self.datadir, "--socket=" + self.socket,
             "--bind-address=127.0.0.1", "--port=%d" % self.port,
             "--pid-file=" + os.path.join(self.dir, "mysqld.pid"),
             "--log-error=" + self.error_log,
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
             "--innodb-log-file-size=48M",
             "--max-connections=300", "--skip-name-resolve",
             # what Galera needs
             "--wsrep-on=ON", "--wsrep-provider=" + c.provider,
             "--wsrep-cluster-name=" + c.name,
             "--wsrep-cluster-address=gcomm://" + ",".join(
                 "127.0.0.1:%d" % n.gport for n in c.nodes),
             "--wsrep-node-name=" + self.name,
             "--wsrep-node-address=127.0.0.1:%d" % self.gport,
             "--wsrep-node-incoming-address=127.0.0.1:%d" % self.port,
             "--wsrep-sst-receive-address=127.0.0.1:%d" % self.sst_port,
             "--wsrep-sst-method=" + c.sst_method,
             "--wsrep-provider-options=" + provider_options,
             "--wsrep-slave-threads=2",
             # causal reads: a read waits until the node has applied what the
             # cluster committed before it (read-your-writes across nodes)
             "--wsrep-sync-wait=%d" % c.sync_wait,
             "--binlog-format=ROW", "--default-storage-engine=InnoDB",
             "--innodb-autoinc-lock-mode=2",
             ] + self._user_args()
        if bootstrap:
            a.append("--wsrep-new-cluster")
        return a

    def start(self, bootstrap=False):
        if bootstrap and not os.path.isdir(os.path.join(self.datadir, "mysql")):
            self.install()
        elif not os.path.isdir(self.datadir):
            # a joiner starts empty: the SST brings the whole datadir
            os.makedirs(self.datadir)
            self._own()
            if self.cluster.user:
                shutil.chown(self.datadir, self.cluster.user, self.cluster.user)
        self.process = stack.Process(self.name, self.argv(bootstrap),
                                     os.path.join(self.dir, "out.log"))
        self.process.start()

    def alive(self):
        return self.process is not None and self.process.alive()

    def client_argv(self, database=None, user="root", password=None):
        a = [stack.find_program("mariadb"), "--no-defaults", "-S", self.socket,
             "-u", user, "--batch", "--skip-column-names"]
        if password:
            a.append("-p" + password)
        if database:
            a.append(database)
        return a

    def sql(self, text, database=None, check=True, timeout=60):
        """Runs SQL as root over the socket; rows as lists of strings."""
        argv = self.client_argv(database) + ["-e", text]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s: SQL failed: %s\n%s" % (self.name, text[:200],
                                                            r.stderr.strip()))
        if r.returncode != 0:
            return None
        return [line.split("\t") for line in r.stdout.splitlines()]

    def status(self, names):
        """wsrep status variables (name -> value); {} when the node does not answer."""
        try:
            rows = self.sql("SHOW GLOBAL STATUS WHERE Variable_name IN (%s)"
                            % ",".join("'%s'" % n for n in names), check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return {}
        return {r[0]: r[1] for r in rows or [] if len(r) == 2}

    def synced(self, size=None):
        if self.process is not None and not self.process.alive():
            raise RuntimeError("%s exited; tail of %s:\n%s"
                               % (self.name, self.error_log, tail(self.error_log)))
        s = self.status(["wsrep_ready", "wsrep_local_state_comment",
                         "wsrep_cluster_size", "wsrep_cluster_status"])
        return (s.get("wsrep_ready") == "ON" and s.get("wsrep_local_state_comment") == "Synced"
                and s.get("wsrep_cluster_status") == "Primary"
                and (size is None or s.get("wsrep_cluster_size") == str(size)))

    def stop(self, timeout=60):
        if self.process is not None:
            self.process.stop(timeout=timeout)

    def kill(self):
        if self.alive():
            self.process.proc.kill()
            self.process.proc.wait()


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


class Cluster:
    def __init__(self, var, size=3, name="billing-galera", sst_method="rsync",
                 provider=None, sync_wait=1):
        self.var = var
        self.name = name
        self.sst_method = sst_method
        self.sync_wait = sync_wait
        self.provider = provider or find_provider()
        if self.provider is None:
            raise RuntimeError("no Galera provider (install galera-4)")
        ports = free_ports(4 * size)
        self.nodes = []
        for i in range(size):
            self.nodes.append(Node(self, i + 1, *ports[4 * i:4 * i + 4]))
        self.timings = {}
        # as root, the nodes run as the mysql user (made by mariadb-server's
        # postinst), as packaged servers do: see Node._user_args
        self.user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("mysql")
            except KeyError:
                raise RuntimeError("no mysql user: install mariadb-server")
            self.user = "mysql"
            # the server's user walks into its node dir (the caller makes the
            # directories above var traversable too)
            os.makedirs(var, exist_ok=True)
            os.chmod(var, 0o711)

    def start(self, parallel_join=False):
        """Bootstraps node 1, then joins the others; returns when all are Synced."""
        for n in self.nodes:
            os.makedirs(n.dir, exist_ok=True)
            n._own()
        t0 = time.monotonic()
        first = self.nodes[0]
        first.start(bootstrap=True)
        stack.wait_until(lambda: first.synced(1), 60, "%s to bootstrap" % first.name)
        self.timings["bootstrap"] = time.monotonic() - t0
        rest = self.nodes[1:]
        if parallel_join:
            for n in rest:
                n.start()
            for n in rest:
                stack.wait_until(lambda: n.synced(), 120, "%s to join" % n.name)
                self.timings["join " + n.name] = time.monotonic() - t0
        else:
            for i, n in enumerate(rest):
                t1 = time.monotonic()
                n.start()
                stack.wait_until(lambda: n.synced(i + 2), 120, "%s to join" % n.name)
                self.timings["join " + n.name] = time.monotonic() - t1
        stack.wait_until(lambda: all(n.synced(len(self.nodes)) for n in self.nodes), 30,
                         "every node to see the whole cluster")
        self.timings["cluster"] = time.monotonic() - t0

    def stop(self):
        # the joiners first, the bootstrap node last: a clean shutdown of all
        for n in reversed(self.nodes):
            try:
                n.stop()
            except Exception:
                n.kill()


class Session:
    """One interactive client session on a node (mariadb -n over a pipe), to
    interleave statements of two sessions by hand."""

    _n = 0

    def __init__(self, node, database=None):
        self.node = node
        self.proc = subprocess.Popen(
            [stack.find_program("mariadb"), "--no-defaults", "-S", node.socket, "-u", "root",
             "--batch", "--skip-column-names", "-n", "--force"] + ([database] if database else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)

    def run(self, sql, timeout=30):
        """Runs sql (one or more statements); returns (output lines, seconds)."""
        Session._n += 1
        mark = "--mark-%d--" % Session._n
        t = time.monotonic()
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\nSELECT '%s';\n" % mark)
        self.proc.stdin.flush()
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            line = line.rstrip("\n")
            if line == mark:
                break
            lines.append(line)
        return lines, time.monotonic() - t

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
