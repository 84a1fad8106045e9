"""Billing details (docs/api.md "Billing details"): PATCH
admin/users/{user_id} sets an account's billing name, address, country,
tax id, tax rate, exemption and billing mode; each change is audited in
billing_account_changes (who, which field, old and new value, when) in the
same transaction; GET admin/users/{user_id} shows the details and the
changes, newest first.  Bad input is 400 naming the param, and nothing
changes.
"""

import uuid

from base import StackTestCase

NOW = "2025-03-10T12:00:00Z"

TAX_RATES = [
    {"id": "vat20", "name": "VAT", "percent": 20, "inclusive": False},
    {"id": "gst", "name": "GST", "percent": "7.6543", "inclusive": True},
]


class BillingDetailsTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}
    config_overrides = {"taxRates": TAX_RATES}

    def setUp(self):
        self.admin = self.stack.token("root-admin", "admin")

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def new_user(self):
        user = "bd-%s@example.com" % uuid.uuid4().hex[:10]
        status, _, body = self.request("POST", "hooks/user-created",
                                       body={"user_id": user, "email": user},
                                       token=self.stack.token("platform", "service"))
        self.assertEqual(status, 201, body)
        return user

    def path(self, user):
        return "admin/users/" + user

    def patch(self, user, body, token=None):
        return self.request("PATCH", self.path(user), body=body,
                            token=token or self.admin)

    def changes(self, user):
        return self.sql("SELECT c.field, COALESCE(c.old_value, 'NULL'), "
                        "COALESCE(c.new_value, 'NULL'), c.changed_by, c.changed_at "
                        "FROM billing_account_changes c JOIN billing_accounts a "
                        "ON a.id = c.account_id WHERE a.user_id = '%s' ORDER BY c.id"
                        % user)

    def test_patch_sets_every_field_and_get_shows_them(self):
        user = self.new_user()
        status, _, body = self.patch(user, {
            "billing_name": "Acme Gmbh", "billing_address": ["Hauptstraße 1", "10115 Berlin"],
            "country": "DE", "tax_id": "DE123456789", "tax_rate_id": "vat20",
            "tax_exempt": False, "billing_mode": "hybrid"})
        self.assertEqual(status, 200, body)
        status, _, got = self.request("GET", self.path(user), token=self.admin)
        self.assertEqual(status, 200, got)
        for b in (body, got):
            self.assertEqual(b["user_id"], user)
            self.assertEqual(b["billing_name"], "Acme Gmbh")
            self.assertEqual(b["billing_address"], ["Hauptstraße 1", "10115 Berlin"])
            self.assertEqual(b["country"], "DE")
            self.assertEqual(b["tax_id"], "DE123456789")
            self.assertEqual(b["tax_rate_id"], "vat20")
            self.assertEqual(b["tax_rate"], {"id": "vat20", "name": "VAT",
                                             "percent": 20, "inclusive": False})
            self.assertIs(b["tax_exempt"], False)
            self.assertEqual(b["billing_mode"], "hybrid")
        # tax_exempt false was already false: six fields changed, six rows
        fields = [c["field"] for c in got["changes"]]
        self.assertEqual(sorted(fields), sorted(["billing_name", "billing_address", "country",
                                                 "tax_id", "tax_rate_id", "billing_mode"]))
        for c in got["changes"]:
            self.assertEqual(c["changed_by"], "root-admin")
            self.assertEqual(c["changed_at"], NOW)
            self.assertIsNone(c["old_value"])
        addr = [c for c in got["changes"] if c["field"] == "billing_address"][0]
        self.assertEqual(addr["new_value"], "Hauptstraße 1\n10115 Berlin")

    def test_changes_are_audited_with_old_and_new_values_newest_first(self):
        user = self.new_user()
        self.assertEqual(self.patch(user, {"country": "GB"})[0], 200)
        self.assertEqual(self.patch(user, {"country": "FR", "tax_exempt": True})[0], 200)
        # the same values again change nothing and add no row
        status, _, body = self.patch(user, {"country": "FR", "tax_exempt": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.patch(user, {"country": None},
                                    token=self.stack.token("second-admin", "admin"))[0], 200)
        rows = self.changes(user)
        self.assertEqual([r[:4] for r in rows], [
            ["country", "NULL", "GB", "root-admin"],
            ["country", "GB", "FR", "root-admin"],
            ["tax_exempt", "false", "true", "root-admin"],
            ["country", "FR", "NULL", "second-admin"]])
        status, _, got = self.request("GET", self.path(user), token=self.admin)
        self.assertEqual([(c["field"], c["old_value"], c["new_value"]) for c in got["changes"]],
                         [("country", "FR", None), ("tax_exempt", "false", "true"),
                          ("country", "GB", "FR"), ("country", None, "GB")])
        self.assertIsNone(got["country"])
        self.assertIs(got["tax_exempt"], True)
        self.assertIsNone(got["tax_rate"])   # exempt: no rate applies

    def test_bad_input_is_400_naming_the_param_and_changes_nothing(self):
        user = self.new_user()
        self.assertEqual(self.patch(user, {"billing_name": "Before"})[0], 200)
        before = self.sql("SELECT billing_name, billing_address, country, tax_id, "
                          "tax_rate_id, tax_exempt, billing_mode FROM billing_accounts "
                          "WHERE user_id = '%s'" % user)
        nrows = len(self.changes(user))
        cases = [
            ({"country": "UK"}, "country"),          # not an ISO code (GB is)
            ({"country": "XK"}, "country"),          # user-assigned, not ISO
            ({"country": "gb"}, "country"),
            ({"country": "GBR"}, "country"),
            ({"country": 44}, "country"),
            ({"tax_rate_id": "vat21"}, "tax_rate_id"),
            ({"tax_rate_id": 20}, "tax_rate_id"),
            ({"billing_address": ["1", "2", "3", "4", "5", "6", "7"]}, "billing_address"),
            ({"billing_address": ["x" * 201]}, "billing_address"),
            # 67 three-byte characters: 201 bytes
            ({"billing_address": ["\u20ac" * 67]}, "billing_address"),
            ({"billing_address": "1 Main St"}, "billing_address"),
            ({"billing_address": ["line\nbreak"]}, "billing_address"),
            ({"billing_address": [""]}, "billing_address"),
            ({"billing_name": "x" * 201}, "billing_name"),
            ({"billing_name": ""}, "billing_name"),
            ({"tax_id": "x" * 65}, "tax_id"),
            ({"tax_exempt": "yes"}, "tax_exempt"),
            ({"tax_exempt": None}, "tax_exempt"),
            ({"billing_mode": "prepaid"}, "billing_mode"),
            ({"timezon": "UTC"}, "timezon"),
            # a good field with a bad one: neither is stored
            ({"billing_name": "After", "country": "ZZ"}, "country"),
        ]
        for body, param in cases:
            status, _, resp = self.patch(user, body)
            err = self.assertError((status, _, resp), 400, "invalid_argument")
            self.assertEqual(err.get("param"), param, (body, resp))
        # 200 bytes (and 6 lines) is the limit, not past it
        ok = self.patch(user, {"billing_address": ["\u20ac" * 66 + "xx"] * 6,
                               "billing_name": "Before"})
        self.assertEqual(ok[0], 200, ok[2])
        after = self.sql("SELECT billing_name, billing_address, country, tax_id, "
                         "tax_rate_id, tax_exempt, billing_mode FROM billing_accounts "
                         "WHERE user_id = '%s'" % user)
        self.assertEqual([r[0] for r in after], [r[0] for r in before])
        self.assertEqual([r[2:] for r in after], [r[2:] for r in before])
        self.assertEqual(len(self.changes(user)), nrows + 1)   # the address only

    def test_operator_reads_but_cannot_patch_and_a_user_can_do_neither(self):
        user = self.new_user()
        operator = self.stack.token("ops", "operator")
        status, _, body = self.request("GET", self.path(user), token=operator)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["changes"], [])
        self.assertError(self.patch(user, {"country": "DE"}, token=operator), 403, "forbidden")
        mine = self.stack.token(user, "user")
        self.assertError(self.request("GET", self.path(user), token=mine), 403, "forbidden")
        self.assertError(self.patch(user, {"country": "DE"}, token=mine), 403, "forbidden")
        self.assertEqual(self.changes(user), [])

    def test_unknown_user_is_404(self):
        self.assertError(self.patch("nobody@example.com", {"country": "DE"}), 404, "not_found")
        self.assertError(self.request("GET", self.path("nobody@example.com"), token=self.admin),
                         404, "not_found")


