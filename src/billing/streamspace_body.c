/*
 * streamspace_body: a StreamSpace delivery's raw body read into a
 * streamspace_delivery (streamspace.h) and applied by streamspace_apply:
 * the envelope {event, timestamp, data, metadata?} and the data its kind needs,
 * with the same rules and messages as POST hooks/streamspace
 * (src/http/api_streamspace.c).  No signature and no timestamp tolerance:
 * its caller (billing-streamspace-replay) runs on the host.
 *
 * Unknown keys are accepted: StreamSpace's payloads carry many fields
 * billing does not use.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "json_util.h"
#include "quantity.h"
#include "result.h"
#include "sessions.h"
#include "signature.h"
#include "streamspace.h"
#include "timeutil.h"

#define SS_JSON_DEPTH 32
#define EMAIL_MIN 3
#define EMAIL_MAX 320

static enum result_code
bad(struct result *r, const char *param, const char *why)
{
	return result_set(r, RESULT_INVALID, param, "%s %s", param, why);
}

/* A required id at data.key (1-255 bytes, no control characters). */
static enum result_code
get_id(struct json_object *data, const char *key, const char *param,
    const char **out, struct result *r)
{
	int rc;

	rc = json_field_string(data, key, 1, ACCOUNT_USER_ID_MAX, out);
	if (rc == 0)
		return bad(r, param, "is required");
	if (rc < 0 || !account_user_id_valid(*out))
		return bad(r, param, "must be a string of 1 to 255 bytes "
		    "without control characters");
	return RESULT_OK;
}

/* data.resources.cpu and .memory (Kubernetes quantities), data.persistentHome. */
static enum result_code
get_start(const struct billing_config *cfg, struct json_object *data,
    struct streamspace_delivery *d, struct result *r)
{
	struct json_object *res = NULL;
	int home = 0;

	if (!json_object_object_get_ex(data, "resources", &res) ||
	    !json_object_is_type(res, json_type_object))
		return bad(r, "data.resources", "must be an object with cpu "
		    "and memory");
	if (json_field_quantity(res, "cpu", QUANTITY_CORES, SESSION_CPU_MAX,
	    &d->size.cpu_cores) != 1)
		return bad(r, "data.resources.cpu", "must be a quantity of "
		    "cores such as \"1000m\" or \"2\"");
	if (json_field_quantity(res, "memory", QUANTITY_GIB,
	    SESSION_MEMORY_MAX, &d->size.memory_gb) != 1)
		return bad(r, "data.resources.memory", "must be a quantity of "
		    "memory such as \"2Gi\"");
	d->size.storage_gb = 0;
	if (json_field_bool(data, "persistentHome", &home) < 0)
		return bad(r, "data.persistentHome", "must be a boolean");
	d->home_storage_gb = home ?
	    (int64_t)cfg->streamspace_home_storage_gb * 1000000 : 0;
	return RESULT_OK;
}

enum result_code
streamspace_body_read(const struct billing_config *cfg,
    struct json_object *root, struct streamspace_delivery *d,
    struct result *r)
{
	struct json_object *data = NULL;
	const char *p;
	int rc;

	if (json_field_string(root, "event", 1, STREAMSPACE_EVENT_MAX,
	    &d->event) != 1)
		return bad(r, "event", "must be a string of 1 to 64 bytes");
	for (p = d->event; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return bad(r, "event", "must be printable ASCII");
	rc = json_field_time(root, "timestamp", TIME_NO_DATE, &d->at, NULL);
	if (rc == 0)
		return bad(r, "timestamp", "is required");
	if (rc == TIME_OUT_OF_RANGE)
		return bad(r, "timestamp", "must lie in the years 1970 to "
		    "9999 (UTC)");
	if (rc < 0)
		return bad(r, "timestamp", "must be an RFC 3339 date-time "
		    "such as 2025-01-31T10:00:00Z");
	d->kind = streamspace_kind(d->event);
	if (d->kind == STREAMSPACE_OTHER)
		return RESULT_OK;
	if (!json_object_object_get_ex(root, "data", &data) ||
	    !json_object_is_type(data, json_type_object))
		return bad(r, "data", "must be an object");
	if (d->kind == STREAMSPACE_USER_DELETED)
		return get_id(data, "username", "data.username", &d->user_id,
		    r);
	if (d->kind == STREAMSPACE_USER_CREATED) {
		if (get_id(data, "username", "data.username", &d->user_id,
		    r) != RESULT_OK)
			return r->code;
		rc = json_field_string(data, "email", EMAIL_MIN, EMAIL_MAX,
		    &d->email);
		if (rc == 0)
			d->email = NULL;
		else if (rc < 0 || strchr(d->email, '@') == NULL)
			return bad(r, "data.email", "must be an email address "
			    "of 3 to 320 characters");
		for (p = d->email; p != NULL && *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return bad(r, "data.email", "must not hold "
				    "control characters");
		return RESULT_OK;
	}
	if (get_id(data, "name", "data.name", &d->session_id, r) != RESULT_OK ||
	    get_id(data, "user", "data.user", &d->user_id, r) != RESULT_OK)
		return r->code;
	if (d->kind == STREAMSPACE_SESSION_START)
		return get_start(cfg, data, d, r);
	return RESULT_OK;
}

static enum result_code
body_read(const struct billing_config *cfg, const char *body,
    size_t len, struct streamspace_delivery *d, struct json_object **root,
    struct result *r)
{
	const char *why = NULL;

	result_set(r, RESULT_OK, NULL, "ok");
	*root = json_parse_limited(body, len, SS_JSON_DEPTH, &why);
	if (*root == NULL)
		return result_set(r, RESULT_INVALID, NULL, "invalid JSON: %s",
		    why != NULL ? why : "unreadable");
	if (!json_object_is_type(*root, json_type_object))
		return result_set(r, RESULT_INVALID, NULL,
		    "the delivery must be a JSON object");
	return streamspace_body_read(cfg, *root, d, r);
}

enum result_code
streamspace_body_apply(struct db *db, const struct billing_config *cfg,
    const char *body, size_t len, int64_t now,
    struct streamspace_delivery *d, struct result *r)
{
	struct json_object *root = NULL;
	char sha[SIGNATURE_SHA256_HEX];
	enum result_code rc;

	memset(d, 0, sizeof(*d));
	d->now = now;
	rc = body_read(cfg, body, len, d, &root, r);
	if (rc == RESULT_OK && signature_sha256_hex(body, len, sha) != 0)
		rc = result_set(r, RESULT_ERROR, NULL, "SHA-256 failed");
	if (rc == RESULT_OK) {
		d->body_sha256 = sha;
		rc = streamspace_apply(db, d, r);
	}
	d->body_sha256 = d->event = d->session_id = d->user_id = d->email =
	    NULL;
	json_object_put(root);
	return rc;
}
