"""Stripe webhooks delivered many times at once and out of order.

- The same invoice.paid ten times at once: ten 200s, exactly one of them not
  a duplicate; one payment, the invoice paid once, one billing.invoice.paid
  event.
- One account's story (subscription updated active, payment failed, payment
  intent succeeded, invoice paid, subscription deleted, in that order of
  `created`) delivered newest first, and, for a second account, every event
  ten times, shuffled, from ten threads: both end in the state of the newest
  events (canceled subscription, default plan, invoice paid with one
  succeeded payment, no grace period running), each event recorded once.

Bodies are minimal Stripe objects with the fields the handlers read
(docs/webhooks.md), signed like Stripe (HMAC-SHA256 of "t.body").
"""

import hashlib
import hmac
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from fault_base import FaultCase, clock, clock_utc

HOUR = 3600


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:20]


def event(type_, obj, created):
    return {"id": new_id("evt_"), "object": "event", "api_version": "2025-03-31.basil",
            "type": type_, "created": created, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj}}


def invoice_obj(in_id, customer, our_id, paid, at, pi=None):
    amount = 100
    return {"id": in_id, "object": "invoice", "customer": customer, "currency": "usd",
            "amount_due": amount, "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount, "attempt_count": 1,
            "status": "paid" if paid else "open", "payment_intent": pi,
            "last_finalization_error": None if paid else
            {"type": "card_error", "message": "Your card was declined."},
            "metadata": {"billing_invoice_id": str(our_id)},
            "status_transitions": {"paid_at": at if paid else None,
                                   "finalized_at": at - HOUR, "voided_at": None}}


def subscription_obj(sub_id, customer, user, status, start, end, ended_at=None):
    return {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
            "cancel_at_period_end": False, "canceled_at": ended_at, "ended_at": ended_at,
            "metadata": {"user_id": user, "plan_id": "pro"},
            "items": {"object": "list", "has_more": False, "data": [{
                "id": new_id("si_"), "object": "subscription_item", "quantity": 1,
                "price": {"id": "price_pro", "object": "price"},
                "current_period_start": start, "current_period_end": end}]}}


def payment_intent_obj(pi_id, our_id):
    return {"id": pi_id, "object": "payment_intent", "amount": 100, "amount_received": 100,
            "currency": "usd", "status": "succeeded",
            "metadata": {"billing_invoice_id": str(our_id)}}


