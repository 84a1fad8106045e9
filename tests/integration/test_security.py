"""Security through nginx: who may see what, forged tokens, hostile ids, and
the headers of API answers.

- Object and user access: Alice's token on every endpoint that takes an id
  or a user (invoices/{id}, invoices/{id}/pdf, ?user_id= on usage,
  invoices, subscription, payment-methods; admin/*) answers 403 or 404, and
  none of Bob's identifiers (user id, invoice number, session id, Stripe
  customer and payment method ids, credit reason) is in the body.
- Roles: a user and a service token on every admin endpoint of
  src/http/routes.c answer 403 and change nothing; an operator token reads
  every admin GET (200) and every admin write answers 403 and changes
  nothing; a service token reading
  usage gets its own subject's (empty) usage, never another user's.
- JWT forgeries on a user endpoint (GET usage) and an admin endpoint (GET
  admin/users): alg none, HS512/RS256 headers, key confusion (HS256 keyed
  with the public key's text, with and without jwtPublicKeyFile configured),
  expired, nbf in the future, bad signature, no exp, empty sub, role or sub
  changed after signing: all 401.
- Hostile input in every id and user field ("x' OR '1'='1", NUL, very
  long, unicode, invalid UTF-8): 4xx or an empty answer, never 500, and the
  database unchanged (CHECKSUM TABLE of every table before and after).
- Headers: no server version, Cache-Control: no-store and
  X-Content-Type-Options: nosniff on API answers.

Stripe is the stand-in (tests/stripe_standin.py), so payment-methods is
reached past its "not configured" check.
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from base import ROOT, StackTestCase, b64url, claims_for, clock, make_jwt, rs256_sign

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stripe_standin import Standin  # noqa: E402  (tests/stripe_standin.py)

ROUTES_C = os.path.join(ROOT, "src", "http", "routes.c")
FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures")
RSA_PRIV = os.path.join(FIXTURES, "rsa_priv.pem")
RSA_PUB = os.path.join(FIXTURES, "rsa_pub.pem")
KEY = "sk_test_security_" + "x" * 24

ALICE = "alice@example.com"
BOB = "bob@example.com"
BOB_SESSION = "bob-private-session-7f3a"
BOB_CREDIT_REASON = "bob-private-credit-reason"

HOSTILE = [
    "x' OR '1'='1",
    "1 OR 1=1",
    "1; DROP TABLE billing_invoices; --",
    "' UNION SELECT user_id FROM billing_accounts --",
    "\\' OR 1=1 #",
    "%00",
    "1\x00",
    "%",
    "../../etc/passwd",
    "a" * 300,
    "9" * 40,
    "-1",
    "0",
    "0x1",
    "1e3",
    "\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9",
    "\U0001F600",
    "\u202eevil",
    "*",
]


def routes():
    """(method, pattern, access) of every route in src/http/routes.c."""
    with open(ROUTES_C) as f:
        text = f.read()
    return re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(ACCESS_[A-Z]+),', text)


def q(s):
    return urllib.parse.quote(s, safe="")


def body_text(body):
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)


class SecurityCase(StackTestCase):
    """Alice and Bob, each with a metered session, an invoice, a credit, a
    Stripe customer with a saved card, and (Bob) a subscription row."""

    @classmethod
    def setUpClass(cls):
        cls.standin = Standin(secret_key=KEY).start()
        cls.stack_env = dict(cls.stack_env or {})
        cls.stack_env.update({"STRIPE_API_BASE": cls.standin.url, "STRIPE_SECRET_KEY": KEY,
                              "STRIPE_TIMEOUT_SECONDS": "2"})
        try:
            super().setUpClass()
        except BaseException:
            cls.standin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.standin.stop()

    @classmethod
    def setUpStack(cls):
        t = cls()
        cls.data = {ALICE: t.make_user(ALICE, "alice-session", 3),
                    BOB: t.make_user(BOB, BOB_SESSION, 4, BOB_CREDIT_REASON)}
        b = cls.data[BOB]
        cls.bob_secrets = [BOB, BOB_SESSION, BOB_CREDIT_REASON, b["invoice_number"],
                           b["customer"]] + b["payment_methods"]

    def make_user(self, user, session, days_ago, reason="goodwill"):
        svc = self.service_token()
        day = time.strftime("%Y-%m-%d", time.gmtime(clock() - days_ago * 86400))
        for name, body in (
                ("user-created", {"user_id": user, "email": user}),
                ("session-created", {"session_id": session, "user_id": user, "cpu_cores": 2,
                                     "memory_gb": 4, "storage_gb": 0,
                                     "started_at": day + "T00:00:00Z"}),
                ("session-terminated", {"session_id": session, "ended_at": day + "T10:00:00Z"})):
            status, _, resp = self.request("POST", "hooks/" + name, body=body, token=svc)
            assert status in (200, 201), resp
        self.stack.run_helper("billing-calculate-usage")
        status, _, credit = self.request("POST", "admin/credits", token=self.admin_token(),
                                         body={"user_id": user, "amount": "0.10",
                                               "reason": reason})
        assert status == 201, credit
        status, _, inv = self.request("POST", "admin/invoices", token=self.admin_token(),
                                      body={"user_id": user, "period_start": day,
                                            "period_end": day})
        assert status == 201, inv
        status, _, co = self.request("POST", "create-checkout", body={"plan_id": "pro"},
                                     token=self.user_token(user))
        assert status == 200, co
        [[customer]] = self.sql("SELECT stripe_customer_id FROM billing_accounts "
                                "WHERE user_id = '%s'" % user)
        pms = [pm["id"] for pm in self.standin.seed_payment_methods(customer, 2)]
        status, _, sub = self.request("POST", "subscription", body={"plan_id": "free"},
                                      token=self.user_token(user))
        assert status == 200, sub
        return {"invoice": inv["id"], "invoice_number": inv["invoice_number"],
                "customer": customer, "payment_methods": pms, "day": day}

    # -- helpers ------------------------------------------------------------

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def checksums(self):
        """CHECKSUM TABLE of every table of the database: what may not change."""
        tables = [r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '%s' "
            "ORDER BY table_name" % self.stack.db_name)]
        return self.sql("CHECKSUM TABLE " + ", ".join("`%s`" % t for t in tables))

    def assertNoBobData(self, resp, what):
        text = body_text(resp[2])
        for secret in self.bob_secrets:
            self.assertNotIn(secret, text, "%s: Bob's %r is in the answer: %s"
                             % (what, secret, text[:500]))

    def assertDenied(self, resp, what, allowed=(403, 404)):
        status, _, body = resp
        self.assertIn(status, allowed, "%s: %r" % (what, body))
        self.assertIsInstance(body, dict, "%s: %r" % (what, body))
        self.assertIn(body.get("error", {}).get("code"),
                      ("forbidden", "not_found", "invalid_argument"), body)
        self.assertNoBobData(resp, what)


class AccessTest(SecurityCase):

    def test_alice_on_bobs_objects_is_403_or_404_and_shows_nothing_of_bob(self):
        alice = self.user_token(ALICE)
        bob = self.data[BOB]
        before = self.checksums()
        cases = [
            ("GET", "invoices/%d" % bob["invoice"], 404),
            ("GET", "invoices/%d/pdf" % bob["invoice"], 404),
            ("GET", "usage?user_id=" + q(BOB), 403),
            ("GET", "invoices?user_id=" + q(BOB), 403),
            ("GET", "subscription?user_id=" + q(BOB), 403),
            ("GET", "payment-methods?user_id=" + q(BOB), 403),
            # the first user_id is the one read: both orders are safe
            ("GET", "usage?user_id=%s&user_id=%s" % (q(BOB), q(ALICE)), 403),
            ("GET", "invoices?user_id=%s&status=sent" % q(BOB), 403),
            ("GET", "usage?from=2000-01-01&user_id=" + q(BOB), 403),
            # other spellings of Bob are someone else too
            ("GET", "usage?user_id=" + q(BOB.upper()), 403),
            # blanks around an id make it invalid (400): never Bob's
            ("GET", "usage?user_id=" + q(BOB + " "), 400),
            ("GET", "usage?user_id=bob%40example%2Ecom", 403),
        ]
        for method, path, want in cases:
            with self.subTest(path=path):
                resp = self.request(method, path, token=alice)
                self.assertDenied(resp, path, allowed=(want,))
        # the same for every admin endpoint (the role check comes first)
        for method, pattern, access in routes():
            if access != "ACCESS_ADMIN":
                continue
            path = pattern.replace("{id}", str(bob["invoice"])).replace(
                "{name}", "generate-invoices").replace("{user_id}", BOB)
            with self.subTest(admin=path):
                resp = self.request(method, path + ("?user_id=" + q(BOB) if method == "GET"
                                                    else ""),
                                    token=alice, body={"user_id": BOB, "status": "void"}
                                    if method != "GET" else None)
                self.assertDenied(resp, path, allowed=(403,))
        self.assertEqual(self.checksums(), before, "a refused request changed the database")

    def test_alice_sees_her_own_objects(self):
        """The control: the same requests for her own things answer 200."""
        alice = self.user_token(ALICE)
        mine = self.data[ALICE]
        for path in ("invoices/%d" % mine["invoice"], "invoices/%d/pdf" % mine["invoice"],
                     "usage?user_id=" + q(ALICE), "invoices?user_id=" + q(ALICE),
                     "subscription?user_id=" + q(ALICE), "payment-methods?user_id=" + q(ALICE),
                     "usage?user_id=%s&user_id=%s" % (q(ALICE), q(BOB))):
            with self.subTest(path=path):
                resp = self.request("GET", path, token=alice)
                self.assertEqual(resp[0], 200, resp[2])
                self.assertNoBobData(resp, path)
        status, _, pms = self.request("GET", "payment-methods", token=alice)
        self.assertEqual(sorted(p["id"] for p in pms["payment_methods"]),
                         sorted(mine["payment_methods"]))
        status, _, invs = self.request("GET", "invoices", token=alice)
        self.assertEqual([i["id"] for i in invs["invoices"]], [mine["invoice"]])

    def test_an_admin_may_read_bob(self):
        """The other control: Bob's identifiers are really in these answers."""
        admin = self.admin_token()
        bob = self.data[BOB]
        for path, secret in (("invoices/%d" % bob["invoice"], bob["invoice_number"]),
                             ("usage?user_id=" + q(BOB), BOB),
                             # the day of Bob's session, not the default period:
                             # on the 1st-4th of a month it lies in the last one
                             ("admin/reports?user_id=%s&from=%s&to=%s"
                              % (q(BOB), bob["day"], bob["day"]), BOB_SESSION),
                             ("payment-methods?user_id=" + q(BOB), bob["payment_methods"][0]),
                             ("invoices?user_id=" + q(BOB), bob["invoice_number"])):
            status, _, body = self.request("GET", path, token=admin)
            self.assertEqual(status, 200, body)
            self.assertIn(secret, body_text(body), path)

    def assertNothingOfBob(self, resp, what):
        """For a subject that merely looks like Bob: none of Bob's things
        (his user id itself may be a prefix of the subject echoed back)."""
        status, _, body = resp
        text = body_text(body)
        for secret in self.bob_secrets[1:]:
            self.assertNotIn(secret, text, "%s: Bob's %r is in the answer" % (what, secret))
        if isinstance(body, dict):
            self.assertEqual(body.get("invoices", []), [], what)
            self.assertEqual(body.get("payment_methods", []), [], what)
            self.assertTrue(all(i["quantity"] == 0 for i in body.get("items", [])),
                            "%s: Bob's usage: %s" % (what, body.get("items")))
            self.assertEqual(body.get("credits_balance", 0), 0, what)

    def test_subjects_that_only_look_like_bob_see_nothing_of_his(self):
        for sub in (BOB.upper(), "bob@exa\u043cple.com", "bob@example.co", BOB + "\t"):
            tok = self.user_token(sub) if "\t" not in sub else None
            if tok is None:
                continue   # a control character: the token itself is refused
            for path in ("usage", "invoices", "subscription", "payment-methods"):
                with self.subTest(sub=sub, path=path):
                    self.assertNothingOfBob(self.request("GET", path, token=tok),
                                            "%r GET %s" % (sub, path))

    def test_a_subject_with_trailing_spaces_sees_nothing_of_bob(self):
        leaks = []
        for sub in (BOB + " ", BOB + "   "):
            tok = self.user_token(sub)
            for path in ("usage", "invoices", "payment-methods"):
                what = "%r GET %s" % (sub, path)
                try:
                    self.assertNothingOfBob(self.request("GET", path, token=tok), what)
                except AssertionError as e:
                    leaks.append(str(e)[:200])
        self.assertEqual(leaks, [], "Bob's data shown to a look-alike subject")

    def test_user_body_fields_cannot_name_another_user(self):
        """POST subscription and create-checkout act for the token's sub only:
        a user_id in the body is an unknown key (400), and nothing changes."""
        alice = self.user_token(ALICE)
        before = self.checksums()
        stripe_before = len(self.standin.requests())
        for path, body in (("subscription", {"plan_id": "free", "user_id": BOB}),
                           ("subscription", {"cancel": True, "user_id": BOB}),
                           ("create-checkout", {"plan_id": "pro", "user_id": BOB}),
                           ("create-checkout", {"plan_id": "pro", "customer":
                                                self.data[BOB]["customer"]})):
            with self.subTest(path=path, body=body):
                resp = self.request("POST", path, body=body, token=alice)
                self.assertError(resp, 400, "invalid_argument")
                self.assertIn(resp[2]["error"].get("param"), ("user_id", "customer"))
                self.assertNoBobData(resp, path)
        self.assertEqual(self.checksums(), before)
        self.assertEqual(len(self.standin.requests()), stripe_before, "something reached Stripe")


