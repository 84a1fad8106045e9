"""A day of StreamSpace, end to end, billed to the cent (issue 14).

The stack is configured as a StreamSpace deployment connects it
(docs/streamspace.md): jwtUserClaims ["username", "sub"], jwtIssuer
"streamspace-api", the webhook secret in STREAMSPACE_WEBHOOK_SECRET and
streamspaceHomeStorageGb 50.  It is driven only with what StreamSpace sends
and holds: its tokens (HS256, iss streamspace-api, user_id a UUID, username,
email, role, groups, jti, sub = the UUID), its signed webhook deliveries
(lowercase hex HMAC-SHA256 of the raw body in X-StreamSpace-Signature,
X-StreamSpace-Event, X-StreamSpace-Delivery, User-Agent
StreamSpace-Webhook/1.0; compact JSON as Go marshals it) and its Kubernetes
quantity strings.  Deliveries go to both mounts (/api/plugins/billing/ and the
plugin registry's /api/plugins/streamspace-billing/).

The day, 2025-03-10 (UTC):
- 08:55 user.created alice
- 09:00 session.created alice-firefox: cpu "1500m" (1.5 cores), memory "3Gi"
  (3 GB), persistentHome: alice's 50 GB volume from 09:00 on
- 10:00 session.created alice-vscode: cpu "2", memory "4096Mi" (4 GB)
- 11:30 session.terminated alice-vscode
- 12:00 session.hibernated alice-firefox (ten concurrent copies)
- 14:00 session.started alice-firefox (the wake)
- 17:00 session.terminated alice-firefox
and two forged deliveries, refused.

billingd's clock is fixed the next morning (03:30); the usage job runs at
00:05 (the end of the day) and again at 03:10, each with its own
BILLING_TEST_NOW.  Rates: the stack's default config (scripts/stack.py,
seed_config): cpu 0.05 per core-hour, memory 0.01 per GB-hour, storage 0.10
per GB-month, a GB-month being 730 GB-hours (docs/billing.md).
"""

import hashlib
import hmac
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal, ROUND_HALF_UP

from base import StackTestCase, make_jwt

ISSUER = "streamspace-api"
SECRET = "ss-day-webhook-secret-0123456789"
NOW = "2025-03-11T03:30:00Z"           # billingd's fixed clock
END_OF_DAY = "2025-03-11T00:05:00Z"    # the usage job's first run
LATER = "2025-03-11T03:10:00Z"         # and its second
DAY = "2025-03-10"
FIREFOX = "alice-firefox-1a2b3c4d"
VSCODE = "alice-vscode-5e6f7a8b"
ALICE_UUID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "alice.streamspace"))

BILLING_MOUNT = "/api/plugins/billing/hooks/streamspace"
PLUGIN_MOUNT = "/api/plugins/streamspace-billing/hooks/streamspace"


def epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def q6(x):
    """Half-up at 6 decimals, as each usage record is rounded."""
    return x.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def q2(x):
    """Half-up to cents, as each invoice line is rounded."""
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# -- the hand computation (docs/billing.md) --------------------------------------
CPU_RATE = Decimal("0.05")      # per core-hour
MEM_RATE = Decimal("0.01")      # per GB-hour
STO_RATE = Decimal("0.10")      # per GB-month
HOURS_PER_MONTH = Decimal(730)

