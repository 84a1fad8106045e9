#!/usr/bin/env python3
"""The web pages with 10,000 accounts (issue 15, "Speed"): the user page's
total on screen within 300 ms of navigation, an admin list within 100 ms,
the pages' own JavaScript and CSS under 100 KB together (Chart.js aside).

Starts its own stack (MariaDB, billingd with 2 workers, nginx serving the
checkout's web/, clock fixed at 2025-01-20T12:00:00Z) in a temporary
directory, seeds N accounts with bench/admin_lists.py's seed (a month of
daily usage each, invoices, credits), then:

  - Billing & Usage (/billing/) as one of them: time from navigation to the
    total (#total-cost) on screen, in headless chromium (bench/pages.mjs,
    playwright-core from tests/browser/node_modules), median of R runs,
    each in a fresh browser context (cold cache), and R reloads (warm);
  - Billing Management (/admin/billing/) as the admin: time to the accounts
    table's first row, the same way;
  - GET admin/users and admin/summary, the two calls the admin page makes
    first, through nginx (bench/admin_lists.py's timing: median of R after a
    warm-up);
  - the pages' own JS and CSS: every file under web/billing/assets/ (all
    three pages), and what each page actually loaded.

Needs chromium, node and tests/browser/node_modules (npm ci there), and the
programs built with the test clock.  Not part of scripts/test.

    python3 bench/pages.py [--accounts N] [--repeat R]
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lib import ROOT, CheckFailed, check, log, sql1, stackmod  # noqa: E402
import admin_lists  # noqa: E402  (its seed and its request timing)

NOW = "2025-01-20T12:00:00Z"
PAGE_MS = 300       # the user page's numbers on screen
LIST_MS = 100       # an admin list answers
ASSETS_KB = 100     # the pages' own JS + CSS together


def browser_times(st, user, repeat):
    node_modules = os.path.join(ROOT, "tests", "browser", "node_modules", "playwright-core")
    check(os.path.isdir(node_modules), "no %s: cd tests/browser && npm ci" % node_modules)
    env = dict(os.environ, PAGES_ORIGIN=st.base_url, PAGES_RUNS=str(repeat),
               PAGES_USER_TOKEN=st.token(user, "user", ttl=3600),
               PAGES_ADMIN_TOKEN=st.token("admin@example.com", "admin", ttl=3600))
    r = subprocess.run(["node", os.path.join(HERE, "pages.mjs")], env=env,
                       capture_output=True, text=True, timeout=900)
    check(r.returncode == 0, "bench/pages.mjs failed:\n%s%s" % (r.stdout, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def own_assets():
    files = [f for f in glob.glob(os.path.join(ROOT, "web", "billing", "assets", "*"))
             if f.endswith((".js", ".css"))]
    return sum(os.path.getsize(f) for f in files), len(files)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    var = tempfile.mkdtemp(prefix="billing-bench-pages-")
    st = stackmod.Stack(var, workers=2, env={"BILLING_NGINX_ACCESS_LOG": "off",
                                             "BILLING_TEST_NOW": NOW})
    try:
        st.start()
        t0 = time.perf_counter()
        admin_lists.seed(st, args.accounts)
        log("seeded %d accounts in %.1f s" % (args.accounts, time.perf_counter() - t0))
        user = "user-00042"
        check(int(sql1(st, "SELECT COUNT(*) FROM billing_accounts")) == args.accounts,
              "the accounts are not all there")
        admin = st.token("admin@example.com", "admin")
        api = {}
        for name, path in [("admin/users", "admin/users"), ("admin/summary", "admin/summary")]:
            api[name] = admin_lists.timed(st, admin, path, args.repeat)
        b = browser_times(st, user, args.repeat)
        check(not b["errors"], "the pages reported errors: %s" % b["errors"])
        total_bytes, nfiles = own_assets()
        loaded = b["assetBytes"]
        user_loaded = sum(v for k, v in loaded.items()
                          if not os.path.basename(k).startswith(("admin", "widget")))
        admin_loaded = sum(v for k, v in loaded.items()
                           if not os.path.basename(k).startswith(("billing", "widget")))

        med = statistics.median
        u, a = b["user"], b["admin"]
        rows = [
            ("/billing/: navigation to the total on screen, cold (%d runs; %s)"
             % (len(u["cold"]), u["text"]), med(u["cold"]), max(u["cold"]), PAGE_MS, "ms"),
            ("/billing/: the same, warm (reload, %d runs)" % len(u["warm"]),
             med(u["warm"]), max(u["warm"]), PAGE_MS, "ms"),
            ("/admin/billing/: navigation to the accounts' first row, cold",
             med(a["cold"]), max(a["cold"]), None, "ms"),
            ("/admin/billing/: the same, warm", med(a["warm"]), max(a["warm"]), None, "ms"),
            ("GET admin/users (first page of 50), through nginx",
             api["admin/users"][0], api["admin/users"][1], LIST_MS, "ms"),
            ("GET admin/summary, through nginx",
             api["admin/summary"][0], api["admin/summary"][1], LIST_MS, "ms"),
            ("own JS + CSS, all pages (%d files under web/billing/assets/)" % nfiles,
             total_bytes / 1024, None, ASSETS_KB, "KB"),
            ("own JS + CSS that /billing/ loads", user_loaded / 1024, None, ASSETS_KB, "KB"),
            ("own JS + CSS that /admin/billing/ loads", admin_loaded / 1024, None, ASSETS_KB,
             "KB"),
        ]
        print("\n%s accounts, clock %s, chromium headless, 2 billingd workers\n"
              % (format(args.accounts, ","), NOW))
        print("| measure | median | worst | target | verdict |")
        print("|---|---|---|---|---|")
        ok = True
        for name, m, worst, target, unit in rows:
            good = target is None or m < target
            ok = ok and good
            print("| %s | %.1f %s | %s | %s | %s |"
                  % (name, m, unit, "%.1f %s" % (worst, unit) if worst is not None else "",
                     "< %d %s" % (target, unit) if target else "(the API's below)",
                     verdict(good) if target else ""))
        for name, x in (("/billing/", u), ("/admin/billing/", a)):
            c = x["coldParts"]
            print("\n%s cold, medians: HTML received %.0f ms, DOMContentLoaded %.0f ms, "
                  "last API answer before the figure %.0f ms" % (name, c["html"], c["dom"],
                                                                 c["api"]), end="")
        print("\n\nAll targets: %s" % verdict(ok))
        return 0 if ok else 3
    except CheckFailed as e:
        log("bench/pages.py: %s" % e)
        return 1
    finally:
        st.stop()
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
