"""StreamSpace's own tokens through nginx (docs/api.md, "Tokens"), as its
api/internal/auth makes them: HS256, iss "streamspace-api", user_id (a
UUID), username, email, role (user, admin, operator), groups, jti, sub = the
UUID, iat, nbf, exp 24 h later.

- With jwtUserClaims ["username", "sub"] and jwtIssuer "streamspace-api" the
  user is the username: a user sees their own usage (the sessions the
  platform reported under that username) and not the UUID's; a token
  without username is the UUID's (sub, the next claim); a token with
  neither is 401, and so is a present but bad username (it never falls
  through to sub); a wrong or missing issuer is 401.
- The operator reads what an admin reads (every admin GET, ?user_id= on user
  GETs) and writes nothing: every admin write is 403 and changes nothing.
- The default config (no jwtUserClaims, no jwtIssuer) is as before: sub
  names the user, iss is not looked at; the operator role works there too.
- The dev stack (scripts/run) sets jwtUserClaims ["username", "sub"], the
  test stacks do not; the StreamSpace token it prints works; its
  STREAMSPACE_WEBHOOK_SECRET is in var/dev.env and billingd's environment.
"""

import json
import os
import tempfile
import time
import uuid

from base import StackTestCase, claims_for, clock, make_jwt, stack

ISSUER = "streamspace-api"
SESSION = "alice-firefox-1a2b3c4d"


def streamspace_claims(who, role="user", **over):
    """The claims of who's StreamSpace token; a value of None in over drops one."""
    now = int(clock())
    user_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, who + ".streamspace"))
    c = {"user_id": user_id, "username": who, "email": who + "@example.com",
         "role": role, "groups": ["g-engineering"], "jti": str(uuid.uuid4()),
         "iss": ISSUER, "sub": user_id, "iat": now - 5, "nbf": now - 5,
         "exp": now - 5 + 86400}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


class StreamSpaceCase(StackTestCase):

    config_overrides = {"jwtUserClaims": ["username", "sub"], "jwtIssuer": ISSUER}

    def ss_token(self, who, role="user", **over):
        return make_jwt(streamspace_claims(who, role, **over), self.stack.jwt_secret)

    def uuid_of(self, who):
        return streamspace_claims(who)["sub"]

    def platform_token(self):
        """Our own service token, which must carry the issuer too now."""
        return self.stack.token("platform", "service", iss=ISSUER)

    @classmethod
    def setUpStack(cls):
        t = cls()
        svc = t.platform_token()
        start = int(clock()) - 3 * 3600
        for hook, body in (
                ("user-created", {"user_id": "alice", "email": "alice@example.com"}),
                ("session-created", {"session_id": SESSION, "user_id": "alice",
                                     "cpu_cores": 2, "memory_gb": 4, "storage_gb": 0,
                                     "started_at": t.rfc3339(start)})):
            status, _, resp = t.request("POST", "hooks/" + hook, body=body, token=svc)
            assert status in (200, 201), (hook, resp)

    @staticmethod
    def rfc3339(t):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    def sql(self, text):
        return self.stack.mariadb.sql(text, database=self.stack.db_name)

    def checksums(self):
        tables = [r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '%s' "
            "ORDER BY table_name" % self.stack.db_name)]
        return self.sql("CHECKSUM TABLE " + ", ".join("`%s`" % t for t in tables))


