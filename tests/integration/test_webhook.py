"""Stripe webhooks end to end (docs/webhooks.md), through nginx.

Event bodies are built from Stripe's own example objects
(../shared/stripe/fixtures3.json: resources.event, invoice, subscription,
checkout.session, payment_intent, invoice_payment) with our ids.  Signatures
are made with the openssl command line (openssl dgst -sha256 -hmac), so they
share no code with billingd nor with Python's hmac.

The daemon's clock is fixed (BILLING_TEST_NOW), so the 300 s tolerance is
tested to the second.
"""

import copy
import json
import os
import subprocess
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from base import ROOT, StackTestCase, wait_for

FIXTURES = os.path.join(os.path.dirname(ROOT), "shared", "stripe", "fixtures3.json")

NOW = "2025-06-15T12:00:00Z"
NOW_EPOCH = int(datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc).timestamp())
HOUR = 3600

_fixtures = None


def fixtures():
    global _fixtures
    if _fixtures is None:
        with open(FIXTURES) as f:
            _fixtures = json.load(f)["resources"]
    return _fixtures


def db_time(epoch):
    """DATETIME(6) text as the mariadb client prints it."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000000")


def openssl_hmac(secret, data):
    """Lowercase hex HMAC-SHA256, by the openssl command line."""
    r = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret, "-r"],
                       input=data, capture_output=True, check=True)
    return r.stdout.split()[0].decode()


def signature(secret, t, body):
    return "t=%d,v1=%s" % (t, openssl_hmac(secret, b"%d." % t + body))


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:20]


# -- Stripe objects, from the fixtures ------------------------------------------

def event(type_, obj, created=NOW_EPOCH - 60, evt_id=None):
    e = copy.deepcopy(fixtures()["event"])
    e.update(id=evt_id or new_id("evt_"), type=type_, created=created,
             data={"object": obj})
    return e


def invoice_obj(in_id, customer, amount_paid=1999, amount_due=1999, paid_at=None,
                pi=None, new_shape=True, metadata=None, error=None):
    o = copy.deepcopy(fixtures()["invoice"])
    o.update(id=in_id, customer=customer, amount_paid=amount_paid, amount_due=amount_due,
             amount_remaining=amount_due - amount_paid, currency="usd",
             metadata=metadata or {}, last_finalization_error=error,
             status="paid" if amount_paid else "open")
    o["status_transitions"]["paid_at"] = paid_at
    o["parent"]["subscription_details"]["subscription"] = None
    o["lines"]["data"][0]["invoice"] = in_id
    if pi is not None:
        if new_shape:  # 2025-03-31: invoice.payments[].payment.payment_intent
            pay = copy.deepcopy(fixtures()["invoice_payment"])
            pay.update(id=new_id("inpay_"), invoice=in_id, amount_paid=amount_paid,
                       currency="usd", status="paid")
            pay["payment"]["payment_intent"] = pi
            o["payments"] = {"object": "list", "data": [pay], "has_more": False}
        else:
            o["payment_intent"] = pi
    return o


def subscription_obj(sub_id, customer, status, start, end, price=None, user=None,
                     plan=None, new_shape=True, cancel=False, ended_at=None):
    o = copy.deepcopy(fixtures()["subscription"])
    o.update(id=sub_id, customer=customer, status=status, cancel_at_period_end=cancel,
             metadata={k: v for k, v in (("user_id", user), ("plan_id", plan)) if v},
             canceled_at=ended_at, ended_at=ended_at, cancel_at=None)
    item = o["items"]["data"][0]
    item["subscription"] = sub_id
    item["price"]["id"] = price or "price_not_ours"
    if new_shape:
        item.update(current_period_start=start, current_period_end=end)
    else:  # before 2025-03-31 the period was on the subscription
        item.pop("current_period_start", None)
        item.pop("current_period_end", None)
        o.update(current_period_start=start, current_period_end=end)
    return o


def checkout_obj(user, customer, sub_id, plan="pro"):
    o = copy.deepcopy(fixtures()["checkout.session"])
    o.update(id=new_id("cs_test_"), client_reference_id=user, customer=customer,
             subscription=sub_id, mode="subscription", status="complete",
             payment_status="paid", payment_intent=None,
             metadata={"user_id": user, "plan_id": plan})
    return o


def payment_intent_obj(pi_id, amount, metadata=None, customer=None):
    o = copy.deepcopy(fixtures()["payment_intent"])
    o.update(id=pi_id, amount=amount, amount_received=amount, currency="usd",
             status="succeeded", metadata=metadata or {}, customer=customer)
    return o


class WebhookCase(StackTestCase):
    """Helpers; the daemon's clock is NOW."""

    stack_env = {"BILLING_TEST_NOW": NOW}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(FIXTURES):
            raise unittest.SkipTest("Stripe fixtures not found at %s" % FIXTURES)
        super().setUpClass()

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def one(self, text):
        rows = self.sql(text)
        self.assertEqual(len(rows), 1, "%s -> %r" % (text, rows))
        return rows[0] if len(rows[0]) > 1 else rows[0][0]

    def post(self, body, header=None, content_type="application/json"):
        headers = {} if header is None else {"Stripe-Signature": header}
        return self.request("POST", "webhook", raw=body, headers=headers,
                            content_type=content_type)

    def deliver(self, evt, secret=None, t=NOW_EPOCH):
        body = json.dumps(evt).encode()
        return self.post(body, signature(secret or self.stack.webhook_secret, t, body))

    def assertReceived(self, resp, **extra):
        status, _, body = resp
        self.assertEqual(status, 200, body)
        want = {"received": True}
        want.update(extra)
        for k, v in want.items():
            self.assertEqual(body.get(k), v, body)
        return body

    def account(self, user, customer=None):
        """An account as the platform creates it, optionally with a customer."""
        status, _, body = self.request(
            "POST", "hooks/user-created", body={"user_id": user},
            token=self.stack.token("platform", "service", now=NOW_EPOCH))
        self.assertIn(status, (200, 201), body)
        if customer:
            self.sql("UPDATE billing_accounts SET stripe_customer_id = '%s' "
                     "WHERE user_id = '%s'" % (customer, user))
        return int(self.one("SELECT id FROM billing_accounts WHERE user_id = '%s'" % user))

    def invoice(self, user, stripe_id=None, total="19.99"):
        """A finalized manual invoice (made through the API, over an empty
        May), then given a total and the Stripe id it was pushed as."""
        status, _, body = self.request(
            "POST", "admin/invoices",
            body={"user_id": user, "period_start": "2025-05-01", "period_end": "2025-05-31"},
            token=self.stack.token("admin@example.com", "admin", now=NOW_EPOCH))
        self.assertEqual(status, 201, body)
        self.assertEqual(body["status"], "sent")
        self.sql("UPDATE billing_invoices SET subtotal = %s, total = %s, stripe_invoice_id = %s "
                 "WHERE id = %d" % (total, total, "'%s'" % stripe_id if stripe_id else "NULL",
                                    body["id"]))
        return body["id"]

    def snapshot(self):
        """Everything a webhook may change."""
        return [self.sql(q) for q in (
            "SELECT event_id FROM billing_stripe_events ORDER BY event_id",
            "SELECT id, status, COALESCE(idempotency_key, '') FROM billing_payments ORDER BY id",
            "SELECT id, type, COALESCE(dedupe_key, '') FROM billing_events ORDER BY id",
            "SELECT id, status, COALESCE(paid_at, ''), COALESCE(stripe_invoice_id, '') "
            "FROM billing_invoices ORDER BY id",
            "SELECT id, plan_id, status, COALESCE(stripe_subscription_id, ''), "
            "COALESCE(stripe_event_created, '') FROM billing_subscriptions ORDER BY id",
            "SELECT id, COALESCE(plan_id, ''), COALESCE(stripe_customer_id, ''), "
            "COALESCE(payment_failed_at, '') FROM billing_accounts ORDER BY id")]

    def recorded(self, evt_id):
        return int(self.one("SELECT COUNT(*) FROM billing_stripe_events WHERE event_id = '%s'"
                            % evt_id))


