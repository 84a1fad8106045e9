#!/usr/bin/env python3
"""A test receiver for the events billing-dispatch-events delivers.

A small HTTP server (standard library only) on 127.0.0.1 that records every
POST it gets (path, headers, raw body) and answers 200, or what it was told
to answer: fail the next N requests with a status (optionally only those of
one event id), stall before answering, answer slowly.

In process (the integration tests):

    from event_receiver import EventReceiver
    rx = EventReceiver().start()          # a free port
    rx.url                                # http://127.0.0.1:PORT/events
    rx.fail_next(2, status=500)           # the next two POSTs get 500
    rx.fail_next(1, status=503, event_id="evt_...")   # only that event's
    rx.stall_next(1, seconds=15)          # the next POST waits 15 s, then 200
    rx.delay = 0.005                      # every answer waits 5 ms
    rx.wait_for(3, timeout=10)            # until 3 POSTs arrived
    rx.received                           # [Received(...)], arrival order
    rx.reset(); rx.stop()

Standalone (the dev stack: scripts/run with
BILLING_EVENTS_WEBHOOK_URL=http://127.0.0.1:9000/events):

    python3 tests/event_receiver.py --port 9000 [--secret S] [--fail N]

prints each event, and with --secret checks its Billing-Signature (HMAC-SHA256
of "t.body", see docs/events.md).  GET / lists what was received as JSON.
"""

import argparse
import hashlib
import hmac
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def suite_clock():
    """Seconds since the epoch on the suites' clock: the real one shifted by
    BILLING_TEST_OFFSET (scripts/stack.py sets it when BILLING_SUITE_NOW
    moves the suites to another date)."""
    return time.time() + int(os.environ.get("BILLING_TEST_OFFSET") or 0)

SIGNATURE_HEADER = "Billing-Signature"


class Received:
    """One POST as it arrived."""

    def __init__(self, path, headers, body, status):
        self.path = path
        self.headers = headers      # email.message.Message: case-insensitive get()
        self.body = body            # bytes, exactly as sent
        self.status = status        # what the receiver answered (or was to answer)
        self.at = time.time()

    @property
    def event_id(self):
        return self.headers.get("Billing-Event-Id")

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "Received(%s %s -> %d)" % (self.path, self.event_id, self.status)


class _Rule:
    def __init__(self, count, status, event_id, stall, headers):
        self.count = count
        self.status = status
        self.event_id = event_id
        self.stall = stall
        self.headers = headers or {}


def verify_signature(header, body, secret, now=None, tolerance=300):
    """Checks a Billing-Signature header ("t=...,v1=...") against body (bytes).
    Returns True when some v1 matches and t is within tolerance of now
    (tolerance None: not checked)."""
    t, sigs = None, []
    for part in (header or "").split(","):
        k, _, v = part.strip().partition("=")
        if k == "t":
            t = v
        elif k == "v1":
            sigs.append(v)
    if t is None or not t.isdigit() or not sigs:
        return False
    if tolerance is not None and abs((now or suite_clock()) - int(t)) > tolerance:
        return False
    want = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, s) for s in sigs)


class EventReceiver:
    def __init__(self, host="127.0.0.1", port=0, path="/events", log=None):
        self.host = host
        self.port = port
        self.path = path
        self.log = log              # a callable(Received) for the standalone mode
        self.delay = 0.0
        self.received = []
        self._rules = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._server = None
        self._thread = None

    # -- control ----------------------------------------------------------------

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive, as the dispatcher reuses its connection

            def setup(self):
                super().setup()
                # headers and body go out as two writes: without this, Nagle
                # and the client's delayed ACK add 40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                status, stall, extra = receiver._answer_for(self.path, self.headers, body)
                if stall:
                    time.sleep(stall)
                elif receiver.delay:
                    time.sleep(receiver.delay)
                self._reply(status, b'{"received":true}' if status < 300 else b"{}", extra)

            def do_GET(self):
                with receiver._lock:
                    items = [{"path": r.path, "headers": dict(r.headers.items()),
                              "body": r.body.decode(errors="replace"), "status": r.status}
                             for r in receiver.received]
                self._reply(200, json.dumps(items, indent=1).encode(), {})

            def _reply(self, status, payload, extra):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass    # the client gave up (a stall past its timeout)

            def log_message(self, fmt, *args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self):
        return "http://%s:%d%s" % (self.host, self.port, self.path)

    def reset(self):
        """Forgets what was received and every pending rule."""
        with self._lock:
            self.received = []
            self._rules = []
            self.delay = 0.0

    def fail_next(self, count=1, status=500, event_id=None, headers=None):
        """The next count POSTs (of event_id only, when given) get status,
        with extra response headers (e.g. {"Location": ...} for a 302)."""
        with self._lock:
            self._rules.append(_Rule(count, status, event_id, 0, headers))

    def stall_next(self, count=1, seconds=15.0, status=200):
        """The next count POSTs wait seconds before answering status."""
        with self._lock:
            self._rules.append(_Rule(count, status, None, seconds, None))

    def wait_for(self, count, timeout=10.0):
        """Waits until at least count POSTs arrived; returns how many did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return len(self.received)

    def event_ids(self):
        with self._lock:
            return [r.event_id for r in self.received]

    def delivered_ids(self):
        """The event ids of the POSTs answered 2xx, in arrival order."""
        with self._lock:
            return [r.event_id for r in self.received if 200 <= r.status < 300]

    # -- the server side ----------------------------------------------------------

    def _answer_for(self, path, headers, body):
        with self._cond:
            status, stall, extra = 200, 0, {}
            eid = headers.get("Billing-Event-Id")
            for rule in self._rules:
                if rule.count > 0 and (rule.event_id is None or rule.event_id == eid):
                    rule.count -= 1
                    status, stall, extra = rule.status, rule.stall, rule.headers
                    break
            self._rules = [r for r in self._rules if r.count > 0]
            rec = Received(path, headers, body, status)
            self.received.append(rec)
            self._cond.notify_all()
        if self.log is not None:
            self.log(rec)
        return status, stall, extra


def main():
    ap = argparse.ArgumentParser(description="Records and prints delivered billing events.")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/events")
    ap.add_argument("--secret", help="eventsWebhookSecret, to verify signatures")
    ap.add_argument("--fail", type=int, default=0, help="answer 500 to the first N events")
    args = ap.parse_args()

    def show(rec):
        sig = rec.headers.get(SIGNATURE_HEADER, "")
        check = ""
        if args.secret:
            check = " signature %s" % ("ok" if verify_signature(sig, rec.body, args.secret)
                                       else "BAD")
        print("%s %s -> %d%s\n  %s" % (rec.headers.get("Billing-Event-Type"), rec.event_id,
                                       rec.status, check, rec.body.decode(errors="replace")),
              flush=True)

    rx = EventReceiver(args.host, args.port, args.path, log=show)
    if args.fail:
        rx.fail_next(args.fail, 500)
    rx.start()
    print("receiving events on %s (Ctrl-C stops)" % rx.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        rx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
