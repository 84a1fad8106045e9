/*
 * The HTTP layer without a server: requests built from CGI environments,
 * bodies from memory, answers captured in a buffer.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <json-c/json.h>

#include "http.h"
#include "json_util.h"

struct capture {
	char buf[200000];
	size_t len;
};

static int
capture_write(void *ctx, const char *buf, size_t len)
{
	struct capture *c = ctx;

	ck_assert_uint_le(c->len + len, sizeof(c->buf) - 1);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

struct memsrc {
	const char *data;
	size_t len, off;
};

static long
mem_read(void *ctx, char *buf, size_t len)
{
	struct memsrc *m = ctx;
	size_t n = m->len - m->off < len ? m->len - m->off : len;

	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (long)n;
}

static struct capture cap;
static struct memsrc src;

static void
make_request(struct http_request *req, const char *ctype, const char *body,
    size_t len)
{
	memset(req, 0, sizeof(*req));
	memset(&cap, 0, sizeof(cap));
	strcpy(req->request_id, "test-1");
	req->method = "POST";
	req->path = "x";
	req->query = "";
	req->content_type = ctype;
	req->content_length = body ? (long)len : -1;
	req->sink.write = capture_write;
	req->sink.ctx = &cap;
	src.data = body;
	src.len = body ? len : 0;
	src.off = 0;
	req->source.read = mem_read;
	req->source.ctx = &src;
}

START_TEST(test_request_from_env_strips_prefix_and_reads_headers)
{
	char *env[] = { "REQUEST_METHOD=PATCH",
	    "DOCUMENT_URI=/api/plugins/billing/admin/invoices/7",
	    "QUERY_STRING=a=1", "CONTENT_TYPE=application/json",
	    "CONTENT_LENGTH=12", "HTTP_AUTHORIZATION=Bearer x",
	    "REQUEST_ID=abc123", NULL };
	struct http_request req;

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, env,
	    http_api_prefixes), 0);
	ck_assert_str_eq(req.method, "PATCH");
	ck_assert_str_eq(req.path, "admin/invoices/7");
	ck_assert_str_eq(req.query, "a=1");
	ck_assert_int_eq(req.content_length, 12);
	ck_assert_str_eq(req.authorization, "Bearer x");
	ck_assert_str_eq(req.request_id, "abc123");
}
END_TEST

START_TEST(test_request_from_env_refuses_other_prefix)
{
	char *env[] = { "DOCUMENT_URI=/api/plugins/other/health", NULL };
	struct http_request req;

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, env,
	    http_api_prefixes), -1);
}
END_TEST

START_TEST(test_request_from_env_takes_both_mounts)
{
	char *billing[] = { "DOCUMENT_URI=/api/plugins/billing/invoices/7",
	    NULL };
	char *streamspace[] = {
	    "DOCUMENT_URI=/api/plugins/streamspace-billing/invoices/7", NULL };
	char *script_name[] = {
	    "SCRIPT_NAME=/api/plugins/streamspace-billing/health", NULL };
	struct http_request req;

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, billing,
	    http_api_prefixes), 0);
	ck_assert_str_eq(req.path, "invoices/7");
	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, streamspace,
	    http_api_prefixes), 0);
	ck_assert_str_eq(req.path, "invoices/7");
	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, script_name,
	    http_api_prefixes), 0);
	ck_assert_str_eq(req.path, "health");
}
END_TEST

START_TEST(test_request_from_env_refuses_near_mounts)
{
	const char *paths[] = {
	    "DOCUMENT_URI=/api/plugins/streamspace-billing",
	    "DOCUMENT_URI=/api/plugins/streamspace-billingx/health",
	    "DOCUMENT_URI=/api/plugins/billing-streamspace/health",
	    "DOCUMENT_URI=/api/plugins/streamspace/health",
	    "DOCUMENT_URI=/api/plugins/Streamspace-billing/health",
	    "DOCUMENT_URI=/x/api/plugins/streamspace-billing/health",
	};
	char *env[2];
	struct http_request req;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		env[0] = (char *)paths[i];
		env[1] = NULL;
		memset(&req, 0, sizeof(req));
		ck_assert_msg(http_request_from_env(&req, env,
		    http_api_prefixes) == -1, "%s accepted", paths[i]);
	}
}
END_TEST

START_TEST(test_unsafe_request_id_is_replaced)
{
	char *env[] = { "DOCUMENT_URI=/api/plugins/billing/health",
	    "HTTP_X_REQUEST_ID=bad id\r\nX-Evil: 1", NULL };
	struct http_request req;

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(http_request_from_env(&req, env,
	    http_api_prefixes), 0);
	ck_assert_ptr_null(strchr(req.request_id, ' '));
	ck_assert_ptr_null(strchr(req.request_id, '\n'));
	ck_assert_uint_gt(strlen(req.request_id), 0);
}
END_TEST

START_TEST(test_error_has_contract_shape_and_request_id)
{
	struct http_request req;
	struct json_object *o, *e, *v;
	const char *body;

	make_request(&req, NULL, NULL, 0);
	http_send_error(&req, 400, "invalid_argument", "bad amount", "amount",
	    NULL);
	ck_assert_ptr_nonnull(strstr(cap.buf, "Status: 400 Bad Request\r\n"));
	ck_assert_ptr_nonnull(strstr(cap.buf, "X-Request-Id: test-1\r\n"));
	ck_assert_ptr_nonnull(strstr(cap.buf, "Content-Type: application/json\r\n"));
	body = strstr(cap.buf, "\r\n\r\n") + 4;
	o = json_tokener_parse(body);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "error", &e));
	ck_assert(json_object_object_get_ex(e, "code", &v));
	ck_assert_str_eq(json_object_get_string(v), "invalid_argument");
	ck_assert(json_object_object_get_ex(e, "param", &v));
	ck_assert_str_eq(json_object_get_string(v), "amount");
	json_object_put(o);
}
END_TEST

START_TEST(test_json_body_needs_json_content_type)
{
	struct http_request req;
	struct json_object *o = NULL;

	make_request(&req, "text/plain", "{}", 2);
	ck_assert_int_eq(http_read_json(&req, &o), -1);
	ck_assert_int_eq(req.status, 415);
	http_request_reset(&req);
	make_request(&req, "application/json; charset=utf-8", "{}", 2);
	ck_assert_int_eq(http_read_json(&req, &o), 0);
	json_object_put(o);
	http_request_reset(&req);
	make_request(&req, "application/jsonx", "{}", 2);
	ck_assert_int_eq(http_read_json(&req, &o), -1);
	http_request_reset(&req);
}
END_TEST

/* docs/api.md "Bodies": JSON is read from its text under
 * application/json, no Content-Type and curl -d's form type; others: 415. */
