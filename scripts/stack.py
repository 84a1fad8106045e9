#!/usr/bin/env python3
"""The whole stack on one machine: a private MariaDB, billingd and nginx.

Used by scripts/run (the dev stack, under var/) and by the integration tests
(each suite gets its own stack in a temporary directory, on free loopback
ports).  Standard library only.

    python3 scripts/stack.py serve --var var --port 8080
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_PREFIX = "/api/plugins/billing/"
# where the package installs web/ (nginx/streamspace-billing-web.conf)
PACKAGED_WEB_ROOT = "/usr/share/streamspace-billing/web"


# -- the suites' clock ----------------------------------------------------------
#
# BILLING_SUITE_NOW (RFC 3339, e.g. 2027-03-01T00:10:00Z) runs the suites as if
# they started at that instant: the clock keeps running, shifted by a whole
# number of seconds.  The shift is computed once and exported as
# BILLING_TEST_OFFSET, which billingd and the helpers (test builds) and every
# child process of the tests read, so all of them agree on "now".  A test
# that needs a fixed instant still sets BILLING_TEST_NOW, which wins.

def _parse_instant(text):
    """Whole seconds since the epoch of an RFC 3339 instant."""
    import datetime
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _suite_offset():
    if os.environ.get("BILLING_TEST_OFFSET"):
        return int(os.environ["BILLING_TEST_OFFSET"])
    start = os.environ.get("BILLING_SUITE_NOW")
    if not start:
        return 0
    offset = _parse_instant(start) - int(time.time())
    os.environ["BILLING_TEST_OFFSET"] = str(offset)
    return offset


CLOCK_OFFSET = _suite_offset()


def clock():
    """Seconds since the epoch on the suites' clock (float)."""
    return time.time() + CLOCK_OFFSET


def clock_utc():
    """The suites' "now" as an aware datetime in UTC."""
    import datetime
    return datetime.datetime.fromtimestamp(clock(), datetime.timezone.utc)


def find_program(name, build_dir=None):
    """A built program of ours (in the build tree) or a system one."""
    if build_dir:
        path = os.path.join(build_dir, "src", name)
        if os.access(path, os.X_OK):
            return path
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if not found:
        raise RuntimeError("%s not found" % name)
    return found


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % what)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(secret, sub, role="user", ttl=3600, now=None, **extra):
    """An HS256 JWT made with the standard library, independently of billingd."""
    now = int(clock()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": sub, "iat": now, "exp": now + ttl}
    if role is not None:
        claims["role"] = role
    claims.update(extra)
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                     + "." + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


STREAMSPACE_ISSUER = "streamspace-api"


def streamspace_token(secret, username, role="user", ttl=86400, now=None, **extra):
    """A token shaped as StreamSpace's api/internal/auth makes it: HS256, iss
    streamspace-api, user_id (a UUID) and sub = user_id, username, email,
    role, groups, jti, iat, nbf, exp 24 h later."""
    now = int(clock()) if now is None else now
    user_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, username + ".streamspace.invalid"))
    claims = {"user_id": user_id, "username": username,
              "email": username + "@example.com", "groups": [],
              "jti": str(uuid.uuid4()), "iss": STREAMSPACE_ISSUER, "nbf": now}
    claims.update(extra)
    return mint_token(secret, user_id, role, ttl=ttl, now=now, **claims)


def dev_config_overrides():
    """What the dev stack of scripts/run adds to the seed's config (the test
    stacks keep the defaults): users named as StreamSpace's sessions name
    them, by username, so StreamSpace's tokens work against it; an example
    tax rate, which no account pays until an admin gives it one (PATCH
    admin/users/{user_id} {"tax_rate_id": "vat20"}), and the issuer every
    invoice PDF names."""
    return {
        "jwtUserClaims": ["username", "sub"],
        "taxRates": [
            {"id": "vat20", "name": "VAT", "percent": 20, "inclusive": False},
        ],
        "invoiceIssuer": {
            "name": "StreamSpace Demo Ltd",
            "address": ["1 Example Street", "London EC1A 1AA",
                        "United Kingdom"],
            "email": "billing@streamspace.example",
            "taxId": "GB123456789",
        },
    }


