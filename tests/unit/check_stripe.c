/*
 * Unit tests for the Stripe client: the form encoding, the retry rules and
 * backoff, Stripe's error objects, minor units, and the HTTP exchange
 * itself against a canned server (a child process on a loopback port that
 * answers prepared responses and records the requests it got).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>

#include "config.h"
#include "stripe.h"

/* -- form encoding --------------------------------------------------------- */

static void
assert_form(const char *key, const char *value, const char *want)
{
	struct stripe_form f;

	stripe_form_init(&f);
	ck_assert_int_eq(stripe_form_add(&f, key, value), 0);
	ck_assert_str_eq(stripe_form_text(&f), want);
	stripe_form_free(&f);
}

START_TEST(test_form_plain_pair)
{
	assert_form("mode", "subscription", "mode=subscription");
}
END_TEST

START_TEST(test_form_nested_keys_keep_literal_brackets)
{
	assert_form("line_items[0][price]", "price_pro",
	    "line_items[0][price]=price_pro");
	assert_form("subscription_data[metadata][user_id]", "u1",
	    "subscription_data[metadata][user_id]=u1");
}
END_TEST

START_TEST(test_form_reserved_characters_are_encoded)
{
	assert_form("q", "a&b=c+d e", "q=a%26b%3Dc%2Bd%20e");
	assert_form("q", "x/y?z#w%", "q=x%2Fy%3Fz%23w%25");
	assert_form("q", "[0]", "q=%5B0%5D");
	assert_form("q", "-._~AZaz09", "q=-._~AZaz09");
}
END_TEST

START_TEST(test_form_utf8_is_encoded_bytewise)
{
	assert_form("metadata[user_id]", "caf\xc3\xa9 \xe2\x82\xac",
	    "metadata[user_id]=caf%C3%A9%20%E2%82%AC");
}
END_TEST

START_TEST(test_form_checkout_placeholder_braces)
{
	assert_form("success_url",
	    "https://x.example/s?session_id={CHECKOUT_SESSION_ID}",
	    "success_url=https%3A%2F%2Fx.example%2Fs%3Fsession_id%3D"
	    "%7BCHECKOUT_SESSION_ID%7D");
}
END_TEST

START_TEST(test_form_odd_keys_are_encoded_but_brackets)
{
	assert_form("a b&c[d=e]", "1", "a%20b%26c[d%3De]=1");
}
END_TEST

START_TEST(test_form_pairs_empty_values_null_and_integers)
{
	struct stripe_form f;

	stripe_form_init(&f);
	ck_assert_str_eq(stripe_form_text(&f), "");
	ck_assert_int_eq(stripe_form_add(&f, "email", NULL), 0);
	ck_assert_str_eq(stripe_form_text(&f), "");
	stripe_form_add(&f, "a", "1");
	stripe_form_add(&f, "b", "");
	stripe_form_add(&f, "email", NULL);
	stripe_form_add_i64(&f, "amount", -40);
	stripe_form_add_i64(&f, "big", INT64_MAX);
	ck_assert_str_eq(stripe_form_text(&f),
	    "a=1&b=&amount=-40&big=9223372036854775807");
	stripe_form_free(&f);
	ck_assert_str_eq(stripe_form_text(&f), "");
	stripe_form_free(NULL);
}
END_TEST

START_TEST(test_form_grows_past_its_first_buffer)
{
	struct stripe_form f;
	char key[32];
	int i;

	stripe_form_init(&f);
	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "line_items[%d][price]", i);
		ck_assert_int_eq(stripe_form_add(&f, key, "p r"), 0);
	}
	ck_assert_ptr_nonnull(strstr(stripe_form_text(&f),
	    "&line_items[499][price]=p%20r"));
	ck_assert_uint_eq(strlen(stripe_form_text(&f)), f.len);
	stripe_form_free(&f);
}
END_TEST

/* -- retry rules ---------------------------------------------------- */

