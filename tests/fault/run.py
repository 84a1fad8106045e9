#!/usr/bin/env python3
"""Runs the fault-injection suites: tests/fault/test_*.py.

    python3 tests/fault/run.py [FILTER]

FILTER, when given, keeps the modules whose name contains it.  A thin
runner over tests/integration/run.py (its result class and stale-build
warning) and tests/integration/base.py (one private MariaDB + billingd +
nginx per test class, KEEP_TEST_DIRS=1 keeps them).  The last line is:

    fault: N passed, M failed, K skipped

Expected failures (known product bugs, marked @unittest.expectedFailure with
a "BUG:" comment) count as skipped and are listed above it; an unexpected
success counts as a failure.  Exit status 0 only when nothing failed.
Python 3.11 standard library only.
"""

import glob
import importlib
import importlib.util
import os
import signal
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")


def load_integration_runner():
    """tests/integration/run.py under another name (this file is run.py too)."""
    spec = importlib.util.spec_from_file_location("integration_run",
                                                  os.path.join(INTEGRATION, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover(pattern):
    names = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(HERE, "test_*.py")))
    return [n for n in names if not pattern or pattern in n]


def main(argv):
    pattern = argv[1] if len(argv) > 1 else ""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, INTEGRATION)
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    irun = load_integration_runner()
    warning = irun.stale_build_warning()
    if warning:
        print(warning, flush=True)
    modules = discover(pattern)
    if not modules:
        print("no fault suite matches %r" % pattern)
    passed = failed = skipped = 0
    expected, failed_ids, timings = [], [], []
    start_all = time.monotonic()

    for name in modules:
        print("=" * 70)
        print("suite %s" % name)
        print("=" * 70, flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(name)
            suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            failed += 1
            failed_ids.append("%s (import)" % name)
            timings.append((name, time.monotonic() - t0))
            continue
        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                         resultclass=irun.CountingResult)
        result = runner.run(suite)
        sys.stdout.flush()
        wall = time.monotonic() - t0
        timings.append((name, wall))
        n_fail = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        n_skip = len(result.skipped) + len(result.expectedFailures)
        n_pass = len(result.successes)
        passed += n_pass
        failed += n_fail
        skipped += n_skip
        expected += [irun.test_id(t) for t, _ in result.expectedFailures]
        for t, tb in result.expectedFailures:
            # what the known bug looks like today, so that a failure for
            # another reason is seen
            last = [l for l in tb.strip().splitlines() if l.strip()][-1]
            print("expected failure %s: %s" % (irun.test_id(t), last[:300]))
        failed_ids += [irun.test_id(t) for t, _ in result.failures + result.errors]
        failed_ids += ["%s (unexpected success)" % irun.test_id(t)
                       for t in result.unexpectedSuccesses]
        print("suite %s: %.1f s wall, %d passed, %d failed, %d skipped"
              % (name, wall, n_pass, n_fail, n_skip), flush=True)

    print("=" * 70)
    for name, wall in timings:
        print("wall time %-24s %6.1f s" % (name, wall))
    print("wall time %-24s %6.1f s" % ("total", time.monotonic() - start_all))
    if failed_ids:
        print("failed: %s" % ", ".join(failed_ids))
    if expected:
        print("expected failures: %s" % ", ".join(expected))
    print("fault: %d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
