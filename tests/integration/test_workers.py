"""The preforked master and its workers (docs/architecture.md): a dead
worker is replaced, workers are recycled after maxRequests, SIGHUP reloads
the config into new workers, SIGTERM stops gracefully.

Tests that stop billingd leave it stopped; setUp starts it again (with the
stack's normal config) before every test, so their order does not matter.
"""

import os
import shutil
import signal
import subprocess
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from base import StackTestCase, stack as stackmod, wait_for

HEALTH_OK = {"status": "ok", "database": "ok"}


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Requester(threading.Thread):
    """Sequential health requests until stopped; counts what went wrong."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.stopping = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        while not self.stopping.is_set():
            try:
                status, _, body = self.stack.request("GET", "health", timeout=10)
                if status == 200 and body == HEALTH_OK:
                    self.ok += 1
                else:
                    self.failures.append((status, body))
            except Exception as e:  # a reset or a truncated answer
                self.failures.append(("exception", repr(e)))

    def stop(self):
        self.stopping.set()
        self.join(15)


class WorkersTest(StackTestCase):

    def setUp(self):
        self.ensure_billingd()
        if len(self.stack.worker_pids()) != self.stack.workers:
            self.restore_config()

    # -- helpers --------------------------------------------------------------

    def master(self):
        return self.stack.billingd.pid

    def restore_config(self):
        """The stack's own config again, reloaded (which also clears the
        master's crash counters); waits for its 2 new workers."""
        before = self.stack.worker_pids()
        self.stack.write_config()
        os.kill(self.master(), signal.SIGHUP)
        self.assertTrue(self.wait_replaced(before, self.stack.workers, 5.0),
                        "config not restored: workers %s" % self.stack.worker_pids())

    def wait_replaced(self, old, n, timeout):
        """Waits until there are n workers and none of them is in old."""
        def check():
            pids = self.stack.worker_pids()
            return pids if len(pids) == n and not set(pids) & set(old) else None
        return wait_for(check, timeout)

    def sequential_health(self, n):
        failures = []
        for _ in range(n):
            try:
                status, headers, body = self.request("GET", "health", timeout=10)
                if status != 200 or body != HEALTH_OK or not headers.get("X-Request-Id"):
                    failures.append((status, body))
            except Exception as e:
                failures.append(("exception", repr(e)))
        return failures

    # -- a worker dies --------------------------------------------------------

    def test_sigkilled_worker_is_replaced_within_2_s_and_200_requests_succeed(self):
        before = self.stack.worker_pids()
        self.assertEqual(len(before), 2)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        after = wait_for(lambda: (lambda p: p if len(p) == 2 and victim not in p else None)(
            self.stack.worker_pids()), 2.0, interval=0.02)
        self.assertTrue(after, "no replacement worker within 2 s: %s"
                        % self.stack.worker_pids())
        self.assertIn(before[1], after)  # the other one was left alone
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.sequential_health(200), [])
        self.assertEqual(self.master(), self.stack.billingd.pid)
        self.assertIn("killed by signal 9", self.log_text())

    def test_all_workers_sigkilled_at_once_are_replaced_and_200_requests_succeed(self):
        before = self.stack.worker_pids()
        self.assertEqual(len(before), 2)
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        after = self.wait_replaced(before, 2, 2.0)
        self.assertTrue(after, "workers not replaced within 2 s: %s"
                        % self.stack.worker_pids())
        self.assertEqual(self.sequential_health(200), [])
        self.assertTrue(self.stack.billingd.alive())

    def test_a_worker_that_keeps_dying_is_still_replaced_after_a_backoff(self):
        """Five SIGKILLs in a row on the same slot: the first three are
        replaced at once, then the master backs off (1 s, 2 s) but always
        brings the slot back; the other worker serves meanwhile."""
        other = self.stack.worker_pids()[1]
        victim = self.stack.worker_pids()[0]
        failures = []
        try:
            for i in range(5):
                os.kill(victim, signal.SIGKILL)
                self.assertTrue(wait_for(lambda: not pid_alive(victim), 2.0))
                # the slot may be waiting out its backoff: the other serves
                failures += self.sequential_health(5)
                new = wait_for(lambda: [p for p in self.stack.worker_pids()
                                        if p not in (victim, other)], 4.0, interval=0.02)
                self.assertTrue(new, "kill %d: slot not refilled within 4 s" % (i + 1))
                victim = new[0]
            self.assertIn(other, self.stack.worker_pids())
            self.assertEqual(failures, [])
            self.assertEqual(self.sequential_health(20), [])
            self.assertIn("crashed 4 times in a row: respawning in 1 s", self.log_text())
            self.assertIn("crashed 5 times in a row: respawning in 2 s", self.log_text())
        finally:
            self.restore_config()  # the next tests start with no crash history

    def test_200_concurrent_requests_on_2_workers_all_succeed(self):
        admin = self.admin_token()

        def one(i):
            try:
                if i % 2:
                    r = self.request("GET", "health", timeout=30)
                    return r[0] == 200 and r[2] == HEALTH_OK, r[0]
                r = self.request("GET", "jobs/status", token=admin, timeout=30)
                return r[0] == 200 and len(r[2]["jobs"]) == 4, r[0]
            except Exception as e:
                return False, repr(e)

        with ThreadPoolExecutor(max_workers=25) as pool:
            results = list(pool.map(one, range(200)))
        self.assertEqual([r for r in results if not r[0]], [])

    def test_billingd_as_pid_1_of_its_namespace_serves_requests(self):
        unshare = shutil.which("unshare")
        if unshare is None:
            self.skipTest("no unshare(1)")
        probe = subprocess.run([unshare, "--pid", "--fork", "true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("cannot create a PID namespace here")
        self.stack.billingd.stop()
        log = open(os.path.join(self.var, "billingd-pid1.log"), "ab")
        proc = subprocess.Popen(
            [unshare, "--pid", "--fork", "--kill-child",
             stackmod.find_program("billingd", self.stack.build_dir), "-c", self.stack.config_path],
            env=self.stack.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        try:
            def served():
                try:
                    return self.request("GET", "health", timeout=1)[0] == 200
                except Exception:
                    return False
            self.assertTrue(wait_for(served, 3.0, interval=0.2),
                            "billingd running as PID 1 serves nothing")
        finally:
            self.stop_namespaced(proc)

    def stop_namespaced(self, proc):
        """Stops billingd (PID 1 of its namespace) with SIGTERM, then unshare."""
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            children = []
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # -- SIGHUP ---------------------------------------------------------------

    def test_sighup_after_config_change_starts_3_new_workers_without_failed_requests(self):
        before = self.stack.worker_pids()
        requester = Requester(self.stack)
        requester.start()
        try:
            time.sleep(0.2)
            cfg = self.stack.config()
            cfg["workers"] = 3
            self.stack.write_config(cfg)
            os.kill(self.master(), signal.SIGHUP)
            after = self.wait_replaced(before, 3, 3.0)
            self.assertTrue(after, "not 3 new workers within 3 s: %s (before %s)"
                            % (self.stack.worker_pids(), before))
            time.sleep(0.3)  # and serving after the reload too
        finally:
            requester.stop()
            self.restore_config()
        self.assertEqual(requester.failures, [])
        self.assertGreater(requester.ok, 10)
        for pid in before:
            self.assertFalse(pid_alive(pid), "old worker %d still running" % pid)
        self.assertIn("configuration reloaded", self.log_text())
        self.assertEqual(len(self.stack.worker_pids()), 2)

    def test_sighup_new_workers_run_with_the_new_config(self):
        # maxRequests 3 after the reload: the new workers recycle quickly
        before = self.stack.worker_pids()
        cfg = self.stack.config()
        cfg["maxRequests"] = 3
        self.stack.write_config(cfg)
        try:
            os.kill(self.master(), signal.SIGHUP)
            reloaded = self.wait_replaced(before, 2, 3.0)
            self.assertTrue(reloaded)
            self.assertEqual(self.sequential_health(20), [])
            after = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
                self.stack.worker_pids()), 2.0)
            self.assertFalse(set(after) & set(reloaded),
                             "workers not recycled after 3 requests: %s" % after)
        finally:
            self.restore_config()

    def test_sighup_with_an_invalid_config_keeps_the_old_workers_and_logs_reload_refused(self):
        before = self.stack.worker_pids()
        with open(self.stack.config_path, "w") as f:
            f.write("{")
        try:
            os.kill(self.master(), signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload refused" in self.log_text(), 3.0),
                            "no 'reload refused' in billingd.log")
            self.assertEqual(self.sequential_health(50), [])
            self.assertEqual(self.stack.worker_pids(), before)
            self.assertTrue(self.stack.billingd.alive())
            resp = self.request("GET", "jobs/status", token=self.admin_token())
            self.assertEqual(resp[0], 200, resp[2])
        finally:
            self.stack.write_config()

    def test_sighup_with_a_semantically_invalid_config_is_refused_too(self):
        before = self.stack.worker_pids()
        cfg = self.stack.config()
        cfg["invoiceDay"] = 31
        self.stack.write_config(cfg)
        mark = len(self.log_text())
        try:
            os.kill(self.master(), signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload refused" in self.log_text()[mark:], 3.0))
            self.assertIn("invoiceDay", self.log_text()[mark:])
            self.assertEqual(self.sequential_health(20), [])
            self.assertEqual(self.stack.worker_pids(), before)
        finally:
            self.stack.write_config()

    # -- SIGTERM --------------------------------------------------------------

    def test_sigterm_exits_0_within_5_s_and_removes_its_socket_and_pidfile(self):
        workers = self.stack.worker_pids()
        pidfile = os.path.join(self.var, "billingd.pid")
        self.assertTrue(os.path.exists(self.stack.socket))
        self.assertTrue(os.path.exists(pidfile))
        self.stack.billingd.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.stack.billingd.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.fail("billingd still running 5 s after SIGTERM")
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(self.stack.socket), "socket left behind")
        self.assertFalse(os.path.exists(pidfile), "pidfile left behind")
        for pid in workers:
            self.assertFalse(pid_alive(pid), "worker %d outlived the master" % pid)
        self.assertIn("stopped", self.log_text().splitlines()[-1])
        # with billingd gone, nginx answers 502 by itself
        self.assertEqual(self.request("GET", "health")[0], 502)

    def test_sigint_stops_like_sigterm(self):
        workers = self.stack.worker_pids()
        self.stack.billingd.proc.send_signal(signal.SIGINT)
        try:
            rc = self.stack.billingd.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.fail("billingd still running 5 s after SIGINT")
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(self.stack.socket))
        for pid in workers:
            self.assertFalse(pid_alive(pid))

    def test_sigterm_with_20_concurrent_requests_gives_no_truncated_or_garbage_answers(self):
        """What is asserted: every one of the 20 requests gets a complete
        HTTP answer (no reset, no truncated body), which is either billingd's
        200 with the exact health JSON and an X-Request-Id, or nginx's own
        502/503 (no X-Request-Id: billingd never saw it) for a request whose
        connection came after the workers stopped accepting.  billingd
        itself never answers 5xx, and exits 0.  (Requests whose connection
        was queued in the listen backlog when SIGTERM came get nginx's 502
        too: see test_sigterm_serves_requests_already_queued_on_the_socket.)"""
        results = []

        def one(_):
            try:
                status, headers, body = self.request("GET", "health", timeout=40)
                return status, headers.get("X-Request-Id"), body
            except Exception as e:
                return "exception", None, repr(e)

        with ThreadPoolExecutor(max_workers=20) as pool:
            futures = [pool.submit(one, i) for i in range(20)]
            self.stack.billingd.proc.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        rc = self.stack.billingd.proc.wait(10)
        self.assertEqual(rc, 0)
        served = 0
        for status, rid, body in results:
            if status == 200:
                self.assertEqual(body, HEALTH_OK)
                self.assertTrue(rid)
                served += 1
            else:
                self.assertIn(status, (502, 503), "unexpected answer %r %r" % (status, body))
                self.assertIsNone(rid, "a %d from billingd itself: %r" % (status, body))
        log = self.log_text()
        self.assertNotIn("still busy", log)
        self.assertNotRegex(log, r"GET /health 5\d\d")

    def test_sigterm_lets_requests_in_flight_finish(self):
        """Two jobs/status requests are held inside billingd (a table lock
        makes their query wait); SIGTERM arrives; both still get a
        complete 200, and only then does the master exit 0."""
        locker, pool, held = self.hold_both_workers(1.5)
        try:
            t0 = time.monotonic()
            self.stack.billingd.proc.send_signal(signal.SIGTERM)
            results = [f.result() for f in held]
            rc = self.stack.billingd.proc.wait(10)
            waited = time.monotonic() - t0
        finally:
            pool.shutdown()
            locker.wait(10)
        for status, headers, body in results:
            self.assertEqual(status, 200, body)
            self.assertEqual(len(body["jobs"]), 4)
            self.assertTrue(headers.get("X-Request-Id"))
        self.assertEqual(rc, 0)
        self.assertGreater(waited, 0.3, "the master did not wait for them")
        self.assertNotIn("still busy", self.log_text())

    def hold_both_workers(self, seconds):
        """Starts a table lock that makes jobs/status wait, and two such
        requests, so that both workers are busy; returns (locker, pool,
        futures) once both wait inside billingd."""
        admin = self.admin_token()
        locker = subprocess.Popen(
            [stackmod.find_program("mariadb"), "--no-defaults", "-S",
             self.stack.mariadb.socket, "-u", "root", self.stack.db_name, "-e",
             "LOCK TABLES billing_job_runs WRITE; SELECT SLEEP(%s); UNLOCK TABLES;" % seconds],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertTrue(wait_for(lambda: self.stack.mariadb.sql(
            "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'"),
            3.0), "the lock holder did not start")
        pool = ThreadPoolExecutor(max_workers=10)
        futures = [pool.submit(self.request, "GET", "jobs/status", token=admin, timeout=30)
                   for _ in range(2)]
        self.assertTrue(wait_for(lambda: len(self.stack.mariadb.sql(
            "SELECT id FROM information_schema.processlist "
            "WHERE user = 'billing' AND state LIKE '%lock%'")) >= 2, 3.0),
            "the two requests are not waiting inside billingd")
        return locker, pool, futures

    def test_sigterm_serves_requests_already_queued_on_the_socket(self):
        locker, pool, held = self.hold_both_workers(1.5)
        try:
            queued = [pool.submit(self.request, "GET", "health", timeout=30) for _ in range(5)]
            # nginx connects at once: the 5 requests wait in billingd's backlog
            time.sleep(0.3)
            self.stack.billingd.proc.send_signal(signal.SIGTERM)
            held_results = [f.result() for f in held]
            queued_results = [f.result() for f in queued]
            self.assertEqual(self.stack.billingd.proc.wait(10), 0)
        finally:
            pool.shutdown()
            locker.wait(10)
        for status, _, body in held_results:
            self.assertEqual(status, 200, body)
        self.assertEqual([r[0] for r in queued_results], [200] * 5,
                         "requests queued before SIGTERM were dropped")


class MaxRequestsTest(StackTestCase):
    config_overrides = {"maxRequests": 5}

    def test_workers_are_recycled_after_max_requests_without_failed_requests(self):
        before = self.stack.worker_pids()
        self.assertEqual(len(before), 2)
        failures = []
        for _ in range(40):
            try:
                status, headers, body = self.request("GET", "health", timeout=10)
                if status != 200 or body != HEALTH_OK:
                    failures.append((status, body))
            except Exception as e:
                failures.append(("exception", repr(e)))
        self.assertEqual(failures, [])
        after = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
            self.stack.worker_pids()), 2.0)
        self.assertTrue(after)
        self.assertFalse(set(after) & set(before), "workers not recycled: %s -> %s"
                         % (before, after))
        log = self.log_text()
        self.assertNotIn("killed by signal", log)
        self.assertNotIn("exited with status", log)
        # 40 requests, at most 5 per worker: at least 8 worker processes served
        served_by = {line.split("billingd[")[1].split("]")[0]
                     for line in log.splitlines() if "GET /health 200" in line}
        self.assertGreaterEqual(len(served_by), 8)
