"""The API additions of the web pages (docs/api.md): GET plans, GET credits,
GET payments, GET admin/users' filters, GET admin/summary, GET
admin/invoices, GET admin/events' filters and POST billing-portal.

Numbers are read from the JSON text as Decimal, so "29.99" is checked as
written.  Times come from the suites' clock (base.clock_utc).
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from decimal import Decimal

from base import StackTestCase, clock_utc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_stripe  # noqa: E402  (its StripeCase: a stack on the stand-in)


class Helpers:
    """What every class here uses; mixed into a StackTestCase."""

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def uid(self, prefix="u"):
        return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:12])

    def get(self, path, query=None, token=None):
        """(status, body) with non-integer numbers as Decimal."""
        url = self.stack.api + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, headers={
            "Authorization": "Bearer " + (token or self.stack.token(
                "admin@example.com", "admin"))})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        return status, json.loads(text, parse_float=Decimal)

    def ok(self, path, query=None, token=None):
        status, body = self.get(path, query, token)
        self.assertEqual(status, 200, body)
        return body

    def bad(self, path, query, param, token=None, status=400):
        got, body = self.get(path, query, token)
        self.assertEqual(got, status, body)
        self.assertEqual(body["error"]["code"],
                         "invalid_argument" if status == 400 else "forbidden")
        if param is not None:
            self.assertEqual(body["error"].get("param"), param, body)
        return body

    def user(self, prefix="u", **extra):
        user = self.uid(prefix)
        body = {"user_id": user, "email": user}
        body.update(extra)
        status, _, resp = self.request("POST", "hooks/user-created", body=body,
                                       token=self.service_token())
        self.assertEqual(status, 201, resp)
        return user

    def account_id(self, user):
        return int(self.sql("SELECT id FROM billing_accounts WHERE user_id = '%s'"
                            % user)[0][0])

    def walk(self, path, key, query, token=None):
        """Every item of every page."""
        items, cursor = [], None
        for _ in range(1000):
            q = dict(query)
            if cursor:
                q["cursor"] = cursor
            body = self.ok(path, q, token)
            self.assertEqual(set(body) - {"currency"}, {key, "next_cursor"})
            items += body[key]
            cursor = body["next_cursor"]
            if cursor is None:
                return items
        self.fail("the cursor never ended")

    def paging_errors(self, path, token=None):
        self.bad(path, {"limit": "0"}, "limit", token)
        self.bad(path, {"limit": "501"}, "limit", token)
        self.bad(path, {"limit": "x"}, "limit", token)
        self.bad(path, {"cursor": "abc"}, "cursor", token)


class WebApiTest(Helpers, StackTestCase):

    # -- GET plans -------------------------------------------------------------

    def test_plans_lists_the_configured_plans_with_the_current_one(self):
        user = self.user("plan", plan_id="pro")
        body = self.ok("plans", token=self.user_token(user))
        self.assertEqual(set(body), {"plans", "current_plan_id", "currency"})
        self.assertEqual(body["current_plan_id"], "pro")
        self.assertEqual(body["currency"], "usd")
        self.assertEqual([p["id"] for p in body["plans"]], ["free", "pro", "enterprise"])
        pro = body["plans"][1]
        self.assertEqual(pro, {"id": "pro", "name": "Professional", "price": Decimal("29.99"),
                               "currency": "usd", "interval": "month", "cpu_limit": 8,
                               "memory_limit": 16, "storage_limit": 100,
                               # Stripe is off in this stack: only free plans can be had
                               "purchasable": False, "current": True})
        self.assertEqual(str(body["plans"][0]["price"]), "0.00")
        self.assertTrue(body["plans"][0]["purchasable"])
        self.assertFalse(body["plans"][0]["current"])
        self.assertEqual([p["current"] for p in body["plans"]], [False, True, False])

    def test_plans_of_an_unknown_user_is_the_default_plan(self):
        body = self.ok("plans", token=self.user_token(self.uid("nobody")))
        self.assertEqual(body["current_plan_id"], "free")
        self.assertEqual([p["current"] for p in body["plans"]], [True, False, False])

    def test_plans_for_another_user(self):
        user = self.user("planadm", plan_id="enterprise")
        self.assertEqual(self.ok("plans", {"user_id": user})["current_plan_id"], "enterprise")
        op = self.stack.token("op@example.com", "operator")
        self.assertEqual(self.ok("plans", {"user_id": user}, op)["current_plan_id"],
                         "enterprise")
        self.bad("plans", {"user_id": user}, "user_id", self.user_token("eve@example.com"),
                 status=403)
        self.bad("plans", {"user_id": " x"}, "user_id")
        status, _, body = self.request("GET", "plans")
        self.assertEqual(status, 401, body)

    # -- GET credits -----------------------------------------------------------

    def grant(self, user, amount, reason, expires_at=None):
        body = {"user_id": user, "amount": amount, "reason": reason}
        if expires_at:
            body["expires_at"] = expires_at
        status, _, resp = self.request("POST", "admin/credits", body=body,
                                       token=self.admin_token())
        self.assertEqual(status, 201, resp)
        return resp["id"]

    def test_credits_newest_first_with_their_state(self):
        user = self.user("cred")
        tomorrow = (clock_utc() + timedelta(days=1)).date().isoformat()
        a = self.grant(user, "10.00", "first")
        b = self.grant(user, "5.50", "second", tomorrow)
        c = self.grant(user, "3.00", "third")
        # b has expired by now; c was used up; a partly
        self.sql("UPDATE billing_credits SET expires_at = '2020-01-01' WHERE id = %d" % b)
        self.sql("UPDATE billing_credits SET remaining = 0 WHERE id = %d" % c)
        self.sql("UPDATE billing_credits SET remaining = 2.25 WHERE id = %d" % a)
        body = self.ok("credits", token=self.user_token(user))
        self.assertEqual(set(body), {"credits", "next_cursor"})
        self.assertIsNone(body["next_cursor"])
        got = body["credits"]
        self.assertEqual([x["id"] for x in got], [c, b, a])
        self.assertEqual(got[2], {
            "id": a, "user_id": user, "amount": Decimal("10.00"),
            "remaining": Decimal("2.25"), "used": Decimal("7.75"), "currency": "usd",
            "reason": "first", "expires_at": None, "created_at": got[2]["created_at"],
            "created_by": "admin@example.com", "expired": False, "state": "available"})
        self.assertEqual(str(got[2]["amount"]), "10.00")
        self.assertEqual((got[1]["state"], got[1]["expired"], str(got[1]["remaining"])),
                         ("expired", True, "5.50"))
        self.assertEqual(got[1]["expires_at"], "2020-01-01T00:00:00Z")
        self.assertEqual((got[0]["state"], got[0]["expired"], str(got[0]["used"])),
                         ("used", False, "3.00"))

    def test_credits_pages(self):
        user = self.user("credp")
        ids = [self.grant(user, "1.00", "c%d" % i) for i in range(5)]
        tok = self.user_token(user)
        first = self.ok("credits", {"limit": 2}, tok)
        self.assertEqual([x["id"] for x in first["credits"]], ids[::-1][:2])
        self.assertEqual(first["next_cursor"], str(ids[3]))
        seen = self.walk("credits", "credits", {"limit": 2}, tok)
        self.assertEqual([x["id"] for x in seen], ids[::-1])
        self.paging_errors("credits", tok)
        self.bad("credits", {"cursor": "0"}, "cursor", tok)

    def test_credits_of_another_user(self):
        user = self.user("credo")
        cid = self.grant(user, "2.00", "for them")
        self.assertEqual([x["id"] for x in self.ok("credits", {"user_id": user})["credits"]],
                         [cid])
        op = self.stack.token("op@example.com", "operator")
        self.assertEqual(len(self.ok("credits", {"user_id": user}, op)["credits"]), 1)
        self.bad("credits", {"user_id": user}, "user_id", self.user_token("eve@example.com"),
                 status=403)
        self.assertEqual(self.ok("credits", token=self.user_token("eve@example.com")),
                         {"credits": [], "next_cursor": None})
        # writing stays an admin's
        status, _, resp = self.request("POST", "credits", body={
            "user_id": user, "amount": 1, "reason": "x"}, token=op)
        self.assertEqual(status, 403, resp)

    # -- GET payments ----------------------------------------------------------

    def invoice(self, acct, status, total, month, number=None, created=None):
        """An invoice row of the account (period: month of 2020)."""
        self.sql("INSERT INTO billing_invoices (account_id, invoice_number, period_start, "
                 "period_end, billing_mode, currency, subtotal, total, status, due_date, "
                 "created_at) VALUES (%d, %s, '2020-%02d-01', '2020-%02d-28', 'usage', 'usd', "
                 "%s, %s, '%s', '2020-%02d-28', '%s')"
                 % (acct, "'%s'" % number if number else "NULL", month, month, total, total,
                    status, month, created or "2020-%02d-28" % month))
        return int(self.sql("SELECT MAX(id) FROM billing_invoices")[0][0])

    def payment(self, acct, inv, amount, status, method, created, pi=None, failure=None):
        self.sql("INSERT INTO billing_payments (account_id, invoice_id, amount, currency, "
                 "status, method, stripe_payment_intent_id, failure_message, idempotency_key, "
                 "created_at) VALUES (%d, %s, %s, 'usd', '%s', '%s', %s, %s, '%s', '%s')"
                 % (acct, inv or "NULL", amount, status, method,
                    "'%s'" % pi if pi else "NULL", "'%s'" % failure if failure else "NULL",
                    uuid.uuid4().hex, created))
        return int(self.sql("SELECT MAX(id) FROM billing_payments")[0][0])

    def test_payments_history_newest_first(self):
        user = self.user("pay")
        acct = self.account_id(user)
        num = "INV-2020-%06d" % (acct % 1000000)
        inv = self.invoice(acct, "paid", "12.34", 1, number=num)
        failed = self.payment(acct, inv, "12.34", "failed", "stripe", "2020-02-01 10:00:00",
                              pi="pi_1", failure="Your card was declined.")
        paid = self.payment(acct, inv, "12.34", "succeeded", "stripe", "2020-02-02 10:00:00",
                            pi="pi_1")
        manual = self.payment(acct, None, "5.00", "succeeded", "manual",
                              "2020-03-01 00:00:00")
        body = self.ok("payments", token=self.user_token(user))
        self.assertEqual(set(body), {"payments", "next_cursor"})
        got = body["payments"]
        self.assertEqual([p["id"] for p in got], [manual, paid, failed])
        self.assertEqual(got[1], {
            "id": paid, "amount": Decimal("12.34"), "currency": "usd", "status": "succeeded",
            "method": "stripe", "invoice_id": inv, "invoice_number": num,
            "stripe_payment_intent_id": "pi_1", "failure_message": None,
            "paid_at": "2020-02-02T10:00:00Z", "created_at": "2020-02-02T10:00:00Z"})
        self.assertEqual(str(got[1]["amount"]), "12.34")
        self.assertEqual((got[2]["status"], got[2]["paid_at"], got[2]["failure_message"]),
                         ("failed", None, "Your card was declined."))
        self.assertEqual((got[0]["invoice_id"], got[0]["invoice_number"], got[0]["method"]),
                         (None, None, "manual"))
        # pages, another user's, errors
        first = self.ok("payments", {"limit": 2}, self.user_token(user))
        self.assertEqual(first["next_cursor"], str(paid))
        rest = self.ok("payments", {"limit": 2, "cursor": first["next_cursor"]},
                       self.user_token(user))
        self.assertEqual(([p["id"] for p in rest["payments"]], rest["next_cursor"]),
                         ([failed], None))
        self.assertEqual(len(self.ok("payments", {"user_id": user})["payments"]), 3)
        self.assertEqual(self.ok("payments", token=self.user_token("eve@example.com")),
                         {"payments": [], "next_cursor": None})
        self.bad("payments", {"user_id": user}, "user_id",
                 self.user_token("eve@example.com"), status=403)
        self.paging_errors("payments", self.user_token(user))

    def test_a_manual_mark_paid_shows_in_the_history(self):
        user = self.user("paym")
        status, _, inv = self.request("POST", "admin/invoices", body={
            "user_id": user, "period_start": "2021-01-01", "period_end": "2021-01-31"},
            token=self.admin_token())
        self.assertEqual(status, 201, inv)
        status, _, resp = self.request("PATCH", "admin/invoices/%d" % inv["id"],
                                       body={"status": "paid"}, token=self.admin_token())
        self.assertEqual(status, 200, resp)
        got = self.ok("payments", token=self.user_token(user))["payments"]
        self.assertEqual(len(got), 1, got)
        self.assertEqual((got[0]["method"], got[0]["status"], got[0]["invoice_id"],
                          got[0]["invoice_number"]),
                         ("manual", "succeeded", inv["id"], inv["invoice_number"]))


class WebApiStripeTest(Helpers, test_stripe.StripeCase):
    """GET plans and POST billing-portal against the Stripe stand-in."""

    config_overrides = {"checkoutReturnOrigins": ["https://app.example.com"]}

    def customer(self, user):
        """The user's Stripe customer, made as Checkout makes it."""
        status, _, body = self.request("POST", "create-checkout", body={"plan_id": "pro"},
                                       token=self.user_token(user))
        self.assertEqual(status, 200, body)
        self.standin.clear_requests()
        return self.account(user)[1]

    def portal(self, user, body=None, **kw):
        return self.request("POST", "billing-portal", body=body,
                            token=self.user_token(user), **kw)

    def test_paid_plans_are_purchasable_with_stripe(self):
        body = self.ok("plans", token=self.user_token(self.uid("pp")))
        self.assertEqual([(p["id"], p["purchasable"]) for p in body["plans"]],
                         [("free", True), ("pro", True), ("enterprise", True)])

    def test_portal_session_for_the_callers_customer(self):
        user = self.uid("portal")
        cus = self.customer(user)
        status, _, body = self.portal(user)
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"url"})
        posts = self.posts("/v1/billing_portal/sessions")
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]["form"], {"customer": cus,
                                            "return_url": self.stack.base_url + "/billing/"})
        self.assertRegex(posts[0]["headers"]["Idempotency-Key"], r"^portal-\d+-\d+-[0-9a-f]{16}$")
        made = self.standin.objects("billing_portal_sessions")
        self.assertEqual([s["url"] for s in made if s["customer"] == cus], [body["url"]])
        self.assertRegex(body["url"], r"^https://billing\.stripe\.com/p/session/bps_")
        # a given return_url, on an allowed origin, reaches Stripe unchanged
        self.standin.clear_requests()
        status, _, body = self.portal(user, {"return_url": "https://app.example.com/b?x=1"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.posts("/v1/billing_portal/sessions")[0]["form"]["return_url"],
                         "https://app.example.com/b?x=1")
        # {} is the same as no body
        status, _, body = self.portal(user, {})
        self.assertEqual(status, 200, body)

    def test_portal_without_a_customer_is_409_and_makes_none(self):
        user = self.user("nocus")
        self.assertError(self.portal(user), 409, "conflict")
        self.assertError(self.portal(self.uid("unknown")), 409, "conflict")
        self.assertEqual(self.standin.requests(), [])
        self.assertEqual(self.account(user)[1], "")

    def test_portal_return_url_is_checked_like_checkouts(self):
        user = self.uid("portalbad")
        self.customer(user)
        for value in ("https://evil.example.net/", "javascript:alert(1)", "ftp://x/",
                      "https://app.example.com/a b", 7, "", "https://" + "a" * 2050):
            err = self.assertError(self.portal(user, {"return_url": value}), 400,
                                   "invalid_argument")
            self.assertEqual(err.get("param"), "return_url", (value, err))
        err = self.assertError(self.portal(user, {"url": "https://app.example.com/"}), 400,
                               "invalid_argument")
        self.assertEqual(err.get("param"), "url")
        self.assertError(self.portal(user, raw=b"not json"), 400, "invalid_json")
        self.assertEqual(self.standin.requests(), [], "nothing may reach Stripe")

    def test_stripe_refusing_is_502_and_down_is_503(self):
        user = self.uid("portalfault")
        self.customer(user)
        self.standin.fault("400", path="/v1/billing_portal/sessions",
                           message="No configuration provided")
        self.assertError(self.portal(user), 502, "stripe_error")
        self.standin.fault("500", path="/v1/billing_portal/sessions", count=10)
        self.assertError(self.portal(user), 503, "unavailable")


class WebApiStripeOffTest(Helpers, StackTestCase):
    """Stripe not configured: the portal is unavailable, as checkout is."""

    def test_portal_is_503_without_stripe(self):
        user = self.user("off")
        status, _, body = self.request("POST", "billing-portal", body={},
                                       token=self.user_token(user))
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "unavailable")