# cpu: firefox 1.5 cores x (09-12 + 14-17 = 6 h) = 9 core-hours;
#      vscode 2 cores x (10:00-11:30 = 1.5 h) = 3 core-hours; hibernated 12-14: none
CPU_QTY = Decimal("1.5") * 6 + 2 * Decimal("1.5")          # 12 core-hours
# every record's cost is exact at 6 decimals here (0.075, 0.1, 0.05), so the
# sum of the rounded records is the exact product
CPU_COST = CPU_QTY * CPU_RATE                               # 0.60
# memory: firefox 3 GB x 6 h = 18; vscode 4096Mi = 4 GB x 1.5 h = 6
MEM_QTY = 3 * 6 + 4 * Decimal("1.5")                        # 24 GB-hours
MEM_COST = MEM_QTY * MEM_RATE                               # 0.24
# storage: the 50 GB volume, 09:00-24:00 on the day = 15 hourly records,
# each 50/730 GB-months = 0.0684931.. -> 0.068493, costing
# 50/730 x 0.10 = 0.00684931.. -> 0.006849 (each rounded once, from the exact values)
VOLUME_GB = Decimal(50)
STO_HOURS_DAY = 15
STO_REC_QTY = q6(VOLUME_GB / HOURS_PER_MONTH)               # 0.068493
STO_REC_COST = q6(VOLUME_GB / HOURS_PER_MONTH * STO_RATE)   # 0.006849
STO_QTY = STO_REC_QTY * STO_HOURS_DAY                       # 1.027395
STO_COST = STO_REC_COST * STO_HOURS_DAY                     # 0.102735
# the invoice: one line per resource, each rounded half-up to cents
INVOICE_LINES = {"cpu": q2(CPU_COST),                       # 0.60
                 "memory": q2(MEM_COST),                    # 0.24
                 "storage": q2(STO_COST)}                   # 0.10
INVOICE_TOTAL = sum(INVOICE_LINES.values())                 # 0.94
# by hand without the per-record rounding: 50 x 15 / 730 x 0.10 = 0.10274 -> 0.10 too
assert q2(VOLUME_GB * STO_HOURS_DAY / HOURS_PER_MONTH * STO_RATE) == INVOICE_LINES["storage"]
assert INVOICE_TOTAL == Decimal("0.94")
# the second run (03:10) meters the volume's 00:00-03:00 of the 11th: 3 more records
STO_HOURS_NEXT = 3
# billingd's clock (03:30): the volume's 03:00-03:30 is not metered yet:
# 50 x 0.5 / 730 x 0.10 = 0.00342465.. (pending_cost)
PENDING = VOLUME_GB * Decimal("0.5") / HOURS_PER_MONTH * STO_RATE


def ss_claims(who, role="user", **over):
    """A StreamSpace token's claims, valid at billingd's fixed clock."""
    now = epoch(NOW)
    user_id = ALICE_UUID if who == "alice" else str(uuid.uuid5(uuid.NAMESPACE_DNS,
                                                                who + ".streamspace"))
    c = {"user_id": user_id, "username": who, "email": who + "@example.com",
         "role": role, "groups": ["g-engineering"], "jti": str(uuid.uuid4()),
         "iss": ISSUER, "sub": user_id, "iat": now - 5, "nbf": now - 5,
         "exp": now - 5 + 86400}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}   # None: the claim is absent


def body_of(event, ts, data):
    """The bytes StreamSpace sends (Go's json.Marshal: compact)."""
    return json.dumps({"event": event, "timestamp": ts, "data": data,
                       "metadata": {"source": "streamspace-api"}},
                      separators=(",", ":")).encode()


def session(name, cpu, memory, persistent_home=False):
    return {"name": name, "user": "alice", "template": "firefox",
            "state": "running", "persistentHome": persistent_home,
            "resources": {"cpu": cpu, "memory": memory}}


def sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class StreamSpaceDayCase(StackTestCase):
    """The stack as a StreamSpace deployment has it, and the day delivered."""

    config_overrides = {"jwtUserClaims": ["username", "sub"],
                        "jwtIssuer": ISSUER,
                        "streamspaceHomeStorageGb": 50,
                        # the day's deliveries arrive up to 18.5 h before billingd's clock
                        "streamspaceWebhookToleranceSeconds": 172800}
    stack_env = {"BILLING_TEST_NOW": NOW, "STREAMSPACE_WEBHOOK_SECRET": SECRET}

    # -- helpers -------------------------------------------------------------

    def deliver(self, mount, event, body, secret=SECRET, signature=None):
        headers = {"X-StreamSpace-Signature": signature or sign(secret, body),
                   "X-StreamSpace-Event": event,
                   "X-StreamSpace-Delivery": str(epoch(NOW)),
                   "User-Agent": "StreamSpace-Webhook/1.0"}
        return self.request("POST", self.stack.base_url + mount, raw=body,
                            headers=headers, content_type="application/json")

    def ss_token(self, who, role="user", **over):
        return make_jwt(ss_claims(who, role, **over), self.stack.jwt_secret)

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    @classmethod
    def setUpStack(cls):
        t = cls()
        day = [
            (PLUGIN_MOUNT, "user.created", "2025-03-10T08:55:00Z",
             {"id": ALICE_UUID, "username": "alice", "email": "alice@example.com",
              "fullName": "Alice Example", "role": "user"}),
            (PLUGIN_MOUNT, "session.created", "2025-03-10T09:00:00Z",
             session(FIREFOX, "1500m", "3Gi", persistent_home=True)),
            (BILLING_MOUNT, "session.created", "2025-03-10T10:00:00Z",
             session(VSCODE, "2", "4096Mi")),
            (BILLING_MOUNT, "session.terminated", "2025-03-10T11:30:00Z",
             {"name": VSCODE, "user": "alice"}),
            None,  # 12:00: the hibernation, ten concurrent copies (below)
            (BILLING_MOUNT, "session.started", "2025-03-10T14:00:00Z",
             session(FIREFOX, "1500m", "3Gi", persistent_home=True)),
            (PLUGIN_MOUNT, "session.terminated", "2025-03-10T17:00:00Z",
             {"name": FIREFOX, "user": "alice"}),
        ]
        cls.answers = []
        for item in day:
            if item is None:
                body = body_of("session.hibernated", "2025-03-10T12:00:00Z",
                               {"name": FIREFOX, "user": "alice"})
                mounts = [PLUGIN_MOUNT, BILLING_MOUNT] * 5
                with ThreadPoolExecutor(max_workers=10) as pool:
                    cls.hibernation = list(pool.map(
                        lambda m: t.deliver(m, "session.hibernated", body), mounts))
                cls.hibernation_sha = hashlib.sha256(body).hexdigest()
                continue
            mount, event, ts, data = item
            status, _, resp = t.deliver(mount, event, body_of(event, ts, data))
            cls.answers.append((event, ts, status, resp))
        # forged: a big session of alice's, and an early end of the firefox
        # session, each signed with the wrong key or a tampered body
        evil = body_of("session.created", "2025-03-10T15:00:00Z",
                       session("alice-evil-00000000", "8", "32Gi", persistent_home=True))
        early = body_of("session.terminated", "2025-03-10T10:00:00Z",
                        {"name": FIREFOX, "user": "alice"})
        cls.forged = [
            t.deliver(BILLING_MOUNT, "session.created", evil, secret="not-the-secret"),
            t.deliver(PLUGIN_MOUNT, "session.created", evil,
                      signature=sign(SECRET, evil.replace(b'"8"', b'"1"'))),
            t.deliver(PLUGIN_MOUNT, "session.terminated", early, secret="guess"),
            t.deliver(BILLING_MOUNT, "session.terminated", early,
                      signature=sign(SECRET, early).upper()),
        ]
        cls.after_the_day(t)

    @classmethod
    def after_the_day(cls, t):
        """Hook: the jobs each class runs once the day is delivered."""

    def records(self):
        """alice's records: (resource, day, count, SUM(quantity), SUM(cost))."""
        return [tuple(r) for r in self.sql(
            "SELECT r.resource_type, DATE(r.start_time), COUNT(*), SUM(r.quantity), "
            "SUM(r.total_cost) FROM billing_usage_records r "
            "JOIN billing_accounts a ON a.id = r.account_id WHERE a.user_id = 'alice' "
            "GROUP BY r.resource_type, DATE(r.start_time) ORDER BY 1, 2")]

    def usage(self, query="", token=None):
        status, _, body = self.request("GET", "usage" + query,
                                       token=token or self.ss_token("alice"))
        self.assertEqual(status, 200, body)
        return body

    def items(self, body):
        return {i["resource_type"]: (Decimal(str(i["quantity"])),
                                     Decimal(str(i["total_cost"])))
                for i in body["items"]}



