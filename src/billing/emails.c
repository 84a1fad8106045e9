/*
 * emails: see emails.h.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "app.h"
#include "config.h"
#include "credit_notes.h"
#include "db.h"
#include "email_message.h"
#include "emails.h"
#include "events.h"
#include "invoice_pdf.h"
#include "invoices.h"
#include "json_util.h"
#include "log.h"
#include "smtp.h"
#include "timeutil.h"

#define QUEUE_BATCH 200
#define SEND_BATCH 20
#define LEASE_SEC 300           /* at least; see lease_usec() */
#define LEASE_MARGIN_SEC 60
#define BACKOFF_BASE_SEC 30
#define BACKOFF_MAX_SEC (6 * 3600)
#define GIVE_UP_SEC (3 * 86400)
#define TEXT_MAX 1000
#define ADDR_MAX 321

enum { EM_SCAN, EM_INSERT, EM_CLAIM, EM_EVENT, EM_LEASE, EM_SENT, EM_RETRY,
    EM_FAILED, EM_RELEASE, EM_NSTMTS };
enum { S_ID, S_EVENT_ID, S_TYPE, S_ACCOUNT, S_CREATED, S_EMAIL, S_OPT_OUT,
    S_NCOLS };
enum { C_ID, C_TO, C_MSGID, C_ATTEMPTS, C_CREATED, C_EVENT_REF, C_NCOLS };
enum { E_EVENT_ID, E_TYPE, E_PAYLOAD, E_NCOLS };

