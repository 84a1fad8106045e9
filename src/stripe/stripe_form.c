/*
 * stripe_form: what the Stripe client does without the network: encoding
 * form bodies with bracketed keys, and the pure rules (is Stripe configured,
 * should a call be retried, how long to wait, what an error answer says,
 * what an id may look like).  Unit-tested without a server.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "json_util.h"
#include "money.h"
#include "stripe.h"

/* -- form encoding -------------------------------------------------------- */

void
stripe_form_init(struct stripe_form *f)
{
	memset(f, 0, sizeof(*f));
}

void
stripe_form_free(struct stripe_form *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	stripe_form_init(f);
}

/* Makes room for n more bytes and the NUL.  0 or -1 (f marked failed). */
static int
form_reserve(struct stripe_form *f, size_t n)
{
	size_t want, cap;
	char *nb;

	if (f->failed)
		return -1;
	want = f->len + n + 1;
	if (want <= f->cap)
		return 0;
	cap = f->cap ? f->cap : 256;
	while (cap < want)
		cap *= 2;
	if ((nb = realloc(f->buf, cap)) == NULL) {
		f->failed = 1;
		return -1;
	}
	f->buf = nb;
	f->cap = cap;
	return 0;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Appends s percent-encoded; brackets stay literal when is_key. */
static int
form_encode(struct stripe_form *f, const char *s, int is_key)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (form_reserve(f, strlen(s) * 3) != 0)
		return -1;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (unreserved(*p) || (is_key && (*p == '[' || *p == ']')))
			f->buf[f->len++] = (char)*p;
		else {
			f->buf[f->len++] = '%';
			f->buf[f->len++] = hex[*p >> 4];
			f->buf[f->len++] = hex[*p & 0x0f];
		}
	}
	f->buf[f->len] = '\0';
	return 0;
}

/* Appends n bytes of already encoded text. */
static int
form_raw(struct stripe_form *f, const char *s, size_t n)
{
	if (form_reserve(f, n) != 0)
		return -1;
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	f->buf[f->len] = '\0';
	return 0;
}

int
stripe_form_append(struct stripe_form *dst, const struct stripe_form *src)
{
	if (src->len == 0)
		return 0;
	if (dst->len > 0 && form_raw(dst, "&", 1) != 0)
		return -1;
	return form_raw(dst, src->buf, src->len);
}

int
stripe_form_add(struct stripe_form *f, const char *key, const char *value)
{
	if (value == NULL)
		return f->failed ? -1 : 0;
	if ((f->len > 0 && form_raw(f, "&", 1) != 0) ||
	    form_encode(f, key, 1) != 0 || form_raw(f, "=", 1) != 0 ||
	    form_encode(f, value, 0) != 0)
		return -1;
	return 0;
}

int
stripe_form_add_i64(struct stripe_form *f, const char *key, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return stripe_form_add(f, key, buf);
}

const char *
stripe_form_text(const struct stripe_form *f)
{
	return f != NULL && f->buf != NULL ? f->buf : "";
}

/* -- pure helpers ---------------------------------------------------------- */

int
stripe_configured(const struct billing_config *cfg)
{
	return cfg != NULL && cfg->stripe_enabled &&
	    cfg->stripe_secret_key != NULL && cfg->stripe_secret_key[0] != '\0';
}

int
stripe_should_retry(int transport_failed, long status, int should_retry)
{
	if (should_retry == 0)
		return 0;
	if (should_retry == 1 || transport_failed)
		return 1;
	return status == 409 || status == 429 || status >= 500;
}

long
stripe_backoff_ms(int n, unsigned rnd)
{
	long base = 500;

	if (n < 1)
		n = 1;
	while (--n > 0 && base < 5000)
		base *= 2;
	if (base > 5000)
		base = 5000;
	return base + (long)(rnd % (unsigned)(base / 4 + 1));
}

const char *
stripe_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

static void
copy_str(struct json_object *o, const char *key, char *dst, size_t size)
{
	snprintf(dst, size, "%s", stripe_str(o, key));
}

int
stripe_parse_error(const char *body, size_t len, struct stripe_error *err)
{
	struct json_object *root, *e;
	const char *why;
	int rc = -1;

	err->type[0] = err->code[0] = err->param[0] = '\0';
	if (body == NULL || len == 0)
		return -1;
	root = json_parse_limited(body, len, STRIPE_ANSWER_DEPTH, &why);
	if (root != NULL && json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "error", &e) &&
	    json_object_is_type(e, json_type_object)) {
		copy_str(e, "type", err->type, sizeof(err->type));
		copy_str(e, "code", err->code, sizeof(err->code));
		copy_str(e, "param", err->param, sizeof(err->param));
		copy_str(e, "message", err->message, sizeof(err->message));
		rc = 0;
	}
	json_object_put(root);
	return rc;
}

int
stripe_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_')
			return 0;
	return n >= 1 && n <= STRIPE_ID_MAX;
}

/* Stripe counts money in the currency's minor unit (cents; yen). */
int
stripe_minor_units(const char *currency, int64_t micros, int64_t *out)
{
	int64_t div = 1000000;
	int d;

	for (d = money_currency_decimals(currency); d > 0; d--)
		div /= 10;
	if (micros % div != 0)
		return -1;
	*out = micros / div;
	return 0;
}