class StreamSpaceDayTest(StreamSpaceDayCase):
    """The usage job at the end of the day and again later; GET usage; a
    manual invoice of the day."""

    @classmethod
    def after_the_day(cls, t):
        cls.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": END_OF_DAY})
        cls.after_first = t.records()
        cls.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": LATER})

    # -- the deliveries --------------------------------------------------------

    def test_every_delivery_of_the_day_is_applied(self):
        for event, ts, status, resp in self.answers:
            with self.subTest(event=event, ts=ts):
                self.assertEqual(status, 200, resp)
                self.assertEqual((resp.get("event"), resp.get("outcome")),
                                 (event, "applied"), resp)
        self.assertEqual(self.sql("SELECT email FROM billing_accounts "
                                  "WHERE user_id = 'alice'"), [["alice@example.com"]])
        # the volume: 50 GB from the first persistentHome session's start
        self.assertEqual(self.sql(
            "SELECT s.storage_gb, s.started_at FROM billing_sessions s "
            "JOIN billing_accounts a ON a.id = s.account_id "
            "WHERE s.kind = 'user_storage' AND a.user_id = 'alice'"),
            [["50.000000", "2025-03-10 09:00:00.000000"]])

    def test_the_sessions_are_cut_as_the_day_went(self):
        def segs(sid):
            return [tuple(r) for r in self.sql(
                "SELECT g.started_at, COALESCE(g.ended_at, 'NULL'), g.cpu_cores, "
                "g.memory_gb, g.storage_gb FROM billing_session_segments g "
                "JOIN billing_sessions s ON s.id = g.session_pk "
                "WHERE s.session_id = '%s' ORDER BY g.seq" % sid)]
        self.assertEqual(segs(FIREFOX), [
            ("2025-03-10 09:00:00.000000", "2025-03-10 12:00:00.000000",
             "1.500000", "3.000000", "0.000000"),
            ("2025-03-10 12:00:00.000000", "2025-03-10 14:00:00.000000",
             "0.000000", "0.000000", "0.000000"),
            ("2025-03-10 14:00:00.000000", "2025-03-10 17:00:00.000000",
             "1.500000", "3.000000", "0.000000")])
        self.assertEqual(segs(VSCODE), [
            ("2025-03-10 10:00:00.000000", "2025-03-10 11:30:00.000000",
             "2.000000", "4.000000", "0.000000")])

    def test_ten_concurrent_copies_of_the_hibernation_have_one_effect(self):
        self.assertTrue(all(r[0] == 200 for r in self.hibernation), self.hibernation)
        self.assertEqual(sorted(r[2]["outcome"] for r in self.hibernation),
                         ["applied"] + ["duplicate"] * 9)
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_streamspace_deliveries "
            "WHERE body_sha256 = '%s'" % self.hibernation_sha), [["1"]])

    def test_forged_deliveries_are_401_and_change_nothing(self):
        for resp in self.forged:
            self.assertError(resp, 401, "unauthenticated")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_sessions "
                                  "WHERE session_id = 'alice-evil-00000000'"), [["0"]])
        # 7 deliveries recorded: the six of the day and one hibernation
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_streamspace_deliveries"),
                         [["7"]])
        # (the firefox session's end stays 17:00: test_the_sessions_are_cut_as_the_day_went)

    # -- metering --------------------------------------------------------------

    def test_the_records_of_the_day_and_of_the_later_run(self):
        day = [("cpu", DAY, 8, q6(CPU_QTY), q6(CPU_COST)),
               ("memory", DAY, 8, q6(MEM_QTY), q6(MEM_COST)),
               ("storage", DAY, STO_HOURS_DAY, STO_QTY, STO_COST)]
        as_decimals = [(r, d, int(n), Decimal(qty), Decimal(cost))
                       for r, d, n, qty, cost in self.after_first]
        # cpu and memory: 09-10, 10-11, 11-12, 14-15, 15-16, 16-17 of firefox and
        # 10-11, 11-11:30 of vscode: 8 records each
        self.assertEqual(as_decimals, day)
        later = [(r, d, int(n), Decimal(qty), Decimal(cost))
                 for r, d, n, qty, cost in self.records()]
        self.assertEqual(later, day + [("storage", "2025-03-11", STO_HOURS_NEXT,
                                        STO_REC_QTY * STO_HOURS_NEXT,
                                        STO_REC_COST * STO_HOURS_NEXT)])

    def test_alice_reads_her_day_with_her_streamspace_token(self):
        body = self.usage("?from=%s&to=%s" % (DAY, DAY))
        self.assertEqual(body["user_id"], "alice")
        self.assertEqual(self.items(body), {"cpu": (CPU_QTY, CPU_COST),
                                            "memory": (MEM_QTY, MEM_COST),
                                            "storage": (STO_QTY, STO_COST)})
        self.assertEqual(Decimal(str(body["total_cost"])), CPU_COST + MEM_COST + STO_COST)
        self.assertEqual(body["active_sessions"], [])   # both ended; the volume is no session
        self.assertEqual(Decimal(str(body["user_storage_gb"])), VOLUME_GB)
        # the current period (March, by billingd's clock): the 11th's 3 records too
        body = self.usage()
        sto = self.items(body)["storage"]
        self.assertEqual(sto, (STO_REC_QTY * (STO_HOURS_DAY + STO_HOURS_NEXT),
                               STO_REC_COST * (STO_HOURS_DAY + STO_HOURS_NEXT)))
        # 03:00-03:30 of the volume is not metered yet
        self.assertEqual(Decimal(str(body["pending_cost"])), q6(PENDING))   # 0.003425

    def test_the_uuid_is_not_alice(self):
        tok = self.ss_token("alice", username=None)
        body = self.usage("?from=%s&to=%s" % (DAY, DAY), token=tok)
        self.assertEqual(body["user_id"], ALICE_UUID)
        self.assertEqual(Decimal(str(body["total_cost"])), 0)

    def test_an_operator_reads_alices_usage_and_cannot_credit_her(self):
        op = self.ss_token("olga", "operator")
        body = self.usage("?user_id=alice&from=%s&to=%s" % (DAY, DAY), token=op)
        self.assertEqual(body["user_id"], "alice")
        self.assertEqual(self.items(body)["cpu"], (CPU_QTY, CPU_COST))
        status, _, resp = self.request(
            "GET", self.stack.base_url + "/api/plugins/streamspace-billing/usage"
            "?user_id=alice&from=%s&to=%s" % (DAY, DAY), token=op)
        self.assertEqual((status, resp.get("user_id")), (200, "alice"), resp)
        before = self.sql("SELECT COUNT(*) FROM billing_credits")
        self.assertError(self.request("POST", "admin/credits", token=op,
                                      body={"user_id": "alice", "amount": "5.00",
                                            "reason": "operator goodwill"}),
                         403, "forbidden")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_credits"), before)
        self.assertEqual(Decimal(str(self.usage()["credits_balance"])), 0)

    # -- the invoice -----------------------------------------------------------

    def test_z_the_invoice_of_the_day_equals_the_hand_computation(self):
        admin = self.ss_token("root", "admin")
        status, _, inv = self.request(
            "POST", "admin/invoices", token=admin,
            body={"user_id": "alice", "period_start": DAY, "period_end": DAY})
        self.assertEqual(status, 201, inv)
        lines = {l["resource_type"]: Decimal(str(l["amount"])) for l in inv["lines"]
                 if Decimal(str(l["amount"])) != 0}
        self.assertEqual(lines, INVOICE_LINES)
        self.assertEqual(Decimal(str(inv["subtotal"])), INVOICE_TOTAL)
        self.assertEqual(Decimal(str(inv["total"])), Decimal("0.94"))
        # it took the day's records only, and exactly them
        self.assertEqual(self.sql(
            "SELECT DATE(r.start_time), COUNT(*) FROM billing_usage_records r "
            "JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id = 'alice' AND r.invoice_id = %d "
            "GROUP BY DATE(r.start_time)" % inv["id"]),
            [[DAY, str(8 + 8 + STO_HOURS_DAY)]])
        # alice sees it
        status, _, mine = self.request("GET", "invoices", token=self.ss_token("alice"))
        self.assertEqual(status, 200, mine)
        self.assertEqual([i["id"] for i in mine["invoices"]], [inv["id"]])


