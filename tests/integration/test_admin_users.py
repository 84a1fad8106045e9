"""GET admin/users (docs/api.md): every account with its plan,
mode, status and figures (current-period cost, outstanding balance, credits,
active sessions), paginated by an opaque cursor, filtered by status.
Figures are exact decimals with 2 decimals.
"""

import json
import urllib.error
import urllib.request
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from base import StackTestCase, clock_utc


def current_period(invoice_day, now=None):
    """[from, to) of the billing period containing now, as dates (00:00Z)."""
    now = now or clock_utc()
    start = date(now.year, now.month, invoice_day)
    if now.date() < start:
        start = date(now.year - 1, 12, invoice_day) if now.month == 1 else \
            date(now.year, now.month - 1, invoice_day)
    end = date(start.year + 1, 1, invoice_day) if start.month == 12 else \
        date(start.year, start.month + 1, invoice_day)
    return start, end


class AdminUsersTest(StackTestCase):

    def setUp(self):
        self.admin = self.admin_token()

    # -- helpers ----------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def uid(self, prefix="u"):
        return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:12])

    def get(self, query="", token=None):
        """(status, body) with numbers parsed as Decimal."""
        req = urllib.request.Request(self.stack.api + "admin/users" + query,
                                     headers={"Authorization": "Bearer " +
                                              (token or self.admin)})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        return status, json.loads(text, parse_float=Decimal)

    def page(self, query=""):
        status, body = self.get(query)
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"users", "next_cursor"})
        return body

    def make_users(self, n, prefix="p"):
        """n accounts through the platform's hook, in id order."""
        users = []
        for i in range(n):
            user = self.uid("%s%d" % (prefix, i))
            status, _, resp = self.request("POST", "hooks/user-created",
                                           body={"user_id": user, "email": user},
                                           token=self.service_token())
            self.assertEqual(status, 201, resp)
            users.append(user)
        return users

    def account_id(self, user):
        return int(self.sql("SELECT id FROM billing_accounts WHERE user_id = '%s'"
                            % user)[0][0])

    def walk(self, query):
        """Every page from the start; returns (user ids in order, page sizes)."""
        seen, sizes, cursor = [], [], None
        for _ in range(10000):
            q = query + ("&cursor=" + cursor if cursor else "")
            body = self.page(q)
            seen += [u["user_id"] for u in body["users"]]
            sizes.append(len(body["users"]))
            cursor = body["next_cursor"]
            if cursor is None:
                return seen, sizes
            self.assertIsInstance(cursor, str)
        self.fail("the cursor never ended")

    # -- pagination ------------------------------------------------------------

    def test_three_pages_of_two(self):
        users = self.make_users(5)
        before = str(self.account_id(users[0]) - 1)
        first = self.page("?limit=2&cursor=" + before)
        self.assertEqual([u["user_id"] for u in first["users"]], users[:2])
        self.assertIsNotNone(first["next_cursor"])
        second = self.page("?limit=2&cursor=" + first["next_cursor"])
        self.assertEqual([u["user_id"] for u in second["users"]], users[2:4])
        self.assertIsNotNone(second["next_cursor"])
        third = self.page("?limit=2&cursor=" + second["next_cursor"])
        self.assertEqual([u["user_id"] for u in third["users"]], users[4:])
        self.assertIsNone(third["next_cursor"])

    def test_an_exact_last_page_ends_the_walk(self):
        users = self.make_users(2, "x")
        before = str(self.account_id(users[0]) - 1)
        body = self.page("?limit=2&cursor=" + before)
        self.assertEqual([u["user_id"] for u in body["users"]], users)
        self.assertIsNone(body["next_cursor"])

    def test_walking_every_page_has_no_duplicates_or_gaps(self):
        self.make_users(5, "w")
        expected = [r[0] for r in self.sql("SELECT user_id FROM billing_accounts ORDER BY id")]
        seen, sizes = self.walk("?limit=2")
        self.assertEqual(seen, expected)
        self.assertTrue(all(s == 2 for s in sizes[:-1]), sizes)
        all_at_once = [u["user_id"] for u in self.page("?limit=500")["users"]]
        self.assertEqual(all_at_once, expected)

    def test_default_limit_is_fifty(self):
        have = int(self.sql("SELECT COUNT(*) FROM billing_accounts")[0][0])
        if have < 51:
            self.make_users(51 - have, "d")
        body = self.page()
        self.assertEqual(len(body["users"]), 50)
        self.assertIsNotNone(body["next_cursor"])

    def test_status_filter(self):
        users = self.make_users(4, "s")
        self.sql("UPDATE billing_accounts SET status = 'suspended', suspended_at = NOW(6) "
                 "WHERE user_id IN ('%s', '%s')" % (users[1], users[3]))
        self.sql("UPDATE billing_accounts SET status = 'closed' WHERE user_id = '%s'"
                 % users[2])
        suspended, _ = self.walk("?limit=1&status=suspended")
        expected = [r[0] for r in self.sql(
            "SELECT user_id FROM billing_accounts WHERE status = 'suspended' ORDER BY id")]
        self.assertEqual(suspended, expected)
        self.assertIn(users[1], suspended)
        self.assertIn(users[3], suspended)
        closed = [u for u in self.page("?limit=500&status=closed")["users"]]
        self.assertIn(users[2], [u["user_id"] for u in closed])
        self.assertTrue(all(u["status"] == "closed" for u in closed))
        active, _ = self.walk("?limit=3&status=active")
        self.assertIn(users[0], active)
        self.assertNotIn(users[1], active)
        self.assertNotIn(users[2], active)

    # -- the figures -----------------------------------------------------------

    def test_figures_are_exact(self):
        user = self.uid("f")
        self.request("POST", "hooks/user-created",
                     body={"user_id": user, "email": user, "plan_id": "pro"},
                     token=self.service_token())
        acct = self.account_id(user)
        start, end = current_period(self.stack.config()["invoiceDay"])
        today = clock_utc().date()
        # the seed example's 1.40 today, plus a day before the period: not counted
        self.sql("INSERT INTO billing_usage_daily (account_id, day, resource_type, "
                 "unit_price, quantity, total_cost, records) VALUES "
                 "(%d, '%s', 'cpu', 0.05, 20, 1.000000, 10), "
                 "(%d, '%s', 'memory', 0.01, 40, 0.400000, 10), "
                 "(%d, '%s', 'cpu', 0.05, 100, 5.000000, 10)"
                 % (acct, today, acct, today, acct, start - timedelta(days=1)))
        # sent and overdue are owed; paid, void and draft are not
        rows = []
        for i, (status, total) in enumerate((("sent", "12.34"), ("overdue", "1.00"),
                                             ("paid", "5.00"), ("void", "3.00"),
                                             ("draft", "7.00"))):
            ps = datetime(2020, 1 + i, 1)
            rows.append("(%d, '%s', '%s', 'usage', 'usd', %s, %s, '%s')"
                        % (acct, ps, ps + timedelta(days=20), total, total, status))
        self.sql("INSERT INTO billing_invoices (account_id, period_start, period_end, "
                 "billing_mode, currency, subtotal, total, status) VALUES " + ", ".join(rows))
        self.sql("INSERT INTO billing_credits (account_id, amount, remaining, currency, "
                 "reason, expires_at) VALUES (%d, 10.00, 2.50, 'usd', 'a', NULL), "
                 "(%d, 3.00, 3.00, 'usd', 'b', '2099-01-01'), "
                 "(%d, 100.00, 100.00, 'usd', 'expired', '2020-01-01')"
                 % (acct, acct, acct))
        self.sql("INSERT INTO billing_sessions (session_id, account_id, started_at, "
                 "last_heartbeat_at, ended_at, cpu_cores, memory_gb, storage_gb) VALUES "
                 "('%s', %d, NOW(6), NOW(6), NULL, 2, 4, 10), "
                 "('%s', %d, NOW(6), NOW(6), NOW(6), 2, 4, 10)"
                 % (uuid.uuid4().hex, acct, uuid.uuid4().hex, acct))

        body = self.page("?limit=1&cursor=%d" % (acct - 1))
        self.assertEqual(len(body["users"]), 1)
        u = body["users"][0]
        self.assertEqual(u["user_id"], user)
        self.assertEqual(u["email"], user)
        self.assertEqual(u["plan_id"], "pro")
        self.assertEqual(u["billing_mode"], "usage")
        self.assertEqual(u["status"], "active")
        self.assertEqual(u["currency"], "usd")
        self.assertEqual(u["current_period"], {"from": start.isoformat() + "T00:00:00Z",
                                               "to": end.isoformat() + "T00:00:00Z"})
        self.assertEqual(str(u["current_period_cost"]), "1.40")
        self.assertEqual(str(u["outstanding_balance"]), "13.34")
        self.assertEqual(str(u["credits_balance"]), "5.50")
        self.assertEqual(u["active_sessions"], 1)
        self.assertRegex(u["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

    def test_a_new_account_has_zero_figures_and_the_default_plan(self):
        user = self.make_users(1, "z")[0]
        u = self.page("?limit=1&cursor=%d" % (self.account_id(user) - 1))["users"][0]
        self.assertEqual(u["user_id"], user)
        self.assertEqual(u["plan_id"], "free")
        for key in ("current_period_cost", "outstanding_balance", "credits_balance"):
            self.assertEqual(str(u[key]), "0.00", key)
        self.assertEqual(u["active_sessions"], 0)

    # -- refusals --------------------------------------------------------------

    def test_only_admins(self):
        for token in (self.user_token(), self.service_token()):
            status, body = self.get(token=token)
            self.assertEqual(status, 403, body)
            self.assertEqual(body["error"]["code"], "forbidden")

    def test_bad_parameters(self):
        for query, param in (("?limit=0", "limit"), ("?limit=501", "limit"),
                             ("?limit=abc", "limit"), ("?limit=-1", "limit"),
                             ("?limit=", "limit"), ("?limit=2.5", "limit"),
                             ("?cursor=abc", "cursor"), ("?cursor=-5", "cursor"),
                             ("?cursor=99999999999999999999", "cursor"),
                             ("?status=deleted", "status"), ("?status=", "status")):
            with self.subTest(query=query):
                status, body = self.get(query)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["code"], "invalid_argument")
                self.assertEqual(body["error"].get("param"), param)

    def test_a_cursor_past_the_end_is_an_empty_last_page(self):
        body = self.page("?cursor=9223372036854775807")
        self.assertEqual(body, {"users": [], "next_cursor": None})