class RolesTest(SecurityCase):

    def admin_routes(self):
        found = [(m, p) for m, p, a in routes() if a == "ACCESS_ADMIN"]
        self.assertGreaterEqual(len(found), 10, "src/http/routes.c not parsed: %s" % found)
        return found

    def test_user_and_service_tokens_on_every_admin_endpoint_are_403(self):
        inv = self.data[BOB]["invoice"]
        bodies = {"POST": {"user_id": ALICE, "amount": "5.00", "reason": "x",
                           "period_start": "2025-01-01", "period_end": "2025-01-01"},
                  "PATCH": {"status": "void"}}
        before = self.checksums()
        runs_before = self.sql("SELECT COUNT(*) FROM billing_job_runs")
        tokens = {"user": self.user_token(ALICE), "service": self.service_token(),
                  "service named admin": self.stack.token("admin@example.com", "service"),
                  "user without role": make_jwt(claims_for(ALICE, role=None),
                                                self.stack.jwt_secret)}
        for method, pattern in self.admin_routes():
            names = ["calculate-usage", "generate-invoices", "check-quotas", "dispatch-events"] \
                if "{name}" in pattern else [None]
            for name in names:
                path = pattern.replace("{id}", str(inv)).replace("{user_id}", BOB)
                if name:
                    path = path.replace("{name}", name)
                for who, tok in tokens.items():
                    with self.subTest(endpoint="%s %s" % (method, path), token=who):
                        resp = self.request(method, path, token=tok, body=bodies.get(method))
                        self.assertError(resp, 403, "forbidden")
                        self.assertNoBobData(resp, path)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_job_runs"), runs_before,
                         "a job ran for a refused request")
        self.assertEqual(self.checksums(), before)

    def test_operator_token_reads_every_admin_get_and_every_admin_write_is_403(self):
        """The operator reads what an admin reads and writes nothing: each
        ACCESS_ADMIN route of src/http/routes.c by its method."""
        inv = self.data[BOB]["invoice"]
        op = self.stack.token("olga@example.com", "operator")
        bodies = {"POST": {"user_id": ALICE, "amount": "5.00", "reason": "x",
                           "period_start": "2025-01-01", "period_end": "2025-01-01"},
                  "PATCH": {"status": "void"}}
        before = self.checksums()
        runs_before = self.sql("SELECT COUNT(*) FROM billing_job_runs")
        writes = 0
        for method, pattern in self.admin_routes():
            names = ["calculate-usage", "generate-invoices", "check-quotas", "dispatch-events"] \
                if "{name}" in pattern else [None]
            for name in names:
                path = pattern.replace("{id}", str(inv)).replace("{user_id}", BOB)
                if name:
                    path = path.replace("{name}", name)
                with self.subTest(endpoint="%s %s" % (method, path)):
                    resp = self.request(method, path, token=op, body=bodies.get(method))
                    if method == "GET":
                        self.assertEqual(resp[0], 200, resp[2])
                    else:
                        writes += 1
                        self.assertError(resp, 403, "forbidden")
        self.assertGreaterEqual(writes, 8, "admin writes not found in src/http/routes.c")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_job_runs"), runs_before,
                         "a job ran for an operator")
        self.assertEqual(self.checksums(), before)
        # and ?user_id= on user GETs, like an admin
        for path in ("usage?user_id=" + q(BOB), "invoices?user_id=" + q(BOB),
                     "invoices/%d" % inv):
            with self.subTest(path=path):
                status, _, body = self.request("GET", path, token=op)
                self.assertEqual(status, 200, body)
                self.assertIn(BOB, body_text(body))

    def test_admin_and_user_tokens_on_service_hooks_are_403(self):
        before = self.checksums()
        for method, pattern, access in routes():
            if access != "ACCESS_SERVICE":
                continue
            for who, tok in (("user", self.user_token(ALICE)), ("admin", self.admin_token())):
                with self.subTest(endpoint=pattern, token=who):
                    resp = self.request(method, pattern, token=tok, body={
                        "session_id": BOB_SESSION, "user_id": BOB})
                    self.assertError(resp, 403, "forbidden")
                    self.assertNoBobData(resp, pattern)
        self.assertEqual(self.checksums(), before)

    def test_service_token_reading_usage_gets_its_own_empty_usage_not_a_users(self):
        """User endpoints take any role (src/http/router.h ACCESS_USER) and answer
        for the token's sub (api_target_user): a service token ("platform")
        gets the usage of an account named "platform", which does not exist:
        zeros, no session.  Naming a user is admin-only: 403."""
        svc = self.service_token()
        status, _, body = self.request("GET", "usage", token=svc)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], "platform")
        self.assertEqual(body["active_sessions"], [])
        self.assertEqual(body["total_cost"], 0)
        self.assertTrue(all(i["quantity"] == 0 for i in body["items"]), body["items"])
        self.assertEqual(body["credits_balance"], 0)
        self.assertNoBobData((status, None, body), "service usage")
        self.assertNotIn(ALICE, body_text(body))
        for path in ("usage?user_id=" + q(BOB), "invoices?user_id=" + q(BOB),
                     "subscription?user_id=" + q(BOB), "payment-methods?user_id=" + q(BOB),
                     "invoices/%d" % self.data[BOB]["invoice"],
                     "invoices/%d/pdf" % self.data[BOB]["invoice"]):
            with self.subTest(path=path):
                self.assertDenied(self.request("GET", path, token=svc), path)
        status, _, invs = self.request("GET", "invoices", token=svc)
        self.assertEqual((status, invs), (200, {"invoices": [], "next_cursor": None}))
        # and asking created no account for it
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_accounts "
                                  "WHERE user_id = 'platform'"), [["0"]])


