"""Events out (docs/events.md): the outbox is delivered
by billing-dispatch-events to eventsWebhookUrl, signed, at least once, in
order per account, with exponential backoff for up to 3 days; GET
admin/events shows it.

The receiver is tests/event_receiver.py, in process.  The clock is fixed
with BILLING_TEST_NOW (billingd at 2025-02-01T00:30Z; each dispatcher run
gets its own "now", which is how time moves forward for backoff and the
3-day limit).

Where the events come from: the first test causes one as production does
(a manual invoice through POST admin/invoices emits billing.invoice.created
in the invoice's transaction); the others insert rows into billing_events
directly, in the shape events.c writes them, to control ids, accounts,
creation times and statuses.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # tests/: event_receiver

from base import StackTestCase  # noqa: E402
from event_receiver import EventReceiver  # noqa: E402
import stack as stackmod  # noqa: E402

NOW = "2025-02-01T00:30:00Z"
NOW_EPOCH = int(datetime(2025, 2, 1, 0, 30, tzinfo=timezone.utc).timestamp())
SECRET = "evsecret_" + secrets.token_hex(16)
DAY = 86400
SEC = 1000000
NOW_US = NOW_EPOCH * SEC
RESULT = re.compile(r"(\d+) delivered, (\d+) retried, (\d+) failed")


def iso(us):
    """RFC 3339 with microseconds for BILLING_TEST_NOW, from integer usec."""
    sec, frac = divmod(us, SEC)
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") \
        + ".%06dZ" % frac


def db_time(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def usec(text):
    """DATETIME(6) text as integer microseconds (no binary floating point)."""
    whole = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    frac = text[20:26] if len(text) > 19 else ""
    return int(whole.timestamp()) * SEC + int(frac.ljust(6, "0") or 0)


def openssl_hmac_hex(secret, data):
    """HMAC-SHA256 by the openssl CLI: independent of billingd and of Python's hmac."""
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret], input=data,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().rsplit("= ", 1)[-1]


class EventsCase(StackTestCase):
    receiver = None
    url_configured = True

    @classmethod
    def setUpClass(cls):
        cls.receiver = EventReceiver().start()
        cls.stack_env = {"BILLING_TEST_NOW": NOW}
        cls.config_overrides = {}
        if cls.url_configured:
            # the environment wins over the config file (scripts/stack.py sets
            # a secret of its own there): both say the same
            cls.stack_env["BILLING_EVENTS_WEBHOOK_URL"] = cls.receiver.url
            cls.stack_env["BILLING_EVENTS_WEBHOOK_SECRET"] = SECRET
            cls.config_overrides["eventsWebhookSecret"] = SECRET
        try:
            super().setUpClass()
        except BaseException:
            cls.receiver.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.receiver.stop()

    def setUp(self):
        self.sql("DELETE FROM billing_events")
        self.receiver.reset()

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def admin(self):
        return self.stack.token("admin@example.com", "admin", now=NOW_EPOCH)

    def account(self, user):
        self.sql("INSERT IGNORE INTO billing_accounts (user_id) VALUES ('%s')" % user)
        return int(self.sql("SELECT id FROM billing_accounts WHERE user_id = '%s'" % user)[0][0])

    def insert_event(self, name, user=None, created=NOW_EPOCH, next_at=None,
                     status="pending", attempts=0, etype="test.event"):
        """A row as events.c writes it; returns the event id ("evt_<name>")."""
        eid = "evt_" + name
        payload = json.dumps({"id": eid, "type": etype, "created": int(created),
                              "data": {"name": name}}, separators=(",", ":"))
        acct = str(self.account(user)) if user else "NULL"
        self.sql("INSERT INTO billing_events (event_id, type, account_id, payload, status, "
                 "attempts, next_attempt_at, created_at, delivered_at) VALUES "
                 "('%s', '%s', %s, '%s', '%s', %d, '%s', '%s', %s)"
                 % (eid, etype, acct, payload, status, attempts,
                    db_time(created if next_at is None else next_at), db_time(created),
                    "'%s'" % db_time(created) if status == "delivered" else "NULL"))
        return eid

    def row(self, eid):
        [[status, attempts, next_at, err, delivered]] = self.sql(
            "SELECT status, attempts, next_attempt_at, COALESCE(last_error, ''), "
            "COALESCE(delivered_at, '') FROM billing_events WHERE event_id = '%s'" % eid)
        return {"status": status, "attempts": int(attempts), "next": usec(next_at),
                "error": err, "delivered_at": delivered}

    def dispatch(self, at=NOW_US, env=None):
        """One billing-dispatch-events run at `at` (usec); returns (delivered, retried,
        failed) from its one-line outcome, which never shows the secret."""
        e = {"BILLING_TEST_NOW": iso(at)}
        e.update(env or {})
        r = self.stack.run_helper("billing-dispatch-events", env=e)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        m = RESULT.search(r.stdout + r.stderr)
        self.assertTrue(m, r.stdout + r.stderr)
        return tuple(int(x) for x in m.groups())


