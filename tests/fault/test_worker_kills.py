"""SIGKILL of billingd workers under load.

Six client threads (GET health, GET usage with a user token, POST
hooks/session-heartbeat with a service token) run for about 5 s while a
worker is SIGKILLed every 0.5 s (always the oldest one, so that the kills
spread over the slots).  A worker serves one connection at a time, so a
kill can only cost the request it is serving: the number of failed requests
is at most the number of kills, and every failure overlaps a kill.  The
master replaces every killed worker.  The ledger checks hold afterwards
(the heartbeats are metered by the usage job first).

Three workers: with ten kills over three slots no slot is killed more than
four times within 10 s, so the master's crash backoff (test_workers.py
covers it) stays at most 1 s and the pool never empties for long.
"""

import os
import signal
import time
from datetime import datetime, timedelta, timezone

from fault_base import FaultCase, Recorder, clock_utc, wait_for

LOAD_SECONDS = 5.0
KILL_EVERY = 0.5


def start_time(pid):
    """The process's start time in clock ticks (/proc/<pid>/stat field 22)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkerKillTest(FaultCase):
    workers = 3

    @classmethod
    def setUpStack(cls):
        svc = cls.stack.token("platform", "service")
        started = clock_utc() - timedelta(hours=2)
        for i in range(2):
            status, _, body = cls.stack.request("POST", "hooks/session-created", token=svc, body={
                "session_id": "kill-load-%d" % i, "user_id": "load@example.com",
                "cpu_cores": 2, "memory_gb": 4, "storage_gb": 1, "started_at": iso(started)})
            assert status == 201, body

    def oldest_worker(self):
        pids = self.stack.worker_pids()
        ages = []
        for pid in pids:
            try:
                ages.append((start_time(pid), pid))
            except OSError:
                pass
        return min(ages)[1] if ages else None

    def test_sigkill_a_worker_every_half_second_under_load(self):
        user = self.user_token("load@example.com")
        svc = self.service_token()
        rec = Recorder()
        for i in range(2):
            rec.loop("health", lambda: self.request("GET", "health", timeout=30))
            rec.loop("usage", lambda: self.request("GET", "usage", token=user, timeout=30))
            rec.loop("heartbeat", lambda i=i: self.request(
                "POST", "hooks/session-heartbeat", token=svc, timeout=30,
                body={"session_id": "kill-load-%d" % i}))
        kills, killed = [], []
        t_end = time.monotonic() + LOAD_SECONDS
        try:
            time.sleep(KILL_EVERY)
            while time.monotonic() < t_end:
                victim = self.oldest_worker()
                if victim is not None:
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append(time.monotonic())
                        killed.append(victim)
                    except ProcessLookupError:
                        pass
                time.sleep(KILL_EVERY)
        finally:
            rec.stop()

        def replaced():
            pids = self.stack.worker_pids()
            return pids if len(pids) == self.workers and not set(pids) & set(killed) else None
        t0 = time.monotonic()
        after = wait_for(replaced, 10.0)
        self.assertTrue(after, "workers not replaced: %s (killed %s)"
                        % (self.stack.worker_pids(), killed))
        print("\n  %d requests, %d kills, %d failed; all %d workers back %.2f s after the "
              "last kill" % (len(rec.records), len(kills), len(rec.failures()), self.workers,
                             time.monotonic() - t0), end=" ", flush=True)
        self.assertGreaterEqual(len(kills), 8, "too few kills: the load did not run")
        self.assertGreater(len(rec.records), 10 * len(kills),
                           "too few requests for a load test")
        failures = rec.failures()
        self.assertLessEqual(len(failures), len(kills),
                             "more failed requests than kills: %s" % failures[:10])
        for t0_, t1_, name, status, detail, rid in failures:
            # a failure is a request that was in flight when a worker died
            self.assertTrue(any(t0_ - 0.05 <= k <= t1_ + 0.05 for k in kills),
                            "%s failed (%r %r) with no kill during it" % (name, status, detail))
            # and nginx said so, not billingd: billingd never answers 5xx here
            self.assertNotIn(status, (500, 503), (name, status, detail))
        self.assertIn("killed by signal 9", self.log_text())
        self.assertTrue(self.stack.billingd.alive(), "the master died")
        # all serve again
        for _ in range(30):
            self.assertEqual(self.request("GET", "health")[0], 200)
        status, _, body = self.request("GET", "usage", token=user)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["active_sessions"]), 2)
        # the heartbeats were stored whole: meter them, then the ledger
        self.stack.run_helper("billing-calculate-usage")
        self.assertLedger("after the kills and a usage run")
