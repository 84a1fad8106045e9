"""Stripe misbehaving during create-checkout and the invoice push, against
the stand-in (tests/stripe_standin.py): connections dropped at once,
connections that stall and are then dropped, answers slower than our
timeout.

billingd runs with STRIPE_TIMEOUT_SECONDS=2, so one Stripe call (4
attempts, backoff included) is bounded by 2 x 2 + 5 = 9 s.  For each fault:
the caller gets 503 unavailable within that bound (the invoice push: 4
attempts of 2 s and their pauses, docs/stripe.md), nothing half-stored on
our side (no customer id that is not a real customer, no stripe_invoice_id
for an invoice Stripe does not hold finalized), and a later retry succeeds
and creates nothing twice in Stripe (one customer per account, one session
per checkout, one Stripe invoice per invoice with each line once).
"""

import secrets
import sys
import time
import unittest
from datetime import datetime, timedelta, timezone

from fault_base import FaultCase, TESTS, clock_utc

sys.path.insert(0, TESTS)
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)

KEY = "sk_test_" + secrets.token_hex(20)
TIMEOUT = 2
BUDGET = 2 * TIMEOUT + 5
SLACK = 2.0
# the invoice push allows a call 60 s (docs/stripe.md): 4 attempts of TIMEOUT
# each and the pauses between them (0.5, 1, 2 s, plus up to a quarter)
PUSH_BOUND = min(60, 4 * TIMEOUT + 3.5 * 1.25) + SLACK