static const struct db_stmt emails_sql[EM_NSTMTS] = {
	/*
	 * The events the queue step has not looked at, oldest first.  Read
	 * without locks (the webhook's claim skips locked events): two runs
	 * that read the same event both try its row, and the unique event_ref
	 * keeps one.
	 */
	[EM_SCAN] = {
	    "SELECT e.id, e.event_id, e.type, e.account_id, e.created_at, "
	    "a.email, a.email_opt_out FROM billing_events e "
	    "FORCE INDEX (ix_events_emails_queued) "
	    "LEFT JOIN billing_accounts a ON a.id = e.account_id "
	    "WHERE e.emails_queued = 0 ORDER BY e.id LIMIT ?", 1, S_NCOLS },
	[EM_INSERT] = {
	    "INSERT IGNORE INTO billing_emails (event_ref, account_id, "
	    "recipient, message_id, status, skip_reason, next_attempt_at, "
	    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", 8, 0 },
	/* the due emails, locked (their events are read apart, unlocked) */
	[EM_CLAIM] = {
	    "SELECT m.id, m.recipient, m.message_id, m.attempts, m.created_at, "
	    "m.event_ref FROM billing_emails m FORCE INDEX (ix_emails_due) "
	    "WHERE m.status = 'pending' AND m.next_attempt_at <= ? "
	    "ORDER BY m.id LIMIT ? FOR UPDATE SKIP LOCKED", 2, C_NCOLS },
	[EM_EVENT] = {
	    "SELECT event_id, type, payload FROM billing_events WHERE id = ?",
	    1, E_NCOLS },
	[EM_LEASE] = {
	    "UPDATE billing_emails SET next_attempt_at = ? WHERE id = ?", 2, 0 },
	[EM_SENT] = {
	    "UPDATE billing_emails SET status = 'sent', attempts = attempts + 1, "
	    "sent_at = ?, relay_reply = ?, last_error = NULL "
	    "WHERE id = ? AND status = 'pending'", 3, 0 },
	[EM_RETRY] = {
	    "UPDATE billing_emails SET attempts = attempts + 1, "
	    "next_attempt_at = ?, last_error = ? "
	    "WHERE id = ? AND status = 'pending'", 3, 0 },
	[EM_FAILED] = {
	    "UPDATE billing_emails SET status = 'failed', "
	    "attempts = attempts + 1, last_error = ?, relay_reply = ? "
	    "WHERE id = ? AND status = 'pending'", 3, 0 },
	[EM_RELEASE] = {
	    "UPDATE billing_emails SET next_attempt_at = ? WHERE id = ? "
	    "AND status = 'pending'", 2, 0 },
};

const struct db_stmts emails_stmts = DB_STMTS("emails", emails_sql);

struct mail {
	uint64_t id, event_ref;
	int64_t attempts, created;
	char to[ADDR_MAX];
	char message_id[256];
	char event_id[65];
	char type[65];
	char *payload;          /* owned */
	int done;
};

struct run {
	struct app *app;
	int64_t fixed_now, claim_now;
	int64_t lease_usec;     /* see lease_usec() */
	char domain[256];       /* of the from address: Message-IDs */
	char from_addr[ADDR_MAX];
	struct mail m[SEND_BATCH];
	size_t n;
	struct emails_stats *st;
	uint64_t looked_at;     /* events the queue step took this batch */
};

static int64_t
now_usec(const struct run *r)
{
	return r->fixed_now ? r->fixed_now : time_now_usec();
}

static void
copy_col(const struct db_result *res, size_t col, char *buf, size_t size)
{
	if (db_col(res, col, NULL) == NULL)
		buf[0] = '\0';
	else
		db_col_text(res, col, buf, size);
}

/* --- 1. queue --------------------------------------------------------- */

struct scanned {
	uint64_t id, account_id;
	int64_t created;
	char event_id[65], type[65], email[ADDR_MAX];
	int opt_out;
};

/* The row of one scanned event (nothing for a type not mailed, an event
 * without an account, or one older than the give-up time). */
static int
queue_one(struct run *r, struct db *db, const struct scanned *s,
    const char *now)
{
	const struct billing_config *cfg = r->app->cfg;
	char msgid[300], created[TIME_TEXT_MAX];
	const char *status = "pending", *skip = NULL;
	uint64_t added = 0;
	int rc;

	if (!config_email_wants(cfg, s->type) || s->account_id == 0 ||
	    s->created + (int64_t)GIVE_UP_SEC * USEC_PER_SEC <= r->claim_now)
		return event_emails_queued(db, s->id);
	if (s->opt_out) {
		status = "skipped";
		skip = "opted_out";
	} else if (s->email[0] == '\0' || strchr(s->email, '@') == NULL) {
		status = "skipped";
		skip = "no_email";
	} else if (strlen(s->email) >= sizeof(s->email) - 1 ||
	    !config_addr_spec(s->email)) {
		/* "a@x.com> NOTIFY=..." or "a@x.com, b@y.com" reach neither
		 * RCPT TO nor To: (the column may hold a longer text: cut
		 * to the buffer, it is never one) */
		status = "skipped";
		skip = "bad_email";
	}
	/* the same event, the same Message-ID, however often it is sent */
	snprintf(msgid, sizeof(msgid), "<%.64s.billing@%.180s>", s->event_id,
	    r->domain);
	time_format_db(s->created, created, sizeof(created));
	struct db_param p[] = { DBP_INT(s->id), DBP_INT(s->account_id),
	    skip == NULL ? DBP_STR(s->email) : DBP_NULLV, DBP_STR(msgid),
	    DBP_STR(status), skip ? DBP_STR(skip) : DBP_NULLV, DBP_STR(now),
	    DBP_STR(created) };
	if ((rc = db_run(db, &emails_stmts, EM_INSERT, p, 8, &added, NULL)) !=
	    DB_OK)
		return rc;
	/* 0: a concurrent run made it */
	if (added == 1 && skip != NULL)
		r->st->skipped++;
	else if (added == 1)
		r->st->queued++;
	return event_emails_queued(db, s->id);
}

static int
queue_txn(struct db *db, void *arg)
{
	struct run *r = arg;
	struct db_result *res = NULL;
	struct scanned *s = NULL;
	char now[TIME_TEXT_MAX];
	size_t n = 0, i;
	int64_t v;
	int rc = DB_OK, f;

	r->looked_at = 0;
	r->claim_now = now_usec(r);
	time_format_db(r->claim_now, now, sizeof(now));
	if ((s = calloc(QUEUE_BATCH, sizeof(*s))) == NULL)
		return DB_ERROR;
	struct db_param p[] = { DBP_INT(QUEUE_BATCH) };
	if ((rc = db_get(db, &emails_stmts, EM_SCAN, p, 1, &res)) != DB_OK)
		goto out;
	while ((f = db_fetch(res)) == 1 && n < QUEUE_BATCH) {
		struct scanned *e = &s[n];

		if (db_col_i64(res, S_ID, &v) != 0 ||
		    db_col_time(res, S_CREATED, &e->created) != 0) {
			rc = DB_ERROR;
			break;
		}
		e->id = (uint64_t)v;
		e->account_id = db_col_i64(res, S_ACCOUNT, &v) == 0 ?
		    (uint64_t)v : 0;
		e->opt_out = db_col_i64(res, S_OPT_OUT, &v) == 0 && v != 0;
		copy_col(res, S_EVENT_ID, e->event_id, sizeof(e->event_id));
		copy_col(res, S_TYPE, e->type, sizeof(e->type));
		copy_col(res, S_EMAIL, e->email, sizeof(e->email));
		n++;
	}
	db_result_free(res);
	if (rc == DB_OK && f < 0)
		rc = f;
	for (i = 0; rc == DB_OK && i < n; i++)
		rc = queue_one(r, db, &s[i], now);
	if (rc == DB_OK)
		r->looked_at = n;
out:
	free(s);
	return rc;
}

/* --- 2. send ---------------------------------------------------------- */

static void
batch_clear(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->m[i].payload);
	r->n = 0;
}

