"""Credit notes and refunds end to end (docs/billing.md, "Credit notes"):
POST admin/invoices/{id}/credit-notes, the invoice as GET invoices/{id}
shows it afterwards, GET credit-notes/{id}/pdf, the events, and for invoices
that Stripe collects the Stripe refund and credit note (against
tests/stripe_standin.py).

The clock is fixed at 2025-02-01T00:30Z (BILLING_TEST_NOW): credit notes are
numbered CN-2025-NNNNNN.  Each invoice is the seed example, 2 cores and 4 GB
for 10 hours: line 1 cpu 1.00, line 2 memory 0.40, total 1.40.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from base import StackTestCase
import test_stripe

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "fault"))
from ledger import ledger_problems  # noqa: E402  (tests/fault/ledger.py)

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())
CN = re.compile(r"^CN-2025-(\d{6})$")


class CreditNoteCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=NOW_EPOCH)

    def user(self, sub):
        return self.stack.token(sub, "user", now=NOW_EPOCH)

    def hook(self, name, body):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.stack.token("platform", "service",
                                                              now=NOW_EPOCH))
        self.assertIn(status, (200, 201), resp)

    def invoice(self, sub, day="2025-01-07", draft=False):
        """The seed example invoiced by hand for one January day."""
        sid = "s-%s-%s" % (sub, day)
        self.hook("session-created", {"session_id": sid, "user_id": sub,
                                      "cpu_cores": 2, "memory_gb": 4, "storage_gb": 0,
                                      "started_at": day + "T00:00:00Z"})
        self.hook("session-terminated", {"session_id": sid,
                                         "ended_at": day + "T10:00:00Z"})
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": sub, "period_start": day, "period_end": day, "draft": draft})
        self.assertEqual(status, 201, inv)
        self.assertEqual(inv["subtotal"], 1.40)
        return inv

    def credit_note(self, inv, body, token=None):
        return self.request("POST", "admin/invoices/%d/credit-notes" % inv["id"],
                            body=body, token=token or self.admin())

    def issued(self, inv, body):
        status, _, cn = self.credit_note(inv, body)
        self.assertEqual(status, 201, cn)
        return cn

    def get_invoice(self, inv, sub=None):
        status, _, body = self.request("GET", "invoices/%d" % inv["id"],
                                       token=self.user(sub) if sub else self.admin())
        self.assertEqual(status, 200, body)
        return body

    def patch(self, inv, status):
        code, _, body = self.request("PATCH", "admin/invoices/%d" % inv["id"],
                                     token=self.admin(), body={"status": status})
        self.assertEqual(code, 200, body)
        return body

    def events(self, type_, key_suffix):
        return [json.loads(r[0]) for r in self.sql(
            "SELECT payload FROM billing_events WHERE type = '%s' AND dedupe_key = '%s:%s'"
            % (type_, type_, key_suffix))]


class CreditNoteTest(CreditNoteCase):

    # -- docs/billing.md, worked example: a partial credit note -----------

    def test_example_a_partial_credit_note_lowers_what_is_due(self):
        sub = "partial@example.com"
        inv = self.invoice(sub)
        cn = self.issued(inv, {"lines": [{"line_no": 2, "amount": "0.40"}],
                               "reason": "Memory was mis-metered"})
        self.assertRegex(cn["credit_note_number"], CN)
        self.assertEqual((cn["amount"], cn["currency"], cn["settlement"], cn["refund"]),
                         (0.40, "usd", "due", None))
        self.assertEqual(cn["invoice_number"], inv["invoice_number"])
        self.assertEqual(cn["lines"], [{"line_no": 2, "amount": 0.40}])
        self.assertEqual(cn["created_at"], NOW)
        # the user sees it on the invoice: 1.00 is still due
        got = self.get_invoice(inv, sub)
        self.assertEqual((got["status"], got["total"], got["credited"], got["amount_due"]),
                         ("sent", 1.40, 0.40, 1.00))
        self.assertEqual([(c["credit_note_number"], c["amount"], c["reason"], c["refund"],
                           c["created_at"]) for c in got["credit_notes"]],
                         [(cn["credit_note_number"], 0.40, "Memory was mis-metered", None,
                           NOW)])
        # paid by hand: what is due, not the total
        paid = self.patch(inv, "paid")
        self.assertEqual([p["amount"] for p in paid["payments"]], [1.00])
        self.assertEqual(paid["amount_due"], 0)
        self.assertEqual(len(self.events("billing.credit_note.created", cn["id"])), 1)
        status, _, body = self.credit_note(inv, {"lines": [{"line_no": 2, "amount": "0.01"}],
                                                 "reason": "again"})
        self.assertEqual((status, body["error"]["param"]), (400, "lines"), body)
        self.assertIn("line 2 has 0.00 left to credit", body["error"]["message"])

    # -- docs/billing.md, worked example: a refund ------------------------

    def test_example_a_refund_of_an_invoice_paid_by_hand(self):
        sub = "refund@example.com"
        inv = self.invoice(sub)
        self.patch(inv, "paid")
        cn = self.issued(inv, {"amount": 0.50, "reason": "Outage on January 7",
                               "refund": True})
        self.assertEqual(cn["settlement"], "refund")
        self.assertEqual(cn["refund"], {"amount": 0.50, "currency": "usd",
                                        "method": "manual", "stripe_refund_id": None})
        got = self.get_invoice(inv)
        self.assertEqual((got["status"], got["credited"], got["amount_due"]),
                         ("paid", 0.50, 0))
        self.assertEqual(got["credit_notes"][0]["refund"],
                         {"amount": 0.50, "method": "manual", "stripe_refund_id": None})
        [evt] = self.events("billing.refund.created", cn["id"])
        self.assertEqual((evt["data"]["amount"], evt["data"]["method"],
                          evt["data"]["credit_note_number"]),
                         (0.50, "manual", cn["credit_note_number"]))
        # at most what was paid and not refunded yet
        status, _, body = self.credit_note(inv, {"amount": 0.91, "reason": "more",
                                                 "refund": True})
        self.assertEqual((status, body["error"]["param"]), (400, "amount"), body)
        self.issued(inv, {"amount": 0.90, "reason": "the rest", "refund": True})
        self.assertEqual(self.sql("SELECT SUM(r.amount) FROM billing_refunds r JOIN "
                                  "billing_payments p ON p.id = r.payment_id "
                                  "WHERE r.invoice_id = %d" % inv["id"]), [["1.40"]])

    def test_a_paid_invoice_credited_without_refund_credits_the_balance(self):
        sub = "balance@example.com"
        inv = self.invoice(sub)
        self.patch(inv, "paid")
        cn = self.issued(inv, {"amount": 0.40, "reason": "Goodwill"})
        self.assertEqual((cn["settlement"], cn["refund"]), ("balance", None))
        self.assertEqual(self.sql("SELECT amount, remaining, reason FROM billing_credits "
                                  "WHERE id = %d" % cn["credit_id"]),
                         [["0.40", "0.40", "Credit note " + cn["credit_note_number"]]])
        # the next invoice uses it
        nxt = self.invoice(sub, day="2025-01-08")
        self.assertEqual((nxt["credits"], nxt["total"]), (0.40, 1.00))

    def test_credited_in_full_the_invoice_is_settled_without_a_payment(self):
        sub = "full@example.com"
        inv = self.invoice(sub)
        self.issued(inv, {"lines": [{"line_no": 1, "amount": "1.00"}], "reason": "a"})
        self.issued(inv, {"amount": "0.40", "reason": "b"})
        got = self.get_invoice(inv)
        self.assertEqual((got["status"], got["credited"], got["amount_due"], got["payments"]),
                         ("paid", 1.40, 0, []))
        self.assertEqual(len(self.events("billing.invoice.paid", inv["id"])), 1)
        status, _, body = self.credit_note(inv, {"amount": "0.01", "reason": "c"})
        self.assertEqual((status, body["error"]["param"]), (400, "amount"), body)

    def test_bad_input(self):
        sub = "bad@example.com"
        inv = self.invoice(sub)
        ok = {"amount": "0.10", "reason": "r"}
        cases = [
            ({"amount": "1.41", "reason": "r"}, "amount"),        # above the total
            ({"amount": 0, "reason": "r"}, "amount"),
            ({"amount": "0.001", "reason": "r"}, "amount"),
            ({"reason": "r"}, "amount"),
            ({"amount": "0.10", "lines": [{"line_no": 1, "amount": 1}], "reason": "r"},
             "amount"),
            ({"lines": [{"line_no": 3, "amount": "0.10"}], "reason": "r"}, "lines"),
            ({"lines": [{"line_no": 2, "amount": "0.41"}], "reason": "r"}, "lines"),
            ({"lines": [], "reason": "r"}, "lines"),
            ({"lines": [{"line_no": 1, "amount": "0.1"}, {"line_no": 1, "amount": "0.1"}],
              "reason": "r"}, "lines"),
            ({"amount": "0.10"}, "reason"),
            ({"amount": "0.10", "reason": " "}, "reason"),
            ({"amount": "0.10", "reason": "r", "refund": "yes"}, "refund"),
            ({"amount": "0.10", "reason": "r", "extra": 1}, "extra"),
        ]
        for body, param in cases:
            status, _, resp = self.credit_note(inv, body)
            self.assertEqual((status, resp["error"]["code"], resp["error"].get("param")),
                             (400, "invalid_argument", param), body)
        # a line's credit notes never exceed the line, across credit notes
        self.issued(inv, {"lines": [{"line_no": 2, "amount": "0.30"}], "reason": "r"})
        status, _, resp = self.credit_note(inv, {"lines": [{"line_no": 2, "amount": "0.11"}],
                                                 "reason": "r"})
        self.assertEqual((status, resp["error"]["param"]), (400, "lines"), resp)
        self.assertIn("0.10 left", resp["error"]["message"])
        # who may
        for token in (self.stack.token("op@example.com", "operator", now=NOW_EPOCH),
                      self.user(sub)):
            status, _, resp = self.credit_note(inv, ok, token=token)
            self.assertEqual(status, 403, resp)
        status, _, resp = self.request("POST", "admin/invoices/999999/credit-notes",
                                       body=ok, token=self.admin())
        self.assertEqual(status, 404, resp)
        # only finalized invoices: a draft and a void one are 409
        draft = self.invoice("draft@example.com", draft=True)
        status, _, resp = self.credit_note(draft, ok)
        self.assertEqual((status, resp["error"]["code"]), (409, "conflict"), resp)
        void = self.invoice("void@example.com")
        self.patch(void, "void")
        status, _, resp = self.credit_note(void, ok)
        self.assertEqual((status, resp["error"]["code"]), (409, "conflict"), resp)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_credit_notes WHERE "
                                  "invoice_id IN (%d, %d)" % (draft["id"], void["id"])),
                         [["0"]])

    def test_an_invoice_with_credit_notes_is_never_voided(self):
        inv = self.invoice("no-void@example.com")
        self.issued(inv, {"amount": "0.10", "reason": "r"})
        status, _, body = self.request("PATCH", "admin/invoices/%d" % inv["id"],
                                       token=self.admin(), body={"status": "void"})
        self.assertEqual((status, body["error"]["param"]), (409, "status"), body)
        self.assertIn("credit notes", body["error"]["message"])
        self.assertEqual(self.get_invoice(inv)["status"], "sent")

    def test_the_same_idempotency_key_makes_one_credit_note(self):
        inv = self.invoice("idem@example.com")
        body = {"amount": "0.25", "reason": "r", "idempotency_key": "cn-idem-1"}
        status, _, first = self.credit_note(inv, body)
        self.assertEqual(status, 201, first)
        status, _, again = self.credit_note(inv, body)
        self.assertEqual((status, again["id"], again["credit_note_number"]),
                         (200, first["id"], first["credit_note_number"]))
        status, _, other = self.credit_note(inv, dict(body, amount="0.26"))
        self.assertEqual((status, other["error"]["param"]), (409, "idempotency_key"), other)
        self.assertEqual(self.get_invoice(inv)["credited"], 0.25)

    def test_ten_concurrent_credit_notes_never_exceed_the_total(self):
        inv = self.invoice("race@example.com")

        def one(i):
            return self.credit_note(inv, {"amount": "0.20", "reason": "race %d" % i})

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(one, range(10)))
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [201] * 7 + [400] * 3, [r[2] for r in results])
        got = self.get_invoice(inv)
        self.assertEqual((got["credited"], got["amount_due"], got["status"]),
                         (1.40, 0, "paid"))
        # gap-free: the seven numbers follow each other
        nums = sorted(int(CN.match(r[2]["credit_note_number"]).group(1))
                      for r in results if r[0] == 201)
        self.assertEqual(nums, list(range(nums[0], nums[0] + 7)))

    def test_pdf_names_the_credit_note_and_its_invoice(self):
        sub = "pdf@example.com"
        inv = self.invoice(sub)
        cn = self.issued(inv, {"amount": "0.40", "reason": "PDF check"})
        req = urllib.request.Request(self.stack.api + "credit-notes/%d/pdf" % cn["id"],
                                     headers={"Authorization": "Bearer " + self.user(sub)})
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.assertEqual(resp.headers["Content-Type"], "application/pdf")
            self.assertIn(cn["credit_note_number"], resp.headers["Content-Disposition"])
            pdf = resp.read()
        self.assertTrue(pdf.startswith(b"%PDF-"))
        if shutil.which("pdftotext"):
            with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
                f.write(pdf)
                f.flush()
                text = subprocess.run(["pdftotext", "-layout", f.name, "-"],
                                      capture_output=True, text=True, check=True).stdout
            for want in (cn["credit_note_number"], inv["invoice_number"], "USD 0.40",
                         "PDF check", sub):
                self.assertIn(want, text)
        status, _, _ = self.request("GET", "credit-notes/%d/pdf" % cn["id"],
                                    token=self.user("someone-else@example.com"))
        self.assertEqual(status, 404)
        status, _, _ = self.request("GET", "credit-notes/%d/pdf" % cn["id"],
                                    token=self.admin())
        self.assertEqual(status, 200)

    def test_zz_the_ledger_adds_up(self):
        """tests/fault/ledger.py over everything the tests above made,
        credit note numbers gap-free included."""
        self.assertEqual(ledger_problems(self.sql), [])
        self.assertTrue(self.sql("SELECT COUNT(*) FROM billing_credit_notes")[0][0] != "0")


class StripeCreditNoteTest(test_stripe.LedgerCase):
    """Invoices that Stripe collects: the credit note is made in Stripe
    first (POST /v1/credit_notes), a refund of what Stripe collected is a
    Stripe refund (POST /v1/refunds), each with a key from the credit note."""

    def credit_note(self, inv, body):
        return self.request("POST", "admin/invoices/%d/credit-notes" % inv["id"],
                            body=body, token=self.admin())

    def test_an_open_invoice_gets_a_stripe_credit_note_so_stripe_charges_less(self):
        inv, sid = self.pushed_invoice("cn-open@example.com")
        status, _, cn = self.credit_note(inv, {"amount": "0.40", "reason": "Mis-metered"})
        self.assertEqual(status, 201, cn)
        [call] = self.posts("/v1/credit_notes")[-1:]
        self.assertEqual(call["headers"]["Idempotency-Key"], "credit-note-%d-1" % inv["id"])
        self.assertEqual(call["form"], {"invoice": sid, "amount": "40", "memo": "Mis-metered",
                                        "metadata[billing_invoice_id]": str(inv["id"]),
                                        "metadata[credit_note_seq]": "1"})
        self.assertRegex(cn["stripe_credit_note_id"], r"^cn_")
        s = self.stripe_inv(sid)
        self.assertEqual((s["amount_remaining"], s["pre_payment_credit_notes_amount"]),
                         (100, 40))
        # Stripe charges what is due here, 1.00, recorded once
        paid = self.standin.collect(sid)
        self.assertEqual(paid["amount_paid"], 100)
        self.deliver("invoice.paid", paid)
        got = self.invoice_of("cn-open@example.com")[0]
        self.assertEqual((got["status"], got["credited"], [p["amount"] for p in got["payments"]]),
                         ("paid", 0.40, [1.00]))

    def test_a_refund_of_what_stripe_collected_is_a_stripe_refund(self):
        sub = "cn-refund@example.com"
        inv, sid = self.pushed_invoice(sub)
        paid = self.standin.collect(sid)
        self.deliver("invoice.paid", paid)
        pi = paid["payments"]["data"][0]["payment"]["payment_intent"]
        status, _, cn = self.credit_note(inv, {"amount": "0.40", "reason": "Refund",
                                               "refund": True})
        self.assertEqual(status, 201, cn)
        [refund] = self.posts("/v1/refunds")[-1:]
        self.assertEqual(refund["headers"]["Idempotency-Key"],
                         "credit-note-%d-1-refund" % inv["id"])
        self.assertEqual((refund["form"]["payment_intent"], refund["form"]["amount"]),
                         (pi, "40"))
        re_id = cn["refund"]["stripe_refund_id"]
        self.assertRegex(re_id, r"^re_")
        self.assertEqual(cn["refund"]["method"], "stripe")
        [call] = self.posts("/v1/credit_notes")[-1:]
        self.assertEqual((call["form"]["refund"], call["form"]["amount"]), (re_id, "40"))
        self.assertNotIn("refund_amount", call["form"])
        self.assertEqual(self.stripe_inv(sid)["post_payment_credit_notes_amount"], 40)
        acct, _ = self.account(sub)
        self.assertEqual(len(self.events(acct, "billing.refund.created")), 1)

    def test_credit_to_the_balance_is_out_of_band_in_stripe(self):
        inv, sid = self.pushed_invoice("cn-balance@example.com")
        paid = self.standin.collect(sid)
        self.deliver("invoice.paid", paid)
        status, _, cn = self.credit_note(inv, {"amount": "0.40", "reason": "Goodwill"})
        self.assertEqual((status, cn["settlement"]), (201, "balance"), cn)
        [call] = self.posts("/v1/credit_notes")[-1:]
        self.assertEqual(call["form"]["out_of_band_amount"], "40")
        self.assertNotIn("credit_amount", call["form"])

    def test_stripe_refusing_leaves_nothing_here(self):
        inv, sid = self.pushed_invoice("cn-refused@example.com")
        self.standin.fault("500", count=10, path="/v1/credit_notes")
        status, _, body = self.credit_note(inv, {"amount": "0.40", "reason": "r"})
        self.assertEqual(status, 503, body)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_credit_notes WHERE "
                                  "invoice_id = %d" % inv["id"]), [["0"]])
        self.assertEqual(self.sql("SELECT credit_notes FROM billing_invoices WHERE id = %d"
                                  % inv["id"]), [["0.00"]])
        self.standin.clear_faults()
        # the retry is the same Stripe request, with the same key
        status, _, cn = self.credit_note(inv, {"amount": "0.40", "reason": "r"})
        self.assertEqual(status, 201, cn)
        keys = {c["headers"]["Idempotency-Key"] for c in self.posts("/v1/credit_notes")
                if c["form"]["invoice"] == sid}
        self.assertEqual(keys, {"credit-note-%d-1" % inv["id"]})
        self.assertEqual(self.stripe_inv(sid)["pre_payment_credit_notes_amount"], 40)

    def test_a_credit_note_issued_before_the_push_reaches_stripe_with_it(self):
        sub = "cn-before-push@example.com"
        status, _, body = self.checkout(sub)
        self.assertEqual(status, 200, body)
        self.session(sub, "s-" + sub, 2, 4, "2025-01-10T00:00:00Z", "2025-01-10T10:00:00Z")
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(),
                                      body={"user_id": sub, "period_start": "2025-01-01",
                                            "period_end": "2025-01-31"})
        self.assertEqual(status, 201, inv)
        status, _, cn = self.credit_note(inv, {"amount": "0.40", "reason": "early"})
        self.assertEqual((status, cn["stripe_credit_note_id"]), (201, None), cn)
        self.run_job()
        sid = self.sql("SELECT stripe_invoice_id FROM billing_invoices WHERE id = %d"
                       % inv["id"])[0][0]
        self.assertEqual(self.stripe_inv(sid)["amount_remaining"], 100)
        self.assertRegex(self.sql("SELECT stripe_credit_note_id FROM billing_credit_notes "
                                  "WHERE id = %d" % cn["id"])[0][0], r"^cn_")