class UserClaimsTest(StreamSpaceCase):

    def test_the_user_is_the_username_and_sees_their_own_usage(self):
        tok = self.ss_token("alice")
        status, _, body = self.request("GET", "usage", token=tok)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], "alice")
        self.assertEqual([s["session_id"] for s in body["active_sessions"]], [SESSION])
        # naming oneself is fine; the UUID is someone else to billing
        status, _, body = self.request("GET", "usage?user_id=alice", token=tok)
        self.assertEqual((status, body["user_id"]), (200, "alice"))
        self.assertError(self.request("GET", "usage?user_id=" + self.uuid_of("alice"),
                                      token=tok), 403, "forbidden")

    def test_a_token_without_username_is_its_sub(self):
        tok = self.ss_token("alice", username=None)
        status, _, body = self.request("GET", "usage", token=tok)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], self.uuid_of("alice"))
        self.assertEqual(body["active_sessions"], [])

    def test_a_token_with_neither_claim_is_401(self):
        tok = self.ss_token("alice", username=None, sub=None)
        resp = self.request("GET", "usage", token=tok)
        self.assertError(resp, 401, "unauthenticated")
        self.assertTrue(resp[1].get("WWW-Authenticate", "").startswith("Bearer"))

    def test_a_present_but_bad_username_is_401_not_its_sub(self):
        for bad in ("", 42, ["alice"], None, "ali\nce", "x" * 256):
            with self.subTest(username=bad):
                claims = streamspace_claims("alice")
                claims["username"] = bad   # None: JSON null, present
                tok = make_jwt(claims, self.stack.jwt_secret)
                self.assertError(self.request("GET", "usage", token=tok), 401,
                                 "unauthenticated")

    def test_a_wrong_or_missing_issuer_is_401(self):
        for iss in ("streamspace", "streamspace-api ", "StreamSpace-API", "evil", 1, None):
            with self.subTest(iss=iss):
                if iss is None:
                    claims = streamspace_claims("alice")
                    del claims["iss"]
                else:
                    claims = streamspace_claims("alice", iss=iss)
                tok = make_jwt(claims, self.stack.jwt_secret)
                self.assertError(self.request("GET", "usage", token=tok), 401,
                                 "unauthenticated")
        # our own tokens without iss too, whatever their role
        for role in ("user", "admin", "service"):
            with self.subTest(own_token=role):
                self.assertError(self.request("GET", "usage",
                                              token=self.stack.token("alice", role)),
                                 401, "unauthenticated")

    def test_an_expired_streamspace_token_is_401(self):
        now = int(clock())
        tok = self.ss_token("alice", iat=now - 90000, nbf=now - 90000, exp=now - 3600)
        self.assertError(self.request("GET", "usage", token=tok), 401, "unauthenticated")

    def test_the_platform_token_with_the_issuer_reports_usage(self):
        """Hooks keep working for a service token that carries the issuer."""
        status, _, body = self.request("POST", "hooks/session-heartbeat",
                                       body={"session_id": SESSION},
                                       token=self.platform_token())
        self.assertEqual(status, 200, body)

    def test_an_admin_streamspace_token_writes_as_its_username(self):
        admin = self.ss_token("root", "admin")
        status, _, body = self.request("POST", "admin/credits", token=admin,
                                       body={"user_id": "alice", "amount": "1.00",
                                             "reason": "streamspace admin"})
        self.assertEqual(status, 201, body)
        self.assertEqual(self.sql("SELECT created_by FROM billing_credits "
                                  "WHERE reason = 'streamspace admin'"), [["root"]])


