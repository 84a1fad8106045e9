"""Per-account time zones (docs/billing.md "Time zones"): PATCH
admin/users/{user_id} takes an IANA `timezone`, which applies from the
account's next period; periods then start at local midnight of invoiceDay;
the invoice run, stepped day by day across a year with the test clock,
invoices each account exactly once per local period, across the
daylight-saving changes of America/Los_Angeles (March, November) and
Australia/Lord_Howe (30 minutes), and in Asia/Kathmandu (+05:45).

billingd's clock is fixed at 2024-12-20T12:00Z, when the zones are set: they
apply from 2025-01-01T00:00Z, the end of the UTC period then current.
"""

import shutil
import subprocess
import tempfile
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from base import StackTestCase

NOW = "2024-12-20T12:00:00Z"
CHANGE = datetime(2025, 1, 1, tzinfo=timezone.utc)

ZONES = {
    "la@example.com": "America/Los_Angeles",
    "lh@example.com": "Australia/Lord_Howe",
    "ktm@example.com": "Asia/Kathmandu",
    "utc@example.com": None,
}


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(zone, year, month):
    """The first instant of day 1 of the month in zone (none of these zones
    skips a midnight)."""
    return datetime(year, month, 1, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


class TimezoneCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=1734696000)

    def patch_zone(self, user, zone, expect=200):
        status, _, body = self.request("PATCH", "admin/users/" + user.replace("@", "%40"),
                                       body={"timezone": zone}, token=self.admin())
        self.assertEqual(status, expect, body)
        return body

    def account(self, user, plan="pro", mode="subscription"):
        status, _, body = self.request(
            "POST", "hooks/user-created", body={"user_id": user},
            token=self.stack.token("platform", "service", now=1734696000))
        self.assertIn(status, (200, 201), body)
        self.sql("UPDATE billing_accounts SET created_at = '2024-12-01 00:00:00', "
                 "plan_id = '%s', billing_mode = '%s' WHERE user_id = '%s'"
                 % (plan, mode, user))

    def invoices(self, user):
        rows = self.sql(
            "SELECT DATE_FORMAT(i.period_start, '%%Y-%%m-%%dT%%H:%%i:%%sZ'), "
            "DATE_FORMAT(i.period_end, '%%Y-%%m-%%dT%%H:%%i:%%sZ'), i.total "
            "FROM billing_invoices i JOIN billing_accounts a ON a.id = i.account_id "
            "WHERE a.user_id = '%s' AND i.status <> 'void' ORDER BY i.period_start" % user)
        return [tuple(r) for r in rows]