START_TEST(test_retry_rules)
{
	/* network errors, 409, 429, 5xx */
	ck_assert_int_eq(stripe_should_retry(1, 0, -1), 1);
	ck_assert_int_eq(stripe_should_retry(0, 409, -1), 1);
	ck_assert_int_eq(stripe_should_retry(0, 429, -1), 1);
	ck_assert_int_eq(stripe_should_retry(0, 500, -1), 1);
	ck_assert_int_eq(stripe_should_retry(0, 503, -1), 1);
	/* never another 4xx */
	ck_assert_int_eq(stripe_should_retry(0, 400, -1), 0);
	ck_assert_int_eq(stripe_should_retry(0, 401, -1), 0);
	ck_assert_int_eq(stripe_should_retry(0, 402, -1), 0);
	ck_assert_int_eq(stripe_should_retry(0, 404, -1), 0);
	/* Stripe-Should-Retry decides when present */
	ck_assert_int_eq(stripe_should_retry(0, 400, 1), 1);
	ck_assert_int_eq(stripe_should_retry(0, 500, 0), 0);
	ck_assert_int_eq(stripe_should_retry(0, 429, 0), 0);
}
END_TEST

START_TEST(test_backoff_doubles_to_a_cap_with_bounded_jitter)
{
	static const long base[] = { 500, 1000, 2000, 4000, 5000, 5000, 5000 };
	unsigned rnd;
	long d;
	int n;

	for (n = 1; n <= 7; n++) {
		ck_assert_int_eq(stripe_backoff_ms(n, 0), base[n - 1]);
		for (rnd = 0; rnd < 5000; rnd += 7) {
			d = stripe_backoff_ms(n, rnd);
			ck_assert_int_ge(d, base[n - 1]);
			ck_assert_int_le(d, base[n - 1] + base[n - 1] / 4);
		}
	}
	ck_assert_int_eq(stripe_backoff_ms(0, 0), 500);
	ck_assert_int_eq(stripe_backoff_ms(40, 0), 5000);
}
END_TEST

/* -- errors, units, ids --------------------------------------------- */

START_TEST(test_parse_error_object)
{
	struct stripe_error err;
	const char *body = "{\"error\": {\"type\": \"invalid_request_error\", "
	    "\"code\": \"resource_missing\", "
	    "\"param\": \"line_items[0][price]\", "
	    "\"message\": \"No such price: 'price_x'\", \"doc_url\": \"u\"}}";

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(stripe_parse_error(body, strlen(body), &err), 0);
	ck_assert_str_eq(err.type, "invalid_request_error");
	ck_assert_str_eq(err.code, "resource_missing");
	ck_assert_str_eq(err.param, "line_items[0][price]");
	ck_assert_str_eq(err.message, "No such price: 'price_x'");
}
END_TEST

START_TEST(test_parse_error_partial_and_wrong_bodies)
{
	struct stripe_error err;
	const char *partial = "{\"error\": {\"type\": \"api_error\"}}";

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(stripe_parse_error(partial, strlen(partial), &err), 0);
	ck_assert_str_eq(err.type, "api_error");
	ck_assert_str_eq(err.code, "");
	ck_assert_str_eq(err.param, "");
	ck_assert_int_eq(stripe_parse_error("{\"id\": 1}", 9, &err), -1);
	ck_assert_int_eq(stripe_parse_error("{\"error\": 2}", 12, &err), -1);
	ck_assert_int_eq(stripe_parse_error("<html>", 6, &err), -1);
	ck_assert_int_eq(stripe_parse_error("", 0, &err), -1);
	ck_assert_int_eq(stripe_parse_error(NULL, 0, &err), -1);
}
END_TEST