class OperatorTest(StreamSpaceCase):

    @classmethod
    def setUpStack(cls):
        super().setUpStack()
        t = cls()
        admin = t.ss_token("root", "admin")
        day = t.rfc3339(int(clock()) - 86400)[:10]
        status, _, inv = t.request("POST", "admin/invoices", token=admin,
                                   body={"user_id": "alice", "period_start": day,
                                         "period_end": day})
        assert status == 201, inv
        cls.invoice = inv["id"]

    def test_the_operator_reads_every_admin_get(self):
        op = self.ss_token("olga", "operator")
        day = self.rfc3339(int(clock()))[:10]
        for path in ("admin/users", "admin/reports?from=%s&to=%s" % (day, day),
                     "admin/reports?format=csv", "admin/events", "jobs/status",
                     "invoices?user_id=alice", "invoices/%d" % self.invoice,
                     "usage?user_id=alice", "subscription?user_id=alice"):
            with self.subTest(path=path):
                status, _, body = self.request("GET", path, token=op)
                self.assertEqual(status, 200, body)
        _, _, users = self.request("GET", "admin/users", token=op)
        self.assertIn("alice", str(users))
        _, _, invs = self.request("GET", "invoices?user_id=alice", token=op)
        self.assertEqual([i["id"] for i in invs["invoices"]], [self.invoice])
        _, _, usage = self.request("GET", "usage?user_id=alice", token=op)
        self.assertEqual([s["session_id"] for s in usage["active_sessions"]], [SESSION])

    def test_the_operator_writes_nothing(self):
        op = self.ss_token("olga", "operator")
        before = self.checksums()
        runs = self.sql("SELECT COUNT(*) FROM billing_job_runs")
        for method, path, body in (
                ("POST", "admin/credits", {"user_id": "alice", "amount": "5.00",
                                           "reason": "operator"}),
                ("POST", "credits", {"user_id": "alice", "amount": "5.00",
                                     "reason": "operator"}),
                ("POST", "admin/invoices", {"user_id": "alice", "period_start": "2020-01-01",
                                            "period_end": "2020-01-31"}),
                ("POST", "invoices", {"user_id": "alice", "period_start": "2020-01-01",
                                      "period_end": "2020-01-31"}),
                ("PATCH", "admin/invoices/%d" % self.invoice, {"status": "void"}),
                ("POST", "jobs/calculate-usage", None),
                ("POST", "jobs/check-quotas", None),
                ("POST", "jobs/generate-invoices", None),
                ("POST", "hooks/session-terminated", {"session_id": SESSION})):
            with self.subTest(endpoint="%s %s" % (method, path)):
                self.assertError(self.request(method, path, token=op, body=body), 403,
                                 "forbidden")
        self.assertEqual(self.sql("SELECT COUNT(*) FROM billing_job_runs"), runs)
        self.assertEqual(self.checksums(), before, "a refused operator request changed data")

    def test_the_same_writes_as_admin_are_allowed(self):
        """The control: an admin's PATCH on the same invoice passes the role check."""
        admin = self.ss_token("root", "admin")
        status, _, body = self.request("PATCH", "admin/invoices/999999", token=admin,
                                       body={"status": "void"})
        self.assertEqual(status, 404, body)


class DefaultConfigTest(StackTestCase):
    """No jwtUserClaims, no jwtIssuer: sub names the user, as before."""

    def test_a_streamspace_token_is_its_sub_without_the_setting(self):
        claims = streamspace_claims("alice")
        tok = make_jwt(claims, self.stack.jwt_secret)
        status, _, body = self.request("GET", "usage", token=tok)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], claims["sub"])

    def test_username_alone_is_not_enough_without_the_setting(self):
        tok = make_jwt(streamspace_claims("alice", sub=None), self.stack.jwt_secret)
        self.assertError(self.request("GET", "usage", token=tok), 401, "unauthenticated")

    def test_iss_is_not_checked_without_the_setting(self):
        for iss in ("anyone", None):
            with self.subTest(iss=iss):
                tok = make_jwt(claims_for("alice@example.com", iss=iss),
                               self.stack.jwt_secret)
                status, _, body = self.request("GET", "usage", token=tok)
                self.assertEqual((status, body["user_id"]), (200, "alice@example.com"))

    def test_the_operator_role_is_known_without_the_setting(self):
        op = self.stack.token("olga@example.com", "operator")
        self.assertEqual(self.request("GET", "admin/users", token=op)[0], 200)
        self.assertError(self.request("POST", "admin/credits", token=op,
                                      body={"user_id": "x", "amount": "1", "reason": "r"}),
                         403, "forbidden")