class ZoneYearTest(TimezoneCase):

    @classmethod
    def setUpStack(cls):
        t = cls()
        for user, zone in ZONES.items():
            t.account(user)
            if zone:
                t.patch_zone(user, zone)
        # usage in Los Angeles across its local midnight of 1 March (08:00Z):
        # four hours of 0.14, two in each period
        t.account("la-usage@example.com", plan="", mode="usage")
        t.sql("UPDATE billing_accounts SET plan_id = NULL, billing_mode = 'usage' "
              "WHERE user_id = 'la-usage@example.com'")
        t.patch_zone("la-usage@example.com", "America/Los_Angeles")
        for h in range(6, 10):
            t.sql("INSERT INTO billing_usage_records (account_id, resource_type, quantity, "
                  "unit, unit_price, total_cost, start_time, end_time, bill_from) "
                  "SELECT id, 'cpu', 2, 'core-hours', 0.07, 0.14, "
                  "'2025-03-01 %02d:00:00', '2025-03-01 %02d:00:00', "
                  "'2025-03-01 %02d:00:00' FROM billing_accounts "
                  "WHERE user_id = 'la-usage@example.com'" % (h, h + 1, h))
        # the run once a simulated day, at 12:00Z, across a year
        cls.counts = {}
        day = datetime(2024, 12, 21, 12, tzinfo=timezone.utc)
        end = datetime(2026, 1, 3, 12, tzinfo=timezone.utc)
        while day <= end:
            cls.stack.run_helper("billing-generate-invoices",
                                 env={"BILLING_TEST_NOW": iso(day)})
            day += timedelta(days=1)
        # and a second run on the last day changes nothing
        cls.before = t.sql("SELECT COUNT(*) FROM billing_invoices")
        cls.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": iso(end)})

    def expected(self, zone):
        """December in UTC, then the first period after the change (to the
        zone's 1 February), then one a month at local midnight."""
        want = [("2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z")]
        if zone is None:
            bounds = [datetime(2025, m, 1, tzinfo=timezone.utc) for m in range(1, 13)] + \
                [datetime(2026, 1, 1, tzinfo=timezone.utc)]
        else:
            bounds = [CHANGE] + [local_midnight(zone, 2025, m) for m in range(2, 13)] + \
                [local_midnight(zone, 2026, 1)]
        want += [(iso(a), iso(b)) for a, b in zip(bounds, bounds[1:])]
        return want

    def test_each_account_is_invoiced_once_per_local_period(self):
        for user, zone in ZONES.items():
            with self.subTest(user=user):
                got = [(s, e) for s, e, _ in self.invoices(user)]
                self.assertEqual(got, self.expected(zone))

    def test_periods_are_contiguous_and_priced_whole(self):
        for user in ZONES:
            inv = self.invoices(user)
            for (s, e, total), (s2, _, _) in zip(inv, inv[1:]):
                self.assertEqual(e, s2)
            self.assertTrue(all(Decimal(t) == Decimal("29.99") for _, _, t in inv), inv)

    def test_daylight_saving_months_have_their_true_length(self):
        la = {s: e for s, e, _ in self.invoices("la@example.com")}
        # March 2025 in Los Angeles: 743 hours; November: 721
        self.assertEqual(la["2025-03-01T08:00:00Z"], "2025-04-01T07:00:00Z")
        self.assertEqual(la["2025-11-01T07:00:00Z"], "2025-12-01T08:00:00Z")
        lh = {s: e for s, e, _ in self.invoices("lh@example.com")}
        # Lord Howe: +11 until 6 April, +10:30 until 5 October
        self.assertEqual(lh["2025-03-31T13:00:00Z"], "2025-04-30T13:30:00Z")
        self.assertEqual(lh["2025-09-30T13:30:00Z"], "2025-10-31T13:00:00Z")
        ktm = [s for s, _, _ in self.invoices("ktm@example.com")]
        self.assertIn("2025-06-30T18:15:00Z", ktm)

    def test_a_rerun_invoices_nothing(self):
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_invoices"), self.before)

    def test_usage_is_split_at_local_midnight(self):
        got = [(s, Decimal(t)) for s, _, t in self.invoices("la-usage@example.com")]
        self.assertEqual(got, [("2025-02-01T08:00:00Z", Decimal("0.28")),
                               ("2025-03-01T08:00:00Z", Decimal("0.28"))])


