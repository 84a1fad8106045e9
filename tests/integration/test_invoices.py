"""Invoices and credits end to end (docs/billing.md): the invoice run
(billing-generate-invoices), manual invoices, credits, statuses, numbering
and the PDF, through nginx.

The clock is fixed at 2025-02-01T00:30Z, the invoice day (invoiceDay 1):
January 2025 is the period just ended.  Usage is reported through the hooks
and metered by the usage job, as in production.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase, wait_for
import stack as stackmod

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())


# seconds between reads of INNODB_TRX (its cache is refreshed after 0.1 s idle)
LOCK_POLL = 0.25


class DbSession:
    """One client session of its own (mariadb -n over a pipe) whose
    statements may block on a lock: send() returns at once, wait() waits for
    what was sent to finish."""

    _n = 0

    def __init__(self, stack):
        self.proc = subprocess.Popen(
            [stackmod.find_program("mariadb"), "--no-defaults", "-S", stack.mariadb.socket,
             "-u", "root", "--batch", "--skip-column-names", "-n", stack.db_name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        # as billingd's sessions run
        self.id = int(self.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
                                 "SELECT CONNECTION_ID()")[0])

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, sql):
        DbSession._n += 1
        self.mark = "--mark-%d--" % DbSession._n
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\nSELECT '%s';\n" % self.mark)
        self.proc.stdin.flush()

    def wait(self, timeout=60):
        """The output lines of what was sent, once it has all run."""
        out = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None or line == self.mark:
                return out
            out.append(line)

    def done(self):
        """Whether what was sent has run (without waiting)."""
        return any(line == self.mark for line in list(self.lines.queue))

    def query(self, sql):
        self.send(sql)
        return self.wait()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


class InvoiceCase(StackTestCase):
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
        return resp

    def session(self, user, sid, start, end, cpu, mem, storage=0):
        self.hook("session-created", {"session_id": sid, "user_id": user,
                                      "cpu_cores": cpu, "memory_gb": mem,
                                      "storage_gb": storage, "started_at": start})
        self.hook("session-terminated", {"session_id": sid, "ended_at": end})

    def meter(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def invoice_run(self, now=NOW, check=True):
        return self.stack.run_helper("billing-generate-invoices", check=check,
                                     env={"BILLING_TEST_NOW": now})

    def get(self, path, token):
        """GET with exact decimals (Decimal) from the JSON text."""
        req = urllib.request.Request(self.stack.api + path,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode(), parse_float=Decimal)

    def invoices_of(self, user):
        return self.get("invoices?user_id=" + user.replace("@", "%40") + "&limit=500",
                        self.admin())["invoices"]

    def set_plan(self, user, plan, mode):
        self.hook("user-created", {"user_id": user})
        self.sql("UPDATE billing_accounts SET plan_id = '%s', billing_mode = '%s' "
                 "WHERE user_id = '%s'" % (plan, mode, user))

    def credit(self, user, amount, reason="goodwill", expires=None):
        """A credit row as POST admin/credits makes it (the API has its own suite)."""
        self.hook("user-created", {"user_id": user})
        self.sql("INSERT INTO billing_credits (account_id, amount, remaining, currency, "
                 "reason, expires_at) SELECT id, %s, %s, 'usd', '%s', %s FROM "
                 "billing_accounts WHERE user_id = '%s'"
                 % (amount, amount, reason, "'%s'" % expires if expires else "NULL", user))


class InvoiceRunTest(InvoiceCase):

    @classmethod
    def setUpStack(cls):
        t = cls()
        # usage mode: the seed example, 2 cores + 4 GB for 10 hours in January
        t.session("usage@example.com", "u-1", "2025-01-15T08:00:00Z",
                  "2025-01-15T18:00:00Z", 2, 4)
        # subscription mode, Pro: the plan's price whatever the usage
        t.set_plan("sub@example.com", "pro", "subscription")
        t.session("sub@example.com", "s-1", "2025-01-10T00:00:00Z",
                  "2025-01-10T05:00:00Z", 4, 8)
        # hybrid, Pro (8 cores, 16 GB): 10 cores for 3 hours = 6 core-hours over
        t.set_plan("hybrid@example.com", "pro", "hybrid")
        t.session("hybrid@example.com", "h-1", "2025-01-20T10:00:00Z",
                  "2025-01-20T13:00:00Z", 10, 8)
        # credits: an expired one, one that expires first, one without expiry
        t.session("credit@example.com", "c-1", "2025-01-05T00:00:00Z",
                  "2025-01-05T10:00:00Z", 2, 4)
        t.credit("credit@example.com", "5.00", "expired", "2025-01-20 00:00:00")
        t.credit("credit@example.com", "0.50", "expires soon", "2025-03-01 00:00:00")
        t.credit("credit@example.com", "2.00", "no expiry")
        # usage in February (after the period) must wait for the next invoice
        t.session("usage@example.com", "u-2", "2025-02-01T00:00:00Z",
                  "2025-02-01T00:20:00Z", 1, 0)
        t.meter()
        # five runs at once: one invoice per account and period
        env = cls.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        prog = stackmod.find_program("billing-generate-invoices", cls.stack.build_dir)
        procs = [subprocess.Popen([prog], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT) for _ in range(5)]
        cls.run_outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        cls.run_codes = [p.returncode for p in procs]

    def only_invoice(self, user):
        invs = self.invoices_of(user)
        self.assertEqual(len(invs), 1, invs)
        return self.get("invoices/%d" % invs[0]["id"], self.admin())

    def test_five_concurrent_runs_all_succeed_with_one_invoice_each(self):
        self.assertEqual(self.run_codes, [0] * 5, self.run_outputs)
        dups = self.sql("SELECT account_id, period_start, COUNT(*) FROM billing_invoices "
                        "GROUP BY account_id, period_start HAVING COUNT(*) > 1")
        self.assertEqual(dups, [])

    def test_usage_month_is_the_seed_example(self):
        inv = self.only_invoice("usage@example.com")
        self.assertEqual(inv["status"], "sent")
        self.assertRegex(inv["invoice_number"], r"^INV-2025-\d{6}$")
        self.assertEqual(inv["period_start"], "2025-01-01T00:00:00Z")
        self.assertEqual(inv["period_end"], "2025-02-01T00:00:00Z")
        lines = [(l["resource_type"], l["quantity"], l["unit_price"], l["amount"])
                 for l in inv["lines"]]
        self.assertEqual(lines, [("cpu", 20, Decimal("0.05"), Decimal("1.00")),
                                 ("memory", 40, Decimal("0.01"), Decimal("0.40"))])
        self.assertEqual((inv["subtotal"], inv["credits"], inv["total"]),
                         (Decimal("1.40"), Decimal("0.00"), Decimal("1.40")))
        # due invoiceDueDays (14) after finalization
        self.assertEqual(inv["due_date"], "2025-02-15T00:30:00Z")
        # the February piece is not on it
        [[n]] = self.sql("SELECT COUNT(*) FROM billing_usage_billed r JOIN billing_accounts a "
                         "ON a.id = r.account_id WHERE a.user_id = 'usage@example.com' "
                         "AND r.invoice_id IS NULL")
        self.assertEqual(n, "1")

    def test_subscription_month_is_the_plan_price(self):
        inv = self.only_invoice("sub@example.com")
        self.assertEqual([(l["kind"], l["amount"]) for l in inv["lines"]],
                         [("subscription", Decimal("29.99"))])
        self.assertEqual(inv["total"], Decimal("29.99"))

    def test_hybrid_month_is_plan_price_plus_overage(self):
        inv = self.only_invoice("hybrid@example.com")
        lines = {l["kind"]: l for l in inv["lines"]}
        self.assertEqual(lines["subscription"]["amount"], Decimal("29.99"))
        # 2 cores over the 8 of Pro for 3 hours at 0.05; memory within limits
        self.assertEqual(lines["overage"]["resource_type"], "cpu")
        self.assertEqual(lines["overage"]["quantity"], 6)
        self.assertEqual(lines["overage"]["amount"], Decimal("0.30"))
        self.assertEqual(len(inv["lines"]), 2)
        self.assertEqual(inv["total"], Decimal("30.29"))

    def test_credits_apply_earliest_expiring_first_never_expired(self):
        inv = self.only_invoice("credit@example.com")
        self.assertEqual(inv["subtotal"], Decimal("1.40"))
        applied = [(c["reason"], c["amount"]) for c in inv["credits_applied"]]
        self.assertEqual(applied, [("expires soon", Decimal("0.50")),
                                   ("no expiry", Decimal("0.90"))])
        self.assertEqual((inv["credits"], inv["total"]), (Decimal("1.40"), Decimal("0.00")))
        rows = self.sql("SELECT reason, remaining FROM billing_credits c JOIN billing_accounts a "
                        "ON a.id = c.account_id WHERE a.user_id = 'credit@example.com' "
                        "ORDER BY c.id")
        self.assertEqual(rows, [["expired", "5.00"], ["expires soon", "0.00"],
                                ["no expiry", "1.10"]])

    def test_numbers_are_gap_free_and_run_again_changes_nothing(self):
        before = self.sql("SELECT COUNT(*), MAX(invoice_number) FROM billing_invoices")
        self.invoice_run()
        self.assertEqual(self.sql("SELECT COUNT(*), MAX(invoice_number) FROM billing_invoices"),
                         before)
        numbers = sorted(int(r[0][-6:]) for r in self.sql(
            "SELECT invoice_number FROM billing_invoices WHERE invoice_number IS NOT NULL "
            "AND invoice_number LIKE 'INV-2025-%'"))
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))

    def test_events_are_in_the_outbox_once_per_invoice(self):
        rows = self.sql("SELECT COUNT(*), COUNT(DISTINCT dedupe_key) FROM billing_events "
                        "WHERE type = 'billing.invoice.created'")
        [[n_inv]] = self.sql("SELECT COUNT(*) FROM billing_invoices WHERE status <> 'draft'")
        self.assertEqual(rows, [[n_inv, n_inv]])
        [[payload]] = self.sql(
            "SELECT e.payload FROM billing_events e JOIN billing_accounts a ON a.id = e.account_id "
            "WHERE a.user_id = 'usage@example.com' AND e.type = 'billing.invoice.created'")
        ev = json.loads(payload)
        self.assertTrue(ev["id"].startswith("evt_"))
        self.assertEqual(ev["data"]["total"], 1.40)

    def test_users_see_only_their_own_invoices(self):
        inv = self.invoices_of("usage@example.com")[0]
        status, _, body = self.request("GET", "invoices/%d" % inv["id"],
                                       token=self.user("someone@example.com"))
        self.assertEqual(status, 404, body)
        mine = self.get("invoices", self.user("usage@example.com"))
        self.assertEqual([i["id"] for i in mine["invoices"]], [inv["id"]])
        status, _, body = self.request("GET", "invoices?user_id=sub%40example.com",
                                       token=self.user("usage@example.com"))
        self.assertEqual(status, 403, body)

    def test_pdf_names_the_invoice_and_its_total(self):
        if not shutil.which("pdftotext"):
            self.skipTest("pdftotext (poppler-utils) is not installed")
        inv = self.invoices_of("usage@example.com")[0]
        req = urllib.request.Request(self.stack.api + "invoices/%d/pdf" % inv["id"],
                                     headers={"Authorization": "Bearer "
                                              + self.user("usage@example.com")})
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.assertEqual(resp.headers["Content-Type"], "application/pdf")
            pdf = resp.read()
        self.assertTrue(pdf.startswith(b"%PDF-"))
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(pdf)
            f.flush()
            text = subprocess.run(["pdftotext", "-layout", f.name, "-"],
                                  capture_output=True, text=True, check=True).stdout
        self.assertIn(inv["invoice_number"], text)
        self.assertIn("1.40", text)
        self.assertIn("usage@example.com", text)


class InvoiceStatusTest(InvoiceCase):

    def make_manual(self, user, sid, day, draft=False):
        self.session(user, sid, "%sT00:00:00Z" % day, "%sT10:00:00Z" % day, 2, 4)
        self.meter()
        return self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": user, "period_start": day, "period_end": day, "draft": draft})

    def test_manual_invoice_is_201_and_the_same_request_again_409(self):
        status, _, inv = self.make_manual("manual@example.com", "m-1", "2025-01-07")
        self.assertEqual(status, 201, inv)
        self.assertEqual(inv["kind"], "manual")
        self.assertEqual(inv["period_end"], "2025-01-08T00:00:00Z")  # the day is included
        self.assertEqual(inv["subtotal"], 1.40)
        status, _, body = self.request("POST", "invoices", token=self.admin(), body={
            "user_id": "manual@example.com", "period_start": "2025-01-07",
            "period_end": "2025-01-07"})
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"]["code"], "conflict")

    def test_admin_credit_then_manual_invoice_is_1_40_minus_0_50(self):
        """The issue's check: a 0.50 credit through the API and a manual
        invoice over the seed example's session."""
        status, _, credit = self.request("POST", "admin/credits", token=self.admin(), body={
            "user_id": "john@example.com", "amount": 0.50, "reason": "Service credit"})
        self.assertEqual(status, 201, credit)
        status, _, inv = self.make_manual("john@example.com", "john-1", "2025-01-13")
        self.assertEqual(status, 201, inv)
        self.assertEqual((inv["subtotal"], inv["credits"], inv["total"]), (1.40, 0.50, 0.90))
        self.assertRegex(inv["invoice_number"], r"^INV-\d{4}-\d{6}$")
        status, _, again = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": "john@example.com", "period_start": "2025-01-13",
            "period_end": "2025-01-13"})
        self.assertEqual(status, 409, again)
        status, headers, pdf = self.request("GET", "invoices/%d/pdf" % inv["id"],
                                            token=self.user("john@example.com"))
        self.assertEqual((status, headers["Content-Type"]), (200, "application/pdf"))
        self.assertIn(inv["invoice_number"], headers["Content-Disposition"])

    def test_a_manual_invoice_applies_every_credit_past_64(self):
        """No cap leaves credits out (issue 12): 70 credits of 0.01."""
        self.hook("user-created", {"user_id": "many@example.com"})
        self.sql("INSERT INTO billing_credits (account_id, amount, remaining, currency, "
                 "reason) SELECT a.id, 0.01, 0.01, 'usd', CONCAT('c', s.seq) FROM "
                 "billing_accounts a JOIN seq_1_to_70 s WHERE a.user_id = 'many@example.com'")
        status, _, made = self.make_manual("many@example.com", "many-1", "2025-01-14")
        self.assertEqual(status, 201, made)
        inv = self.get("invoices/%d" % made["id"], self.admin())
        self.assertEqual((inv["subtotal"], inv["credits"], inv["total"]),
                         (Decimal("1.40"), Decimal("0.70"), Decimal("0.70")))
        self.assertEqual(len(inv["credits_applied"]), 70)

    def test_a_500_character_credit_reason_shows_whole_on_the_invoice(self):
        """A reason is up to 500 characters, up to 2,000 bytes of UTF-8: the
        invoice it is applied to shows all of it, never half a character
        (it was cut at 500 bytes, inside the 167th euro sign)."""
        reason = "\u20ac" * 499 + "x"
        status, _, credit = self.request("POST", "admin/credits", token=self.admin(), body={
            "user_id": "euro@example.com", "amount": "0.50", "reason": reason})
        self.assertEqual(status, 201, credit)
        status, _, inv = self.make_manual("euro@example.com", "euro-1", "2025-01-14")
        self.assertEqual(status, 201, inv)
        self.assertEqual([c["reason"] for c in inv["credits_applied"]], [reason])
        got = self.get("invoices/%d" % inv["id"], self.user("euro@example.com"))
        self.assertEqual([c["reason"] for c in got["credits_applied"]], [reason])
        status, _, _ = self.request("GET", "invoices/%d/pdf" % inv["id"],
                                    token=self.user("euro@example.com"))
        self.assertEqual(status, 200)

    def test_manual_invoice_bad_input_is_400(self):
        self.hook("user-created", {"user_id": "bad@example.com"})
        for body, param in (
                ({"user_id": "bad@example.com", "period_start": "2025-01-10",
                  "period_end": "2025-01-01"}, "period_end"),
                ({"user_id": "bad@example.com", "period_start": "jan",
                  "period_end": "2025-01-01"}, "period_start"),
                ({"user_id": "bad@example.com", "period_start": "2024-01-01",
                  "period_end": "2025-01-31"}, "period_end"),
                ({"period_start": "2025-01-01", "period_end": "2025-01-02"}, "user_id"),
                ({"user_id": "bad@example.com", "period_start": "2025-01-01",
                  "period_end": "2025-01-02", "total": 5}, "total")):
            status, _, resp = self.request("POST", "admin/invoices", token=self.admin(),
                                           body=body)
            self.assertEqual(status, 400, (body, resp))
            self.assertEqual(resp["error"]["param"], param)
        status, _, resp = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": "nobody@example.com", "period_start": "2025-01-01",
            "period_end": "2025-01-02"})
        self.assertEqual(status, 404, resp)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoices i JOIN billing_accounts a "
                                  "ON a.id = i.account_id WHERE a.user_id = 'bad@example.com'"),
                         [["0"]])

    def test_status_changes_that_make_sense_and_409_for_the_rest(self):
        status, _, inv = self.make_manual("status@example.com", "st-1", "2025-01-08")
        self.assertEqual(status, 201, inv)
        path = "admin/invoices/%d" % inv["id"]
        status, _, paid = self.request("PATCH", path, token=self.admin(), body={"status": "paid"})
        self.assertEqual(status, 200, paid)
        self.assertEqual(paid["status"], "paid")
        self.assertEqual([(p["method"], p["amount"]) for p in paid["payments"]],
                         [("manual", 1.40)])
        # again: no second payment
        status, _, again = self.request("PATCH", path, token=self.admin(), body={"status": "paid"})
        self.assertEqual((status, len(again["payments"])), (200, 1))
        for to in ("void", "sent"):
            status, _, body = self.request("PATCH", path, token=self.admin(), body={"status": to})
            self.assertEqual(status, 409, body)
        # amounts never change
        status, _, body = self.request("PATCH", path, token=self.admin(), body={"total": 0})
        self.assertEqual(status, 400, body)
        self.assertEqual(self.get("invoices/%d" % inv["id"], self.admin())["total"],
                         Decimal("1.40"))

    def test_void_is_kept_and_gives_credits_and_usage_back(self):
        self.credit("void@example.com", "0.50", "sorry")
        status, _, inv = self.make_manual("void@example.com", "v-1", "2025-01-09")
        self.assertEqual(status, 201, inv)
        self.assertEqual((inv["credits"], inv["total"]), (0.50, 0.90))
        status, _, body = self.request("PATCH", "admin/invoices/%d" % inv["id"],
                                       token=self.admin(), body={"status": "void"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "void")
        self.assertIsNotNone(body["voided_at"])
        self.assertEqual(self.sql("SELECT status, total FROM billing_invoices WHERE id = %d"
                                  % inv["id"]), [["void", "0.90"]])
        self.assertEqual(self.sql("SELECT remaining FROM billing_credits c JOIN billing_accounts a "
                                  "ON a.id = c.account_id WHERE a.user_id = 'void@example.com'"),
                         [["0.50"]])
        # the period is free again: a new invoice bills the same usage
        status, _, again = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": "void@example.com", "period_start": "2025-01-09",
            "period_end": "2025-01-09"})
        self.assertEqual(status, 201, again)
        self.assertEqual(again["subtotal"], 1.40)
        self.assertNotEqual(again["invoice_number"], inv["invoice_number"])

    def test_drafts_have_no_number_until_sent_and_numbers_stay_gap_free(self):
        status, _, draft = self.make_manual("draft@example.com", "d-1", "2025-01-11", draft=True)
        self.assertEqual(status, 201, draft)
        self.assertEqual(draft["status"], "draft")
        self.assertIsNone(draft["invoice_number"])
        # a user does not see a draft
        status, _, _ = self.request("GET", "invoices/%d" % draft["id"],
                                    token=self.user("draft@example.com"))
        self.assertEqual(status, 404)
        status, _, sent = self.request("PATCH", "admin/invoices/%d" % draft["id"],
                                       token=self.admin(), body={"status": "sent"})
        self.assertEqual(status, 200, sent)
        self.assertRegex(sent["invoice_number"], r"^INV-2025-\d{6}$")
        numbers = sorted(int(r[0][-6:]) for r in self.sql(
            "SELECT invoice_number FROM billing_invoices WHERE invoice_number LIKE 'INV-2025-%'"))
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))

    def test_sent_invoices_past_due_become_overdue(self):
        status, _, inv = self.make_manual("late@example.com", "l-1", "2025-01-12")
        self.assertEqual(status, 201, inv)
        # 14 days later plus one: the daily run marks it
        r = self.invoice_run(now="2025-02-16T00:30:00Z")
        self.assertIn("overdue", r.stderr + r.stdout)
        self.assertEqual(self.get("invoices/%d" % inv["id"], self.admin())["status"], "overdue")
        status, _, paid = self.request("PATCH", "admin/invoices/%d" % inv["id"],
                                       token=self.admin(), body={"status": "paid"})
        self.assertEqual((status, paid["status"]), (200, "paid"))


