"""Plans, quotas and suspension (docs/billing.md): the quota job
(billing-check-quotas), its events in the outbox once per crossing,
suspension after the grace period and resumption, the platform's signed
notice, and GET/POST subscription.

billingd runs at a fixed instant (BILLING_TEST_NOW); the job is run at
later instants to let grace periods pass.
"""

import http.server
import json
import subprocess
import threading
from datetime import datetime, timedelta, timezone

from base import StackTestCase

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


class Receiver(http.server.ThreadingHTTPServer):
    """Records the POSTs the platform would get."""

    def __init__(self):
        self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(h):
                body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
                self.posts.append((dict(h.headers), body))
                h.send_response(204)
                h.end_headers()

            def log_message(h, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


RECEIVER = Receiver()
EVENTS_SECRET = "evsec_" + "3" * 40


class QuotaTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": iso(T0), "BILLING_EVENTS_WEBHOOK_SECRET": EVENTS_SECRET}
    config_overrides = {
        "autoSuspendOnOverage": True, "gracePeriodDays": 7, "alertThreshold": 80,
        "platformSuspendUrl": "http://127.0.0.1:%d/suspend" % RECEIVER.server_address[1],
    }

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def tok(self, sub, role="user"):
        return self.stack.token(sub, role, now=int(T0.timestamp()))

    def hook(self, name, body, expect=(200, 201)):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.tok("platform", "service"))
        self.assertIn(status, expect, resp)
        return status, resp

    def check(self, at=T0):
        # sessions stay alive: the platform keeps sending heartbeats
        self.sql("UPDATE billing_sessions SET last_heartbeat_at = '%s' WHERE ended_at IS NULL"
                 % dbt(at - timedelta(minutes=1)))
        return self.stack.run_helper("billing-check-quotas",
                                     env={"BILLING_TEST_NOW": iso(at)})

    def events(self, user, kind=None):
        rows = self.sql(
            "SELECT e.type, e.payload FROM billing_events e JOIN billing_accounts a "
            "ON a.id = e.account_id WHERE a.user_id = '%s' AND e.type LIKE 'billing.%s%%' "
            "ORDER BY e.id" % (user, kind or ""))
        return [(t, json.loads(p)) for t, p in rows]

    def pro_user(self, user):
        self.hook("user-created", {"user_id": user, "plan_id": "pro"})

    def start(self, user, sid, cores, mem=1):
        self.hook("session-created", {"session_id": sid, "user_id": user,
                                      "cpu_cores": cores, "memory_gb": mem,
                                      "storage_gb": 0, "started_at": iso(T0 - timedelta(hours=1))})

    def resize(self, sid, cores):
        self.hook("session-heartbeat", {"session_id": sid, "at": iso(T0), "cpu_cores": cores})

    def test_pro_account_at_7_of_8_cores_gets_exactly_one_warning(self):
        self.pro_user("warn@example.com")
        self.start("warn@example.com", "warn-1", 7)
        self.check()
        self.check()
        evs = self.events("warn@example.com", "quota")
        self.assertEqual([t for t, _ in evs], ["billing.quota.warning"])
        data = evs[0][1]["data"]
        self.assertEqual((data["resource_type"], data["in_use"], data["limit"], data["percent"]),
                         ("cpu", 7, 8, 87.5))
        self.assertEqual(evs[0][1]["type"], "billing.quota.warning")

    def test_crossings_up_and_down_give_one_event_each(self):
        self.pro_user("cross@example.com")
        self.start("cross@example.com", "cross-1", 7)
        self.check()
        self.resize("cross-1", 9)          # above 100 %: exceeded
        self.check()
        self.check()
        self.resize("cross-1", 4)          # back under: re-armed, no event
        self.check()
        self.resize("cross-1", 7)          # warning again: a new event
        self.check()
        self.assertEqual([t for t, _ in self.events("cross@example.com", "quota")],
                         ["billing.quota.warning", "billing.quota.exceeded",
                          "billing.quota.warning"])
        [[level, seq]] = self.sql(
            "SELECT q.level, q.crossing_seq FROM billing_quota_state q JOIN billing_accounts a "
            "ON a.id = q.account_id WHERE a.user_id = 'cross@example.com' "
            "AND q.resource_type = 'cpu'")
        self.assertEqual(level, "warning")

    def test_stale_and_ended_sessions_do_not_count(self):
        self.pro_user("stale@example.com")
        self.start("stale@example.com", "stale-1", 7)
        self.sql("UPDATE billing_sessions SET last_heartbeat_at = '%s' "
                 "WHERE session_id = 'stale-1'" % dbt(T0 - timedelta(hours=1)))
        r = self.stack.run_helper("billing-check-quotas", env={"BILLING_TEST_NOW": iso(T0)})
        self.assertEqual(r.returncode, 0)
        self.assertEqual(self.events("stale@example.com", "quota"), [])

    def test_overage_suspends_after_the_grace_period_and_resumes(self):
        user = "over@example.com"
        self.pro_user(user)
        self.start(user, "over-1", 10)
        self.check(T0)
        self.check(T0 + timedelta(days=6, hours=23))
        self.assertEqual(self.sql("SELECT status FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["active"]])
        before = len(RECEIVER.posts)
        self.check(T0 + timedelta(days=7))
        self.assertEqual(self.sql("SELECT status, suspension_reason FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user), [["suspended", "overage"]])
        self.assertEqual([t for t, _ in self.events(user, "account")],
                         ["billing.account.suspended"])
        # the platform was told once, signed like our events
        posts = RECEIVER.posts[before:]
        self.assertEqual(len(posts), 1)
        headers, body = posts[0]
        self.assertEqual(json.loads(body)["status"], "suspended")
        sig = dict(p.split("=", 1) for p in headers["Billing-Signature"].split(","))
        mac = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", EVENTS_SECRET],
                             input=sig["t"].encode() + b"." + body, capture_output=True,
                             check=True).stdout.decode().split()[-1]
        self.assertEqual(sig["v1"], mac)
        # while suspended, no new session starts
        status, resp = self.hook("session-created", {
            "session_id": "over-2", "user_id": user, "cpu_cores": 1, "memory_gb": 1,
            "storage_gb": 0}, expect=(403,))
        self.assertEqual(resp["error"]["code"], "account_suspended")
        # a rerun neither suspends again nor tells the platform again
        self.check(T0 + timedelta(days=7, hours=1))
        self.assertEqual(len(RECEIVER.posts), before + 1)
        # the cause goes: a plan that covers the 10 cores; the account resumes
        self.sql("UPDATE billing_accounts SET plan_id = 'enterprise' WHERE user_id = '%s'"
                 % user)
        self.check(T0 + timedelta(days=7, hours=2))
        self.assertEqual(self.sql("SELECT status FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["active"]])
        self.assertEqual([t for t, _ in self.events(user, "account")],
                         ["billing.account.suspended", "billing.account.resumed"])
        self.assertEqual(json.loads(RECEIVER.posts[-1][1])["status"], "active")

    def test_sessions_ended_by_the_suspension_do_not_lift_it(self):
        """The platform ends the sessions of a suspended account: that is the
        suspension's effect, not the cause gone.  Runs in a row keep one
        suspension (no suspend/resume cycles, no new grace period); a plan
        that covers the usage lifts it."""
        user = "flap@example.com"
        self.pro_user(user)
        self.start(user, "flap-1", 10)
        self.check(T0)
        self.check(T0 + timedelta(days=7))
        suspended_at = T0 + timedelta(days=7)
        # the platform ends the session then (billingd's clock stands at T0,
        # so the end is written as session-terminated would at that instant)
        self.sql("UPDATE billing_sessions SET ended_at = '%s' WHERE session_id = 'flap-1'"
                 % dbt(suspended_at))
        for hours in (1, 2, 3, 4):
            self.check(suspended_at + timedelta(hours=hours))
            self.assertEqual(self.sql("SELECT status, suspension_reason FROM billing_accounts "
                                      "WHERE user_id = '%s'" % user),
                             [["suspended", "overage"]], hours)
        self.assertEqual([t for t, _ in self.events(user, "account")],
                         ["billing.account.suspended"])
        # the overage stretch still dates from T0: not restarted by the effect
        self.assertEqual(self.sql(
            "SELECT q.exceeded_since FROM billing_quota_state q JOIN billing_accounts a "
            "ON a.id = q.account_id WHERE a.user_id = '%s' AND q.resource_type = 'cpu'"
            % user), [[T0.strftime("%Y-%m-%d %H:%M:%S.000000")]])
        # the cause goes: the plan now covers 10 cores
        self.sql("UPDATE billing_accounts SET plan_id = 'enterprise' WHERE user_id = '%s'"
                 % user)
        self.check(suspended_at + timedelta(hours=5))
        self.assertEqual(self.sql("SELECT status FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["active"]])
        self.assertEqual([t for t, _ in self.events(user, "account")],
                         ["billing.account.suspended", "billing.account.resumed"])

    def test_payment_failing_for_the_grace_period_suspends(self):
        user = "unpaid@example.com"
        self.hook("user-created", {"user_id": user})
        self.sql("UPDATE billing_accounts SET payment_failed_at = '%s' WHERE user_id = '%s'"
                 % (dbt(T0 - timedelta(days=8)), user))
        self.check()
        self.assertEqual(self.sql("SELECT status, suspension_reason FROM billing_accounts "
                                  "WHERE user_id = '%s'" % user), [["suspended", "payment_failed"]])
        # paid (the webhook clears it): resumed
        self.sql("UPDATE billing_accounts SET payment_failed_at = NULL WHERE user_id = '%s'" % user)
        self.check()
        self.assertEqual(self.sql("SELECT status FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["active"]])

    def test_plan_change_moves_the_quota(self):
        user = "plan@example.com"
        self.pro_user(user)
        self.start(user, "plan-1", 3)
        self.check()
        self.assertEqual(self.events(user, "quota"), [])
        # down to the free plan (2 cores): 3 cores is now above the limit
        status, _, sub = self.request("POST", "subscription", body={"plan_id": "free"},
                                      token=self.tok(user))
        self.assertEqual(status, 200, sub)
        self.assertEqual(sub["plan"]["id"], "free")
        self.check()
        self.assertEqual([t for t, _ in self.events(user, "quota")], ["billing.quota.exceeded"])
        status, _, usage = self.request("GET", "usage", token=self.tok(user))
        self.assertEqual(usage["quota"]["cpu"]["percent"], 150.0)

    def test_subscription_shows_the_default_plan_without_a_subscription(self):
        status, _, sub = self.request("GET", "subscription", token=self.tok("new@example.com"))
        self.assertEqual(status, 200, sub)
        self.assertEqual(sub["plan"]["id"], "free")
        self.assertEqual((sub["status"], sub["source"]), ("active", "default"))
        self.assertFalse(sub["cancel_at_period_end"])
        self.assertEqual(sub["current_period_start"], "2025-03-01T00:00:00Z")

    def test_subscription_changes_validate_and_paid_plans_need_stripe(self):
        tok = self.tok("sub@example.com")
        for body, param in (({"plan_id": "gold"}, "plan_id"), ({}, "plan_id"),
                            ({"plan_id": "free", "cancel": True}, "cancel"),
                            ({"plan": "free"}, "plan")):
            status, _, resp = self.request("POST", "subscription", body=body, token=tok)
            self.assertEqual(status, 400, (body, resp))
            self.assertEqual(resp["error"]["param"], param)
        status, _, resp = self.request("POST", "subscription", body={"cancel": True}, token=tok)
        self.assertEqual(status, 409, resp)
        # no Stripe key in this stack: a paid plan cannot be bought
        status, _, resp = self.request("POST", "subscription", body={"plan_id": "pro"},
                                       token=tok)
        self.assertEqual(status, 503, resp)
        self.assertEqual(resp["error"]["code"], "unavailable")

    def test_jobs_api_runs_the_quota_check(self):
        status, _, body = self.request("POST", "jobs/check-quotas",
                                       token=self.tok("admin@example.com", "admin"))
        self.assertEqual(status, 200, body)
        self.assertIn("accounts checked", body["message"])
