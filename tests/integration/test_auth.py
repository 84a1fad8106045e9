"""Authentication and roles (docs/api.md, "Authentication"), through nginx.

Every refused token is tried against an admin endpoint (GET jobs/status) and
a POST one (POST jobs/calculate-usage): both must answer 401 unauthenticated
with WWW-Authenticate: Bearer, before any handler runs.  billingd runs with
BILLING_DEBUG=1 so that the last test also proves that debug logging never
writes a token or the secret.
"""

import os
import time
import unittest

from base import ROOT, StackTestCase, b64url, claims_for, clock, make_jwt, rs256_sign

ENDPOINTS = (("GET", "jobs/status"), ("POST", "jobs/calculate-usage"))
RSA_KEY = os.path.join(ROOT, "tests", "unit", "fixtures", "rsa_priv.pem")


class AuthTest(StackTestCase):
    stack_env = {"BILLING_DEBUG": "1"}

    @classmethod
    def setUpStack(cls):
        cls.sent_tokens = []

    # -- helpers --------------------------------------------------------------

    def send(self, method, path, token=None, authorization=None):
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
            self.sent_tokens.append(authorization.split(" ", 1)[-1])
        if token is not None:
            self.sent_tokens.append(token)
        return self.request(method, path, token=token, headers=headers)

    def assertUnauthenticated(self, token=None, authorization=None):
        for method, path in ENDPOINTS:
            with self.subTest(endpoint="%s %s" % (method, path)):
                resp = self.send(method, path, token=token, authorization=authorization)
                self.assertError(resp, 401, "unauthenticated")
                www = resp[1].get("WWW-Authenticate", "")
                self.assertTrue(www.startswith("Bearer"),
                                "WWW-Authenticate is %r" % www)

    def assertAccepted(self, token):
        """Authenticated as admin: jobs/status answers 200 and the POST is
        not refused by authentication or authorization."""
        resp = self.send("GET", "jobs/status", token=token)
        self.assertEqual(resp[0], 200, resp[2])
        resp = self.send("POST", "jobs/calculate-usage", token=token)
        self.assertNotIn(resp[0], (401, 403), resp[2])
        self.assertRequestId(resp)

    def assertForbidden(self, token, method, path):
        resp = self.send(method, path, token=token)
        self.assertError(resp, 403, "forbidden")
        self.assertNotIn("WWW-Authenticate", resp[1])

    def secret(self):
        return self.stack.jwt_secret

    def admin_claims(self, **kw):
        kw.setdefault("sub", "admin@example.com")
        kw.setdefault("role", "admin")
        return claims_for(**kw)

    # -- missing or malformed credentials ------------------------------------

    def test_no_authorization_header_is_401_with_www_authenticate_bearer(self):
        self.assertUnauthenticated()

    def test_basic_scheme_is_401(self):
        self.assertUnauthenticated(authorization="Basic YWRtaW46c2VjcmV0")

    def test_bearer_without_token_is_401(self):
        self.assertUnauthenticated(authorization="Bearer ")

    def test_garbage_token_abc_is_401(self):
        self.assertUnauthenticated(token="abc")

    def test_token_with_four_parts_is_401(self):
        good = make_jwt(self.admin_claims(), self.secret())
        self.assertUnauthenticated(token=good + ".x")

    def test_token_with_base64_padding_is_401(self):
        good = make_jwt(self.admin_claims(), self.secret())
        h, p, s = good.split(".")
        self.assertUnauthenticated(token="%s==.%s.%s" % (h, p, s))

    # -- algorithms -----------------------------------------------------------

    def test_alg_none_with_empty_signature_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(),
                       header={"alg": "none", "typ": "JWT"}, signature="")
        self.assertTrue(tok.endswith("."))
        self.assertUnauthenticated(token=tok)

    def test_alg_none_with_a_signature_is_401(self):
        # the HS256 MAC of the (alg none) signing input, with the right secret
        tok = make_jwt(self.admin_claims(), self.secret(),
                       header={"alg": "none", "typ": "JWT"})
        self.assertUnauthenticated(token=tok)

    def test_alg_none_in_other_spellings_is_401(self):
        for alg in ("None", "NONE", "nOnE"):
            with self.subTest(alg=alg):
                tok = make_jwt(self.admin_claims(), self.secret(),
                               header={"alg": alg}, signature="")
                self.assertUnauthenticated(token=tok)

    def test_hs384_signed_with_the_right_secret_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(), mac_alg="HS384")
        self.assertUnauthenticated(token=tok)

    def test_hs512_signed_with_the_right_secret_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(), mac_alg="HS512")
        self.assertUnauthenticated(token=tok)

    def test_lowercase_hs256_label_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(), header={"alg": "hs256"})
        self.assertUnauthenticated(token=tok)

    def test_rs256_label_with_an_hmac_signature_is_401(self):
        # the classic confusion: RS256 header, MAC keyed with the secret
        tok = make_jwt(self.admin_claims(), self.secret(),
                       header={"alg": "RS256", "typ": "JWT"})
        self.assertUnauthenticated(token=tok)

    def test_rs256_token_with_a_real_rsa_signature_is_401_when_only_hs256_is_configured(self):
        if not os.path.exists(RSA_KEY):
            self.skipTest("no RSA fixture at %s" % RSA_KEY)
        header = b64url('{"alg":"RS256","typ":"JWT"}')
        payload = b64url(__import__("json").dumps(self.admin_claims()))
        signing_input = header + "." + payload
        tok = signing_input + "." + rs256_sign(signing_input, RSA_KEY)
        self.assertUnauthenticated(token=tok)

    def test_typ_other_than_jwt_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(),
                       header={"alg": "HS256", "typ": "at+jwt"})
        self.assertUnauthenticated(token=tok)

    def test_crit_header_is_401(self):
        tok = make_jwt(self.admin_claims(), self.secret(),
                       header={"alg": "HS256", "crit": ["exp"]})
        self.assertUnauthenticated(token=tok)

    # -- signatures -----------------------------------------------------------

    def test_signed_with_another_secret_is_401(self):
        tok = make_jwt(self.admin_claims(), "another-secret-" + "x" * 40)
        self.assertUnauthenticated(token=tok)

    def test_one_flipped_character_in_the_signature_is_401(self):
        good = make_jwt(self.admin_claims(), self.secret())
        h, p, s = good.split(".")
        i = len(s) // 2
        flipped = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
        self.assertUnauthenticated(token="%s.%s.%s" % (h, p, flipped))

    def test_truncated_signature_is_401(self):
        good = make_jwt(self.admin_claims(), self.secret())
        self.assertUnauthenticated(token=good[:-4])

    def test_payload_changed_after_signing_is_401(self):
        user = make_jwt(claims_for("mallory@example.com", "user"), self.secret())
        h, _, s = user.split(".")
        forged = b64url(__import__("json").dumps(
            claims_for("mallory@example.com", "admin"), separators=(",", ":")))
        self.assertUnauthenticated(token="%s.%s.%s" % (h, forged, s))

    # -- time claims ----------------------------------------------------------

    def test_expired_two_minutes_ago_is_401(self):
        now = int(clock())
        tok = make_jwt(self.admin_claims(now=now - 3600, ttl=3600 - 120), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_expired_30_seconds_ago_is_accepted_within_the_60_s_leeway(self):
        now = int(clock())
        tok = make_jwt(self.admin_claims(now=now - 3600, ttl=3600 - 30), self.secret())
        self.assertAccepted(tok)

    def test_nbf_five_minutes_ahead_is_401(self):
        now = int(clock())
        tok = make_jwt(self.admin_claims(nbf=now + 300), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_nbf_30_seconds_ahead_is_accepted_within_the_leeway(self):
        now = int(clock())
        tok = make_jwt(self.admin_claims(nbf=now + 30), self.secret())
        self.assertAccepted(tok)

    def test_iat_far_in_the_future_is_401(self):
        now = int(clock())
        tok = make_jwt(self.admin_claims(now=now, iat=now + 3600, exp=now + 7200),
                       self.secret())
        self.assertUnauthenticated(token=tok)

    def test_no_exp_is_401(self):
        tok = make_jwt(self.admin_claims(exp=None), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_exp_as_a_string_is_401(self):
        tok = make_jwt(self.admin_claims(exp=str(int(clock()) + 3600)), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_exp_as_null_or_boolean_is_401(self):
        for exp in (True, "null"):
            with self.subTest(exp=exp):
                c = self.admin_claims()
                if exp == "null":
                    c["exp"] = None
                else:
                    c["exp"] = exp
                self.assertUnauthenticated(token=make_jwt(c, self.secret()))

    # -- subject and role -----------------------------------------------------

    def test_no_sub_is_401(self):
        tok = make_jwt(self.admin_claims(sub=None), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_empty_sub_is_401(self):
        tok = make_jwt(self.admin_claims(sub=""), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_sub_that_is_not_a_string_is_401(self):
        tok = make_jwt(self.admin_claims(sub=42), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_sub_with_a_control_character_is_401(self):
        tok = make_jwt(self.admin_claims(sub="admin@example.com\nforged log line"),
                       self.secret())
        self.assertUnauthenticated(token=tok)

    def test_unknown_role_superuser_is_401(self):
        tok = make_jwt(self.admin_claims(role="superuser"), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_role_in_another_case_is_401(self):
        tok = make_jwt(self.admin_claims(role="Admin"), self.secret())
        self.assertUnauthenticated(token=tok)

    def test_payload_that_is_not_a_json_object_is_401(self):
        tok = make_jwt("[1,2,3]", self.secret())
        self.assertUnauthenticated(token=tok)

    # -- size -----------------------------------------------------------------

    def test_token_of_7_kb_is_401(self):
        # below nginx's 8 KiB header buffer: billingd itself refuses it
        c = self.admin_claims(pad="x" * 5000)
        tok = make_jwt(c, "another-secret-" + "x" * 40)
        self.assertGreater(len(tok), 6500)
        self.assertUnauthenticated(token=tok)

    def test_token_of_10_kb_is_401(self):
        tok = make_jwt(self.admin_claims(pad="x" * 7600), self.secret())
        self.assertGreaterEqual(len(tok), 10 * 1024)
        self.assertUnauthenticated(token=tok)

    # -- roles ----------------------------------------------------------------

    def test_user_token_on_admin_endpoints_is_403_forbidden(self):
        tok = self.user_token()
        self.sent_tokens.append(tok)
        for method, path in (("GET", "jobs/status"), ("GET", "admin/users"),
                             ("POST", "admin/credits"), ("POST", "jobs/calculate-usage")):
            with self.subTest(endpoint="%s %s" % (method, path)):
                self.assertForbidden(tok, method, path)

    def test_service_token_on_admin_endpoints_is_403_forbidden(self):
        tok = self.service_token()
        for method, path in (("GET", "jobs/status"), ("GET", "admin/users"),
                             ("POST", "admin/credits")):
            with self.subTest(endpoint="%s %s" % (method, path)):
                self.assertForbidden(tok, method, path)

    def test_user_token_on_service_hook_session_created_is_403(self):
        self.assertForbidden(self.user_token(), "POST", "hooks/session-created")

    def test_admin_token_on_service_hook_is_403(self):
        self.assertForbidden(self.admin_token(), "POST", "hooks/session-created")

    def test_token_without_role_is_a_user_403_on_admin_endpoint_not_401(self):
        tok = make_jwt(claims_for("bob@example.com", role=None), self.secret())
        self.assertForbidden(tok, "GET", "jobs/status")
        resp = self.send("GET", "usage", token=tok)
        self.assertNotIn(resp[0], (401, 403), resp[2])

    def test_admin_token_on_jobs_status_is_200_with_the_four_jobs(self):
        status, headers, body = self.send("GET", "jobs/status", token=self.admin_token())
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        self.assertTrue(headers.get("X-Request-Id"))
        self.assertIsInstance(body.get("jobs"), list)
        self.assertEqual(len(body["jobs"]), 4, body)
        for job in body["jobs"]:
            for key in ("name", "schedule", "last_run"):
                self.assertIn(key, job, job)
            self.assertIsInstance(job["name"], str)
            self.assertEqual(len(job["schedule"].split()), 5, job)
        self.assertEqual({j["name"] for j in body["jobs"]},
                         {"calculate-usage", "check-quotas", "generate-invoices",
                          "dispatch-events"})

    def test_bearer_scheme_is_case_insensitive(self):
        tok = self.admin_token()
        resp = self.send("GET", "jobs/status", authorization="bearer " + tok)
        self.assertEqual(resp[0], 200, resp[2])

    def test_health_needs_no_token_and_ignores_a_bad_one(self):
        self.assertEqual(self.send("GET", "health")[0], 200)
        self.assertEqual(self.send("GET", "health", token="abc")[0], 200)

    # -- last: what reached the log ------------------------------------------

    def test_zz_log_never_contains_a_token_or_the_jwt_secret(self):
        # runs last (unittest sorts by name): every token the suite sent,
        # plus a refused and an accepted one of its own
        bad = make_jwt(self.admin_claims(), "another-secret-" + "y" * 40)
        self.assertEqual(self.send("GET", "jobs/status", token=bad)[0], 401)
        self.assertEqual(self.send("GET", "jobs/status", token=self.admin_token())[0], 200)
        self.assertEqual(self.send("GET", "health")[0], 200)
        log = self.log_text()
        self.assertIn("token refused", log)  # debug logging was on
        self.assertIn("req=", log)  # the access log is there
        self.assertNotIn(self.secret(), log)
        self.assertGreaterEqual(len(self.sent_tokens), 2)
        for tok in set(self.sent_tokens):
            if len(tok) < 8:
                continue  # "abc", "": too short to mean anything
            self.assertNotIn(tok, log)
            parts = tok.split(".")
            if len(parts) == 3 and len(parts[2]) >= 20:
                self.assertNotIn(parts[2], log, "a token signature is in the log")
