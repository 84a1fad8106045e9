/*
 * The route table and the checks before a handler runs, without a server.
 */
#include <string.h>

#include <check.h>

#include "api.h"
#include "app.h"
#include "http.h"
#include "jwt.h"
#include "router.h"

static char out[8192];
static size_t outlen;

static int
capture(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	ck_assert_uint_lt(outlen + len, sizeof(out));
	memcpy(out + outlen, buf, len);
	outlen += len;
	out[outlen] = '\0';
	return 0;
}

static void
init(struct http_request *req, const char *method, const char *path,
    const char *query)
{
	memset(req, 0, sizeof(*req));
	outlen = 0;
	out[0] = '\0';
	req->method = method;
	req->path = path;
	req->query = query ? query : "";
	req->content_length = -1;
	strcpy(req->request_id, "t");
	req->sink.write = capture;
}

START_TEST(test_matches_static_paths)
{
	struct http_request req;
	char allow[64];
	const struct route *r;

	init(&req, "GET", "health", NULL);
	r = router_match(&req, allow, sizeof(allow));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, "health");
	ck_assert_int_eq(r->access, ACCESS_PUBLIC);
}
END_TEST

START_TEST(test_captures_path_parameters)
{
	struct http_request req;
	char allow[64];
	const struct route *r;

	init(&req, "GET", "invoices/42/pdf", NULL);
	r = router_match(&req, allow, sizeof(allow));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, "invoices/{id}/pdf");
	ck_assert_uint_eq(req.nparams, 1);
	ck_assert_str_eq(req.params[0], "42");
}
END_TEST

START_TEST(test_static_route_wins_over_parameter)
{
	struct http_request req;
	char allow[64];
	const struct route *r;

	init(&req, "GET", "jobs/status", NULL);
	r = router_match(&req, allow, sizeof(allow));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, "jobs/status");
	init(&req, "POST", "jobs/calculate-usage", NULL);
	r = router_match(&req, allow, sizeof(allow));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(req.params[0], "calculate-usage");
}
END_TEST

START_TEST(test_wrong_method_lists_allowed_ones)
{
	struct http_request req;
	char allow[64];

	init(&req, "DELETE", "invoices", NULL);
	ck_assert_ptr_null(router_match(&req, allow, sizeof(allow)));
	ck_assert_str_eq(allow, "GET, POST");
	init(&req, "GET", "webhook", NULL);
	ck_assert_ptr_null(router_match(&req, allow, sizeof(allow)));
	ck_assert_str_eq(allow, "POST");
}
END_TEST

/* admin/users/{user_id} takes GET and PATCH: another method is 405 with Allow */
START_TEST(test_admin_user_get_and_patch)
{
	struct http_request req;
	char allow[64];

	init(&req, "DELETE", "admin/users/x", NULL);
	ck_assert_ptr_null(router_match(&req, allow, sizeof(allow)));
	ck_assert_str_eq(allow, "GET, PATCH");
	init(&req, "GET", "admin/users/x", NULL);
	ck_assert_ptr_nonnull(router_match(&req, allow, sizeof(allow)));
	ck_assert_str_eq(req.params[0], "x");
	init(&req, "PATCH", "admin/users/x", NULL);
	ck_assert_ptr_nonnull(router_match(&req, allow, sizeof(allow)));
	ck_assert_str_eq(req.params[0], "x");
}
END_TEST

START_TEST(test_unknown_paths_match_nothing)
{
	static const char *paths[] = { "", "healthz", "health/", "invoices/",
	    "invoices//pdf", "admin", "admin/users/x/y", "admin/users/",
	    "../health" };
	struct http_request req;
	char allow[64];
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		init(&req, "GET", paths[i], NULL);
		ck_assert_msg(router_match(&req, allow, sizeof(allow)) == NULL,
		    "%s matched", paths[i]);
		ck_assert_str_eq(allow, "");
	}
}
END_TEST

