#!/usr/bin/env python3
"""Runs the browser tests: tests/browser/*.test.mjs in Debian's chromium.

    python3 tests/browser/run.py [PATTERN]

PATTERN, when given, keeps the test files whose name contains it (e.g.
"base").  Installs the pinned npm packages (npm ci) when node_modules is
missing, starts ONE stack for all of them (MariaDB, billingd, nginx serving
web/, and the Stripe stand-in, with Stripe enabled on a test key) on the
fixed clock BILLING_TEST_NOW=2027-03-15T12:00:00Z, and runs node's own test
runner on the files, one at a time, with:

    BILLING_ORIGIN       http://127.0.0.1:PORT (pages and API, one origin)
    BILLING_JWT_SECRET   to mint tokens (lib/harness.mjs token())
    BILLING_TEST_NOW     the stack's clock
    STRIPE_STANDIN_URL   the stand-in (its controls under /_standin/)
    BILLING_ARTIFACTS    tests/browser/artifacts/ (screenshots, kept)
    BILLING_WIDGET_FRAME_ORIGIN  an origin in widgetFrameAncestors (another
                         port of 127.0.0.1, where nothing listens)

The last line is the summary: "browser: N passed, M failed".  Exit status
0 only when nothing failed.  KEEP_TEST_DIRS=1 keeps the stack's directory.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(HERE))
sys.dont_write_bytecode = True

from stack import Stack, free_port, dev_config_overrides  # noqa: E402  (scripts/stack.py)
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)

NOW = "2027-03-15T12:00:00Z"
STRIPE_KEY = "sk_test_browser_" + "x" * 24
ARTIFACTS = os.path.join(HERE, "artifacts")


def summary(passed, failed):
    print("browser: %d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


def node_version():
    out = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    m = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def npm_ci():
    if os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")) and \
            os.path.isdir(os.path.join(HERE, "node_modules", "axe-core")):
        return True
    print("npm ci (tests/browser/package-lock.json)", flush=True)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE)
    return r.returncode == 0


def tap_counts(path):
    """(passed, failed) from the TAP report's closing comments."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"# (pass|fail|cancelled) (\d+)", line)
                if m:
                    counts[m.group(1)] = int(m.group(2))
    except OSError:
        return None
    if "pass" not in counts:
        return None
    return counts["pass"], counts.get("fail", 0) + counts.get("cancelled", 0)


def main(argv):
    pattern = argv[1] if len(argv) > 1 else ""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    files = sorted(p for p in glob.glob(os.path.join(HERE, "*.test.mjs"))
                   if pattern in os.path.basename(p))
    if not files:
        print("no browser test matches %r" % pattern)
        return summary(0, 1 if pattern else 0)
    for prog in ("node", "npm", "chromium"):
        if shutil.which(prog) is None:
            print("%s is not on PATH (scripts/test installs it)" % prog, flush=True)
            return summary(0, 1)
    version = node_version()
    if version < (20, 0):
        print("node %d.%d is too old: playwright-core needs 20 or newer" % version, flush=True)
        return summary(0, 1)
    if not npm_ci():
        print("npm ci failed", flush=True)
        return summary(0, 1)

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    os.makedirs(ARTIFACTS, exist_ok=True)
    var = tempfile.mkdtemp(prefix="billing-browser-")
    frame_origin = "http://127.0.0.1:%d" % free_port()
    standin = Standin(secret_key=STRIPE_KEY).start()
    stack = Stack(var, workers=2,
                  # vat20 (no account pays it until an admin gives it one):
                  # for the billing-details and tax tests of both pages
                  config_overrides={"widgetFrameAncestors": [frame_origin],
                                    "taxRates": dev_config_overrides()["taxRates"]},
                  env={"BILLING_TEST_NOW": NOW, "STRIPE_API_BASE": standin.url,
                       "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_TIMEOUT_SECONDS": "5"})
    report = os.path.join(var, "report.tap")
    rc = 1
    try:
        try:
            stack.start()
        except Exception as e:  # noqa: BLE001  (a stack that does not start is a failure)
            print("the stack did not start: %s" % e, flush=True)
            return summary(0, 1)
        env = dict(os.environ)
        env.update({
            "BILLING_ORIGIN": stack.base_url,
            "BILLING_JWT_SECRET": stack.jwt_secret,
            "BILLING_TEST_NOW": NOW,
            "STRIPE_STANDIN_URL": standin.url,
            "BILLING_ARTIFACTS": ARTIFACTS,
            "BILLING_WIDGET_FRAME_ORIGIN": frame_origin,
            "BILLING_STACK_VAR": var,
        })
        argv = ["node", "--test", "--test-reporter=spec", "--test-reporter-destination=stdout",
                "--test-reporter=tap", "--test-reporter-destination=" + report]
        if version >= (20, 10):
            argv.append("--test-concurrency=1")
        if version >= (20, 11):
            argv.append("--test-timeout=180000")
        argv += [os.path.basename(f) for f in files]
        print("stack: %s (var %s); stand-in %s; clock %s" % (stack.base_url, var,
                                                               standin.url, NOW), flush=True)
        r = subprocess.run(argv, cwd=HERE, env=env)
        counts = tap_counts(report)
        if counts is None:
            print("node --test wrote no report (exit %d)" % r.returncode, flush=True)
            counts = (0, 1)
        passed, failed = counts
        if r.returncode != 0 and failed == 0:
            failed = 1  # e.g. a file that failed to load
        print("screenshots: %s" % ARTIFACTS, flush=True)
        rc = summary(passed, failed)
        if failed:
            print("logs: %s (billingd.log, nginx-error.log)" % var, flush=True)
    finally:
        stack.stop()
        standin.stop()
        if os.environ.get("KEEP_TEST_DIRS") == "1" or rc != 0:
            print("kept %s" % var, flush=True)
        else:
            shutil.rmtree(var, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