class InvoiceClaimTest(InvoiceCase):
    """Which invoice bills a record (sql/003): late usage, voids and reruns.

    The scheduled run writes nothing on the records: an invoice claims its
    account's unbilled records with bill_from in [usage_from, usage_to), and
    billing_usage_billed shows each record's invoice."""

    def lines_of(self, inv_id):
        inv = self.get("invoices/%d" % inv_id, self.admin())
        return inv, [(l["resource_type"], l["quantity"], l["amount"]) for l in inv["lines"]]

    def billed(self, user):
        """{invoice id or None: record count} for the user's records."""
        rows = self.sql("SELECT COALESCE(r.invoice_id, 'none'), COUNT(*) FROM "
                        "billing_usage_billed r JOIN billing_accounts a ON a.id = r.account_id "
                        "WHERE a.user_id = '%s' GROUP BY 1" % user)
        return {(None if k == "none" else int(k)): int(n) for k, n in rows}

    def only(self, user, period_start):
        invs = [i for i in self.invoices_of(user) if i["period_start"] == period_start
                and i["status"] != "void"]
        self.assertEqual(len(invs), 1, invs)
        return invs[0]

    def test_usage_metered_after_its_period_was_invoiced_goes_on_the_next_invoice(self):
        # 2 cores + 4 GB for 2 hours in January: 0.20 + 0.08
        self.session("late@example.com", "late-0", "2025-01-10T10:00:00Z",
                     "2025-01-10T12:00:00Z", 2, 4)
        self.meter()
        self.invoice_run()
        jan = self.only("late@example.com", "2025-01-01T00:00:00Z")
        self.assertEqual(Decimal(jan["total"]), Decimal("0.28"))
        # reported after the run: the last 4 hours of January (0.40 + 0.16)
        self.session("late@example.com", "late-1", "2025-01-31T20:00:00Z",
                     "2025-02-01T00:00:00Z", 2, 4)
        self.meter()
        self.assertEqual(self.sql(
            "SELECT DISTINCT r.bill_from FROM billing_usage_records r JOIN billing_accounts a "
            "ON a.id = r.account_id JOIN billing_sessions s ON s.id = r.session_pk "
            "WHERE s.session_id = 'late-1'"), [["2025-02-01 00:00:00.000000"]])
        # January's invoice is final: unchanged, and the late records are unbilled
        _, jan_lines = self.lines_of(jan["id"])
        self.assertEqual(jan_lines, [("cpu", 4, Decimal("0.20")), ("memory", 8, Decimal("0.08"))])
        self.assertEqual(self.billed("late@example.com"), {jan["id"]: 4, None: 8})
        # the run again changes nothing; February's run bills them
        self.invoice_run()
        self.assertEqual(len(self.invoices_of("late@example.com")), 1)
        self.invoice_run(now="2025-03-01T00:30:00Z")
        feb = self.only("late@example.com", "2025-02-01T00:00:00Z")
        _, feb_lines = self.lines_of(feb["id"])
        self.assertEqual(feb_lines, [("cpu", 8, Decimal("0.40")), ("memory", 16, Decimal("0.16"))])
        self.assertEqual(self.billed("late@example.com"), {jan["id"]: 4, feb["id"]: 8})

    def test_void_of_the_latest_invoice_lets_a_rerun_bill_its_usage(self):
        self.session("relast@example.com", "rl-1", "2025-01-12T00:00:00Z",
                     "2025-01-12T02:00:00Z", 2, 4)
        self.meter()
        self.invoice_run()
        first = self.only("relast@example.com", "2025-01-01T00:00:00Z")
        status, _, body = self.request("PATCH", "admin/invoices/%d" % first["id"],
                                       token=self.admin(), body={"status": "void"})
        self.assertEqual((status, body["status"]), (200, "void"), body)
        self.assertEqual(self.billed("relast@example.com"), {None: 4})
        self.invoice_run()
        again = self.only("relast@example.com", "2025-01-01T00:00:00Z")
        self.assertNotEqual(again["id"], first["id"])
        _, lines = self.lines_of(again["id"])
        self.assertEqual(lines, [("cpu", 4, Decimal("0.20")), ("memory", 8, Decimal("0.08"))])
        self.assertEqual(self.billed("relast@example.com"), {again["id"]: 4})
        # the void one keeps its lines and amounts
        void, void_lines = self.lines_of(first["id"])
        self.assertEqual((void["status"], void["total"], void_lines),
                         ("void", Decimal("0.28"), lines))

    def test_void_of_an_older_invoice_moves_its_usage_to_the_next_invoice(self):
        # December: 1 core for 2 hours (0.10); January: 1 core for 4 hours (0.20)
        self.session("reold@example.com", "ro-1", "2024-12-10T00:00:00Z",
                     "2024-12-10T02:00:00Z", 1, 0)
        self.session("reold@example.com", "ro-2", "2025-01-10T00:00:00Z",
                     "2025-01-10T04:00:00Z", 1, 0)
        self.meter()
        self.invoice_run(now="2025-01-01T00:30:00Z")
        self.invoice_run()
        dec = self.only("reold@example.com", "2024-12-01T00:00:00Z")
        jan = self.only("reold@example.com", "2025-01-01T00:00:00Z")
        self.assertEqual((Decimal(dec["total"]), Decimal(jan["total"])),
                         (Decimal("0.10"), Decimal("0.20")))
        status, _, body = self.request("PATCH", "admin/invoices/%d" % dec["id"],
                                       token=self.admin(), body={"status": "void"})
        self.assertEqual(status, 200, body)
        # January's invoice keeps its own records; December's wait for February's
        self.assertEqual(self.billed("reold@example.com"), {jan["id"]: 4, None: 2})
        self.invoice_run(now="2025-03-01T00:30:00Z")
        feb = self.only("reold@example.com", "2025-02-01T00:00:00Z")
        _, lines = self.lines_of(feb["id"])
        self.assertEqual(lines, [("cpu", 2, Decimal("0.10"))])
        self.assertEqual(self.billed("reold@example.com"), {jan["id"]: 4, feb["id"]: 2})

    def lock_waits(self):
        """Thread ids of the transactions waiting for a lock.  InnoDB serves
        INNODB_TRX from a cache it refreshes only when the table was not read
        for 0.1 s: poll it more slowly than that (interval=LOCK_POLL)."""
        return {int(r[0]) for r in self.sql(
            "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX "
            "WHERE trx_state = 'LOCK WAIT'")}

    def test_a_new_accounts_first_invoice_never_loses_usage(self):
        """The usage job and the invoice run meet on a never-invoiced account,
        the interleaving forced: the usage job has read the account's
        watermark (NULL) and is held on a later account of its batch when the
        run locks the account, sums its usage and closes the period.  Every
        record must be in that sum or land at/after the watermark."""
        # two accounts metered in one batch: the first never invoiced
        self.session("first@example.com", "first-1", "2025-01-31T10:00:00Z",
                     "2025-01-31T12:00:00Z", 2, 4)
        self.session("second@example.com", "second-1", "2025-01-31T10:00:00Z",
                     "2025-01-31T11:00:00Z", 1, 0)
        [[first, through]] = self.sql("SELECT id, COALESCE(billed_through, 'null') FROM "
                                      "billing_accounts WHERE user_id = 'first@example.com'")
        [[second]] = self.sql("SELECT id FROM billing_accounts "
                              "WHERE user_id = 'second@example.com'")
        self.assertEqual(through, "null")
        self.assertLess(int(first), int(second))
        other, run = DbSession(self.stack), DbSession(self.stack)
        usage = None
        try:
            # another transaction holds the second account
            other.query("BEGIN; SELECT id FROM billing_accounts WHERE id = %s FOR UPDATE"
                        % second)
            env = self.stack.env()
            env["BILLING_TEST_NOW"] = NOW
            usage = subprocess.Popen(
                [stackmod.find_program("billing-calculate-usage", self.stack.build_dir)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            # the usage job has locked its batch's segments, read the first
            # account and waits for the second
            self.assertTrue(wait_for(lambda: len(self.lock_waits()) == 1, 30,
                                     interval=LOCK_POLL))
            # the invoice run (as invoice_batch.c does) locks the first account
            run.send("BEGIN; SELECT id FROM billing_accounts WHERE id = %s FOR UPDATE" % first)
            self.assertTrue(wait_for(lambda: run.done() or run.id in self.lock_waits(), 30,
                                     interval=LOCK_POLL))
            blocked = not run.done()
            claim = ("SELECT COUNT(*) FROM billing_usage_records WHERE account_id = %s "
                     "AND invoice_id IS NULL AND bill_from < '2025-02-01 00:00:00'; "
                     "UPDATE billing_accounts SET billed_through = '2025-02-01 00:00:00' "
                     "WHERE id = %s; COMMIT" % (first, first))
            if blocked:
                # it waits for the usage batch: let that one finish first
                other.query("COMMIT")
                run.wait()
                seen = int(run.query(claim)[0])
            else:
                run.wait()
                seen = int(run.query(claim)[0])
                other.query("COMMIT")
            out = usage.communicate(timeout=60)[0].decode()
            self.assertEqual(usage.returncode, 0, out)
        finally:
            if usage is not None and usage.poll() is None:
                usage.kill()
                usage.wait()
            other.close()
            run.close()
        # every record of the account: in the run's sum, or on the next invoice
        [[total, behind]] = self.sql(
            "SELECT COUNT(*), COALESCE(SUM(bill_from < '2025-02-01 00:00:00'), 0) "
            "FROM billing_usage_records WHERE account_id = %s" % first)
        self.assertEqual(total, "4")
        self.assertEqual(int(behind), seen,
                         "records behind the watermark the run did not see: lost usage")
        self.assertTrue(blocked, "the run must wait for the usage job's batch")

    def test_a_manual_invoice_over_an_invoiced_period_is_409_and_changes_no_record(self):
        self.session("mixed@example.com", "mx-1", "2025-01-20T00:00:00Z",
                     "2025-01-20T02:00:00Z", 2, 4)
        self.meter()
        self.invoice_run()
        jan = self.only("mixed@example.com", "2025-01-01T00:00:00Z")
        # overlapping January: 409; a manual invoice for February has no usage
        status, _, body = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": "mixed@example.com", "period_start": "2025-01-20",
            "period_end": "2025-01-20"})
        self.assertEqual(status, 409, body)
        self.assertEqual(self.billed("mixed@example.com"), {jan["id"]: 4})