START_TEST(test_dispatch_answers_404_and_405)
{
	struct app app;
	struct http_request req;

	memset(&app, 0, sizeof(app));
	init(&req, "GET", "nope", NULL);
	router_dispatch(&app, &req);
	ck_assert_int_eq(req.status, 404);
	ck_assert_ptr_nonnull(strstr(out, "\"not_found\""));
	init(&req, "PUT", "health", NULL);
	router_dispatch(&app, &req);
	ck_assert_int_eq(req.status, 405);
	ck_assert_ptr_nonnull(strstr(out, "Allow: GET\r\n"));
}
END_TEST

START_TEST(test_dispatch_without_token_is_401_with_challenge)
{
	struct app app;
	struct http_request req;
	char err[128];

	memset(&app, 0, sizeof(app));
	app.keys = jwt_keys_new("0123456789abcdef0123456789abcdef", NULL, err,
	    sizeof(err));
	init(&req, "GET", "admin/users", NULL);
	router_dispatch(&app, &req);
	ck_assert_int_eq(req.status, 401);
	ck_assert_ptr_nonnull(strstr(out, "WWW-Authenticate: Bearer"));
	init(&req, "GET", "admin/users", NULL);
	req.authorization = "Bearer not.a.token";
	router_dispatch(&app, &req);
	ck_assert_int_eq(req.status, 401);
	ck_assert_ptr_nonnull(strstr(out, "error=\"invalid_token\""));
	jwt_keys_free(app.keys);
}
END_TEST

START_TEST(test_user_sees_only_their_own_data)
{
	struct http_request req;
	char who[300];

	init(&req, "GET", "usage", NULL);
	strcpy(req.claims.sub, "alice@example.com");
	req.claims.role = JWT_ROLE_USER;
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), 0);
	ck_assert_str_eq(who, "alice@example.com");

	init(&req, "GET", "usage", "user_id=alice%40example.com");
	strcpy(req.claims.sub, "alice@example.com");
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), 0);

	init(&req, "GET", "usage", "user_id=bob%40example.com");
	strcpy(req.claims.sub, "alice@example.com");
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), -1);
	ck_assert_int_eq(req.status, 403);
}
END_TEST

START_TEST(test_admin_may_name_any_user)
{
	struct http_request req;
	char who[300];

	init(&req, "GET", "usage", "user_id=bob%40example.com");
	strcpy(req.claims.sub, "root");
	req.claims.role = JWT_ROLE_ADMIN;
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), 0);
	ck_assert_str_eq(who, "bob@example.com");

	init(&req, "GET", "usage", "user_id=");
	req.claims.role = JWT_ROLE_ADMIN;
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), -1);
	ck_assert_int_eq(req.status, 400);
	ck_assert_ptr_nonnull(strstr(out, "\"param\":\"user_id\""));
}
END_TEST

START_TEST(test_operator_may_name_any_user_service_may_not)
{
	struct http_request req;
	char who[300];

	init(&req, "GET", "usage", "user_id=bob");
	strcpy(req.claims.sub, "olga");
	req.claims.role = JWT_ROLE_OPERATOR;
	ck_assert_int_eq(api_reads_every_user(&req), 1);
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), 0);
	ck_assert_str_eq(who, "bob");

	init(&req, "GET", "usage", "user_id=bob");
	strcpy(req.claims.sub, "platform");
	req.claims.role = JWT_ROLE_SERVICE;
	ck_assert_int_eq(api_reads_every_user(&req), 0);
	ck_assert_int_eq(api_target_user(&req, who, sizeof(who)), -1);
	ck_assert_int_eq(req.status, 403);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_matches_static_paths);
	tcase_add_test(tc, test_captures_path_parameters);
	tcase_add_test(tc, test_static_route_wins_over_parameter);
	tcase_add_test(tc, test_wrong_method_lists_allowed_ones);
	tcase_add_test(tc, test_unknown_paths_match_nothing);
	tcase_add_test(tc, test_admin_user_get_and_patch);
	tcase_add_test(tc, test_dispatch_answers_404_and_405);
	tcase_add_test(tc, test_dispatch_without_token_is_401_with_challenge);
	tcase_add_test(tc, test_user_sees_only_their_own_data);
	tcase_add_test(tc, test_admin_may_name_any_user);
	tcase_add_test(tc, test_operator_may_name_any_user_service_may_not);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(router_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