static int
claim_txn(struct db *db, void *arg)
{
	struct run *r = arg;
	struct db_result *res = NULL;
	char now[TIME_TEXT_MAX], lease[TIME_TEXT_MAX];
	const char *s;
	size_t i, len;
	int64_t v, ref;
	int rc = DB_OK, f;

	batch_clear(r);
	r->claim_now = now_usec(r);
	time_format_db(r->claim_now, now, sizeof(now));
	time_format_db(r->claim_now + r->lease_usec, lease, sizeof(lease));
	struct db_param p[] = { DBP_STR(now), DBP_INT(SEND_BATCH) };
	if ((rc = db_get(db, &emails_stmts, EM_CLAIM, p, 2, &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1 && r->n < SEND_BATCH) {
		struct mail *m = &r->m[r->n];

		memset(m, 0, sizeof(*m));
		if (db_col_i64(res, C_ID, &v) != 0 ||
		    db_col_i64(res, C_ATTEMPTS, &m->attempts) != 0 ||
		    db_col_time(res, C_CREATED, &m->created) != 0 ||
		    db_col_i64(res, C_EVENT_REF, &ref) != 0) {
			rc = DB_ERROR;
			break;
		}
		m->id = (uint64_t)v;
		m->event_ref = (uint64_t)ref;
		copy_col(res, C_TO, m->to, sizeof(m->to));
		copy_col(res, C_MSGID, m->message_id, sizeof(m->message_id));
		r->n++;
	}
	db_result_free(res);
	res = NULL;
	if (rc == DB_OK && f < 0)
		rc = f;
	/* each email's event: its id, type and payload */
	for (i = 0; rc == DB_OK && i < r->n; i++) {
		struct mail *m = &r->m[i];
		struct db_param e[] = { DBP_INT(m->event_ref) };

		if ((rc = db_get(db, &emails_stmts, EM_EVENT, e, 1, &res)) !=
		    DB_OK)
			break;
		if ((f = db_fetch(res)) < 0)
			rc = f;
		else if (f == 0) {
			/* its event is gone: the build fails, retried, then
			 * failed, like any other unbuildable message */
			if ((m->payload = strdup("")) == NULL)
				rc = DB_ERROR;
		} else if ((s = db_col(res, E_PAYLOAD, &len)) == NULL ||
		    (m->payload = strndup(s, len)) == NULL)
			rc = DB_ERROR;
		else {
			copy_col(res, E_EVENT_ID, m->event_id,
			    sizeof(m->event_id));
			copy_col(res, E_TYPE, m->type, sizeof(m->type));
		}
		db_result_free(res);
		res = NULL;
	}
	for (i = 0; rc == DB_OK && i < r->n; i++) {
		struct db_param q[] = { DBP_STR(lease), DBP_INT(r->m[i].id) };
		rc = db_run(db, &emails_stmts, EM_LEASE, q, 2, NULL, NULL);
	}
	return rc;
}

/* Keys of an event's data never put in a message (card and Stripe data). */
static int
secret_key(const char *k)
{
	static const char *const bad[] = { "card", "last4", "brand", "exp_",
	    "stripe", "secret", "token", "payment_method", "fingerprint" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(k, bad[i]) != NULL)
			return 1;
	return 0;
}

/* The placeholders of a message (new reference): the data's scalar
 * fields as text, and ours.  NULL when the payload is unreadable. */
static struct json_object *
message_vars(const struct run *r, const struct mail *m,
    struct json_object **data_out)
{
	const struct billing_config *cfg = r->app->cfg;
	struct json_object *env, *data, *vars, *c;
	char url[4200], cur[16];
	const char *why;
	size_t i, n;

	if ((env = json_parse_limited(m->payload, strlen(m->payload), 16,
	    &why)) == NULL)
		return NULL;
	if (!json_object_object_get_ex(env, "data", &data) ||
	    !json_object_is_type(data, json_type_object)) {
		json_object_put(env);
		return NULL;
	}
	vars = json_object_new_object();
	json_object_object_foreach(data, k, v) {
		const char *t;
		char day[11], key[80];

		if (secret_key(k) || v == NULL ||
		    json_object_is_type(v, json_type_object) ||
		    json_object_is_type(v, json_type_array))
			continue;
		t = json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : json_object_to_json_string(v);
		json_object_object_add(vars, k, json_object_new_string(t));
		/* an instant's day as its own placeholder: due_date_day */
		if (strlen(t) >= 20 && t[4] == '-' && t[7] == '-' &&
		    t[10] == 'T' && t[strlen(t) - 1] == 'Z' &&
		    strlen(k) < sizeof(key) - 5) {
			memcpy(day, t, 10);
			day[10] = '\0';
			snprintf(key, sizeof(key), "%s_day", k);
			json_object_object_add(vars, key,
			    json_object_new_string(day));
		}
	}
	/* the currency as people write it */
	if (json_object_object_get_ex(data, "currency", &c) &&
	    json_object_is_type(c, json_type_string)) {
		snprintf(cur, sizeof(cur), "%s", json_object_get_string(c));
		for (i = 0; cur[i] != '\0'; i++)
			if (cur[i] >= 'a' && cur[i] <= 'z')
				cur[i] = (char)(cur[i] - 32);
		json_object_object_add(vars, "currency",
		    json_object_new_string(cur));
	}
	url[0] = '\0';
	if (cfg->public_base_url != NULL) {
		n = strlen(cfg->public_base_url);
		while (n > 0 && cfg->public_base_url[n - 1] == '/')
			n--;
		snprintf(url, sizeof(url), "%.*s/billing/", (int)n,
		    cfg->public_base_url);
	}
	json_object_object_add(vars, "billing_url", json_object_new_string(url));
	json_object_object_add(vars, "issuer_name", json_object_new_string(
	    cfg->issuer.name ? cfg->issuer.name : "StreamSpace"));
	json_object_object_add(vars, "issuer_email", json_object_new_string(
	    cfg->issuer.email ? cfg->issuer.email : ""));
	json_object_object_add(vars, "event_id",
	    json_object_new_string(m->event_id));
	json_object_object_add(vars, "event_type",
	    json_object_new_string(m->type));
	json_object_object_add(vars, "recipient", json_object_new_string(m->to));
	/* data outlives the envelope: the caller's reference */
	*data_out = json_object_get(data);
	json_object_put(env);
	return vars;
}

/* The PDF of an invoice or credit-note event into *pdf; 0 (and *pdf NULL
 * for other events), or -1 with the reason. */
static int
event_pdf(const struct run *r, const struct mail *m, struct json_object *data,
    unsigned char **pdf, size_t *len, char *name, size_t namelen,
    char *err, size_t errlen)
{
	const struct billing_config *cfg = r->app->cfg;
	struct json_object *idv;
	int64_t id;
	int rc;

	*pdf = NULL;
	if (strncmp(m->type, "billing.invoice.", 16) != 0 &&
	    strcmp(m->type, "billing.credit_note.created") != 0)
		return 0;
	if (!json_object_object_get_ex(data, "id", &idv) ||
	    (id = json_object_get_int64(idv)) <= 0) {
		snprintf(err, errlen, "the event names no document id");
		return -1;
	}
	if (m->type[8] == 'i') {
		struct invoice inv;

		if ((rc = invoice_load(r->app->db, (uint64_t)id, &inv)) !=
		    DB_OK) {
			snprintf(err, errlen, "cannot load invoice %lld",
			    (long long)id);
			return -1;
		}
		snprintf(name, namelen, "%s.pdf", inv.number[0] ? inv.number :
		    "invoice");
		rc = invoice_pdf_issued(&inv, &cfg->issuer, pdf, len);
		invoice_free(&inv);
	} else {
		struct credit_note cn;

		if ((rc = credit_note_load(r->app->db, (uint64_t)id, &cn)) !=
		    DB_OK) {
			snprintf(err, errlen, "cannot load credit note %lld",
			    (long long)id);
			return -1;
		}
		snprintf(name, namelen, "%s.pdf", cn.number);
		rc = credit_note_pdf(&cn, cfg->issuer.name ? cfg->issuer.name :
		    "StreamSpace", pdf, len);
		credit_note_free(&cn);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot render the PDF");
		return -1;
	}
	return 0;
}

/* The message of m into *msg (caller frees).  0, or -1 with err. */
static int
build(const struct run *r, const struct mail *m, char **msg, size_t *len,
    char *err, size_t errlen)
{
	const struct billing_config *cfg = r->app->cfg;
	struct email_message_input in;
	struct json_object *vars = NULL, *data = NULL;
	unsigned char *pdf = NULL;
	char kind[65], name[64];
	size_t pdf_len = 0;
	int rc = -1;

	if ((vars = message_vars(r, m, &data)) == NULL) {
		snprintf(err, errlen, "the event's payload is unreadable");
		goto out;
	}
	if (event_pdf(r, m, data, &pdf, &pdf_len, name, sizeof(name), err,
	    errlen) != 0)
		goto out;
	/* "billing.invoice.created": templates invoice.created.* */
	snprintf(kind, sizeof(kind), "%s", strncmp(m->type, "billing.", 8) ==
	    0 ? m->type + 8 : m->type);
	memset(&in, 0, sizeof(in));
	in.from = cfg->email.from;
	in.reply_to = cfg->email.reply_to;
	in.to = m->to;
	in.message_id = m->message_id;
	in.date = m->created;
	in.template_dir = cfg->email.template_dir;
	in.kind = kind;
	in.vars = vars;
	in.pdf = pdf;
	in.pdf_len = pdf_len;
	in.pdf_name = name;
	rc = email_message_build(&in, msg, len, err, errlen);
out:
	free(pdf);
	json_object_put(vars);
	json_object_put(data);
	return rc;
}

/* min(30 s * 2^attempts, 6 h) plus 0-10 % jitter, as the webhook's. */
static int64_t
backoff_usec(int64_t attempts)
{
	int64_t delay = BACKOFF_BASE_SEC;
	unsigned int x = 0;

	while (attempts-- > 0 && delay < BACKOFF_MAX_SEC)
		delay *= 2;
	if (delay > BACKOFF_MAX_SEC)
		delay = BACKOFF_MAX_SEC;
	delay *= USEC_PER_SEC;
	if (RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
		x = (unsigned int)random();
	return delay + (int64_t)(x % 1000) * (delay / 10) / 1000;
}

static int
record(struct run *r, struct mail *m, enum smtp_outcome o, const char *answer)
{
	struct db *db = r->app->db;
	char when[TIME_TEXT_MAX], safe[TEXT_MAX + 1];
	int64_t now = now_usec(r), give_up, next;
	int rc;

	log_escape(safe, sizeof(safe), answer, strlen(answer));
	give_up = m->created + (int64_t)GIVE_UP_SEC * USEC_PER_SEC;
	if (o == SMTP_SENT) {
		time_format_db(now, when, sizeof(when));
		struct db_param p[] = { DBP_STR(when), DBP_STR(safe),
		    DBP_INT(m->id) };
		if ((rc = db_run(db, &emails_stmts, EM_SENT, p, 3, NULL,
		    NULL)) == DB_OK)
			r->st->sent++;
		return rc;
	}
	if (o == SMTP_PERMANENT || now >= give_up) {
		struct db_param p[] = { DBP_STR(safe), DBP_STR(safe),
		    DBP_INT(m->id) };
		if ((rc = db_run(db, &emails_stmts, EM_FAILED, p, 3, NULL,
		    NULL)) == DB_OK) {
			r->st->failed++;
			log_warnx("email of event %s to the account's address: "
			    "failed for good after %lld attempts: %s",
			    m->event_id, (long long)m->attempts + 1, safe);
		}
		return rc;
	}
	next = now + backoff_usec(m->attempts);
	if (next > give_up)
		next = give_up;
	time_format_db(next, when, sizeof(when));
	struct db_param p[] = { DBP_STR(when), DBP_STR(safe), DBP_INT(m->id) };
	if ((rc = db_run(db, &emails_stmts, EM_RETRY, p, 3, NULL, NULL)) ==
	    DB_OK) {
		r->st->retried++;
		log_warnx("email of event %s: attempt %lld failed, next at %s: "
		    "%s", m->event_id, (long long)m->attempts + 1, when, safe);
	}
	return rc;
}

#ifdef BILLING_TEST_CLOCK
/* Test builds: BILLING_TEST_EMAIL_CRASH=after-accept ends the process
 * between the relay's acceptance and the record (tests/integration/
 * test_emails.py), as a crash or a kill -9 there would. */
static void
fault_after_accept(void)
{
	const char *f = getenv("BILLING_TEST_EMAIL_CRASH");

	if (f != NULL && strcmp(f, "after-accept") == 0)
		_exit(75);
}
#else
#define fault_after_accept() ((void)0)
#endif

static int
send_batch(struct run *r, struct smtp *smtp, int64_t deadline)
{
	char answer[TEXT_MAX + 1], *msg = NULL, when[TIME_TEXT_MAX];
	enum smtp_outcome o;
	size_t i, len = 0;
	int rc = DB_OK;

	for (i = 0; i < r->n && rc == DB_OK; i++) {
		struct mail *m = &r->m[i];

		if (time_mono_usec() >= deadline)
			break;
		if (!config_addr_spec(m->to)) {
			/* queued before recipients were checked: never sent */
			snprintf(answer, sizeof(answer), "the recipient is not "
			    "a plain address");
			o = SMTP_PERMANENT;
		} else if (build(r, m, &msg, &len, answer, sizeof(answer)) != 0)
			o = SMTP_TEMPORARY;   /* e.g. a template: fixable */
		else {
			o = smtp_send(smtp, r->from_addr, m->to, msg, len,
			    answer, sizeof(answer));
			free(msg);
			msg = NULL;
			if (o == SMTP_SENT)
				fault_after_accept();
		}
		rc = record(r, m, o, answer);
		m->done = 1;
	}
	/* the rest goes back, due again at once */
	time_format_db(r->claim_now, when, sizeof(when));
	for (i = 0; i < r->n; i++) {
		if (r->m[i].done)
			continue;
		struct db_param p[] = { DBP_STR(when), DBP_INT(r->m[i].id) };
		if (db_run(r->app->db, &emails_stmts, EM_RELEASE, p, 2, NULL,
		    NULL) != DB_OK)
			break;  /* the lease runs out by itself */
	}
	return rc;
}

/*
 * The lease of a claimed batch.  A send starts before the run's budget
 * ends (at most budget after the claim) and lasts at most timeoutSeconds
 * (libcurl's whole-transfer timeout, the connection included): the lease
 * outlives it by a margin, so no other run takes an email still being
 * sent.  Never under LEASE_SEC.
 */
static int64_t
lease_usec(int64_t budget_usec, int timeout_sec)
{
	int64_t l = budget_usec + ((int64_t)(timeout_sec > 0 ? timeout_sec :
	    0) + LEASE_MARGIN_SEC) * USEC_PER_SEC;

	return l < (int64_t)LEASE_SEC * USEC_PER_SEC ?
	    (int64_t)LEASE_SEC * USEC_PER_SEC : l;
}

int
emails_run(struct app *app, int64_t fixed_now, int64_t budget_usec,
    struct emails_stats *stats)
{
	const struct billing_config *cfg = app->cfg;
	struct smtp_settings set;
	struct smtp *smtp = NULL;
	struct run *r = NULL;
	int64_t start = time_mono_usec(), deadline;
	const char *at;
	int rc = DB_OK;

	memset(stats, 0, sizeof(*stats));
	if (!cfg->email.enabled)
		return DB_OK;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return DB_ERROR;
	r->app = app;
	r->fixed_now = fixed_now;
	r->st = stats;
	r->lease_usec = lease_usec(budget_usec, cfg->email.timeout_seconds);
	if (config_mailbox_address(cfg->email.from, r->from_addr,
	    sizeof(r->from_addr)) != 0 ||
	    (at = strrchr(r->from_addr, '@')) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	snprintf(r->domain, sizeof(r->domain), "%s", at + 1);
	/* 1. queue every new event */
	do {
		if ((rc = db_transaction(app->db, queue_txn, r)) != DB_OK)
			goto out;
	} while (r->looked_at == QUEUE_BATCH &&
	    time_mono_usec() - start < budget_usec);
	/* 2. send what is due */
	memset(&set, 0, sizeof(set));
	set.url = cfg->email.smtp_url;
	set.username = cfg->email.username;
	set.password = cfg->email.password;
	set.starttls = cfg->email.starttls;
	set.timeout_sec = cfg->email.timeout_seconds;
	if ((smtp = smtp_new(&set)) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	while (time_mono_usec() - start < budget_usec) {
		if ((rc = db_transaction(app->db, claim_txn, r)) != DB_OK)
			break;
		if (r->n == 0)
			break;
		/* no send starts after the budget: each ends in the lease */
		deadline = start + budget_usec;
		if ((rc = send_batch(r, smtp, deadline)) != DB_OK)
			break;
		batch_clear(r);
	}
out:
	if (r != NULL)
		batch_clear(r);
	smtp_free(smtp);
	free(r);
	return rc;
}