class WebhookStormTest(FaultCase):

    # -- helpers ------------------------------------------------------------

    def post(self, evt):
        body = json.dumps(evt).encode()
        t = int(clock())
        mac = hmac.new(self.stack.webhook_secret.encode(), b"%d." % t + body,
                       hashlib.sha256).hexdigest()
        return self.request("POST", "webhook", raw=body,
                            headers={"Stripe-Signature": "t=%d,v1=%s" % (t, mac)})

    def customer_with_invoice(self, user, customer, day_offset):
        """An account with a Stripe customer and a sent invoice of 1.00 (a
        metered session of 2 cores for 10 h); returns the invoice's id."""
        svc = self.service_token()
        day = (clock_utc() - timedelta(days=day_offset)).date()
        sid = "storm-" + user
        for name, body in (("session-created", {
                "session_id": sid, "user_id": user, "cpu_cores": 2, "memory_gb": 0,
                "storage_gb": 0, "started_at": "%sT00:00:00Z" % day}),
                ("session-terminated", {"session_id": sid, "ended_at": "%sT10:00:00Z" % day})):
            status, _, resp = self.request("POST", "hooks/" + name, body=body, token=svc)
            self.assertIn(status, (200, 201), resp)
        self.sql("UPDATE billing_accounts SET stripe_customer_id = '%s' WHERE user_id = '%s'"
                 % (customer, user))
        self.stack.run_helper("billing-calculate-usage")
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin_token(), body={
            "user_id": user, "period_start": str(day), "period_end": str(day)})
        self.assertEqual(status, 201, inv)
        self.assertEqual((inv["status"], inv["total"]), ("sent", 1.0))
        return inv["id"]

    def recorded(self, evt_id):
        return self.count("billing_stripe_events", "event_id = '%s'" % evt_id)

    def state(self, user):
        [[plan, failed_at]] = self.sql(
            "SELECT COALESCE(plan_id, 'NULL'), COALESCE(payment_failed_at, 'NULL') "
            "FROM billing_accounts WHERE user_id = '%s'" % user)
        sub = self.sql("SELECT s.status, s.plan_id, s.stripe_subscription_id, "
                       "COALESCE(s.stripe_event_created, 'NULL') FROM billing_subscriptions s "
                       "JOIN billing_accounts a ON a.id = s.account_id WHERE a.user_id = '%s'"
                       % user)
        inv = self.sql("SELECT i.status, COALESCE(i.stripe_invoice_id, 'NULL') "
                       "FROM billing_invoices i JOIN billing_accounts a ON a.id = i.account_id "
                       "WHERE a.user_id = '%s'" % user)
        pays = self.sql("SELECT p.status, p.amount, COALESCE(p.stripe_payment_intent_id, 'NULL') "
                        "FROM billing_payments p JOIN billing_accounts a ON a.id = p.account_id "
                        "WHERE a.user_id = '%s' ORDER BY p.status" % user)
        return {"plan": plan, "payment_failed_at": failed_at, "subscription": sub,
                "invoices": inv, "payments": pays}

    # -- the same event at once ---------------------------------------------

    def test_the_same_invoice_paid_ten_times_at_once_applies_once(self):
        user, cus = "burst@example.com", "cus_burst_storm"
        our = self.customer_with_invoice(user, cus, 3)
        now = int(clock())
        evt = event("invoice.paid", invoice_obj("in_burst_storm", cus, our, True, now - 60,
                                                pi="pi_burst_storm"), now - 30)
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: self.post(evt), range(10)))
        self.assertEqual([r[0] for r in results], [200] * 10, [r[2] for r in results])
        self.assertEqual(sorted(bool(r[2].get("duplicate")) for r in results),
                         [False] + [True] * 9, [r[2] for r in results])
        self.assertEqual(self.recorded(evt["id"]), 1)
        st = self.state(user)
        self.assertEqual(st["invoices"], [["paid", "in_burst_storm"]])
        self.assertEqual(st["payments"], [["succeeded", "1.00", "pi_burst_storm"]])
        self.assertEqual(self.count("billing_events", "dedupe_key = 'billing.invoice.paid:%d'"
                                    % our), 1)
        self.assertLedger("after ten concurrent deliveries")

    # -- out of order -------------------------------------------------------

    def story(self, user, cus, our, tag):
        """Six events of one account, oldest first (by created)."""
        now = int(clock())
        sub, pi, in_id = "sub_" + tag, "pi_" + tag, "in_" + tag
        start, end = now - 10 * 86400, now + 20 * 86400
        return [
            event("customer.subscription.updated",
                  subscription_obj(sub, cus, user, "active", start, end), now - 6 * HOUR),
            event("invoice.payment_failed", invoice_obj(in_id, cus, our, False, now - 5 * HOUR),
                  now - 5 * HOUR),
            event("customer.subscription.updated",
                  subscription_obj(sub, cus, user, "past_due", start, end), now - 4 * HOUR),
            event("payment_intent.succeeded", payment_intent_obj(pi, our), now - 3 * HOUR),
            event("invoice.paid", invoice_obj(in_id, cus, our, True, now - 3 * HOUR, pi=pi),
                  now - 2 * HOUR),
            event("customer.subscription.deleted",
                  subscription_obj(sub, cus, user, "canceled", start, end,
                                   ended_at=now - HOUR - 10), now - HOUR),
        ]

    def assertEndState(self, user, events, tag):
        st = self.state(user)
        deleted = events[-1]
        self.assertEqual(st["subscription"], [["canceled", "pro", "sub_" + tag,
                                               str(deleted["created"])]], st)
        self.assertEqual(st["plan"], "free", st)
        self.assertEqual(st["invoices"], [["paid", "in_" + tag]], st)
        self.assertEqual(st["payment_failed_at"], "NULL", "a grace period runs: %s" % st)
        self.assertEqual([p for p in st["payments"] if p[0] == "succeeded"],
                         [["succeeded", "1.00", "pi_" + tag]], st)
        self.assertEqual([p[0] for p in st["payments"] if p[0] != "succeeded"], ["failed"], st)
        for e in events:
            self.assertEqual(self.recorded(e["id"]), 1, e["type"])

    def test_events_newest_first_end_in_the_newest_state(self):
        user, cus = "reverse@example.com", "cus_reverse_storm"
        our = self.customer_with_invoice(user, cus, 4)
        events = self.story(user, cus, our, "reverse_storm")
        for e in reversed(events):
            status, _, body = self.post(e)
            self.assertEqual(status, 200, (e["type"], body))
        self.assertEndState(user, events, "reverse_storm")
        self.assertLedger("after the events newest first")

    def test_every_event_ten_times_shuffled_from_ten_threads_ends_in_the_newest_state(self):
        user, cus = "shuffle@example.com", "cus_shuffle_storm"
        our = self.customer_with_invoice(user, cus, 5)
        events = self.story(user, cus, our, "shuffle_storm")
        deliveries = [e for e in events for _ in range(10)]
        random.Random(7).shuffle(deliveries)
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(self.post, deliveries))
        self.assertEqual([r[0] for r in results], [200] * len(deliveries),
                         [r[2] for r in results if r[0] != 200][:5])
        firsts = {}
        for e, r in zip(deliveries, results):
            if not r[2].get("duplicate"):
                firsts[e["id"]] = firsts.get(e["id"], 0) + 1
        self.assertEqual(firsts, {e["id"]: 1 for e in events},
                         "each event applied (not a duplicate) exactly once")
        self.assertEndState(user, events, "shuffle_storm")
        self.assertLedger("after the shuffled storm")

    # -- the checks themselves ----------------------------------------------

    def test_zz_the_ledger_checks_see_damage(self):
        """The ledger checks are not vacuous: each kind of damage, made inside
        a transaction that is rolled back, is reported."""
        from ledger import ledger_problems
        user, cus = "damage@example.com", "cus_damage_storm"
        our = self.customer_with_invoice(user, cus, 6)
        for e in reversed(self.story(user, cus, our, "damage_storm")):
            self.assertEqual(self.post(e)[0], 200)
        self.assertEqual(ledger_problems(self.sql), [])
        damages = [
            ("UPDATE billing_invoice_lines SET amount = amount + 0.01 ORDER BY id LIMIT 1",
             "subtotal is not the sum of the lines"),
            ("UPDATE billing_invoices SET total = total + 1 ORDER BY id LIMIT 1",
             "total is not subtotal - credits"),
            ("UPDATE billing_invoice_counters SET last_number = last_number + 1",
             "invoice counter of"),
            ("UPDATE billing_invoices SET invoice_number = CONCAT(LEFT(invoice_number, 9), "
             "'000099') WHERE invoice_number IS NOT NULL ORDER BY id DESC LIMIT 1",
             "are not 1.."),
            ("INSERT INTO billing_invoices (account_id, kind, period_start, period_end, "
             "billing_mode, currency, status) SELECT account_id, 'manual', "
             "period_start + INTERVAL 1 HOUR, period_end, billing_mode, currency, 'draft' "
             "FROM billing_invoices WHERE status <> 'void' ORDER BY id LIMIT 1",
             "live invoices of one account overlap"),
            ("UPDATE billing_usage_records SET invoice_id = NULL WHERE invoice_id IS NOT NULL "
             "ORDER BY id LIMIT 1", "a usage invoice's subtotal differs"),
            ("UPDATE billing_usage_records SET invoice_id = NULL WHERE invoice_id IS NOT NULL "
             "ORDER BY id LIMIT 1; UPDATE billing_accounts SET billed_through = '2999-01-01'",
             "never billed"),
            ("UPDATE billing_usage_daily SET total_cost = total_cost + 1 LIMIT 1",
             "a daily total differs from its records"),
            ("DELETE FROM billing_usage_daily LIMIT 1", "usage records without their daily total"),
            ("UPDATE billing_usage_day_totals SET total_cost = total_cost + 0.000001 LIMIT 1",
             "a day's total over every account differs"),
            ("UPDATE billing_usage_day_totals SET records = records + 1 LIMIT 1",
             "a day's total over every account differs"),
            ("DELETE FROM billing_usage_day_totals LIMIT 1",
             "a day's daily totals without its total over every account"),
            ("INSERT INTO billing_usage_day_totals (day, total_cost, records) "
             "VALUES ('1999-01-01', 0.100000, 1)",
             "a day's total over every account differs"),
            ("INSERT INTO billing_payments (account_id, invoice_id, amount, currency, status, "
             "method, idempotency_key) SELECT account_id, id, total, currency, 'succeeded', "
             "'stripe', CONCAT('stripe-invoice-paid:again', id) FROM billing_invoices "
             "WHERE status = 'paid' LIMIT 1", "a paid invoice without exactly one succeeded"),
            ("DELETE FROM billing_stripe_events WHERE type = 'invoice.payment_failed'",
             "a failed Stripe payment whose event was not recorded"),
            ("DELETE FROM billing_events WHERE type = 'billing.invoice.paid' LIMIT 1",
             "billing.invoice.paid event"),
            ("UPDATE billing_invoices SET invoice_number = NULL, status = 'draft' "
             "WHERE status = 'paid' LIMIT 1", "finalized and numbered disagree"),
        ]
        for damage, expect in damages:
            with self.subTest(damage=damage[:60]):
                damaged = lambda text: self.sql("START TRANSACTION; %s; %s; ROLLBACK"
                                                % (damage, text))
                problems = ledger_problems(damaged)
                self.assertTrue(any(expect in p for p in problems),
                                "%r not reported: %s" % (expect, problems))
        self.assertLedger("after the damage was rolled back")
