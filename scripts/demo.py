"""Demo data for the dev stack (scripts/run), never for a package.

A month of usage for the StreamSpace user "demo" (and a few other accounts,
so Billing Management has rows to filter), sent through the same hooks and
jobs the platform and cron use.  Every call is idempotent (fixed session
ids, the hooks' own idempotency, a manual invoice that answers 409 once it
exists), so running it at every start of scripts/run changes nothing the
second time but what the clock added.
"""

import datetime

DEMO_USER = "demo"
OTHERS = [("ada", "ada@example.com", "enterprise"),
          ("grace", "grace@example.com", "pro"),
          ("linus", "linus@example.com", "free")]


def _iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _call(stack, token, method, path, body, ok=(200, 201, 409)):
    status, _, answer = stack.request(method, path, body, token=token)
    if status not in ok:
        raise RuntimeError("demo seed: %s %s answered %d: %s" % (method, path, status, answer))
    return status, answer


def _days(user, start, now, days, service):
    """One working session a day, shaped by the day so the chart has a shape."""
    for back in range(days, 0, -1):
        day = (now - datetime.timedelta(days=back)).replace(hour=9, minute=0, second=0,
                                                           microsecond=0)
        n = day.day + len(user)
        hours = 2 + n % 7
        cores = (1, 2, 4)[n % 3]
        sid = "%s-%s" % (user, day.strftime("%Y%m%d"))
        end = day + datetime.timedelta(hours=hours)
        if day < start or end > now:
            continue
        yield sid, day, end, cores


def seed_demo(stack):
    """Seeds the demo accounts; returns the demo user's id."""
    service = stack.token("platform", "service")
    admin = stack.token("admin@example.com", "admin")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - datetime.timedelta(days=31)
    for user, email, plan in [(DEMO_USER, "demo@example.com", "pro")] + OTHERS:
        _call(stack, service, "POST", "hooks/user-created",
              {"user_id": user, "email": email, "plan_id": plan})
        for sid, began, ended, cores in _days(user, start, now, 30, service):
            _call(stack, service, "POST", "hooks/session-created",
                  {"session_id": sid, "user_id": user, "cpu_cores": cores,
                   "memory_gb": cores * 2, "storage_gb": 10, "started_at": _iso(began)})
            _call(stack, service, "POST", "hooks/session-terminated",
                  {"session_id": sid, "ended_at": _iso(ended)})
    # the demo user's persistent home, and a session running now
    _call(stack, service, "POST", "hooks/user-storage",
          {"user_id": DEMO_USER, "storage_gb": 20, "at": _iso(start)})
    live = "demo-live-%s" % now.strftime("%Y%m%d")
    _call(stack, service, "POST", "hooks/session-created",
          {"session_id": live, "user_id": DEMO_USER, "cpu_cores": 2, "memory_gb": 4,
           "storage_gb": 10})
    _call(stack, service, "POST", "hooks/session-heartbeat", {"session_id": live})
    stack.run_helper("billing-calculate-usage")
    # last calendar month invoiced (the dev invoice run acts on day 1 only)
    first = now.replace(day=1, hour=0, minute=0, second=0)
    prev = (first - datetime.timedelta(days=1)).replace(day=1)
    _call(stack, admin, "POST", "admin/invoices",
          {"user_id": DEMO_USER, "period_start": prev.strftime("%Y-%m-%d"),
           "period_end": (first - datetime.timedelta(days=1)).strftime("%Y-%m-%d")})
    status, credits = _call(stack, admin, "GET", "credits?user_id=" + DEMO_USER, None,
                            ok=(200, 404, 405))
    if status != 200 or not credits.get("credits"):
        _call(stack, admin, "POST", "admin/credits",
              {"user_id": DEMO_USER, "amount": "5.00", "reason": "Welcome credit",
               "expires_at": (now + datetime.timedelta(days=90)).strftime("%Y-%m-%d")})
    return DEMO_USER