class DetailsAndZoneTest(StackTestCase):
    """The time zone travels with the billing details: one PATCH, one
    transaction, audited as "timezone"; a bad zone leaves the other fields
    as they were."""
    stack_env = BillingDetailsTest.stack_env
    config_overrides = BillingDetailsTest.config_overrides
    setUp = BillingDetailsTest.setUp
    sql = BillingDetailsTest.sql
    new_user = BillingDetailsTest.new_user
    path = BillingDetailsTest.path
    patch = BillingDetailsTest.patch
    changes = BillingDetailsTest.changes

    def test_zone_and_details_in_one_audited_change(self):
        user = self.new_user()
        status, _, body = self.patch(user, {"billing_name": "Zone Ltd",
                                            "timezone": "America/Los_Angeles"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["billing_name"], "Zone Ltd")
        self.assertEqual(body["timezone"], "America/Los_Angeles")
        self.assertEqual(body["previous_timezone"], "UTC")
        self.assertEqual(body["timezone_effective_from"], "2025-04-01T00:00:00Z")
        rows = {c["field"]: c for c in body["changes"]}
        self.assertEqual(rows["timezone"]["old_value"], "UTC")
        self.assertEqual(rows["timezone"]["new_value"], "America/Los_Angeles")
        self.assertEqual(rows["billing_name"]["new_value"], "Zone Ltd")

    def test_a_bad_zone_changes_no_other_field(self):
        user = self.new_user()
        status, _, body = self.patch(user, {"billing_name": "Nope Ltd",
                                            "timezone": "Mars/Olympus"})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "timezone")
        self.assertEqual(self.changes(user), [])
