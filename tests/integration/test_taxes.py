"""Taxes on invoices (docs/billing.md "Taxes"): a rate per line, a plan's
own (subscriptionPlans[].tax_rate_id) on its fee, else the account's own
(tax_rate_id) or the config's defaultTaxRate, none for an exempt account
(TwoRatesTest: two rates on one invoice); each rate's tax is worked out on
what is charged at it after its share of the credits, rounded half-up once,
and stored with the rate as issued.  An
exclusive rate's tax is added to the total; an inclusive rate's is the part
of the charged amount that is tax (net + tax = charged).  The JSON, the PDF
(issuer and customer blocks, tax rows, "Tax exempt") and the Stripe push
(one invoice item per exclusive rate) carry it.

The clock is fixed at 2025-02-01T00:30Z (invoiceDay 1).  Usage: the seed
example, 2 cores and 4 GB for 10 hours = 1.00 + 0.40 = 1.40.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())
KEY = "sk_test_taxes0123456789abcdef"

RATES = [
    {"id": "vat20", "name": "VAT", "percent": 20, "inclusive": False},
    {"id": "inc20", "name": "VAT", "percent": 20, "inclusive": True},
    {"id": "half", "name": "Sales tax", "percent": "12.5", "inclusive": False},
]
ISSUER = {"name": "StreamSpace Demo Ltd",
          "address": ["1 Example Street", "London EC1A 1AA"],
          "email": "billing@streamspace.example", "taxId": "GB123456789"}
CONFIG = {"taxRates": RATES, "defaultTaxRate": "half", "invoiceIssuer": ISSUER}

D = Decimal


class TaxCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = CONFIG

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=NOW_EPOCH)

    def hook(self, name, body):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.stack.token("platform", "service",
                                                              now=NOW_EPOCH))
        self.assertIn(status, (200, 201), resp)

    def seed_session(self, user, sid, day):
        """The seed example on `day`: 1.40."""
        self.hook("session-created", {"session_id": sid, "user_id": user, "cpu_cores": 2,
                                      "memory_gb": 4, "storage_gb": 0,
                                      "started_at": day + "T00:00:00Z"})
        self.hook("session-terminated", {"session_id": sid, "ended_at": day + "T10:00:00Z"})
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def details(self, user, body):
        status, _, resp = self.request("PATCH", "admin/users/" + user, body=body,
                                       token=self.admin())
        self.assertEqual(status, 200, resp)

    def get(self, path, token=None):
        """GET with exact decimals (Decimal) from the JSON text."""
        req = urllib.request.Request(self.stack.api + path, headers={
            "Authorization": "Bearer " + (token or self.admin())})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode(), parse_float=Decimal)

    def manual(self, user, day):
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": user, "period_start": day, "period_end": day})
        self.assertEqual(status, 201, inv)
        return self.get("invoices/%d" % inv["id"])

    def invoiced(self, user, day, details=None, credit=None):
        self.hook("user-created", {"user_id": user})
        if details:
            self.details(user, details)
        if credit:
            status, _, resp = self.request("POST", "admin/credits", token=self.admin(),
                                           body={"user_id": user, "amount": credit,
                                                 "reason": "goodwill"})
            self.assertEqual(status, 201, resp)
        self.seed_session(user, user + "-s", day)
        return self.manual(user, day)

    def pdf_text(self, inv_id):
        if not shutil.which("pdftotext"):
            self.skipTest("pdftotext (poppler-utils) is not installed")
        status, headers, _ = self.request("GET", "invoices/%d/pdf" % inv_id,
                                          token=self.admin())
        self.assertEqual(status, 200)
        req = urllib.request.Request(self.stack.api + "invoices/%d/pdf" % inv_id,
                                     headers={"Authorization": "Bearer " + self.admin()})
        with urllib.request.urlopen(req, timeout=30) as resp:
            pdf = resp.read()
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(pdf)
            f.flush()
            return subprocess.run(["pdftotext", "-layout", f.name, "-"],
                                  capture_output=True, text=True, check=True).stdout

    def assertSumsToTheCent(self, inv):
        """lines = subtotal; exclusive: total = subtotal - credits + tax;
        inclusive: total = subtotal - credits, net + tax = total."""
        self.assertEqual(sum(l["amount"] for l in inv["lines"]), inv["subtotal"])
        self.assertEqual(sum(t["amount"] for t in inv["taxes"]), inv["tax"])
        excl = sum(t["amount"] for t in inv["taxes"] if not t["inclusive"])
        self.assertEqual(inv["total"], inv["subtotal"] - inv["credits"] + excl)
        for t in inv["taxes"]:
            self.assertEqual(t["taxable"], inv["subtotal"] - inv["credits"])
            for v in (t["taxable"], t["amount"]):
                self.assertEqual(v, v.quantize(D("0.01")))


class TaxesTest(TaxCase):

    def test_an_exclusive_rate_is_added_on_what_is_charged_after_credits(self):
        inv = self.invoiced("excl@example.com", "2025-01-10", {"tax_rate_id": "vat20"},
                            credit="0.50")
        # 1.40 - 0.50 = 0.90 charged; 20% of it = 0.18; total 1.08
        self.assertEqual((inv["subtotal"], inv["credits"], inv["tax"], inv["total"]),
                         (D("1.40"), D("0.50"), D("0.18"), D("1.08")))
        self.assertEqual(inv["taxes"], [{"rate_id": "vat20", "name": "VAT", "percent": 20,
                                         "inclusive": False, "taxable": D("0.90"),
                                         "amount": D("0.18"), "currency": "usd"}])
        self.assertIs(inv["tax_exempt"], False)
        self.assertSumsToTheCent(inv)
        # stored as issued, with the rate's name and percent
        self.assertEqual(self.sql("SELECT rate_id, name, percent, inclusive, taxable, amount "
                                  "FROM billing_invoice_taxes WHERE invoice_id = %d"
                                  % inv["id"]),
                         [["vat20", "VAT", "20.0000", "0", "0.90", "0.18"]])
        self.assertEqual(self.sql("SELECT tax, total FROM billing_invoices WHERE id = %d"
                                  % inv["id"]), [["0.18", "1.08"]])

    def test_an_inclusive_and_an_exclusive_rate_each_sum_to_the_cent(self):
        """One rate per invoice (per account), so two invoices: 1.40 with
        20% added is 1.40 + 0.28 = 1.68; 1.40 with 20% inside is 1.17 net +
        0.23 tax (1.40 / 6 = 0.2333... -> 0.23)."""
        excl = self.invoiced("both-excl@example.com", "2025-01-11", {"tax_rate_id": "vat20"})
        incl = self.invoiced("both-incl@example.com", "2025-01-11", {"tax_rate_id": "inc20"})
        self.assertEqual((excl["subtotal"], excl["tax"], excl["total"]),
                         (D("1.40"), D("0.28"), D("1.68")))
        self.assertEqual((incl["subtotal"], incl["tax"], incl["total"]),
                         (D("1.40"), D("0.23"), D("1.40")))
        self.assertIs(incl["taxes"][0]["inclusive"], True)
        net = incl["total"] - incl["tax"]
        self.assertEqual(net + incl["tax"], incl["total"])
        self.assertEqual(net, D("1.17"))
        for inv in (excl, incl):
            self.assertSumsToTheCent(inv)
        # both together: the customer pays 1.68 + 1.40 = 3.08 of which 0.51 is tax
        self.assertEqual(excl["total"] + incl["total"], D("3.08"))
        self.assertEqual(excl["tax"] + incl["tax"], D("0.51"))

    def test_the_default_rate_applies_and_rounds_half_up_once(self):
        # 12.5% of 1.40 = 0.175 -> 0.18 (half-up), once for the invoice
        inv = self.invoiced("default@example.com", "2025-01-12")
        self.assertEqual((inv["tax"], inv["total"]), (D("0.18"), D("1.58")))
        self.assertEqual(inv["taxes"][0]["rate_id"], "half")
        self.assertEqual(inv["taxes"][0]["percent"], D("12.5"))
        self.assertSumsToTheCent(inv)

    def test_an_exempt_account_pays_no_tax_and_the_pdf_says_so(self):
        inv = self.invoiced("exempt@example.com", "2025-01-13",
                            {"tax_rate_id": "vat20", "tax_exempt": True})
        self.assertEqual((inv["subtotal"], inv["tax"], inv["total"]),
                         (D("1.40"), D("0.00"), D("1.40")))
        self.assertEqual(inv["taxes"], [])
        self.assertIs(inv["tax_exempt"], True)
        text = self.pdf_text(inv["id"])
        self.assertIn("Tax exempt", text)
        self.assertNotIn("VAT", text)

    def test_a_draft_is_taxed_when_it_is_finalized(self):
        user = "draft-tax@example.com"
        self.hook("user-created", {"user_id": user})
        self.details(user, {"tax_rate_id": "vat20"})
        self.seed_session(user, "draft-tax-s", "2025-01-14")
        status, _, draft = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": user, "period_start": "2025-01-14", "period_end": "2025-01-14",
            "draft": True})
        self.assertEqual(status, 201, draft)
        self.assertEqual((D(str(draft["tax"])), D(str(draft["total"]))),
                         (D("0"), D("1.4")))
        status, _, _ = self.request("PATCH", "admin/invoices/%d" % draft["id"],
                                    token=self.admin(), body={"status": "sent"})
        self.assertEqual(status, 200)
        inv = self.get("invoices/%d" % draft["id"])
        self.assertEqual((inv["tax"], inv["total"]), (D("0.28"), D("1.68")))
        self.assertSumsToTheCent(inv)

    def test_the_scheduled_run_taxes_each_invoice_by_its_account(self):
        users = {"run-vat@example.com": ({"tax_rate_id": "vat20"}, D("0.28"), D("1.68")),
                 "run-inc@example.com": ({"tax_rate_id": "inc20"}, D("0.23"), D("1.40")),
                 "run-default@example.com": (None, D("0.18"), D("1.58")),
                 "run-exempt@example.com": ({"tax_exempt": True}, D("0.00"), D("1.40"))}
        for user, (details, _, _) in users.items():
            self.hook("user-created", {"user_id": user})
            if details:
                self.details(user, details)
            self.seed_session(user, user + "-s", "2025-01-20")
        self.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": NOW})
        for user, (_, tax, total) in users.items():
            invs = self.get("invoices?user_id=" + user.replace("@", "%40"))["invoices"]
            self.assertEqual(len(invs), 1, invs)
            inv = self.get("invoices/%d" % invs[0]["id"])
            self.assertEqual(inv["kind"], "scheduled")
            self.assertEqual((inv["subtotal"], inv["tax"], inv["total"]),
                             (D("1.40"), tax, total), user)
            self.assertSumsToTheCent(inv)
            # the list and the event carry the tax too
            self.assertEqual((invs[0]["tax"], invs[0]["total"]), (tax, total))
            event = self.sql("SELECT payload FROM billing_events WHERE "
                             "dedupe_key = 'billing.invoice.created:%d'" % inv["id"])
            self.assertEqual(len(event), 1, event)
            data = json.loads(event[0][0], parse_float=Decimal)
            data = data.get("data", data)
            self.assertEqual((data["tax"], data["total"]), (tax, total), data)


class TaxPdfTest(TaxCase):

    def test_the_pdf_shows_issuer_customer_and_tax_on_one_page(self):
        inv = self.invoiced("pdf@example.com", "2025-01-15", {
            "billing_name": "Acme Trading GmbH", "billing_address": ["Hauptstrasse 1",
                                                                   "10115 Berlin"],
            "country": "DE", "tax_id": "DE999999999", "tax_rate_id": "vat20"})
        text = self.pdf_text(inv["id"])
        for want in ("StreamSpace Demo Ltd", "1 Example Street", "London EC1A 1AA",
                     "billing@streamspace.example", "Tax ID: GB123456789",
                     "Bill to", "Acme Trading GmbH", "Hauptstrasse 1", "10115 Berlin",
                     "DE", "Tax ID: DE999999999", "VAT 20%", "USD 0.28", "USD 1.68",
                     inv["invoice_number"]):
            self.assertIn(want, text)
        self.assertNotIn("Tax exempt", text)
        self.assertEqual(text.rstrip("\f\n").count("\f"), 0, "more than one page")

    def test_a_200_line_invoice_continues_with_its_headers_on_every_page(self):
        inv = self.invoiced("long@example.com", "2025-01-16", {"tax_rate_id": "vat20"})
        n0 = len(inv["lines"])
        # 200 lines in all: the invoice's own and 200 - n0 more of 0.00
        rows = ",".join("(%d, %d, 'adjustment', NULL, 'Line item %03d', 1, 'unit', 0, 0)"
                        % (inv["id"], n0 + i + 1, n0 + i + 1) for i in range(200 - n0))
        self.sql("INSERT INTO billing_invoice_lines (invoice_id, line_no, kind, "
                 "resource_type, description, quantity, unit, unit_price, amount) "
                 "VALUES " + rows)
        self.assertEqual(len(self.get("invoices/%d" % inv["id"])["lines"]), 200)
        text = self.pdf_text(inv["id"])
        pages = [p for p in text.split("\f") if p.strip()]
        self.assertGreater(len(pages), 2)
        for i, page in enumerate(pages):
            self.assertIn(inv["invoice_number"], page, "page %d" % (i + 1))
            self.assertIn("Page %d" % (i + 1), page)
            self.assertIn("Description", page, "page %d has no table header" % (i + 1))
            self.assertIn("Unit price", page)
            if i > 0:
                self.assertIn("(continued)", page)
        for k in range(n0 + 1, 201):
            self.assertEqual(text.count("Line item %03d" % k), 1, k)
        self.assertIn("VAT 20%", pages[-1])
        self.assertIn("USD 1.68", pages[-1])


class TaxPushTest(TaxCase):
    """An exclusive rate's tax goes to Stripe as an invoice item of its own;
    an inclusive one's is inside the lines."""

    @classmethod
    def setUpClass(cls):
        cls.standin = Standin(secret_key=KEY).start()
        cls.stack_env = {"STRIPE_API_BASE": cls.standin.url, "STRIPE_SECRET_KEY": KEY,
                         "STRIPE_TIMEOUT_SECONDS": "2", "BILLING_TEST_NOW": NOW}
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

    def pushed(self, user, details):
        self.hook("user-created", {"user_id": user})
        status, _, body = self.request("POST", "create-checkout", body={"plan_id": "pro"},
                                       token=self.stack.token(user, "user", now=NOW_EPOCH))
        self.assertEqual(status, 200, body)
        inv = self.invoiced(user, "2025-01-17", details)
        self.stack.run_helper("billing-generate-invoices", check=False,
                              env={"BILLING_TEST_NOW": NOW})
        sid = self.sql("SELECT COALESCE(stripe_invoice_id, '') FROM billing_invoices "
                       "WHERE id = %d" % inv["id"])[0][0]
        if sid == "":
            self.fail("not pushed")
        items = [r for r in self.standin.requests(path="/v1/invoiceitems", method="POST")
                 if r["form"].get("metadata[billing_invoice_id]") == str(inv["id"])]
        stripe_inv = [i for i in self.standin.objects("invoices") if i["id"] == sid][0]
        return inv, items, stripe_inv

    def test_an_exclusive_tax_is_an_item_and_stripe_collects_the_total(self):
        inv, items, sinv = self.pushed("push-vat@example.com", {"tax_rate_id": "vat20"})
        got = sorted((i["form"]["metadata[line]"], int(i["form"]["amount"]),
                      i["form"]["description"]) for i in items)
        self.assertEqual([g[:2] for g in got], [("1", 100), ("2", 40), ("tax-1", 28)])
        self.assertEqual(got[2][2], "VAT 20%")
        self.assertEqual(sinv["amount_due"], 168)
        self.assertEqual(inv["total"], D("1.68"))

    def test_an_inclusive_tax_is_inside_the_lines(self):
        inv, items, sinv = self.pushed("push-inc@example.com", {"tax_rate_id": "inc20"})
        self.assertEqual(sorted(i["form"]["metadata[line]"] for i in items), ["1", "2"])
        self.assertEqual(sinv["amount_due"], 140)
        self.assertEqual(inv["tax"], D("0.23"))


