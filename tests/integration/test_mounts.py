"""The API's two mounts (docs/api.md, docs/operations.md): nginx serves the
same billingd under /api/plugins/billing/ (the plugin's README) and
/api/plugins/streamspace-billing/ (StreamSpace's plugin registry mounts a
plugin by its name), through nginx/streamspace-billing.conf.

- The same requests through both prefixes get the same answers: GET health,
  a user's GET usage, a service hook (POST), an admin write, the 404 of an
  unknown endpoint, the 401 of a missing token; what one mount writes the
  other reads.
- Near misses of the second prefix are nginx's 404, never billingd's API.
- The snippet's two location blocks are the same but for the prefix.
"""

import os
import re
import time

from base import ROOT, StackTestCase, clock

MOUNTS = ("/api/plugins/billing/", "/api/plugins/streamspace-billing/")
SNIPPET = os.path.join(ROOT, "nginx", "streamspace-billing.conf")


class MountsTest(StackTestCase):

    def at(self, mount, method, path, **kw):
        return self.request(method, self.url(mount + path), **kw)

    def test_health_through_both_mounts(self):
        for mount in MOUNTS:
            with self.subTest(mount=mount):
                status, headers, body = self.at(mount, "GET", "health")
                self.assertEqual((status, body), (200, {"status": "ok", "database": "ok"}))
                self.assertRequestId((status, headers, body))

    def test_a_hook_and_a_user_read_through_both_mounts(self):
        svc = self.service_token()
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock() - 3600))
        for i, mount in enumerate(MOUNTS):
            with self.subTest(mount=mount):
                user = "mount%d@example.com" % i
                status, _, body = self.at(mount, "POST", "hooks/session-created", token=svc,
                                          body={"session_id": "mount-s%d" % i,
                                                "user_id": user, "cpu_cores": 1,
                                                "memory_gb": 1, "storage_gb": 0,
                                                "started_at": at})
                self.assertIn(status, (200, 201), body)
                # the same hook again: idempotent on either mount
                again = self.at(MOUNTS[1 - i], "POST", "hooks/session-created", token=svc,
                                body={"session_id": "mount-s%d" % i, "user_id": user,
                                      "cpu_cores": 1, "memory_gb": 1, "storage_gb": 0,
                                      "started_at": at})
                self.assertEqual(again[0], 200, again[2])
                tok = self.user_token(user)
                answers = [self.at(m, "GET", "usage", token=tok) for m in MOUNTS]
                for status, _, body in answers:
                    self.assertEqual(status, 200, body)
                    self.assertEqual([s["session_id"] for s in body["active_sessions"]],
                                     ["mount-s%d" % i])
                self.assertEqual(answers[0][2]["user_id"], answers[1][2]["user_id"])

    def test_an_admin_write_through_the_second_mount(self):
        status, _, body = self.at(MOUNTS[1], "POST", "admin/credits", token=self.admin_token(),
                                  body={"user_id": "credit-mount@example.com",
                                        "amount": "2.50", "reason": "second mount"})
        self.assertEqual(status, 201, body)
        _, _, usage = self.at(MOUNTS[0], "GET", "usage",
                              token=self.user_token("credit-mount@example.com"))
        self.assertEqual(str(usage["credits_balance"]), "2.5")

    def test_errors_are_the_same_through_both_mounts(self):
        for mount in MOUNTS:
            with self.subTest(mount=mount):
                self.assertError(self.at(mount, "GET", "no-such-endpoint"), 404, "not_found")
                resp = self.at(mount, "GET", "usage")
                self.assertError(resp, 401, "unauthenticated")
                self.assertTrue(resp[1].get("WWW-Authenticate", "").startswith("Bearer"))
                resp = self.at(mount, "PUT", "health")
                self.assertError(resp, 405, "method_not_allowed")

    def test_near_misses_of_the_second_mount_are_not_the_api(self):
        for path in ("/api/plugins/streamspace-billing", "/api/plugins/streamspace-billingx/health",
                     "/api/plugins/streamspace/health", "/api/plugins/billing-streamspace/health"):
            with self.subTest(path=path):
                status, _, body = self.request("GET", self.url(path))
                self.assertEqual(status, 404, body)
                self.assertNotEqual(body, {"status": "ok", "database": "ok"})

    def test_the_two_location_blocks_differ_only_in_the_prefix(self):
        with open(SNIPPET) as f:
            text = f.read()
        blocks = {}
        for mount in MOUNTS:
            m = re.search(r"^location %s \{\n(.*?)^\}\n" % re.escape(mount), text, re.S | re.M)
            self.assertIsNotNone(m, "no location %s in %s" % (mount, SNIPPET))
            blocks[mount] = m.group(1).replace(mount, "PREFIX/")
        self.assertEqual(blocks[MOUNTS[0]], blocks[MOUNTS[1]])