class ZoneChangeTest(TimezoneCase):

    def test_unknown_zone_is_400_naming_timezone(self):
        self.account("bad@example.com")
        for zone in ("Mars/Olympus", "../../etc/passwd", "", "PST8PDT,M3.2.0,M11.1.0",
                     "right/UTC", 5):
            status, _, body = self.request("PATCH", "admin/users/bad%40example.com",
                                           body={"timezone": zone}, token=self.admin())
            self.assertEqual(status, 400, (zone, body))
            self.assertEqual(body["error"]["param"], "timezone", body)
        self.assertEqual(self.sql("SELECT timezone FROM billing_accounts WHERE "
                                  "user_id = 'bad@example.com'"), [["UTC"]])

    def test_other_keys_and_users_and_callers(self):
        self.account("keys@example.com")
        status, _, body = self.request("PATCH", "admin/users/keys%40example.com",
                                       body={"timezone": "UTC", "colour": "red"},
                                       token=self.admin())
        self.assertEqual(status, 400, body)
        status, _, body = self.request("PATCH", "admin/users/nobody%40example.com",
                                       body={"timezone": "UTC"}, token=self.admin())
        self.assertEqual(status, 404, body)
        status, _, body = self.request("PATCH", "admin/users/keys%40example.com",
                                       body={"timezone": "UTC"},
                                       token=self.stack.token("keys@example.com", "user",
                                                              now=1734696000))
        self.assertEqual(status, 403, body)

    def test_a_change_applies_from_the_next_period_and_may_be_replaced_until_then(self):
        self.account("chg@example.com")
        body = self.patch_zone("chg@example.com", "Europe/Paris")
        self.assertEqual(body["timezone"], "Europe/Paris")
        self.assertEqual(body["previous_timezone"], "UTC")
        self.assertEqual(body["timezone_effective_from"], "2025-01-01T00:00:00Z")
        # before it applies, another zone replaces it, the old one undoes it
        body = self.patch_zone("chg@example.com", "Asia/Tokyo")
        self.assertEqual((body["timezone"], body["timezone_effective_from"]),
                         ("Asia/Tokyo", "2025-01-01T00:00:00Z"))
        body = self.patch_zone("chg@example.com", "UTC")
        self.assertEqual((body["timezone"], body["previous_timezone"],
                          body["timezone_effective_from"]), ("UTC", None, None))

    def test_a_second_change_waits_for_the_first_to_be_invoiced(self):
        self.account("two@example.com")
        self.patch_zone("two@example.com", "Asia/Tokyo")
        # in effect (billingd's clock past 2025-01-01) but not invoiced yet
        self.sql("UPDATE billing_accounts SET timezone_from = '2024-12-01 00:00:00' "
                 "WHERE user_id = 'two@example.com'")
        body = self.patch_zone("two@example.com", "Europe/Paris", expect=409)
        self.assertEqual(body["error"]["param"], "timezone", body)
        # once its first period in the new zone is invoiced, it may change
        self.sql("UPDATE billing_accounts SET billed_through = '2024-12-31 15:00:00' "
                 "WHERE user_id = 'two@example.com'")
        body = self.patch_zone("two@example.com", "Europe/Paris")
        self.assertEqual(body["previous_timezone"], "Asia/Tokyo")
        # the period containing now in Tokyo ends at 1 January there
        self.assertEqual(body["timezone_effective_from"], "2024-12-31T15:00:00Z")


class QuarterHourTest(TimezoneCase):

    def test_a_period_ending_inside_an_hour_waits_for_the_hour(self):
        # Kathmandu's 1 December begins at 18:15Z: the usage record of
        # 18:00-19:00Z is metered after 19:00, so the run invoices then
        self.account("qh@example.com")
        self.sql("UPDATE billing_accounts SET timezone = 'Asia/Kathmandu', "
                 "created_at = '2024-11-01 00:00:00' WHERE user_id = 'qh@example.com'")
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2024-11-30T18:30:00Z"})
        self.assertEqual(self.invoices("qh@example.com"), [])
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2024-11-30T19:30:00Z"})
        self.assertEqual([(s, e) for s, e, _ in self.invoices("qh@example.com")],
                         [("2024-10-31T18:15:00Z", "2024-11-30T18:15:00Z")])