START_TEST(test_json_body_content_types)
{
	static const char *const read_as_json[] = { NULL,
	    "application/json", "Application/JSON",
	    "application/json;charset=utf-8", " application/json ; charset=x",
	    "application/json\t;charset=utf-8",
	    "application/x-www-form-urlencoded",
	    "application/x-www-form-urlencoded; charset=UTF-8" };
	static const char *const refused[] = { "text/plain",
	    "application/jsonx", "application/json x", "application/json/x",
	    "multipart/form-data; boundary=x", "application/x-www-form",
	    "application/x-www-form-urlencodedx", "json", ";" };
	struct http_request req;
	struct json_object *o = NULL;
	size_t i;

	for (i = 0; i < sizeof(read_as_json) / sizeof(read_as_json[0]); i++) {
		make_request(&req, read_as_json[i], "{\"a\":1}", 7);
		ck_assert_msg(http_read_json(&req, &o) == 0, "%s refused",
		    read_as_json[i] ? read_as_json[i] : "(none)");
		ck_assert(json_object_object_get_ex(o, "a", NULL));
		json_object_put(o);
		http_request_reset(&req);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		make_request(&req, refused[i], "{}", 2);
		ck_assert_msg(http_read_json(&req, &o) == -1, "%s read",
		    refused[i]);
		ck_assert_int_eq(req.status, 415);
		ck_assert_ptr_nonnull(strstr(cap.buf,
		    "\"unsupported_media_type\""));
		http_request_reset(&req);
	}
}
END_TEST

