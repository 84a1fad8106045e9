"""Stripe end to end (docs/stripe.md): POST create-checkout,
GET payment-methods and the invoice push, through nginx, against the local
stand-in for Stripe's API (tests/stripe_standin.py), which records every
request and injects faults.

billingd reaches the stand-in through STRIPE_API_BASE with a test secret
key; STRIPE_TIMEOUT_SECONDS=2 keeps the timeout tests short (a Stripe call
then takes at most 2 x 2 + 5 = 9 s, retries included).
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import copy

from base import StackTestCase, clock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)

KEY = "sk_test_" + secrets.token_hex(20)
API_VERSION = "2025-03-31.basil"
TIMEOUT = 2
BUDGET = 2 * TIMEOUT + 5


class StripeCase(StackTestCase):
    """A stack whose billingd talks to a fresh stand-in."""

    extra_env = {}

    @classmethod
    def setUpClass(cls):
        cls.standin = Standin(secret_key=KEY).start()
        cls.stack_env = {"STRIPE_API_BASE": cls.standin.url, "STRIPE_SECRET_KEY": KEY,
                         "STRIPE_TIMEOUT_SECONDS": str(TIMEOUT)}
        cls.stack_env.update(cls.extra_env)
        try:
            super().setUpClass()
        except BaseException:
            cls.standin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.standin.stop()

    def setUp(self):
        self.standin.clear_faults()
        self.standin.clear_requests()

    # -- helpers ----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def user(self):
        """A user of this test alone."""
        return "%s@example.com" % self._testMethodName.replace("_", "-")

    def token(self, sub, role="user"):
        return self.stack.token(sub, role)

    def checkout(self, sub, body=None, **kw):
        body = {"plan_id": "pro"} if body is None else body
        return self.request("POST", "create-checkout", body=body,
                            token=self.token(sub), **kw)

    def payment_methods(self, sub, token=None, query=""):
        return self.request("GET", "payment-methods" + query,
                            token=token or self.token(sub))

    def account(self, sub):
        rows = self.sql("SELECT id, COALESCE(stripe_customer_id, '') FROM "
                        "billing_accounts WHERE user_id = '%s'" % sub)
        self.assertEqual(len(rows), 1, rows)
        return int(rows[0][0]), rows[0][1]

    def posts(self, path):
        return self.standin.requests(path=path, method="POST")


class CheckoutTest(StripeCase):

    config_overrides = {"checkoutReturnOrigins": [
        "https://app.example.com", "http://APP.example.com", "https://example.com"]}

    def test_checkout_returns_a_session_with_the_exact_form_and_keys(self):
        sub = self.user()
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"id", "url"})
        self.assertRegex(body["id"], r"^cs_test_[A-Za-z0-9]+$")
        self.assertEqual(body["url"], "https://checkout.stripe.com/c/pay/" + body["id"])

        acct_id, cus = self.account(sub)
        customers = self.posts("/v1/customers")
        self.assertEqual(len(customers), 1)
        self.assertEqual(customers[0]["form"], {"metadata[user_id]": sub,
                                                "metadata[account_id]": str(acct_id)})
        self.assertEqual(customers[0]["headers"]["Idempotency-Key"],
                         "customer-%d" % acct_id)
        made = [c for c in self.standin.objects("customers")
                if c["metadata"].get("user_id") == sub]
        self.assertEqual([c["id"] for c in made], [cus])

        sessions = self.posts("/v1/checkout/sessions")
        self.assertEqual(len(sessions), 1)
        s = sessions[0]
        base = self.stack.base_url
        self.assertEqual(s["form"], {
            "mode": "subscription",
            "customer": cus,
            "client_reference_id": sub,
            "line_items[0][price]": "price_pro",
            "line_items[0][quantity]": "1",
            "success_url": base + "/billing/success?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": base + "/billing/cancel",
            "metadata[user_id]": sub,
            "metadata[plan_id]": "pro",
            "subscription_data[metadata][user_id]": sub,
            "subscription_data[metadata][plan_id]": "pro",
        })
        # brackets literal in keys; the placeholder's braces percent-encoded
        self.assertIn("line_items[0][price]=price_pro", s["raw_body"])
        self.assertIn("%7BCHECKOUT_SESSION_ID%7D", s["raw_body"])
        self.assertIn("%40example.com", s["raw_body"])
        h = s["headers"]
        self.assertEqual(h["Authorization"], "Bearer " + KEY)
        self.assertEqual(h["Stripe-Version"], API_VERSION)
        self.assertEqual(h["Content-Type"], "application/x-www-form-urlencoded")
        self.assertRegex(h["Idempotency-Key"],
                         r"^checkout-%d-pro-\d+-[0-9a-f]{16}$" % acct_id)

    def test_given_urls_reach_stripe_unchanged(self):
        success = "https://app.example.com/done?a=1&b=x+y%20z&c={CHECKOUT_SESSION_ID}#top"
        cancel = "http://app.example.com/plans?from=checkout&msg=caf%C3%A9"
        status, _, body = self.checkout(self.user(), {"plan_id": "enterprise",
                                                      "success_url": success,
                                                      "cancel_url": cancel})
        self.assertEqual(status, 200, body)
        form = self.posts("/v1/checkout/sessions")[0]["form"]
        self.assertEqual(form["success_url"], success)
        self.assertEqual(form["cancel_url"], cancel)
        self.assertEqual(form["line_items[0][price]"], "price_enterprise")
        self.assertEqual(form["metadata[plan_id]"], "enterprise")

    def test_the_customer_is_made_once_and_reused(self):
        sub = self.user()
        for plan in ("pro", "enterprise", "pro"):
            status, _, body = self.checkout(sub, {"plan_id": plan})
            self.assertEqual(status, 200, body)
        self.assertEqual(len(self.posts("/v1/customers")), 1)
        _, cus = self.account(sub)
        for s in self.posts("/v1/checkout/sessions"):
            self.assertEqual(s["form"]["customer"], cus)

    def test_the_same_checkout_again_is_the_same_session(self):
        sub = self.user()
        for _ in range(3):
            _, _, first = self.checkout(sub)
            _, _, second = self.checkout(sub)
            keys = [r["headers"]["Idempotency-Key"] for r in
                    self.posts("/v1/checkout/sessions")[-2:]]
            if keys[0] == keys[1]:
                break  # else the minute turned between the two: again
        self.assertEqual(keys[0], keys[1])
        self.assertEqual(first["id"], second["id"])
        # another plan is another request
        _, _, other = self.checkout(sub, {"plan_id": "enterprise"})
        self.assertNotEqual(other["id"], first["id"])

    def test_five_concurrent_checkouts_of_a_new_user_make_one_customer(self):
        sub = self.user()
        results = [None] * 5

        def one(i):
            results[i] = self.checkout(sub)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for status, _, body in results:
            self.assertEqual(status, 200, body)
        acct_id, cus = self.account(sub)
        posts = self.posts("/v1/customers")
        self.assertGreaterEqual(len(posts), 1)
        self.assertEqual({p["headers"]["Idempotency-Key"] for p in posts},
                         {"customer-%d" % acct_id})
        made = [c["id"] for c in self.standin.objects("customers")
                if c["metadata"].get("user_id") == sub]
        self.assertEqual(made, [cus])
        for s in self.posts("/v1/checkout/sessions"):
            self.assertEqual(s["form"]["customer"], cus)

    def assertRefused(self, body, param, sub=None):
        resp = self.checkout(sub or self.user(), body)
        err = self.assertError(resp, 400, "invalid_argument")
        self.assertEqual(err.get("param"), param, err)
        self.assertEqual(self.standin.requests(), [], "nothing may reach Stripe")
        return err

    def test_unknown_plan_is_400(self):
        self.assertRefused({"plan_id": "platinum"}, "plan_id")

    def test_free_plan_is_400(self):
        err = self.assertRefused({"plan_id": "free"}, "plan_id")
        self.assertIn("subscription", err["message"])

    def test_missing_plan_is_400(self):
        self.assertRefused({}, "plan_id")
        self.assertRefused({"plan_id": 7}, "plan_id")

    def test_unknown_field_is_400_with_its_name(self):
        self.assertRefused({"plan_id": "pro", "quantity": 2}, "quantity")

    def test_bad_urls_are_400(self):
        long_url = "https://example.com/" + "a" * 2030
        for bad in ("ftp://example.com/x", "https://", "https://exa mple.com/",
                    "javascript:alert(1)", long_url, 42):
            self.assertRefused({"plan_id": "pro", "success_url": bad}, "success_url")
        self.assertRefused({"plan_id": "pro", "cancel_url": "/relative"}, "cancel_url")
        ok = "https://example.com/" + "a" * (2048 - 20)
        status, _, body = self.checkout(self.user(), {"plan_id": "pro", "success_url": ok})
        self.assertEqual(status, 200, body)

    def test_return_urls_stay_on_our_origins(self):
        """No open redirect through Checkout: publicBaseUrl's origin and
        checkoutReturnOrigins only, compared as origins (scheme, host, port)."""
        for bad in ("https://evil.example/x", "https://app.example.com.evil.example/",
                    "https://app.example.com@evil.example/", "http://example.com/",
                    "https://example.com:8443/", "https://evil.example\\@example.com/"):
            for param in ("success_url", "cancel_url"):
                self.assertRefused({"plan_id": "pro", param: bad}, param)
        self.assertEqual(self.posts("/v1/checkout/sessions"), [])
        for good in ("https://APP.example.com/done", "http://app.example.com/x",
                     self.stack.base_url + "/billing/elsewhere"):
            status, _, body = self.checkout(self.user(), {"plan_id": "pro",
                                                          "success_url": good,
                                                          "cancel_url": good})
            self.assertEqual(status, 200, (good, body))


class PaymentMethodsTest(StripeCase):

    def customer_of(self, sub):
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        self.standin.clear_requests()
        return self.account(sub)[1]

    def test_cards_are_listed_across_two_pages(self):
        sub = self.user()
        cus = self.customer_of(sub)
        self.standin.seed_payment_methods(cus, 2, pm_type="us_bank_account")
        self.standin.seed_payment_methods(cus, 118)
        status, _, body = self.payment_methods(sub)
        self.assertEqual(status, 200, body)
        got = body["payment_methods"]
        self.assertEqual(len(got), 120)
        gets = self.standin.requests(method="GET")
        self.assertEqual([g["path"] for g in gets],
                         ["/v1/customers/%s/payment_methods" % cus] * 2)
        self.assertEqual(gets[0]["query"], {"limit": "100"})
        self.assertEqual(gets[1]["query"], {"limit": "100",
                                            "starting_after": got[99]["id"]})
        self.assertEqual(len({m["id"] for m in got}), 120)
        for m in got:
            self.assertEqual(set(m), {"id", "type", "card"})
            self.assertRegex(m["id"], r"^pm_")
        cards = [m for m in got if m["type"] == "card"]
        self.assertEqual(len(cards), 118)
        for m in cards:
            self.assertEqual(set(m["card"]), {"brand", "last4", "exp_month", "exp_year"})
            self.assertRegex(m["card"]["last4"], r"^\d{4}$")
            self.assertIsInstance(m["card"]["exp_month"], int)
            self.assertIsInstance(m["card"]["exp_year"], int)
        banks = [m for m in got if m["type"] == "us_bank_account"]
        self.assertEqual([m["card"] for m in banks], [None, None])

    def test_no_customer_yet_is_an_empty_list_and_creates_nothing(self):
        sub = self.user()
        status, _, body = self.payment_methods(sub)
        self.assertEqual((status, body), (200, {"payment_methods": []}))
        self.assertEqual(self.standin.requests(), [])
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_accounts WHERE "
                                  "user_id = '%s' AND stripe_customer_id IS NOT NULL"
                                  % sub), [["0"]])

    def test_an_admin_may_ask_for_a_user_and_a_user_may_not(self):
        sub = self.user()
        cus = self.customer_of(sub)
        self.standin.seed_payment_methods(cus, 1)
        q = "?user_id=" + urllib.parse.quote(sub)
        status, _, body = self.payment_methods(
            None, token=self.token("admin@example.com", "admin"), query=q)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["payment_methods"]), 1)
        self.assertError(self.payment_methods("mallory@example.com", query=q),
                         403, "forbidden")

    def test_connections_are_kept_alive(self):
        sub = self.user()
        self.customer_of(sub)
        for _ in range(8):
            self.assertEqual(self.payment_methods(sub)[0], 200)
        peers = {r["peer"] for r in self.standin.requests()}
        self.assertLessEqual(len(peers), self.workers, peers)


class RetryTest(StripeCase):

    def sessions(self):
        return self.posts("/v1/checkout/sessions")

    def assertOneKey(self, reqs, n):
        self.assertEqual(len(reqs), n, [r["headers"].get("Idempotency-Key") for r in reqs])
        self.assertEqual(len({r["headers"]["Idempotency-Key"] for r in reqs}), 1)

    def test_one_500_then_success_is_two_attempts_with_the_same_key(self):
        sub = self.user()
        self.checkout(sub)            # the customer exists: one POST to watch
        self.standin.clear_requests()
        self.standin.fault("500", path="/v1/checkout/sessions")
        status, _, body = self.checkout(sub, {"plan_id": "enterprise"})
        self.assertEqual(status, 200, body)
        self.assertOneKey(self.sessions(), 2)
        self.assertIn("attempts=2", self.log_text())

    def test_429_with_should_retry_true_is_retried(self):
        self.standin.fault("429", path="/v1/checkout/sessions", should_retry=True)
        status, _, body = self.checkout(self.user())
        self.assertEqual(status, 200, body)
        self.assertOneKey(self.sessions(), 2)

    def test_429_and_409_are_retried(self):
        self.standin.fault("429", path="/v1/checkout/sessions")
        self.standin.fault("409", path="/v1/checkout/sessions")
        status, _, body = self.checkout(self.user())
        self.assertEqual(status, 200, body)
        self.assertOneKey(self.sessions(), 3)

    def test_400_is_never_retried_and_is_502_with_stripes_message(self):
        self.standin.fault("400", path="/v1/checkout/sessions",
                           message="No such price: 'price_pro'")
        err = self.assertError(self.checkout(self.user()), 502, "stripe_error")
        self.assertIn("No such price: 'price_pro'", err["message"])
        self.assertEqual(len(self.sessions()), 1)

    def test_should_retry_false_wins_over_a_500(self):
        self.standin.fault("500", path="/v1/checkout/sessions", should_retry=False)
        self.assertError(self.checkout(self.user()), 503, "unavailable")
        self.assertEqual(len(self.sessions()), 1)

    def test_should_retry_true_wins_over_a_400(self):
        self.standin.fault("400", path="/v1/checkout/sessions", should_retry=True)
        status, _, body = self.checkout(self.user())
        self.assertEqual(status, 200, body)
        self.assertOneKey(self.sessions(), 2)

    def test_a_dropped_connection_is_retried(self):
        self.standin.fault("drop", path="/v1/checkout/sessions")
        status, _, body = self.checkout(self.user())
        self.assertEqual(status, 200, body)
        self.assertOneKey(self.sessions(), 2)

    def test_an_outage_is_503_after_three_retries(self):
        self.standin.fault("503", count=10, path="/v1/checkout/sessions")
        t0 = time.monotonic()
        err = self.assertError(self.checkout(self.user()), 503, "unavailable")
        self.assertIn("Stripe", err["message"])
        self.assertOneKey(self.sessions(), 4)
        self.assertLess(time.monotonic() - t0, BUDGET + 2)

    def test_a_stalled_stripe_is_503_within_the_budget(self):
        self.standin.fault("stall", count=10, delay=30, path="/v1/checkout/sessions")
        t0 = time.monotonic()
        self.assertError(self.checkout(self.user(), timeout=60), 503, "unavailable")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, TIMEOUT)
        self.assertLess(took, BUDGET + 2)
        self.assertGreaterEqual(len(self.sessions()), 2)

    def test_a_refused_key_is_502_without_stripes_text(self):
        self.standin.secret_key = "sk_test_another"
        try:
            err = self.assertError(self.checkout(self.user()), 502, "stripe_error")
        finally:
            self.standin.secret_key = KEY
        self.assertNotIn("sk_test", err["message"])
        self.assertEqual(len(self.posts("/v1/customers")), 1)

    def test_zz_the_secret_key_never_reaches_the_log(self):
        self.checkout(self.user())
        log = self.log_text()
        self.assertNotIn(KEY, log)
        self.assertNotIn(KEY[8:], log)
        self.assertRegex(log, r"stripe: POST /v1/checkout/sessions -> 200 "
                              r"request=req_\w+ attempts=1")


class DisabledTest(StackTestCase):
    """No key: Stripe is off, the endpoints say so, the rest works."""

    stack_env = {"STRIPE_SECRET_KEY": "", "STRIPE_API_BASE": "http://127.0.0.1:9"}

    def test_both_endpoints_are_503_and_usage_still_works(self):
        tok = self.stack.token("alice@example.com", "user")
        for method, path, body in (("POST", "create-checkout", {"plan_id": "pro"}),
                                   ("GET", "payment-methods", None)):
            err = self.assertError(self.request(method, path, body=body, token=tok),
                                   503, "unavailable")
            self.assertIn("not configured", err["message"])
        status, _, body = self.request("GET", "usage", token=tok)
        self.assertEqual(status, 200, body)


NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())


class PushTest(StripeCase):
    """A finalized usage invoice of an account with a customer goes to
    Stripe once: a draft, its items, finalize, the id stored.  The push runs
    in the invoice job (billing-generate-invoices) once it is wired there."""

    extra_env = {"BILLING_TEST_NOW": NOW}
    SUB = "pusher@example.com"
    HYBRID = "hybrid-pusher@example.com"

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def session(self, sub, sid, cores, gb, start, end):
        svc = self.token("platform", "service")
        for name, body in (("session-created", {
                "session_id": sid, "user_id": sub, "cpu_cores": cores,
                "memory_gb": gb, "storage_gb": 0, "started_at": start}),
                ("session-terminated", {"session_id": sid, "ended_at": end})):
            status, _, resp = self.request("POST", "hooks/" + name, body=body, token=svc)
            assert status in (200, 201), resp

    def manual_invoice(self, sub):
        status, _, inv = self.request("POST", "admin/invoices",
                                      token=self.token("admin@example.com", "admin"),
                                      body={"user_id": sub, "period_start": "2025-01-01",
                                            "period_end": "2025-01-31"})
        assert status == 201, inv
        return inv

    @classmethod
    def setUpStack(cls):
        t = cls()
        for sub in (cls.SUB, cls.HYBRID):
            status, _, body = t.checkout(sub)
            assert status == 200, body
        # usage: the seed example, 2 cores and 4 GB for 10 hours = 1.00 + 0.40
        t.session(cls.SUB, "push-1", 2, 4, "2025-01-10T00:00:00Z", "2025-01-10T10:00:00Z")
        # hybrid on Pro (8 cores), its plan paid by a live Stripe subscription:
        # 10 cores for 3 hours = 2 x 3 x 0.05 = 0.30 of overage
        t.sql("UPDATE billing_accounts SET plan_id = 'pro', billing_mode = 'hybrid' "
              "WHERE user_id = '%s'" % cls.HYBRID)
        t.sql("INSERT INTO billing_subscriptions (account_id, plan_id, status, "
              "current_period_start, current_period_end, stripe_subscription_id) "
              "SELECT id, 'pro', 'active', '2025-01-01', '2025-02-01', 'sub_pushtest' "
              "FROM billing_accounts WHERE user_id = '%s'" % cls.HYBRID)
        t.session(cls.HYBRID, "push-h", 10, 8, "2025-01-20T10:00:00Z",
                  "2025-01-20T13:00:00Z")
        cls.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, resp = t.request("POST", "admin/credits",
                                    token=t.token("admin@example.com", "admin"),
                                    body={"user_id": cls.SUB, "amount": "0.40",
                                          "reason": "goodwill"})
        assert status == 201, resp
        cls.invoice = t.manual_invoice(cls.SUB)
        cls.hybrid_invoice = t.manual_invoice(cls.HYBRID)

    def setUp(self):
        # the request log is kept for the whole class: whichever test's run
        # pushed an invoice, its requests are there (filtered by invoice)
        self.standin.clear_faults()

    def run_job(self):
        return self.stack.run_helper("billing-generate-invoices", check=False,
                                     env={"BILLING_TEST_NOW": NOW})

    def stored_id(self, inv=None):
        inv = inv or self.invoice
        return self.sql("SELECT COALESCE(stripe_invoice_id, '') FROM billing_invoices "
                        "WHERE id = %d" % inv["id"])[0][0]

    def pushed_or_skip(self, inv=None):
        r = self.run_job()
        if self.stored_id(inv) == "":
            if not self.standin.requests(prefix="/v1/invoice"):
                self.skipTest("stripe_push_pending is not wired into the invoice job "
                              "yet (stripe_invoice_id stays NULL)")
            self.fail("the push failed: %s%s" % (r.stdout, r.stderr))
        return r

    def posts_for(self, path, inv):
        return [r for r in self.posts(path)
                if r["form"].get("metadata[billing_invoice_id]") == str(inv["id"])]

    def stripe_invoice(self, sid):
        return [i for i in self.standin.objects("invoices") if i["id"] == sid][0]

    def test_a_hybrid_plan_paid_by_its_subscription_is_not_charged_again(self):
        inv = self.hybrid_invoice
        # the plan is the subscription's to collect: not on our invoice
        kinds = sorted(l["kind"] for l in inv["lines"])
        self.assertEqual(kinds, ["overage"], inv["lines"])
        self.pushed_or_skip(inv)
        sid = self.stored_id(inv)
        items = self.posts_for("/v1/invoiceitems", inv)
        self.assertEqual([(int(i["form"]["amount"]), i["form"]["invoice"]) for i in items],
                         [(30, sid)])
        self.assertEqual(self.stripe_invoice(sid)["amount_due"], 30)

    def test_an_invoice_is_pushed_once(self):
        inv_id = self.invoice["id"]
        self.assertEqual((str(self.invoice["subtotal"]), str(self.invoice["credits"]),
                          str(self.invoice["total"])), ("1.4", "0.4", "1.0"))
        self.pushed_or_skip()
        sid = self.stored_id()
        self.assertRegex(sid, r"^in_")
        _, cus = self.account(self.SUB)

        created = self.posts_for("/v1/invoices", self.invoice)
        self.assertEqual(len(created), 1)
        self.assertEqual(created[0]["headers"]["Idempotency-Key"], "invoice-%d" % inv_id)
        form = created[0]["form"]
        self.assertEqual(form["customer"], cus)
        self.assertEqual(form["currency"], "usd")
        self.assertEqual(form["collection_method"], "charge_automatically")
        self.assertEqual(form["pending_invoice_items_behavior"], "exclude")
        self.assertEqual(form["metadata[billing_invoice_id]"], str(inv_id))

        items = self.posts_for("/v1/invoiceitems", self.invoice)
        got = sorted((i["form"]["metadata[line]"], int(i["form"]["amount"]),
                      i["headers"]["Idempotency-Key"]) for i in items)
        self.assertEqual(got, [
            ("1", 100, "invoiceitem-%d-1" % inv_id),
            ("2", 40, "invoiceitem-%d-2" % inv_id),
            ("credits", -40, "invoiceitem-%d-credits" % inv_id)])
        for i in items:
            self.assertEqual(i["form"]["metadata[billing_invoice_id]"], str(inv_id))
            self.assertEqual(i["form"]["invoice"], sid)
            self.assertEqual(i["form"]["currency"], "usd")

        fin = self.posts("/v1/invoices/%s/finalize" % sid)
        self.assertEqual(len(fin), 1)
        self.assertEqual(fin[0]["headers"]["Idempotency-Key"],
                         "invoice-finalize-%d" % inv_id)
        stripe_inv = self.stripe_invoice(sid)
        self.assertEqual(stripe_inv["status"], "open")
        self.assertEqual(stripe_inv["amount_due"], 100)   # our total, in cents
        self.assertTrue(stripe_inv["auto_advance"])

        # again: nothing new
        before = len(self.standin.requests(method="POST"))
        self.run_job()
        self.assertEqual(len(self.standin.requests(method="POST")), before)
        self.assertEqual(self.stored_id(), sid)

    def test_a_push_cut_short_resumes_without_duplicates(self):
        """Finalize fails (Stripe down): nothing is stored.  The next run,
        after Stripe forgot the idempotency keys (24 h), finds the draft by
        its metadata, adds no item twice, and finalizes it."""
        self.pushed_or_skip()    # what is pending now goes first
        self.session(self.SUB, "push-2", 1, 0, "2024-12-10T00:00:00Z",
                     "2024-12-10T10:00:00Z")
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices",
                                      token=self.token("admin@example.com", "admin"),
                                      body={"user_id": self.SUB,
                                            "period_start": "2024-12-01",
                                            "period_end": "2024-12-31"})
        self.assertEqual(status, 201, inv)
        self.standin.fault("500", count=50, path="/v1/invoices/in_", method="POST")
        self.run_job()
        self.standin.clear_faults()
        self.assertEqual(self.stored_id(inv), "")
        self.assertEqual(len(self.posts_for("/v1/invoices", inv)), 1)
        with self.standin.lock:
            self.standin.idem.clear()
        self.pushed_or_skip(inv)
        sid = self.stored_id(inv)
        mine = [i for i in self.standin.objects("invoices")
                if i["metadata"].get("billing_invoice_id") == str(inv["id"])]
        self.assertEqual([i["id"] for i in mine], [sid])
        self.assertEqual(mine[0]["status"], "open")
        self.assertEqual([(l["amount"], l["metadata"]["line"]) for l in mine[0]["lines"]["data"]],
                         [(50, "1")])


class SubscriptionChangeTest(StripeCase):
    """POST subscription: paid plans through Stripe (checkout, or a price
    change of the live subscription), cancel at the period's end."""

    def live(self, sub, plan="pro", price="price_pro"):
        """A customer with a live Stripe subscription, as after a checkout."""
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        acct_id, cus = self.account(sub)
        s = self.standin.seed_subscription(cus, price, {"user_id": sub, "plan_id": plan})
        self.sql("INSERT INTO billing_subscriptions (account_id, plan_id, status, "
                 "current_period_start, current_period_end, stripe_subscription_id) VALUES "
                 "(%d, '%s', 'active', '2025-01-01', '2025-02-01', '%s');"
                 "UPDATE billing_accounts SET plan_id = '%s' WHERE id = %d"
                 % (acct_id, plan, s["id"], plan, acct_id))
        self.standin.clear_requests()
        return s

    def change(self, sub, body):
        return self.request("POST", "subscription", body=body, token=self.token(sub))

    def test_paid_plan_without_a_subscription_answers_with_a_checkout(self):
        sub = self.user()
        status, _, body = self.change(sub, {"plan_id": "pro"})
        self.assertEqual(status, 200, body)
        self.assertRegex(body["checkout"]["id"], r"^cs_")
        self.assertTrue(body["checkout"]["url"].startswith("https://checkout.stripe.com/"))
        # the plan applies once paid (the webhook), not before
        self.assertEqual(body["plan"]["id"], "free")
        [req] = self.posts("/v1/checkout/sessions")
        self.assertEqual(req["form"]["line_items[0][price]"], "price_pro")
        self.assertEqual(req["form"]["subscription_data[metadata][plan_id]"], "pro")

    def test_paid_plan_with_a_live_subscription_changes_its_price(self):
        sub = self.user()
        s = self.live(sub)
        status, _, body = self.change(sub, {"plan_id": "enterprise"})
        self.assertEqual(status, 200, body)
        self.assertNotIn("checkout", body)
        [req] = self.posts("/v1/subscriptions/" + s["id"])
        self.assertEqual(req["form"]["items[0][id]"], s["items"]["data"][0]["id"])
        self.assertEqual(req["form"]["items[0][price]"], "price_enterprise")
        self.assertEqual(req["form"]["proration_behavior"], "create_prorations")
        # the key is the id of the change recorded here first (docs/stripe.md)
        [[change_id]] = self.sql("SELECT id FROM billing_plan_changes WHERE account_id = %d "
                                 "AND source = 'stripe'" % self.account(sub)[0])
        self.assertEqual(req["headers"].get("Idempotency-Key"), "plan-change-" + change_id)

    def test_cancel_stops_the_subscription_at_the_period_end(self):
        sub = self.user()
        s = self.live(sub)
        status, _, body = self.change(sub, {"cancel": True})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["cancel_at_period_end"])
        self.assertEqual(body["source"], "stripe")
        [req] = self.posts("/v1/subscriptions/" + s["id"])
        self.assertEqual(req["form"], {"cancel_at_period_end": "true"})
        status, _, got = self.request("GET", "subscription", token=self.token(sub))
        self.assertTrue(got["cancel_at_period_end"])
        # the free plan while Stripe bills: the same, at the period's end
        status, _, body = self.change(sub, {"plan_id": "free"})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["cancel_at_period_end"])

    def deliver(self, type_, obj, created):
        """A signed Stripe event, on the suites' clock."""
        evt = {"id": "evt_" + secrets.token_hex(12), "object": "event",
               "api_version": API_VERSION, "type": type_, "created": created,
               "livemode": False, "data": {"object": obj}}
        body = json.dumps(evt).encode()
        status, _, resp = self.request(
            "POST", "webhook", raw=body, content_type="application/json",
            headers={"Stripe-Signature": signed(self.stack.webhook_secret, body,
                                                int(clock()))})
        self.assertEqual(status, 200, resp)
        return evt

    def changes(self, acct):
        return self.sql("SELECT source, kind, status, from_plan, to_plan FROM "
                        "billing_plan_changes WHERE account_id = %d ORDER BY id" % acct)

    def plan_events(self, acct):
        return [json.loads(p)["data"] for [p] in self.sql(
            "SELECT payload FROM billing_events WHERE account_id = %d "
            "AND type = 'billing.subscription.changed' ORDER BY id" % acct)]

    def test_an_upgrade_is_prorated_by_stripe_and_mirrored_once_here(self):
        """Pro to Enterprise of a plan Stripe collects: Stripe's subscription
        item moves to price_enterprise with create_prorations, Stripe makes
        the two proration items (each rounded to the cent); nothing is
        prorated here, and customer.subscription.updated records the plan
        once, out-of-order safe."""
        sub = self.user()
        s = self.live(sub)
        acct, cus = self.account(sub)
        self.sql("UPDATE billing_accounts SET billing_mode = 'subscription' WHERE id = %d" % acct)
        status, _, body = self.change(sub, {"plan_id": "enterprise"})
        self.assertEqual(status, 200, body)
        [req] = self.posts("/v1/subscriptions/" + s["id"])
        self.assertEqual((req["form"]["items[0][price]"], req["form"]["proration_behavior"]),
                         ("price_enterprise", "create_prorations"))
        # Stripe's prorations: unused Pro, remaining Enterprise
        items = sorted((i for i in self.standin.objects("invoiceitems")
                        if i["customer"] == cus and i["proration"]), key=lambda i: i["amount"])
        self.assertEqual(len(items), 2, items)
        item = s["items"]["data"][0]
        start, end = item["current_period_start"], item["current_period_end"]
        left = end - items[0]["date"]
        self.assertEqual([i["amount"] for i in items],
                         [-((2 * 2999 * left + end - start) // (2 * (end - start))),
                          (2 * 9999 * left + end - start) // (2 * (end - start))])
        # here: the request recorded (its id keys it), the plan not moved
        # until Stripe says so, never prorated locally
        self.assertEqual(self.changes(acct), [["stripe", "upgrade", "applied", "pro",
                                               "enterprise"]])
        self.assertEqual(self.sql("SELECT plan_id FROM billing_accounts WHERE id = %d" % acct),
                         [["pro"]])
        now = int(clock())
        updated = copy.deepcopy(self.standin.subscriptions[s["id"]])
        evt = self.deliver("customer.subscription.updated", updated, now - 5)
        self.assertEqual(self.sql("SELECT a.plan_id, s.plan_id FROM billing_accounts a JOIN "
                                  "billing_subscriptions s ON s.account_id = a.id "
                                  "WHERE a.id = %d" % acct), [["enterprise", "enterprise"]])
        # an older event (still Pro) arriving late changes nothing
        older = copy.deepcopy(updated)
        older["items"]["data"][0]["price"] = {"id": "price_pro", "object": "price"}
        older["metadata"]["plan_id"] = "pro"
        self.deliver("customer.subscription.updated", older, now - 60)
        self.assertEqual(self.sql("SELECT plan_id FROM billing_accounts WHERE id = %d" % acct),
                         [["enterprise"]])
        # the same event twice is processed once
        body = json.dumps(evt).encode()
        status, _, _ = self.request("POST", "webhook", raw=body, content_type="application/json",
                                    headers={"Stripe-Signature": signed(
                                        self.stack.webhook_secret, body, int(clock()))})
        self.assertEqual(status, 200)
        [ev] = self.plan_events(acct)
        self.assertEqual((ev["change"], ev["from_plan"], ev["to_plan"], ev["source"]),
                         ("upgrade", "pro", "enterprise", "stripe"))
        # the invoice run never adds proration lines for it
        self.stack.run_helper("billing-generate-invoices")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoice_lines l JOIN "
                                  "billing_invoices i ON i.id = l.invoice_id WHERE "
                                  "i.account_id = %d AND l.kind IN ('proration', "
                                  "'subscription') AND i.kind <> 'stripe'" % acct), [["0"]])

    def test_a_downgrade_in_stripe_is_prorated_by_stripe_at_once(self):
        """Stripe prorates a downgrade too (a credit larger than the charge);
        the change is asked the same way."""
        sub = self.user()
        s = self.live(sub, "enterprise", "price_enterprise")
        acct, cus = self.account(sub)
        status, _, body = self.change(sub, {"plan_id": "pro"})
        self.assertEqual(status, 200, body)
        [req] = self.posts("/v1/subscriptions/" + s["id"])
        self.assertEqual(req["form"]["items[0][price]"], "price_pro")
        self.assertEqual(self.changes(acct), [["stripe", "downgrade", "applied", "enterprise",
                                               "pro"]])

    def test_the_current_price_asks_nothing_of_stripe(self):
        sub = self.user()
        s = self.live(sub)
        status, _, body = self.change(sub, {"plan_id": "pro"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.posts("/v1/subscriptions/" + s["id"]), [])
        self.assertEqual(self.changes(self.account(sub)[0]), [])

    def test_a_refused_change_is_recorded_as_not_made(self):
        sub = self.user()
        s = self.live(sub)
        self.standin.prices.pop("price_enterprise")
        try:
            status, _, body = self.change(sub, {"plan_id": "enterprise"})
        finally:
            self.standin.prices["price_enterprise"] = 9999
        self.assertEqual(status, 502, body)
        self.assertEqual([r[2] for r in self.changes(self.account(sub)[0])], ["canceled"])
        self.assertEqual(self.standin.subscriptions[s["id"]]["items"]["data"][0]["price"]["id"],
                         "price_pro")

    def test_subscription_items_are_listed_in_stripes_shape(self):
        """The stand-in's GET /v1/subscription_items (a list of the items)."""
        sub = self.user()
        s = self.live(sub)
        req = urllib.request.Request(self.standin.url + "/v1/subscription_items?subscription="
                                     + s["id"], headers={"Authorization": "Bearer " + KEY})
        with urllib.request.urlopen(req, timeout=10) as resp:
            page = json.loads(resp.read().decode())
        self.assertEqual(page["object"], "list")
        self.assertEqual([i["id"] for i in page["data"]], [s["items"]["data"][0]["id"]])

    def test_stripe_refusing_the_change_is_502_with_its_message(self):
        sub = self.user()
        self.live(sub)
        self.sql("UPDATE billing_subscriptions SET stripe_subscription_id = 'sub_gone' "
                 "WHERE account_id = %d" % self.account(sub)[0])
        status, _, body = self.change(sub, {"cancel": True})
        self.assertEqual(status, 502, body)
        self.assertEqual(body["error"]["code"], "stripe_error")


def signed(secret, body, t):
    """A Stripe-Signature header for body (bytes) at unix time t."""
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


class LedgerCase(StripeCase):
    """Invoices that Stripe collects, and Stripe's events about them; the
    daemon's clock is NOW (February 2025; the invoices are January's)."""

    extra_env = {"BILLING_TEST_NOW": NOW}

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def setUp(self):
        self.standin.clear_faults()

    session = PushTest.session
    run_job = PushTest.run_job

    def admin(self):
        return self.token("admin@example.com", "admin")

    def invoice_of(self, sub, kind=None):
        """The user's invoices as GET invoices shows them, with details."""
        status, _, body = self.request("GET", "invoices?user_id=" + urllib.parse.quote(sub),
                                       token=self.admin())
        self.assertEqual(status, 200, body)
        out = []
        for inv in body["invoices"]:
            status, _, full = self.request("GET", "invoices/%d" % inv["id"],
                                           token=self.token(sub))
            self.assertEqual(status, 200, full)
            if kind is None or any(l["kind"] == kind for l in full["lines"]):
                out.append(full)
        return out

    def pushed_invoice(self, sub, cores=2):
        """A customer's January usage invoice, pushed to Stripe: (ours, sid)."""
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        self.session(sub, "s-" + sub, cores, 4, "2025-01-10T00:00:00Z",
                     "2025-01-10T10:00:00Z")
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(),
                                      body={"user_id": sub, "period_start": "2025-01-01",
                                            "period_end": "2025-01-31"})
        self.assertEqual(status, 201, inv)
        self.run_job()
        sid = self.sql("SELECT COALESCE(stripe_invoice_id, '') FROM billing_invoices "
                       "WHERE id = %d" % inv["id"])[0][0]
        self.assertRegex(sid, r"^in_", "the invoice was not pushed")
        return inv, sid

    def patch(self, inv, status):
        return self.request("PATCH", "admin/invoices/%d" % inv["id"], token=self.admin(),
                            body={"status": status})

    def stripe_inv(self, sid):
        return [i for i in self.standin.objects("invoices") if i["id"] == sid][0]

    def deliver(self, type_, obj, created=NOW_EPOCH - 60):
        evt = {"id": "evt_" + secrets.token_hex(12), "object": "event",
               "api_version": API_VERSION, "type": type_, "created": created,
               "livemode": False, "data": {"object": obj}}
        body = json.dumps(evt).encode()
        status, _, resp = self.request(
            "POST", "webhook", raw=body, content_type="application/json",
            headers={"Stripe-Signature": signed(self.stack.webhook_secret, body,
                                                NOW_EPOCH)})
        self.assertEqual(status, 200, resp)
        return resp

    def local(self, inv):
        return self.sql("SELECT status, COALESCE(voided_at, ''), COALESCE(paid_at, '') "
                        "FROM billing_invoices WHERE id = %d" % inv["id"])[0]

    def events(self, acct_id, type_):
        return [json.loads(r[0]) for r in self.sql(
            "SELECT payload FROM billing_events WHERE account_id = %d AND type = '%s' "
            "ORDER BY id" % (acct_id, type_))]


class SettleTest(LedgerCase):
    """Voiding or marking paid by hand an invoice that Stripe collects does
    the same in Stripe first; Stripe refusing leaves ours unchanged."""

    def test_void_voids_it_in_stripe_first(self):
        inv, sid = self.pushed_invoice("void-me@example.com")
        status, _, body = self.patch(inv, "void")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "void")
        calls = self.posts("/v1/invoices/%s/void" % sid)
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["headers"]["Idempotency-Key"], "invoice-void-%d" % inv["id"])
        self.assertEqual(self.stripe_inv(sid)["status"], "void")
        # again: already void, Stripe is not asked again
        status, _, body = self.patch(inv, "void")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(self.posts("/v1/invoices/%s/void" % sid)), 1)

    def test_paid_by_hand_is_paid_out_of_band_in_stripe(self):
        inv, sid = self.pushed_invoice("paid-by-hand@example.com")
        status, _, body = self.patch(inv, "paid")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "paid")
        calls = self.posts("/v1/invoices/%s/pay" % sid)
        self.assertEqual([c["form"] for c in calls], [{"paid_out_of_band": "true"}])
        self.assertEqual(calls[0]["headers"]["Idempotency-Key"], "invoice-pay-%d" % inv["id"])
        s = self.stripe_inv(sid)
        self.assertEqual((s["status"], s["paid_out_of_band"]), ("paid", True))
        # Stripe's invoice.paid for it moved no money: no second payment
        acct, _ = self.account("paid-by-hand@example.com")
        self.deliver("invoice.paid", s)
        self.assertEqual(self.sql("SELECT method, amount FROM billing_payments "
                                  "WHERE invoice_id = %d" % inv["id"]),
                         [["manual", "1.40"]])
        self.assertEqual(self.events(acct, "billing.payment.unexpected"), [])

    def test_stripe_refusing_leaves_ours_unchanged_and_says_why(self):
        inv, sid = self.pushed_invoice("collected@example.com")
        paid = self.standin.collect(sid)        # Stripe charged it meanwhile
        before = self.local(inv)
        status, _, body = self.patch(inv, "void")
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"]["code"], "conflict")
        self.assertIn("open or uncollectible", body["error"]["message"])
        self.assertEqual(self.local(inv), before)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_credit_applications "
                                  "WHERE invoice_id = %d" % inv["id"]), [["0"]])
        status, _, body = self.patch(inv, "paid")
        self.assertEqual(status, 409, body)
        self.assertIn("already paid", body["error"]["message"])
        self.assertEqual(self.local(inv), before)
        # Stripe's own event settles it
        self.deliver("invoice.paid", paid)
        self.assertEqual(self.local(inv)[0], "paid")

    def test_stripe_down_is_503_and_nothing_changes(self):
        inv, sid = self.pushed_invoice("stripe-down@example.com")
        before = self.local(inv)
        self.standin.fault("500", count=10, path="/v1/invoices/%s/void" % sid)
        status, _, body = self.patch(inv, "void")
        self.assertEqual(status, 503, body)
        self.assertEqual(self.local(inv), before)
        self.assertEqual(self.stripe_inv(sid)["status"], "open")

    def test_a_payment_of_a_void_invoice_is_recorded_and_raised(self):
        """Stripe collected an invoice that is void here (a void that raced
        the push): the payment is kept and billing.payment.unexpected says so."""
        sub = "void-then-paid@example.com"
        inv, sid = self.pushed_invoice(sub)
        paid = self.standin.collect(sid)
        acct, _ = self.account(sub)
        self.sql("UPDATE billing_invoices SET status = 'void', voided_at = NOW() "
                 "WHERE id = %d" % inv["id"])
        self.deliver("invoice.paid", paid)
        self.assertEqual(self.local(inv)[0], "void")
        self.assertEqual(self.sql("SELECT method, status, amount, stripe_invoice_id FROM "
                                  "billing_payments WHERE invoice_id = %d" % inv["id"]),
                         [["stripe", "succeeded", "1.40", sid]])
        ev = self.events(acct, "billing.payment.unexpected")
        self.assertEqual(len(ev), 1, ev)
        data = ev[0].get("data", ev[0])
        self.assertEqual((data["invoice_id"], data["stripe_invoice_id"], str(data["amount"]),
                          data["reason"]), (inv["id"], sid, "1.4", "the invoice is void"))

    def test_void_locks_the_account_before_the_invoice(self):
        """One lock order: while another transaction holds the account, a
        void waits for it without holding the invoice."""
        inv, sid = self.pushed_invoice("lock-order@example.com")
        acct, _ = self.account("lock-order@example.com")
        script = ("SET SESSION innodb_lock_wait_timeout = 5; BEGIN; "
                  "SELECT id FROM billing_accounts WHERE id = %d FOR UPDATE; "
                  "SELECT SLEEP(2); "
                  "SELECT id FROM billing_invoices WHERE id = %d FOR UPDATE NOWAIT; "
                  "ROLLBACK;" % (acct, inv["id"]))
        out = {}

        def hold():
            try:
                self.sql(script)
                out["ok"] = True
            except Exception as e:   # NOWAIT failed: the void held the invoice
                out["error"] = str(e)
        t = threading.Thread(target=hold)
        t.start()
        time.sleep(0.7)
        status, _, body = self.patch(inv, "void")
        t.join()
        self.assertEqual(out, {"ok": True})
        self.assertEqual(status, 200, body)


