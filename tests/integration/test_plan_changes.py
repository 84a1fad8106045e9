"""Plan changes of a plan fee we bill (docs/billing.md, "Plan changes"):
POST subscription {plan_id} for accounts in billing mode `subscription`
or `hybrid` with no Stripe subscription.

Every instant is fixed: billingd is restarted with BILLING_TEST_NOW at the
instant of each change (at()), and the invoice run is the helper as of
00:30 UTC on the invoice day (invoiceDay 1).  April 2025 has 30 days.
Each worked example of docs/billing.md is a test here (test_example_*).
"""

import json
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal

import os
import sys

from base import StackTestCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from ledger import ledger_problems  # noqa: E402  (tests/fault/ledger.py)

PLANS = [
    {"id": "free", "name": "Free Tier", "price": 0, "interval": "month",
     "cpu_limit": 2, "memory_limit": 4, "storage_limit": 10},
    {"id": "pro", "name": "Professional", "price": 29.99, "interval": "month",
     "cpu_limit": 8, "memory_limit": 16, "storage_limit": 100},
    {"id": "enterprise", "name": "Enterprise", "price": 99.99, "interval": "month",
     "cpu_limit": 32, "memory_limit": 64, "storage_limit": 500},
    # dearer than pro in name (299.90 > 29.99), cheaper per day
    # (299.90 a year < 12 x 29.99 = 359.88)
    {"id": "pro_yearly", "name": "Professional (yearly)", "price": 299.90,
     "interval": "year", "cpu_limit": 8, "memory_limit": 16, "storage_limit": 100},
]

START = "2025-04-01T00:00:00Z"


def epoch(text):
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=timezone.utc).timestamp())