START_TEST(test_minor_units_from_micro_units)
{
	int64_t v;

	ck_assert_int_eq(stripe_minor_units("usd", 1400000, &v), 0);
	ck_assert_int_eq(v, 140);
	ck_assert_int_eq(stripe_minor_units("USD", -400000, &v), 0);
	ck_assert_int_eq(v, -40);
	ck_assert_int_eq(stripe_minor_units("eur", 0, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(stripe_minor_units("usd", 1405000, &v), -1);
	ck_assert_int_eq(stripe_minor_units("usd", 1, &v), -1);
	/* zero-decimal: whole yen */
	ck_assert_int_eq(stripe_minor_units("jpy", 1500000000, &v), 0);
	ck_assert_int_eq(v, 1500);
	ck_assert_int_eq(stripe_minor_units("jpy", 1500500000, &v), -1);
	/* three-decimal: fils */
	ck_assert_int_eq(stripe_minor_units("kwd", 1250000, &v), 0);
	ck_assert_int_eq(v, 1250);
}
END_TEST

START_TEST(test_id_valid)
{
	char long_id[300];

	ck_assert_int_eq(stripe_id_valid("cus_QXg1o8vcGmoR32"), 1);
	ck_assert_int_eq(stripe_id_valid("cs_test_a1YS1URlny"), 1);
	ck_assert_int_eq(stripe_id_valid(""), 0);
	ck_assert_int_eq(stripe_id_valid(NULL), 0);
	ck_assert_int_eq(stripe_id_valid("cus 1"), 0);
	ck_assert_int_eq(stripe_id_valid("cus/../x"), 0);
	ck_assert_int_eq(stripe_id_valid("cus?x=1"), 0);
	ck_assert_int_eq(stripe_id_valid("caf\xc3\xa9"), 0);
	memset(long_id, 'a', 256);
	long_id[256] = '\0';
	ck_assert_int_eq(stripe_id_valid(long_id), 0);
	long_id[255] = '\0';
	ck_assert_int_eq(stripe_id_valid(long_id), 1);
}
END_TEST

START_TEST(test_configured_and_init)
{
	struct billing_config cfg;
	struct stripe s;
	char key[] = "sk_test_123", base[] = "http://127.0.0.1:1";

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(stripe_configured(&cfg), 0);
	ck_assert_int_eq(stripe_init(&s, &cfg), STRIPE_DISABLED);
	cfg.stripe_enabled = 1;
	ck_assert_int_eq(stripe_configured(&cfg), 0);
	cfg.stripe_secret_key = key;
	cfg.stripe_api_base = base;
	ck_assert_int_eq(stripe_configured(&cfg), 1);
	ck_assert_int_eq(stripe_init(&s, &cfg), STRIPE_OK);
	ck_assert_int_eq(s.attempt_timeout_ms, 10000);
	ck_assert_int_eq(s.connect_timeout_ms, 5000);
	ck_assert_int_eq(s.budget_ms, 25000);
	ck_assert_int_eq(s.max_retries, 3);
	ck_assert_str_eq(s.api_base, base);
	cfg.stripe_timeout_seconds = 3;
	stripe_init(&s, &cfg);
	ck_assert_int_eq(s.attempt_timeout_ms, 3000);
	ck_assert_int_eq(s.connect_timeout_ms, 3000);
	ck_assert_int_eq(s.budget_ms, 11000);
	cfg.stripe_timeout_seconds = 0; /* out of range: the default */
	stripe_init(&s, &cfg);
	ck_assert_int_eq(s.attempt_timeout_ms, 10000);
	cfg.stripe_enabled = 0;
	ck_assert_int_eq(stripe_init(&s, &cfg), STRIPE_DISABLED);
}
END_TEST

/* -- the exchange, against a canned server --------------------------- */

#define DROP "DROP"  /* a "response" that closes the connection instead */

struct canned {
	pid_t pid;
	int port;
	int log;          /* read end: the requests received, in order */
};

/* Reads one request (headers, Content-Length body) into buf: its length,
 * or -1. */
static long
read_request(int fd, char *buf, size_t size)
{
	size_t len = 0;
	long clen = 0;
	char *end, *cl;
	ssize_t n;

	for (;;) {
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			if (cl != NULL && cl < end)
				clen = strtol(cl + 17, NULL, 10);
			if (len >= (size_t)(end + 4 - buf) + (size_t)clen)
				return (long)len;
		}
		if (len + 1 >= size)
			return -1;
		if ((n = read(fd, buf + len, size - len - 1)) <= 0)
			return -1;
		len += (size_t)n;
	}
}

/*
 * Serves answers[0..n-1] to the requests that come, in order, then exits.
 * What it receives goes to the pipe log (small: it never fills).
 */
static void
serve(int lfd, const char *const *answers, size_t n, int log)
{
	static char buf[65536];
	size_t i = 0;
	long len;
	int fd = -1;

	while (i < n) {
		if (fd < 0 && (fd = accept(lfd, NULL, NULL)) < 0)
			_exit(2);
		if ((len = read_request(fd, buf, sizeof(buf))) < 0) {
			close(fd);
			fd = -1;
			continue;
		}
		if (write(log, buf, (size_t)len) < 0 ||
		    write(log, "\n=====\n", 7) < 0)
			_exit(4);
		if (strcmp(answers[i], DROP) == 0) {
			close(fd);
			fd = -1;
		} else if (write(fd, answers[i], strlen(answers[i])) < 0)
			_exit(3);
		i++;
	}
	_exit(0);
}

static void
canned_start(struct canned *c, const char *const *answers, size_t n)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd, fds[2];

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(lfd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	c->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pipe(fds), 0);
	if ((c->pid = fork()) == 0) {
		close(fds[0]);
		serve(lfd, answers, n, fds[1]);
	}
	close(fds[1]);
	close(lfd);
	c->log = fds[0];
}