START_TEST(test_body_over_64k_is_413_without_reading)
{
	struct http_request req;
	struct json_object *o = NULL;
	char *big = malloc(70000);

	memset(big, ' ', 70000);
	make_request(&req, "application/json", big, 70000);
	ck_assert_int_eq(http_read_json(&req, &o), -1);
	ck_assert_int_eq(req.status, 413);
	ck_assert_uint_eq(src.off, 0);
	http_request_reset(&req);
	/* without a Content-Length the reader stops one byte past the limit */
	make_request(&req, "application/json", big, 70000);
	req.content_length = -1;
	ck_assert_int_eq(http_read_json(&req, &o), -1);
	ck_assert_int_eq(req.status, 413);
	ck_assert_uint_eq(src.off, HTTP_MAX_BODY + 1);
	http_request_reset(&req);
	free(big);
}
END_TEST

START_TEST(test_invalid_json_is_400)
{
	static const char *bad[] = { "{", "{\"a\":1} x", "[1,2]", "",
	    "{\"a\":tru}", "{'a':1}", "{\"a\":1,}" };
	struct http_request req;
	struct json_object *o = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_request(&req, "application/json", bad[i], strlen(bad[i]));
		ck_assert_int_eq(http_read_json(&req, &o), -1);
		ck_assert_int_eq(req.status, 400);
		ck_assert_ptr_nonnull(strstr(cap.buf, "invalid_json"));
		http_request_reset(&req);
	}
}
END_TEST

START_TEST(test_json_depth_is_limited)
{
	char deep[200];
	struct json_object *o;
	const char *why;
	int i, n = 0;

	for (i = 0; i < 20; i++)
		deep[n++] = '[';
	for (i = 0; i < 20; i++)
		deep[n++] = ']';
	o = json_parse_limited(deep, (size_t)n, HTTP_MAX_JSON_DEPTH, &why);
	ck_assert_ptr_null(o);
	ck_assert_str_eq(why, "JSON nested too deeply");
	o = json_parse_limited("[[[]]]", 6, HTTP_MAX_JSON_DEPTH, &why);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
}
END_TEST

