#!/usr/bin/env python3
"""A local SMTP sink for the emails billing-dispatch-events sends
(docs/email.md), on Debian's python3-aiosmtpd.

It accepts every message on 127.0.0.1 and keeps it: in memory (the
integration tests) and, given a directory, as one .eml file per message
(the dev stack keeps them under var/mail/).  It can be told to answer
otherwise: refuse the next N messages with a 4xx (a relay that fails for a
while), refuse some recipients with a 5xx, or drop the connection.

In process (tests/integration/test_emails.py):

    from smtp_sink import SmtpSink
    sink = SmtpSink().start()             # a free port
    sink.url                              # smtp://127.0.0.1:PORT
    sink.fail_next(2)                     # the next two DATA get 451
    sink.refuse("gone@example.com")       # RCPT TO it gets 550
    sink.drop_next(1)                     # the next DATA: connection closed
    sink.wait_for(1, timeout=10)
    sink.received                         # [Received(...)], arrival order
    sink.reset(); sink.stop()

Standalone (scripts/stack.py serve starts it):

    python3 tests/smtp_sink.py --port 2525 --dir var/mail
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time

try:
    from aiosmtpd.controller import Controller
except ImportError:                       # Debian's package, another Python
    sys.path.append("/usr/lib/python3/dist-packages")
    from aiosmtpd.controller import Controller


class Received:
    """One message as the sink accepted it."""

    def __init__(self, mail_from, rcpt_tos, data):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data                  # bytes, as received (CRLF lines)
        self.at = time.time()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.sink.refused:
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        s = self.sink
        with s.lock:
            s.attempts += 1
            if s.drop > 0:
                s.drop -= 1
                server.transport.close()
                return "421 closing"
            if s.failures > 0:
                s.failures -= 1
                return "451 4.3.0 try again later (the sink was told to)"
            r = Received(envelope.mail_from, envelope.rcpt_tos, envelope.original_content
                         or envelope.content)
            s.received.append(r)
            n = len(s.received)
            if s.directory:
                os.makedirs(s.directory, exist_ok=True)
                name = "%s-%04d.eml" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), n)
                with open(os.path.join(s.directory, name), "wb") as f:
                    f.write(r.data)
            s.cond.notify_all()
        return "250 2.0.0 OK: queued as sink-%d" % n


class SmtpSink:
    def __init__(self, port=0, directory=None):
        self.port = port or free_port()
        self.directory = directory
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.controller = None
        self.reset()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def reset(self):
        with self.lock:
            self.received = []
            self.failures = 0
            self.drop = 0
            self.attempts = 0
            self.refused = set()

    def fail_next(self, n):
        with self.lock:
            self.failures = n

    def drop_next(self, n):
        with self.lock:
            self.drop = n

    def refuse(self, address):
        with self.lock:
            self.refused.add(address.lower())

    def wait_for(self, n, timeout=10):
        with self.lock:
            end = time.time() + timeout
            while len(self.received) < n and time.time() < end:
                self.cond.wait(end - time.time())
            return len(self.received) >= n

    def start(self):
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def main():
    ap = argparse.ArgumentParser(description="a local SMTP sink")
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--dir", default=os.path.join(os.getcwd(), "var", "mail"))
    args = ap.parse_args()
    sink = SmtpSink(args.port, args.dir).start()
    print("smtp sink on %s, keeping messages in %s" % (sink.url, args.dir), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(0.5)
    sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