def seed_config():
    """The contract's dev default: the seed's example config."""
    return {
        "enabled": True,
        "billingMode": "usage",
        "computeRates": {
            "cpu_per_core_hour": 0.05,
            "memory_per_gb_hour": 0.01,
            "storage_per_gb_month": 0.10,
        },
        "subscriptionPlans": [
            {"id": "free", "name": "Free Tier", "price": 0, "interval": "month",
             "cpu_limit": 2, "memory_limit": 4, "storage_limit": 10},
            {"id": "pro", "name": "Professional", "price": 29.99, "interval": "month",
             "cpu_limit": 8, "memory_limit": 16, "storage_limit": 100,
             "stripe_price_id": "price_pro"},
            {"id": "enterprise", "name": "Enterprise", "price": 99.99, "interval": "month",
             "cpu_limit": 32, "memory_limit": 64, "storage_limit": 500,
             "stripe_price_id": "price_enterprise"},
        ],
        "usageCalculationInterval": "0 * * * *",
        "invoiceDay": 1,
        "alertThreshold": 80,
        "autoSuspendOnOverage": False,
        "gracePeriodDays": 7,
    }


class Process:
    """A child in its own session, so a Ctrl-C reaches only the stack's
    driver, which then stops the children in order."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     start_new_session=True)
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def pid(self):
        return self.proc.pid


class MariaDB:
    def __init__(self, var):
        self.var = var
        self.datadir = os.path.join(var, "mysql")
        self.socket = os.path.join(var, "mysql.sock")
        self.process = None
        self.extra_args = []  # more mariadbd options (e.g. TLS), for the next start

    def _user_args(self):
        return ["--user=root"] if os.geteuid() == 0 else []

    def install(self):
        if os.path.isdir(os.path.join(self.datadir, "mysql")):
            return False
        argv = [find_program("mariadb-install-db"), "--no-defaults",
                "--datadir=" + self.datadir, "--auth-root-authentication-method=normal",
                "--skip-test-db"] + self._user_args()
        for attempt in (1, 2):
            os.makedirs(self.datadir, exist_ok=True)
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode == 0:
                return True
            # seen once under heavy load: start over with an empty directory
            shutil.rmtree(self.datadir, ignore_errors=True)
        raise RuntimeError("mariadb-install-db failed:\n%s%s" % (r.stdout[-2000:],
                                                                  r.stderr[-2000:]))

    def start(self):
        self.install()
        argv = [find_program("mariadbd"), "--no-defaults", "--datadir=" + self.datadir,
                "--socket=" + self.socket, "--skip-networking",
                "--pid-file=" + os.path.join(self.var, "mysql.pid"),
                "--log-error=" + os.path.join(self.var, "mysql-error.log"),
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=500", "--skip-log-bin"] + self._user_args() + self.extra_args
        self.process = Process("mariadbd", argv, os.path.join(self.var, "mysql-out.log"))
        self.process.start()
        wait_until(self.ping, 30, "MariaDB to accept connections")

    def ping(self):
        if self.process is not None and not self.process.alive():
            raise RuntimeError("mariadbd exited; see %s/mysql-error.log" % self.var)
        r = subprocess.run([find_program("mariadb-admin"), "--no-defaults", "-S", self.socket,
                            "-u", "root", "ping"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def sql(self, text, database=None):
        """Runs SQL as root; returns the rows as lists of strings (tab-separated output)."""
        argv = [find_program("mariadb"), "--no-defaults", "-S", self.socket, "-u", "root",
                "--batch", "--skip-column-names", "-e", text]
        if database:
            argv.append(database)
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines()]

    def stop(self):
        if self.process is not None:
            self.process.stop()


class Stack:
    """MariaDB + billingd + nginx under one directory."""

    def __init__(self, var, build_dir=ROOT, port=None, config_overrides=None, workers=2,
                 env=None, db_name="billing"):
        self.var = os.path.abspath(var)
        self.build_dir = build_dir
        self.port = port or free_port()
        self.workers = workers
        self.extra_env = env or {}
        self.db_name = db_name
        self.config_overrides = config_overrides or {}
        self.mariadb = MariaDB(self.var)
        self.billingd = None
        self.nginx = None
        self.socket = os.path.join(self.var, "billingd.sock")
        self.config_path = os.path.join(self.var, "billing.json")
        self.secrets_path = os.path.join(self.var, "secrets.json")
        self.base_url = "http://127.0.0.1:%d" % self.port
        self.api = self.base_url + API_PREFIX

    # -- setup -------------------------------------------------------------

    def _secrets(self):
        """Secrets are made once per var directory and kept across runs; one
        a newer version added is made the first time it is missing."""
        s = {}
        if os.path.exists(self.secrets_path):
            with open(self.secrets_path) as f:
                s = json.load(f)
        made = {"jwt_secret": lambda: secrets.token_hex(32),
                "stripe_webhook_secret": lambda: "whsec_" + secrets.token_hex(24),
                "db_password": lambda: secrets.token_hex(16),
                "events_webhook_secret": lambda: secrets.token_hex(24),
                "streamspace_webhook_secret": lambda: secrets.token_hex(32)}
        missing = [k for k in made if k not in s]
        if not missing:
            return s
        for k in missing:
            s[k] = made[k]()
        fd = os.open(self.secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(s, f)
        return s

    def config(self):
        cfg = seed_config()
        cfg.update({
            "database": {"socket": self.mariadb.socket, "user": "billing",
                         "name": self.db_name},
            "listen": "unix:" + self.socket,
            "listenMode": "0660",
            "workers": self.workers,
            "maxRequests": 10000,
            "publicBaseUrl": self.base_url,
        })
        cfg.update(self.config_overrides)
        return cfg

    def write_config(self, cfg=None):
        cfg = cfg if cfg is not None else self.config()
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f, indent=2)

    def env(self):
        s = self._secrets()
        env = dict(os.environ)
        env.update({
            "BILLING_CONFIG": self.config_path,
            "BILLING_JWT_SECRET": s["jwt_secret"],
            "BILLING_DB_PASSWORD": s["db_password"],
            "STRIPE_WEBHOOK_SECRET": s["stripe_webhook_secret"],
            "BILLING_EVENTS_WEBHOOK_SECRET": s["events_webhook_secret"],
            # StreamSpace signs its webhook deliveries with it (docs/api.md)
            "STREAMSPACE_WEBHOOK_SECRET": s["streamspace_webhook_secret"],
            "BILLING_SQL_DIR": os.path.join(ROOT, "sql"),
        })
        # what the caller gives wins (e.g. the secrets of a test)
        for k in ("BILLING_JWT_SECRET", "STRIPE_WEBHOOK_SECRET",
                  "BILLING_EVENTS_WEBHOOK_SECRET", "STREAMSPACE_WEBHOOK_SECRET"):
            if os.environ.get(k):
                env[k] = os.environ[k]
        env.update(self.extra_env)
        return env

    @property
    def jwt_secret(self):
        return self.env()["BILLING_JWT_SECRET"]

    @property
    def webhook_secret(self):
        return self.env()["STRIPE_WEBHOOK_SECRET"].split(",")[0]

    def token(self, sub="alice@example.com", role="user", **kw):
        """A token valid on billingd's clock: the stack's fixed instant
        (BILLING_TEST_NOW) when it has one, else the suites' clock."""
        fixed = self.extra_env.get("BILLING_TEST_NOW")
        if fixed and "now" not in kw:
            kw["now"] = _parse_instant(fixed)
        return mint_token(self.jwt_secret, sub, role, **kw)

    def create_database(self):
        pw = self._secrets()["db_password"]
        self.mariadb.sql(
            "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            "CREATE USER IF NOT EXISTS 'billing'@'localhost' IDENTIFIED BY '%s';"
            "ALTER USER 'billing'@'localhost' IDENTIFIED BY '%s';"
            "GRANT ALL PRIVILEGES ON `%s`.* TO 'billing'@'localhost';"
            % (self.db_name, pw, pw, self.db_name))

    def migrate(self):
        r = subprocess.run([find_program("billing-migrate", self.build_dir)], env=self.env(),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("billing-migrate failed: %s%s" % (r.stdout, r.stderr))
        return r

    def run_helper(self, name, *args, check=True, env=None):
        e = self.env()
        e.update(env or {})
        # job helpers are quiet on success unless -v (cron mails any output)
        verbose = [] if name == "billing-migrate" else ["-v"]
        r = subprocess.run([find_program(name, self.build_dir)] + verbose + list(args), env=e,
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (name, r.returncode, r.stdout, r.stderr))
        return r

    # -- processes ---------------------------------------------------------

    def start_billingd(self):
        self.billingd = Process("billingd",
                                [find_program("billingd", self.build_dir), "-c", self.config_path,
                                 "-p", os.path.join(self.var, "billingd.pid")],
                                os.path.join(self.var, "billingd.log"), env=self.env())
        self.billingd.start()
        wait_until(lambda: self._billingd_ready(), 15, "billingd to listen")

    def _billingd_ready(self):
        if not self.billingd.alive():
            raise RuntimeError("billingd exited; see %s/billingd.log:\n%s"
                               % (self.var, self.read_log("billingd.log")[-2000:]))
        return os.path.exists(self.socket) and len(self.worker_pids()) >= self.workers

    def worker_pids(self):
        """The billingd master's children, from /proc."""
        if self.billingd is None or not self.billingd.alive():
            return []
        master = self.billingd.pid
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master and fields[0] != "Z":
                pids.append(int(entry))
        return sorted(pids)

    def start_nginx(self):
        os.makedirs(os.path.join(self.var, "nginx-tmp"), exist_ok=True)
        with open(os.path.join(ROOT, "nginx", "dev.conf.in")) as f:
            text = f.read()
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
        self.write_web_snippet()
        conf = os.path.join(self.var, "nginx.conf")
        with open(conf, "w") as f:
            f.write(text)
        nginx = find_program("nginx")
        self.nginx = Process("nginx", [nginx, "-p", self.var, "-c", conf,
                                       "-e", os.path.join(self.var, "nginx-error.log")],
                             os.path.join(self.var, "nginx-out.log"))
        self.nginx.start()
        wait_until(self._nginx_ready, 15, "nginx to listen on %d" % self.port)

    def write_web_snippet(self):
        """The pages' snippet with the checkout's web/ as its root: edits to
        web/ show at the next request, without a restart."""
        with open(os.path.join(ROOT, "nginx", "streamspace-billing-web.conf")) as f:
            text = f.read()
        text = text.replace(PACKAGED_WEB_ROOT, os.path.join(ROOT, "web"))
        with open(os.path.join(self.var, "streamspace-billing-web.conf"), "w") as f:
            f.write(text)

    def _nginx_ready(self):
        if not self.nginx.alive():
            raise RuntimeError("nginx exited; see %s/nginx-error.log:\n%s"
                               % (self.var, self.read_log("nginx-error.log")))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def read_log(self, name):
        try:
            with open(os.path.join(self.var, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        os.makedirs(self.var, exist_ok=True)
        self.mariadb.start()
        self.create_database()
        self.write_config()
        self.migrate()
        self.start_billingd()
        self.start_nginx()
        return self

    def stop(self):
        for p in (self.nginx, self.billingd):
            if p is not None:
                p.stop()
        self.mariadb.stop()

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                content_type="application/json", timeout=30):
        """Returns (status, headers, parsed JSON or text).  body is JSON-encoded;
        raw is sent as is."""
        url = self.api + path if not path.startswith("http") else path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        h = {}
        if data is not None and content_type:
            h["Content-Type"] = content_type
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, rh, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rh, payload = e.code, e.headers, e.read()
        ctype = rh.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, rh, json.loads(payload.decode())
        return status, rh, payload.decode(errors="replace")


def cron_field_matches(field, value):
    """One field of a cron expression: *, */n, a, a-b, lists of them."""
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step = part.split("/", 1)
            step = int(step)
        if part == "*":
            if value % step == 0:
                return True
            continue
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
        else:
            lo = hi = int(part)
        if lo <= value <= hi and (value - lo) % step == 0:
            return True
    return False


class Schedule:
    """Runs the helpers of cron/streamspace-billing while the dev stack
    serves, as cron would on a host (UTC, one run per matching minute)."""

    def __init__(self, stack, path=os.path.join(ROOT, "cron", "streamspace-billing")):
        self.stack = stack
        self.entries = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or "=" in line.split()[0]:
                    continue
                fields = line.split()
                helper = fields[-1].rsplit("/", 1)[-1]
                self.entries.append((fields[:5], helper))
        self.last_minute = None
        self.running = {}

    def tick(self):
        now = time.gmtime()
        minute = now[:5]
        if minute == self.last_minute:
            return
        self.last_minute = minute
        values = (now.tm_min, now.tm_hour, now.tm_mday, now.tm_mon, (now.tm_wday + 1) % 7)
        for fields, helper in self.entries:
            if not all(cron_field_matches(f, v) for f, v in zip(fields, values)):
                continue
            prev = self.running.get(helper)
            if prev is not None and prev.poll() is None:
                continue  # still running: like cron with flock, no overlap
            log = open(os.path.join(self.stack.var, "cron.log"), "ab")
            self.running[helper] = subprocess.Popen(
                [find_program(helper, self.stack.build_dir)], env=self.stack.env(),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()

    def stop(self):
        for p in self.running.values():
            if p.poll() is None:
                p.terminate()
                p.wait()


def write_dev_env(stack):
    e = stack.env()
    s = {"jwt_secret": e["BILLING_JWT_SECRET"],
         "stripe_webhook_secret": e["STRIPE_WEBHOOK_SECRET"],
         "events_webhook_secret": e["BILLING_EVENTS_WEBHOOK_SECRET"],
         "streamspace_webhook_secret": e["STREAMSPACE_WEBHOOK_SECRET"]}
    path = os.path.join(stack.var, "dev.env")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# written by scripts/run: source it to mint tokens and sign webhooks\n")
        f.write("BILLING_BASE_URL=%s\n" % stack.api.rstrip("/"))
        f.write("BILLING_JWT_SECRET=%s\n" % s["jwt_secret"])
        f.write("STRIPE_WEBHOOK_SECRET=%s\n" % s["stripe_webhook_secret"])
        f.write("BILLING_EVENTS_WEBHOOK_SECRET=%s\n" % s["events_webhook_secret"])
        f.write("STREAMSPACE_WEBHOOK_SECRET=%s\n" % s["streamspace_webhook_secret"])
        f.write("BILLING_DB_SOCKET=%s\n" % stack.mariadb.socket)
        f.write("BILLING_CONFIG=%s\n" % stack.config_path)
    return path


def mail_listing(var):
    """A line per message the sink kept (the demo invoice's, at least)."""
    d = os.path.join(var, "mail")
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return "".join("  %s\n" % os.path.join(d, n) for n in names[-5:]) or "  (none yet)\n"


def start_mail_sink(var):
    """The dev stack's SMTP relay: tests/smtp_sink.py on a free loopback port,
    keeping each message it accepts as a file under var/mail/.  Returns
    (sink, the config's email object), or (None, None) when the caller gave
    BILLING_SMTP_URL (their own relay: the environment wins anyway)."""
    if os.environ.get("BILLING_SMTP_URL"):
        return None, {"from": "StreamSpace Demo Ltd <billing@streamspace.example>",
                      "templateDir": os.path.join(ROOT, "email")}
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from smtp_sink import SmtpSink  # Debian's python3-aiosmtpd
    port = int(os.environ.get("BILLING_SMTP_SINK_PORT") or 0)
    sink = SmtpSink(port, os.path.join(var, "mail")).start()
    return sink, {"smtpUrl": sink.url,
                  "from": "StreamSpace Demo Ltd <billing@streamspace.example>",
                  "templateDir": os.path.join(ROOT, "email")}


def serve(args):
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    overrides = dev_config_overrides()
    sink, overrides["email"] = start_mail_sink(args.var)
    stack = Stack(args.var, port=args.port, workers=args.workers,
                  config_overrides=overrides)
    try:
        stack.start()
        env_path = write_dev_env(stack)
        admin = stack.token("admin@example.com", "admin", ttl=30 * 86400)
        service = stack.token("platform", "service", ttl=30 * 86400)
        demo = streamspace_token(stack.jwt_secret, "demo")
        if os.environ.get("BILLING_DEMO", "1") != "0":
            import demo as demo_data  # scripts/demo.py: dev stack only
            demo_data.seed_demo(stack)
            # the demo invoice's email, now rather than at the next minute
            stack.run_helper("billing-dispatch-events")
        base = stack.api.rstrip("/")
        ss_base = stack.base_url + "/api/plugins/streamspace-billing"
        print("""
StreamSpace Billing is serving on %(base)s
  logs:     %(var)s/billingd.log, nginx-error.log, mysql-error.log
  secrets:  %(env)s (JWT secret, Stripe and StreamSpace
            webhook secrets, DB socket)
  also at:  %(ss_base)s (StreamSpace's plugin mount)

Admin token (30 days):
  export ADMIN_TOKEN=%(admin)s
Service (platform) token (30 days):
  export SERVICE_TOKEN=%(service)s
A StreamSpace token for the user "demo" (as StreamSpace makes them: the
user is its username; 24 hours):
  export STREAMSPACE_TOKEN=%(demo)s

The web pages (the token travels in the address's #fragment, which no
request carries; the page moves it to its tab's sessionStorage):
  Billing & Usage, as the demo user (a month of demo usage):
    %(web)s/billing/#token=%(demo)s
  Billing Management, as the admin:
    %(web)s/admin/billing/#token=%(admin)s
  Current Usage widget:
    %(web)s/billing/widget#token=%(demo)s

Try:
  curl -s %(base)s/health
  curl -s -H "Authorization: Bearer $ADMIN_TOKEN" %(base)s/jobs/status
  curl -s -H "Authorization: Bearer $STREAMSPACE_TOKEN" %(ss_base)s/usage

The cron schedule (cron/streamspace-billing) runs while this serves: usage
hourly, quotas every 15 minutes, invoices daily, events and emails every
minute (output in %(var)s/cron.log).

Emails (docs/email.md) go to %(mail)s
%(mails)s

Ctrl-C stops everything.""" % {"base": base, "var": stack.var, "env": env_path,
                               "admin": admin, "service": service, "demo": demo,
                               "ss_base": ss_base, "web": stack.base_url,
                               "mail": (sink.url + ", a local sink keeping them in "
                                        + os.path.join(stack.var, "mail") + "/")
                               if sink else "the relay of BILLING_SMTP_URL",
                               "mails": mail_listing(stack.var)}, flush=True)
        schedule = Schedule(stack)
        while not stop:
            schedule.tick()
            for p in (stack.billingd, stack.nginx, stack.mariadb.process):
                if p is not None and not p.alive():
                    print("%s exited unexpectedly; stopping" % p.name, file=sys.stderr)
                    stop.append(1)
            time.sleep(0.5)
    finally:
        print("stopping...", flush=True)
        if "schedule" in locals():
            schedule.stop()
        stack.stop()
        if sink is not None:
            sink.stop()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the dev stack in the foreground")
    s.add_argument("--var", default=os.path.join(ROOT, "var"))
    s.add_argument("--port", type=int, default=int(os.environ.get("BILLING_HTTP_PORT", "8080")))
    s.add_argument("--workers", type=int, default=int(os.environ.get("BILLING_WORKERS", "4")))
    args = ap.parse_args()
    if args.cmd == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