class StripeFaultTest(FaultCase):

    @classmethod
    def setUpClass(cls):
        cls.standin = Standin(secret_key=KEY).start()
        cls.stack_env = {"STRIPE_API_BASE": cls.standin.url, "STRIPE_SECRET_KEY": KEY,
                         "STRIPE_TIMEOUT_SECONDS": str(TIMEOUT)}
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
        super().setUp()
        self.standin.clear_faults()

    # -- helpers ------------------------------------------------------------

    def user(self):
        return "%s@example.com" % self._testMethodName.replace("_", "-")[5:60]

    def checkout(self, sub, plan="pro", timeout=60):
        t0 = time.monotonic()
        resp = self.request("POST", "create-checkout", body={"plan_id": plan},
                            token=self.user_token(sub), timeout=timeout)
        return resp, time.monotonic() - t0

    def stored_customer(self, sub):
        rows = self.sql("SELECT COALESCE(stripe_customer_id, '') FROM billing_accounts "
                        "WHERE user_id = '%s'" % sub)
        return rows[0][0] if rows else None

    def customers_of(self, sub):
        return [c["id"] for c in self.standin.objects("customers")
                if c["metadata"].get("user_id") == sub]

    def sessions_of(self, sub):
        return [s["id"] for s in self.standin.objects("checkout_sessions")
                if s["metadata"].get("user_id") == sub]

    def assertUnavailableWithin(self, resp, took, bound=BUDGET + SLACK):
        self.assertError(resp, 503, "unavailable")
        self.assertLess(took, bound, "the 503 took %.1f s" % took)

    def assertNothingHalfStored(self, sub):
        """Our customer id, if any, is a customer Stripe holds for this user."""
        stored = self.stored_customer(sub)
        if stored:
            self.assertEqual(self.customers_of(sub), [stored])

    # -- create-checkout ----------------------------------------------------

    def test_checkout_with_connections_dropped_is_503_then_a_retry_makes_one_of_each(self):
        sub = self.user()
        # every attempt at the customer dropped: no customer anywhere (curl
        # itself tries a request again once when a kept-alive connection
        # dies, so more than 4 requests may arrive for 4 attempts)
        self.standin.fault("drop", count=1000, path="/v1/customers")
        resp, took = self.checkout(sub)
        self.standin.clear_faults()
        self.assertUnavailableWithin(resp, took)
        self.assertGreaterEqual(len(self.standin.requests(path="/v1/customers")), 4)
        self.assertEqual(self.stored_customer(sub) or "", "")
        self.assertEqual(self.customers_of(sub), [])
        # the customer goes through, every attempt at the session dropped
        self.standin.fault("drop", count=1000, path="/v1/checkout/sessions")
        resp, took = self.checkout(sub)
        self.standin.clear_faults()
        self.assertUnavailableWithin(resp, took)
        self.assertNothingHalfStored(sub)
        self.assertEqual(self.sessions_of(sub), [])
        # the retry works and makes nothing twice
        resp, _ = self.checkout(sub)
        self.assertEqual(resp[0], 200, resp[2])
        self.assertEqual(self.customers_of(sub), [self.stored_customer(sub)])
        self.assertEqual(self.sessions_of(sub), [resp[2]["id"]])
        self.assertLedger("after checkouts with dropped connections")

    def test_checkout_with_stripe_stalling_is_503_within_the_timeout(self):
        sub = self.user()
        self.standin.fault("stall", count=1000, delay=TIMEOUT + 1.5,
                           path="/v1/checkout/sessions")
        resp, took = self.checkout(sub)
        self.standin.clear_faults()
        self.assertUnavailableWithin(resp, took)
        self.assertGreaterEqual(took, TIMEOUT, "answered before a single attempt timed out")
        self.assertNothingHalfStored(sub)
        self.assertEqual(self.sessions_of(sub), [])
        resp, _ = self.checkout(sub)
        self.assertEqual(resp[0], 200, resp[2])
        self.assertEqual(self.customers_of(sub), [self.stored_customer(sub)])
        self.assertEqual(self.sessions_of(sub), [resp[2]["id"]])
        self.assertLedger("after a stalled checkout")

    def test_checkout_answered_after_our_timeout_is_retried_into_the_same_session(self):
        """Stripe makes the session but answers after our timeout: the retry
        carries the same idempotency key, so Stripe answers with that
        session (or 409 while it is still being made, which is retried)."""
        sub = self.user()
        self.checkout(sub)                      # the customer exists
        self.standin.clear_requests()
        before = set(self.sessions_of(sub))
        self.standin.fault("slow", count=1, delay=TIMEOUT + 0.5, path="/v1/checkout/sessions")
        resp, took = self.checkout(sub, plan="enterprise")
        self.assertEqual(resp[0], 200, resp[2])
        self.assertLess(took, BUDGET + SLACK)
        made = [s for s in self.sessions_of(sub) if s not in before]
        self.assertEqual(made, [resp[2]["id"]], "a timed-out attempt made a second session")
        posts = self.standin.requests(path="/v1/checkout/sessions", method="POST")
        self.assertGreaterEqual(len(posts), 2)
        self.assertEqual(len({p["headers"]["Idempotency-Key"] for p in posts}), 1)
        self.assertLedger("after a slow checkout")

    # -- the invoice push ---------------------------------------------------

    def invoice_to_push(self, sub, day_offset):
        """An account with a Stripe customer and a sent usage invoice of one
        day (2 cores for 10 h = 1.00): returns the invoice."""
        resp, _ = self.checkout(sub)
        self.assertEqual(resp[0], 200, resp[2])
        day = (clock_utc() - timedelta(days=day_offset)).date()
        svc = self.service_token()
        for name, body in (("session-created", {
                "session_id": "push-" + sub, "user_id": sub, "cpu_cores": 2, "memory_gb": 0,
                "storage_gb": 0, "started_at": "%sT00:00:00Z" % day}),
                ("session-terminated", {"session_id": "push-" + sub,
                                        "ended_at": "%sT10:00:00Z" % day})):
            status, _, body = self.request("POST", "hooks/" + name, body=body, token=svc)
            self.assertIn(status, (200, 201), body)
        self.stack.run_helper("billing-calculate-usage")
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin_token(), body={
            "user_id": sub, "period_start": str(day), "period_end": str(day)})
        self.assertEqual(status, 201, inv)
        self.assertEqual((inv["status"], inv["total"]), ("sent", 1.0))
        return inv

    def stripe_id_of(self, inv):
        return self.scalar("SELECT COALESCE(stripe_invoice_id, '') FROM billing_invoices "
                           "WHERE id = %d" % inv["id"])

    def stripe_invoices_for(self, inv):
        return [i for i in self.standin.objects("invoices")
                if i["metadata"].get("billing_invoice_id") == str(inv["id"])]

    def run_push(self):
        t0 = time.monotonic()
        r = self.stack.run_helper("billing-generate-invoices", check=False)
        return r, time.monotonic() - t0

    def assertPushedOnce(self, inv):
        sid = self.stripe_id_of(inv)
        self.assertRegex(sid, r"^in_")
        mine = self.stripe_invoices_for(inv)
        self.assertEqual([i["id"] for i in mine], [sid], "not one Stripe invoice")
        self.assertEqual(mine[0]["status"], "open")
        self.assertEqual([(l["amount"], l["metadata"].get("line")) for l in
                          mine[0]["lines"]["data"]], [(100, "1")], "items missing or twice")
        self.assertEqual(mine[0]["amount_due"], 100)

    def test_push_with_connections_dropped_then_stalled_finalize_then_retry_pushes_once(self):
        inv = self.invoice_to_push(self.user(), 3)
        # Stripe unreachable: the run fails, nothing is stored, nothing made
        self.standin.fault("drop", count=1000, path="/v1/invoice")
        r, took = self.run_push()
        self.standin.clear_faults()
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Stripe push failed", r.stderr + r.stdout)
        self.assertLess(took, PUSH_BOUND)
        self.assertEqual(self.stripe_id_of(inv), "")
        self.assertEqual(self.stripe_invoices_for(inv), [])
        # the draft and its item are made, finalize stalls past every timeout
        self.standin.fault("stall", count=1000, delay=TIMEOUT + 1, path="/v1/invoices/in_",
                           method="POST")
        r, took = self.run_push()
        self.standin.clear_faults()
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(took, PUSH_BOUND)
        self.assertEqual(self.stripe_id_of(inv), "", "an id stored for an unfinalized invoice")
        drafts = self.stripe_invoices_for(inv)
        self.assertEqual([d["status"] for d in drafts], ["draft"])
        # Stripe forgets the idempotency keys (24 h later): the next run must
        # find the draft by its metadata and add no item twice
        with self.standin.lock:
            self.standin.idem.clear()
        r, _ = self.run_push()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertPushedOnce(inv)
        self.assertEqual(self.stripe_invoices_for(inv)[0]["id"], drafts[0]["id"])
        # and again: nothing new
        posts = len(self.standin.requests(method="POST"))
        r, _ = self.run_push()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.standin.requests(method="POST")), posts)
        self.assertLedger("after the push faults")

    def push_through_the_api(self):
        t0 = time.monotonic()
        resp = self.request("POST", "jobs/generate-invoices", token=self.admin_token(),
                            timeout=120)
        return resp, time.monotonic() - t0

    def test_push_through_post_jobs_with_stripe_down_fails_fast_and_the_retry_pushes_once(self):
        inv = self.invoice_to_push(self.user(), 5)
        # (stalls of the push: the test above, through the helper)
        self.standin.fault("drop", count=1000, path="/v1/invoice")
        resp, took = self.push_through_the_api()
        self.standin.clear_faults()
        status, _, body = resp
        self.assertIn(status, (500, 503), body)    # the status itself: the next test
        self.assertRequestId(resp)
        self.assertLess(took, PUSH_BOUND, "one failed call, then the run stops")
        self.assertEqual(self.stripe_id_of(inv), "")
        resp, _ = self.push_through_the_api()
        self.assertEqual(resp[0], 200, resp[2])
        self.assertPushedOnce(inv)
        self.assertLedger("after the push through the API")

    def test_push_through_post_jobs_with_stripe_down_is_503_unavailable(self):
        inv = self.invoice_to_push(self.user(), 7)
        self.standin.fault("drop", count=1000, path="/v1/invoice")
        resp, _ = self.push_through_the_api()
        self.standin.clear_faults()
        self.assertEqual(self.stripe_id_of(inv), "")
        try:
            self.assertError(resp, 503, "unavailable")
        finally:
            # leave nothing pending for the other tests' runs
            self.assertEqual(self.push_through_the_api()[0][0], 200)
            self.assertLedger("after the 503 check")