class ZoneReadsTest(TimezoneCase):
    """GET usage and GET subscription show the account's own period."""

    @classmethod
    def setUpStack(cls):
        t = cls()
        t.account("pst@example.com")
        t.sql("UPDATE billing_accounts SET timezone = 'America/Los_Angeles' "
              "WHERE user_id = 'pst@example.com'")
        # an hour on each side of the local midnight of 1 December (08:00Z),
        # records only (no daily totals): read as the edges of a range
        for h in (7, 8):
            t.sql("INSERT INTO billing_usage_records (account_id, resource_type, quantity, "
                  "unit, unit_price, total_cost, start_time, end_time, bill_from) "
                  "SELECT id, 'cpu', 2, 'core-hours', 0.05, 0.10, "
                  "'2024-12-01 %02d:00:00', '2024-12-01 %02d:00:00', "
                  "'2024-12-01 %02d:00:00' FROM billing_accounts "
                  "WHERE user_id = 'pst@example.com'" % (h, h + 1, h))
        # one record an hour before the November 2024 fall-back and two
        # a day later, at 23:00 and 00:00 local (PST)
        for at in ("2024-11-03 06:00:00", "2024-11-04 07:00:00", "2024-11-04 08:00:00"):
            t.sql("INSERT INTO billing_usage_records (account_id, resource_type, quantity, "
                  "unit, unit_price, total_cost, start_time, end_time, bill_from) "
                  "SELECT id, 'cpu', 1, 'core-hours', 0.05, 0.05, '%s', "
                  "'%s' + INTERVAL 1 HOUR, '%s' FROM billing_accounts "
                  "WHERE user_id = 'pst@example.com'" % (at, at, at))
        t.account("plain@example.com")

    def user(self, sub):
        return self.stack.token(sub, "user", now=1734696000)

    def test_usage_defaults_to_the_local_period(self):
        status, _, body = self.request("GET", "usage", token=self.user("pst@example.com"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["period"], {"from": "2024-12-01T08:00:00Z",
                                          "to": "2025-01-01T08:00:00Z"})
        self.assertEqual(Decimal(str(body["total_cost"])), Decimal("0.10"))
        status, _, body = self.request("GET", "usage", token=self.user("plain@example.com"))
        self.assertEqual(body["period"], {"from": "2024-12-01T00:00:00Z",
                                          "to": "2025-01-01T00:00:00Z"})

    def test_a_range_asked_is_the_range_read(self):
        status, _, body = self.request("GET", "usage?from=2024-12-01T07:00:00Z&to=2024-12-01T09:00:00Z",
                                       token=self.user("pst@example.com"))
        self.assertEqual(status, 200, body)
        self.assertEqual(Decimal(str(body["total_cost"])), Decimal("0.20"))

    def days(self, user, query):
        status, _, body = self.request(
            "GET", "admin/reports?group_by=day&user_id=%s&%s" % (user.replace("@", "%40"), query),
            token=self.admin())
        self.assertEqual(status, 200, body)
        return [(r["day"], r["records"]) for r in body["rows"]]

    def test_report_days_are_the_accounts_local_days(self):
        # 23:00 PDT on 2 Nov; 23:00 PST on 3 Nov (a 25-hour day); 00:00 on 4 Nov
        self.assertEqual(self.days("pst@example.com", "from=2024-11-01&to=2024-11-06"),
                         [("2024-11-02", 1), ("2024-11-03", 1), ("2024-11-04", 1)])
        self.assertEqual(self.days("pst@example.com", "from=2024-11-28&to=2024-12-02"),
                         [("2024-11-30", 1), ("2024-12-01", 1)])
        # every account at once: UTC days, as before
        status, _, body = self.request(
            "GET", "admin/reports?group_by=day&from=2024-11-01&to=2024-11-06",
            token=self.admin())
        self.assertEqual([(r["day"], r["records"]) for r in body["rows"]],
                         [("2024-11-03", 1), ("2024-11-04", 2)])

    def test_subscription_shows_the_local_period(self):
        status, _, body = self.request("GET", "subscription",
                                       token=self.user("pst@example.com"))
        self.assertEqual(status, 200, body)
        self.assertEqual((body["current_period_start"], body["current_period_end"]),
                         ("2024-12-01T08:00:00Z", "2025-01-01T08:00:00Z"))


class ZonePdfTest(TimezoneCase):
    """The invoice and credit-note PDFs print the period and dates in the
    account's zone as issued (the JSON keeps UTC instants) and name the
    zone when it is not UTC."""

    @classmethod
    def setUpStack(cls):
        t = cls()
        # always in their zone, their January invoiced: February is open
        for user, zone, through, run in (
                ("pdf-ktm@example.com", "Asia/Kathmandu", "2025-01-31 18:15:00",
                 "2025-02-28T19:30:00Z"),
                ("pdf-la@example.com", "America/Los_Angeles", "2025-02-01 08:00:00",
                 "2025-03-01T08:30:00Z")):
            t.account(user)
            t.sql("UPDATE billing_accounts SET timezone = '%s', billed_through = '%s' "
                  "WHERE user_id = '%s'" % (zone, through, user))
            cls.stack.run_helper("billing-generate-invoices", env={"BILLING_TEST_NOW": run})
        # changed from UTC to Los Angeles from 2025-01-01T00:00Z: its first
        # period there starts at UTC midnight and ends at 1 February 08:00Z
        t.account("pdf-moved@example.com")
        t.sql("UPDATE billing_accounts SET timezone = 'America/Los_Angeles', "
              "timezone_prev = 'UTC', timezone_from = '2025-01-01 00:00:00', "
              "billed_through = '2025-01-01 00:00:00' "
              "WHERE user_id = 'pdf-moved@example.com'")
        cls.stack.run_helper("billing-generate-invoices",
                             env={"BILLING_TEST_NOW": "2025-02-01T08:30:00Z"})

    def invoice_of(self, user):
        status, _, body = self.request("GET", "invoices?user_id=" + user.replace("@", "%40"),
                                       token=self.admin())
        self.assertEqual(status, 200, body)
        [inv] = body["invoices"]
        return inv

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

    def test_a_kathmandu_february_invoice_prints_its_local_dates(self):
        inv = self.invoice_of("pdf-ktm@example.com")
        # the JSON: UTC instants
        self.assertEqual((inv["period_start"], inv["period_end"]),
                         ("2025-01-31T18:15:00Z", "2025-02-28T18:15:00Z"))
        text = self.pdf_text("invoices/%d/pdf" % inv["id"])
        self.assertIn("2025-02-01 - 2025-02-28", text)
        self.assertNotIn("2025-01-31", text)
        # issued by the run at 19:30Z, 01:15 on 1 March in Kathmandu
        self.assertRegex(text, r"Invoice date:\s+2025-03-01")
        self.assertIn("Times in Asia/Kathmandu", text)

    def test_a_los_angeles_february_invoice_prints_its_local_dates(self):
        inv = self.invoice_of("pdf-la@example.com")
        self.assertEqual((inv["period_start"], inv["period_end"]),
                         ("2025-02-01T08:00:00Z", "2025-03-01T08:00:00Z"))
        text = self.pdf_text("invoices/%d/pdf" % inv["id"])
        self.assertIn("2025-02-01 - 2025-02-28", text)
        self.assertNotIn("2025-03-01", text.split("Due date")[0].split("Period:")[1])
        # issued at 08:30Z: 00:30 on 1 March in Los Angeles
        self.assertRegex(text, r"Invoice date:\s+2025-03-01")
        self.assertIn("Times in America/Los_Angeles", text)

    def test_the_period_after_a_change_starts_in_the_zone_before(self):
        inv = self.invoice_of("pdf-moved@example.com")
        self.assertEqual((inv["period_start"], inv["period_end"]),
                         ("2025-01-01T00:00:00Z", "2025-02-01T08:00:00Z"))
        text = self.pdf_text("invoices/%d/pdf" % inv["id"])
        self.assertIn("2025-01-01 - 2025-01-31", text)
        self.assertIn("Times in America/Los_Angeles (the period's start in UTC", text)

    def test_a_utc_account_names_no_zone(self):
        self.account("pdf-utc@example.com")
        self.sql("UPDATE billing_accounts SET billed_through = '2025-01-01 00:00:00' "
                 "WHERE user_id = 'pdf-utc@example.com'")
        self.stack.run_helper("billing-generate-invoices",
                              env={"BILLING_TEST_NOW": "2025-02-01T00:30:00Z"})
        inv = self.invoice_of("pdf-utc@example.com")
        text = self.pdf_text("invoices/%d/pdf" % inv["id"])
        self.assertIn("2025-01-01 - 2025-01-31", text)
        self.assertNotIn("Times in", text)

    def test_a_credit_note_prints_its_local_date(self):
        inv = self.invoice_of("pdf-ktm@example.com")
        status, _, cn = self.request("POST", "admin/invoices/%d/credit-notes" % inv["id"],
                                     body={"amount": "1.00", "reason": "zone check"},
                                     token=self.admin())
        self.assertEqual(status, 201, cn)
        # made at 20:00Z on 1 March: 01:45 on 2 March in Kathmandu
        self.sql("UPDATE billing_credit_notes SET created_at = '2025-03-01 20:00:00' "
                 "WHERE id = %d" % cn["id"])
        text = self.pdf_text("credit-notes/%d/pdf" % cn["id"])
        self.assertRegex(text, r"Date\s+2025-03-02")
        self.assertIn("Times in Asia/Kathmandu", text)