/* Stops the server; returns what it received (caller frees). */
static char *
canned_stop(struct canned *c)
{
	size_t len = 0, cap = 65536;
	char *text;
	ssize_t n;

	/* not SIGTERM: the child inherited Check's handler for it */
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	ck_assert_ptr_nonnull(text = calloc(1, cap + 1));
	while (len < cap && (n = read(c->log, text + len, cap - len)) > 0)
		len += (size_t)n;
	close(c->log);
	return text;
}

static void
client(struct stripe *s, struct canned *c, char *base, size_t size)
{
	snprintf(base, size, "http://127.0.0.1:%d", c->port);
	memset(s, 0, sizeof(*s));
	s->api_base = base;
	s->secret_key = "sk_test_unit";
	s->connect_timeout_ms = 2000;
	s->attempt_timeout_ms = 2000;
	s->budget_ms = 8000;
	s->max_retries = 3;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

#define OK_CUS "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
	"Request-Id: req_ok1\r\nContent-Length: 39\r\n\r\n" \
	"{\"id\": \"cus_123\", \"object\": \"customer\"}"
#define ERR_500 "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 56\r\n" \
	"\r\n{\"error\": {\"type\": \"api_error\", \"message\": \"boom boom\"}}"

START_TEST(test_request_sends_stripes_wire_format)
{
	static const char *const answers[] = { OK_CUS };
	struct canned c;
	struct stripe s;
	struct stripe_form f;
	struct stripe_error err;
	struct json_object *out = NULL, *id;
	char base[64], *got;

	canned_start(&c, answers, 1);
	client(&s, &c, base, sizeof(base));
	stripe_form_init(&f);
	stripe_form_add(&f, "metadata[user_id]", "a b&c");
	ck_assert_int_eq(stripe_request(&s, "POST", "/v1/customers", &f,
	    "customer-7", &out, &err), STRIPE_OK);
	ck_assert_int_eq(err.attempts, 1);
	ck_assert_int_eq(err.status, 200);
	ck_assert_str_eq(err.request_id, "req_ok1");
	ck_assert(json_object_object_get_ex(out, "id", &id));
	ck_assert_str_eq(json_object_get_string(id), "cus_123");
	json_object_put(out);
	stripe_form_free(&f);
	got = canned_stop(&c);
	ck_assert_ptr_nonnull(strstr(got, "POST /v1/customers HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\nAuthorization: Bearer "
	    "sk_test_unit\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\nStripe-Version: "
	    STRIPE_API_VERSION "\r\n"));
	ck_assert_ptr_nonnull(strstr(got,
	    "\r\nIdempotency-Key: customer-7\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\n\r\nmetadata[user_id]="
	    "a%20b%26c\n"));
	free(got);
}
END_TEST

START_TEST(test_request_retries_a_500_with_the_same_key)
{
	static const char *const answers[] = { ERR_500, OK_CUS };
	struct canned c;
	struct stripe s;
	struct stripe_error err;
	struct json_object *out = NULL;
	char base[64], *got;

	canned_start(&c, answers, 2);
	client(&s, &c, base, sizeof(base));
	ck_assert_int_eq(stripe_request(&s, "POST", "/v1/customers", NULL,
	    "customer-8", &out, &err), STRIPE_OK);
	ck_assert_int_eq(err.attempts, 2);
	json_object_put(out);
	got = canned_stop(&c);
	ck_assert_uint_eq(count(got, "Idempotency-Key: customer-8\r\n"), 2);
	free(got);
}
END_TEST

START_TEST(test_request_retries_a_dropped_connection)
{
	static const char *const answers[] = { DROP, OK_CUS };
	struct canned c;
	struct stripe s;
	struct stripe_error err;
	struct json_object *out = NULL;
	char base[64], *got;

	canned_start(&c, answers, 2);
	client(&s, &c, base, sizeof(base));
	ck_assert_int_eq(stripe_request(&s, "POST", "/v1/customers", NULL,
	    "customer-9", &out, &err), STRIPE_OK);
	ck_assert_int_ge(err.attempts, 1);
	json_object_put(out);
	got = canned_stop(&c);
	ck_assert_uint_eq(count(got, "Idempotency-Key: customer-9\r\n"), 2);
	free(got);
}
END_TEST

START_TEST(test_request_never_retries_a_400)
{
	static const char *const answers[] = {
	    "HTTP/1.1 400 Bad Request\r\nRequest-Id: req_bad\r\n"
	    "Content-Length: 95\r\n\r\n{\"error\": {\"type\": "
	    "\"invalid_request_error\", \"param\": \"price\", \"message\": "
	    "\"No such price: 'p'\"}}", OK_CUS };
	struct canned c;
	struct stripe s;
	struct stripe_error err;
	struct json_object *out = NULL;
	char base[64], *got;

	canned_start(&c, answers, 2);
	client(&s, &c, base, sizeof(base));
	ck_assert_int_eq(stripe_request(&s, "POST", "/v1/checkout/sessions",
	    NULL, "k", &out, &err), STRIPE_REJECTED);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(err.rc, STRIPE_REJECTED);
	ck_assert_int_eq(err.attempts, 1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.type, "invalid_request_error");
	ck_assert_str_eq(err.param, "price");
	ck_assert_str_eq(err.message, "No such price: 'p'");
	ck_assert_str_eq(err.request_id, "req_bad");
	got = canned_stop(&c);
	ck_assert_uint_eq(count(got, "=====\n"), 1);
	free(got);
}
END_TEST

START_TEST(test_request_honours_should_retry_false)
{
	static const char *const answers[] = {
	    "HTTP/1.1 503 Unavailable\r\nStripe-Should-Retry: false\r\n"
	    "Content-Length: 2\r\n\r\n{}", OK_CUS };
	struct canned c;
	struct stripe s;
	struct stripe_error err;
	struct json_object *out = NULL;
	char base[64], *got;

	canned_start(&c, answers, 2);
	client(&s, &c, base, sizeof(base));
	ck_assert_int_eq(stripe_request(&s, "POST", "/v1/customers", NULL, "k",
	    &out, &err), STRIPE_UNAVAILABLE);
	ck_assert_int_eq(err.attempts, 1);
	ck_assert_str_eq(err.message, "Stripe answered HTTP 503");
	got = canned_stop(&c);
	ck_assert_uint_eq(count(got, "=====\n"), 1);
	free(got);
}
END_TEST

START_TEST(test_request_to_nobody_is_unavailable)
{
	struct canned c = { 0 };
	struct stripe s;
	struct stripe_error err;
	struct json_object *out = NULL;
	char base[64];
	int fd;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	/* a port that was free a moment ago */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	c.port = ntohs(sa.sin_port);
	close(fd);
	client(&s, &c, base, sizeof(base));
	s.max_retries = 1;
	ck_assert_int_eq(stripe_request(&s, "GET", "/v1/customers/cus_1", NULL,
	    NULL, &out, &err), STRIPE_UNAVAILABLE);
	ck_assert_int_eq(err.attempts, 2);
	ck_assert_int_eq(err.status, 0);
	ck_assert_ptr_nonnull(strstr(err.message, "unreachable"));
	s.secret_key = NULL;
	ck_assert_int_eq(stripe_request(&s, "GET", "/v1/x", NULL, NULL, &out,
	    &err), STRIPE_DISABLED);
}
END_TEST

#define PAGE1 "HTTP/1.1 200 OK\r\nContent-Length: 91\r\n\r\n" \
	"{\"object\": \"list\", \"has_more\": true, \"data\": " \
	"[{\"id\": \"pm_3\"}, {\"id\": \"pm_2\"}], \"url\": \"/x\"}"
#define PAGE2 "HTTP/1.1 200 OK\r\nContent-Length: 76\r\n\r\n" \
	"{\"object\": \"list\", \"has_more\": false, \"data\": " \
	"[{\"id\": \"pm_1\"}], \"url\": \"/x\"}"

START_TEST(test_list_follows_pages)
{
	static const char *const answers[] = { PAGE1, PAGE2 };
	struct canned c;
	struct stripe s;
	struct stripe_form q;
	struct stripe_error err;
	struct json_object *items = NULL, *id;
	char base[64], *got;

	canned_start(&c, answers, 2);
	client(&s, &c, base, sizeof(base));
	stripe_form_init(&q);
	stripe_form_add(&q, "limit", "2");
	ck_assert_int_eq(stripe_list(&s, "/v1/customers/cus_1/payment_methods",
	    &q, 100, &items, &err), STRIPE_OK);
	ck_assert_uint_eq(json_object_array_length(items), 3);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(items, 2),
	    "id", &id));
	ck_assert_str_eq(json_object_get_string(id), "pm_1");
	json_object_put(items);
	stripe_form_free(&q);
	got = canned_stop(&c);
	ck_assert_ptr_nonnull(strstr(got, "GET /v1/customers/cus_1/"
	    "payment_methods?limit=2 HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "GET /v1/customers/cus_1/"
	    "payment_methods?limit=2&starting_after=pm_2 HTTP/1.1\r\n"));
	ck_assert_ptr_null(strstr(got, "Idempotency-Key"));
	ck_assert_ptr_null(strstr(got, "Content-Type"));
	free(got);
}
END_TEST