class TwoRatesTest(TaxCase):
    """A rate per line (docs/billing.md "Taxes", the worked example): a
    hybrid account on a plan whose fee carries the plan's 20% inclusive
    rate, its overage at the account's 7.6543% exclusive rate, 5.00 of
    credits split over the two rates' sums pro rata (largest remainder);
    lines + exclusive taxes - credits = total to the cent; the PDF has a
    row per rate; the Stripe push one tax item for the exclusive rate."""

    PLANS = [
        {"id": "pro", "name": "Professional", "price": 29.99, "interval": "month",
         "cpu_limit": 8, "memory_limit": 16, "storage_limit": 100,
         "stripe_price_id": "price_pro"},
        {"id": "consumer", "name": "Consumer", "price": 19.99, "interval": "month",
         "cpu_limit": 1, "memory_limit": 1, "storage_limit": 10, "tax_rate_id": "inc20"},
    ]
    config_overrides = dict(CONFIG, subscriptionPlans=PLANS, taxRates=RATES + [
        {"id": "use7", "name": "Sales tax", "percent": "7.6543", "inclusive": False}])

    @classmethod
    def setUpClass(cls):
        cls.standin = Standin(secret_key=KEY).start()
        cls.stack_env = {"STRIPE_API_BASE": cls.standin.url, "STRIPE_SECRET_KEY": KEY,
                         "STRIPE_TIMEOUT_SECONDS": "2", "BILLING_TEST_NOW": NOW}
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

    def test_an_inclusive_plan_rate_and_an_exclusive_usage_rate_sum_to_the_cent(self):
        user = "two-rates@example.com"
        self.hook("user-created", {"user_id": user})
        # a Stripe customer (the checkout is never completed: no live
        # subscription, the plan is billed here)
        status, _, body = self.request("POST", "create-checkout", body={"plan_id": "pro"},
                                       token=self.stack.token(user, "user", now=NOW_EPOCH))
        self.assertEqual(status, 200, body)
        self.sql("UPDATE billing_accounts SET plan_id = 'consumer' WHERE user_id = '%s'"
                 % user)
        self.details(user, {"billing_mode": "hybrid", "tax_rate_id": "use7"})
        status, _, resp = self.request("POST", "admin/credits", token=self.admin(),
                                       body={"user_id": user, "amount": "5.00",
                                             "reason": "goodwill"})
        self.assertEqual(status, 201, resp)
        # 4 cores and 8 GB for 10 hours on a plan of 1 core and 1 GB:
        # overage 30 core-hours (1.50) and 70 GB-hours (0.70)
        self.hook("session-created", {"session_id": "two-rates-s", "user_id": user,
                                      "cpu_cores": 4, "memory_gb": 8, "storage_gb": 0,
                                      "started_at": "2025-01-18T00:00:00Z"})
        self.hook("session-terminated", {"session_id": "two-rates-s",
                                         "ended_at": "2025-01-18T10:00:00Z"})
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        inv = self.manual(user, "2025-01-18")

        self.assertEqual([(l["kind"], l["amount"]) for l in inv["lines"]],
                         [("subscription", D("19.99")), ("overage", D("1.50")),
                          ("overage", D("0.70"))])
        self.assertEqual((inv["subtotal"], inv["credits"]), (D("22.19"), D("5.00")))
        # 5.00 over 19.99 and 2.20: 4.5042 and 0.4957; floors 4.50 + 0.49,
        # the cent left to the larger remainder: 4.50 + 0.50
        self.assertEqual(inv["taxes"], [
            {"rate_id": "inc20", "name": "VAT", "percent": 20, "inclusive": True,
             "taxable": D("15.49"), "amount": D("2.58"), "currency": "usd"},
            {"rate_id": "use7", "name": "Sales tax", "percent": D("7.6543"),
             "inclusive": False, "taxable": D("1.70"), "amount": D("0.13"),
             "currency": "usd"}])
        self.assertEqual((inv["tax"], inv["total"]), (D("2.71"), D("17.32")))
        # to the cent: the lines make the subtotal, the rates' parts what is
        # charged after credits; the total adds the exclusive tax only
        self.assertEqual(sum(l["amount"] for l in inv["lines"]), inv["subtotal"])
        self.assertEqual(sum(t["taxable"] for t in inv["taxes"]),
                         inv["subtotal"] - inv["credits"])
        self.assertEqual(sum(t["amount"] for t in inv["taxes"]), inv["tax"])
        self.assertEqual(inv["total"], inv["subtotal"] - inv["credits"] + D("0.13"))
        net = inv["taxes"][0]["taxable"] - inv["taxes"][0]["amount"]
        self.assertEqual(net, D("12.91"))
        # stored per rate, and each line with its rate
        self.assertEqual(self.sql("SELECT rate_id, percent, inclusive, taxable, amount "
                                  "FROM billing_invoice_taxes WHERE invoice_id = %d "
                                  "ORDER BY id" % inv["id"]),
                         [["inc20", "20.0000", "1", "15.49", "2.58"],
                          ["use7", "7.6543", "0", "1.70", "0.13"]])
        self.assertEqual(self.sql("SELECT kind, COALESCE(tax_rate_id, '') FROM "
                                  "billing_invoice_lines WHERE invoice_id = %d "
                                  "ORDER BY line_no" % inv["id"]),
                         [["subscription", "inc20"], ["overage", ""], ["overage", ""]])

        text = self.pdf_text(inv["id"])
        for want in ("VAT 20% (included)", "USD 2.58", "Sales tax 7.6543%", "USD 0.13",
                     "USD 17.32"):
            self.assertIn(want, text)

        self.stack.run_helper("billing-generate-invoices", check=False,
                              env={"BILLING_TEST_NOW": NOW})
        sid = self.sql("SELECT COALESCE(stripe_invoice_id, '') FROM billing_invoices "
                       "WHERE id = %d" % inv["id"])[0][0]
        self.assertNotEqual(sid, "", "not pushed")
        items = [r for r in self.standin.requests(path="/v1/invoiceitems", method="POST")
                 if r["form"].get("metadata[billing_invoice_id]") == str(inv["id"])]
        got = sorted((i["form"]["metadata[line]"], int(i["form"]["amount"]),
                      i["form"]["description"]) for i in items)
        self.assertEqual([g[:2] for g in got], [("1", 1999), ("2", 150), ("3", 70),
                                                ("credits", -500), ("tax-2", 13)])
        self.assertEqual(got[4][2], "Sales tax 7.6543%")
        sinv = [i for i in self.standin.objects("invoices") if i["id"] == sid][0]
        self.assertEqual(sinv["amount_due"], 1732)

    def test_the_scheduled_run_taxes_the_plan_fee_at_the_plans_rate(self):
        """The same split in the daily run (lines in memory, not read back):
        the plan's fee alone at 20% inside, no usage, the default 12.5% has
        nothing to tax."""
        user = "two-rates-run@example.com"
        self.hook("user-created", {"user_id": user})
        self.sql("UPDATE billing_accounts SET plan_id = 'consumer', billing_mode = "
                 "'subscription', created_at = '2025-01-01 00:00:00' WHERE user_id = '%s'"
                 % user)
        self.stack.run_helper("billing-generate-invoices", check=False,
                              env={"BILLING_TEST_NOW": NOW})
        invs = self.get("invoices?user_id=" + user.replace("@", "%40"))["invoices"]
        self.assertEqual(len(invs), 1, invs)
        inv = self.get("invoices/%d" % invs[0]["id"])
        # 19.99 / 6 = 3.3316... -> 3.33 (net 16.66); total 19.99
        self.assertEqual([(t["rate_id"], t["taxable"], t["amount"]) for t in inv["taxes"]],
                         [("inc20", D("19.99"), D("3.33"))])
        self.assertEqual((inv["subtotal"], inv["tax"], inv["total"]),
                         (D("19.99"), D("3.33"), D("19.99")))