class ForgeryTest(SecurityCase):
    """Every forged token is refused on GET usage (user) and GET admin/users
    (admin) with 401 and WWW-Authenticate: Bearer."""

    ENDPOINTS = ("usage?user_id=" + q(BOB), "admin/users")

    def assertRefused(self, token, what):
        for path in self.ENDPOINTS:
            with self.subTest(forgery=what, path=path):
                resp = self.request("GET", path, token=token)
                self.assertError(resp, 401, "unauthenticated")
                self.assertTrue(resp[1].get("WWW-Authenticate", "").startswith("Bearer"))
                self.assertNoBobData(resp, what)

    def claims(self, **kw):
        kw.setdefault("sub", "admin@example.com")
        kw.setdefault("role", "admin")
        return claims_for(**kw)

    def secret(self):
        return self.stack.jwt_secret

    def test_the_genuine_token_is_accepted(self):
        tok = make_jwt(self.claims(), self.secret())
        for path in self.ENDPOINTS:
            self.assertEqual(self.request("GET", path, token=tok)[0], 200, path)

    def test_a_token_anywhere_but_the_authorization_header_is_ignored(self):
        tok = make_jwt(self.claims(), self.secret())
        for what, path, headers in (
                ("query access_token", "admin/users?access_token=" + tok, {}),
                ("query token", "admin/users?token=" + tok, {}),
                ("cookie", "admin/users", {"Cookie": "token=%s; jwt=%s" % (tok, tok)}),
                ("X-Access-Token", "admin/users", {"X-Access-Token": tok}),
                ("Authorization without scheme", "admin/users", {"Authorization": tok}),
                ("two tokens", "admin/users", {"Authorization": "Bearer %s Bearer %s"
                                               % (tok, tok)})):
            with self.subTest(what=what):
                self.assertError(self.request("GET", path, headers=headers), 401,
                                 "unauthenticated")

    def test_alg_none(self):
        for alg in ("none", "None", "NONE"):
            self.assertRefused(make_jwt(self.claims(), self.secret(),
                                        header={"alg": alg, "typ": "JWT"}, signature=""),
                               "alg %s, no signature" % alg)
        self.assertRefused(make_jwt(self.claims(), self.secret(),
                                    header={"alg": "none", "typ": "JWT"}),
                           "alg none with an HS256 signature")
        self.assertRefused(make_jwt(self.claims(), self.secret(), header={"typ": "JWT"}),
                           "no alg")

    def test_other_algorithms_in_the_header(self):
        self.assertRefused(make_jwt(self.claims(), self.secret(), mac_alg="HS512"),
                           "HS512 signed with the secret")
        self.assertRefused(make_jwt(self.claims(), self.secret(), mac_alg="HS384"),
                           "HS384 signed with the secret")
        self.assertRefused(make_jwt(self.claims(), self.secret(),
                                    header={"alg": "HS512", "typ": "JWT"}),
                           "HS512 header, HS256 signature")
        self.assertRefused(make_jwt(self.claims(), self.secret(),
                                    header={"alg": "RS256", "typ": "JWT"}),
                           "RS256 header, HS256 signature")
        self.assertRefused(make_jwt(self.claims(), self.secret(),
                                    header={"alg": "ES256", "typ": "JWT"}),
                           "ES256 header, HS256 signature")
        if os.path.exists(RSA_PRIV):
            header = b64url('{"alg":"RS256","typ":"JWT"}')
            si = header + "." + b64url(json.dumps(self.claims()))
            self.assertRefused(si + "." + rs256_sign(si, RSA_PRIV),
                               "a real RS256 signature, no public key configured")

    def test_key_confusion_hs256_keyed_with_the_public_key_text(self):
        if not os.path.exists(RSA_PUB):
            self.skipTest("no public key fixture")
        with open(RSA_PUB) as f:
            pem = f.read()
        for variant, key in (("PEM", pem), ("PEM without newline", pem.rstrip("\n"))):
            self.assertRefused(make_jwt(self.claims(), key), "HS256 keyed with the " + variant)
            self.assertRefused(make_jwt(self.claims(), key, header={"alg": "RS256"}),
                               "RS256 header, HMAC keyed with the " + variant)

    def test_expired_and_not_yet_valid(self):
        now = int(clock())
        self.assertRefused(make_jwt(self.claims(now=now - 3600, ttl=3600 - 120), self.secret()),
                           "expired 2 minutes ago")
        self.assertRefused(make_jwt(self.claims(now=now - 86400 * 30, ttl=60), self.secret()),
                           "expired a month ago")
        self.assertRefused(make_jwt(self.claims(nbf=now + 300), self.secret()),
                           "nbf 5 minutes ahead")
        self.assertRefused(make_jwt(self.claims(exp=None), self.secret()), "no exp")
        self.assertRefused(make_jwt(self.claims(exp=0), self.secret()), "exp 0")

    def test_bad_signatures(self):
        good = make_jwt(self.claims(), self.secret())
        h, p, s = good.split(".")
        flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
        self.assertRefused("%s.%s.%s" % (h, p, flipped), "one signature character changed")
        self.assertRefused("%s.%s." % (h, p), "signature removed")
        self.assertRefused("%s.%s.%s" % (h, p, s[:-2]), "signature truncated")
        self.assertRefused(make_jwt(self.claims(), self.secret()[:-1]), "secret minus a byte")
        self.assertRefused(make_jwt(self.claims(), self.secret() + "x"), "secret plus a byte")
        self.assertRefused(make_jwt(self.claims(), ""), "empty secret")

    def test_empty_or_missing_sub(self):
        self.assertRefused(make_jwt(self.claims(sub=""), self.secret()), "empty sub")
        self.assertRefused(make_jwt(self.claims(sub=None), self.secret()), "no sub")
        self.assertRefused(make_jwt(self.claims(sub="a" * 256), self.secret()), "sub of 256")

    def test_claims_changed_after_signing(self):
        for signed, forged, what in (
                (claims_for(ALICE, "user"), claims_for(ALICE, "admin"), "role user -> admin"),
                (claims_for(ALICE, "service"), claims_for(ALICE, "admin"),
                 "role service -> admin"),
                (claims_for(ALICE, "user"), claims_for(BOB, "user"), "sub alice -> bob"),
                (claims_for(ALICE, "user", ttl=-3600), claims_for(ALICE, "user", ttl=3600),
                 "exp pushed back")):
            tok = make_jwt(signed, self.secret())
            h, _, s = tok.split(".")
            fp = b64url(json.dumps(forged, separators=(",", ":")))
            self.assertRefused("%s.%s.%s" % (h, fp, s), what)
        # the same signed claims with the role added after signing
        tok = make_jwt(claims_for(ALICE, role=None), self.secret())
        h, p, s = tok.split(".")
        c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        c["role"] = "admin"
        self.assertRefused("%s.%s.%s" % (h, b64url(json.dumps(c, separators=(",", ":"))), s),
                           "role claim added after signing")


