"""The widget's frame-ancestors (docs/web.md): GET web/frame-ancestors and
nginx's web snippet.

- GET web/frame-ancestors is public and answers 204 with
  X-Billing-Frame-Ancestors: 'self', publicBaseUrl's origin, then
  widgetFrameAncestors (lowercased, each once), no body.
- /billing/widget carries them as its CSP frame-ancestors (nginx asks
  billingd with auth_request); the internal location nginx asks is not
  reachable from outside; the other pages keep frame-ancestors 'none'.
- Without widgetFrameAncestors and publicBaseUrl: 'self' alone.
- GET usage names config alertThreshold (alert_threshold), the percent
  where the pages' quota bars turn to the warning colour.
- widgetFrameAncestors is validated by billingd -t: an array of at most 8
  origins http(s)://host[:port] (no path, no user, host characters only,
  at most 120 bytes); anything else is refused naming the key.
"""

import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request

from base import StackTestCase
import stack  # noqa: E402  (scripts/stack.py, on the path base.py sets)

FRAMERS = ["https://Portal.Example.com", "http://127.0.0.1:9", "https://[::1]:8443"]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class WebFrameTest(StackTestCase):
    config_overrides = {"publicBaseUrl": "https://billing.example.com/base/path",
                        "widgetFrameAncestors": FRAMERS + ["https://billing.example.com"]}
    want = ("'self' https://billing.example.com https://portal.example.com "
            "http://127.0.0.1:9 https://[::1]:8443")

    def test_the_endpoint_answers_204_with_the_list_and_no_token(self):
        status, headers, body = self.request("GET", "web/frame-ancestors")
        self.assertEqual(status, 204)
        self.assertEqual(headers.get("X-Billing-Frame-Ancestors"), self.want)
        self.assertEqual(body, "")

    def test_the_widget_csp_carries_the_list(self):
        widget = os.path.join(stack.ROOT, "web", "billing", "widget.html")
        status, headers, body = fetch(self.url("/billing/widget"))
        if not os.path.exists(widget):
            self.skipTest("web/billing/widget.html is not there")
        self.assertEqual(status, 200, body[:300])
        csp = headers.get("Content-Security-Policy")
        self.assertTrue(csp.endswith("; frame-ancestors " + self.want), csp)
        self.assertIn("default-src 'self'; script-src 'self'", csp)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        self.assertEqual(headers.get("Referrer-Policy"), "no-referrer")
        self.assertIsNone(headers.get("X-Billing-Frame-Ancestors"))

    def test_other_pages_may_be_framed_by_no_one(self):
        status, headers, _ = fetch(self.url("/billing/assets/app.css"))
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Security-Policy")
                        .endswith("; frame-ancestors 'none'"))

    def test_usage_names_the_alert_threshold(self):
        status, _, body = self.request("GET", "usage", token=self.user_token())
        self.assertEqual(status, 200, body)
        self.assertEqual(body["alert_threshold"], 80)

    def test_the_internal_location_is_not_reachable(self):
        status, headers, _ = fetch(self.url("/_streamspace_billing/frame-ancestors"))
        self.assertEqual(status, 404)
        self.assertIsNone(headers.get("X-Billing-Frame-Ancestors"))


class WebFrameDefaultTest(StackTestCase):
    """No widgetFrameAncestors, no publicBaseUrl: 'self' only."""

    @classmethod
    def setUpClass(cls):
        # the stack always sets publicBaseUrl: drop it from its config
        orig = stack.Stack.config

        def config(self):
            cfg = orig(self)
            cfg.pop("publicBaseUrl", None)
            return cfg
        stack.Stack.config = config
        try:
            super().setUpClass()
        finally:
            stack.Stack.config = orig

    def test_self_only(self):
        status, headers, _ = self.request("GET", "web/frame-ancestors")
        self.assertEqual(status, 204)
        self.assertEqual(headers.get("X-Billing-Frame-Ancestors"), "'self'")

    def test_bad_widget_frame_ancestors_are_refused_naming_the_key(self):
        billingd = stack.find_program("billingd", self.stack.build_dir)
        tmp = tempfile.mkdtemp(prefix="cfg-", dir=self.var)
        good = self.stack.config()
        good.pop("publicBaseUrl", None)
        bad_values = [
            "https://a.example.com",                   # not an array
            [1],                                       # not a string
            ["https://a.example.com/path"],            # a path
            ["ftp://a.example.com"],                   # a scheme
            ["https://a.example.com;sandbox"],         # CSP syntax
            ["https://user@a.example.com"],            # user information
            ["https://a.example.com:"],                # an empty port
            ["https://a.example.com:8o"],              # a port of letters
            ["https://" + "a" * 120 + ".com"],         # too long
            ["https://a%2eexample.com"],               # not a host character
            ["https://x%d.example.com" % i for i in range(9)],  # too many
        ]
        for value in bad_values:
            cfg = dict(good, widgetFrameAncestors=value)
            path = os.path.join(tmp, "bad.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            r = subprocess.run([billingd, "-t", "-c", path], env=self.stack.env(),
                               capture_output=True, text=True, timeout=15)
            out = r.stdout + r.stderr
            self.assertNotEqual(r.returncode, 0, "%r: %s" % (value, out))
            self.assertIn("widgetFrameAncestors", out, value)
        for value in ([], ["https://a.example.com", "http://localhost:8080"],
                      ["https://[2001:db8::1]:443"]):
            cfg = dict(good, widgetFrameAncestors=value)
            path = os.path.join(tmp, "good.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            r = subprocess.run([billingd, "-t", "-c", path], env=self.stack.env(),
                               capture_output=True, text=True, timeout=15)
            self.assertEqual(r.returncode, 0, "%r: %s%s" % (value, r.stdout, r.stderr))
