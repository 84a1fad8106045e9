/*
 * fuzz_json_body: the request body parser (json_parse_limited, depth 16 as
 * http_read_json uses it) and the typed field accessors handlers call.
 *
 * Input: the raw body.
 * Properties:
 *   - a refusal always comes with a reason, an acceptance never does;
 *   - what is accepted serializes (json-c) to text that is accepted again,
 *     parses to an equal value, and serializes to the same text (fixed point);
 *   - the field accessors never crash, and a money value they accept
 *     formats and re-parses to itself.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz_common.h"
#include "json_util.h"
#include "money.h"
#include "timeutil.h"

#define DEPTH 16 /* HTTP_MAX_JSON_DEPTH */

static const int flags[] = {
	JSON_C_TO_STRING_PLAIN,
	JSON_C_TO_STRING_SPACED,
	JSON_C_TO_STRING_PRETTY,
	JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	return 0;
}

static void
check_money_roundtrip(int64_t v, int dec)
{
	char buf[64];
	int64_t back = 0;
	int n;

	FUZZ_CHECK(v >= -MONEY_MAX_MICROS && v <= MONEY_MAX_MICROS,
	    "json_get_money gave %lld, beyond MONEY_MAX_MICROS", (long long)v);
	n = money_format(v, dec, buf, sizeof(buf));
	FUZZ_CHECK(n > 0, "money_format(%lld, %d) failed", (long long)v, dec);
	FUZZ_CHECK(money_parse(buf, (size_t)n, dec, &back) == 0 && back == v,
	    "money %lld with %d decimals: formatted \"%s\", parsed back %lld",
	    (long long)v, dec, buf, (long long)back);
}

/* What a handler does with the fields of a body. */
static void
exercise_fields(struct json_object *obj)
{
	struct json_object_iterator it, end;
	const char *s, *key;
	int64_t v, usec;
	int b, date_only, rc;

	if (!json_object_is_type(obj, json_type_object))
		return;
	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);

		s = NULL;
		rc = json_field_string(obj, key, 1, 255, &s);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "json_field_string rc %d", rc);
		if (rc == 1)
			FUZZ_CHECK(s != NULL && strlen(s) >= 1 && strlen(s) <= 255,
			    "json_field_string gave a string out of bounds");

		v = 0;
		if (json_field_money(obj, key, 2, &v) == 1)
			check_money_roundtrip(v, 2);
		v = 0;
		if (json_field_money(obj, key, 6, &v) == 1)
			check_money_roundtrip(v, 6);

		date_only = 0;
		(void)json_field_time(obj, key, TIME_NO_DATE, &usec, &date_only);
		(void)json_field_time(obj, key, TIME_DATE_START, &usec,
		    &date_only);
		/* an accepted instant always lies in the one input range */
		usec = 0;
		if (json_field_time(obj, key, TIME_DATE_END, &usec, &date_only) == 1 &&
		    (usec < TIME_INPUT_MIN || usec > TIME_INPUT_MAX))
			abort();
		(void)json_field_bool(obj, key, &b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *obj, *again;
	const char *why = (const char *)1, *text, *text2;
	char *copy;
	size_t len;
	int f;

	obj = json_parse_limited((const char *)data, size, DEPTH, &why);
	if (obj == NULL) {
		/* a bare "null" body is refused too: json-c has no object for it */
		FUZZ_CHECK(why != NULL && why[0] != '\0', "refused without a reason");
		return 0;
	}
	FUZZ_CHECK(why == NULL, "accepted, but with reason \"%s\"", why);

	exercise_fields(obj);

	f = flags[size % (sizeof(flags) / sizeof(flags[0]))];
	text = json_object_to_json_string_ext(obj, f);
	FUZZ_CHECK(text != NULL, "serialization failed");
	len = strlen(text);
	/* an exact-size copy: json-c's buffer has slack that hides over-reads */
	copy = fuzz_strndup((const uint8_t *)text, len);
	/*
	 * Known finding: a bare top-level number or literal with nothing after
	 * it ("6", "-1.5", "true") is refused as "truncated JSON" (json-c waits
	 * for more), while "6\n" is accepted.  Bodies must be objects, so it
	 * only changes the error message; until it is fixed, re-parse such
	 * values with a newline after them.
	 */
	if (!FUZZ_KNOWN_FINDINGS && !json_object_is_type(obj, json_type_object) &&
	    !json_object_is_type(obj, json_type_array) &&
	    !json_object_is_type(obj, json_type_string)) {
		free(copy);
		copy = malloc(len + 2);
		if (copy == NULL)
			abort();
		memcpy(copy, text, len);
		copy[len++] = '\n';
		copy[len] = '\0';
	}
	again = json_parse_limited(copy, len, DEPTH, &why);
	FUZZ_CHECK(again != NULL, "round trip refused (%s): %s",
	    why ? why : "?", copy);
	FUZZ_CHECK(json_object_equal(obj, again),
	    "round trip changed the value: %s", copy);
	text2 = json_object_to_json_string_ext(again, f);
	FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0,
	    "serialization is not a fixed point:\n  %s\n  %s", text,
	    text2 ? text2 : "(null)");
	free(copy);
	json_object_put(again);
	json_object_put(obj);
	return 0;
}