class AdminListsTest(Helpers, StackTestCase):
    """admin/users' filters, admin/invoices, admin/events' user filter."""

    def test_users_q_is_a_prefix_of_user_id_or_email(self):
        tag = uuid.uuid4().hex[:8]
        a = "qa%s-x@example.com" % tag
        b = "qb%s_y@example.com" % tag
        self.request("POST", "hooks/user-created", body={"user_id": a},
                     token=self.service_token())
        self.request("POST", "hooks/user-created",
                     body={"user_id": b, "email": "mail%s@corp.example" % tag},
                     token=self.service_token())
        ids = lambda q: [u["user_id"] for u in self.walk("admin/users", "users",
                                                          dict(q, limit=1))]
        self.assertEqual(ids({"q": "qa" + tag}), [a])
        self.assertEqual(ids({"q": "q"})[-2:], [a, b])
        self.assertEqual(ids({"q": "mail" + tag}), [b])
        self.assertEqual(ids({"q": "qb%s_y" % tag}), [b])
        # LIKE's characters match only themselves
        self.assertEqual(ids({"q": "qb%s%%" % tag}), [])
        self.assertEqual(ids({"q": "q_%s" % tag}), [])
        self.assertEqual(ids({"q": "x" + tag}), [])
        op = self.stack.token("op@example.com", "operator")
        self.assertEqual([u["user_id"] for u in self.ok("admin/users", {"q": "qa" + tag},
                                                          op)["users"]], [a])
        self.assertEqual(ids({"q": "qa" + tag, "status": "suspended"}), [])
        self.bad("admin/users", {"q": ""}, "q")
        self.bad("admin/users", {"q": "x" * 256}, "q")
        self.bad("admin/users", {"q": "a"}, None, self.user_token("eve@example.com"),
                 status=403)

    def test_users_from_to_choose_the_cost_period(self):
        user = self.user("range")
        acct = self.account_id(user)
        self.sql("UPDATE billing_accounts SET created_at = '2024-12-15' WHERE id = %d" % acct)
        self.sql("INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, "
                 "quantity, total_cost, records) VALUES "
                 "(%d, '2025-01-01', 'cpu', 0.05, 20, 1.000000, 1), "
                 "(%d, '2025-01-31', 'memory', 0.01, 40, 0.400000, 1), "
                 "(%d, '2025-02-01', 'cpu', 0.05, 100, 5.000000, 1)" % (acct, acct, acct))
        q = {"q": user, "from": "2025-01-01", "to": "2025-01-31"}
        u = self.ok("admin/users", q)["users"][0]
        self.assertEqual(u["current_period"], {"from": "2025-01-01T00:00:00Z",
                                               "to": "2025-02-01T00:00:00Z"})
        self.assertEqual(str(u["current_period_cost"]), "1.40")
        u = self.ok("admin/users", dict(q, to="2025-02-01T00:00:00Z"))["users"][0]
        self.assertEqual(str(u["current_period_cost"]), "1.40")
        u = self.ok("admin/users", dict(q, to="2025-02-02"))["users"][0]
        self.assertEqual(str(u["current_period_cost"]), "6.40")
        # accounts made after the range are not in it
        self.assertEqual(self.ok("admin/users", dict(q, **{"from": "2024-11-01",
                                                           "to": "2024-11-30"}))["users"], [])
        self.bad("admin/users", {"from": "2025-01-01T10:00:00Z", "to": "2025-02-01"}, "from")
        self.bad("admin/users", {"to": "2025-02-01T00:00:01Z", "from": "2025-01-01"}, "to")
        self.bad("admin/users", {"from": "2025-02-01", "to": "2025-01-01"}, "to")
        self.bad("admin/users", {"from": "yesterday"}, "from")
        self.bad("admin/users", {"from": "2020-01-01", "to": "2025-01-01"}, "to")

    def test_admin_invoices_of_every_account(self):
        a, b = self.user("inva"), self.user("invb")
        ia, ib = self.account_id(a), self.account_id(b)
        rows = {}
        for key, acct, status, month in (("a1", ia, "sent", 1), ("a2", ia, "draft", 2),
                                         ("b1", ib, "overdue", 1), ("b2", ib, "paid", 3)):
            self.sql("INSERT INTO billing_invoices (account_id, period_start, period_end, "
                     "billing_mode, currency, subtotal, total, status) VALUES (%d, "
                     "'2019-%02d-01', '2019-%02d-01', 'usage', 'usd', 1.50, 1.50, '%s')"
                     % (acct, month, month + 1, status))
            rows[key] = int(self.sql("SELECT MAX(id) FROM billing_invoices")[0][0])
        ids = lambda q: [i["id"] for i in self.walk("admin/invoices", "invoices",
                                                     dict(q, limit=1))]
        self.assertEqual(ids({"user_id": a}), [rows["a2"], rows["a1"]])
        self.assertEqual(ids({"user_id": b, "status": "overdue"}), [rows["b1"]])
        mine = set(rows.values())
        self.assertEqual([i for i in ids({"from": "2019-01-15", "to": "2019-02-10"})
                          if i in mine], [rows["b1"], rows["a2"], rows["a1"]])
        self.assertEqual([i for i in ids({"from": "2019-03-01"}) if i in mine], [rows["b2"]])
        self.assertEqual([i for i in ids({"to": "2019-01-31"}) if i in mine],
                         [rows["b1"], rows["a1"]])
        got = self.ok("admin/invoices", {"user_id": a, "status": "draft"})["invoices"][0]
        self.assertEqual((got["user_id"], got["status"], str(got["total"]), got["currency"]),
                         (a, "draft", "1.50", "usd"))
        self.assertNotIn("lines", got)
        op = self.stack.token("op@example.com", "operator")
        self.assertEqual(len(self.ok("admin/invoices", {"user_id": a}, op)["invoices"]), 2)
        self.bad("admin/invoices", {}, None, self.user_token(a), status=403)
        self.bad("admin/invoices", {"status": "late"}, "status")
        self.bad("admin/invoices", {"user_id": "x" * 300}, "user_id")
        self.bad("admin/invoices", {"from": "2019-02-01", "to": "2019-01-01"}, "to")
        self.bad("admin/invoices", {"to": "nope"}, "to")
        self.paging_errors("admin/invoices")

    def test_admin_events_by_user_and_status(self):
        user = self.user("ev")
        events = self.walk("admin/events", "events", {"user_id": user, "limit": 1})
        self.assertTrue(all(e["user_id"] == user for e in events), events)
        self.assertEqual(self.ok("admin/events", {"user_id": user, "status": "failed"}),
                         {"events": [], "next_cursor": None})
        self.bad("admin/events", {"status": "lost"}, "status")


