"""GET usage/days (docs/api.md): the metered usage of a range by day (the
account's local days: UTC, America/Los_Angeles, Asia/Kathmandu), every day
present, for the pages' cost-per-day chart.

Sessions go through the hooks and the hourly usage job, as in
test_metering.py; the clock is fixed (BILLING_TEST_NOW).  Numbers are read
from the JSON text as Decimal, so "1.40" is checked as written.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from base import StackTestCase

NOW = "2025-03-10T12:30:00Z"
NOW_EPOCH = int(datetime(2025, 3, 10, 12, 30, tzinfo=timezone.utc).timestamp())


class UsageDaysCase(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW}

    # -- helpers ----------------------------------------------------------

    def token(self, sub, role="user"):
        return self.stack.token(sub, role, now=NOW_EPOCH)

    def uid(self, prefix):
        return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:10])

    def hook(self, name, body):
        status, _, resp = self.request("POST", "hooks/" + name, body=body,
                                       token=self.token("platform", "service"))
        self.assertIn(status, (200, 201), resp)

    def session(self, user, sid, started, ended, cpu, mem):
        self.hook("session-created", {
            "session_id": sid, "user_id": user, "cpu_cores": cpu,
            "memory_gb": mem, "storage_gb": 0, "started_at": started})
        self.hook("session-terminated", {"session_id": sid, "ended_at": ended})

    def run_job(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def get(self, path, query, token):
        """(status, body, text), numbers as Decimal."""
        url = self.stack.api + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        return status, json.loads(text, parse_float=Decimal, parse_int=Decimal), text

    def days(self, user, query=None, token=None):
        status, body, text = self.get("usage/days", query, token or self.token(user))
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"user_id", "currency", "period", "days", "total_cost"})
        return body, text

    def total(self, user, query):
        status, body, _ = self.get("usage", query, self.token(user))
        self.assertEqual(status, 200, body)
        return body["total_cost"]

    def by_day(self, body):
        return {d["day"]: d for d in body["days"]}

    def bad(self, query, param, user="bad@example.com"):
        status, body, _ = self.get("usage/days", query, self.token(user))
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], "invalid_argument")
        self.assertEqual(body["error"].get("param"), param, body)

class UsageDaysTest(UsageDaysCase):

    # -- the seed example ---------------------------------------------------

    def test_seed_example_1_40_on_its_day_and_every_day_of_the_period(self):
        user = self.uid("seed")
        self.session(user, "seed-" + user, "2025-03-09T00:00:00Z", "2025-03-09T10:00:00Z", 2, 4)
        self.run_job()
        body, text = self.days(user, {"from": "2025-03-09", "to": "2025-03-09"})
        self.assertEqual(body["period"], {"from": "2025-03-09T00:00:00Z",
                                          "to": "2025-03-10T00:00:00Z"})
        self.assertEqual(len(body["days"]), 1)
        day = body["days"][0]
        self.assertEqual(day["day"], "2025-03-09")
        self.assertEqual(day["total_cost"], Decimal("1.40"))
        self.assertIn('"total_cost":1.40', text)  # exact decimal text
        self.assertEqual(day["items"], [
            {"resource_type": "cpu", "quantity": Decimal(20), "unit": "core-hours",
             "total_cost": Decimal("1.00")},
            {"resource_type": "memory", "quantity": Decimal(40), "unit": "gb-hours",
             "total_cost": Decimal("0.40")}])

        # the default range is the current period (March, invoiceDay 1):
        # 31 days in order, the days without usage at 0.00 with no items
        body, _ = self.days(user)
        self.assertEqual(body["user_id"], user)
        self.assertEqual(body["currency"], "usd")
        self.assertEqual(body["period"], {"from": "2025-03-01T00:00:00Z",
                                          "to": "2025-04-01T00:00:00Z"})
        self.assertEqual([d["day"] for d in body["days"]],
                         ["2025-03-%02d" % n for n in range(1, 32)])
        for d in body["days"]:
            if d["day"] != "2025-03-09":
                self.assertEqual((d["total_cost"], d["items"]), (Decimal("0.00"), []))
        self.assertEqual(self.by_day(body)["2025-03-09"]["total_cost"], Decimal("1.40"))
        self.assertEqual(body["total_cost"], Decimal("1.40"))

    # -- midnight -----------------------------------------------------------

    def test_a_session_across_midnight_is_split_exactly(self):
        user = self.uid("night")
        # 1 core, 2 GB: 0.05 + 0.02 an hour; 1.5 h before midnight, 3.25 h after
        self.session(user, "night-" + user, "2025-03-05T22:30:00Z", "2025-03-06T03:15:00Z", 1, 2)
        self.run_job()
        body, _ = self.days(user, {"from": "2025-03-05", "to": "2025-03-06"})
        self.assertEqual([d["day"] for d in body["days"]], ["2025-03-05", "2025-03-06"])
        d5, d6 = body["days"]
        self.assertEqual(d5["total_cost"], Decimal("0.105"))
        self.assertEqual({i["resource_type"]: i["quantity"] for i in d5["items"]},
                         {"cpu": Decimal("1.5"), "memory": Decimal("3")})
        self.assertEqual(d6["total_cost"], Decimal("0.2275"))
        self.assertEqual({i["resource_type"]: i["quantity"] for i in d6["items"]},
                         {"cpu": Decimal("3.25"), "memory": Decimal("6.5")})
        self.assertEqual(d5["total_cost"] + d6["total_cost"],
                         self.total(user, {"from": "2025-03-05", "to": "2025-03-06"}))

    # -- a closed period ------------------------------------------------------

    def test_days_sum_exactly_to_get_usage_for_a_closed_period(self):
        user = self.uid("closed")
        self.session(user, "c1-" + user, "2025-02-03T08:07:00Z", "2025-02-03T19:41:00Z", 3, 7)
        self.session(user, "c2-" + user, "2025-02-14T23:13:00Z", "2025-02-15T01:59:00Z", 2, 3)
        # runs into the next period: only February's part counts
        self.session(user, "c3-" + user, "2025-02-28T21:29:00Z", "2025-03-01T04:17:00Z", 1, 5)
        self.run_job()
        self.run_job()
        feb = {"from": "2025-02-01", "to": "2025-02-28"}
        body, _ = self.days(user, feb)
        self.assertEqual(len(body["days"]), 28)
        total = sum((d["total_cost"] for d in body["days"]), Decimal(0))
        self.assertGreater(total, 0)
        self.assertEqual(total, self.total(user, feb))
        self.assertEqual(body["total_cost"], total)
        for d in body["days"]:
            self.assertEqual(d["total_cost"],
                             sum((i["total_cost"] for i in d["items"]), Decimal(0)))
        self.assertEqual(sorted(d["day"] for d in body["days"] if d["items"]),
                         ["2025-02-03", "2025-02-14", "2025-02-15", "2025-02-28"])

        # a range that is not day-aligned: its edge days hold only what is
        # inside, and the sum is still GET usage's
        part = {"from": "2025-02-03T12:00:00Z", "to": "2025-02-15T01:00:00Z"}
        body, _ = self.days(user, part)
        self.assertEqual(body["days"][0]["day"], "2025-02-03")
        self.assertEqual(body["days"][-1]["day"], "2025-02-15")
        self.assertEqual(len(body["days"]), 13)
        self.assertEqual(sum((d["total_cost"] for d in body["days"]), Decimal(0)),
                         self.total(user, part))

    # -- errors and access ----------------------------------------------------

    def test_bad_from_and_to_are_400_naming_the_param(self):
        self.bad({"from": "yesterday"}, "from")
        self.bad({"to": "2025-13-01"}, "to")
        self.bad({"from": "2025-03-05", "to": "2025-03-01"}, "to")
        self.bad({"from": "2024-01-01", "to": "2025-03-01"}, "to")  # over 400 days
        # 400 days is allowed
        body, _ = self.days("long@example.com", {"from": "2024-02-06T00:00:00Z",
                                                 "to": "2025-03-12T00:00:00Z"})
        self.assertEqual(len(body["days"]), 400)

    def test_another_users_days_only_for_admin_and_operator(self):
        owner = self.uid("owner")
        self.session(owner, "o-" + owner, "2025-03-02T01:00:00Z", "2025-03-02T11:00:00Z", 2, 4)
        self.run_job()
        q = {"user_id": owner, "from": "2025-03-02", "to": "2025-03-02"}
        status, body, text = self.get("usage/days", q, self.token("eve@example.com"))
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "forbidden")
        self.assertEqual(body["error"].get("param"), "user_id")
        self.assertNotIn("1.40", text)
        for role in ("admin", "operator"):
            body, _ = self.days(owner, q, self.token(role + "@example.com", role))
            self.assertEqual(body["user_id"], owner)
            self.assertEqual(body["days"][0]["total_cost"], Decimal("1.40"))
        # one's own user_id is allowed; an unknown user has zero days
        self.days(owner, q)
        body, _ = self.days("nobody@example.com", {"from": "2025-03-02", "to": "2025-03-03"})
        self.assertEqual([(d["day"], d["total_cost"]) for d in body["days"]],
                         [("2025-03-02", Decimal("0.00")), ("2025-03-03", Decimal("0.00"))])
        status, _, _ = self.get("usage/days", None, "not-a-token")
        self.assertEqual(status, 401)


if __name__ == "__main__":
    import unittest
    unittest.main()


class ZonedUsageDaysTest(UsageDaysCase):
    """An account with a time zone: its days are its local days (split at
    local midnight, across the March daylight-saving change too), its
    default range its own period; the days still sum to GET usage."""

    def set_zone(self, user, zone):
        self.stack.mariadb.sql("UPDATE billing_accounts SET timezone = '%s' "
                               "WHERE user_id = '%s'" % (zone, user),
                               database=self.stack.db_name)

    def check_sums(self, user, body):
        total = sum((d["total_cost"] for d in body["days"]), Decimal(0))
        self.assertEqual(body["total_cost"], total)
        self.assertEqual(total, self.total(user, None))

    def test_los_angeles_days_are_local_days_across_the_march_change(self):
        user = self.uid("la")
        # 1 core, 2 GB (0.07 an hour): 22:00-02:00 PST on 4-5 March, and
        # 23:00 PDT on 9 March (a 23-hour day) to 01:00 on 10 March
        self.session(user, "la1-" + user, "2025-03-05T06:00:00Z", "2025-03-05T10:00:00Z", 1, 2)
        self.session(user, "la2-" + user, "2025-03-10T06:00:00Z", "2025-03-10T08:00:00Z", 1, 2)
        self.set_zone(user, "America/Los_Angeles")
        self.run_job()
        body, _ = self.days(user)
        self.assertEqual(body["period"], {"from": "2025-03-01T08:00:00Z",
                                          "to": "2025-04-01T07:00:00Z"})
        self.assertEqual([d["day"] for d in body["days"]],
                         ["2025-03-%02d" % n for n in range(1, 32)])
        costs = {d["day"]: d["total_cost"] for d in body["days"] if d["items"]}
        self.assertEqual(costs, {"2025-03-04": Decimal("0.14"), "2025-03-05": Decimal("0.14"),
                                 "2025-03-09": Decimal("0.07"), "2025-03-10": Decimal("0.07")})
        self.check_sums(user, body)
        # a range asked: the local days it touches, partial at its edges
        part = {"from": "2025-03-05T07:00:00Z", "to": "2025-03-06T00:00:00Z"}
        body, _ = self.days(user, part)
        self.assertEqual([(d["day"], d["total_cost"]) for d in body["days"]],
                         [("2025-03-04", Decimal("0.07")), ("2025-03-05", Decimal("0.14"))])
        self.assertEqual(body["total_cost"], self.total(user, part))

    def test_kathmandu_days_start_at_18_15_utc(self):
        user = self.uid("ktm")
        # records at 17:00Z and 18:00Z start on 4 March local (22:45, 23:45),
        # the one at 19:00Z on 5 March (00:45)
        self.session(user, "k1-" + user, "2025-03-04T17:00:00Z", "2025-03-04T20:00:00Z", 1, 2)
        self.set_zone(user, "Asia/Kathmandu")
        self.run_job()
        body, _ = self.days(user)
        self.assertEqual(body["period"], {"from": "2025-02-28T18:15:00Z",
                                          "to": "2025-03-31T18:15:00Z"})
        self.assertEqual([d["day"] for d in body["days"]],
                         ["2025-03-%02d" % n for n in range(1, 32)])
        costs = {d["day"]: d["total_cost"] for d in body["days"] if d["items"]}
        self.assertEqual(costs, {"2025-03-04": Decimal("0.14"), "2025-03-05": Decimal("0.07")})
        self.check_sums(user, body)
