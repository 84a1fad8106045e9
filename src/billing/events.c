/*
 * events: writing the outbox.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "db.h"
#include "events.h"
#include "sql_rows.h"
#include "timeutil.h"

static const char SQL_INSERT[] =
    "INSERT INTO billing_events (event_id, type, account_id, dedupe_key, "
    "payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";

static struct sql_rows insert_many = SQL_ROWS_INIT(
    "INSERT INTO billing_events (event_id, type, account_id, dedupe_key, "
    "payload, next_attempt_at, created_at) VALUES ", "(?,?,?,?,?,?,?)", "");

#define EVENT_ID_MAX (4 + 24 + 1)

/* A fresh event id and the envelope receivers get (new reference). */
static struct json_object *
envelope(const char *type, struct json_object *data, int64_t now, char *id)
{
	unsigned char raw[12];
	struct json_object *env;
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	strcpy(id, "evt_");
	for (i = 0; i < sizeof(raw); i++)
		snprintf(id + 4 + 2 * i, 3, "%02x", raw[i]);
	env = json_object_new_object();
	json_object_object_add(env, "id", json_object_new_string(id));
	json_object_object_add(env, "type", json_object_new_string(type));
	json_object_object_add(env, "created",
	    json_object_new_int64(now / USEC_PER_SEC));
	json_object_object_add(env, "data", json_object_get(data));
	return env;
}

static const char *
payload_of(struct json_object *env)
{
	return json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

int
event_emit(struct db *db, const char *type, uint64_t account_id,
    const char *dedupe_key, struct json_object *data, int64_t now)
{
	char id[EVENT_ID_MAX], when[TIME_TEXT_MAX];
	struct json_object *env;
	const char *payload;
	int rc;

	if ((env = envelope(type, data, now, id)) == NULL)
		return DB_ERROR;
	payload = payload_of(env);
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

int
event_emit_many(struct db *db, const struct event_spec *ev, size_t n,
    int64_t now)
{
	static struct db_param p[64 * 7];
	struct json_object *env[64];
	char id[64][EVENT_ID_MAX], when[TIME_TEXT_MAX];
	size_t done = 0, k, i, j;
	int rc = DB_OK;

	time_format_db(now, when, sizeof(when));
	/* 64 rows at most: the payloads are a few hundred bytes each */
	while (done < n && rc == DB_OK) {
		const char *sql;

		k = sql_rows_chunk(n - done < 64 ? n - done : 64);
		if ((sql = sql_rows_text(&insert_many, k)) == NULL)
			return DB_ERROR;
		for (i = 0, j = 0; i < k; i++) {
			const struct event_spec *e = &ev[done + i];

			if ((env[i] = envelope(e->type, e->data, now, id[i])) == NULL) {
				while (i-- > 0)
					json_object_put(env[i]);
				return DB_ERROR;
			}
			p[j++] = DBP_STR(id[i]);
			p[j++] = DBP_STR(e->type);
			p[j++] = e->account_id ? DBP_INT(e->account_id) : DBP_NULLV;
			p[j++] = e->dedupe_key ? DBP_STR(e->dedupe_key) : DBP_NULLV;
			p[j++] = DBP_STR(payload_of(env[i]));
			p[j++] = DBP_STR(when);
			p[j++] = DBP_STR(when);
		}
		rc = db_exec(db, sql, p, j, NULL, NULL);
		for (i = 0; i < k; i++)
			json_object_put(env[i]);
		done += k;
	}
	return rc;
}