class InvoiceCatchUpTest(InvoiceCase):
    """A missed invoice day is caught up: every run invoices each period that
    has ended and is still open for an account, oldest first, at most 12
    periods back.  billingd's clock stands at 2025-02-01T00:30Z; the runs
    are made at later (or, through the API, earlier) instants."""

    def created(self, user, at):
        """The account as if it had been made at `at` (billingd's clock is fixed)."""
        self.hook("user-created", {"user_id": user})
        self.sql("UPDATE billing_accounts SET created_at = '%s' WHERE user_id = '%s'"
                 % (at, user))

    def periods(self, user):
        return [(i["period_start"][:10], i["total"]) for i in sorted(
            self.invoices_of(user), key=lambda i: i["id"]) if i["status"] != "void"]

    def test_a_run_the_day_after_the_invoice_day_invoices_the_period(self):
        self.created("nextday@example.com", "2025-01-05 00:00:00")
        self.session("nextday@example.com", "nd-1", "2025-01-15T08:00:00Z",
                     "2025-01-15T18:00:00Z", 2, 4)
        self.meter()
        r = self.invoice_run(now="2025-02-02T00:30:00Z")
        self.assertEqual(self.periods("nextday@example.com"),
                         [("2025-01-01", Decimal("1.40"))], r.stdout + r.stderr)

    def test_a_run_two_months_late_invoices_both_periods_oldest_first(self):
        self.created("twolate@example.com", "2025-01-03 00:00:00")
        self.sql("UPDATE billing_accounts SET plan_id = 'pro', billing_mode = 'subscription' "
                 "WHERE user_id = 'twolate@example.com'")
        self.invoice_run(now="2025-03-05T00:30:00Z")
        self.assertEqual(self.periods("twolate@example.com"),
                         [("2025-01-01", Decimal("29.99")), ("2025-02-01", Decimal("29.99"))])
        numbers = [i["invoice_number"] for i in sorted(self.invoices_of("twolate@example.com"),
                                                       key=lambda i: i["id"])]
        self.assertEqual(numbers, sorted(numbers))
        # a rerun, that day or the next, invoices nothing
        before = self.sql("SELECT COUNT(*) FROM billing_invoices")
        self.invoice_run(now="2025-03-05T00:30:00Z")
        self.invoice_run(now="2025-03-06T00:30:00Z")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoices"), before)

    def test_catch_up_goes_back_at_most_twelve_periods(self):
        self.created("ancient@example.com", "2023-01-10 00:00:00")
        self.sql("UPDATE billing_accounts SET plan_id = 'pro', billing_mode = 'subscription' "
                 "WHERE user_id = 'ancient@example.com'")
        self.invoice_run(now="2025-03-05T00:30:00Z")
        starts = [p for p, _ in self.periods("ancient@example.com")]
        self.assertEqual(starts, ["2024-%02d-01" % m for m in range(3, 13)]
                         + ["2025-01-01", "2025-02-01"])

    def test_the_jobs_endpoint_runs_as_of_the_date_given(self):
        self.created("asof@example.com", "2024-12-01 00:00:00")
        self.session("asof@example.com", "asof-1", "2024-12-10T08:00:00Z",
                     "2024-12-10T18:00:00Z", 2, 4)
        self.meter()
        status, _, body = self.request("POST", "jobs/generate-invoices",
                                       body={"date": "2025-01-01"}, token=self.admin())
        self.assertEqual(status, 200, body)
        self.assertEqual(self.periods("asof@example.com"), [("2024-12-01", Decimal("1.40"))])
        [inv] = self.invoices_of("asof@example.com")
        self.assertEqual(inv["created_at"], "2025-01-01T00:00:00Z")
        # today (the clock's) is a valid date too
        status, _, body = self.request("POST", "jobs/generate-invoices",
                                       body={"date": "2025-02-01"}, token=self.admin())
        self.assertEqual(status, 200, body)

    def test_bad_dates_are_400_and_run_nothing(self):
        before = self.sql("SELECT COUNT(*) FROM billing_invoices; "
                          "SELECT COUNT(*) FROM billing_job_runs")
        for job, body, param in (
                ("generate-invoices", {"date": "2025-02-02"}, "date"),   # the clock's tomorrow
                ("generate-invoices", {"date": "2025-13-01"}, "date"),
                ("generate-invoices", {"date": "2025-02-30"}, "date"),
                ("generate-invoices", {"date": "10000-01-01"}, "date"),
                ("generate-invoices", {"date": "0000-01-01"}, "date"),
                ("generate-invoices", {"date": "1970-01-01"}, "date"),
                ("generate-invoices", {"date": "2025-01-01T00:00:00Z"}, "date"),
                ("generate-invoices", {"date": "2025-1-1"}, "date"),
                ("generate-invoices", {"date": ""}, "date"),
                ("generate-invoices", {"date": 20250101}, "date"),
                ("generate-invoices", {"date": ["2025-01-01"]}, "date"),
                ("generate-invoices", {"date": "2025-01-01", "force": True}, "force"),
                ("calculate-usage", {"date": "2025-01-01"}, "date")):
            with self.subTest(job=job, body=body):
                status, _, resp = self.request("POST", "jobs/" + job, body=body,
                                               token=self.admin())
                self.assertEqual(status, 400, resp)
                self.assertEqual(resp["error"]["code"], "invalid_argument")
                self.assertEqual(resp["error"]["param"], param)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoices; "
                                  "SELECT COUNT(*) FROM billing_job_runs"), before)