# sql/013_usage_day_totals.sql's fill: the days' totals over every account
# from billing_usage_daily rows a test wrote itself (the usage job keeps them
# as it writes its own)
FILL_DAY_TOTALS = (
    "INSERT INTO billing_usage_day_totals (day, total_cost, records) "
    "SELECT day, SUM(total_cost), SUM(records) FROM billing_usage_daily GROUP BY day "
    "ON DUPLICATE KEY UPDATE total_cost = VALUES(total_cost), records = VALUES(records)")


class SummaryTest(Helpers, StackTestCase):
    """GET admin/summary on a stack of its own (its totals are exact)."""

    def test_totals(self):
        a, b, c = self.user("sa"), self.user("sb"), self.user("sc")
        ia, ib, ic = (self.account_id(u) for u in (a, b, c))
        self.sql("UPDATE billing_accounts SET status = 'suspended' WHERE id = %d" % ib)
        self.sql("UPDATE billing_accounts SET status = 'closed' WHERE id = %d" % ic)
        self.sql("INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, "
                 "quantity, total_cost, records) VALUES "
                 "(%d, '2025-01-01', 'cpu', 0.05, 20, 1.000000, 1), "
                 "(%d, '2025-01-31', 'memory', 0.01, 40, 0.400000, 1), "
                 "(%d, '2025-01-10', 'cpu', 0.05, 1, 0.050000, 1), "
                 "(%d, '2025-02-01', 'cpu', 0.05, 100, 5.000000, 1)" % (ia, ib, ic, ia))
        # the days' totals over every account, as the usage job keeps them
        self.sql(FILL_DAY_TOTALS)
        for acct, status, total, m in ((ia, "sent", "10.00", 1), (ia, "overdue", "2.50", 2),
                                       (ib, "overdue", "1.25", 1), (ib, "paid", "99.00", 2),
                                       (ic, "draft", "7.00", 1), (ic, "void", "3.00", 2)):
            self.sql("INSERT INTO billing_invoices (account_id, period_start, period_end, "
                     "billing_mode, currency, subtotal, total, status) VALUES (%d, "
                     "'2024-%02d-01', '2024-%02d-01', 'usage', 'usd', %s, %s, '%s')"
                     % (acct, m, m + 1, total, total, status))
        body = self.ok("admin/summary", {"from": "2025-01-01", "to": "2025-01-31"})
        self.assertEqual(body, {
            "currency": "usd",
            "period": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"},
            "usage_cost": Decimal("1.45"),
            "outstanding": {"amount": Decimal("13.75"), "invoices": 3},
            "overdue": {"amount": Decimal("3.75"), "invoices": 2},
            "accounts": {"total": 3, "active": 1, "suspended": 1, "closed": 1}})
        self.assertEqual(str(body["usage_cost"]), "1.45")
        self.assertEqual(str(body["overdue"]["amount"]), "3.75")
        # the default period is the billing period containing now
        body = self.ok("admin/summary", token=self.stack.token("op@example.com", "operator"))
        self.assertEqual(set(body["period"]), {"from", "to"})
        self.assertEqual(str(body["outstanding"]["amount"]), "13.75")
        self.bad("admin/summary", {"from": "2025-01-01T01:00:00Z", "to": "2025-02-01"}, "from")
        self.bad("admin/summary", {"from": "2025-02-01", "to": "2025-01-01"}, "to")
        self.bad("admin/summary", {}, None, self.user_token(a), status=403)


