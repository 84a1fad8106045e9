/*
 * stripe: the HTTP exchange with Stripe, with retries, and lists.
 * (Form encoding and the pure rules live in stripe_form.c.)
 *
 * One curl easy handle per process, made on first use.  A process that
 * inherited a handle across fork(2) leaves it alone (cleaning it up would
 * close connections its parent still uses) and makes its own.  The handle
 * is reset before each call; its connection cache survives the reset, so
 * calls reuse a kept-alive connection.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "build-config.h"
#include "config.h"
#include "json_util.h"
#include "log.h"
#include "stripe.h"
#include "timeutil.h"

#define ANSWER_MAX (8 * 1024 * 1024)  /* bytes of one answer */
#define MIN_ATTEMPT_MS 250            /* not worth starting with less left */
#define LIST_MAX_PAGES 1000

static CURL *curl;        /* this process's handle, or NULL */
static pid_t curl_pid;    /* the process that made it */
static unsigned jitter_state;

/* -- the client ------------------------------------------------------------ */

int
stripe_init(struct stripe *s, const struct billing_config *cfg)
{
	long secs = 10;

	memset(s, 0, sizeof(*s));
	if (!stripe_configured(cfg))
		return STRIPE_DISABLED;
	s->api_base = cfg->stripe_api_base != NULL ? cfg->stripe_api_base :
	    "https://api.stripe.com";
	s->secret_key = cfg->stripe_secret_key;
	if (cfg->stripe_timeout_seconds >= 1 && cfg->stripe_timeout_seconds <= 120)
		secs = cfg->stripe_timeout_seconds;
	s->attempt_timeout_ms = secs * 1000;
	s->connect_timeout_ms = secs < 5 ? secs * 1000 : 5000;
	/* two stalled attempts, or four quick failures with their pauses */
	s->budget_ms = 2 * s->attempt_timeout_ms + 5000;
	s->max_retries = STRIPE_MAX_RETRIES;
	return STRIPE_OK;
}

void
stripe_close(void)
{
	if (curl != NULL && curl_pid == getpid())
		curl_easy_cleanup(curl);
	curl = NULL;
}

/* This process's handle, made on first use.  NULL when curl cannot make one. */
static CURL *
handle(void)
{
	pid_t me = getpid();

	if (curl != NULL && curl_pid == me) {
		curl_easy_reset(curl);
		return curl;
	}
	/* one inherited across fork is the parent's: leave it be */
	curl = curl_easy_init();
	curl_pid = me;
	jitter_state = (unsigned)me ^ (unsigned)time_mono_usec();
	return curl;
}

/* One attempt's answer. */
struct answer {
	char *body;          /* owned */
	size_t len, cap;
	int too_big;
	int should_retry;    /* -1 absent, 0 false, 1 true */
	char request_id[128];
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, cap;
	char *nb;

	if (a->len + n + 1 > ANSWER_MAX) {
		a->too_big = 1;
		return 0;
	}
	if (a->len + n + 1 > a->cap) {
		cap = a->cap ? a->cap : 4096;
		while (cap < a->len + n + 1)
			cap *= 2;
		if ((nb = realloc(a->body, cap)) == NULL)
			return 0;
		a->body = nb;
		a->cap = cap;
	}
	memcpy(a->body + a->len, data, n);
	a->len += n;
	a->body[a->len] = '\0';
	return n;
}

/* Copies the value of header line h (n bytes) when its name is name. */
static int
header_value(const char *h, size_t n, const char *name, char *dst,
    size_t size)
{
	size_t nl = strlen(name), i, j;

	if (n <= nl || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
		return 0;
	for (i = nl + 1; i < n && (h[i] == ' ' || h[i] == '\t'); i++)
		;
	for (j = n; j > i && (h[j - 1] == '\r' || h[j - 1] == '\n' ||
	    h[j - 1] == ' '); j--)
		;
	snprintf(dst, size, "%.*s", (int)(j - i), h + i);
	return 1;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;
	char v[16];
	size_t i;

	/* the headers of one answer; a new status line starts over */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		a->should_retry = -1;
		a->request_id[0] = '\0';
	}
	header_value(data, n, "Request-Id", a->request_id,
	    sizeof(a->request_id));
	for (i = 0; a->request_id[i] != '\0'; i++)
		if (!isalnum((unsigned char)a->request_id[i]) &&
		    a->request_id[i] != '_' && a->request_id[i] != '-')
			a->request_id[i] = '?';
	if (header_value(data, n, "Stripe-Should-Retry", v, sizeof(v)))
		a->should_retry = strcasecmp(v, "true") == 0 ? 1 :
		    strcasecmp(v, "false") == 0 ? 0 : -1;
	return n;
}