class InvoiceKilledRunTest(InvoiceCase):
    """Many accounts; the run is killed after some batches, then re-run."""

    def test_run_killed_half_way_then_rerun_invoices_each_account_once(self):
        n = 3000
        self.sql(
            "INSERT INTO billing_accounts (user_id) SELECT CONCAT('k-', seq) FROM seq_1_to_%d;"
            "INSERT INTO billing_usage_records (account_id, resource_type, quantity, unit, "
            "unit_price, total_cost, start_time, end_time) SELECT a.id, 'cpu', 2, 'core-hours', "
            "0.05, 0.10, '2025-01-15 10:00:00', '2025-01-15 11:00:00' FROM billing_accounts a "
            "WHERE a.user_id LIKE 'k-%%'" % n)
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        prog = stackmod.find_program("billing-generate-invoices", self.stack.build_dir)
        p = subprocess.Popen([prog], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        count = lambda: int(self.sql("SELECT COUNT(*) FROM billing_invoices")[0][0])
        self.assertTrue(wait_for(lambda: count() > 0, 60, interval=0.01))
        p.send_signal(signal.SIGKILL)
        p.wait()
        partial = count()
        self.assertLess(partial, n, "the run finished before it was killed")
        # whole batches: every invoice has its lines and its records
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_invoices i WHERE NOT EXISTS (SELECT 1 FROM "
            "billing_invoice_lines l WHERE l.invoice_id = i.id) OR i.invoice_number IS NULL"),
            [["0"]])
        self.invoice_run()
        self.assertEqual(count(), n)
        self.assertEqual(self.sql("SELECT COUNT(*), SUM(total) FROM billing_invoices"),
                         [[str(n), "%d.00" % (n // 10)]])
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_usage_billed "
                                  "WHERE invoice_id IS NULL"), [["0"]])
        numbers = sorted(int(r[0][-6:]) for r in self.sql(
            "SELECT invoice_number FROM billing_invoices"))
        self.assertEqual(numbers, list(range(1, n + 1)))
        # each invoice's total equals its lines minus its credits
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_invoices i WHERE i.subtotal <> (SELECT SUM(amount) "
            "FROM billing_invoice_lines l WHERE l.invoice_id = i.id) "
            "OR i.total <> i.subtotal - i.credits"), [["0"]])


class InvoiceRateChangeTest(InvoiceCase):
    """No cap drops money (issue 12): rates change 13 times in January
    (new rates, SIGHUP, usage metered by POST jobs/calculate-usage), so 14
    rates of each of 3 resources give 42 (resource, rate) groups, more than
    any former fixed array held (16 sums, 32 usage items, 40 lines).  The
    scheduled run and a manual invoice bill every group, each the records'
    sum to the cent, and GET usage lists every group."""

    RATES = 14
    RUN_USER = "rates-run@example.com"
    MANUAL_USER = "rates-manual@example.com"

    @staticmethod
    def rates(i):
        """Rates whose costs below are whole cents (floats only for JSON)."""
        return {"cpu_per_core_hour": float(Decimal("0.05") + Decimal("0.01") * i),
                "memory_per_gb_hour": float(Decimal("0.010") + Decimal("0.001") * i),
                "storage_per_gb_month": float(Decimal("0.10") + Decimal("0.01") * i)}

    @classmethod
    def reload(cls, cfg):
        """Rewrites the config and SIGHUPs billingd; waits for new workers."""
        old = set(cls.stack.worker_pids())
        cls.stack.write_config(cfg)
        os.kill(cls.stack.billingd.pid, signal.SIGHUP)
        if not wait_for(lambda: len(cls.stack.worker_pids()) == 2 and
                        not (set(cls.stack.worker_pids()) & old), 10.0):
            raise RuntimeError("billingd did not reload")

    @classmethod
    def setUpStack(cls):
        t = cls()
        for i in range(cls.RATES):
            cfg = cls.stack.config()
            cfg["computeRates"] = cls.rates(i)
            cls.reload(cfg)
            # 10 hours of 2 cores, 4 GB and 73 GB (one GB-month) on day i + 2
            day = "2025-01-%02d" % (i + 2)
            for user in (cls.RUN_USER, cls.MANUAL_USER):
                t.session(user, "%s-%d" % (user.split("@")[0], i), day + "T08:00:00Z",
                          day + "T18:00:00Z", 2, 4, 73)
            status, _, body = t.request("POST", "jobs/calculate-usage", token=t.admin())
            if status != 200:
                raise RuntimeError("calculate-usage: %d %s" % (status, body))
        cls.reload(cls.stack.config())
        # a manual invoice for one user, then the run (which skips it)
        status, _, made = t.request("POST", "admin/invoices", token=t.admin(), body={
            "user_id": cls.MANUAL_USER, "period_start": "2025-01-01",
            "period_end": "2025-01-31"})
        cls.manual = (status, made)
        r = t.invoice_run(check=False)
        cls.run_output = "%d %s%s" % (r.returncode, r.stdout, r.stderr)

    def groups(self, user):
        """{(resource, unit price): cost} of the user's records (Decimal)."""
        rows = self.sql("SELECT r.resource_type, r.unit_price, SUM(r.total_cost) "
                        "FROM billing_usage_records r JOIN billing_accounts a "
                        "ON a.id = r.account_id WHERE a.user_id = '%s' "
                        "GROUP BY r.resource_type, r.unit_price" % user)
        return {(res, Decimal(price)): Decimal(cost) for res, price, cost in rows}

    def assertBillsEveryGroup(self, user, inv):
        groups = self.groups(user)
        self.assertEqual(len(groups), 3 * self.RATES)
        lines = {(l["resource_type"], Decimal(l["unit_price"])): Decimal(l["amount"])
                 for l in inv["lines"]}
        self.assertEqual(len(inv["lines"]), len(groups))
        self.assertEqual(lines, {k: v.quantize(Decimal("0.01")) for k, v in groups.items()})
        self.assertEqual(Decimal(inv["subtotal"]),
                         sum(groups.values()).quantize(Decimal("0.01")))
        self.assertEqual(Decimal(inv["total"]), Decimal(inv["subtotal"]))
        # every record is on this invoice
        self.assertEqual(self.sql(
            "SELECT COALESCE(r.invoice_id, 0), COUNT(*) FROM billing_usage_billed r "
            "JOIN billing_accounts a ON a.id = r.account_id WHERE a.user_id = '%s' "
            "GROUP BY 1" % user), [[str(inv["id"]), str(3 * 10 * self.RATES)]])

    def test_a_manual_invoice_bills_all_42_groups_to_the_cent(self):
        status, made = self.manual
        self.assertEqual(status, 201, made)
        self.assertBillsEveryGroup(self.MANUAL_USER,
                                   self.get("invoices/%d" % made["id"], self.admin()))

    def test_the_scheduled_run_bills_all_42_groups_to_the_cent(self):
        self.assertIn("1 invoices created", self.run_output)
        invs = self.invoices_of(self.RUN_USER)
        self.assertEqual(len(invs), 1, invs)
        self.assertEqual(invs[0]["kind"], "scheduled")
        self.assertBillsEveryGroup(self.RUN_USER,
                                   self.get("invoices/%d" % invs[0]["id"], self.admin()))

    def test_usage_lists_every_group(self):
        usage = self.get("usage?user_id=%s&from=2025-01-01&to=2025-01-31"
                         % self.RUN_USER.replace("@", "%40"), self.admin())
        groups = self.groups(self.RUN_USER)
        items = {(i["resource_type"], Decimal(i["unit_price"])): Decimal(i["total_cost"])
                 for i in usage["items"]}
        self.assertEqual(len(usage["items"]), len(groups))
        self.assertEqual(items, groups)
        self.assertEqual(Decimal(usage["total_cost"]), sum(groups.values()))