class DayTotalsTest(Helpers, StackTestCase):
    """admin/summary reads the days' totals over every account
    (billing_usage_day_totals), which the usage job keeps equal to the sum of
    the accounts' daily totals, to the micro-unit, run after run.  billingd's
    clock is fixed after the sessions (hooks take times up to 90 days back);
    each job run is given its own instant."""

    stack_env = {"BILLING_TEST_NOW": "2025-07-02T00:30:00Z"}

    def hook(self, name, body):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.service_token())
        self.assertIn(status, (200, 201), resp)

    def ended_session(self, user, sid, cpu, mem, start, end):
        self.hook("session-created", {"session_id": sid, "user_id": user, "cpu_cores": cpu,
                                      "memory_gb": mem, "storage_gb": 0, "started_at": start})
        self.hook("session-terminated", {"session_id": sid, "ended_at": end})

    def run_usage(self, now):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": now})

    def totals(self, month):
        """{day: (total_cost, records)} of billing_usage_day_totals in month
        (YYYY-MM), after checking that every row equals its day's
        billing_usage_daily rows and that every such day has one."""
        self.assertEqual(self.sql(
            "SELECT t.day, t.total_cost, d.cost, t.records, d.n "
            "FROM billing_usage_day_totals t LEFT JOIN (SELECT day, SUM(total_cost) AS cost, "
            "SUM(records) AS n FROM billing_usage_daily GROUP BY day) d ON d.day = t.day "
            "WHERE d.day IS NULL OR d.cost <> t.total_cost OR d.n <> t.records"), [])
        self.assertEqual(self.sql(
            "SELECT DISTINCT d.day FROM billing_usage_daily d LEFT JOIN "
            "billing_usage_day_totals t ON t.day = d.day WHERE t.day IS NULL"), [])
        return {day: (cost, int(n)) for day, cost, n in self.sql(
            "SELECT day, total_cost, records FROM billing_usage_day_totals "
            "WHERE day LIKE '%s-%%' ORDER BY day" % month)}

    def usage_cost(self, frm, to):
        return str(self.ok("admin/summary", {"from": frm, "to": to})["usage_cost"])

    def test_totals_equal_the_daily_sums_after_two_usage_runs(self):
        a, b, c = self.user("ta"), self.user("tb"), self.user("tc")
        # 0.14 an hour (2 cores, 4 GB at 0.05 and 0.01): 21:00-02:00 across midnight
        self.ended_session(a, "dt-a", 2, 4, "2025-06-10T21:00:00Z", "2025-06-11T02:00:00Z")
        # 0.06 an hour: 23:30-00:50
        self.ended_session(b, "dt-b", 1, 1, "2025-06-10T23:30:00Z", "2025-06-11T00:50:00Z")
        self.run_usage("2025-06-11T00:00:00Z")   # up to midnight: 0.42 + 0.03
        self.assertEqual(self.totals("2025-06"), {"2025-06-10": ("0.450000", 8)})
        self.assertEqual(self.usage_cost("2025-06-10", "2025-06-11"), "0.45")
        # usage that arrives late, for a day already totalled: added to its row
        self.ended_session(c, "dt-c", 2, 4, "2025-06-10T10:00:00Z", "2025-06-10T12:00:00Z")
        self.run_usage("2025-06-12T00:30:00Z")
        self.run_usage("2025-06-12T00:30:00Z")   # a rerun adds nothing
        self.assertEqual(self.totals("2025-06"), {"2025-06-10": ("0.730000", 12),
                                                  "2025-06-11": ("0.330000", 6)})
        self.assertEqual(self.usage_cost("2025-06-10", "2025-06-11"), "1.06")
        self.assertEqual(self.usage_cost("2025-06-11", "2025-06-11"), "0.33")
        self.assertEqual(self.usage_cost("2025-06-12", "2025-06-30"), "0.00")
        # the same figure as the accounts' daily totals summed (the old way)
        [[daily]] = self.sql("SELECT SUM(total_cost) FROM billing_usage_daily "
                             "WHERE day >= '2025-06-10' AND day < '2025-06-12'")
        self.assertEqual(daily, "1.060000")

    def test_migration_fills_the_totals_from_the_daily_rows(self):
        """013's fill, run again over what the job wrote, changes nothing;
        over emptied totals it rebuilds them."""
        u = self.user("tm")
        self.ended_session(u, "dt-m", 2, 4, "2025-07-01T10:00:00Z", "2025-07-01T11:00:00Z")
        self.run_usage("2025-07-02T00:30:00Z")
        before = self.totals("2025-07")
        self.assertEqual(before["2025-07-01"], ("0.140000", 2))
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "sql", "013_usage_day_totals.sql")) as f:
            text = "\n".join(l for l in f.read().splitlines() if not l.startswith("--"))
        fill = [st for st in text.split(";") if "INSERT INTO" in st]
        self.assertEqual(len(fill), 1)
        self.sql(fill[0])
        self.assertEqual(self.totals("2025-07"), before)
        self.sql("DELETE FROM billing_usage_day_totals")
        self.sql(fill[0])
        self.sql(fill[0])
        self.assertEqual(self.totals("2025-07"), before)
