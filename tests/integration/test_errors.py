"""Every error the serving core gives (docs/api.md, "Errors"),
through nginx: the JSON shape {"error": {"code", "message"}}, the status,
Content-Type application/json and X-Request-Id.  No request here may crash a
worker: the last test checks that the worker pids never changed.
"""

import http.client
import json

from base import API_PREFIX, SAFE_REQUEST_ID, StackTestCase


class ErrorsTest(StackTestCase):

    @classmethod
    def setUpStack(cls):
        cls.pids_at_start = cls.stack.worker_pids()

    def admin(self):
        return self.admin_token()

    def post_raw(self, path, body, content_type="application/json", token=None,
                 chunked=False):
        """A POST with http.client: the body as bytes (or in chunks), the
        answer's bytes undecoded.  Returns (status, headers, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=30)
        headers = {"Authorization": "Bearer " + (token or self.admin())}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            if chunked:
                chunks = [body[i:i + 8192] for i in range(0, len(body), 8192)]
                conn.request("POST", self.stack.api.replace(self.stack.base_url, "") + path,
                             body=iter(chunks), headers=headers, encode_chunked=True)
            else:
                conn.request("POST", self.stack.api.replace(self.stack.base_url, "") + path,
                             body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()

    def assertAllow(self, resp, methods):
        self.assertError(resp, 405, "method_not_allowed")
        allow = resp[1].get("Allow")
        self.assertTrue(allow, "405 without an Allow header")
        self.assertEqual(sorted(m.strip() for m in allow.split(",")), sorted(methods))

    # -- 404 ------------------------------------------------------------------

    def test_unknown_path_under_the_prefix_is_404_not_found(self):
        self.assertError(self.request("GET", "nope"), 404, "not_found")
        self.assertError(self.request("GET", "admin/nope", token=self.admin()),
                         404, "not_found")

    def test_the_prefix_itself_and_a_trailing_slash_are_404(self):
        self.assertError(self.request("GET", ""), 404, "not_found")
        self.assertError(self.request("GET", "health/"), 404, "not_found")

    def test_path_outside_the_prefix_is_404_json_from_nginx(self):
        self.assertErrorShape(self.request("GET", self.url("/other/path")), 404, "not_found")
        self.assertErrorShape(self.request("GET", self.url("/api/plugins/other/health")),
                              404, "not_found")

    def test_path_outside_the_prefix_404_carries_x_request_id(self):
        self.assertError(self.request("GET", self.url("/other/path")), 404, "not_found")

    def test_overlong_path_is_404(self):
        self.assertError(self.request("GET", "a" * 2000), 404, "not_found")

    def test_overlong_path_parameter_is_404(self):
        self.assertError(self.request("GET", "invoices/" + "1" * 200, token=self.user_token()),
                         404, "not_found")

    def test_unknown_job_name_is_404(self):
        err = self.assertError(self.request("POST", "jobs/nope", token=self.admin()),
                               404, "not_found")
        self.assertEqual(err.get("param"), "name")

    # -- 405 ------------------------------------------------------------------

    def test_delete_health_is_405_with_allow_get(self):
        self.assertAllow(self.request("DELETE", "health"), ["GET"])

    def test_post_health_is_405_with_allow_get(self):
        self.assertAllow(self.request("POST", "health", body={}), ["GET"])

    def test_get_jobs_calculate_usage_is_405_with_allow_post(self):
        self.assertAllow(self.request("GET", "jobs/calculate-usage", token=self.admin()),
                         ["POST"])

    def test_delete_invoices_is_405_with_allow_get_post(self):
        self.assertAllow(self.request("DELETE", "invoices", token=self.admin()),
                         ["GET", "POST"])

    def test_put_subscription_is_405_with_allow_get_post(self):
        self.assertAllow(self.request("PUT", "subscription", body={}, token=self.user_token()),
                         ["GET", "POST"])

    def test_get_admin_invoice_is_405_with_allow_patch(self):
        self.assertAllow(self.request("GET", "admin/invoices/1", token=self.admin()),
                         ["PATCH"])

    def test_405_comes_before_authentication(self):
        # the method is wrong whoever asks: no token needed to learn it
        self.assertAllow(self.request("DELETE", "jobs/status"), ["GET", "POST"])

    # -- 415 ------------------------------------------------------------------

    def test_text_plain_body_is_415(self):
        resp = self.request("POST", "jobs/calculate-usage", raw=b'{"a":1}',
                            content_type="text/plain", token=self.admin())
        self.assertError(resp, 415, "unsupported_media_type")

    def test_json_lookalike_content_type_is_415(self):
        resp = self.request("POST", "jobs/calculate-usage", raw=b"{}",
                            content_type="application/jsonx", token=self.admin())
        self.assertError(resp, 415, "unsupported_media_type")

    def test_json_with_charset_parameter_is_accepted(self):
        resp = self.request("POST", "jobs/calculate-usage", raw=b"{}",
                            content_type="application/json; charset=utf-8",
                            token=self.admin())
        self.assertNotIn(resp[0], (400, 415), resp[2])

    def test_other_types_stay_415_and_write_nothing(self):
        for ctype in ("multipart/form-data; boundary=x", "application/xml",
                      "application/x-www-form-urlencodedx", "text/json"):
            with self.subTest(content_type=ctype):
                status, _, raw = self.post_raw(
                    "admin/credits", b'{"user_id": "ct415@example.com", "amount": 1, '
                    b'"reason": "x"}', content_type=ctype)
                self.assertEqual(status, 415, raw)
                self.assertIn(b'"unsupported_media_type"', raw)
        status, _, raw = self.post_raw("admin/credits", b"{}", content_type=None,
                                       token=self.user_token())
        self.assertEqual(status, 403, raw)

    # -- the seed's curl lines, as written ------------------------------------

    SEED_CREDIT = b"""{
    "user_id": "john@example.com",
    "amount": 50.00,
    "reason": "Service credit for downtime"
  }"""
    SEED_INVOICE = b"""{
    "user_id": "john@example.com",
    "period_start": "2025-01-01",
    "period_end": "2025-01-31"
  }"""

    def test_the_seeds_curl_lines_work_as_written(self):
        # curl -X POST .../credits -H "Authorization: ..." -d '{...}' sends
        # Content-Type application/x-www-form-urlencoded: read as JSON
        form = "application/x-www-form-urlencoded"
        status, _, raw = self.post_raw("credits", self.SEED_CREDIT, content_type=form)
        self.assertEqual(status, 201, raw)
        credit = json.loads(raw.decode())
        self.assertEqual(credit["user_id"], "john@example.com")
        self.assertEqual(credit["reason"], "Service credit for downtime")
        status, _, raw = self.post_raw("invoices", self.SEED_INVOICE, content_type=form)
        self.assertEqual(status, 201, raw)
        invoice = json.loads(raw.decode())
        self.assertEqual(invoice["period_start"], "2025-01-01T00:00:00Z")
        self.assertEqual(invoice["period_end"], "2025-02-01T00:00:00Z")

    def test_a_body_without_content_type_is_read_as_json(self):
        status, _, raw = self.post_raw(
            "admin/credits", b'{"user_id": "noct@example.com", "amount": "2.50", '
            b'"reason": "no type"}', content_type=None)
        self.assertEqual(status, 201, raw)
        self.assertIn(b'"amount":2.50', raw.replace(b" ", b""))

    def test_a_form_typed_body_is_still_strict_json(self):
        form = "application/x-www-form-urlencoded; charset=UTF-8"
        for raw in (b"user_id=john%40example.com&amount=5", b'{"a":'):
            with self.subTest(raw=raw):
                status, _, body = self.post_raw("admin/credits", raw, content_type=form)
                self.assertEqual(status, 400, body)
                self.assertIn(b'"invalid_json"', body)

    # -- 400 invalid_json -----------------------------------------------------

    def assertInvalidJson(self, raw):
        resp = self.request("POST", "jobs/calculate-usage", raw=raw, token=self.admin())
        return self.assertError(resp, 400, "invalid_json")

    def test_malformed_json_is_400_invalid_json(self):
        self.assertInvalidJson(b'{"a":')
        self.assertInvalidJson(b'{"a":1,}')
        self.assertInvalidJson(b"{'a': 1}")

    def test_trailing_garbage_after_json_is_400_invalid_json(self):
        self.assertInvalidJson(b"{} x")
        self.assertInvalidJson(b'{"a":1}{"b":2}')

    def test_json_array_instead_of_object_is_400_invalid_json(self):
        self.assertInvalidJson(b"[]")
        self.assertInvalidJson(b'[{"a":1}]')
        self.assertInvalidJson(b'"text"')

    def test_nul_byte_in_json_is_400_invalid_json(self):
        self.assertInvalidJson(b'{"a":"x\x00y"}')

    def test_json_nested_deeper_than_16_is_400_invalid_json(self):
        for depth in (17, 64, 1000):
            with self.subTest(depth=depth):
                self.assertInvalidJson(('{"a":' * depth + "1" + "}" * depth).encode())

    def test_json_nested_15_deep_is_parsed(self):
        body = '{"date":' * 15 + "1" + "}" * 15
        resp = self.request("POST", "jobs/generate-invoices", raw=body.encode(),
                            token=self.admin())
        self.assertNotEqual(resp[2].get("error", {}).get("code") if isinstance(resp[2], dict)
                            else None, "invalid_json", resp[2])

    def test_json_nested_exactly_16_deep_is_parsed(self):
        body = '{"date":' * 16 + "1" + "}" * 16
        resp = self.request("POST", "jobs/generate-invoices", raw=body.encode(),
                            token=self.admin())
        code = resp[2].get("error", {}).get("code") if isinstance(resp[2], dict) else None
        self.assertNotEqual(code, "invalid_json", resp[2])

    # -- 413 ------------------------------------------------------------------

    def test_body_of_70000_bytes_is_413_from_billingd(self):
        body = b'{"a":"' + b"x" * (70000 - 8) + b'"}'
        self.assertEqual(len(body), 70000)
        resp = self.request("POST", "jobs/calculate-usage", raw=body, token=self.admin())
        self.assertError(resp, 413, "payload_too_large")
        # billingd's own answer: it carries billingd's headers
        self.assertEqual(resp[1].get("Cache-Control"), "no-store")

    def test_chunked_body_of_70000_bytes_is_413_from_billingd(self):
        status, headers, body = self.post_raw("jobs/calculate-usage", b"x" * 70000,
                                              chunked=True)
        self.assertEqual(status, 413, body)
        self.assertIn(b'"payload_too_large"', body)
        self.assertTrue(headers.get("X-Request-Id"))

    def test_body_of_exactly_65536_bytes_is_not_413(self):
        body = b'{"a":"' + b"x" * (65536 - 8) + b'"}'
        resp = self.request("POST", "jobs/calculate-usage", raw=body, token=self.admin())
        self.assertNotEqual(resp[0], 413, resp[2])

    def test_body_of_200000_bytes_is_413_json_from_nginx(self):
        resp = self.request("POST", "jobs/calculate-usage", raw=b"x" * 200000,
                            token=self.admin())
        self.assertErrorShape(resp, 413, "payload_too_large")

    def test_body_of_200000_bytes_413_carries_x_request_id(self):
        resp = self.request("POST", "jobs/calculate-usage", raw=b"x" * 200000,
                            token=self.admin())
        self.assertError(resp, 413, "payload_too_large")

    # -- 400 invalid_argument -------------------------------------------------

    def test_instants_outside_the_years_1970_to_9999_are_400_naming_the_param(self):
        """One range for every instant a client sends, checked in UTC after
        the offset and after a date-only end's day (9999-12-31 as an end is
        10000-01-01T00:00:00Z, which no DATETIME holds)."""
        late, early = "9999-12-31T23:30:00-01:00", "1970-01-01T00:30:00+01:00"
        admin, svc = self.admin(), self.service_token()
        user = "range@example.com"
        status, _, body = self.request("POST", "hooks/user-created", body={"user_id": user},
                                       token=svc)
        self.assertIn(status, (200, 201), body)
        inv = {"user_id": user, "period_start": "2025-01-01", "period_end": "2025-01-31"}
        cases = [
            ("POST", "admin/invoices", dict(inv, period_end="9999-12-31"), admin,
             "period_end"),
            ("POST", "admin/invoices", dict(inv, period_start="9999-12-01",
                                            period_end="9999-12-31"), admin, "period_end"),
            ("POST", "invoices", dict(inv, period_start=early), admin, "period_start"),
            ("POST", "admin/invoices", dict(inv, period_end=late), admin, "period_end"),
            ("POST", "admin/credits", {"user_id": user, "amount": 1, "reason": "x",
                                       "expires_at": "9999-12-31"}, admin, "expires_at"),
            ("POST", "admin/credits", {"user_id": user, "amount": 1, "reason": "x",
                                       "expires_at": late}, admin, "expires_at"),
            ("GET", "admin/reports?from=2025-01-01&to=9999-12-31", None, admin, "to"),
            ("GET", "admin/reports?from=%s&to=2025-01-01" % early.replace("+", "%2B"),
             None, admin, "from"),
            ("GET", "usage?from=2025-01-01&to=9999-12-31", None, self.user_token(), "to"),
            ("POST", "hooks/session-heartbeat", {"session_id": "s-range", "at": early},
             svc, "at"),
            ("POST", "hooks/session-terminated", {"session_id": "s-range",
                                                  "ended_at": late}, svc, "ended_at"),
            ("POST", "hooks/session-created", {"session_id": "s-range", "user_id": "u",
                                               "cpu_cores": 1, "memory_gb": 1,
                                               "storage_gb": 0, "started_at": early},
             svc, "started_at"),
        ]
        for method, path, body, tok, param in cases:
            with self.subTest(request="%s %s %s" % (method, path, body)):
                resp = self.request(method, path, body=body, token=tok)
                err = self.assertError(resp, 400, "invalid_argument")
                self.assertEqual(err.get("param"), param, err)
                self.assertIn("1970", err["message"])
        self.assertEqual(self.stack.mariadb.sql(
            "SELECT COUNT(*) FROM billing_invoices i JOIN billing_accounts a ON "
            "a.id = i.account_id WHERE a.user_id = '%s'" % user,
            database=self.stack.db_name), [["0"]])

    def test_unknown_option_in_job_body_is_400_invalid_argument(self):
        resp = self.request("POST", "jobs/calculate-usage", body={"bogus": 1},
                            token=self.admin())
        err = self.assertError(resp, 400, "invalid_argument")
        self.assertIn("param", err)

    def test_unknown_option_names_the_key_in_param(self):
        for key in ("bogus", "date"):
            with self.subTest(key=key):
                status, _, raw = self.post_raw("jobs/calculate-usage",
                                               ('{"%s": 1}' % key).encode())
                self.assertEqual(status, 400)
                body = json.loads(raw.decode("utf-8"))
                self.assertEqual(body["error"]["code"], "invalid_argument")
                self.assertEqual(body["error"].get("param"), key)

    # -- X-Request-Id ---------------------------------------------------------

    def test_every_answer_carries_x_request_id(self):
        for method, path, kw in (("GET", "health", {}),
                                 ("GET", "jobs/status", {}),
                                 ("GET", "jobs/status", {"token": "abc"}),
                                 ("GET", "jobs/status", {"token": self.user_token()}),
                                 ("GET", "jobs/status", {"token": self.admin()}),
                                 ("DELETE", "health", {}),
                                 ("GET", "nope", {})):
            with self.subTest(request="%s %s %s" % (method, path, sorted(kw))):
                self.assertRequestId(self.request(method, path, **kw))

    def test_generated_request_ids_are_unique(self):
        ids = {self.assertRequestId(self.request("GET", "health")) for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_safe_incoming_x_request_id_is_echoed(self):
        for rid in ("abc-123", "req_1.2.3", "a" * 64):
            with self.subTest(rid=rid):
                resp = self.request("GET", "health", headers={"X-Request-Id": rid})
                self.assertEqual(resp[1].get("X-Request-Id"), rid)
                resp = self.request("GET", "nope", headers={"X-Request-Id": rid})
                self.assertEqual(resp[1].get("X-Request-Id"), rid)

    def test_unsafe_incoming_x_request_id_is_replaced(self):
        for rid in ("has spaces in it", "a" * 100, "a" * 65, "x;y", "<script>", "a\tb"):
            with self.subTest(rid=rid):
                resp = self.request("GET", "health", headers={"X-Request-Id": rid})
                got = resp[1].get("X-Request-Id")
                self.assertTrue(got)
                self.assertNotEqual(got, rid)
                self.assertRegex(got, SAFE_REQUEST_ID)

    def test_request_id_is_in_the_access_log(self):
        rid = "it-errors-log-check-42"
        self.request("GET", "nope", headers={"X-Request-Id": rid})
        self.assertIn("req=%s GET /nope 404" % rid, self.log_text())

    def test_control_characters_in_the_path_cannot_forge_log_lines(self):
        # nginx decodes %0a into the path billingd sees; the log escapes it
        resp = self.request("GET", self.url(API_PREFIX + "x%0a2030-01-01T00:00:00Z%20forged%0d"))
        self.assertError(resp, 404, "not_found")
        for line in self.log_text().splitlines():
            self.assertFalse(line.startswith("2030-01-01"), "forged line: %r" % line)
        self.assertIn("\\x0a2030-01-01T00:00:00Z forged\\x0d", self.log_text())

    # -- last -----------------------------------------------------------------

    def test_zz_no_request_crashed_a_worker(self):
        # runs last (unittest sorts by name)
        self.assertEqual(self.request("GET", "health")[0], 200)
        self.assertEqual(self.stack.worker_pids(), self.pids_at_start)
        log = self.log_text()
        self.assertNotIn("killed by signal", log)
        self.assertNotIn("exited with status", log)
        self.assertNotIn("sent no answer", log)