class PublicKeyForgeryTest(StackTestCase):
    """RS256 only (jwtPublicKeyFile, no HS256 secret): the classic key
    confusion, an HS256 token keyed with the public key's own bytes, must
    be refused, while a genuine RS256 token is accepted."""

    config_overrides = {"jwtPublicKeyFile": RSA_PUB}
    stack_env = {"BILLING_JWT_SECRET": ""}

    @classmethod
    def setUpClass(cls):
        if not (os.path.exists(RSA_PUB) and os.path.exists(RSA_PRIV)):
            raise unittest.SkipTest("no RSA fixtures in %s" % FIXTURES)
        super().setUpClass()

    def rs256(self, claims, key=RSA_PRIV, header=None):
        h = b64url(json.dumps(header or {"alg": "RS256", "typ": "JWT"}, separators=(",", ":")))
        si = h + "." + b64url(json.dumps(claims, separators=(",", ":")))
        return si + "." + rs256_sign(si, key)

    def assertRefused(self, token, what):
        for path in ("usage", "admin/users"):
            with self.subTest(forgery=what, path=path):
                self.assertError(self.request("GET", path, token=token), 401,
                                 "unauthenticated")

    def test_a_genuine_rs256_token_is_accepted(self):
        tok = self.rs256(claims_for("admin@example.com", "admin"))
        for path in ("usage", "admin/users"):
            self.assertEqual(self.request("GET", path, token=tok)[0], 200, path)

    def test_hs256_keyed_with_the_public_key_is_refused(self):
        with open(RSA_PUB, "rb") as f:
            pem = f.read()
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", RSA_PUB, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        claims = claims_for("admin@example.com", "admin")
        for variant, key in (("PEM", pem), ("PEM without newline", pem.rstrip(b"\n")),
                             ("DER", der), ("PEM body", b"".join(pem.splitlines()[1:-1]))):
            # make_jwt takes a str key: latin-1 keeps every byte as it is
            k = key.decode("latin-1")
            self.assertRefused(make_jwt(claims, k), "HS256 keyed with the " + variant)
            self.assertRefused(make_jwt(claims, k, header={"alg": "RS256", "typ": "JWT"}),
                               "RS256 header, HMAC keyed with the " + variant)

    def test_other_rsa_forgeries_are_refused(self):
        claims = claims_for("admin@example.com", "admin")
        with tempfile.TemporaryDirectory() as d:
            other = os.path.join(d, "other.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", other], capture_output=True,
                           check=True)
            self.assertRefused(self.rs256(claims, key=other), "RS256 signed with another key")
        self.assertRefused(self.rs256(claims, header={"alg": "RS512", "typ": "JWT"}),
                           "RS512 header, RS256 signature")
        self.assertRefused(self.rs256(claims, header={"alg": "PS256", "typ": "JWT"}),
                           "PS256 header, RS256 signature")
        self.assertRefused(make_jwt(claims, "", header={"alg": "none"}, signature=""),
                           "alg none")
        now = int(clock())
        self.assertRefused(self.rs256(claims_for("admin@example.com", "admin", now=now - 7200,
                                                 ttl=3600)), "expired")
        tok = self.rs256(claims_for(ALICE, "user"))
        h, _, s = tok.split(".")
        self.assertRefused("%s.%s.%s" % (h, b64url(json.dumps(claims_for(ALICE, "admin"))), s),
                           "role changed after signing")