START_TEST(test_list_refuses_more_than_asked)
{
	static const char *const answers[] = { PAGE1 };
	struct canned c;
	struct stripe s;
	struct stripe_error err;
	struct json_object *items = NULL;
	char base[64];

	canned_start(&c, answers, 1);
	client(&s, &c, base, sizeof(base));
	ck_assert_int_eq(stripe_list(&s, "/v1/x", NULL, 1, &items, &err),
	    STRIPE_BAD_ANSWER);
	ck_assert_ptr_null(items);
	free(canned_stop(&c));
}
END_TEST

static Suite *
stripe_suite(void)
{
	Suite *s = suite_create("stripe");
	TCase *tc;

	tc = tcase_create("form");
	tcase_add_test(tc, test_form_plain_pair);
	tcase_add_test(tc, test_form_nested_keys_keep_literal_brackets);
	tcase_add_test(tc, test_form_reserved_characters_are_encoded);
	tcase_add_test(tc, test_form_utf8_is_encoded_bytewise);
	tcase_add_test(tc, test_form_checkout_placeholder_braces);
	tcase_add_test(tc, test_form_odd_keys_are_encoded_but_brackets);
	tcase_add_test(tc, test_form_pairs_empty_values_null_and_integers);
	tcase_add_test(tc, test_form_grows_past_its_first_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_test(tc, test_retry_rules);
	tcase_add_test(tc, test_backoff_doubles_to_a_cap_with_bounded_jitter);
	tcase_add_test(tc, test_parse_error_object);
	tcase_add_test(tc, test_parse_error_partial_and_wrong_bodies);
	tcase_add_test(tc, test_minor_units_from_micro_units);
	tcase_add_test(tc, test_id_valid);
	tcase_add_test(tc, test_configured_and_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("exchange");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_request_sends_stripes_wire_format);
	tcase_add_test(tc, test_request_retries_a_500_with_the_same_key);
	tcase_add_test(tc, test_request_retries_a_dropped_connection);
	tcase_add_test(tc, test_request_never_retries_a_400);
	tcase_add_test(tc, test_request_honours_should_retry_false);
	tcase_add_test(tc, test_request_to_nobody_is_unavailable);
	tcase_add_test(tc, test_list_follows_pages);
	tcase_add_test(tc, test_list_refuses_more_than_asked);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(stripe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