class DispatchTest(EventsCase):

    def test_invoice_event_is_delivered_signed_with_the_envelope(self):
        user = "signed@example.com"
        tok = self.stack.token("platform", "service", now=NOW_EPOCH)
        for name, body in (("session-created", {
                "session_id": "sig-1", "user_id": user, "cpu_cores": 2, "memory_gb": 4,
                "storage_gb": 0, "started_at": "2025-01-07T00:00:00Z"}),
                ("session-terminated", {"session_id": "sig-1",
                                        "ended_at": "2025-01-07T10:00:00Z"})):
            status, _, resp = self.request("POST", "hooks/" + name, body=body, token=tok)
            self.assertIn(status, (200, 201), resp)
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin(), body={
            "user_id": user, "period_start": "2025-01-07", "period_end": "2025-01-07"})
        self.assertEqual(status, 201, inv)
        [[eid, stored]] = self.sql("SELECT event_id, payload FROM billing_events "
                                   "WHERE type = 'billing.invoice.created'")

        self.assertEqual(self.dispatch(), (1, 0, 0))
        self.assertEqual(len(self.receiver.received), 1)
        got = self.receiver.received[0]
        # the stored envelope, byte for byte
        self.assertEqual(got.body.decode(), stored)
        env = got.json()
        self.assertEqual(sorted(env), ["created", "data", "id", "type"])
        self.assertEqual((env["id"], env["type"], env["created"]),
                         (eid, "billing.invoice.created", NOW_EPOCH))
        self.assertEqual(env["data"]["total"], 1.40)
        # headers
        self.assertTrue(got.headers["Content-Type"].startswith("application/json"))
        self.assertEqual(got.headers["Billing-Event-Id"], eid)
        self.assertEqual(got.headers["Billing-Event-Type"], "billing.invoice.created")
        self.assertTrue(got.headers["User-Agent"].startswith("StreamSpace-Billing/"))
        # the signature, checked with the openssl CLI: t=<now>,v1=HMAC(secret, "t.body")
        sig = got.headers["Billing-Signature"]
        m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", sig)
        self.assertTrue(m, sig)
        self.assertEqual(int(m.group(1)), NOW_EPOCH)
        self.assertEqual(m.group(2), openssl_hmac_hex(SECRET, m.group(1).encode() + b"."
                                                      + got.body))
        self.assertNotEqual(m.group(2), openssl_hmac_hex("wrong", m.group(1).encode() + b"."
                                                         + got.body))
        row = self.row(eid)
        self.assertEqual((row["status"], row["attempts"], row["error"]), ("delivered", 1, ""))
        self.assertTrue(row["delivered_at"].startswith("2025-02-01 00:30:00"))
        # delivered once: a later run sends nothing
        self.assertEqual(self.dispatch(NOW_US + 3600 * SEC), (0, 0, 0))
        self.assertEqual(len(self.receiver.received), 1)

    def test_a_500_is_retried_after_the_backoff_not_before_and_delivered_once(self):
        eid = self.insert_event("retry")
        self.receiver.fail_next(1, status=500)
        self.assertEqual(self.dispatch(), (0, 1, 0))
        row = self.row(eid)
        self.assertEqual((row["status"], row["attempts"], row["error"]), ("pending", 1, "HTTP 500"))
        # 30 s, plus at most 10 % jitter
        self.assertGreaterEqual(row["next"], NOW_US + 30 * SEC)
        self.assertLessEqual(row["next"], NOW_US + 33 * SEC)
        # before next_attempt_at: nothing is sent
        self.assertEqual(self.dispatch(NOW_US + 29 * SEC), (0, 0, 0))
        self.assertEqual(len(self.receiver.received), 1)
        self.assertEqual(self.dispatch(row["next"]), (1, 0, 0))
        self.assertEqual(self.receiver.event_ids(), [eid, eid])
        self.assertEqual(self.receiver.delivered_ids(), [eid])
        row = self.row(eid)
        self.assertEqual((row["status"], row["attempts"], row["error"]), ("delivered", 2, ""))

    def test_backoff_doubles_from_30_seconds(self):
        eid = self.insert_event("doubling")
        self.receiver.fail_next(4, status=503)
        at = NOW_US
        for base in (30, 60, 120, 240):
            self.assertEqual(self.dispatch(at), (0, 1, 0))
            nxt = self.row(eid)["next"]
            self.assertGreaterEqual(nxt - at, base * SEC)
            self.assertLessEqual(nxt - at, base * SEC * 11 // 10)
            at = nxt
        self.assertEqual(self.dispatch(at), (1, 0, 0))
        self.assertEqual(self.row(eid)["attempts"], 5)

    def test_redirects_are_not_followed_and_count_as_failures(self):
        eid = self.insert_event("redirect")
        self.receiver.fail_next(1, status=302,
                                headers={"Location": self.receiver.url + "/elsewhere"})
        self.assertEqual(self.dispatch(), (0, 1, 0))
        self.assertEqual([r.path for r in self.receiver.received], ["/events"])
        self.assertIn("HTTP 302", self.row(eid)["error"])

    def test_a_receiver_that_stalls_times_out_after_10_seconds_and_is_retried(self):
        eid = self.insert_event("stall")
        self.receiver.stall_next(1, seconds=15)
        t0 = time.monotonic()
        self.assertEqual(self.dispatch(), (0, 1, 0))
        self.assertLess(time.monotonic() - t0, 14)
        row = self.row(eid)
        self.assertEqual(row["status"], "pending")
        self.assertRegex(row["error"], r"^curl error 28: ")
        self.assertEqual(self.dispatch(row["next"]), (1, 0, 0))

    def test_a_network_error_is_retried(self):
        eid = self.insert_event("refused")
        closed = stackmod.free_port()
        self.assertEqual(self.dispatch(env={
            "BILLING_EVENTS_WEBHOOK_URL": "http://127.0.0.1:%d/events" % closed}), (0, 1, 0))
        self.assertRegex(self.row(eid)["error"], r"^curl error 7: ")
        self.assertEqual(self.dispatch(self.row(eid)["next"]), (1, 0, 0))

    def test_in_order_per_account_a_failing_event_holds_back_its_account_only(self):
        a1 = self.insert_event("a1", user="a@example.com")
        b1 = self.insert_event("b1", user="b@example.com")
        a2 = self.insert_event("a2", user="a@example.com")
        n1 = self.insert_event("n1")
        b2 = self.insert_event("b2", user="b@example.com")
        self.receiver.fail_next(1, status=500, event_id=a1)
        self.assertEqual(self.dispatch(), (3, 1, 0))
        self.assertEqual(self.receiver.event_ids(), [a1, b1, n1, b2])
        self.assertEqual(self.row(a2)["attempts"], 0)
        # not due yet, and a2 stays behind a1 whatever its own next_attempt_at
        self.assertEqual(self.dispatch(NOW_US + 20 * SEC), (0, 0, 0))
        b3 = self.insert_event("b3", user="b@example.com", created=NOW_EPOCH + 20)
        a3 = self.insert_event("a3", user="a@example.com", created=NOW_EPOCH + 20)
        self.assertEqual(self.dispatch(NOW_US + 25 * SEC), (1, 0, 0))
        self.assertEqual(self.receiver.event_ids()[-1], b3)
        self.assertEqual(self.dispatch(self.row(a1)["next"]), (3, 0, 0))
        self.assertEqual(self.receiver.event_ids()[-3:], [a1, a2, a3])
        self.assertEqual(self.receiver.delivered_ids(), [b1, n1, b2, b3, a1, a2, a3])

    def test_after_3_days_of_failures_the_event_fails_and_the_next_flows(self):
        a1 = self.insert_event("old1", user="c@example.com")
        a2 = self.insert_event("old2", user="c@example.com")
        self.receiver.fail_next(1000, status=500, event_id=a1)
        at, runs, gaps = NOW_US, 0, []
        while self.row(a1)["status"] == "pending" and runs < 60:
            self.dispatch(at)
            runs += 1
            if self.row(a1)["status"] == "pending":
                gaps.append(self.row(a1)["next"] - at)
                at = self.row(a1)["next"]
        row = self.row(a1)
        self.assertEqual(row["status"], "failed")
        self.assertEqual(row["error"], "HTTP 500")
        self.assertEqual(row["attempts"], runs)
        # doubling from 30 s up to 6 h, and the last attempt right at 3 days
        self.assertLess(gaps[0], 34 * SEC)
        self.assertLessEqual(max(gaps), 6 * 3600 * SEC * 11 // 10)
        self.assertEqual(at, (NOW_EPOCH + 3 * DAY) * SEC)
        # a2 went out only after a1's last attempt, in the same run
        self.assertEqual(self.receiver.event_ids(), [a1] * runs + [a2])
        self.assertEqual(self.row(a2)["status"], "delivered")
        self.assertEqual(self.receiver.delivered_ids(), [a2])

    def test_an_event_older_than_3_days_still_gets_one_attempt(self):
        ok = self.insert_event("late-ok", created=NOW_EPOCH - 4 * DAY)
        bad = self.insert_event("late-bad", created=NOW_EPOCH - 4 * DAY)
        self.receiver.fail_next(1, status=500, event_id=bad)
        self.assertEqual(self.dispatch(), (1, 0, 1))
        self.assertEqual(self.row(ok)["status"], "delivered")
        self.assertEqual((self.row(bad)["status"], self.row(bad)["attempts"]), ("failed", 1))

    def test_concurrent_runs_send_each_event_exactly_once_in_order(self):
        """Two runs started at once, and a third while the first is sending."""
        users = ["conc%d@example.com" % i for i in range(8)]
        for u in users:
            self.account(u)
        # 1000 events: 400 over 8 accounts (50 each), 600 without an account
        self.sql(
            "INSERT INTO billing_events (event_id, type, account_id, payload, "
            "next_attempt_at, created_at) SELECT CONCAT('evt_c', LPAD(seq, 5, '0')), "
            "'test.concurrent', IF(seq %% 5 < 2, (SELECT id FROM billing_accounts WHERE "
            "user_id = CONCAT('conc', seq %% 8, '@example.com')), NULL), "
            "CONCAT('{\"id\":\"evt_c', LPAD(seq, 5, '0'), '\",\"type\":\"test.concurrent\","
            "\"created\":%d,\"data\":{\"n\":', seq, '}}'), '%s', '%s' FROM seq_1_to_1000"
            % (NOW_EPOCH, db_time(NOW_EPOCH), db_time(NOW_EPOCH)))
        self.receiver.delay = 0.005
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        prog = stackmod.find_program("billing-dispatch-events", self.stack.build_dir)

        def start():
            return subprocess.Popen([prog, "-v"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        procs = [start(), start()]
        self.assertGreaterEqual(self.receiver.wait_for(50, timeout=30), 50)
        procs.append(start())
        outs = [p.communicate(timeout=120)[0].decode() for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0, 0], outs)
        ids = self.receiver.event_ids()
        self.assertEqual(len(ids), 1000)
        self.assertEqual(len(set(ids)), 1000, "an event was sent twice")
        counts = [int(RESULT.search(o).group(1)) for o in outs]
        self.assertEqual(sum(counts), 1000, outs)
        # how the 1000 split between the runs depends on timing (a late run
        # may find everything leased): only the sum and once-each are fixed
        self.assertEqual(self.sql("SELECT status, COUNT(*) FROM billing_events GROUP BY status"),
                         [["delivered", "1000"]])
        # per account, the order of arrival is the order of the outbox
        owner = dict(self.sql("SELECT e.event_id, a.user_id FROM billing_events e "
                              "JOIN billing_accounts a ON a.id = e.account_id"))
        for u in users:
            mine = [i for i in ids if owner.get(i) == u]
            self.assertEqual(len(mine), 50)
            self.assertEqual(mine, sorted(mine), u)

    def test_post_jobs_dispatch_events_runs_it_in_billingd(self):
        eid = self.insert_event("api")
        status, _, body = self.request("POST", "jobs/dispatch-events", token=self.admin())
        self.assertEqual(status, 200, body)
        self.assertEqual((body["items"], body["message"]), (1, "1 delivered, 0 retried, 0 failed"))
        self.assertEqual(self.receiver.event_ids(), [eid])
        self.assertEqual(self.row(eid)["status"], "delivered")

    def test_each_run_is_recorded_and_the_secret_is_never_written(self):
        self.insert_event("rec-ok")
        self.insert_event("rec-bad")
        self.receiver.fail_next(1, status=500, event_id="evt_rec-bad")
        self.assertEqual(self.dispatch(), (1, 1, 0))
        [[status, items, message]] = self.sql(
            "SELECT status, items, message FROM billing_job_runs WHERE job = "
            "'dispatch-events' ORDER BY id DESC LIMIT 1")
        self.assertEqual((status, items, message),
                         ("succeeded", "1", "1 delivered, 1 retried, 0 failed"))
        for table, col in (("billing_job_runs", "message"), ("billing_events", "last_error"),
                           ("billing_events", "payload")):
            self.assertEqual(self.sql("SELECT COUNT(*) FROM %s WHERE %s LIKE '%%%s%%'"
                                      % (table, col, SECRET)), [["0"]])
        for log in ("billingd.log", "nginx-error.log"):
            self.assertNotIn(SECRET, self.log_text(log))
        # not in the config file of another process's command line either
        for sig in (r.headers["Billing-Signature"] for r in self.receiver.received):
            self.assertNotIn(SECRET, sig)


class AdminEventsTest(EventsCase):

    @classmethod
    def setUpStack(cls):
        t = cls()
        t.sql("DELETE FROM billing_events")
        t.insert_event("l1", user="list-a@example.com", status="delivered")
        t.insert_event("l2", user="list-b@example.com", etype="billing.quota.warning")
        t.insert_event("l3", status="failed", attempts=19)
        t.insert_event("l4", user="list-a@example.com", etype="billing.quota.warning")
        t.insert_event("l5", user="list-a@example.com", status="failed")
        t.sql("UPDATE billing_events SET last_error = 'HTTP 500' WHERE event_id = 'evt_l3'")

    def setUp(self):
        pass    # the fixture is the class's

    def get(self, query):
        status, _, body = self.request("GET", "admin/events" + query, token=self.admin())
        self.assertEqual(status, 200, body)
        return body

    def ids(self, query):
        return [e["id"] for e in self.get(query)["events"]]

    def test_newest_first_with_every_field(self):
        body = self.get("")
        self.assertEqual([e["id"] for e in body["events"]],
                         ["evt_l5", "evt_l4", "evt_l3", "evt_l2", "evt_l1"])
        self.assertIsNone(body["next_cursor"])
        ev = {e["id"]: e for e in body["events"]}
        self.assertEqual(ev["evt_l2"], {
            "id": "evt_l2", "type": "billing.quota.warning", "user_id": "list-b@example.com",
            "status": "pending", "attempts": 0, "next_attempt_at": "2025-02-01T00:30:00Z",
            "last_error": None, "created_at": "2025-02-01T00:30:00Z", "delivered_at": None,
            "payload": {"id": "evt_l2", "type": "billing.quota.warning",
                        "created": NOW_EPOCH, "data": {"name": "l2"}}})
        self.assertEqual((ev["evt_l3"]["user_id"], ev["evt_l3"]["status"],
                          ev["evt_l3"]["attempts"], ev["evt_l3"]["last_error"],
                          ev["evt_l3"]["next_attempt_at"]),
                         (None, "failed", 19, "HTTP 500", None))
        self.assertEqual(ev["evt_l1"]["delivered_at"], "2025-02-01T00:30:00Z")

    def test_filters(self):
        self.assertEqual(self.ids("?status=failed"), ["evt_l5", "evt_l3"])
        self.assertEqual(self.ids("?status=pending"), ["evt_l4", "evt_l2"])
        self.assertEqual(self.ids("?type=billing.quota.warning"), ["evt_l4", "evt_l2"])
        self.assertEqual(self.ids("?user_id=list-a%40example.com"),
                         ["evt_l5", "evt_l4", "evt_l1"])
        self.assertEqual(self.ids("?user_id=list-a%40example.com&status=pending"
                                  "&type=billing.quota.warning"), ["evt_l4"])
        self.assertEqual(self.ids("?user_id=nobody%40example.com"), [])
        self.assertEqual(self.ids("?type=no.such.type"), [])

    def test_pages_with_the_cursor(self):
        seen, query = [], "?limit=2"
        while True:
            body = self.get(query)
            seen.append([e["id"] for e in body["events"]])
            if body["next_cursor"] is None:
                break
            query = "?limit=2&cursor=" + body["next_cursor"]
        self.assertEqual(seen, [["evt_l5", "evt_l4"], ["evt_l3", "evt_l2"], ["evt_l1"]])
        body = self.get("?limit=1&status=failed")
        self.assertEqual([e["id"] for e in body["events"]], ["evt_l5"])
        self.assertEqual(self.ids("?limit=1&status=failed&cursor=" + body["next_cursor"]),
                         ["evt_l3"])

    def test_bad_arguments_are_400(self):
        for query, param in (("?status=sent", "status"), ("?limit=0", "limit"),
                             ("?limit=501", "limit"), ("?limit=x", "limit"),
                             ("?cursor=abc", "cursor"), ("?cursor=0", "cursor"),
                             ("?type=" + "x" * 65, "type"), ("?type=", "type"),
                             ("?user_id=", "user_id")):
            resp = self.request("GET", "admin/events" + query, token=self.admin())
            err = self.assertError(resp, 400, "invalid_argument")
            self.assertEqual(err.get("param"), param, query)

    def test_admins_only(self):
        resp = self.request("GET", "admin/events",
                            token=self.stack.token("alice@example.com", "user", now=NOW_EPOCH))
        self.assertError(resp, 403, "forbidden")
        self.assertError(self.request("GET", "admin/events"), 401, "unauthenticated")


class NoWebhookTest(EventsCase):
    url_configured = False

    def test_without_a_url_the_job_does_nothing_and_says_so(self):
        eid = self.insert_event("waiting")
        r = self.stack.run_helper("billing-dispatch-events", env={"BILLING_TEST_NOW": NOW})
        self.assertEqual(r.returncode, 0)
        self.assertIn("nothing to do", r.stdout + r.stderr)
        self.assertEqual(self.receiver.received, [])
        row = self.row(eid)
        self.assertEqual((row["status"], row["attempts"]), ("pending", 0))
        [[status, message]] = self.sql("SELECT status, message FROM billing_job_runs WHERE "
                                       "job = 'dispatch-events' ORDER BY id DESC LIMIT 1")
        self.assertEqual(status, "succeeded")
        self.assertIn("no eventsWebhookUrl", message)
