"""Shared pieces of the integration suites: one private stack per test class
(MariaDB + billingd + nginx under a temporary directory, via scripts/stack.py),
JWT minting with any header and claims, and the contract's assertions.

Standard library only.
"""

import atexit
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import stack  # noqa: E402  (scripts/stack.py: the harness)

API_PREFIX = stack.API_PREFIX
# The suites' clock (BILLING_SUITE_NOW moves it to another date): use these,
# never time.time() or datetime.now(), for anything billingd compares.
clock = stack.clock
clock_utc = stack.clock_utc
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Every stack a test class started and has not stopped yet: stopped at exit
# too, so that an interrupted run leaves no mariadbd/billingd/nginx behind.
_live_stacks = []


def _stop_leftovers():
    for s in list(_live_stacks):
        try:
            s.stop()
        except Exception:
            pass
        _live_stacks.remove(s)
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(s.var, ignore_errors=True)


atexit.register(_stop_leftovers)


# -- tokens -------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def make_jwt(claims, secret, header=None, mac_alg="HS256", signature=None):
    """A compact JWS with any header and claims.

    claims/header: a dict (JSON-encoded compactly) or a str used as is.
    The signature is an HMAC with mac_alg (HS256/HS384/HS512) over the
    signing input unless signature is given (a str put as is, "" for none).
    """
    header = {"alg": mac_alg, "typ": "JWT"} if header is None else header
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    c = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    signing_input = b64url(h) + "." + b64url(c)
    if signature is None:
        mac = hmac.new(secret.encode(), signing_input.encode(), _HMAC_ALGS[mac_alg]).digest()
        signature = b64url(mac)
    return signing_input + "." + signature


def claims_for(sub="alice@example.com", role="user", ttl=3600, now=None, **extra):
    """The usual claims (sub, role, iat, exp); a value of None removes a claim."""
    now = int(clock()) if now is None else now
    c = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def rs256_sign(signing_input, key_path):
    """An RS256 (PKCS#1 v1.5, SHA-256) signature made with the openssl CLI."""
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path],
                       input=signing_input.encode(), capture_output=True, check=True)
    return b64url(r.stdout)


# -- logs ---------------------------------------------------------------------

def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


def print_log_tails(var, names=("billingd.log", "nginx-error.log", "mysql-error.log"),
                    lines=40):
    for name in names:
        path = os.path.join(var, name)
        sys.stdout.write("---- tail of %s ----\n%s" % (path, tail(path, lines)))
    sys.stdout.flush()


def wait_for(check, timeout, interval=0.05):
    """Polls check() until it returns a true value; returns it, or the last
    (false) value after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# -- the base class -----------------------------------------------------------

class StackTestCase(unittest.TestCase):
    """One stack per test class, started in setUpClass and stopped in
    tearDownClass.  Subclasses may set config_overrides, workers and
    stack_env (extra environment for billingd and the helpers)."""

    config_overrides = None
    workers = 2
    stack_env = None

    stack = None
    var = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.var = tempfile.mkdtemp(prefix="billing-it-")
        cls.stack = stack.Stack(var=cls.var, workers=cls.workers,
                                config_overrides=dict(cls.config_overrides or {}),
                                env=dict(cls.stack_env or {}))
        _live_stacks.append(cls.stack)
        try:
            cls.stack.start()
            cls.setUpStack()
        except BaseException:
            # unittest calls no tearDownClass after a failed setUpClass
            sys.stdout.write("\n%s: the stack failed to start (dir %s)\n"
                             % (cls.__name__, cls.var))
            print_log_tails(cls.var)
            cls._teardown_stack()
            raise

    @classmethod
    def setUpStack(cls):
        """Hook: runs once the stack is up (failures count as a failed setUp)."""

    @classmethod
    def tearDownClass(cls):
        cls._teardown_stack()
        super().tearDownClass()

    @classmethod
    def _teardown_stack(cls):
        if cls.stack is not None:
            try:
                cls.stack.stop()
            finally:
                if cls.stack in _live_stacks:
                    _live_stacks.remove(cls.stack)
        if cls.var and os.path.isdir(cls.var):
            if os.environ.get("KEEP_TEST_DIRS"):
                sys.stdout.write("\n%s: kept %s\n" % (cls.__name__, cls.var))
            else:
                shutil.rmtree(cls.var, ignore_errors=True)

    # -- helpers --------------------------------------------------------------

    def request(self, method, path, **kw):
        return self.stack.request(method, path, **kw)

    def url(self, path):
        """A full URL on the stack's nginx (for paths outside the API prefix)."""
        return self.stack.base_url + path

    def admin_token(self, **kw):
        return self.stack.token("admin@example.com", "admin", **kw)

    def user_token(self, sub="alice@example.com", **kw):
        return self.stack.token(sub, "user", **kw)

    def service_token(self, **kw):
        return self.stack.token("platform", "service", **kw)

    def log_text(self, name="billingd.log"):
        return self.stack.read_log(name)

    def ensure_billingd(self):
        """Starts billingd again when a test stopped or killed it."""
        if self.stack.billingd is None or not self.stack.billingd.alive():
            self.stack.start_billingd()

    # -- assertions -----------------------------------------------------------

    def assertRequestId(self, resp):
        status, headers, _ = resp
        rid = headers.get("X-Request-Id")
        self.assertTrue(rid, "no X-Request-Id on a %d answer" % status)
        self.assertRegex(rid, SAFE_REQUEST_ID)
        return rid

    def assertErrorShape(self, resp, status, code):
        """The contract's error body and status, without the header checks."""
        got_status, headers, body = resp
        self.assertEqual(got_status, status, "body: %r" % (body,))
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"),
                        "Content-Type %r" % headers.get("Content-Type"))
        self.assertIsInstance(body, dict, "error body is not JSON: %r" % (body,))
        self.assertIn("error", body)
        err = body["error"]
        self.assertIsInstance(err, dict)
        self.assertEqual(err.get("code"), code, "body: %r" % (body,))
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"], "empty error message")
        return err

    def assertError(self, resp, status, code):
        """Status, {"error": {"code", "message"}} as JSON, and X-Request-Id."""
        err = self.assertErrorShape(resp, status, code)
        self.assertRequestId(resp)
        return err
