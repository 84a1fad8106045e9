"""Invoice and payment emails (docs/email.md): billing-dispatch-events mails
the events of email.events to the account's email through the operator's
SMTP relay, at least once, never twice once the relay accepted it.

The relay is a real SMTP server on loopback: tests/smtp_sink.py (Debian's
python3-aiosmtpd), in process, told to refuse when a test needs it.  The
clock is fixed with BILLING_TEST_NOW; each dispatcher run gets its own
"now", which is how time moves on for the back-off and the lease.

The crash between the relay's acceptance and the record is the fault hook
BILLING_TEST_EMAIL_CRASH=after-accept of test builds (--enable-test-clock):
the helper ends with _exit(75) right after libcurl reports the relay's 250
to the message, before anything is written: the same state a kill -9 at
that instant leaves, made deterministic (a signal sent from the sink's DATA
handler would race the 250 reaching the helper).
"""

import email
import email.policy
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))   # tests/: smtp_sink

from base import StackTestCase  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402
import stack as stackmod  # noqa: E402

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())
SEC = 1000000
NOW_US = NOW_EPOCH * SEC
RESULT = re.compile(r"emails: (\d+) sent, (\d+) retried, (\d+) failed, (\d+) skipped")
SMTP_PASSWORD = "smtp-pw-" + "5e3cr3t" * 4
ISSUER = "Ström Cloud GmbH"


def iso(us):
    sec, frac = divmod(us, SEC)
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") \
        + ".%06dZ" % frac