class WebhookTest(WebhookCase):

    # -- signatures --------------------------------------------------------

    def test_valid_invoice_paid_is_200_and_pays_the_invoice(self):
        acct = self.account("paid@example.com", "cus_paid")
        inv = self.invoice("paid@example.com", "in_paid_1")
        evt = event("invoice.paid", invoice_obj("in_paid_1", "cus_paid", paid_at=NOW_EPOCH - 120,
                                                pi="pi_paid_1"))
        self.assertReceived(self.deliver(evt))
        self.assertEqual(self.one("SELECT status, paid_at FROM billing_invoices WHERE id = %d"
                                  % inv), ["paid", db_time(NOW_EPOCH - 120)])
        self.assertEqual(
            self.one("SELECT account_id, invoice_id, amount, currency, status, method, "
                     "stripe_payment_intent_id, stripe_invoice_id FROM billing_payments "
                     "WHERE idempotency_key = 'stripe-invoice-paid:in_paid_1'"),
            [str(acct), str(inv), "19.99", "usd", "succeeded", "stripe", "pi_paid_1",
             "in_paid_1"])
        payload = json.loads(self.one(
            "SELECT payload FROM billing_events WHERE dedupe_key = 'billing.invoice.paid:%d'"
            % inv))
        self.assertEqual(payload["type"], "billing.invoice.paid")
        self.assertEqual(payload["data"]["id"], inv)
        self.assertEqual(payload["data"]["status"], "paid")
        self.assertEqual(self.recorded(evt["id"]), 1)
        # the user sees it paid, with its payment
        status, _, body = self.request("GET", "invoices/%d" % inv,
                                       token=self.stack.token("paid@example.com", now=NOW_EPOCH))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "paid")
        self.assertEqual([p["status"] for p in body["payments"]], ["succeeded"])

    def test_bad_signatures_are_400_and_change_nothing(self):
        self.account("guarded@example.com", "cus_guarded")
        self.invoice("guarded@example.com", "in_guarded")
        secret = self.stack.webhook_secret
        evt = event("invoice.paid", invoice_obj("in_guarded", "cus_guarded"))
        body = json.dumps(evt).encode()
        mac = openssl_hmac(secret, b"%d." % NOW_EPOCH + body)
        tampered = body.replace(b'"amount_paid": 1999', b'"amount_paid": 1')
        self.assertNotEqual(tampered, body)
        cases = {
            "stale (t = now - 301)": (body, signature(secret, NOW_EPOCH - 301, body)),
            "future (t = now + 301)": (body, signature(secret, NOW_EPOCH + 301, body)),
            "tampered body": (tampered, "t=%d,v1=%s" % (NOW_EPOCH, mac)),
            "forged": (body, signature("whsec_forged", NOW_EPOCH, body)),
            "zeros": (body, "t=%d,v1=%s" % (NOW_EPOCH, "0" * 64)),
            "missing header": (body, None),
            "empty header": (body, ""),
            "missing t": (body, "v1=" + mac),
            "missing v1": (body, "t=%d" % NOW_EPOCH),
            "only v0": (body, "t=%d,v0=%s" % (NOW_EPOCH, mac)),
            "uppercase hex": (body, "t=%d,v1=%s" % (NOW_EPOCH, mac.upper())),
            "short hex": (body, "t=%d,v1=%s" % (NOW_EPOCH, mac[:-1])),
            "t not digits": (body, "t=%d.0,v1=%s" % (NOW_EPOCH, mac)),
            "duplicate t": (body, "t=%d,t=%d,v1=%s" % (NOW_EPOCH, NOW_EPOCH, mac)),
            "blank after comma": (body, "t=%d, v1=%s" % (NOW_EPOCH, mac)),
            "header too long": (body, "t=%d,v1=%s,v0=%s" % (NOW_EPOCH, mac, "a" * 1024)),
        }
        before = self.snapshot()
        for name, (b, header) in cases.items():
            with self.subTest(name):
                err = self.assertError(self.post(b, header), 400, "invalid_argument")
                self.assertEqual(err.get("param"), "Stripe-Signature")
        self.assertEqual(self.snapshot(), before)
        # the same event, signed as it should be, goes through
        self.assertReceived(self.post(body, "t=%d,v1=%s" % (NOW_EPOCH, mac)))
        self.assertEqual(self.one("SELECT status FROM billing_invoices "
                                  "WHERE stripe_invoice_id = 'in_guarded'"), "paid")

    def test_tolerance_is_300_seconds_both_ways(self):
        for t, ok in ((NOW_EPOCH - 300, True), (NOW_EPOCH + 300, True),
                      (NOW_EPOCH - 301, False), (NOW_EPOCH + 301, False)):
            with self.subTest(t=t - NOW_EPOCH):
                evt = event("customer.created", copy.deepcopy(fixtures()["customer"]))
                resp = self.deliver(evt, t=t)
                if ok:
                    self.assertReceived(resp, ignored=True)
                else:
                    self.assertError(resp, 400, "invalid_argument")
                self.assertEqual(self.recorded(evt["id"]), 1 if ok else 0)

    def test_other_content_type_is_415(self):
        evt = event("customer.created", copy.deepcopy(fixtures()["customer"]))
        body = json.dumps(evt).encode()
        resp = self.post(body, signature(self.stack.webhook_secret, NOW_EPOCH, body),
                         content_type="text/plain")
        self.assertError(resp, 415, "unsupported_media_type")
        self.assertEqual(self.recorded(evt["id"]), 0)

    def test_signed_but_not_json_is_400_invalid_json(self):
        for body in (b"{not json", b"[1, 2]", b""):
            with self.subTest(body=body):
                resp = self.post(body, signature(self.stack.webhook_secret, NOW_EPOCH, body))
                self.assertError(resp, 400, "invalid_json")

    def test_signed_but_not_an_event_is_400(self):
        for drop, param in (("id", "id"), ("type", "type"), ("created", "created"),
                            ("data", "data.object")):
            with self.subTest(missing=drop):
                evt = event("invoice.paid", {"id": "in_x"})
                del evt[drop]
                err = self.assertError(self.deliver(evt), 400, "invalid_argument")
                self.assertEqual(err.get("param"), param)

    def test_body_over_1_mib_is_413(self):
        evt = event("customer.created", copy.deepcopy(fixtures()["customer"]))
        evt["padding"] = "x" * (1024 * 1024)
        before = self.snapshot()
        err = self.assertError(self.deliver(evt), 413, "payload_too_large")
        self.assertIn("1048576", err["message"])
        evt["padding"] = "x" * (3 * 1024 * 1024)      # nginx stops it first
        self.assertError(self.deliver(evt), 413, "payload_too_large")
        self.assertEqual(self.snapshot(), before)

    def test_a_large_event_up_to_1_mib_is_received(self):
        """Stripe's events can exceed 64 KiB (an invoice with many lines)."""
        evt = event("customer.created", copy.deepcopy(fixtures()["customer"]))
        evt["padding"] = "x" * (1024 * 1024 - 4096)
        self.assertReceived(self.deliver(evt), ignored=True)
        self.assertEqual(self.recorded(evt["id"]), 1)
        # the other routes keep 64 KiB
        status, _, body = self.request("POST", "admin/credits", token=self.stack.token(
            "admin@example.com", "admin", now=NOW_EPOCH),
            raw=b'{"reason": "' + b"x" * (65 * 1024) + b'"}',
            content_type="application/json")
        self.assertEqual(status, 413, body)

    # -- once per event ----------------------------------------------------

    def test_redelivery_is_a_duplicate_and_changes_nothing(self):
        self.account("twice@example.com", "cus_twice")
        self.invoice("twice@example.com", "in_twice")
        evt = event("invoice.paid", invoice_obj("in_twice", "cus_twice"))
        self.assertReceived(self.deliver(evt))
        after_first = self.snapshot()
        self.assertReceived(self.deliver(evt), duplicate=True)
        self.assertEqual(self.snapshot(), after_first)

    def test_ten_concurrent_deliveries_apply_once(self):
        self.account("burst@example.com", "cus_burst")
        inv = self.invoice("burst@example.com", "in_burst")
        evt = event("invoice.paid", invoice_obj("in_burst", "cus_burst", pi="pi_burst"))
        body = json.dumps(evt).encode()
        header = signature(self.stack.webhook_secret, NOW_EPOCH, body)
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: self.post(body, header), range(10)))
        self.assertEqual([r[0] for r in results], [200] * 10, results)
        self.assertEqual(sorted(bool(r[2].get("duplicate")) for r in results),
                         [False] + [True] * 9)
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_payments WHERE invoice_id = %d"
                                  % inv), "1")
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "paid")
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_events WHERE type = "
                                  "'billing.invoice.paid' AND dedupe_key = "
                                  "'billing.invoice.paid:%d'" % inv), "1")
        self.assertEqual(self.recorded(evt["id"]), 1)

    def test_database_down_is_503_and_the_retry_applies_once(self):
        self.account("down@example.com", "cus_down")
        inv = self.invoice("down@example.com", "in_down")
        evt = event("invoice.paid", invoice_obj("in_down", "cus_down"))
        self.stack.mariadb.stop()
        try:
            self.assertError(self.deliver(evt), 503, "unavailable")
        finally:
            self.stack.mariadb.start()
        ok = wait_for(lambda: all(self.request("GET", "health")[0] == 200
                                  for _ in range(4)), 10.0)
        self.assertTrue(ok, "billingd did not reconnect")
        self.assertEqual(self.recorded(evt["id"]), 0)
        # Stripe retries: applied now, and once
        self.assertReceived(self.deliver(evt))
        self.assertReceived(self.deliver(evt), duplicate=True)
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "paid")
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_payments WHERE invoice_id = %d"
                                  % inv), "1")

    # -- what we do not handle or do not know ------------------------------

    def test_unknown_event_type_is_acknowledged_and_ignored(self):
        evt = copy.deepcopy(fixtures()["event"])  # Stripe's plan.created example
        evt.update(id=new_id("evt_"), created=NOW_EPOCH - 5)
        before = self.snapshot()
        self.assertReceived(self.deliver(evt), ignored=True)
        self.assertEqual(self.recorded(evt["id"]), 1)
        after = self.snapshot()
        self.assertEqual(after[1:], before[1:])
        self.assertIn(" plan.created: ignored", self.log_text())

    def test_unknown_invoice_is_acknowledged(self):
        evt = event("invoice.paid", invoice_obj("in_nobody", "cus_nobody"))
        before = self.snapshot()
        body = self.assertReceived(self.deliver(evt), ignored=True)
        self.assertEqual(body.get("reason"), "unknown invoice")
        self.assertEqual(self.recorded(evt["id"]), 1)
        self.assertEqual(self.snapshot()[1:], before[1:])

    # -- invoices and payments ---------------------------------------------

    def test_payment_failed_starts_grace_once_and_paid_ends_it(self):
        acct = self.account("failing@example.com", "cus_failing")
        inv = self.invoice("failing@example.com", "in_failing")
        t1, t2 = NOW_EPOCH - 2 * HOUR, NOW_EPOCH - HOUR
        first = event("invoice.payment_failed",
                      invoice_obj("in_failing", "cus_failing", amount_paid=0,
                                  error={"type": "card_error",
                                         "message": "Your card was declined."}),
                      created=t1)
        self.assertReceived(self.deliver(first))
        self.assertEqual(self.one("SELECT payment_failed_at FROM billing_accounts WHERE id = %d"
                                  % acct), db_time(t1))
        self.assertEqual(
            self.one("SELECT invoice_id, amount, status, method, failure_message "
                     "FROM billing_payments WHERE idempotency_key = "
                     "'stripe-invoice-failed:%s'" % first["id"]),
            [str(inv), "19.99", "failed", "stripe", "Your card was declined."])
        payload = json.loads(self.one("SELECT payload FROM billing_events WHERE dedupe_key = "
                                      "'billing.payment.failed:%s'" % first["id"]))
        self.assertEqual(payload["type"], "billing.payment.failed")
        self.assertEqual(payload["data"]["invoice_id"], inv)
        self.assertEqual(payload["data"]["amount"], 19.99)
        self.assertEqual(payload["data"]["failure_message"], "Your card was declined.")
        self.assertEqual(payload["data"]["payment_failed_at"], "2025-06-15T10:00:00Z")
        self.assertEqual(payload["data"]["grace_period_ends_at"], "2025-06-22T10:00:00Z")
        # a later failure: another row and event, the grace period still runs from t1
        second = event("invoice.payment_failed",
                       invoice_obj("in_failing", "cus_failing", amount_paid=0), created=t2)
        self.assertReceived(self.deliver(second))
        self.assertEqual(self.one("SELECT payment_failed_at FROM billing_accounts WHERE id = %d"
                                  % acct), db_time(t1))
        self.assertEqual(self.one("SELECT failure_message FROM billing_payments WHERE "
                                  "idempotency_key = 'stripe-invoice-failed:%s'" % second["id"]),
                         "payment of Stripe invoice in_failing failed")
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_events WHERE account_id = %d "
                                  "AND type = 'billing.payment.failed'" % acct), "2")
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "sent")
        # paid at last: the trouble is over
        self.assertReceived(self.deliver(event("invoice.paid",
                                               invoice_obj("in_failing", "cus_failing"))))
        self.assertEqual(self.one("SELECT COALESCE(payment_failed_at, 'none') FROM "
                                  "billing_accounts WHERE id = %d" % acct), "none")
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "paid")
        # a failure older than the payment, delivered late: history only
        late = event("invoice.payment_failed",
                     invoice_obj("in_failing", "cus_failing", amount_paid=0),
                     created=t1 - HOUR)
        self.assertReceived(self.deliver(late))
        self.assertEqual(self.one("SELECT COALESCE(payment_failed_at, 'none') FROM "
                                  "billing_accounts WHERE id = %d" % acct), "none")
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "paid")
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_events WHERE account_id = %d "
                                  "AND type = 'billing.payment.failed'" % acct), "2")

    def test_failure_of_a_stripe_only_invoice_finds_the_account_by_customer(self):
        acct = self.account("subinv@example.com", "cus_subinv")
        evt = event("invoice.payment_failed",
                    invoice_obj("in_sub_only", "cus_subinv", amount_paid=0, amount_due=2999),
                    created=NOW_EPOCH - 600)
        self.assertReceived(self.deliver(evt))
        self.assertEqual(self.one("SELECT payment_failed_at FROM billing_accounts WHERE id = %d"
                                  % acct), db_time(NOW_EPOCH - 600))
        self.assertEqual(self.one("SELECT COALESCE(invoice_id, 'none'), amount, status FROM "
                                  "billing_payments WHERE account_id = %d" % acct),
                         ["none", "29.99", "failed"])

    def test_invoice_found_by_metadata_is_linked_and_paid(self):
        self.account("meta@example.com")
        inv = self.invoice("meta@example.com", None)
        evt = event("invoice.paid", invoice_obj("in_meta", "cus_meta_unknown", pi="pi_meta",
                                                new_shape=False,
                                                metadata={"billing_invoice_id": str(inv)}))
        self.assertReceived(self.deliver(evt))
        self.assertEqual(self.one("SELECT status, stripe_invoice_id FROM billing_invoices "
                                  "WHERE id = %d" % inv), ["paid", "in_meta"])
        self.assertEqual(self.one("SELECT stripe_payment_intent_id FROM billing_payments "
                                  "WHERE invoice_id = %d" % inv), "pi_meta")

    def test_payment_intent_then_invoice_paid_record_one_payment(self):
        self.account("pi@example.com", "cus_pi")
        inv = self.invoice("pi@example.com", "in_pi")
        pi = event("payment_intent.succeeded",
                   payment_intent_obj("pi_one", 1999, {"billing_invoice_id": str(inv)}))
        self.assertReceived(self.deliver(pi))
        self.assertEqual(self.one("SELECT invoice_id, amount, status, idempotency_key FROM "
                                  "billing_payments WHERE stripe_payment_intent_id = 'pi_one'"),
                         [str(inv), "19.99", "succeeded", "stripe-pi:pi_one"])
        self.assertReceived(self.deliver(event("invoice.paid",
                                               invoice_obj("in_pi", "cus_pi", pi="pi_one"))))
        self.assertEqual(self.sql("SELECT status, COALESCE(stripe_invoice_id, '') FROM "
                                  "billing_payments WHERE invoice_id = %d" % inv),
                         [["succeeded", "in_pi"]])
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "paid")
        # an intent that is none of ours is acknowledged
        other = event("payment_intent.succeeded", payment_intent_obj("pi_other", 500))
        self.assertReceived(self.deliver(other), ignored=True)

    def test_a_void_invoice_stays_void_when_stripe_says_paid(self):
        self.account("void@example.com", "cus_void")
        inv = self.invoice("void@example.com", "in_void")
        self.sql("UPDATE billing_invoices SET status = 'void' WHERE id = %d" % inv)
        self.assertReceived(self.deliver(event("invoice.paid",
                                               invoice_obj("in_void", "cus_void"))))
        self.assertEqual(self.one("SELECT status FROM billing_invoices WHERE id = %d" % inv),
                         "void")
        self.assertEqual(self.one("SELECT COUNT(*) FROM billing_events WHERE dedupe_key = "
                                  "'billing.invoice.paid:%d'" % inv), "0")

    # -- subscriptions -----------------------------------------------------

    def subscription(self, acct):
        rows = self.sql("SELECT plan_id, status, current_period_start, current_period_end, "
                        "cancel_at_period_end, stripe_subscription_id, "
                        "COALESCE(stripe_event_created, 'null'), COALESCE(canceled_at, 'null') "
                        "FROM billing_subscriptions WHERE account_id = %d" % acct)
        return rows[0] if rows else None

    def plan_of(self, acct):
        return self.one("SELECT COALESCE(plan_id, 'null') FROM billing_accounts WHERE id = %d"
                        % acct)

    def test_checkout_completed_links_customer_and_subscription(self):
        acct = self.account("checkout@example.com")
        evt = event("checkout.session.completed",
                    checkout_obj("checkout@example.com", "cus_checkout", "sub_checkout"),
                    created=NOW_EPOCH - 60)
        self.assertReceived(self.deliver(evt))
        self.assertEqual(self.one("SELECT stripe_customer_id, plan_id FROM billing_accounts "
                                  "WHERE id = %d" % acct), ["cus_checkout", "pro"])
        sub = self.subscription(acct)
        self.assertEqual(sub[0:2], ["pro", "active"])
        self.assertEqual(sub[5], "sub_checkout")
        # the subscription's own update, made before the session completed,
        # still applies: the checkout only seeded the row
        start, end = NOW_EPOCH - 120, NOW_EPOCH - 120 + 30 * 86400
        upd = event("customer.subscription.updated",
                    subscription_obj("sub_checkout", "cus_checkout", "active", start, end,
                                     price="price_pro"),
                    created=NOW_EPOCH - 90)
        self.assertReceived(self.deliver(upd))
        self.assertEqual(self.subscription(acct)[0:7],
                         ["pro", "active", db_time(start), db_time(end), "0", "sub_checkout",
                          str(NOW_EPOCH - 90)])

    def test_checkout_prefers_our_metadata_to_client_reference_id(self):
        ours, other = self.account("ref-ours@example.com"), self.account("ref-other@example.com")
        obj = checkout_obj("ref-ours@example.com", "cus_refours", "sub_refours")
        obj["client_reference_id"] = "ref-other@example.com"
        self.assertReceived(self.deliver(event("checkout.session.completed", obj)))
        self.assertEqual(self.one("SELECT COALESCE(stripe_customer_id, '-'), plan_id FROM "
                                  "billing_accounts WHERE id = %d" % ours),
                         ["cus_refours", "pro"])
        self.assertEqual(self.one("SELECT COALESCE(stripe_customer_id, '-'), "
                                  "COALESCE(plan_id, '-') FROM billing_accounts "
                                  "WHERE id = %d" % other), ["-", "-"])

    def test_checkout_never_links_a_customer_made_for_another_account(self):
        """A session that is not ours (no metadata) names a user by
        client_reference_id: that user's account gets no customer from it;
        nor does a customer whose metadata names another account."""
        acct = self.account("ref-only@example.com")
        obj = checkout_obj("ref-only@example.com", "cus_notmadeforit", "sub_notours")
        obj["metadata"] = {}
        self.assertReceived(self.deliver(event("checkout.session.completed", obj)))
        self.assertEqual(self.one("SELECT COALESCE(stripe_customer_id, '-') FROM "
                                  "billing_accounts WHERE id = %d" % acct), "-")
        obj = checkout_obj("ref-only@example.com", "cus_expanded", "sub_expanded")
        obj["customer"] = {"id": "cus_expanded", "object": "customer",
                           "metadata": {"user_id": "someone-else@example.com",
                                        "account_id": str(acct + 1000)}}
        self.assertReceived(self.deliver(event("checkout.session.completed", obj)))
        self.assertEqual(self.one("SELECT COALESCE(stripe_customer_id, '-') FROM "
                                  "billing_accounts WHERE id = %d" % acct), "-")

    def test_subscription_updates_out_of_order_keep_the_newest(self):
        user = "order@example.com"
        acct = self.account(user, "cus_order")
        t1, t2 = NOW_EPOCH - 2 * HOUR, NOW_EPOCH - HOUR
        s, e = NOW_EPOCH - 86400, NOW_EPOCH + 29 * 86400
        newer = event("customer.subscription.updated",
                      subscription_obj("sub_order", "cus_order", "active", s, e,
                                       price="price_pro", user=user), created=t2)
        older = event("customer.subscription.updated",
                      subscription_obj("sub_order", "cus_order", "past_due", s - 86400,
                                       e - 86400, user=user, plan="free"), created=t1)
        self.assertReceived(self.deliver(newer))
        at_t2 = ["pro", "active", db_time(s), db_time(e), "0", "sub_order", str(t2), "null"]
        self.assertEqual(self.subscription(acct), at_t2)
        self.assertEqual(self.plan_of(acct), "pro")
        body = self.assertReceived(self.deliver(older), ignored=True)
        self.assertIn("older", body["reason"])
        self.assertEqual(self.subscription(acct), at_t2)
        self.assertEqual(self.plan_of(acct), "pro")
        self.assertEqual(self.recorded(older["id"]), 1)
        # the same time is not older: applied (cancel at the period's end)
        same = event("customer.subscription.updated",
                     subscription_obj("sub_order", "cus_order", "active", s, e,
                                      price="price_pro", user=user, cancel=True), created=t2)
        self.assertReceived(self.deliver(same))
        self.assertEqual(self.subscription(acct)[4], "1")

    def test_deleted_then_older_update_stays_canceled(self):
        user = "deleted@example.com"
        acct = self.account(user, "cus_deleted")
        s, e = NOW_EPOCH - 86400, NOW_EPOCH + 29 * 86400
        t1, t2, t3 = NOW_EPOCH - 3 * HOUR, NOW_EPOCH - 2 * HOUR, NOW_EPOCH - HOUR

        def sub(status, ended_at=None):
            return subscription_obj("sub_deleted", "cus_deleted", status, s, e,
                                    price="price_enterprise", user=user, ended_at=ended_at)

        self.assertReceived(self.deliver(event("customer.subscription.updated", sub("active"),
                                               created=t1)))
        self.assertEqual(self.plan_of(acct), "enterprise")
        self.assertReceived(self.deliver(event("customer.subscription.deleted",
                                               sub("canceled", ended_at=t3 - 10), created=t3)))
        gone = ["enterprise", "canceled", db_time(s), db_time(e), "0", "sub_deleted", str(t3),
                db_time(t3 - 10)]
        self.assertEqual(self.subscription(acct), gone)
        self.assertEqual(self.plan_of(acct), "free")
        self.assertReceived(self.deliver(event("customer.subscription.updated", sub("active"),
                                               created=t2)), ignored=True)
        self.assertEqual(self.subscription(acct), gone)
        self.assertEqual(self.plan_of(acct), "free")

    def test_canceled_is_final_and_the_same_second_never_revives_it(self):
        user = "tie@example.com"
        acct = self.account(user, "cus_tie")
        s, e = NOW_EPOCH - 86400, NOW_EPOCH + 29 * 86400
        t1, t2 = NOW_EPOCH - 2 * HOUR, NOW_EPOCH - HOUR

        def sub(status, ended_at=None):
            return subscription_obj("sub_tie", "cus_tie", status, s, e, price="price_pro",
                                    user=user, ended_at=ended_at)

        self.assertReceived(self.deliver(event("customer.subscription.updated", sub("active"),
                                               created=t1)))
        self.assertReceived(self.deliver(event("customer.subscription.deleted",
                                               sub("canceled", ended_at=t2), created=t2)))
        gone = ["pro", "canceled", db_time(s), db_time(e), "0", "sub_tie", str(t2),
                db_time(t2)]
        self.assertEqual(self.subscription(acct), gone)
        self.assertEqual(self.plan_of(acct), "free")
        # an update of the same second, delivered after the deletion
        body = self.assertReceived(self.deliver(event("customer.subscription.updated",
                                                      sub("active"), created=t2)), ignored=True)
        self.assertIn("final", body["reason"])
        self.assertEqual(self.subscription(acct), gone)
        self.assertEqual(self.plan_of(acct), "free")
        # nor a later one: Stripe never reactivates a canceled subscription
        self.assertReceived(self.deliver(event("customer.subscription.updated", sub("active"),
                                               created=t2 + 60)), ignored=True)
        self.assertEqual(self.subscription(acct), gone)
        self.assertEqual(self.plan_of(acct), "free")

    def test_the_same_second_never_moves_the_status_back(self):
        user = "tie2@example.com"
        acct = self.account(user, "cus_tie2")
        s, e = NOW_EPOCH - 86400, NOW_EPOCH + 29 * 86400
        t = NOW_EPOCH - HOUR

        def sub(status):
            return subscription_obj("sub_tie2", "cus_tie2", status, s, e, price="price_pro",
                                    user=user)

        self.assertReceived(self.deliver(event("customer.subscription.updated", sub("active"),
                                               created=t)))
        body = self.assertReceived(self.deliver(event("customer.subscription.updated",
                                                      sub("trialing"), created=t)),
                                   ignored=True)
        self.assertIn("same second", body["reason"])
        self.assertEqual(self.subscription(acct)[1], "active")
        # the same second moving on is applied
        self.assertReceived(self.deliver(event("customer.subscription.updated",
                                               sub("past_due"), created=t)))
        self.assertEqual(self.subscription(acct)[1], "past_due")

    def test_period_from_items_or_from_the_top_level(self):
        for n, new_shape in enumerate((True, False)):
            with self.subTest(new_shape=new_shape):
                user = "period%d@example.com" % n
                acct = self.account(user)
                s, e = NOW_EPOCH - 10 * 86400 + n, NOW_EPOCH + 20 * 86400 + n
                evt = event("customer.subscription.updated",
                            subscription_obj("sub_period_%d" % n, "cus_period_%d" % n,
                                             "trialing", s, e, user=user, plan="pro",
                                             new_shape=new_shape))
                self.assertReceived(self.deliver(evt))
                self.assertEqual(self.subscription(acct)[0:4],
                                 ["pro", "trialing", db_time(s), db_time(e)])
                # found by metadata.user_id: the customer is linked on the way
                self.assertEqual(self.one("SELECT stripe_customer_id FROM billing_accounts "
                                          "WHERE id = %d" % acct), "cus_period_%d" % n)

    def test_unknown_subscription_is_acknowledged(self):
        evt = event("customer.subscription.updated",
                    subscription_obj("sub_nobody", "cus_nobody", "active", NOW_EPOCH,
                                     NOW_EPOCH + 86400, price="price_pro"))
        body = self.assertReceived(self.deliver(evt), ignored=True)
        self.assertEqual(body["reason"], "unknown subscription")


