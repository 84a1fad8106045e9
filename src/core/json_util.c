/*
 * json_util: strict parsing with limits, and exact decimals in both
 * directions.  json-c keeps the source text of every parsed number, which is
 * what lets money arrive as a JSON number without ever passing through a
 * binary floating point value.
 */
#include <ctype.h>
#include <string.h>

#include <json-c/json.h>

#include "json_util.h"
#include "money.h"
#include "quantity.h"
#include "timeutil.h"

/*
 * A strict RFC 8259 syntax check run before json-c, which even in its strict
 * mode accepts single-quoted strings, NaN and Infinity.  Recursion depth is
 * bounded by max_depth.
 */
struct scan {
	const char *p, *end;
	int depth, max_depth;
	const char *why;
};

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
scan_number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p >= s->end || !is_digit(*s->p))
		return -1;
	if (*s->p == '0')
		s->p++;
	else
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (s->p >= s->end || !is_digit(*s->p))
			return -1;
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p >= s->end || !is_digit(*s->p))
			return -1;
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	}
	return 0;
}

static int
scan_string(struct scan *s)
{
	s->p++; /* the opening quote */
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		int i;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return -1;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			for (i = 0; i < 4; i++, s->p++)
				if (s->p >= s->end ||
				    !isxdigit((unsigned char)*s->p))
					return -1;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
			return -1;
	}
	return -1;
}

static int scan_value(struct scan *s);

static int
scan_container(struct scan *s, char close)
{
	if (++s->depth > s->max_depth) {
		s->why = "JSON nested too deeply";
		return -1;
	}
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			scan_ws(s);
			if (s->p >= s->end || *s->p != '"' || scan_string(s) != 0)
				return -1;
			scan_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return -1;
		}
		if (scan_value(s) != 0)
			return -1;
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p++ != close)
			return -1;
		s->depth--;
		return 0;
	}
}

static int
scan_value(struct scan *s)
{
	int rc;

	scan_ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{': rc = scan_container(s, '}'); break;
	case '[': rc = scan_container(s, ']'); break;
	case '"': rc = scan_string(s); break;
	case 't': rc = scan_literal(s, "true"); break;
	case 'f': rc = scan_literal(s, "false"); break;
	case 'n': rc = scan_literal(s, "null"); break;
	default: rc = scan_number(s); break;
	}
	if (rc == 0)
		scan_ws(s);
	return rc;
}

/* 0 when text is exactly one valid JSON value (surrounded by white space). */
static int
json_syntax_ok(const char *text, size_t len, int max_depth, const char **why)
{
	struct scan s = { text, text + len, 0, max_depth, NULL };

	if (scan_value(&s) != 0 || s.p != s.end) {
		*why = s.why ? s.why : "invalid JSON";
		return -1;
	}
	return 0;
}

struct json_object *
json_parse_limited(const char *text, size_t len, int max_depth, const char **why)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t used, i;

	*why = "invalid JSON";
	if (len == 0) {
		*why = "empty body";
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL)
		return NULL;
	if (json_syntax_ok(text, len, max_depth, why) != 0)
		return NULL;
	/* json-c counts depth one level earlier than our scan does */
	if ((tok = json_tokener_new_ex(max_depth + 1)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	/* a bare number or literal at the very end waits for more input:
	 * tell json-c the input is over */
	if (obj == NULL && jerr == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		used = len;
	}
	if (obj == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_error_depth)
			*why = "JSON nested too deeply";
		else if (jerr == json_tokener_continue)
			*why = "truncated JSON";
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	/* nothing but white space may follow the value */
	for (i = used; i < len; i++) {
		char c = text[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			*why = "trailing data after JSON value";
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
	*why = NULL;
out:
	json_tokener_free(tok);
	return obj;
}

/* A JSON number written as text, which a formatter returned formatted (<0:
 * it failed, NULL).  The numeric value json-c stores beside our text is
 * never read: money is the text. */
static struct json_object *
json_number_text(int formatted, const char *text)
{
	if (formatted < 0)
		return NULL;
	return json_object_new_double_s(0, text);
}

struct json_object *
json_money(int64_t micros, int decimals)
{
	char buf[48];

	return json_number_text(money_format(micros, decimals, buf,
	    sizeof(buf)), buf);
}

struct json_object *
json_money_trim(int64_t micros, int min_decimals)
{
	char buf[48];

	return json_number_text(money_format_trim(micros, min_decimals, buf,
	    sizeof(buf)), buf);
}

struct json_object *
json_time(int64_t usec)
{
	char buf[TIME_TEXT_MAX];

	if (time_format_rfc3339(usec, buf, sizeof(buf)) < 0)
		return NULL;
	return json_object_new_string(buf);
}

int
json_get_money(struct json_object *val, int max_decimals, int64_t *out)
{
	const char *text;
	size_t len;

	switch (json_object_get_type(val)) {
	case json_type_string:
		text = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
		break;
	case json_type_int:
	case json_type_double:
		/* the number's own source text (or exact int64 digits) */
		text = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
		len = text ? strlen(text) : 0;
		break;
	default:
		return -1;
	}
	if (text == NULL)
		return -1;
	return money_parse(text, len, max_decimals, out);
}

static struct json_object *
json_field(struct json_object *obj, const char *key)
{
	struct json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val))
		return NULL;
	return val; /* JSON null is NULL too */
}

int
json_field_string(struct json_object *obj, const char *key, size_t min_len,
    size_t max_len, const char **out)
{
	struct json_object *val = json_field(obj, key);
	const char *s;
	size_t len;

	if (val == NULL)
		return 0;
	if (!json_object_is_type(val, json_type_string))
		return -1;
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (strlen(s) != len || len < min_len || len > max_len)
		return -1;
	*out = s;
	return 1;
}

int
json_field_money(struct json_object *obj, const char *key, int max_decimals,
    int64_t *out)
{
	struct json_object *val = json_field(obj, key);

	if (val == NULL)
		return 0;
	return json_get_money(val, max_decimals, out) == 0 ? 1 : -1;
}

int
json_field_quantity(struct json_object *obj, const char *key, int kind,
    int64_t max_micros, int64_t *out)
{
	struct json_object *val = json_field(obj, key);
	int64_t v;

	if (val == NULL)
		return 0;
	if (json_object_is_type(val, json_type_string)) {
		if (quantity_parse(json_object_get_string(val),
		    (size_t)json_object_get_string_len(val),
		    (enum quantity_kind)kind, max_micros, &v) != 0)
			return -1;
	} else if (json_get_money(val, MONEY_DECIMALS, &v) != 0 || v < 0 ||
	    v > max_micros) {
		return -1;
	}
	*out = v;
	return 1;
}

int
json_field_time(struct json_object *obj, const char *key, int date_form,
    int64_t *usec, int *is_date_only)
{
	struct json_object *val = json_field(obj, key);
	int r;

	if (val == NULL)
		return 0;
	if (!json_object_is_type(val, json_type_string))
		return -1;
	r = time_parse_rfc3339(json_object_get_string(val),
	    (size_t)json_object_get_string_len(val),
	    (enum time_date_form)date_form, usec, is_date_only);
	return r == 0 ? 1 : r;
}

int
json_field_bool(struct json_object *obj, const char *key, int *out)
{
	struct json_object *val = json_field(obj, key);

	if (val == NULL)
		return 0;
	if (!json_object_is_type(val, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(val);
	return 1;
}
