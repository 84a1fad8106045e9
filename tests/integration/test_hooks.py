"""POST hooks/*: the platform reports users and sessions (docs/hooks.md,
docs/billing.md).  Hooks are idempotent; a call that contradicts what is
stored is refused and changes nothing; sizes are exact decimals; a resize
cuts the session into segments without ever re-cutting metered usage.
"""

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from base import StackTestCase, clock_utc, wait_for


def iso(t):
    """RFC 3339 as billingd writes it (whole seconds unless microseconds)."""
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt(t):
    """DATETIME(6) text as the mariadb client prints it."""
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def now():
    return clock_utc().replace(microsecond=0)


class HooksTest(StackTestCase):

    def setUp(self):
        self.token = self.service_token()
        self.t0 = now() - timedelta(hours=3)

    # -- helpers ----------------------------------------------------------

    def uid(self, prefix):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:12])

    def hook(self, name, body=None, raw=None, token=None):
        return self.request("POST", "hooks/" + name, body=body, raw=raw,
                            token=token or self.token)

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def sessions(self, sid):
        return self.sql(
            "SELECT a.user_id, s.started_at, s.last_heartbeat_at, "
            "COALESCE(s.ended_at, 'NULL'), s.cpu_cores, s.memory_gb, s.storage_gb "
            "FROM billing_sessions s JOIN billing_accounts a ON a.id = s.account_id "
            "WHERE s.session_id = '%s'" % sid)

    def segments(self, sid):
        """(seq, started_at, ended_at, cpu, memory, storage) by seq."""
        return [tuple(r) for r in self.sql(
            "SELECT g.seq, g.started_at, COALESCE(g.ended_at, 'NULL'), g.cpu_cores, "
            "g.memory_gb, g.storage_gb FROM billing_session_segments g "
            "JOIN billing_sessions s ON s.id = g.session_pk "
            "WHERE s.session_id = '%s' ORDER BY g.seq" % sid)]

    def accounts(self, user):
        return self.sql("SELECT user_id, COALESCE(email, 'NULL'), COALESCE(plan_id, 'NULL') "
                        "FROM billing_accounts WHERE user_id = '%s'" % user)

    def create(self, sid=None, user=None, started=None, cpu=2, mem=4, storage=10,
               expect=201):
        sid = sid or self.uid("s")
        user = user or self.uid("u")
        body = {"session_id": sid, "user_id": user, "cpu_cores": cpu,
                "memory_gb": mem, "storage_gb": storage}
        if started is not False:
            body["started_at"] = iso(started or self.t0)
        status, _, resp = self.hook("session-created", body)
        self.assertEqual(status, expect, resp)
        return sid, user, resp

    def assertInvalid(self, resp, param):
        err = self.assertError(resp, 400, "invalid_argument")
        self.assertEqual(err.get("param"), param, err)

    # -- user-created -----------------------------------------------------

    def test_user_created_new_then_again_then_conflicting(self):
        user = self.uid("u") + "@example.com"
        body = {"user_id": user, "email": user, "plan_id": "pro"}
        status, _, resp = self.hook("user-created", body)
        self.assertEqual(status, 201, resp)
        self.assertEqual(resp, {"user_id": user, "email": user, "plan_id": "pro",
                                "status": "active", "created": True})

        status, _, again = self.hook("user-created", body)
        self.assertEqual(status, 200, again)
        self.assertEqual(again, dict(resp, created=False))
        # stating less is not a contradiction
        status, _, less = self.hook("user-created", {"user_id": user})
        self.assertEqual(status, 200, less)
        self.assertEqual(less, dict(resp, created=False))

        err = self.assertError(self.hook("user-created", dict(body, email="x@y.org")),
                               409, "conflict")
        self.assertEqual(err.get("param"), "email")
        err = self.assertError(self.hook("user-created", dict(body, plan_id="free")),
                               409, "conflict")
        self.assertEqual(err.get("param"), "plan_id")
        self.assertEqual(self.accounts(user), [[user, user, "pro"]])

    def test_user_created_fills_in_what_an_account_made_by_a_session_lacks(self):
        _, user, _ = self.create()
        self.assertEqual(self.accounts(user), [[user, "NULL", "NULL"]])
        status, _, resp = self.hook("user-created", {"user_id": user, "email": "a@b.c",
                                                     "plan_id": "enterprise"})
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp, {"user_id": user, "email": "a@b.c", "plan_id": "enterprise",
                                "status": "active", "created": False})
        self.assertEqual(self.accounts(user), [[user, "a@b.c", "enterprise"]])

    def test_user_created_validation(self):
        cases = [
            ({"email": "a@b.c"}, "user_id"),
            ({"user_id": ""}, "user_id"),
            ({"user_id": "u" * 256}, "user_id"),
            ({"user_id": 42}, "user_id"),
            ({"user_id": "bad\u0001id"}, "user_id"),
            ({"user_id": "U", "email": "no-at-sign"}, "email"),
            ({"user_id": "U", "email": "@"}, "email"),
            ({"user_id": "U", "email": "a" * 320 + "@b"}, "email"),
            ({"user_id": "U", "email": 7}, "email"),
            ({"user_id": "U", "plan_id": "platinum"}, "plan_id"),
            ({"user_id": "U", "plan_id": ["pro"]}, "plan_id"),
            ({"user_id": "U", "plan": "pro"}, "plan"),
        ]
        for body, param in cases:
            with self.subTest(body=body):
                user = self.uid("v")
                if body.get("user_id") == "U":
                    body = dict(body, user_id=user)
                self.assertInvalid(self.hook("user-created", body), param)
                self.assertEqual(self.accounts(user), [])

    # -- session-created --------------------------------------------------

    def test_session_created_for_an_unknown_user_creates_the_account(self):
        user = self.uid("new")
        self.assertEqual(self.accounts(user), [])
        sid, _, resp = self.create(user=user, cpu="0.5", mem=1.25, storage="0.000001")
        self.assertEqual(resp, {
            "session_id": sid, "user_id": user, "started_at": iso(self.t0),
            "last_heartbeat_at": iso(self.t0), "ended_at": None,
            "cpu_cores": 0.5, "memory_gb": 1.25, "storage_gb": 0.000001, "segment": 0})
        self.assertEqual(self.accounts(user), [[user, "NULL", "NULL"]])
        self.assertEqual(self.sessions(sid), [[user, dbt(self.t0), dbt(self.t0), "NULL",
                                               "0.500000", "1.250000", "0.000001"]])
        self.assertEqual(self.segments(sid), [
            ("0", dbt(self.t0), "NULL", "0.500000", "1.250000", "0.000001")])

    def test_session_created_twice_is_201_then_200_with_one_row(self):
        sid, user, first = self.create()
        _, _, second = self.create(sid=sid, user=user, expect=200)
        self.assertEqual(second, first)
        # a retry without started_at is the same call too
        _, _, third = self.create(sid=sid, user=user, started=False, expect=200)
        self.assertEqual(third, first)
        self.assertEqual(len(self.sessions(sid)), 1)
        self.assertEqual(len(self.segments(sid)), 1)

    def test_session_created_without_started_at_starts_now(self):
        before = now()
        sid, _, resp = self.create(started=False)
        started = datetime.strptime(resp["started_at"][:19], "%Y-%m-%dT%H:%M:%S")
        started = started.replace(tzinfo=timezone.utc)
        self.assertLessEqual(before - timedelta(seconds=1), started)
        self.assertLessEqual(started, now() + timedelta(seconds=1))
        self.assertEqual(resp["last_heartbeat_at"], resp["started_at"])

    def test_session_created_contradicting_the_stored_one_is_409_and_changes_nothing(self):
        sid, user, _ = self.create()
        before = (self.sessions(sid), self.segments(sid))
        other = self.uid("other")
        cases = [
            ({"user_id": other}, "user_id"),
            ({"cpu_cores": 3}, None),
            ({"storage_gb": "10.000001"}, None),
            ({"started_at": iso(self.t0 + timedelta(seconds=1))}, "started_at"),
        ]
        base = {"session_id": sid, "user_id": user, "cpu_cores": 2, "memory_gb": 4,
                "storage_gb": 10, "started_at": iso(self.t0)}
        for change, param in cases:
            with self.subTest(change=change):
                err = self.assertError(self.hook("session-created", dict(base, **change)),
                                       409, "conflict")
                self.assertEqual(err.get("param"), param)
        self.assertEqual((self.sessions(sid), self.segments(sid)), before)
        # the other user's account made inside the refused call was rolled back
        self.assertEqual(self.accounts(other), [])

    def test_session_created_validation_errors_write_nothing(self):
        def body(**kw):
            b = {"session_id": self.uid("bad"), "user_id": self.uid("bu"), "cpu_cores": 2,
                 "memory_gb": 4, "storage_gb": 10, "started_at": iso(self.t0)}
            b.update(kw)
            return {k: v for k, v in b.items() if v is not DROP}

        DROP = object()
        future = iso(now() + timedelta(minutes=10))
        cases = [
            (body(cpu_cores=-1), "cpu_cores"),
            (body(cpu_cores="-0.5"), "cpu_cores"),
            (body(cpu_cores="1e3"), "cpu_cores"),
            (body(cpu_cores=1025), "cpu_cores"),
            (body(cpu_cores="1024.000001"), "cpu_cores"),
            (body(memory_gb=65537), "memory_gb"),
            (body(storage_gb=1000001), "storage_gb"),
            (body(cpu_cores="abc"), "cpu_cores"),
            (body(cpu_cores=""), "cpu_cores"),
            (body(cpu_cores=True), "cpu_cores"),
            (body(cpu_cores=[2]), "cpu_cores"),
            (body(memory_gb="0.1234567"), "memory_gb"),
            (body(memory_gb=DROP), "memory_gb"),
            (body(cpu_cores=None), "cpu_cores"),
            (body(session_id=DROP), "session_id"),
            (body(user_id=DROP), "user_id"),
            (body(session_id=""), "session_id"),
            (body(user_id=""), "user_id"),
            (body(session_id="s" * 256), "session_id"),
            (body(user_id="u" * 256), "user_id"),
            (body(session_id=12), "session_id"),
            (body(started_at="2025-13-01T00:00:00Z"), "started_at"),
            (body(started_at="yesterday"), "started_at"),
            (body(started_at="2025-01-01"), "started_at"),
            (body(started_at=1735689600), "started_at"),
            (body(started_at=future), "started_at"),
            (body(started_at=iso(now() - timedelta(days=91))), "started_at"),
            (body(cpu_core=2), "cpu_core"),
        ]
        for b, param in cases:
            with self.subTest(body=b, param=param):
                self.assertInvalid(self.hook("session-created", b), param)
                self.assertEqual(self.sessions(b.get("session_id", "-")), [])
                if isinstance(b.get("user_id"), str):
                    self.assertEqual(self.accounts(b["user_id"]), [])
        # numbers written with an exponent or 7 decimals, as raw JSON
        for text, param in [('"cpu_cores": 1e3', "cpu_cores"),
                            ('"cpu_cores": 2E0', "cpu_cores"),
                            ('"memory_gb": 0.1234567', "memory_gb")]:
            b = body()
            key = param
            del b[key]
            raw = json.dumps(b)[:-1] + ", " + text + "}"
            with self.subTest(raw=raw):
                self.assertInvalid(self.hook("session-created", raw=raw.encode()), param)
                self.assertEqual(self.sessions(b["session_id"]), [])
        # the bounds themselves are fine
        self.create(cpu=1024, mem=65536, storage=1000000)
        self.create(cpu=0, mem="0", storage="0.0")

    def test_exact_decimals_in_and_out(self):
        sid, _, resp = self.create(cpu="1.000001", mem=0.1, storage="007.50")
        self.assertEqual((resp["cpu_cores"], resp["memory_gb"], resp["storage_gb"]),
                         (1.000001, 0.1, 7.5))
        self.assertEqual(self.sessions(sid)[0][4:], ["1.000001", "0.100000", "7.500000"])
        # the same values as strings are the same call
        self.create(sid=sid, user=resp["user_id"], cpu=1.000001, mem="0.10",
                    storage=7.5, expect=200)

    # -- Kubernetes quantities (docs/hooks.md "Sizes") ---------------------

    def test_kubernetes_quantities_are_read_exactly_with_the_gib_as_gb(self):
        sid, user, resp = self.create(cpu="1500m", mem="4Gi", storage="4G")
        self.assertEqual((resp["cpu_cores"], resp["memory_gb"], resp["storage_gb"]),
                         (1.5, 4, 3.72529))
        self.assertEqual(self.sessions(sid)[0][4:], ["1.500000", "4.000000", "3.725290"])
        # the same sizes written otherwise are the same call
        self.create(sid=sid, user=user, cpu="1.5", mem=4, storage="3.725290",
                    expect=200)
        cases = [("500m", "512Mi", "1Ti", ["0.500000", "0.500000", "1024.000000"]),
                 ("2", "1.5Gi", "1000k", ["2.000000", "1.500000", "0.000931"]),
                 ("0.5", "1M", "1T", ["0.500000", "0.000931", "931.322575"]),
                 ("1m", "1Ki", "10", ["0.001000", "0.000001", "10.000000"]),
                 ("1024000m", "64Ti", "1000000Gi",
                  ["1024.000000", "65536.000000", "1000000.000000"])]
        for cpu, mem, storage, want in cases:
            with self.subTest(cpu=cpu, mem=mem, storage=storage):
                sid2, _, _ = self.create(cpu=cpu, mem=mem, storage=storage)
                self.assertEqual(self.sessions(sid2)[0][4:], want)

    def test_a_resize_by_heartbeat_reads_quantities(self):
        sid, _, _ = self.create(cpu=2, mem=4, storage=10)
        at = self.t0 + timedelta(hours=1)
        status, _, resp = self.hook("session-heartbeat", {
            "session_id": sid, "at": iso(at), "cpu_cores": "4000m",
            "memory_gb": "8Gi", "storage_gb": "20Gi"})
        self.assertEqual(status, 200, resp)
        self.assertEqual((resp["cpu_cores"], resp["memory_gb"], resp["storage_gb"]),
                         (4, 8, 20))
        self.assertEqual([r[3:] for r in self.segments(sid)],
                         [("2.000000", "4.000000", "10.000000"),
                          ("4.000000", "8.000000", "20.000000")])
        # the same sizes again as plain numbers: no resize
        status, _, _ = self.hook("session-heartbeat", {
            "session_id": sid, "at": iso(at), "cpu_cores": 4, "memory_gb": 8,
            "storage_gb": 20})
        self.assertEqual(status, 200)
        self.assertEqual(len(self.segments(sid)), 2)

    def test_bad_quantities_are_400_naming_the_param_and_change_nothing(self):
        def body(**kw):
            b = {"session_id": self.uid("badq"), "user_id": self.uid("bq"),
                 "cpu_cores": "1", "memory_gb": "1Gi", "storage_gb": "1Gi",
                 "started_at": iso(self.t0)}
            b.update(kw)
            return b

        cases = [(body(cpu_cores="1025"), "cpu_cores"),
                 (body(cpu_cores="1024001m"), "cpu_cores"),
                 (body(cpu_cores="2Gi"), "cpu_cores"),
                 (body(cpu_cores="1.5 m"), "cpu_cores"),
                 (body(memory_gb="65Ti"), "memory_gb"),
                 (body(memory_gb="65537Gi"), "memory_gb"),
                 (body(memory_gb="4000000000"), "memory_gb"),
                 (body(memory_gb="1500m"), "memory_gb"),
                 (body(memory_gb="Gi"), "memory_gb"),
                 (body(memory_gb="1.2.3Gi"), "memory_gb"),
                 (body(memory_gb="-1Gi"), "memory_gb"),
                 (body(memory_gb="1e3"), "memory_gb"),
                 (body(memory_gb="1 Gi"), "memory_gb"),
                 (body(memory_gb="4gi"), "memory_gb"),
                 (body(storage_gb="1Pi"), "storage_gb"),
                 (body(storage_gb="99999999999999999999Gi"), "storage_gb"),
                 (body(storage_gb=""), "storage_gb")]
        for b, param in cases:
            with self.subTest(body=b, param=param):
                self.assertInvalid(self.hook("session-created", b), param)
                self.assertEqual(self.sessions(b["session_id"]), [])
                self.assertEqual(self.accounts(b["user_id"]), [])
        sid, _, _ = self.create()
        status, _, resp = self.hook("session-heartbeat", {
            "session_id": sid, "memory_gb": "65Ti"})
        self.assertInvalid((status, _, resp), "memory_gb")
        self.assertEqual(len(self.segments(sid)), 1)

    def test_concurrent_session_created_makes_one_row(self):
        sid, user = self.uid("race"), self.uid("raceuser")
        body = {"session_id": sid, "user_id": user, "cpu_cores": 2, "memory_gb": 4,
                "storage_gb": 10, "started_at": iso(self.t0)}
        gate = threading.Barrier(10)

        def call(_):
            gate.wait()
            return self.hook("session-created", body)

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(call, range(10)))
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [200] * 9 + [201], [r[2] for r in results])
        for r in results:
            self.assertEqual(r[2]["session_id"], sid)
        self.assertEqual(len(self.sessions(sid)), 1)
        self.assertEqual(len(self.segments(sid)), 1)
        self.assertEqual(len(self.accounts(user)), 1)

    # -- session-heartbeat ------------------------------------------------

    def beat(self, sid, at=None, **sizes):
        body = {"session_id": sid}
        if at is not None:
            body["at"] = iso(at)
        body.update(sizes)
        return self.hook("session-heartbeat", body)

    def test_heartbeat_moves_last_heartbeat_forward_only(self):
        sid, _, _ = self.create()
        t1, t2 = self.t0 + timedelta(minutes=30), self.t0 + timedelta(minutes=10)
        status, _, resp = self.beat(sid, t1)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["last_heartbeat_at"], iso(t1))
        status, _, resp = self.beat(sid, t2)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["last_heartbeat_at"], iso(t1))
        self.assertEqual(self.sessions(sid)[0][2], dbt(t1))
        # without "at": now
        status, _, resp = self.beat(sid)
        self.assertEqual(status, 200, resp)
        self.assertGreaterEqual(resp["last_heartbeat_at"], iso(now() - timedelta(seconds=2)))
        self.assertEqual(len(self.segments(sid)), 1)

    def test_heartbeat_with_the_same_sizes_is_no_resize(self):
        sid, _, _ = self.create()
        status, _, resp = self.beat(sid, self.t0 + timedelta(minutes=5), cpu_cores="2.0",
                                    memory_gb=4, storage_gb=10)
        self.assertEqual(status, 200, resp)
        # the one-UPDATE heartbeat: its id and the new last_heartbeat_at only
        self.assertEqual(resp, {"session_id": sid,
                                "last_heartbeat_at": iso(self.t0 + timedelta(minutes=5))})
        # one size stated, the same: still no resize
        status, _, resp = self.beat(sid, self.t0 + timedelta(minutes=6), memory_gb="4Gi")
        self.assertEqual((status, sorted(resp)), (200, ["last_heartbeat_at", "session_id"]))
        self.assertEqual(len(self.segments(sid)), 1)
        self.assertEqual(self.sessions(sid)[0][2], dbt(self.t0 + timedelta(minutes=6)))

    def test_heartbeat_answers_briefly_when_it_only_moves_the_heartbeat(self):
        # docs/hooks.md: a beat that moves last_heartbeat_at forward on a
        # running session answers {session_id, last_heartbeat_at}; a repeat,
        # a late beat and a resize answer the whole session
        sid, user, _ = self.create()
        t1 = self.t0 + timedelta(minutes=30)
        status, _, resp = self.beat(sid, t1)
        self.assertEqual((status, resp), (200, {"session_id": sid,
                                               "last_heartbeat_at": iso(t1)}))
        for again in (t1, self.t0 + timedelta(minutes=1)):
            status, _, resp = self.beat(sid, again)
            self.assertEqual(status, 200, resp)
            self.assertEqual((resp["user_id"], resp["segment"], resp["last_heartbeat_at"]),
                             (user, 0, iso(t1)))
        t2 = self.t0 + timedelta(minutes=40)
        status, _, resp = self.beat(sid, t2, cpu_cores=4)
        self.assertEqual(status, 200, resp)
        self.assertEqual((resp["segment"], resp["cpu_cores"], resp["last_heartbeat_at"]),
                         (1, 4, iso(t2)))

    def test_resize_closes_the_segment_at_that_instant_and_opens_the_next(self):
        sid, user, _ = self.create()
        at = self.t0 + timedelta(hours=1, microseconds=250000)
        status, _, resp = self.beat(sid, at, cpu_cores=4)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["segment"], 1)
        self.assertEqual((resp["cpu_cores"], resp["memory_gb"], resp["storage_gb"]), (4, 4, 10))
        self.assertEqual(resp["last_heartbeat_at"], iso(at))
        expected = [
            ("0", dbt(self.t0), dbt(at), "2.000000", "4.000000", "10.000000"),
            ("1", dbt(at), "NULL", "4.000000", "4.000000", "10.000000"),
        ]
        self.assertEqual(self.segments(sid), expected)
        self.assertEqual(self.sessions(sid)[0][4:], ["4.000000", "4.000000", "10.000000"])
        # both segments carry the account
        rows = self.sql("SELECT COUNT(*) FROM billing_session_segments g "
                        "JOIN billing_accounts a ON a.id = g.account_id "
                        "JOIN billing_sessions s ON s.id = g.session_pk "
                        "WHERE s.session_id = '%s' AND a.user_id = '%s'" % (sid, user))
        self.assertEqual(rows, [["2"]])

        # the same resize again changes nothing
        status, _, again = self.beat(sid, at, cpu_cores=4)
        self.assertEqual(status, 200, again)
        self.assertEqual(again, resp)
        self.assertEqual(self.segments(sid), expected)

        # a later resize of one field keeps the others
        at2 = at + timedelta(hours=1)
        status, _, resp = self.beat(sid, at2, memory_gb="8.5")
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["segment"], 2)
        self.assertEqual(self.segments(sid)[1:], [
            ("1", dbt(at), dbt(at2), "4.000000", "4.000000", "10.000000"),
            ("2", dbt(at2), "NULL", "4.000000", "8.500000", "10.000000"),
        ])

    def test_resize_at_the_start_of_a_never_metered_segment_changes_it_in_place(self):
        sid, _, _ = self.create()
        status, _, resp = self.beat(sid, self.t0, cpu_cores=8, storage_gb=20)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["segment"], 0)
        self.assertEqual(self.segments(sid), [
            ("0", dbt(self.t0), "NULL", "8.000000", "4.000000", "20.000000")])
        self.assertEqual(self.sessions(sid)[0][4:], ["8.000000", "4.000000", "20.000000"])

    def test_late_resize_starts_where_metering_stands(self):
        sid, _, _ = self.create()
        metered = self.t0 + timedelta(hours=2)
        self.sql("UPDATE billing_session_segments g JOIN billing_sessions s "
                 "ON s.id = g.session_pk SET g.metered_until = '%s', g.metered_cost = 0.1 "
                 "WHERE s.session_id = '%s' AND g.seq = 0" % (dbt(metered), sid))
        at = self.t0 + timedelta(hours=1)
        status, _, resp = self.beat(sid, at, cpu_cores=1)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["segment"], 1)
        self.assertEqual(resp["last_heartbeat_at"], iso(at))
        self.assertEqual(self.segments(sid), [
            ("0", dbt(self.t0), dbt(metered), "2.000000", "4.000000", "10.000000"),
            ("1", dbt(metered), "NULL", "1.000000", "4.000000", "10.000000"),
        ])

    def test_heartbeat_validation(self):
        sid, _, _ = self.create()
        cases = [
            ({"session_id": sid, "at": iso(self.t0 - timedelta(seconds=1))}, "at"),
            ({"session_id": sid, "at": iso(now() + timedelta(minutes=6))}, "at"),
            ({"session_id": sid, "at": "2025-02-30T00:00:00Z"}, "at"),
            ({"session_id": sid, "cpu_cores": -2}, "cpu_cores"),
            ({"session_id": sid, "memory_gb": "lots"}, "memory_gb"),
            ({"session_id": sid, "storage_gb": 1000000.5}, "storage_gb"),
            ({"session_id": sid, "ended_at": iso(self.t0)}, "ended_at"),
            ({"at": iso(self.t0)}, "session_id"),
        ]
        for body, param in cases:
            with self.subTest(body=body):
                self.assertInvalid(self.hook("session-heartbeat", body), param)
        self.assertEqual(self.sessions(sid)[0][2], dbt(self.t0))
        self.assertEqual(len(self.segments(sid)), 1)

    def test_concurrent_resizes_keep_segments_contiguous(self):
        sid, _, _ = self.create()
        # ten resizes, delivered at once and out of order
        beats = [(self.t0 + timedelta(minutes=10 * (i + 1)), i + 3) for i in range(10)]
        gate = threading.Barrier(len(beats))

        def call(b):
            gate.wait()
            return self.beat(sid, b[0], cpu_cores=b[1])

        with ThreadPoolExecutor(max_workers=len(beats)) as pool:
            results = list(pool.map(call, reversed(beats)))
        self.assertEqual([r[0] for r in results], [200] * len(beats),
                         [r[2] for r in results])
        segs = self.segments(sid)
        self.assertEqual([int(s[0]) for s in segs], list(range(len(segs))))
        self.assertEqual(segs[0][1], dbt(self.t0))
        for cur, nxt in zip(segs, segs[1:]):
            self.assertEqual(cur[2], nxt[1], segs)
            self.assertLess(cur[1], cur[2], segs)
        self.assertEqual(segs[-1][2], "NULL")
        self.assertEqual(self.sessions(sid)[0][2], dbt(beats[-1][0]))
        self.assertEqual(self.sessions(sid)[0][4], segs[-1][3])

    # -- session-terminated -----------------------------------------------

    def end(self, sid, ended=None):
        body = {"session_id": sid}
        if ended is not None:
            body["ended_at"] = iso(ended)
        return self.hook("session-terminated", body)

    def test_terminate_ends_the_session_and_its_open_segment_once(self):
        sid, _, _ = self.create()
        at = self.t0 + timedelta(hours=1)
        self.assertEqual(self.beat(sid, at, cpu_cores=3)[0], 200)
        ended = self.t0 + timedelta(hours=2, minutes=30)
        status, _, resp = self.end(sid, ended)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["ended_at"], iso(ended))
        self.assertEqual(resp["segment"], 1)
        self.assertEqual(self.sessions(sid)[0][3], dbt(ended))
        expected = [
            ("0", dbt(self.t0), dbt(at), "2.000000", "4.000000", "10.000000"),
            ("1", dbt(at), dbt(ended), "3.000000", "4.000000", "10.000000"),
        ]
        self.assertEqual(self.segments(sid), expected)

        # again, or without ended_at: 200 and unchanged
        status, _, again = self.end(sid, ended)
        self.assertEqual((status, again), (200, resp))
        status, _, again = self.end(sid)
        self.assertEqual((status, again), (200, resp))
        # another instant: 409
        err = self.assertError(self.end(sid, ended + timedelta(seconds=1)), 409, "conflict")
        self.assertEqual(err.get("param"), "ended_at")
        self.assertEqual(self.sessions(sid)[0][3], dbt(ended))
        self.assertEqual(self.segments(sid), expected)

        # a heartbeat after the end: 409
        self.assertError(self.beat(sid, ended - timedelta(minutes=1)), 409, "conflict")
        self.assertError(self.beat(sid, cpu_cores=1), 409, "conflict")
        self.assertEqual(self.segments(sid), expected)

    def test_terminate_without_ended_at_ends_now(self):
        sid, _, _ = self.create()
        status, _, resp = self.end(sid)
        self.assertEqual(status, 200, resp)
        self.assertGreaterEqual(resp["ended_at"], iso(now() - timedelta(seconds=2)))
        self.assertNotEqual(self.segments(sid)[0][2], "NULL")

    def test_terminate_before_the_start_is_400(self):
        sid, _, _ = self.create()
        self.assertInvalid(self.end(sid, self.t0 - timedelta(seconds=1)), "ended_at")
        self.assertInvalid(self.end(sid, now() + timedelta(minutes=6)), "ended_at")
        self.assertEqual(self.sessions(sid)[0][3], "NULL")
        self.assertEqual(self.segments(sid)[0][2], "NULL")
        # at the start instant is fine: a session of no length
        status, _, resp = self.end(sid, self.t0)
        self.assertEqual(status, 200, resp)

    def test_terminate_never_unbills_metered_usage(self):
        sid, _, _ = self.create()
        metered = self.t0 + timedelta(hours=2)
        self.sql("UPDATE billing_session_segments g JOIN billing_sessions s "
                 "ON s.id = g.session_pk SET g.metered_until = '%s' "
                 "WHERE s.session_id = '%s'" % (dbt(metered), sid))
        ended = self.t0 + timedelta(hours=1)
        status, _, resp = self.end(sid, ended)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["ended_at"], iso(ended))
        self.assertEqual(self.segments(sid)[0][2], dbt(metered))

    # -- unknown sessions, roles, database down ----------------------------

    def test_database_down_is_503_unavailable(self):
        sid, user, _ = self.create()
        self.stack.mariadb.stop()
        try:
            self.assertError(self.beat(sid), 503, "unavailable")
            self.assertError(self.end(sid), 503, "unavailable")
            self.assertError(self.hook("user-created", {"user_id": user}), 503,
                             "unavailable")
            self.create(sid=self.uid("down"), expect=503)
        finally:
            self.stack.mariadb.start()
        ok = wait_for(lambda: all(self.request("GET", "health")[0] == 200
                                  for _ in range(4)), 10.0)
        self.assertTrue(ok, "billingd did not reconnect")
        self.assertEqual(self.beat(sid)[0], 200)

    def test_unknown_session_is_404(self):
        sid = self.uid("nosuch")
        err = self.assertError(self.beat(sid), 404, "not_found")
        self.assertEqual(err.get("param"), "session_id")
        self.assertError(self.end(sid), 404, "not_found")
        self.assertEqual(self.sessions(sid), [])

    def test_user_and_admin_tokens_are_forbidden(self):
        sid, user, _ = self.create()
        body = {"session_id": sid, "user_id": user, "cpu_cores": 2, "memory_gb": 4,
                "storage_gb": 10}
        for token in (self.user_token(user), self.admin_token()):
            for name in ("user-created", "session-created", "session-heartbeat",
                         "session-terminated"):
                with self.subTest(name=name):
                    self.assertError(self.hook(name, body, token=token), 403, "forbidden")
        self.assertEqual(self.sessions(sid)[0][3], "NULL")