class WebhookRotationTest(WebhookCase):
    """Two secrets while the endpoint's secret is rolled."""

    stack_env = {"BILLING_TEST_NOW": NOW, "STRIPE_WEBHOOK_SECRET": "whsec_old, whsec_new"}

    def unknown_event(self):
        return event("customer.created", copy.deepcopy(fixtures()["customer"]))

    def test_either_secret_is_accepted(self):
        for secret in ("whsec_old", "whsec_new"):
            with self.subTest(secret=secret):
                evt = self.unknown_event()
                self.assertReceived(self.deliver(evt, secret=secret), ignored=True)
                self.assertEqual(self.recorded(evt["id"]), 1)

    def test_a_second_v1_that_matches_is_accepted(self):
        evt = self.unknown_event()
        body = json.dumps(evt).encode()
        good = openssl_hmac("whsec_new", b"%d." % NOW_EPOCH + body)
        bad = openssl_hmac("whsec_retired", b"%d." % NOW_EPOCH + body)
        self.assertReceived(self.post(body, "t=%d,v1=%s,v1=%s" % (NOW_EPOCH, bad, good)),
                            ignored=True)
        self.assertEqual(self.recorded(evt["id"]), 1)

    def test_a_retired_secret_is_refused(self):
        evt = self.unknown_event()
        self.assertError(self.deliver(evt, secret="whsec_retired"), 400, "invalid_argument")
        self.assertEqual(self.recorded(evt["id"]), 0)


class WebhookUnconfiguredTest(WebhookCase):
    """No webhook secret: the endpoint cannot verify anything."""

    stack_env = {"BILLING_TEST_NOW": NOW, "STRIPE_WEBHOOK_SECRET": ""}

    def test_no_secret_is_503_unavailable(self):
        evt = event("customer.created", copy.deepcopy(fixtures()["customer"]))
        self.assertError(self.deliver(evt, secret="whsec_anything"), 503, "unavailable")
        self.assertEqual(self.recorded(evt["id"]), 0)
