#!/usr/bin/env python3
"""Runs the integration suites: tests/integration/test_*.py.

    python3 tests/integration/run.py [FILTER]

FILTER, when given, keeps the modules whose name contains it (e.g. "auth").
Each suite starts its own MariaDB, billingd and nginx in a temporary
directory (KEEP_TEST_DIRS=1 keeps them).  The last line is the summary:

    integration: N passed, M failed, K skipped

Expected failures (known product bugs, marked @unittest.expectedFailure with
a "BUG:" comment) count as skipped and are listed on the line above it;
an unexpected success counts as a failure (the bug is fixed: drop the mark).
Errors, including a stack that fails to start, count as failures.  Exit
status 0 only when nothing failed.  Python 3.11 standard library only.
"""

import glob
import importlib
import os
import signal
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def stale_build_warning():
    """A warning when sources are newer than the daemon the suites run."""
    root = os.path.dirname(os.path.dirname(HERE))
    binary = os.path.join(root, "src", "billingd")
    try:
        built = os.path.getmtime(binary)
    except OSError:
        return "warning: %s is not built (run make)" % binary
    newer = [p for p in glob.glob(os.path.join(root, "src", "**", "*.[ch]"), recursive=True)
             if os.path.getmtime(p) > built]
    if newer:
        return ("warning: %d source file(s) newer than src/billingd (e.g. %s): run make"
                % (len(newer), os.path.relpath(newer[0], root)))
    return None


def discover(pattern):
    names = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(HERE, "test_*.py")))
    return [n for n in names if not pattern or pattern in n]


def test_id(test):
    tid = test.id() if hasattr(test, "id") else str(test)
    return tid


class CountingResult(unittest.TextTestResult):
    """Counts the successes itself: a failed setUpClass is an error that ran
    no test, so passes cannot be derived from testsRun."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.successes = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.successes.append(test)


def main(argv):
    pattern = argv[1] if len(argv) > 1 else ""
    # a SIGTERM to the runner still stops the stacks (base.py's atexit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    warning = stale_build_warning()
    if warning:
        print(warning, flush=True)
    modules = discover(pattern)
    if not modules:
        print("no integration suite matches %r" % pattern)
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
                                         resultclass=CountingResult)
        result = runner.run(suite)
        sys.stdout.flush()
        wall = time.monotonic() - t0
        timings.append((name, wall))

        n_fail = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        n_skip = len(result.skipped) + len(result.expectedFailures)
        # a class whose setUpClass failed ran none of its tests: its error counts
        n_pass = len(result.successes)
        passed += n_pass
        failed += n_fail
        skipped += n_skip
        expected += [test_id(t) for t, _ in result.expectedFailures]
        failed_ids += [test_id(t) for t, _ in result.failures + result.errors]
        failed_ids += ["%s (unexpected success)" % test_id(t)
                       for t in result.unexpectedSuccesses]
        print("suite %s: %.1f s wall, %d passed, %d failed, %d skipped"
              % (name, wall, n_pass, n_fail, n_skip), flush=True)

    print("=" * 70)
    for name, wall in timings:
        print("wall time %-20s %6.1f s" % (name, wall))
    print("wall time %-20s %6.1f s" % ("total", time.monotonic() - start_all))
    if failed_ids:
        print("failed: %s" % ", ".join(failed_ids))
    if expected:
        print("expected failures: %s" % ", ".join(expected))
    print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped),
          flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