class HostileInputTest(SecurityCase):

    def assertHarmless(self, resp, what, empty_ok=True):
        """4xx, or a 200 that carries nothing (no rows, no sessions, zeros)."""
        status, _, body = resp
        self.assertNotEqual(status, 500, "%s: 500 %r" % (what, body))
        self.assertLess(status, 500, "%s: %d %r" % (what, status, body))
        self.assertNoBobData(resp, what)
        self.assertNotIn(ALICE, body_text(body), what)
        if status < 400:
            self.assertTrue(empty_ok, "%s: %d %r" % (what, status, body))
            self.assertIsInstance(body, dict, what)
            for key in ("invoices", "payment_methods", "rows", "users", "events",
                        "active_sessions"):
                self.assertEqual(body.get(key, []), [], "%s: %r" % (what, body))
            for item in body.get("items", []):
                self.assertEqual(item["quantity"], 0, "%s: %r" % (what, body))

    def test_hostile_invoice_ids(self):
        admin, alice = self.admin_token(), self.user_token(ALICE)
        before = self.checksums()
        for value in HOSTILE:
            for enc, seg in (("quoted", q(value)), ("raw", value)):
                if enc == "raw" and (any(c in value for c in " #%?/\x00")
                                     or not value.isascii()):
                    continue   # not sendable as a raw path segment
                for method, path, tok, body in (
                        ("GET", "invoices/%s" % seg, alice, None),
                        ("GET", "invoices/%s/pdf" % seg, alice, None),
                        ("GET", "invoices/%s" % seg, admin, None),
                        ("PATCH", "admin/invoices/%s" % seg, admin, {"status": "void"}),
                        ("POST", "jobs/%s" % seg, admin, None)):
                    what = "%s %s (%s %r)" % (method, path[:60], enc, value[:30])
                    with self.subTest(what=what):
                        resp = self.request(method, path, token=tok, body=body)
                        self.assertHarmless(resp, what, empty_ok=False)
        self.assertEqual(self.checksums(), before)

    def test_hostile_user_ids_in_queries(self):
        admin, alice = self.admin_token(), self.user_token(ALICE)
        before = self.checksums()
        values = [q(v) for v in HOSTILE] + ["%00", "x%00y", "%2500", q("b" * 10000)]
        for value in values:
            for path in ("usage", "invoices", "subscription", "payment-methods",
                         "admin/reports", "admin/events"):
                for who, tok in (("admin", admin), ("alice", alice)):
                    if path.startswith("admin/") and who == "alice":
                        continue
                    what = "%s GET %s?user_id=%s" % (who, path, value[:40])
                    with self.subTest(what=what):
                        resp = self.request("GET", "%s?user_id=%s" % (path, value), token=tok)
                        self.assertHarmless(resp, what)
                        if who == "alice":
                            self.assertIn(resp[0], (400, 403, 414), what)
        self.assertEqual(self.checksums(), before)

    def test_user_ids_that_are_not_utf8_are_refused_or_answered_in_valid_json(self):
        admin = self.admin_token()
        before = self.checksums()
        bad = []
        for value in ("a%FFb", "%C0%AF", "%ED%A0%80", "a%80b"):
            for path in ("usage", "invoices", "subscription", "payment-methods",
                         "admin/reports", "admin/events"):
                status, headers, raw = self.request_raw("GET", "%s?user_id=%s" % (path, value),
                                                        admin)
                self.assertLess(status, 500, (path, value, raw[:200]))
                try:
                    json.loads(raw.decode("utf-8"))
                except ValueError:
                    bad.append("%s?user_id=%s -> %d %r" % (path, value, status, raw[:40]))
        self.assertEqual(self.checksums(), before)
        self.assertEqual(bad, [], "answers that are not UTF-8 JSON")

    def request_raw(self, method, path, token):
        """(status, headers, body bytes), without decoding."""
        req = urllib.request.Request(self.stack.api + path, method=method,
                                     headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def test_hostile_values_in_other_query_parameters(self):
        """An admin's filters and cursors: 4xx or an answer, never 500 (an
        admin may see every account, so the body is not checked here)."""
        admin = self.admin_token()
        before = self.checksums()
        for value in [q(v) for v in HOSTILE] + ["%00", "%FF"]:
            for path in ("invoices?status=", "invoices?cursor=", "invoices?limit=",
                         "admin/users?cursor=", "admin/users?status=", "admin/users?limit=",
                         "admin/events?type=", "admin/events?status=",
                         "admin/reports?group_by=", "admin/reports?format=",
                         "admin/reports?from=", "usage?from=", "usage?to="):
                what = "GET %s%s" % (path, value[:40])
                with self.subTest(what=what):
                    status, _, raw = self.request_raw("GET", path + value, admin)
                    self.assertLess(status, 500, "%s: %d %r" % (what, status, raw[:200]))
        self.assertEqual(self.checksums(), before)

    def test_hostile_ids_in_bodies(self):
        """Ids in JSON bodies: unknown sessions, users and plans are 4xx and
        nothing is written."""
        admin, svc, alice = self.admin_token(), self.service_token(), self.user_token(ALICE)
        before = self.checksums()
        stripe_before = len(self.standin.requests(method="POST"))
        values = HOSTILE + ["a\x00b", "\x01", "\ud7ff", "b" * 256]
        for value in values:
            for path, tok, body in (
                    ("hooks/session-heartbeat", svc, {"session_id": value}),
                    ("hooks/session-terminated", svc, {"session_id": value}),
                    ("admin/invoices", admin, {"user_id": value, "period_start": "2025-01-01",
                                               "period_end": "2025-01-02"}),
                    ("subscription", alice, {"plan_id": value}),
                    ("create-checkout", alice, {"plan_id": value})):
                what = "POST %s %r" % (path, value[:30])
                with self.subTest(what=what):
                    resp = self.request("POST", path, token=tok, body=body)
                    self.assertHarmless(resp, what, empty_ok=False)
        self.assertEqual(self.checksums(), before)
        self.assertEqual(len(self.standin.requests(method="POST")), stripe_before)


class HeadersTest(SecurityCase):

    def assertSafeHeaders(self, resp, what, billingd=True):
        status, headers, body = resp
        server = headers.get("Server")
        if server is not None:
            self.assertNotRegex(server, r"\d", "%s: Server %r tells a version" % (what, server))
            self.assertNotIn("billingd", server.lower(), what)
        self.assertIsNone(headers.get("X-Powered-By"), what)
        self.assertIn("no-store", headers.get("Cache-Control", ""),
                      "%s (%d): Cache-Control %r" % (what, status, headers.get("Cache-Control")))
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff",
                         "%s (%d)" % (what, status))
        if billingd:
            self.assertTrue(headers.get("X-Request-Id"), what)
        # one of each, not two (billingd's and nginx's)
        for h in ("Cache-Control", "X-Content-Type-Options", "Server"):
            self.assertLessEqual(len(headers.get_all(h) or []), 1, "%s: two %s" % (what, h))

    def test_api_answers_carry_the_safe_headers(self):
        admin, alice = self.admin_token(), self.user_token(ALICE)
        inv = self.data[ALICE]["invoice"]
        cases = [
            ("health", "GET", "health", None, None),
            ("usage 200", "GET", "usage", alice, None),
            ("invoice 200", "GET", "invoices/%d" % inv, alice, None),
            ("pdf 200", "GET", "invoices/%d/pdf" % inv, alice, None),
            ("csv 200", "GET", "admin/reports?format=csv", admin, None),
            ("admin users 200", "GET", "admin/users", admin, None),
            ("401", "GET", "usage", None, None),
            ("403", "GET", "admin/users", alice, None),
            ("404 object", "GET", "invoices/999999", alice, None),
            ("404 route", "GET", "no-such-endpoint", None, None),
            ("405", "DELETE", "usage", alice, None),
            ("400", "GET", "usage?from=yesterday", alice, None),
            ("415", "POST", "admin/credits", admin, None),
        ]
        for what, method, path, tok, body in cases:
            with self.subTest(what=what):
                if what == "415":
                    resp = self.request(method, path, token=tok, raw=b"x",
                                        content_type="text/plain")
                else:
                    resp = self.request(method, path, token=tok, body=body)
                self.assertSafeHeaders(resp, what)

    def test_503_with_the_database_down_carries_the_safe_headers(self):
        self.stack.mariadb.stop()
        try:
            for path, tok in (("health", None), ("usage", self.user_token(ALICE))):
                resp = self.request("GET", path, token=tok)
                self.assertEqual(resp[0], 503, resp[2])
                self.assertSafeHeaders(resp, "503 " + path)
        finally:
            self.stack.mariadb.start()

    def test_nginx_own_413_carries_the_safe_headers(self):
        resp = self.request("POST", "admin/credits", token=self.admin_token(),
                            raw=b"{" + b" " * (200 * 1024) + b"}")
        self.assertEqual(resp[0], 413, resp[2])
        self.assertSafeHeaders(resp, "nginx 413", billingd=False)