static void
sleep_ms(long ms)
{
	struct timespec ts, rem;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

/*
 * The options of one attempt.  The Authorization line is built in auth
 * (the caller's, wiped after the call).  0 or -1.
 */
static int
set_options(CURL *h, const char *method, const char *url,
    const struct stripe_form *form, struct curl_slist *hdrs, long timeout_ms,
    long connect_ms, struct answer *a, char *errbuf)
{
	int is_post = strcmp(method, "POST") == 0;
	CURLcode c = CURLE_OK;

	c |= curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	c |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	c |= curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	c |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	c |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	c |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	c |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	c |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	c |= curl_easy_setopt(h, CURLOPT_USERAGENT,
	    PACKAGE "/" PACKAGE_VERSION);
	c |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	c |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	c |= curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	c |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	c |= curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	c |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (is_post) {
		c |= curl_easy_setopt(h, CURLOPT_POST, 1L);
		c |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
		    (long)(form != NULL ? form->len : 0));
		c |= curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    stripe_form_text(form));
	} else if (strcmp(method, "GET") == 0)
		c |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
		c |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	return c == CURLE_OK ? 0 : -1;
}

/* The request's headers; the key goes into auth, which the caller wipes. */
static struct curl_slist *
make_headers(const struct stripe *s, const char *method,
    const char *idempotency_key, char *auth, size_t authlen)
{
	struct curl_slist *l = NULL, *n;
	char idem[320];
	const char *lines[6];
	size_t i, nl = 0;

	snprintf(auth, authlen, "Authorization: Bearer %s", s->secret_key);
	lines[nl++] = auth;
	lines[nl++] = "Stripe-Version: " STRIPE_API_VERSION;
	lines[nl++] = "Accept: application/json";
	lines[nl++] = "Expect:";
	if (strcmp(method, "POST") == 0)
		lines[nl++] = "Content-Type: application/x-www-form-urlencoded";
	if (idempotency_key != NULL) {
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s",
		    idempotency_key);
		/* a header line of printable ASCII only */
		for (i = 17; idem[i] != '\0'; i++)
			if ((unsigned char)idem[i] <= 0x20 ||
			    (unsigned char)idem[i] >= 0x7f)
				idem[i] = '_';
		lines[nl++] = idem;
	}
	for (i = 0; i < nl; i++) {
		if ((n = curl_slist_append(l, lines[i])) == NULL) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = n;
	}
	return l;
}

static void set_error(struct stripe_error *, int, const char *, ...)
    LOG_PRINTF(3, 4);

