"""billing-streamspace-replay: a file of StreamSpace delivery bodies, one a
line, applied through hooks/streamspace's mapping at each delivery's own
timestamp, once by the body's SHA-256, without signature or tolerance
(docs/streamspace.md, "Backfill").  The clock is fixed (BILLING_TEST_NOW).
"""

import hashlib
import hmac
import json
import os
import subprocess
import tempfile


from base import StackTestCase, stack

NOW = "2025-03-10T12:30:00Z"
SECRET = "ss_replay_secret"
HELPER = "billing-streamspace-replay"


def body(event, ts, name, user, **extra):
    if event in ("session.created", "session.started"):
        data = {"name": name, "user": user, "template": "firefox",
                "resources": {"cpu": "1000m", "memory": "2Gi"}}
        data.update(extra)
    else:
        data = {"name": name, "user": user}
    return json.dumps({"event": event, "timestamp": ts, "data": data,
                       "metadata": {"source": "streamspace-api"}})


def life(sid, user):
    """1 core, 2 GB: 08:00-10:00 running, 10:00-13:00 hibernated,
    13:00-14:00 running (3 core-hours, 6 GB-hours)."""
    return [body("session.created", "2025-03-09T08:00:00Z", sid, user),
            body("session.hibernated", "2025-03-09T10:00:00Z", sid, user),
            body("session.started", "2025-03-09T13:00:00Z", sid, user),
            body("session.terminated", "2025-03-09T14:00:00Z", sid, user)]


class StreamSpaceReplayTest(StackTestCase):
    stack_env = {"BILLING_TEST_NOW": NOW, "STREAMSPACE_WEBHOOK_SECRET": SECRET}
    # the webhook takes the day-old deliveries too, for the comparison
    config_overrides = {"streamspaceWebhookToleranceSeconds": 172800}

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def write(self, lines):
        fd, path = tempfile.mkstemp(suffix=".jsonl", dir=self.stack.var)
        with os.fdopen(fd, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path

    def replay(self, path, stdin=None):
        env = self.stack.env()
        env["BILLING_TEST_NOW"] = NOW
        return subprocess.run([stack.find_program(HELPER, self.stack.build_dir), path],
                              env=env, input=stdin, capture_output=True, text=True,
                              timeout=60)

    def webhook(self, text):
        raw = text.encode()
        sig = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        status, _, resp = self.request("POST", "hooks/streamspace", raw=raw,
                                       headers={"X-StreamSpace-Signature": sig},
                                       content_type="application/json")
        self.assertEqual(status, 200, resp)
        return resp

    def records(self, user):
        return [tuple(r) for r in self.sql(
            "SELECT r.resource_type, SUM(r.quantity), SUM(r.total_cost) "
            "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
            "WHERE a.user_id = '%s' AND r.quantity > 0 GROUP BY r.resource_type "
            "ORDER BY r.resource_type" % user)]

    def snapshot(self):
        return [self.sql(q) for q in (
            "SELECT body_sha256, event, event_at, received_at, outcome "
            "FROM billing_streamspace_deliveries ORDER BY body_sha256",
            "SELECT session_id, account_id, hibernated, COALESCE(ended_at, '') "
            "FROM billing_sessions ORDER BY id",
            "SELECT session_pk, seq, started_at, COALESCE(ended_at, ''), cpu_cores, memory_gb "
            "FROM billing_session_segments ORDER BY id",
            "SELECT account_id, resource_type, quantity, total_cost "
            "FROM billing_usage_records ORDER BY id")]

    def run_job(self):
        self.stack.run_helper("billing-calculate-usage", env={"BILLING_TEST_NOW": NOW})

    def test_a_session_life_file_meters_as_the_webhook_and_replays_once(self):
        lines = life("ss-replay-1", "replay@example.com") + [
            body("session.paused", "2025-03-09T14:30:00Z", "ss-replay-1",
                 "replay@example.com"),          # unknown: ignored
            "this is not a delivery {",          # line 6: refused
            ""]                                  # blank: skipped
        path = self.write(lines)
        r = self.replay(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "applied 4, duplicate 0, ignored 1, refused 1\n")
        self.assertIn("line 6: refused (invalid): invalid JSON", r.stderr)
        self.assertNotIn("line 5", r.stderr)
        self.assertEqual(self.sql(
            "SELECT event, event_at, received_at, outcome FROM billing_streamspace_deliveries "
            "WHERE event IN ('session.created', 'session.paused') ORDER BY event"),
            [["session.created", "2025-03-09 08:00:00.000000",
              "2025-03-10 12:30:00.000000", "applied"],
             ["session.paused", "2025-03-09 14:30:00.000000",
              "2025-03-10 12:30:00.000000", "ignored"]])
        # the same life through the webhook, for another user
        for text in life("ss-hook-1", "hook@example.com"):
            self.assertEqual(self.webhook(text)["outcome"], "applied")
        self.run_job()
        self.assertEqual(self.records("replay@example.com"),
                         [("cpu", "3.000000", "0.150000"),
                          ("memory", "6.000000", "0.060000")])
        self.assertEqual(self.records("replay@example.com"),
                         self.records("hook@example.com"))
        before = self.snapshot()
        # the same file again: every delivery a duplicate, nothing changes
        r = self.replay(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "applied 0, duplicate 5, ignored 0, refused 1\n")
        self.run_job()
        self.assertEqual(self.snapshot(), before)

    def test_a_stale_delivery_is_applied_at_its_instant_from_stdin(self):
        """Nine days old (the webhook's tolerance is two): applied."""
        sid, user = "ss-stale-1", "stale@example.com"
        text = "\n".join([body("session.created", "2025-03-01T08:00:00Z", sid, user),
                          body("session.terminated", "2025-03-01T09:30:00Z", sid, user)])
        r = self.replay("-", stdin=text)   # no newline at the end
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "applied 2, duplicate 0, ignored 0, refused 0\n", ""))
        self.assertEqual([tuple(x) for x in self.sql(
            "SELECT g.started_at, g.ended_at FROM billing_session_segments g "
            "JOIN billing_sessions s ON s.id = g.session_pk WHERE s.session_id = '%s'" % sid)],
            [("2025-03-01 08:00:00.000000", "2025-03-01 09:30:00.000000")])

    def test_a_webhook_delivery_replayed_is_a_duplicate_and_a_409_is_refused(self):
        sid = "ss-both-1"
        created = body("session.created", "2025-03-09T09:00:00Z", sid, "both@example.com")
        self.webhook(created)
        before = self.snapshot()
        path = self.write([
            created,
            body("session.started", "2025-03-09T11:00:00Z", sid, "other@example.com"),
            json.dumps({"event": "session.created", "timestamp": "2025-03-09T09:00:00Z",
                        "data": {"name": sid, "user": "both@example.com"}}),
        ])
        r = self.replay(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "applied 0, duplicate 1, ignored 0, refused 2\n")
        self.assertIn("line 2: refused (conflict): the session belongs to another user",
                      r.stderr)
        self.assertIn("line 3: refused (invalid): data.resources must be an object",
                      r.stderr)
        self.assertEqual(self.snapshot(), before)

    def test_usage_errors_and_a_missing_file(self):
        r = self.replay(os.path.join(self.stack.var, "no-such-file"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-file", r.stderr)
        r = subprocess.run([stack.find_program(HELPER, self.stack.build_dir)],
                           env=self.stack.env(), capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)