def db_time(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class EmailsCase(StackTestCase):
    sink = None

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink().start()
        cls.stack_env = {"BILLING_TEST_NOW": NOW}
        cls.config_overrides = {
            "email": {"smtpUrl": cls.sink.url,
                      "from": "Ström Billing <billing@example.com>",
                      "replyTo": "support@example.com",
                      "templateDir": os.path.join(ROOT, "email")},
            "invoiceIssuer": {"name": ISSUER, "address": ["1 Example Street"]},
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.sink.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sink.stop()

    def setUp(self):
        self.sql("DELETE FROM billing_emails")
        self.sql("DELETE FROM billing_events")
        self.sink.reset()

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=NOW_EPOCH)

    def account(self, user, email="same"):
        if email == "same":
            email = user
        self.sql("INSERT IGNORE INTO billing_accounts (user_id, email) VALUES ('%s', %s)"
                 % (user, "'%s'" % email if email else "NULL"))
        return int(self.sql("SELECT id FROM billing_accounts WHERE user_id = '%s'" % user)[0][0])

    def quota_event(self, name, user, email="same", created=NOW_EPOCH,
                    etype="billing.quota.warning"):
        """A quota warning as quotas.c writes it (no PDF)."""
        eid = "evt_" + name
        acct = self.account(user, email)
        payload = json.dumps({"id": eid, "type": etype, "created": created, "data": {
            "user_id": user, "resource_type": "cpu", "in_use": 8, "limit": 10,
            "percent": "PCT", "plan_id": "pro"}}, separators=(",", ":"))
        payload = payload.replace('"PCT"', "80.00")   # as json_money writes it
        self.sql("INSERT INTO billing_events (event_id, type, account_id, payload, status, "
                 "next_attempt_at, created_at) VALUES ('%s', '%s', %d, '%s', 'delivered', "
                 "'%s', '%s')" % (eid, etype, acct, payload, db_time(created), db_time(created)))
        return eid

    def mail_row(self, eid):
        rows = self.sql(
            "SELECT m.status, m.attempts, COALESCE(m.last_error, ''), "
            "COALESCE(m.relay_reply, ''), m.message_id, COALESCE(m.skip_reason, ''), "
            "COALESCE(m.recipient, '') FROM billing_emails m JOIN billing_events e "
            "ON e.id = m.event_ref WHERE e.event_id = '%s'" % eid)
        if not rows:
            return None
        s, a, err, reply, mid, skip, to = rows[0]
        return {"status": s, "attempts": int(a), "error": err, "reply": reply,
                "message_id": mid, "skip": skip, "to": to}

    def dispatch(self, at=NOW_US, env=None, check=True):
        """One billing-dispatch-events run at `at` (usec); returns (sent, retried,
        failed, skipped) of its emails."""
        e = {"BILLING_TEST_NOW": iso(at)}
        e.update(env or {})
        r = self.stack.run_helper("billing-dispatch-events", env=e, check=check)
        out = r.stdout + r.stderr
        self.assertNotIn(SMTP_PASSWORD, out)
        if not check:
            return r
        m = RESULT.search(out)
        self.assertTrue(m, out)
        return tuple(int(x) for x in m.groups())

    def parsed(self, i=0):
        return email.message_from_bytes(self.sink.received[i].data, policy=email.policy.default)


class MessageTest(EmailsCase):

    def make_invoice(self, user):
        tok = self.stack.token("platform", "service", now=NOW_EPOCH)
        status, _, resp = self.request("POST", "hooks/user-created", token=tok,
                                       body={"user_id": user, "email": user})
        self.assertIn(status, (200, 201), resp)
        for name, body in (("session-created", {
                "session_id": "mail-1", "user_id": user, "cpu_cores": 2, "memory_gb": 4,
                "storage_gb": 0, "started_at": "2025-01-07T00:00:00Z"}),
                ("session-terminated", {"session_id": "mail-1",
                                        "ended_at": "2025-01-07T10:00:00Z"})):
            status, _, resp = self.request("POST", "hooks/" + name, body=body, token=tok)
            self.assertIn(status, (200, 201), resp)
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": user, "period_start": "2025-01-07", "period_end": "2025-01-07"})
        self.assertEqual(status, 201, inv)
        return inv

    def test_an_invoice_is_mailed_with_both_parts_and_its_pdf(self):
        user = "mailed@example.com"
        inv = self.make_invoice(user)
        number = inv["invoice_number"]
        self.assertTrue(number.startswith("INV-2025-"), inv)
        [[eid]] = self.sql("SELECT event_id FROM billing_events "
                           "WHERE type = 'billing.invoice.created'")

        self.assertEqual(self.dispatch(), (1, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 1)
        got = self.sink.received[0]
        self.assertEqual(got.mail_from, "billing@example.com")
        self.assertEqual(got.rcpt_tos, [user])
        raw = got.data
        # CRLF line endings only, no line over 998, base64 lines at most 76
        self.assertNotRegex(raw, rb"[^\r]\n")
        self.assertTrue(all(len(line) <= 998 for line in raw.split(b"\r\n")))
        # RFC 2047: the non-ASCII subject and name are encoded words
        head = raw.split(b"\r\n\r\n", 1)[0]
        self.assertTrue(all(b < 0x80 for b in head), head)
        self.assertIn(b"Subject: =?UTF-8?B?", head)
        # no secret of the stack in the message
        for secret in self.stack._secrets().values():
            self.assertNotIn(secret.encode(), raw)

        msg = self.parsed()
        self.assertEqual(msg["From"].addresses[0].display_name, "Ström Billing")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "billing@example.com")
        self.assertEqual(msg["To"], user)
        self.assertEqual(msg["Reply-To"], "support@example.com")
        self.assertEqual(str(msg["Subject"]),
                         "Invoice %s from %s: 1.40 USD" % (number, ISSUER))
        self.assertEqual(msg["Message-ID"], "<%s.billing@example.com>" % eid)
        self.assertEqual(msg["Date"].datetime,
                         datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc))
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        parts = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts],
                         ["multipart/alternative", "application/pdf"])
        text, html = list(parts[0].iter_parts())
        self.assertEqual(text.get_content_type(), "text/plain")
        self.assertEqual(html.get_content_type(), "text/html")
        billing_url = self.stack.base_url + "/billing/"
        for part in (text, html):
            body = part.get_content()
            self.assertIn(number, body)
            self.assertIn("1.40 USD", body)
            self.assertIn(billing_url, body)
            self.assertIn(ISSUER, body)
        self.assertIn('<a href="%s">' % billing_url, html.get_content())
        # instants as days: the due date 14 days (invoiceDueDays) after now
        self.assertIn("Due date: 2025-02-15\r\n", text.get_content())
        # the attachment: a PDF that pdftotext reads, naming the invoice
        pdf = parts[1]
        self.assertEqual(pdf.get_filename(), number + ".pdf")
        self.assertEqual(pdf["Content-Disposition"].split(";")[0], "attachment")
        data = pdf.get_content()
        self.assertTrue(data.startswith(b"%PDF-"))
        b64_lines = [line for line in raw.split(b"\r\n")
                     if re.fullmatch(rb"[A-Za-z0-9+/=]{8,}", line)]
        self.assertTrue(b64_lines)
        self.assertLessEqual(max(len(line) for line in b64_lines), 76)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(data)
            f.flush()
            txt = subprocess.run(["pdftotext", f.name, "-"], capture_output=True,
                                 check=True).stdout.decode()
        self.assertIn(number, txt)

        # the record: sent, with the relay's answer; admin/events shows it
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"], row["to"]), ("sent", 1, user))
        self.assertRegex(row["reply"], r"^250 2\.0\.0 OK: queued as sink-1$")
        status, _, page = self.request("GET", "admin/events?type=billing.invoice.created",
                                       token=self.admin())
        self.assertEqual(status, 200, page)
        m = page["events"][0]["email"]
        self.assertEqual((m["status"], m["recipient"], m["attempts"], m["message_id"],
                          m["sent_at"]), ("sent", user, 1, msg["Message-ID"], NOW))
        self.assertIn("queued as sink-1", m["relay_reply"])
        # sent once: later runs send nothing
        self.assertEqual(self.dispatch(NOW_US + 3600 * SEC), (0, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 1)

    def test_a_quota_warning_has_no_attachment_and_placeholders_are_escaped_in_html(self):
        eid = self.quota_event("quota", "q@example.com")
        self.sql("UPDATE billing_events SET payload = REPLACE(payload, '\"pro\"', "
                 "'\"<b>&pro</b>\"') WHERE event_id = '%s'" % eid)
        self.assertEqual(self.dispatch(), (1, 0, 0, 0))
        msg = self.parsed()
        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        text, html = list(msg.iter_parts())
        self.assertIn("(<b>&pro</b>)", text.get_content())
        self.assertIn("(&lt;b&gt;&amp;pro&lt;/b&gt;)", html.get_content())
        self.assertIn("80.00%", str(msg["Subject"]))

    def test_events_not_listed_are_not_mailed(self):
        eid = self.quota_event("exceeded", "x@example.com", etype="billing.quota.exceeded")
        self.assertEqual(self.dispatch(), (0, 0, 0, 0))
        self.assertIsNone(self.mail_row(eid))
        self.assertEqual(self.sink.received, [])


class DeliveryTest(EmailsCase):

    def test_a_relay_that_fails_twice_then_accepts_delivers_exactly_one_message(self):
        eid = self.quota_event("twice", "t@example.com")
        self.sink.fail_next(2)
        self.assertEqual(self.dispatch(), (0, 1, 0, 0))
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"]), ("pending", 1))
        self.assertIn("451", row["error"])
        # not due before the back-off (30 s + at most 10 %)
        self.assertEqual(self.dispatch(NOW_US + 20 * SEC), (0, 0, 0, 0))
        self.assertEqual(self.dispatch(NOW_US + 40 * SEC), (0, 1, 0, 0))
        # 60 s + at most 10 % after the second
        self.assertEqual(self.dispatch(NOW_US + 110 * SEC), (1, 0, 0, 0))
        self.assertEqual(self.sink.attempts, 3)
        self.assertEqual(len(self.sink.received), 1)
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"], row["error"]), ("sent", 3, ""))
        self.assertEqual(self.dispatch(NOW_US + 3600 * SEC), (0, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 1)

    def test_a_run_killed_after_the_relay_accepted_sends_again_with_the_same_message_id(self):
        eid = self.quota_event("crash", "c@example.com")
        r = self.dispatch(env={"BILLING_TEST_EMAIL_CRASH": "after-accept"}, check=False)
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertEqual(len(self.sink.received), 1)
        # nothing recorded: still pending, leased for 5 minutes
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"]), ("pending", 0))
        self.assertEqual(self.dispatch(NOW_US + 60 * SEC), (0, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 1)
        # the lease ran out: sent again, the same message
        self.assertEqual(self.dispatch(NOW_US + 301 * SEC), (1, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 2)
        first, again = self.parsed(0), self.parsed(1)
        self.assertEqual(first["Message-ID"], "<%s.billing@example.com>" % eid)
        self.assertEqual(again["Message-ID"], first["Message-ID"])
        self.assertEqual(self.sink.received[0].data, self.sink.received[1].data)
        self.assertEqual(self.mail_row(eid)["status"], "sent")
        self.assertEqual(self.dispatch(NOW_US + 3600 * SEC), (0, 0, 0, 0))
        self.assertEqual(len(self.sink.received), 2)

    def test_a_recipient_refused_with_5xx_is_failed_at_once_and_not_retried(self):
        eid = self.quota_event("gone", "gone@example.com")
        self.sink.refuse("gone@example.com")
        self.assertEqual(self.dispatch(), (0, 0, 1, 0))
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"]), ("failed", 1))
        self.assertIn("550", row["error"])
        self.assertIn("no such mailbox", row["reply"])
        self.assertEqual(self.dispatch(NOW_US + 86400 * SEC), (0, 0, 0, 0))
        self.assertEqual(self.mail_row(eid)["attempts"], 1)
        self.assertEqual(self.sink.received, [])

    def test_a_relay_down_or_dropping_is_retried_then_failed_after_three_days(self):
        eid = self.quota_event("down", "d@example.com")
        # BILLING_SMTP_URL wins over the file: a port nothing listens on
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        down = {"BILLING_SMTP_URL": "smtp://127.0.0.1:%d" % closed}
        self.assertEqual(self.dispatch(env=down), (0, 1, 0, 0))
        row = self.mail_row(eid)
        self.assertEqual(row["status"], "pending")
        self.assertIn("curl error 7", row["error"])
        # a relay that closes the connection at DATA
        self.sink.drop_next(1)
        self.assertEqual(self.dispatch(NOW_US + 40 * SEC), (0, 1, 0, 0))
        self.assertEqual(self.mail_row(eid)["attempts"], 2)
        # three days on, still down: failed with the last answer, kept
        self.assertEqual(self.dispatch(NOW_US + 3 * 86400 * SEC, env=down), (0, 0, 1, 0))
        row = self.mail_row(eid)
        self.assertEqual((row["status"], row["attempts"]), ("failed", 3))
        self.assertIn("curl error 7", row["error"])
        self.assertEqual(self.sink.received, [])

    def test_starttls_required_and_not_offered_is_retried_not_sent_in_clear(self):
        eid = self.quota_event("tls", "tls@example.com")
        cfg = self.stack.config()
        cfg["email"] = dict(cfg["email"], starttls=True)
        path = os.path.join(self.stack.var, "email-tls.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = self.stack.run_helper("billing-dispatch-events", "-c", path,
                                  env={"BILLING_TEST_NOW": iso(NOW_US)})
        self.assertEqual(RESULT.search(r.stdout + r.stderr).groups(), ("0", "1", "0", "0"))
        self.assertEqual(self.sink.received, [])
        row = self.mail_row(eid)
        self.assertEqual(row["status"], "pending")
        self.assertIn("curl error 64", row["error"])   # CURLE_USE_SSL_FAILED
        # the sink is loopback: by default STARTTLS is not required there
        self.assertEqual(self.dispatch(NOW_US + 40 * SEC), (1, 0, 0, 0))


class OptOutTest(EmailsCase):

    def test_an_opted_out_account_and_one_without_email_are_skipped_and_counted(self):
        user = "optout@example.com"
        self.account(user)
        path = "admin/users/" + user
        status, _, body = self.request("PATCH", path, token=self.admin(),
                                       body={"email_opt_out": True})
        self.assertEqual(status, 200, body)
        self.assertIs(body["email_opt_out"], True)
        status, _, got = self.request("GET", path, token=self.admin())
        self.assertIs(got["email_opt_out"], True)
        change = [c for c in got["changes"] if c["field"] == "email_opt_out"]
        self.assertEqual([(c["old_value"], c["new_value"]) for c in change],
                         [("false", "true")])
        status, _, bad = self.request("PATCH", path, token=self.admin(),
                                      body={"email_opt_out": "yes"})
        self.assertEqual(status, 400, bad)
        self.assertEqual(bad["error"]["param"], "email_opt_out")

        opted = self.quota_event("opted", user)
        none = self.quota_event("noemail", "noemail-user", email=None)
        self.assertEqual(self.dispatch(), (0, 0, 0, 2))
        self.assertEqual(self.sink.received, [])
        self.assertEqual((self.mail_row(opted)["status"], self.mail_row(opted)["skip"]),
                         ("skipped", "opted_out"))
        self.assertEqual(self.mail_row(none)["skip"], "no_email")
        status, _, page = self.request("GET", "admin/events?user_id=" + user,
                                       token=self.admin())
        self.assertEqual(page["events"][0]["email"]["status"], "skipped")
        self.assertEqual(page["events"][0]["email"]["skip_reason"], "opted_out")

        # opting back in mails the next event
        status, _, body = self.request("PATCH", path, token=self.admin(),
                                       body={"email_opt_out": False})
        self.assertEqual(status, 200, body)
        self.quota_event("back", user)
        self.assertEqual(self.dispatch(), (1, 0, 0, 0))

    def test_a_recipient_that_is_not_a_plain_address_is_skipped(self):
        """The account's email must be an addr-spec (the config check's
        rule): anything else is skipped as bad_email and reaches neither
        RCPT TO nor To:; a row queued before the check fails unsent."""
        bad = {"inject": "a@x.com> NOTIFY=SUCCESS ORCPT=rfc822;evil@y.com",
               "list": "a@x.com, b@y.com",
               "named": "Ada <a@x.com>",
               "space": "a @x.com"}
        eids = {k: self.quota_event("bad_" + k, "bad-%s-user" % k, email=v)
                for k, v in bad.items()}
        good = self.quota_event("plain", "plain@example.com")
        self.assertEqual(self.dispatch(), (1, 0, 0, len(bad)))
        for k, eid in eids.items():
            row = self.mail_row(eid)
            self.assertEqual((row["status"], row["skip"], row["to"]),
                             ("skipped", "bad_email", ""), k)
        self.assertEqual(self.mail_row(good)["status"], "sent")
        self.assertEqual([m.rcpt_tos for m in self.sink.received], [["plain@example.com"]])
        # a pending row whose recipient is not one (queued by an older
        # build): failed at once, never offered to the relay
        self.sink.reset()
        old = self.quota_event("old_row", "old-row-user", email="a@x.com, b@y.com")
        self.sql("INSERT INTO billing_emails (event_ref, account_id, recipient, message_id, "
                 "status, next_attempt_at, created_at) SELECT e.id, e.account_id, "
                 "'a@x.com, b@y.com', '<old_row.billing@example.com>', 'pending', "
                 "'%s', '%s' FROM billing_events e WHERE e.event_id = 'evt_old_row'"
                 % (db_time(NOW_EPOCH), db_time(NOW_EPOCH)))
        self.sql("UPDATE billing_events SET emails_queued = 1 WHERE event_id = 'evt_old_row'")
        self.assertEqual(self.dispatch(), (0, 0, 1, 0))
        row = self.mail_row(old)
        self.assertEqual(row["status"], "failed")
        self.assertIn("not a plain address", row["error"])
        self.assertEqual(self.sink.received, [])
        self.assertEqual(self.sink.attempts, 0)

    def test_an_event_older_than_three_days_when_first_seen_is_not_mailed(self):
        eid = self.quota_event("old", "old@example.com", created=NOW_EPOCH - 4 * 86400)
        self.assertEqual(self.dispatch(), (0, 0, 0, 0))
        self.assertIsNone(self.mail_row(eid))


class ConfigTest(EmailsCase):

    def check(self, email_cfg, env=None):
        cfg = self.stack.config()
        if email_cfg is None:
            cfg.pop("email", None)
        else:
            cfg["email"] = email_cfg
        path = os.path.join(self.stack.var, "email-check.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        e = self.stack.env()
        e.update(env or {})
        r = subprocess.run([stackmod.find_program("billingd", self.stack.build_dir),
                            "-t", "-c", path], env=e, capture_output=True, text=True,
                           timeout=15)
        out = r.stdout + r.stderr
        self.assertNotIn(SMTP_PASSWORD, out)
        return r.returncode, out

    def assertRefused(self, email_cfg, key, env=None):
        rc, out = self.check(email_cfg, env)
        self.assertNotEqual(rc, 0, out)
        self.assertIn(key, out)
        return out

    def test_malformed_from_and_smtp_url_fail_the_check_naming_the_key(self):
        good = {"smtpUrl": "smtp://relay.example.com:587", "from": "billing@example.com",
                "username": "u", "password": SMTP_PASSWORD}
        rc, out = self.check(good)
        self.assertEqual(rc, 0, out)
        for bad_from in ("not an address", "Name <no-at-sign>", "a@", "@b.com",
                         "Name <a@b.com", "\"Q\" <a@b.com>"):
            self.assertRefused(dict(good, **{"from": bad_from}), "email.from")
        self.assertRefused(dict(good, replyTo="nope"), "email.replyTo")
        for bad_url in ("http://relay.example.com", "relay.example.com:25",
                        "smtp://", "smtp://user:%s@relay.example.com" % SMTP_PASSWORD,
                        "smtp://relay.example.com:99999", "smtp://relay.example.com/x y"):
            self.assertRefused(dict(good, smtpUrl=bad_url), "email.smtpUrl")
        self.assertRefused({"from": "billing@example.com"}, "email.smtpUrl")
        self.assertRefused({"smtpUrl": "smtp://relay.example.com"}, "email.from")
        self.assertRefused(dict(good, events=["invoice.created"]), "email.events")
        out = self.assertRefused(good, "email.smtpUrl (from BILLING_SMTP_URL)",
                                 env={"BILLING_SMTP_URL": "https://relay.example.com"})
        self.assertIn("smtp://", out)
        # the environment's URL and password stand in for the file's
        rc, out = self.check({"from": "billing@example.com", "username": "u"},
                             env={"BILLING_SMTP_URL": "smtps://relay.example.com:465",
                                  "BILLING_SMTP_PASSWORD": SMTP_PASSWORD})
        self.assertEqual(rc, 0, out)
