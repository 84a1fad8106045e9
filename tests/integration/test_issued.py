"""Invoices as issued (docs/billing.md "What an invoice keeps as issued",
sql/016): the transaction that numbers an invoice stores the customer's
block (billing name, address, country, tax id), the issuer's (the config's
invoiceIssuer) and the zone of its dates; the PDF, the credit-note PDF and
GET invoices/{id} (bill_to, issuer) show them ever after, whatever the
account, its zone or the config become.  A draft shows the current details
until it is finalized; an invoice numbered before sql/016 (nothing stored)
shows the current ones.

The clock is fixed at 2025-02-01T00:30Z.  Usage: the seed example, 2 cores
and 4 GB for 10 hours = 1.40.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from datetime import datetime, timezone

from base import StackTestCase, wait_for

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())

ISSUER_OLD = {"name": "Old Issuer Ltd", "address": ["1 Old Street", "London EC1A 1AA"],
              "email": "billing@old.example", "taxId": "GB000000001"}
ISSUER_NEW = {"name": "New Issuer GmbH", "address": ["Neue Strasse 2", "10115 Berlin"],
              "email": "billing@new.example", "taxId": "DE999999999"}
OLD = {"billing_name": "Old Customer Ltd", "billing_address": ["7 Former Road", "Leeds"],
       "country": "GB", "tax_id": "GB123"}
NEW = {"billing_name": "New Customer SARL", "billing_address": ["9 Rue Neuve", "Paris"],
       "country": "FR", "tax_id": "FR456"}


def bill_to(details):
    """bill_to as GET invoices/{id} shows details given to PATCH."""
    return {"name": details["billing_name"], "address": details["billing_address"],
            "country": details["country"], "tax_id": details["tax_id"]}


def issuer(cfg):
    return {"name": cfg["name"], "address": cfg["address"], "email": cfg["email"],
            "tax_id": cfg["taxId"]}


class IssuedCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = {"invoiceIssuer": ISSUER_OLD}

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
        self.hook("session-created", {"session_id": sid, "user_id": user, "cpu_cores": 2,
                                      "memory_gb": 4, "storage_gb": 0,
                                      "started_at": day + "T00:00:00Z"})
        self.hook("session-terminated", {"session_id": sid, "ended_at": day + "T10:00:00Z"})
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def details(self, user, body):
        status, _, resp = self.request("PATCH", "admin/users/" + user.replace("@", "%40"),
                                       body=body, token=self.admin())
        self.assertEqual(status, 200, resp)

    def get(self, path):
        status, _, body = self.request("GET", path, token=self.admin())
        self.assertEqual(status, 200, body)
        return body

    def manual(self, user, day, draft=False):
        body = {"user_id": user, "period_start": day, "period_end": day}
        if draft:
            body["draft"] = True
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(),
                                      body=body)
        self.assertEqual(status, 201, inv)
        return inv["id"]

    def pdf_text(self, path):
        if not shutil.which("pdftotext"):
            self.skipTest("pdftotext (poppler-utils) is not installed")
        req = urllib.request.Request(self.stack.api + path,
                                     headers={"Authorization": "Bearer " + self.admin()})
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.assertEqual(resp.headers["Content-Type"], "application/pdf")
            pdf = resp.read()
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(pdf)
            f.flush()
            return subprocess.run(["pdftotext", "-layout", f.name, "-"],
                                  capture_output=True, text=True, check=True).stdout

    @classmethod
    def reload(cls, issuer_cfg):
        """Rewrites the config with another invoiceIssuer and SIGHUPs
        billingd; waits for its new workers."""
        old = set(cls.stack.worker_pids())
        cfg = cls.stack.config()
        cfg["invoiceIssuer"] = issuer_cfg
        cls.stack.write_config(cfg)
        os.kill(cls.stack.billingd.pid, signal.SIGHUP)
        if not wait_for(lambda: len(cls.stack.worker_pids()) == 2 and
                        not (set(cls.stack.worker_pids()) & old), 10.0):
            raise RuntimeError("billingd did not reload")

    def assertShowsOld(self, text):
        for s in ("Old Customer Ltd", "7 Former Road", "Leeds", "GB123",
                  "Old Issuer Ltd", "1 Old Street", "billing@old.example", "GB000000001"):
            self.assertIn(s, text)
        for s in ("New Customer", "Rue Neuve", "FR456", "New Issuer", "Neue Strasse",
                  "DE999999999"):
            self.assertNotIn(s, text)

    def assertShowsNew(self, text):
        for s in ("New Customer SARL", "9 Rue Neuve", "FR456", "New Issuer GmbH",
                  "Neue Strasse 2", "billing@new.example", "DE999999999"):
            self.assertIn(s, text)
        for s in ("Old Customer", "Former Road", "GB123", "Old Issuer", "GB000000001"):
            self.assertNotIn(s, text)


class IssuedTest(IssuedCase):

    def test_an_invoice_keeps_what_it_was_issued_with(self):
        user = "issued@example.com"
        self.hook("user-created", {"user_id": user})
        self.details(user, OLD)
        # always in Kathmandu (+05:45): 2025-01-10 00:00Z is 05:45 there, the
        # period's end (23:59:59Z) 05:44 on the 11th
        self.sql("UPDATE billing_accounts SET timezone = 'Asia/Kathmandu' "
                 "WHERE user_id = '%s'" % user)
        self.seed_session(user, "issued-1", "2025-01-10")
        inv_id = self.manual(user, "2025-01-10")
        # a draft made now, finalized after the changes below
        self.seed_session(user, "issued-2", "2025-01-20")
        draft_id = self.manual(user, "2025-01-20", draft=True)

        inv = self.get("invoices/%d" % inv_id)
        self.assertEqual((inv["bill_to"], inv["issuer"]), (bill_to(OLD), issuer(ISSUER_OLD)))
        before = self.pdf_text("invoices/%d/pdf" % inv_id)
        self.assertShowsOld(before)
        self.assertIn("2025-01-10 - 2025-01-11", before)
        self.assertIn("Times in Asia/Kathmandu", before)
        status, _, cn = self.request("POST", "admin/invoices/%d/credit-notes" % inv_id,
                                     body={"amount": "0.40", "reason": "goodwill"},
                                     token=self.admin())
        self.assertEqual(status, 201, cn)

        # the account's details change, its zone twice (the second change
        # in force since 1 December: the zones of the old invoice's period
        # are both gone from its history), and the config's issuer
        self.details(user, dict(NEW, timezone="Europe/Paris"))
        self.sql("UPDATE billing_accounts SET timezone = 'America/Los_Angeles', "
                 "timezone_prev = 'Europe/Paris', timezone_from = '2024-12-01 00:00:00' "
                 "WHERE user_id = '%s'" % user)
        self.reload(ISSUER_NEW)
        try:
            # the invoice is as issued: JSON, PDF, dates in the old zone
            inv = self.get("invoices/%d" % inv_id)
            self.assertEqual((inv["bill_to"], inv["issuer"]),
                             (bill_to(OLD), issuer(ISSUER_OLD)))
            after = self.pdf_text("invoices/%d/pdf" % inv_id)
            self.assertShowsOld(after)
            self.assertIn("2025-01-10 - 2025-01-11", after)
            self.assertIn("Times in Asia/Kathmandu", after)
            self.assertNotIn("Los_Angeles", after)
            # its credit note names the issuer and customer of the invoice
            # and dates in its zone
            text = self.pdf_text("credit-notes/%d/pdf" % cn["id"])
            self.assertIn("Old Issuer Ltd", text)
            self.assertIn("Old Customer Ltd", text)
            self.assertIn("Times in Asia/Kathmandu", text)
            self.assertNotIn("New ", text)

            # the draft shows the current details until it is finalized...
            draft = self.get("invoices/%d" % draft_id)
            self.assertEqual((draft["bill_to"], draft["issuer"]), (bill_to(NEW), None))
            self.assertIn("New Issuer GmbH", self.pdf_text("invoices/%d/pdf" % draft_id))
            # ...then keeps those it was numbered with
            status, _, body = self.request("PATCH", "admin/invoices/%d" % draft_id,
                                           token=self.admin(), body={"status": "sent"})
            self.assertEqual(status, 200, body)
            self.details(user, {"billing_name": "Third Name"})
            self.reload(ISSUER_OLD)
            fin = self.get("invoices/%d" % draft_id)
            self.assertEqual((fin["bill_to"], fin["issuer"]),
                             (bill_to(NEW), issuer(ISSUER_NEW)))
            text = self.pdf_text("invoices/%d/pdf" % draft_id)
            self.assertShowsNew(text)
            self.assertIn("Times in America/Los_Angeles", text)
            # 2025-01-20 00:00Z is the 19th at 16:00 in Los Angeles
            self.assertIn("2025-01-19 - 2025-01-20", text)
        finally:
            self.reload(ISSUER_OLD)

    def test_an_invoice_numbered_before_016_shows_the_current_details(self):
        user = "legacy@example.com"
        self.hook("user-created", {"user_id": user})
        self.details(user, OLD)
        self.seed_session(user, "legacy-1", "2025-01-12")
        inv_id = self.manual(user, "2025-01-12")
        self.assertEqual(len(self.sql("SELECT 1 FROM billing_invoices WHERE id = %d "
                                      "AND issued_details IS NOT NULL" % inv_id)), 1)
        # as if numbered before sql/016: nothing stored
        self.sql("UPDATE billing_invoices SET issued_details = NULL WHERE id = %d" % inv_id)
        self.details(user, {"billing_name": "Renamed Ltd"})
        inv = self.get("invoices/%d" % inv_id)
        self.assertEqual(inv["bill_to"]["name"], "Renamed Ltd")
        self.assertIsNone(inv["issuer"])
        text = self.pdf_text("invoices/%d/pdf" % inv_id)
        self.assertIn("Renamed Ltd", text)
        self.assertIn("Old Issuer Ltd", text)   # the config's


class IssuedBatchTest(IssuedCase):
    """The scheduled run stores each account's details with its invoice in
    its multi-row INSERT (no statement of its own)."""

    USERS = ["batch-%d@example.com" % i for i in range(5)]

    def test_the_run_stores_each_accounts_details(self):
        zones = ["UTC", "Asia/Kathmandu", "UTC", "America/Los_Angeles", "UTC"]
        for i, user in enumerate(self.USERS):
            self.hook("user-created", {"user_id": user})
            self.details(user, {"billing_name": "Batch Customer %d" % i,
                                "billing_address": ["%d Batch Lane" % i],
                                "country": "DE", "tax_id": "DE%d" % i})
            self.sql("UPDATE billing_accounts SET timezone = '%s', "
                     "billed_through = '%s' WHERE user_id = '%s'"
                     % (zones[i], "2025-01-01 00:00:00", user))
            self.seed_session(user, "batch-s%d" % i, "2025-01-20")
        # each zone's run: the UTC accounts' January ends now; Kathmandu's
        # and Los Angeles's at their local midnights
        for run in ("2025-02-01T00:30:00Z", "2025-02-01T08:30:00Z"):
            self.stack.run_helper("billing-generate-invoices",
                                  env={"BILLING_TEST_NOW": run})
        ids = {}
        for i, user in enumerate(self.USERS):
            invs = self.get("invoices?user_id=" + user.replace("@", "%40"))["invoices"]
            self.assertEqual(len(invs), 1, (user, invs))
            ids[user] = invs[0]["id"]
            self.details(user, NEW)
        self.reload(ISSUER_NEW)
        try:
            for i, user in enumerate(self.USERS):
                inv = self.get("invoices/%d" % ids[user])
                self.assertEqual(inv["kind"], "scheduled")
                self.assertEqual(inv["bill_to"], {"name": "Batch Customer %d" % i,
                                                  "address": ["%d Batch Lane" % i],
                                                  "country": "DE", "tax_id": "DE%d" % i})
                self.assertEqual(inv["issuer"], issuer(ISSUER_OLD))
                stored = json.loads(self.sql("SELECT issued_details FROM billing_invoices "
                                             "WHERE id = %d" % ids[user])[0][0])
                self.assertEqual(stored["timezone"], zones[i])
            text = self.pdf_text("invoices/%d/pdf" % ids[self.USERS[1]])
            self.assertIn("Batch Customer 1", text)
            self.assertIn("Old Issuer Ltd", text)
            self.assertIn("Times in Asia/Kathmandu", text)
        finally:
            self.reload(ISSUER_OLD)