# -- March, invoiced by the scheduled run -----------------------------------------
# The volume is never ended: metered to 2025-04-01 00:00 it has 09:00-24:00 of
# the 10th (15 h) and the 11th-31st (21 x 24 = 504 h): 519 hourly records.
STO_HOURS_MARCH = 15 + 21 * 24                                  # 519
MARCH_LINES = {"cpu": q2(CPU_COST),                             # 0.60
               "memory": q2(MEM_COST),                          # 0.24
               # 519 x 0.006849 = 3.554631 -> 3.55
               "storage": q2(STO_REC_COST * STO_HOURS_MARCH)}
MARCH_TOTAL = sum(MARCH_LINES.values())                         # 4.39
# by hand, unrounded: 50 x 519 / 730 x 0.10 = 3.5547945.. -> 3.55 as well
assert q2(VOLUME_GB * STO_HOURS_MARCH / HOURS_PER_MONTH * STO_RATE) == MARCH_LINES["storage"]
assert MARCH_TOTAL == Decimal("4.39")


class StreamSpaceMarchTest(StreamSpaceDayCase):
    """The same day; the usage job next runs after the month's end, and the
    scheduled invoice run (invoiceDay 1) invoices March."""

    @classmethod
    def after_the_day(cls, t):
        cls.stack.run_helper("billing-calculate-usage",
                             env={"BILLING_TEST_NOW": "2025-04-01T00:05:00Z"})
        cls.stack.run_helper("billing-generate-invoices",
                             env={"BILLING_TEST_NOW": "2025-04-01T00:10:00Z"})
        # a rerun invoices nothing more
        cls.stack.run_helper("billing-generate-invoices",
                             env={"BILLING_TEST_NOW": "2025-04-01T06:10:00Z"})

    def test_the_march_invoice_equals_the_hand_computation(self):
        admin = self.ss_token("root", "admin")
        status, _, listing = self.request("GET", "invoices?user_id=alice", token=admin)
        self.assertEqual(status, 200, listing)
        self.assertEqual(len(listing["invoices"]), 1, listing)
        status, _, inv = self.request("GET", "invoices/%d" % listing["invoices"][0]["id"],
                                      token=self.ss_token("alice"))
        self.assertEqual(status, 200, inv)
        self.assertEqual((inv["user_id"], inv["period_start"], inv["period_end"]),
                         ("alice", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"), inv)
        lines = {l["resource_type"]: Decimal(str(l["amount"])) for l in inv["lines"]
                 if Decimal(str(l["amount"])) != 0}
        self.assertEqual(lines, MARCH_LINES)
        self.assertEqual(Decimal(str(inv["total"])), MARCH_TOTAL)
        self.assertEqual(Decimal(str(inv["total"])), Decimal("4.39"))
        sto = [l for l in inv["lines"] if l["resource_type"] == "storage"][0]
        self.assertEqual(Decimal(str(sto["quantity"])), STO_REC_QTY * STO_HOURS_MARCH)