class PlanChangeTest(StackTestCase):
    config_overrides = {"subscriptionPlans": PLANS, "billingMode": "subscription"}
    stack_env = {"BILLING_TEST_NOW": START}
    now = START
    n = 0

    # -- the harness ---------------------------------------------------------

    def tearDown(self):
        # the fault suite's ledger rules hold with proration lines (what is
        # due never negative, lines add up, prorations as recorded)
        self.assertEqual(ledger_problems(self.sql), [])

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def at(self, instant):
        """billingd's clock at instant (restarted with it)."""
        if instant == self.now:
            return
        self.stack.billingd.stop()
        self.stack.extra_env["BILLING_TEST_NOW"] = instant
        self.stack.start_billingd()
        type(self).now = instant

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=epoch(self.now))

    def account(self, plan, mode="subscription", created="2025-01-01 00:00:00"):
        """A new account on plan, billed through March (April is open)."""
        PlanChangeTest.n += 1
        user = "plan%d@example.com" % PlanChangeTest.n
        self.sql("INSERT INTO billing_accounts (user_id, plan_id, billing_mode, created_at, "
                 "billed_through) VALUES ('%s', '%s', '%s', '%s', '2025-04-01 00:00:00')"
                 % (user, plan, mode, created))
        return user

    def change(self, user, plan_id, at=None):
        if at is not None:
            self.at(at)
        status, _, body = self.request("POST", "subscription", body={"plan_id": plan_id},
                                       token=self.token(user))
        return status, body

    def changed(self, user, plan_id, at=None):
        status, body = self.change(user, plan_id, at)
        self.assertEqual(status, 200, body)
        return body

    def get(self, user):
        req = urllib.request.Request(self.stack.api + "subscription",
                                     headers={"Authorization": "Bearer " + self.token(user)})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode(), parse_float=Decimal)

    def run_invoices(self, day):
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": day + "T00:30:00Z"})

    def invoice(self, user, period_start):
        """(lines [(kind, description, amount)], subtotal, total) of the
        user's invoice of the period, or None."""
        rows = self.sql("SELECT i.id, i.subtotal, i.total FROM billing_invoices i "
                        "JOIN billing_accounts a ON a.id = i.account_id WHERE a.user_id = '%s' "
                        "AND i.period_start = '%s' AND i.status <> 'void'"
                        % (user, period_start))
        if not rows:
            return None
        [[iid, subtotal, total]] = rows
        lines = self.sql("SELECT kind, description, amount FROM billing_invoice_lines "
                         "WHERE invoice_id = %s ORDER BY line_no" % iid)
        return ([(k, d, Decimal(a)) for k, d, a in lines], Decimal(subtotal), Decimal(total))

    def amounts(self, user, period_start):
        inv = self.invoice(user, period_start)
        return None if inv is None else ([(k, a) for k, _, a in inv[0]], inv[1])

    def events(self, user):
        return [json.loads(p)["data"] for [p] in self.sql(
            "SELECT e.payload FROM billing_events e JOIN billing_accounts a "
            "ON a.id = e.account_id WHERE a.user_id = '%s' "
            "AND e.type = 'billing.subscription.changed' ORDER BY e.id" % user)]

    # -- worked examples (docs/billing.md) ---------------------------------------

    def test_example_upgrade_on_day_10(self):
        """Pro (29.99) to Enterprise (99.99) at 2025-04-10T00:00Z: 21 of 30
        days left: credit 29.99 x 21/30 = 20.993 -> -20.99, charge
        99.99 x 21/30 = 69.993 -> 69.99; April's invoice 29.99 - 20.99 +
        69.99 = 78.99; May's 99.99."""
        user = self.account("pro")
        body = self.changed(user, "enterprise", "2025-04-10T00:00:00Z")
        self.assertEqual(body["plan"]["id"], "enterprise")
        self.assertIsNone(body["pending_plan_id"])
        self.run_invoices("2025-05-01")
        lines, subtotal, total = self.invoice(user, "2025-04-01 00:00:00.000000")
        self.assertEqual(lines, [
            ("subscription", "Professional plan (monthly)", Decimal("29.99")),
            ("proration", "Unused time on Professional after 2025-04-10", Decimal("-20.99")),
            ("proration", "Remaining time on Enterprise from 2025-04-10", Decimal("69.99"))])
        self.assertEqual((subtotal, total), (Decimal("78.99"), Decimal("78.99")))
        self.run_invoices("2025-06-01")
        self.assertEqual(self.amounts(user, "2025-05-01 00:00:00.000000"),
                         ([("subscription", Decimal("99.99"))], Decimal("99.99")))
        [ev] = self.events(user)
        self.assertEqual((ev["change"], ev["from_plan"], ev["to_plan"], ev["effective_at"]),
                         ("upgrade", "pro", "enterprise", "2025-04-10T00:00:00Z"))
        self.assertEqual((ev["proration"]["credit"], ev["proration"]["charge"]),
                         (-20.99, 69.99))

    def la_account(self, plan):
        """An account in America/Los_Angeles on plan, billed through its
        March (its April, 2025-04-01T07:00Z to 2025-05-01T07:00Z, is open)."""
        user = self.account(plan)
        self.sql("UPDATE billing_accounts SET timezone = 'America/Los_Angeles', "
                 "billed_through = '2025-04-01 07:00:00' WHERE user_id = '%s'" % user)
        return user

    def test_los_angeles_upgrade_on_its_local_day_10(self):
        """Pro to Enterprise at 17:00 on 10 April in Los Angeles
        (2025-04-11T00:00Z): the cycle is the local period, 30 days to
        2025-05-01T07:00Z, of which 20 days 7 hours are left (487 of 720
        hours): credit 29.99 x 487/720 = 20.2849 -> -20.28, charge
        99.99 x 487/720 = 67.632 -> 67.63 (in UTC it would be 20 days:
        -19.99 and 66.66), and the lines name the local day."""
        user = self.la_account("pro")
        self.changed(user, "enterprise", "2025-04-11T00:00:00Z")
        [ev] = self.events(user)
        self.assertEqual((ev["proration"]["credit"], ev["proration"]["charge"]),
                         (-20.28, 67.63))
        # the local period ends at 07:00Z: the run an hour later invoices it
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-05-01T07:30:00Z"})
        lines, subtotal, _ = self.invoice(user, "2025-04-01 07:00:00.000000")
        self.assertEqual(lines, [
            ("subscription", "Professional plan (monthly)", Decimal("29.99")),
            ("proration", "Unused time on Professional after 2025-04-10", Decimal("-20.28")),
            ("proration", "Remaining time on Enterprise from 2025-04-10", Decimal("67.63"))])
        self.assertEqual(subtotal, Decimal("77.34"))

    def test_los_angeles_downgrade_waits_for_its_local_period_end(self):
        """Enterprise to Pro on 10 April in Los Angeles: pending until the
        local period's end, 1 May 00:00 PDT = 2025-05-01T07:00Z."""
        user = self.la_account("enterprise")
        body = self.changed(user, "pro", "2025-04-11T00:00:00Z")
        self.assertEqual((body["pending_plan_id"], body["pending_at"]),
                         ("pro", "2025-05-01T07:00:00Z"))

    def test_example_downgrade_waits_for_the_period_end(self):
        """Enterprise to Pro at 2025-04-10: pending until 2025-05-01; April
        bills Enterprise whole (99.99), May Pro (29.99); no proration."""
        user = self.account("enterprise")
        body = self.changed(user, "pro", "2025-04-10T00:00:00Z")
        self.assertEqual(body["plan"]["id"], "enterprise")
        self.assertEqual((body["pending_plan_id"], body["pending_at"]),
                         ("pro", "2025-05-01T00:00:00Z"))
        got = self.get(user)
        self.assertEqual((got["plan"]["id"], got["pending_plan_id"]), ("enterprise", "pro"))
        self.run_invoices("2025-05-01")
        self.assertEqual(self.amounts(user, "2025-04-01 00:00:00.000000"),
                         ([("subscription", Decimal("99.99"))], Decimal("99.99")))
        self.run_invoices("2025-06-01")
        self.assertEqual(self.amounts(user, "2025-05-01 00:00:00.000000"),
                         ([("subscription", Decimal("29.99"))], Decimal("29.99")))
        # the run applied it
        self.assertEqual(self.sql("SELECT plan_id FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["pro"]])
        self.assertEqual([e["change"] for e in self.events(user)],
                         ["downgrade_scheduled", "downgrade_applied"])

    def test_example_back_and_forth_nets_out(self):
        """Enterprise to Pro (pending) on 2025-04-10, back to Enterprise on
        2025-04-20: the pending change is cancelled and April and May bill
        exactly as if nothing had happened (99.99 each, no proration)."""
        user = self.account("enterprise")
        self.changed(user, "pro", "2025-04-10T00:00:00Z")
        body = self.changed(user, "enterprise", "2025-04-20T00:00:00Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"], body["pending_at"]),
                         ("enterprise", None, None))
        self.run_invoices("2025-05-01")
        self.run_invoices("2025-06-01")
        for period in ("2025-04-01", "2025-05-01"):
            self.assertEqual(self.amounts(user, period + " 00:00:00.000000"),
                             ([("subscription", Decimal("99.99"))], Decimal("99.99")))
        self.assertEqual([e["change"] for e in self.events(user)],
                         ["downgrade_scheduled", "downgrade_canceled"])

    def test_example_up_then_down_and_back_bills_the_upgrade_only(self):
        """Pro to Enterprise on 2025-04-10 (78.99 for April, as above), to Pro
        on 04-20 (pending), to Enterprise again on 04-25 (cancels it): April
        is 78.99 to the cent and May 99.99, as with the upgrade alone."""
        user = self.account("pro")
        self.changed(user, "enterprise", "2025-04-10T00:00:00Z")
        self.assertEqual(self.changed(user, "pro", "2025-04-20T00:00:00Z")["pending_plan_id"],
                         "pro")
        self.assertIsNone(self.changed(user, "enterprise",
                                       "2025-04-25T00:00:00Z")["pending_plan_id"])
        self.run_invoices("2025-05-01")
        self.run_invoices("2025-06-01")
        self.assertEqual(self.amounts(user, "2025-04-01 00:00:00.000000"),
                         ([("subscription", Decimal("29.99")), ("proration", Decimal("-20.99")),
                           ("proration", Decimal("69.99"))], Decimal("78.99")))
        self.assertEqual(self.amounts(user, "2025-05-01 00:00:00.000000"),
                         ([("subscription", Decimal("99.99"))], Decimal("99.99")))

    # -- rules ---------------------------------------------------------------

    def test_free_just_before_invoice_day_does_not_escape_the_fee(self):
        """Pro to Free at 2025-04-30T23:59:59Z: April still bills Pro."""
        user = self.account("pro")
        body = self.changed(user, "free", "2025-04-30T23:59:59Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"]), ("pro", "free"))
        self.run_invoices("2025-05-01")
        self.assertEqual(self.amounts(user, "2025-04-01 00:00:00.000000"),
                         ([("subscription", Decimal("29.99"))], Decimal("29.99")))
        # May on the free plan: nothing to bill
        self.run_invoices("2025-06-01")
        self.assertIsNone(self.invoice(user, "2025-05-01 00:00:00.000000"))

    def test_the_current_plan_with_nothing_pending_changes_nothing(self):
        user = self.account("pro")
        body = self.changed(user, "pro", "2025-04-10T00:00:00Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"]), ("pro", None))
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_plan_changes c JOIN "
                                  "billing_accounts a ON a.id = c.account_id "
                                  "WHERE a.user_id = '%s'" % user), [["0"]])
        self.assertEqual(self.events(user), [])

    def test_an_unknown_plan_is_400(self):
        user = self.account("pro")
        status, body = self.change(user, "gold")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "plan_id")

    def test_the_same_downgrade_twice_is_one_pending_change(self):
        user = self.account("enterprise")
        self.changed(user, "pro", "2025-04-10T00:00:00Z")
        self.changed(user, "pro", "2025-04-10T00:00:00Z")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_plan_changes c JOIN "
                                  "billing_accounts a ON a.id = c.account_id "
                                  "WHERE a.user_id = '%s'" % user), [["1"]])

    def test_yearly_and_monthly_are_compared_per_day(self):
        """pro_yearly (299.90 a year) is cheaper per day than pro (29.99 a
        month, 359.88 a year) though its price is higher: a downgrade."""
        user = self.account("pro")
        body = self.changed(user, "pro_yearly", "2025-04-10T00:00:00Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"]), ("pro", "pro_yearly"))
        # and back from yearly to monthly is an upgrade, at once
        other = self.account("pro_yearly", created="2025-04-01 00:00:00")
        body = self.changed(other, "pro", "2025-04-10T00:00:00Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"]), ("pro", None))

    def test_yearly_to_monthly_credits_the_unused_year(self):
        """pro_yearly (anniversary April, billed 299.90 for April 2025 to
        April 2026) to pro at 2025-04-10: unused 356 of 365 days, 299.90 x
        356/365 = 292.5052... -> 292.51; pro for the rest of April 29.99 x
        21/30 = 20.993 -> 20.99.  The credit line is the charge's size
        (-20.99) and the other 271.52 goes to the credit balance, so what is
        due never goes negative: April is 299.90 less that credit, 28.38
        (9 days of the year, 7.39, and 21 days of pro, 20.99)."""
        user = self.account("pro_yearly", created="2025-04-01 00:00:00")
        self.changed(user, "pro", "2025-04-10T00:00:00Z")
        self.run_invoices("2025-05-01")
        lines, subtotal, total = self.invoice(user, "2025-04-01 00:00:00.000000")
        self.assertEqual([(k, a) for k, _, a in lines],
                         [("subscription", Decimal("299.90")), ("proration", Decimal("-20.99")),
                          ("proration", Decimal("20.99"))])
        # the balance credit is applied to the same run's invoice, from then on
        [[granted]] = self.sql("SELECT c.amount FROM billing_credits c JOIN billing_accounts a "
                               "ON a.id = c.account_id WHERE a.user_id = '%s'" % user)
        self.assertEqual(Decimal(granted), Decimal("271.52"))
        self.assertEqual(subtotal, Decimal("299.90"))
        self.assertEqual(total, Decimal("28.38"))

    def test_usage_mode_changes_at_once_without_proration(self):
        """Usage mode bills no plan fee: a free plan applies at once."""
        user = self.account("pro", mode="usage")
        body = self.changed(user, "free", "2025-04-10T00:00:00Z")
        self.assertEqual((body["plan"]["id"], body["pending_plan_id"]), ("free", None))

    def hybrid_hour_of_10_cores(self, user):
        """10 cores for one hour on 2025-04-05, metered."""
        self.at("2025-04-10T00:00:00Z")
        svc = self.token("platform", "service")
        for hook, body in (("session-created", {
                "session_id": "s-" + user, "user_id": user, "cpu_cores": 10, "memory_gb": 1,
                "storage_gb": 0, "started_at": "2025-04-05T00:00:00Z"}),
                ("session-terminated", {"session_id": "s-" + user,
                                        "ended_at": "2025-04-05T01:00:00Z"})):
            status, _, resp = self.request("POST", "hooks/" + hook, body=body, token=svc)
            self.assertIn(status, (200, 201), resp)
        self.stack.run_helper("billing-calculate-usage",
                              env={"BILLING_TEST_NOW": "2025-04-10T00:00:00Z"})

    def test_hybrid_overage_uses_the_limits_in_force_at_the_period_end(self):
        """Hybrid on Pro (8 cores), 10 cores for an hour on April 5th: 2
        core-hours of overage (0.10); upgraded to Enterprise (32 cores) on
        April 10th, the period's overage is measured against Enterprise's
        limits: none, and the fee and prorations are as in example 1."""
        kept = self.account("pro", mode="hybrid")
        self.hybrid_hour_of_10_cores(kept)
        moved = self.account("pro", mode="hybrid")
        self.hybrid_hour_of_10_cores(moved)
        self.changed(moved, "enterprise", "2025-04-10T00:00:00Z")
        self.run_invoices("2025-05-01")
        self.assertEqual(self.amounts(kept, "2025-04-01 00:00:00.000000"),
                         ([("subscription", Decimal("29.99")), ("overage", Decimal("0.10"))],
                          Decimal("30.09")))
        self.assertEqual(self.amounts(moved, "2025-04-01 00:00:00.000000"),
                         ([("subscription", Decimal("29.99")), ("proration", Decimal("-20.99")),
                           ("proration", Decimal("69.99"))], Decimal("78.99")))

    def test_the_quota_job_applies_a_due_downgrade(self):
        """The hourly quota job moves a downgrade come due (so its limits
        apply from then), once."""
        user = self.account("enterprise")
        self.changed(user, "pro", "2025-04-10T00:00:00Z")
        for _ in range(2):
            self.stack.run_helper("billing-check-quotas",
                                  env={"BILLING_TEST_NOW": "2025-05-01T00:10:00Z"})
        self.assertEqual(self.sql("SELECT plan_id FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["pro"]])
        self.assertEqual([e["change"] for e in self.events(user)],
                         ["downgrade_scheduled", "downgrade_applied"])

    def test_the_ledger_sees_proration_lines_that_differ_from_the_upgrades(self):
        """tests/fault/ledger.py: an invoice's proration lines must be the
        recorded amounts of its period's upgrades."""
        user = self.account("pro")
        self.changed(user, "enterprise", "2025-04-10T00:00:00Z")
        self.run_invoices("2025-05-01")
        where = ("account_id = (SELECT id FROM billing_accounts WHERE user_id = '%s')" % user)
        self.sql("UPDATE billing_plan_changes SET charge = charge + 0.01 WHERE " + where)
        try:
            problems = ledger_problems(self.sql)
        finally:
            self.sql("UPDATE billing_plan_changes SET charge = charge - 0.01 WHERE " + where)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("proration lines differ", problems[0])


    # -- an upgrade across a zone change (docs/billing.md "Time zones") ----------
    # The zone set in April applies from the end of the UTC April,
    # 2025-05-01T00:00Z; the first period in the new zone runs from there to
    # the zone's local midnight of 1 June.  An upgrade made between the new
    # zone's period start and the old period's end (eastward), or between
    # the old period's end and the new zone's period start (westward), is
    # prorated on exactly one invoice.  These run last (test_zone_*): they
    # move billingd's clock into May.

    def zone_account(self, zone):
        user = self.account("pro")
        self.at("2025-04-20T00:00:00Z")
        status, _, body = self.request("PATCH", "admin/users/" + user.replace("@", "%40"),
                                       body={"timezone": zone},
                                       token=self.token("admin@example.com", "admin"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["timezone_effective_from"], "2025-05-01T00:00:00Z")
        return user

    def invoices_of(self, user):
        """[(period_start, period_end, lines [(kind, amount)])], in order."""
        rows = self.sql("SELECT i.id, DATE_FORMAT(i.period_start, '%%Y-%%m-%%dT%%H:%%i:%%sZ'), "
                        "DATE_FORMAT(i.period_end, '%%Y-%%m-%%dT%%H:%%i:%%sZ') "
                        "FROM billing_invoices i JOIN billing_accounts a ON a.id = i.account_id "
                        "WHERE a.user_id = '%s' AND i.status <> 'void' ORDER BY i.period_start"
                        % user)
        return [(s, e, [(k, Decimal(a)) for k, a in self.sql(
            "SELECT kind, amount FROM billing_invoice_lines WHERE invoice_id = %s "
            "ORDER BY line_no" % iid)]) for iid, s, e in rows]

    def assertProratedOnce(self, invoices, user):
        [ev] = self.events(user)
        pair = [("proration", Decimal(str(ev["proration"]["credit"]))),
                ("proration", Decimal(str(ev["proration"]["charge"])))]
        with_proration = [(s, [ln for ln in lines if ln[0] == "proration"])
                          for s, _, lines in invoices
                          if any(k == "proration" for k, _ in lines)]
        self.assertEqual(len(with_proration), 1, invoices)
        self.assertEqual(with_proration[0][1], pair, invoices)
        return with_proration[0][0]

    def test_zone_change_eastward_upgrade_before_the_old_period_ends(self):
        """UTC to Asia/Tokyo: Tokyo's 1 May begins at 2025-04-30T15:00Z, the
        UTC April ends at 2025-05-01T00:00Z.  Pro to Enterprise at
        2025-04-30T18:00Z is in the UTC April: prorated on April's invoice
        only, and the first Tokyo period (2025-05-01T00:00Z to
        2025-05-31T15:00Z) bills Enterprise whole."""
        user = self.zone_account("Asia/Tokyo")
        self.changed(user, "enterprise", "2025-04-30T18:00:00Z")
        self.run_invoices("2025-05-01")
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-05-31T15:30:00Z"})
        invoices = self.invoices_of(user)
        self.assertEqual([(s, e) for s, e, _ in invoices],
                         [("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z"),
                          ("2025-05-01T00:00:00Z", "2025-05-31T15:00:00Z")])
        self.assertEqual(self.assertProratedOnce(invoices, user), "2025-04-01T00:00:00Z")
        self.assertEqual(invoices[0][2][0], ("subscription", Decimal("29.99")))
        self.assertEqual(invoices[1][2], [("subscription", Decimal("99.99"))])

    def test_zone_change_westward_upgrade_before_the_new_period_starts(self):
        """UTC to America/Los_Angeles: the UTC April ends at
        2025-05-01T00:00Z, Los Angeles's 1 May begins at 07:00Z.  Pro to
        Enterprise at 2025-05-01T03:00Z is in the first Los Angeles period
        (2025-05-01T00:00Z to 2025-06-01T07:00Z): prorated there, once, on
        the Pro fee; April's invoice has no proration."""
        user = self.zone_account("America/Los_Angeles")
        self.run_invoices("2025-05-01")
        self.changed(user, "enterprise", "2025-05-01T03:00:00Z")
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-06-01T07:30:00Z"})
        invoices = self.invoices_of(user)
        self.assertEqual([(s, e) for s, e, _ in invoices],
                         [("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z"),
                          ("2025-05-01T00:00:00Z", "2025-06-01T07:00:00Z")])
        self.assertEqual(self.assertProratedOnce(invoices, user), "2025-05-01T00:00:00Z")
        self.assertEqual(invoices[0][2], [("subscription", Decimal("29.99"))])
        self.assertEqual(invoices[1][2][0], ("subscription", Decimal("29.99")))
