/*
 * json_util: the few json-c helpers every handler needs: strict parsing
 * with limits, exact money in and out, and typed field access that reports
 * which parameter was wrong.
 */
#ifndef BILLING_JSON_UTIL_H
#define BILLING_JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Parses len bytes as one JSON value with at most max_depth nesting, strict
 * syntax, nothing but white space after it.  Returns a new reference or NULL
 * with a short static reason in *why.
 */
struct json_object *json_parse_limited(const char *text, size_t len,
    int max_depth, const char **why);

/*
 * A JSON number written exactly as the decimal text of micros with
 * `decimals` fraction digits (money_format): 2 for invoice amounts, 6 for
 * quantities and rates.  The serialized text is ours; no binary floating
 * point value is ever computed or read from it.  New reference.
 */
struct json_object *json_money(int64_t micros, int decimals);
/* Same with trailing fraction zeros trimmed down to min_decimals. */
struct json_object *json_money_trim(int64_t micros, int min_decimals);

/* An RFC 3339 UTC string for usec. New reference. */
struct json_object *json_time(int64_t usec);

/*
 * Reads an exact decimal from a JSON number or string, from its original
 * text (json-c keeps a number's source text), with at most max_decimals.
 * Returns 0, or -1 when the value is not a number/string or not exact.
 */
int json_get_money(struct json_object *val, int max_decimals, int64_t *out);

/*
 * Field lookups on an object.  Each returns 1 when present and valid, 0 when
 * absent (or JSON null), -1 when present but of the wrong type or out of
 * bounds.  Strings are borrowed from obj.
 */
int json_field_string(struct json_object *obj, const char *key,
    size_t min_len, size_t max_len, const char **out);
int json_field_money(struct json_object *obj, const char *key,
    int max_decimals, int64_t *out);
/* A size (quantity.h, kind an enum quantity_kind), 0..max_micros: a JSON
 * number, exact with at most 6 decimals, or a string read by
 * quantity_parse ("2", "1500m", "4Gi", "4G"). */
int json_field_quantity(struct json_object *obj, const char *key, int kind,
    int64_t max_micros, int64_t *out);
/* An instant (time_parse_rfc3339, date_form an enum time_date_form): 1, 0,
 * -1 when malformed or not a string, TIME_OUT_OF_RANGE (-2) when outside
 * the years 1970-9999. */
int json_field_time(struct json_object *obj, const char *key, int date_form,
    int64_t *usec, int *is_date_only);
int json_field_bool(struct json_object *obj, const char *key, int *out);

#endif
