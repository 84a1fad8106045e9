"""POST admin/credits and POST credits (docs/api.md): an admin
grants a credit; amounts are exact decimals with 2 decimals; a refused body
writes nothing; an idempotency key makes a retry safe; the credit shows in
GET usage's credits_balance while it has not expired.
"""

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from base import StackTestCase, clock_utc


def today():
    return clock_utc().date()


class CreditsTest(StackTestCase):

    def setUp(self):
        self.admin = self.admin_token()

    # -- helpers ----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def uid(self, prefix="u"):
        return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:12])

    def exact(self, method, path, raw=None, token=None):
        """(status, body): body parsed with numbers as Decimal, so that how an
        amount was written ("50.00") can be checked exactly."""
        headers = {"Authorization": "Bearer " + (token or self.admin)}
        if raw is not None:
            headers["Content-Type"] = "application/json"
            if not isinstance(raw, bytes):
                raw = raw.encode()
        req = urllib.request.Request(self.stack.api + path, data=raw,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        return status, json.loads(text, parse_float=Decimal)

    def grant(self, body, path="admin/credits", token=None):
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.exact("POST", path, raw=raw, token=token)

    def credits_of(self, user):
        return self.sql(
            "SELECT c.amount, c.remaining, c.currency, c.reason, "
            "COALESCE(c.expires_at, 'NULL'), COALESCE(c.created_by, 'NULL') "
            "FROM billing_credits c JOIN billing_accounts a ON a.id = c.account_id "
            "WHERE a.user_id = '%s' ORDER BY c.id" % user)

    def count_credits(self, user):
        return len(self.credits_of(user))

    def assertRefused(self, body, param, path="admin/credits"):
        """400 invalid_argument naming param, and nothing written."""
        status, resp = self.grant(body, path=path)
        self.assertEqual(status, 400, resp)
        self.assertEqual(resp["error"]["code"], "invalid_argument", resp)
        self.assertEqual(resp["error"].get("param"), param, resp)
        user = body.get("user_id") if isinstance(body, dict) else None
        if isinstance(user, str):
            self.assertEqual(self.count_credits(user), 0)
        return resp

    # -- the seed's example -----------------------------------------------

    def test_seed_example_through_credits(self):
        status, resp = self.grant(
            '{"user_id": "john@example.com", "amount": 50.00, '
            '"reason": "Service credit for downtime"}', path="credits")
        self.assertEqual(status, 201, resp)
        self.assertEqual(resp["user_id"], "john@example.com")
        self.assertEqual(str(resp["amount"]), "50.00")
        self.assertEqual(str(resp["remaining"]), "50.00")
        self.assertEqual(resp["currency"], "usd")
        self.assertEqual(resp["reason"], "Service credit for downtime")
        self.assertIsNone(resp["expires_at"])
        self.assertEqual(resp["created_by"], "admin@example.com")
        self.assertIsInstance(resp["id"], int)
        self.assertRegex(resp["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertIn(["50.00", "50.00", "usd", "Service credit for downtime", "NULL",
                       "admin@example.com"], self.credits_of("john@example.com"))

    def test_admin_credits_creates_the_account(self):
        user = self.uid()
        status, resp = self.grant({"user_id": user, "amount": "12.5", "reason": "goodwill"})
        self.assertEqual(status, 201, resp)
        self.assertEqual(str(resp["amount"]), "12.50")
        self.assertEqual(self.sql("SELECT status FROM billing_accounts WHERE user_id = '%s'"
                                  % user), [["active"]])
        self.assertEqual(self.credits_of(user)[0][:2], ["12.50", "12.50"])

    # -- validation ----------------------------------------------------------

    def test_amount_must_be_positive_exact_and_bounded(self):
        for amount in ("0", "-1", "1.234", '"abc"', "100000.01", "0.00", "true", "1e2",
                       "null"):
            with self.subTest(amount=amount):
                user = self.uid()
                self.assertRefused('{"user_id": "%s", "amount": %s, "reason": "x"}'
                                   % (user, amount), "amount")
                self.assertEqual(self.count_credits(user), 0)
        user = self.uid()
        self.assertRefused({"user_id": user, "reason": "x"}, "amount")

    def test_amount_upper_bound_is_accepted(self):
        user = self.uid()
        status, resp = self.grant('{"user_id": "%s", "amount": 100000.00, "reason": "max"}'
                                  % user)
        self.assertEqual(status, 201, resp)
        self.assertEqual(str(resp["amount"]), "100000.00")

    def test_reason_required_non_empty_and_bounded(self):
        for reason in (None, "", "   ", "a" * 501, "line\nbreak", 42):
            with self.subTest(reason=reason if not isinstance(reason, str) else reason[:10]):
                body = {"user_id": self.uid(), "amount": 1}
                if reason is not None:
                    body["reason"] = reason
                self.assertRefused(body, "reason")

    def test_reason_counts_characters_not_bytes(self):
        user = self.uid()
        reason = "é" * 500
        status, resp = self.grant({"user_id": user, "amount": 1, "reason": reason})
        self.assertEqual(status, 201, resp)
        self.assertEqual(resp["reason"], reason)

    def test_user_id_and_unknown_fields(self):
        self.assertRefused({"amount": 1, "reason": "x"}, "user_id")
        self.assertRefused({"user_id": "", "amount": 1, "reason": "x"}, "user_id")
        self.assertRefused({"user_id": "a\tb", "amount": 1, "reason": "x"}, "user_id")
        user = self.uid()
        self.assertRefused({"user_id": user, "amount": 1, "reason": "x", "amout": 2},
                           "amout")

    def test_expires_at_must_be_a_future_time(self):
        past = (clock_utc() - timedelta(minutes=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        yesterday = (today() - timedelta(days=1)).isoformat()
        for expires in (past, yesterday, "2020-01-01", "tomorrow", "2030-02-30", 1234):
            with self.subTest(expires=expires):
                self.assertRefused({"user_id": self.uid(), "amount": 1, "reason": "x",
                                    "expires_at": expires}, "expires_at")

    def test_date_only_expiry_is_the_end_of_that_day(self):
        user = self.uid()
        day = today() + timedelta(days=30)
        status, resp = self.grant({"user_id": user, "amount": "5.00", "reason": "promo",
                                   "expires_at": day.isoformat()})
        self.assertEqual(status, 201, resp)
        nxt = day + timedelta(days=1)
        self.assertEqual(resp["expires_at"], nxt.isoformat() + "T00:00:00Z")
        self.assertEqual(self.credits_of(user)[0][4], nxt.isoformat() + " 00:00:00.000000")

    def test_today_as_a_date_only_expiry_is_still_valid(self):
        status, resp = self.grant({"user_id": self.uid(), "amount": 1, "reason": "x",
                                   "expires_at": today().isoformat()})
        self.assertEqual(status, 201, resp)

    def test_rfc3339_expiry_is_kept_in_utc(self):
        user = self.uid()
        status, resp = self.grant({"user_id": user, "amount": 1, "reason": "x",
                                   "expires_at": "2099-06-01T12:00:00+02:00"})
        self.assertEqual(status, 201, resp)
        self.assertEqual(resp["expires_at"], "2099-06-01T10:00:00Z")

    # -- idempotency ---------------------------------------------------------

    def test_idempotency_key_makes_a_retry_safe(self):
        user, key = self.uid(), "credit-" + uuid.uuid4().hex
        body = {"user_id": user, "amount": "7.25", "reason": "outage 2025-01-31",
                "idempotency_key": key}
        status1, first = self.grant(body)
        self.assertEqual(status1, 201, first)
        status2, second = self.grant(body, path="credits")
        self.assertEqual(status2, 200, second)
        self.assertEqual(second, first)
        self.assertEqual(self.count_credits(user), 1)

    def test_idempotency_key_reused_for_another_credit_is_a_conflict(self):
        user, key = self.uid(), "credit-" + uuid.uuid4().hex
        body = {"user_id": user, "amount": "7.25", "reason": "x", "idempotency_key": key}
        self.assertEqual(self.grant(body)[0], 201)
        for change in ({"amount": "7.26"}, {"reason": "y"}, {"user_id": self.uid()}):
            with self.subTest(change=change):
                status, resp = self.grant(dict(body, **change))
                self.assertEqual(status, 409, resp)
                self.assertEqual(resp["error"]["code"], "conflict")
        self.assertEqual(self.count_credits(user), 1)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_credits "
                                  "WHERE idempotency_key = '%s'" % key), [["1"]])

    def test_concurrent_retries_make_one_credit(self):
        user, key = self.uid(), "credit-" + uuid.uuid4().hex
        body = {"user_id": user, "amount": "3.00", "reason": "race", "idempotency_key": key}
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: self.grant(body), range(8)))
        statuses = sorted(s for s, _ in answers)
        self.assertEqual(statuses, [200] * 7 + [201], answers)
        self.assertEqual(len({r["id"] for _, r in answers}), 1)
        self.assertEqual(self.count_credits(user), 1)

    def test_idempotency_key_is_bounded(self):
        self.assertRefused({"user_id": self.uid(), "amount": 1, "reason": "x",
                            "idempotency_key": ""}, "idempotency_key")
        self.assertRefused({"user_id": self.uid(), "amount": 1, "reason": "x",
                            "idempotency_key": "k" * 256}, "idempotency_key")

    # -- roles ---------------------------------------------------------------

    def test_only_admins_grant_credits(self):
        user = self.uid()
        body = {"user_id": user, "amount": 1, "reason": "x"}
        for token in (self.user_token(user), self.service_token()):
            for path in ("admin/credits", "credits"):
                with self.subTest(path=path):
                    status, resp = self.grant(body, path=path, token=token)
                    self.assertEqual(status, 403, resp)
                    self.assertEqual(resp["error"]["code"], "forbidden")
        self.assertEqual(self.count_credits(user), 0)

    # -- the balance ---------------------------------------------------------

    def test_credit_shows_in_usage_until_it_expires(self):
        user = self.uid()
        for amount in ("12.34", "0.66"):
            self.assertEqual(self.grant({"user_id": user, "amount": amount,
                                         "reason": "x"})[0], 201)
        later = (today() + timedelta(days=3)).isoformat()
        self.assertEqual(self.grant({"user_id": user, "amount": "1.00", "reason": "x",
                                     "expires_at": later})[0], 201)
        # an expired credit, as the invoice run would find it later
        self.sql("INSERT INTO billing_credits (account_id, amount, remaining, currency, "
                 "reason, expires_at) SELECT id, 100.00, 100.00, 'usd', 'old', "
                 "'2020-01-01 00:00:00' FROM billing_accounts WHERE user_id = '%s'" % user)
        status, usage = self.exact("GET", "usage", token=self.user_token(user))
        self.assertEqual(status, 200, usage)
        self.assertEqual(str(usage["credits_balance"]), "14.00")