START_TEST(test_query_values_are_decoded)
{
	char buf[64];

	ck_assert_int_eq(http_query_get("a=1&user_id=john%40example.com&b=",
	    "user_id", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "john@example.com");
	ck_assert_int_eq(http_query_get("a=x+y", "a", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "x y");
	ck_assert_int_eq(http_query_get("b=", "b", buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(http_query_get("ab=1", "a", buf, sizeof(buf)), 0);
	ck_assert_int_eq(http_query_get("", "a", buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_query_rejects_bad_escapes_nul_and_overflow)
{
	char buf[8];

	ck_assert_int_eq(http_query_get("a=%4", "a", buf, sizeof(buf)), -1);
	ck_assert_int_eq(http_query_get("a=%zz", "a", buf, sizeof(buf)), -1);
	ck_assert_int_eq(http_query_get("a=%00", "a", buf, sizeof(buf)), -1);
	ck_assert_int_eq(http_query_get("a=123456789", "a", buf, sizeof(buf)), -1);
	/* found by fuzzing: an empty value into no room at all */
	ck_assert_int_eq(http_query_get("a=", "a", buf, 0), -1);
}
END_TEST

START_TEST(test_bare_values_at_the_end_of_input_parse)
{
	static const char *ok[] = { "6", "-1.5", "true", "null", "\"x\"" };
	struct json_object *o;
	const char *why;
	size_t i;

	/* found by fuzzing: json-c waits for more input after a bare value */
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o = json_parse_limited(ok[i], strlen(ok[i]), HTTP_MAX_JSON_DEPTH, &why);
		ck_assert_msg(o != NULL || strcmp(ok[i], "null") == 0, "%s", ok[i]);
		json_object_put(o);
	}
	o = json_parse_limited("[1", 2, HTTP_MAX_JSON_DEPTH, &why);
	ck_assert_ptr_null(o);
}
END_TEST

START_TEST(test_money_json_is_written_exactly)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "total", json_money(1400000, 2));
	json_object_object_add(o, "rate", json_money(50000, 6));
	json_object_object_add(o, "trim", json_money_trim(50000, 2));
	ck_assert_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"total\":1.40,\"rate\":0.050000,\"trim\":0.05}");
	json_object_put(o);
}
END_TEST

START_TEST(test_money_json_is_read_from_source_text)
{
	static const struct { const char *json; int64_t micros; } ok[] = {
		{ "{\"v\":0.1}", 100000 }, { "{\"v\":50.00}", 50000000 },
		{ "{\"v\":\"29.99\"}", 29990000 }, { "{\"v\":7}", 7000000 },
		{ "{\"v\":0.000001}", 1 },
	};
	static const char *bad[] = { "{\"v\":1e2}", "{\"v\":0.0000001}",
	    "{\"v\":true}", "{\"v\":\"1,5\"}", "{\"v\":[1]}" };
	struct json_object *o, *v;
	int64_t m;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o = json_tokener_parse(ok[i].json);
		json_object_object_get_ex(o, "v", &v);
		ck_assert_int_eq(json_get_money(v, 6, &m), 0);
		ck_assert_int_eq(m, ok[i].micros);
		json_object_put(o);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_tokener_parse(bad[i]);
		json_object_object_get_ex(o, "v", &v);
		ck_assert_int_eq(json_get_money(v, 6, &m), -1);
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_string_fields_check_type_and_length)
{
	struct json_object *o = json_tokener_parse(
	    "{\"id\":\"s-1\",\"n\":5,\"empty\":\"\",\"nul\":\"a\\u0000b\",\"z\":null}");
	const char *s = NULL;

	ck_assert_int_eq(json_field_string(o, "id", 1, 255, &s), 1);
	ck_assert_str_eq(s, "s-1");
	ck_assert_int_eq(json_field_string(o, "n", 1, 255, &s), -1);
	ck_assert_int_eq(json_field_string(o, "empty", 1, 255, &s), -1);
	ck_assert_int_eq(json_field_string(o, "nul", 1, 255, &s), -1);
	ck_assert_int_eq(json_field_string(o, "z", 1, 255, &s), 0);
	ck_assert_int_eq(json_field_string(o, "absent", 1, 255, &s), 0);
	json_object_put(o);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_request_from_env_strips_prefix_and_reads_headers);
	tcase_add_test(tc, test_request_from_env_refuses_other_prefix);
	tcase_add_test(tc, test_request_from_env_takes_both_mounts);
	tcase_add_test(tc, test_request_from_env_refuses_near_mounts);
	tcase_add_test(tc, test_unsafe_request_id_is_replaced);
	tcase_add_test(tc, test_error_has_contract_shape_and_request_id);
	tcase_add_test(tc, test_json_body_needs_json_content_type);
	tcase_add_test(tc, test_json_body_content_types);
	tcase_add_test(tc, test_body_over_64k_is_413_without_reading);
	tcase_add_test(tc, test_invalid_json_is_400);
	tcase_add_test(tc, test_json_depth_is_limited);
	tcase_add_test(tc, test_query_values_are_decoded);
	tcase_add_test(tc, test_query_rejects_bad_escapes_nul_and_overflow);
	tcase_add_test(tc, test_bare_values_at_the_end_of_input_parse);
	tcase_add_test(tc, test_money_json_is_written_exactly);
	tcase_add_test(tc, test_money_json_is_read_from_source_text);
	tcase_add_test(tc, test_string_fields_check_type_and_length);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