class DevStackTest(StackTestCase):
    """The dev stack of scripts/run (scripts/stack.py serve): its config adds
    jwtUserClaims ["username", "sub"] (the test stacks keep "sub"), and
    STREAMSPACE_WEBHOOK_SECRET is in var/dev.env and billingd's environment."""

    config_overrides = stack.dev_config_overrides()

    def test_the_dev_config_names_users_by_username_and_tests_do_not(self):
        self.assertEqual(self.config_overrides["jwtUserClaims"], ["username", "sub"])
        self.assertEqual(set(self.config_overrides),
                         {"jwtUserClaims", "taxRates", "invoiceIssuer"})
        with tempfile.TemporaryDirectory() as d:
            self.assertNotIn("jwtUserClaims", stack.Stack(d).config())
            self.assertNotIn("jwtIssuer", stack.Stack(d).config())
            self.assertNotIn("taxRates", stack.Stack(d).config())

    def test_the_dev_config_has_the_vat20_rate_unused_and_an_issuer(self):
        """CONTRACT.md section 6: one rate, which no account pays until an
        admin gives it one, and the issuer."""
        self.assertEqual(self.config_overrides["taxRates"], [
            {"id": "vat20", "name": "VAT", "percent": 20, "inclusive": False}])
        self.assertNotIn("defaultTaxRate", self.config_overrides)
        self.assertEqual(self.config_overrides["invoiceIssuer"]["name"],
                         "StreamSpace Demo Ltd")
        status, _, _ = self.request("POST", "hooks/user-created",
                                    body={"user_id": "dev-tax"},
                                    token=self.service_token())
        self.assertEqual(status, 201)
        status, _, body = self.request("GET", "admin/users/dev-tax",
                                       token=self.admin_token())
        self.assertEqual(status, 200, body)
        self.assertEqual((body["tax_rate_id"], body["tax_rate"]), (None, None))
        status, _, body = self.request("PATCH", "admin/users/dev-tax",
                                       body={"tax_rate_id": "vat20"},
                                       token=self.admin_token())
        self.assertEqual(status, 200, body)
        self.assertEqual(body["tax_rate"]["percent"], 20)

    def test_the_printed_streamspace_token_works_on_both_mounts(self):
        tok = stack.streamspace_token(self.stack.jwt_secret, "demo")
        for mount in ("/api/plugins/billing/", "/api/plugins/streamspace-billing/"):
            with self.subTest(mount=mount):
                status, _, body = self.request("GET", self.url(mount + "usage"), token=tok)
                self.assertEqual((status, body.get("user_id")), (200, "demo"), body)
        # the printed admin and service tokens (sub only) still work
        self.assertEqual(self.request("GET", "jobs/status", token=self.admin_token())[0], 200)
        status, _, body = self.request("POST", "hooks/user-created", token=self.service_token(),
                                       body={"user_id": "demo"})
        self.assertIn(status, (200, 201), body)

    def test_dev_env_and_billingd_hold_the_streamspace_webhook_secret(self):
        path = stack.write_dev_env(self.stack)
        with open(path) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f
                       if "=" in line and not line.startswith("#"))
        secret = env.get("STREAMSPACE_WEBHOOK_SECRET", "")
        self.assertRegex(secret, r"^[0-9a-f]{64}$")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open("/proc/%d/environ" % self.stack.billingd.pid, "rb") as f:
            billingd_env = f.read().split(b"\0")
        self.assertIn(("STREAMSPACE_WEBHOOK_SECRET=" + secret).encode(), billingd_env)

    def test_an_older_secrets_file_gains_the_new_secret_and_keeps_the_rest(self):
        with tempfile.TemporaryDirectory() as d:
            old = {"jwt_secret": "j" * 64, "stripe_webhook_secret": "whsec_x",
                   "db_password": "p", "events_webhook_secret": "e"}
            with open(os.path.join(d, "secrets.json"), "w") as f:
                json.dump(old, f)
            s = stack.Stack(d)._secrets()
            self.assertEqual({k: s[k] for k in old}, old)
            self.assertRegex(s["streamspace_webhook_secret"], r"^[0-9a-f]{64}$")
            # and it is kept from then on
            self.assertEqual(stack.Stack(d)._secrets(), s)
