/*
 * events: writing the outbox.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "db.h"
#include "events.h"
#include "timeutil.h"

static const char SQL_INSERT[] =
    "INSERT INTO billing_events (event_id, type, account_id, dedupe_key, "
    "payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";

int
event_emit(struct db *db, const char *type, uint64_t account_id,
    const char *dedupe_key, struct json_object *data, int64_t now)
{
	unsigned char raw[12];
	char id[4 + 2 * sizeof(raw) + 1], when[TIME_TEXT_MAX];
	struct json_object *env;
	const char *payload;
	size_t i;
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return DB_ERROR;
	strcpy(id, "evt_");
	for (i = 0; i < sizeof(raw); i++)
		snprintf(id + 4 + 2 * i, 3, "%02x", raw[i]);
	env = json_object_new_object();
	json_object_object_add(env, "id", json_object_new_string(id));
	json_object_object_add(env, "type", json_object_new_string(type));
	json_object_object_add(env, "created",
	    json_object_new_int64(now / USEC_PER_SEC));
	json_object_object_add(env, "data", json_object_get(data));
	payload = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	time_format_db(now, when, sizeof(when));
	struct db_param p[] = { DBP_STR(id), DBP_STR(type),
	    account_id ? DBP_INT(account_id) : DBP_NULLV,
	    dedupe_key ? DBP_STR(dedupe_key) : DBP_NULLV, DBP_STR(payload),
	    DBP_STR(when), DBP_STR(when) };
	rc = db_exec(db, SQL_INSERT, p, 7, NULL, NULL);
	json_object_put(env);
	/* the same cause again: the event is already queued */
	return rc == DB_DUPLICATE && dedupe_key != NULL ? DB_OK : rc;
}