static void
set_error(struct stripe_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	err->rc = rc;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* One call in progress. */
struct call {
	struct stripe *s;
	const char *method, *path;
	const struct stripe_form *form;
	char *url;                   /* owned */
	struct curl_slist *hdrs;     /* owned */
	int64_t start, deadline;     /* monotonic usec */
	struct answer a;             /* of the last attempt */
	char errbuf[CURL_ERROR_SIZE];
	CURLcode cc;
	long status;                 /* 0: no HTTP answer */
};

/* One attempt; fills c->a, c->cc and c->status.  0, or -1 on a setup error. */
static int
attempt(CURL *h, struct call *c)
{
	long timeout, connect;

	free(c->a.body);
	memset(&c->a, 0, sizeof(c->a));
	c->a.should_retry = -1;
	c->errbuf[0] = '\0';
	c->status = 0;
	timeout = (long)((c->deadline - time_mono_usec()) / 1000);
	if (timeout > c->s->attempt_timeout_ms)
		timeout = c->s->attempt_timeout_ms;
	if (timeout < MIN_ATTEMPT_MS)
		timeout = MIN_ATTEMPT_MS;
	connect = c->s->connect_timeout_ms < timeout ?
	    c->s->connect_timeout_ms : timeout;
	curl_easy_reset(h);
	if (set_options(h, c->method, c->url, c->form, c->hdrs, timeout,
	    connect, &c->a, c->errbuf) != 0)
		return -1;
	c->cc = curl_easy_perform(h);
	if (c->cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	return 0;
}

static int
succeeded(const struct call *c)
{
	return c->cc == CURLE_OK && c->status >= 200 && c->status < 300;
}

/* After the last attempt: *out on success, else the error in err. */
static void
conclude(struct call *c, struct json_object **out, struct stripe_error *err)
{
	struct json_object *root;
	const char *why;

	err->status = c->status;
	if (succeeded(c)) {
		root = c->a.body != NULL ? json_parse_limited(c->a.body,
		    c->a.len, STRIPE_ANSWER_DEPTH, &why) : NULL;
		if (root != NULL &&
		    json_object_is_type(root, json_type_object)) {
			err->rc = STRIPE_OK;
			*out = root;
			return;
		}
		json_object_put(root);
		set_error(err, STRIPE_BAD_ANSWER, "%s", "Stripe's answer is "
		    "not a JSON object");
	} else if (c->cc == CURLE_WRITE_ERROR && c->a.too_big)
		set_error(err, STRIPE_BAD_ANSWER, "%s", "Stripe's answer is "
		    "too large");
	else if (c->cc != CURLE_OK)
		set_error(err, STRIPE_UNAVAILABLE, "Stripe is unreachable: %s",
		    c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(c->cc));
	else {
		if (stripe_parse_error(c->a.body, c->a.len, err) != 0 ||
		    err->message[0] == '\0')
			snprintf(err->message, sizeof(err->message),
			    "Stripe answered HTTP %ld", c->status);
		err->rc = c->status == 409 || c->status == 429 ||
		    c->status >= 500 ? STRIPE_UNAVAILABLE : STRIPE_REJECTED;
	}
	/* what Stripe says is passed on and logged: never with our key */
	if (strstr(err->message, c->s->secret_key) != NULL)
		snprintf(err->message, sizeof(err->message), "Stripe answered "
		    "HTTP %ld (message withheld)", c->status);
}

/* The call's one line: method, path, status, request id, attempts, time. */
static void
log_call(const struct call *c, const struct stripe_error *err)
{
	char msg[600];
	long long ms = (long long)((time_mono_usec() - c->start) / 1000);
	const char *rid = err->request_id[0] ? err->request_id : "-";

	if (err->rc == STRIPE_OK) {
		log_info("stripe: %s %s -> %ld request=%s attempts=%d %lld ms",
		    c->method, c->path, c->status, rid, err->attempts, ms);
		return;
	}
	log_escape(msg, sizeof(msg), err->message, strlen(err->message));
	log_warnx("stripe: %s %s -> %ld request=%s attempts=%d %lld ms: %s%s%s",
	    c->method, c->path, c->status, rid, err->attempts, ms, err->type,
	    err->type[0] ? ": " : "", msg);
}

int
stripe_request(struct stripe *s, const char *method, const char *path,
    const struct stripe_form *form, const char *idempotency_key,
    struct json_object **out, struct stripe_error *err)
{
	struct call c;
	char auth[1024] = "";
	const char *q;
	long pause;
	size_t blen;
	CURL *h;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.method = method;
	c.path = path;
	c.form = form;
	c.start = time_mono_usec();
	c.deadline = c.start + (int64_t)s->budget_ms * 1000;
	if (s->secret_key == NULL) {
		set_error(err, STRIPE_DISABLED, "%s", "Stripe is not "
		    "configured");
		return STRIPE_DISABLED;
	}
	/* a GET's form is its query string */
	q = strcmp(method, "POST") != 0 ? stripe_form_text(form) : "";
	for (blen = strlen(s->api_base); blen > 0 &&
	    s->api_base[blen - 1] == '/'; blen--)
		;
	if (asprintf(&c.url, "%.*s%s%s%s", (int)blen, s->api_base, path,
	    *q ? "?" : "", q) < 0)
		c.url = NULL;
	if ((form != NULL && form->failed) || c.url == NULL ||
	    (h = handle()) == NULL || (c.hdrs = make_headers(s, method,
	    idempotency_key, auth, sizeof(auth))) == NULL) {
		set_error(err, STRIPE_BAD_ANSWER, "%s", "out of memory");
		goto out;
	}
	for (;;) {
		err->attempts++;
		if (attempt(h, &c) != 0) {
			set_error(err, STRIPE_BAD_ANSWER, "%s", "cannot set up "
			    "the request");
			goto out;
		}
		snprintf(err->request_id, sizeof(err->request_id), "%s",
		    c.a.request_id);
		if (succeeded(&c) || (c.cc == CURLE_WRITE_ERROR &&
		    c.a.too_big) || !stripe_should_retry(c.cc != CURLE_OK,
		    c.status, c.a.should_retry) ||
		    err->attempts > s->max_retries)
			break;
		pause = stripe_backoff_ms(err->attempts,
		    (unsigned)rand_r(&jitter_state));
		if (time_mono_usec() + (pause + MIN_ATTEMPT_MS) * 1000 >
		    c.deadline)
			break;
		log_warnx("stripe: %s %s attempt %d: %s %ld request=%s; "
		    "retrying in %ld ms", method, path, err->attempts,
		    c.cc != CURLE_OK ? curl_easy_strerror(c.cc) : "HTTP",
		    c.status, c.a.request_id[0] ? c.a.request_id : "-", pause);
		sleep_ms(pause);
	}
	conclude(&c, out, err);
out:
	log_call(&c, err);
	explicit_bzero(auth, sizeof(auth));
	curl_slist_free_all(c.hdrs);
	free(c.a.body);
	free(c.url);
	return err->rc;
}

int
stripe_list(struct stripe *s, const char *path,
    const struct stripe_form *params, size_t max_items,
    struct json_object **items, struct stripe_error *err)
{
	struct json_object *arr, *page = NULL, *data, *more, *last, *id;
	struct stripe_form q;
	char after[STRIPE_ID_MAX + 1] = "";
	size_t i, n, pages;
	int rc = STRIPE_OK;

	*items = NULL;
	if ((arr = json_object_new_array()) == NULL) {
		memset(err, 0, sizeof(*err));
		set_error(err, STRIPE_BAD_ANSWER, "%s", "out of memory");
		return STRIPE_BAD_ANSWER;
	}
	for (pages = 0; pages < LIST_MAX_PAGES; pages++) {
		stripe_form_init(&q);
		if (params != NULL)
			stripe_form_append(&q, params);
		if (after[0] != '\0')
			stripe_form_add(&q, "starting_after", after);
		rc = stripe_request(s, "GET", path, &q, NULL, &page, err);
		stripe_form_free(&q);
		if (rc != STRIPE_OK)
			goto out;
		if (!json_object_object_get_ex(page, "data", &data) ||
		    !json_object_is_type(data, json_type_array) ||
		    !json_object_object_get_ex(page, "has_more", &more)) {
			rc = STRIPE_BAD_ANSWER;
			set_error(err, rc, "%s", "Stripe's list has no data");
			goto out;
		}
		n = json_object_array_length(data);
		if (json_object_array_length(arr) + n > max_items) {
			rc = STRIPE_BAD_ANSWER;
			set_error(err, rc, "%s", "Stripe's list is too long");
			goto out;
		}
		for (i = 0; i < n; i++) {
			last = json_object_array_get_idx(data, i);
			json_object_array_add(arr, json_object_get(last));
		}
		if (!json_object_get_boolean(more))
			break;
		/* the next page starts after the last object of this one */
		last = n > 0 ? json_object_array_get_idx(data, n - 1) : NULL;
		if (last == NULL ||
		    !json_object_object_get_ex(last, "id", &id) ||
		    !stripe_id_valid(json_object_get_string(id)) ||
		    strcmp(after, json_object_get_string(id)) == 0) {
			rc = STRIPE_BAD_ANSWER;
			set_error(err, rc, "%s", "Stripe's list cannot be "
			    "followed");
			goto out;
		}
		snprintf(after, sizeof(after), "%s",
		    json_object_get_string(id));
		json_object_put(page);
		page = NULL;
	}
	if (pages == LIST_MAX_PAGES) {
		rc = STRIPE_BAD_ANSWER;
		set_error(err, rc, "%s", "Stripe's list has too many pages");
	}
out:
	json_object_put(page);
	if (rc == STRIPE_OK)
		*items = arr;
	else
		json_object_put(arr);
	return rc;
}