class SubscriptionLedgerTest(LedgerCase):
    """A plan collected by a Stripe subscription: our invoices carry usage
    only (pushed as usual, credits applied once, there), the subscription's
    own invoices are recorded here as paid with their Stripe id, nothing is
    billed twice and nothing stays outstanding."""

    def live_subscription(self, sub, mode):
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        acct, cus = self.account(sub)
        sub_id = "sub_" + secrets.token_hex(8)
        self.sql("UPDATE billing_accounts SET plan_id = 'pro', billing_mode = '%s', "
                 "created_at = '2024-12-01' WHERE id = %d;"
                 "INSERT INTO billing_subscriptions (account_id, plan_id, status, "
                 "current_period_start, current_period_end, stripe_subscription_id) "
                 "VALUES (%d, 'pro', 'active', '2025-01-01', '2025-02-01', '%s')"
                 % (mode, acct, acct, sub_id))
        return acct, cus, sub_id

    def subscription_invoice(self, cus, sub_id, amount=2999):
        """Stripe's invoice of the subscription, paid (2025-03-31 shape)."""
        in_id = "in_" + secrets.token_hex(10)
        start = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
        end = int(datetime(2025, 2, 1, tzinfo=timezone.utc).timestamp())
        return {
            "id": in_id, "object": "invoice", "customer": cus, "currency": "usd",
            "status": "paid", "amount_due": amount, "amount_paid": amount,
            "amount_remaining": 0, "billing_reason": "subscription_cycle",
            "metadata": {}, "period_start": start, "period_end": start,
            "status_transitions": {"paid_at": start + 60, "finalized_at": start},
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": {}, "subscription": sub_id}},
            "lines": {"object": "list", "has_more": False, "data": [{
                "id": "il_" + secrets.token_hex(8), "object": "line_item",
                "amount": amount, "currency": "usd",
                "description": "1 × Professional (at $29.99 / month)",
                "period": {"start": start, "end": end}}]},
            "payments": {"object": "list", "has_more": False, "data": [{
                "id": "inpay_" + secrets.token_hex(8), "object": "invoice_payment",
                "amount_paid": amount, "currency": "usd", "invoice": in_id,
                "status": "paid", "payment": {"type": "payment_intent",
                                              "payment_intent": "pi_" + secrets.token_hex(8)}}]},
        }

    def test_a_hybrid_account_pays_its_plan_once_and_its_overage_once(self):
        sub = "stripe-hybrid@example.com"
        acct, cus, sub_id = self.live_subscription(sub, "hybrid")
        status, _, resp = self.request("POST", "admin/credits", token=self.admin(),
                                       body={"user_id": sub, "amount": "0.40",
                                             "reason": "goodwill"})
        self.assertEqual(status, 201, resp)
        # 10 cores on Pro (8) for 10 hours: 2 x 10 x 0.05 = 1.00 of overage
        inv, sid = self.pushed_invoice(sub, cores=10)
        self.assertEqual([l["kind"] for l in inv["lines"]], ["overage"], inv["lines"])
        self.assertEqual((str(inv["subtotal"]), str(inv["credits"]), str(inv["total"])),
                         ("1.0", "0.4", "0.6"))
        # credits applied once, where we collect: Stripe gets the same 0.40
        items = [r for r in self.posts("/v1/invoiceitems")
                 if r["form"].get("metadata[billing_invoice_id]") == str(inv["id"])]
        self.assertEqual(sorted((i["form"]["metadata[line]"], int(i["form"]["amount"]))
                                for i in items), [("1", 100), ("credits", -40)])
        self.assertEqual(self.stripe_inv(sid)["amount_due"], 60)
        self.assertEqual(self.sql("SELECT remaining FROM billing_credits "
                                  "WHERE account_id = %d" % acct), [["0.00"]])

        # the subscription's own invoice: recorded here as paid, with its id
        plan_inv = self.subscription_invoice(cus, sub_id)
        self.deliver("invoice.paid", plan_inv)
        self.deliver("invoice.paid", plan_inv)      # another delivery: once
        mine = [i for i in self.invoice_of(sub) if i["stripe_invoice_id"] == plan_inv["id"]]
        self.assertEqual(len(mine), 1, mine)
        rec = mine[0]
        self.assertEqual((rec["status"], rec["kind"], str(rec["total"]), str(rec["credits"])),
                         ("paid", "stripe", "29.99", "0.0"))
        self.assertRegex(rec["invoice_number"], r"^INV-2025-\d{6}$")
        # numbered here: stored with what it was issued with (sql/016)
        self.assertEqual(self.sql("SELECT JSON_VALUE(issued_details, '$.timezone') FROM "
                                  "billing_invoices WHERE id = %d" % rec["id"]), [["UTC"]])
        self.assertIsNotNone(rec["issuer"])
        self.assertEqual([(l["kind"], str(l["amount"])) for l in rec["lines"]],
                         [("subscription", "29.99")])
        self.assertEqual(rec["period_start"], "2025-01-01T00:00:00Z")
        self.assertEqual([(p["method"], str(p["amount"])) for p in rec["payments"]],
                         [("stripe", "29.99")])

        # Stripe collects our usage invoice: settled, nothing outstanding
        self.deliver("invoice.paid", self.standin.collect(sid))
        self.assertEqual(self.local(inv)[0], "paid")
        status, _, users = self.request("GET", "admin/users", token=self.admin())
        self.assertEqual(status, 200, users)
        row = [u for u in users["users"] if u["user_id"] == sub][0]
        self.assertEqual(str(row["outstanding_balance"]), "0.0")
        # the plan was charged once: by Stripe's subscription, never by us
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_invoice_lines l JOIN billing_invoices i "
            "ON i.id = l.invoice_id WHERE i.account_id = %d AND l.kind = 'subscription'"
            % acct), [["1"]])

    def test_a_subscription_account_gets_no_plan_invoice_from_us(self):
        sub = "stripe-plan-only@example.com"
        acct, cus, sub_id = self.live_subscription(sub, "subscription")
        self.run_job()         # February 1st: January's scheduled invoices
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoices "
                                  "WHERE account_id = %d" % acct), [["0"]])
        self.deliver("invoice.paid", self.subscription_invoice(cus, sub_id))
        self.assertEqual(self.sql("SELECT kind, status, total FROM billing_invoices "
                                  "WHERE account_id = %d" % acct),
                         [["stripe", "paid", "29.99"]])
        # our own run for the same period is not blocked by it
        self.sql("DELETE FROM billing_subscriptions WHERE account_id = %d" % acct)
        status, _, body = self.request("POST", "admin/invoices", token=self.admin(),
                                       body={"user_id": sub, "period_start": "2025-01-01",
                                             "period_end": "2025-01-31"})
        self.assertEqual(status, 201, body)


class ZeroDecimalPushTest(LedgerCase):
    """A deployment billing in yen: lines round to whole yen, so that the
    invoice pushes exactly (Stripe's jpy amounts are whole units)."""

    config_overrides = {"currency": "jpy"}

    def test_yen_invoices_are_whole_yen_and_pushed(self):
        # the seed example: 1.00 of cpu and 0.40 of memory, in yen
        inv, sid = self.pushed_invoice("yen@example.com")
        self.assertEqual([str(l["amount"]) for l in inv["lines"]], ["1.0", "0.0"])
        self.assertEqual(str(inv["total"]), "1.0")
        items = [r for r in self.posts("/v1/invoiceitems")
                 if r["form"].get("metadata[billing_invoice_id]") == str(inv["id"])]
        self.assertEqual([(i["form"]["amount"], i["form"]["currency"]) for i in items],
                         [("1", "jpy")])
        self.assertEqual(self.stripe_inv(sid)["amount_due"], 1)
        status, _, body = self.request("POST", "admin/credits", token=self.admin(),
                                       body={"user_id": "yen@example.com",
                                             "amount": "10.50", "reason": "sen"})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "amount")
