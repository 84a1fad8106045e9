"""POST hooks/batch: many hook calls in one request (docs/hooks.md).  Each
event is answered exactly as its own hook would answer it, in order; one
bad event is refused alone; the same batch twice has one effect; heartbeats
are applied together and never move a session's last heartbeat back.
"""

import json
import random
import uuid
from datetime import timedelta

from base import StackTestCase, clock_utc


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt(t):
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


class BatchHooksTest(StackTestCase):

    def setUp(self):
        self.token = self.service_token()
        self.t0 = clock_utc().replace(microsecond=0) - timedelta(hours=3)

    def uid(self, prefix):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:12])

    def batch(self, events, token=None, raw=None):
        return self.request("POST", "hooks/batch",
                            body=None if raw is not None else {"events": events},
                            raw=raw, token=token or self.token)

    def ok_batch(self, events):
        status, _, body = self.batch(events)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["results"]), len(events), body)
        return body["results"]

    def hook(self, name, body):
        return self.request("POST", "hooks/" + name, body=body, token=self.token)

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def state(self, like):
        """Every row the hooks write for ids containing `like` (a volume's
        own id, which holds its account's number, as "volume")."""
        return (
            self.sql("SELECT user_id, COALESCE(email,'-'), COALESCE(plan_id,'-'), status "
                     "FROM billing_accounts WHERE user_id LIKE '%%%s%%' ORDER BY user_id" % like),
            self.sql("SELECT IF(s.kind = 'user_storage', 'volume', s.session_id), "
                     "s.started_at, s.last_heartbeat_at, "
                     "COALESCE(s.ended_at,'-'), s.cpu_cores, s.memory_gb, s.storage_gb, "
                     "s.hibernated FROM billing_sessions s JOIN billing_accounts a "
                     "ON a.id = s.account_id WHERE a.user_id LIKE '%%%s%%' "
                     "ORDER BY s.session_id" % like),
            self.sql("SELECT IF(s.kind = 'user_storage', 'volume', s.session_id), g.seq, "
                     "g.started_at, COALESCE(g.ended_at,'-'), "
                     "g.cpu_cores, g.memory_gb, g.storage_gb FROM billing_session_segments g "
                     "JOIN billing_sessions s ON s.id = g.session_pk JOIN billing_accounts a "
                     "ON a.id = s.account_id WHERE a.user_id LIKE '%%%s%%' "
                     "ORDER BY s.session_id, g.seq" % like))

    def scenario(self, p):
        """A mixed sequence of hook calls, ids made from prefix p: valid
        ones and refused ones, in an order where each depends on the ones
        before it."""
        t = self.t0
        at = lambda m: iso(t + timedelta(minutes=m))  # noqa: E731
        u1, u2 = p + "-u1", p + "-u2"
        s1, s2, s3 = p + "-s1", p + "-s2", p + "-s3"
        return [
            ("user-created", {"user_id": u1, "email": u1 + "@example.com"}),
            ("session-created", {"session_id": s1, "user_id": u1, "cpu_cores": 2,
                                 "memory_gb": "4Gi", "storage_gb": 10, "started_at": at(0)}),
            ("session-heartbeat", {"session_id": s1, "at": at(5)}),
            ("session-heartbeat", {"session_id": p + "-nosuch", "at": at(5)}),   # 404
            ("session-heartbeat", {"session_id": s1, "at": at(6), "cpu_core": 2}),  # 400
            ("session-heartbeat", {"session_id": s1, "at": at(4)}),  # late: unchanged
            ("session-created", {"session_id": s2, "user_id": u2, "cpu_cores": "500m",
                                 "memory_gb": 1, "storage_gb": 0, "started_at": at(1)}),
            ("session-heartbeat", {"session_id": s2, "at": at(7)}),
            ("session-heartbeat", {"session_id": s2, "at": at(8), "cpu_cores": 1}),  # resize
            ("session-heartbeat", {"session_id": s2, "at": at(9)}),
            ("session-heartbeat", {"session_id": s1, "at": at(10)}),
            ("session-terminated", {"session_id": s1, "ended_at": at(11)}),
            ("session-heartbeat", {"session_id": s1, "at": at(12)}),  # 409 ended
            ("session-terminated", {"session_id": s1, "ended_at": at(13)}),  # 409
            ("session-created", {"session_id": s2, "user_id": u1, "cpu_cores": 1,
                                 "memory_gb": 1, "storage_gb": 0}),  # 409 user
            ("session-hibernated", {"session_id": s2, "at": at(14)}),
            ("session-heartbeat", {"session_id": s2, "at": at(15)}),  # while hibernated
            ("session-woken", {"session_id": s2, "at": at(16)}),
            ("session-woken", {"session_id": s2, "at": at(17)}),  # 409 not hibernated
            ("user-storage", {"user_id": u1, "storage_gb": "50Gi", "at": at(2)}),
            ("user-storage", {"user_id": u1, "storage_gb": 50, "at": at(3)}),
            ("user-created", {"user_id": u1, "email": "other@example.com"}),  # 409
            ("session-created", {"session_id": s3, "user_id": u2, "cpu_cores": 1,
                                 "memory_gb": 1, "storage_gb": 1, "started_at": at(-1)}),
            ("session-heartbeat", {"session_id": s3, "at": at(-2)}),  # 400 before start
            ("session-heartbeat", {"session_id": s3, "at": "yesterday"}),  # 400
        ]

    # -- per-event results --------------------------------------------------

    def test_each_event_answers_as_its_hook(self):
        """The scenario through hooks/batch and, with other ids, hook by
        hook: the same statuses and bodies, event by event, and the same
        rows."""
        pa, pb = self.uid("ba"), self.uid("bb")
        events = [dict(body, type=name) for name, body in self.scenario(pa)]
        results = self.ok_batch(events)
        singles = []
        for name, body in self.scenario(pb):
            status, _, resp = self.hook(name, body)
            singles.append((status, resp))
        statuses = [r["status"] for r in results]
        self.assertEqual(statuses, [s for s, _ in singles])
        self.assertEqual(statuses, [201, 201, 200, 404, 400, 200, 201, 200, 200, 200, 200,
                                    200, 409, 409, 409, 200, 200, 200, 409, 201, 200, 409,
                                    201, 400, 400])
        for i, (r, (status, resp)) in enumerate(zip(results, singles)):
            got = r.get("body", {"error": r.get("error")})
            want = json.loads(json.dumps(resp).replace(pb, pa))
            if status >= 400:
                self.assertNotIn("body", r, i)
            else:
                self.assertNotIn("error", r, i)
            self.assertEqual(got, want, "event %d" % i)
        rows_a = self.state(pa)
        rows_b = json.loads(json.dumps(self.state(pb)).replace(pb, pa))
        self.assertEqual(json.loads(json.dumps(rows_a)), rows_b)

    def test_bad_events_are_refused_alone(self):
        sid, user = self.uid("s"), self.uid("u")
        results = self.ok_batch([
            {"type": "session-created", "session_id": sid, "user_id": user,
             "cpu_cores": 1, "memory_gb": 1, "storage_gb": 1, "started_at": iso(self.t0)},
            {"type": "no-such-hook", "session_id": sid},
            {"session_id": sid, "at": iso(self.t0)},
            "not an object",
            {"type": 7},
            {"type": "session-heartbeat", "session_id": sid,
             "at": iso(self.t0 + timedelta(minutes=1))},
        ])
        self.assertEqual([r["status"] for r in results], [201, 400, 400, 400, 400, 200])
        for r in results[1:5]:
            self.assertEqual(r["error"]["code"], "invalid_argument")
        self.assertEqual(results[1]["error"]["param"], "type")
        self.assertEqual(results[2]["error"]["param"], "type")
        self.assertEqual(results[5]["body"]["last_heartbeat_at"],
                         iso(self.t0 + timedelta(minutes=1)))

    # -- idempotency --------------------------------------------------------

    def test_the_same_batch_twice_has_one_effect(self):
        p = self.uid("bt")
        events = [dict(body, type=name) for name, body in self.scenario(p)]
        first = self.ok_batch(events)
        rows = self.state(p)
        second = self.ok_batch(events)
        self.assertEqual(self.state(p), rows)
        # creations are answered 200 the second time, with what is stored
        self.assertEqual(first[0]["status"], 201)
        self.assertEqual(second[0]["status"], 200)
        self.assertEqual(second[1]["status"], 200)
        self.assertEqual(second[1]["body"]["session_id"], p + "-s1")
        self.assertEqual(second[19]["status"], 200)
        # a heartbeat batch twice: the second changes nothing
        sid = p + "-s3"
        beats = [{"type": "session-heartbeat", "session_id": sid,
                  "at": iso(self.t0 + timedelta(minutes=m))} for m in (20, 30, 25)]
        a = self.ok_batch(beats)
        before = self.state(p)
        b = self.ok_batch(beats)
        self.assertEqual(self.state(p), before)
        self.assertEqual([r["body"]["last_heartbeat_at"] for r in a],
                         [iso(self.t0 + timedelta(minutes=m)) for m in (20, 30, 30)])
        self.assertEqual([r["body"]["last_heartbeat_at"] for r in b],
                         [iso(self.t0 + timedelta(minutes=30))] * 3)

    # -- heartbeats grouped ---------------------------------------------------

    def test_1000_heartbeats_in_random_order_leave_the_latest(self):
        sid, user = self.uid("s"), self.uid("u")
        status, _, _ = self.hook("session-created", {
            "session_id": sid, "user_id": user, "cpu_cores": 1, "memory_gb": 2,
            "storage_gb": 3, "started_at": iso(self.t0)})
        self.assertEqual(status, 201)
        ats = [self.t0 + timedelta(seconds=s + 1) for s in range(1000)]
        rnd = random.Random(18)
        rnd.shuffle(ats)
        results = self.ok_batch([{"type": "session-heartbeat", "session_id": sid,
                                  "at": iso(t)} for t in ats])
        latest = max(ats)
        self.assertEqual(self.sql("SELECT last_heartbeat_at FROM billing_sessions "
                                  "WHERE session_id = '%s'" % sid), [[dbt(latest)]])
        # each answer is the session after the events before it
        seen = self.t0
        for t, r in zip(ats, results):
            moved = t > seen
            seen = max(seen, t)
            self.assertEqual(r["status"], 200)
            self.assertEqual(r["body"]["last_heartbeat_at"], iso(seen))
            # a beat that moved it answers briefly, as the hook would
            # (docs/hooks.md); a late one the whole session
            if moved:
                self.assertEqual(sorted(r["body"]), ["last_heartbeat_at", "session_id"])
            else:
                self.assertEqual(r["body"]["segment"], 0)
        self.assertEqual(self.sql(
            "SELECT COUNT(*) FROM billing_session_segments g JOIN billing_sessions s "
            "ON s.id = g.session_pk WHERE s.session_id = '%s'" % sid), [["1"]])

    def test_heartbeats_of_many_sessions(self):
        """Fifty sessions, four beats each, interleaved; one of them resized
        mid-batch and one ended before it: each answered in order."""
        user = self.uid("u")
        sids = [self.uid("s") for _ in range(50)]
        self.ok_batch([{"type": "session-created", "session_id": s, "user_id": user,
                        "cpu_cores": 1, "memory_gb": 1, "storage_gb": 1,
                        "started_at": iso(self.t0)} for s in sids])
        self.assertEqual(self.hook("session-terminated", {
            "session_id": sids[1], "ended_at": iso(self.t0 + timedelta(minutes=1))})[0], 200)
        events = []
        for m in (4, 2, 8, 6):
            for s in sids:
                e = {"type": "session-heartbeat", "session_id": s,
                     "at": iso(self.t0 + timedelta(minutes=m))}
                if s == sids[0] and m == 8:
                    e["memory_gb"] = 2
                events.append(e)
        results = self.ok_batch(events)
        for i, r in enumerate(results):
            s = events[i]["session_id"]
            if s == sids[1]:
                self.assertEqual(r["status"], 409, r)
                continue
            self.assertEqual(r["status"], 200, r)
        last = self.sql("SELECT session_id, last_heartbeat_at FROM billing_sessions "
                        "WHERE session_id IN (%s)" % ",".join("'%s'" % s for s in sids))
        want = dbt(self.t0 + timedelta(minutes=8))
        for s, t in last:
            if s != sids[1]:
                self.assertEqual(t, want, s)
        seg = self.sql("SELECT g.seq, g.memory_gb FROM billing_session_segments g "
                       "JOIN billing_sessions s ON s.id = g.session_pk "
                       "WHERE s.session_id = '%s' ORDER BY g.seq" % sids[0])
        self.assertEqual(seg, [["0", "1.000000"], ["1", "2.000000"]])
        r0 = [r for e, r in zip(events, results) if e["session_id"] == sids[0]]
        # 4 moves it (a brief answer), 2 is late, 8 resizes, 6 is late
        self.assertEqual([r["body"].get("segment") for r in r0], [None, 0, 1, 1])

    # -- the envelope, limits and access ------------------------------------

    def test_a_malformed_envelope_is_refused_whole(self):
        cases = [
            (None, b"[]", "invalid_json"),
            (None, b"{", "invalid_json"),
            ({}, None, "invalid_argument"),
            ({"events": {}}, None, "invalid_argument"),
            ({"events": [], "extra": 1}, None, "invalid_argument"),
        ]
        for body, raw, code in cases:
            resp = self.request("POST", "hooks/batch", body=body, raw=raw, token=self.token)
            self.assertError(resp, 400, code)
        self.assertEqual(self.ok_batch([]), [])

    def test_limits(self):
        sid = self.uid("s")
        beat = {"type": "session-heartbeat", "session_id": sid}
        err = self.assertError(self.batch([beat] * 1001), 400, "invalid_argument")
        self.assertEqual(err["param"], "events")
        # 1 MiB: billingd refuses more (413 JSON); nginx refuses 2 MiB and more
        pad = {"type": "session-heartbeat", "session_id": "x" * 255}
        big = json.dumps({"events": [pad] * 3900}).encode()
        self.assertGreater(len(big), 1024 * 1024)
        self.assertLess(len(big), 2 * 1024 * 1024)
        self.assertError(self.batch(None, raw=big), 413, "payload_too_large")
        huge = json.dumps({"events": [pad] * 9000}).encode()
        self.assertGreater(len(huge), 2 * 1024 * 1024)
        self.assertErrorShape(self.batch(None, raw=huge), 413, "payload_too_large")
        # just under 1 MiB, 1,000 events: answered
        under = {"events": [dict(pad, session_id="y" * 255, pad="z" * 700)] * 1000}
        raw = json.dumps(under).encode()
        self.assertLess(len(raw), 1024 * 1024)
        self.assertGreater(len(raw), 900 * 1024)
        status, _, body = self.batch(None, raw=raw)
        self.assertEqual(status, 200, body)
        self.assertEqual({r["status"] for r in body["results"]}, {400})
        self.assertEqual(body["results"][0]["error"]["param"], "pad")

    def test_only_the_service_role(self):
        events = [{"type": "user-created", "user_id": self.uid("u")}]
        for token in (self.user_token(), self.admin_token()):
            self.assertError(self.batch(events, token=token), 403, "forbidden")
        resp = self.request("POST", "hooks/batch", body={"events": events})
        self.assertError(resp, 401, "unauthenticated")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_accounts WHERE user_id = '%s'"
                                  % events[0]["user_id"]), [["0"]])
        self.assertEqual(self.ok_batch(events)[0]["status"], 201)
        resp = self.request("POST", "hooks/batch", raw=b'{"events": []}',
                            content_type="text/plain", token=self.token)
        self.assertError(resp, 415, "unsupported_media_type")


class BatchHooksDisabledTest(StackTestCase):
    """enabled: false: the batch answers as every hook does and records
    nothing (docs/configuration.md)."""

    config_overrides = {"enabled": False}

    def test_disabled_records_nothing(self):
        user = "batch-disabled-user"
        status, _, body = self.request(
            "POST", "hooks/batch", token=self.service_token(),
            body={"events": [{"type": "user-created", "user_id": user}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["billing"], "disabled")
        self.assertIs(body["recorded"], False)
        self.assertEqual(self.stack.mariadb.sql(
            "SELECT COUNT(*) FROM billing_accounts WHERE user_id = '%s'" % user,
            database=self.stack.db_name), [["0"]])


if __name__ == "__main__":
    import unittest
    unittest.main()
