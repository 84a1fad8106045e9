/*
 * quotas: the quota job.
 *
 * For a batch of accounts in one transaction: the current concurrent size of
 * their live sessions (ended ones and stale ones do not count) against the
 * plan's limits, per resource.  A level change is stored in
 * billing_quota_state; going up emits billing.quota.warning (at
 * alertThreshold %) or billing.quota.exceeded (above 100 %) once per
 * crossing, and going back down re-arms it.  With autoSuspendOnOverage an
 * account above a limit for gracePeriodDays, or whose payment has been
 * failing for gracePeriodDays, is suspended (billing.account.suspended); it
 * resumes (billing.account.resumed) when the cause is gone: the payment
 * made, or a plan that covers the usage the account was suspended with
 * (its sessions ending is the suspension's effect, not the cause gone).
 * The platform is told through a signed POST to platformSuspendUrl after
 * the commit, until it answers 2xx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "events.h"
#include "jobs.h"
#include "json_util.h"
#include "log.h"
#include "metering.h"
#include "money.h"
#include "outbound.h"
#include "plan_changes.h"
#include "quotas.h"
#include "timeutil.h"

#define BATCH 200
#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

enum level { LEVEL_OK = 0, LEVEL_WARNING, LEVEL_EXCEEDED };
static const char *const level_names[] = { "ok", "warning", "exceeded" };

enum { QUOTAS_ACCOUNTS, QUOTAS_LOCK_ACCOUNT, QUOTAS_STATE, QUOTAS_STATE_UPSERT,
    QUOTAS_TO_NOTIFY, QUOTAS_NSTMTS };

/* the columns of QUOTAS_ACCOUNTS */
enum { ACC_COL_ID, ACC_COL_USER, ACC_COL_PLAN, ACC_COL_MODE, ACC_COL_STATUS,
    ACC_COL_REASON, ACC_COL_PAYMENT_FAILED, ACC_COL_CPU, ACC_COL_MEMORY,
    ACC_COL_STORAGE, ACC_NCOLS };
/* of QUOTAS_STATE */
enum { STATE_COL_LEVEL, STATE_COL_SEQ, STATE_COL_EXCEEDED, STATE_COL_IN_USE,
    STATE_NCOLS };
/* of QUOTAS_TO_NOTIFY */
enum { NOTIFY_COL_ID, NOTIFY_COL_USER, NOTIFY_COL_STATUS, NOTIFY_COL_REASON,
    NOTIFY_NCOLS };

static const struct db_stmt quotas_sql[QUOTAS_NSTMTS] = {
	[QUOTAS_ACCOUNTS] = {
	    "SELECT a.id, a.user_id, COALESCE(a.plan_id, ''), "
	    "COALESCE(a.billing_mode, ''), a.status, "
	    "COALESCE(a.suspension_reason, ''), a.payment_failed_at, "
	    /* a hibernated session holds its storage only, stale or not */
	    "COALESCE(SUM(IF(s.hibernated = 0, s.cpu_cores, 0)), 0), "
	    "COALESCE(SUM(IF(s.hibernated = 0, s.memory_gb, 0)), 0), "
	    "COALESCE(SUM(s.storage_gb), 0) FROM billing_accounts a "
	    "LEFT JOIN billing_sessions s ON s.account_id = a.id "
	    "AND s.ended_at IS NULL "
	    /* stale sessions hold nothing, unless they never heartbeat */
	    "AND (s.last_heartbeat_at >= ? OR s.hibernated = 1 "
	    "OR s.heartbeats = 0) "
	    "WHERE a.id > ? GROUP BY a.id ORDER BY a.id LIMIT 200", 2,
	    ACC_NCOLS },
	[QUOTAS_LOCK_ACCOUNT] = {
	    "SELECT status FROM billing_accounts WHERE id = ? FOR UPDATE",
	    1, 1 },
	[QUOTAS_STATE] = {
	    "SELECT level, crossing_seq, exceeded_since, in_use "
	    "FROM billing_quota_state WHERE account_id = ? "
	    "AND resource_type = ?", 2, STATE_NCOLS },
	[QUOTAS_STATE_UPSERT] = {
	    "INSERT INTO billing_quota_state (account_id, resource_type, level, "
	    "crossing_seq, level_since, exceeded_since, in_use, quota_limit, "
	    "checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON DUPLICATE KEY UPDATE level = VALUES(level), "
	    "crossing_seq = VALUES(crossing_seq), "
	    "level_since = VALUES(level_since), "
	    "exceeded_since = VALUES(exceeded_since), in_use = VALUES(in_use), "
	    "quota_limit = VALUES(quota_limit), "
	    "checked_at = VALUES(checked_at)", 9, 0 },
	/* accounts whose status the platform has not acknowledged yet */
	[QUOTAS_TO_NOTIFY] = {
	    "SELECT id, user_id, status, COALESCE(suspension_reason, '') "
	    "FROM billing_accounts WHERE status IN ('active', 'suspended') "
	    "AND status <> COALESCE(platform_status, 'active') AND id > ? "
	    "ORDER BY id LIMIT 200", 1, NOTIFY_NCOLS },
};

const struct db_stmts quotas_stmts = DB_STMTS("quotas", quotas_sql);

struct acct_row {
	uint64_t id;
	char user_id[256], plan_id[65], mode[16], status[16], reason[32];
	int64_t payment_failed_at;
	int64_t in_use[RES_COUNT];
};

struct batch {
	struct app *app;
	int64_t now;
	uint64_t after, last;
	size_t n;
	uint64_t events, suspended, resumed;
};

static int64_t
limit_of(const struct plan *p, enum resource r)
{
	if (p == NULL)
		return 0;
	return r == RES_CPU ? p->cpu_limit : r == RES_MEMORY ? p->memory_limit :
	    p->storage_limit;
}

/* The level of in_use against limit; no limit (0) is never a crossing. */
static enum level
level_of(int64_t in_use, int64_t limit, int threshold, int64_t *pct)
{
	*pct = 0;
	if (limit <= 0 || money_muldiv(in_use, 100 * MONEY_SCALE, limit, pct) != 0)
		return LEVEL_OK;
	if (*pct > 100 * MONEY_SCALE)
		return LEVEL_EXCEEDED;
	if (*pct >= (int64_t)threshold * MONEY_SCALE)
		return LEVEL_WARNING;
	return LEVEL_OK;
}

static struct json_object *
quota_event_data(const struct acct_row *a, enum resource r, int64_t in_use,
    int64_t limit, int64_t pct, const struct plan *plan)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "user_id", json_object_new_string(a->user_id));
	json_object_object_add(d, "resource_type",
	    json_object_new_string(resource_name(r)));
	json_object_object_add(d, "in_use", json_money_trim(in_use, 0));
	json_object_object_add(d, "limit", json_money_trim(limit, 0));
	json_object_object_add(d, "percent", json_money(pct, 2));
	json_object_object_add(d, "plan_id",
	    plan ? json_object_new_string(plan->id) : NULL);
	return d;
}

/*
 * One resource of one account: store the level, emit on an upward crossing.
 * *over_since is the start of the stretch above 100 % (0: not above).
 * An account suspended for overage holds the usage it was suspended with:
 * its sessions ending is the suspension's own effect, not the cause gone,
 * so it neither lifts the suspension nor restarts the grace period; a plan
 * whose limit covers that usage does.
 */
static int
check_resource(struct db *db, struct batch *b, const struct acct_row *a,
    const struct plan *plan, enum resource r, int64_t *over_since)
{
	const struct billing_config *cfg = b->app->cfg;
	struct db_result *res = NULL;
	enum level old = LEVEL_OK, now_level;
	int64_t seq = 0, exceeded_since = 0, pct, limit = limit_of(plan, r);
	int64_t in_use = a->in_use[r], held = 0;
	int hold = strcmp(a->status, "suspended") == 0 &&
	    strcmp(a->reason, "overage") == 0;
	char nowt[TIME_TEXT_MAX], exc[TIME_TEXT_MAX], use[32], lim[32], key[96];
	int rc, rr, i;

	struct db_param sp[] = { DBP_INT(a->id), DBP_STR(resource_name(r)) };
	if ((rc = db_get(db, &quotas_stmts, QUOTAS_STATE, sp, 2, &res)) != DB_OK)
		return rc;
	if ((rr = db_fetch(res)) == 1) {
		const char *lv = db_col(res, STATE_COL_LEVEL, NULL);

		for (i = 0; i < 3; i++)
			if (lv != NULL && strcmp(lv, level_names[i]) == 0)
				old = (enum level)i;
		db_col_i64(res, STATE_COL_SEQ, &seq);
		db_col_time(res, STATE_COL_EXCEEDED, &exceeded_since);
		if (db_col_decimal(res, STATE_COL_IN_USE, &held) != 0)
			held = 0;
	}
	db_result_free(res);
	if (rr < 0)
		return rr;
	if (hold && held > in_use)
		in_use = held;

	now_level = level_of(in_use, limit, cfg->alert_threshold, &pct);
	if (now_level == LEVEL_EXCEEDED && exceeded_since == 0)
		exceeded_since = b->now;
	if (now_level != LEVEL_EXCEEDED)
		exceeded_since = 0;
	*over_since = exceeded_since;
	if (now_level > old) {
		/* an upward crossing: one event, numbered so a rerun adds none */
		struct json_object *d = quota_event_data(a, r, in_use, limit,
		    pct, plan);
		const char *type = now_level == LEVEL_EXCEEDED ?
		    "billing.quota.exceeded" : "billing.quota.warning";

		seq++;
		snprintf(key, sizeof(key), "%s:%llu:%s:%lld", type,
		    (unsigned long long)a->id, resource_name(r), (long long)seq);
		rc = event_emit(db, type, a->id, key, d, b->now);
		json_object_put(d);
		if (rc != DB_OK)
			return rc;
		b->events++;
	} else if (now_level < old)
		seq++; /* falling back re-arms the next crossing */
	if (rr == 0 && now_level == LEVEL_OK && in_use == 0)
		return DB_OK; /* nothing to remember for an idle account */
	time_format_db(b->now, nowt, sizeof(nowt));
	if (exceeded_since)
		time_format_db(exceeded_since, exc, sizeof(exc));
	money_format(in_use, 6, use, sizeof(use));
	money_format(limit, 6, lim, sizeof(lim));
	struct db_param up[] = { DBP_INT(a->id), DBP_STR(resource_name(r)),
	    DBP_STR(level_names[now_level]), DBP_INT(seq), DBP_STR(nowt),
	    exceeded_since ? DBP_STR(exc) : DBP_NULLV, DBP_STR(use), DBP_STR(lim),
	    DBP_STR(nowt) };
	return db_run(db, &quotas_stmts, QUOTAS_STATE_UPSERT, up, 9, NULL,
	    NULL);
}

static int
account_event(struct db *db, struct batch *b, const struct acct_row *a,
    const char *type, const char *reason)
{
	struct json_object *d = json_object_new_object();
	char key[128], t[32];
	int rc;

	json_object_object_add(d, "user_id", json_object_new_string(a->user_id));
	json_object_object_add(d, "reason",
	    reason ? json_object_new_string(reason) : NULL);
	snprintf(t, sizeof(t), "%lld", (long long)(b->now / USEC_PER_SEC));
	snprintf(key, sizeof(key), "%s:%llu:%s", type,
	    (unsigned long long)a->id, t);
	rc = event_emit(db, type, a->id, key, d, b->now);
	json_object_put(d);
	return rc;
}

/* Suspends or resumes the account when its cause comes or goes. */
static int
check_suspension(struct db *db, struct batch *b, const struct acct_row *a,
    int64_t over_since)
{
	const struct billing_config *cfg = b->app->cfg;
	int64_t grace = (int64_t)cfg->grace_period_days * USEC_PER_DAY;
	const char *cause = NULL;
	char nowt[TIME_TEXT_MAX];
	int suspended = strcmp(a->status, "suspended") == 0, rc;

	if (!cfg->auto_suspend_on_overage)
		return DB_OK;
	if (over_since != 0 && b->now - over_since >= grace)
		cause = "overage";
	else if (a->payment_failed_at != 0 && b->now - a->payment_failed_at >= grace)
		cause = "payment_failed";
	if (cause != NULL && !suspended && strcmp(a->status, "active") == 0) {
		time_format_db(b->now, nowt, sizeof(nowt));
		if ((rc = account_suspend(db, a->id, nowt, cause)) != DB_OK)
			return rc;
		b->suspended++;
		return account_event(db, b, a, "billing.account.suspended", cause);
	}
	if (cause == NULL && suspended) {
		if ((rc = account_resume(db, a->id)) != DB_OK)
			return rc;
		b->resumed++;
		return account_event(db, b, a, "billing.account.resumed", NULL);
	}
	return DB_OK;
}

static int
load_accounts(struct db *db, struct batch *b, struct acct_row *rows)
{
	struct db_result *res = NULL;
	char stale[TIME_TEXT_MAX];
	int64_t v;
	int rc, r;

	time_format_db(b->now - (int64_t)b->app->cfg->session_timeout_minutes *
	    60 * USEC_PER_SEC, stale, sizeof(stale));
	struct db_param p[] = { DBP_STR(stale), DBP_INT(b->after) };
	b->n = 0;
	if ((rc = db_get(db, &quotas_stmts, QUOTAS_ACCOUNTS, p, 2, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1 && b->n < BATCH) {
		struct acct_row *a = &rows[b->n];

		memset(a, 0, sizeof(*a));
		if (db_col_i64(res, ACC_COL_ID, &v) != 0)
			continue;
		a->id = (uint64_t)v;
		db_col_text(res, ACC_COL_USER, a->user_id, sizeof(a->user_id));
		db_col_text(res, ACC_COL_PLAN, a->plan_id, sizeof(a->plan_id));
		db_col_text(res, ACC_COL_MODE, a->mode, sizeof(a->mode));
		db_col_text(res, ACC_COL_STATUS, a->status, sizeof(a->status));
		db_col_text(res, ACC_COL_REASON, a->reason, sizeof(a->reason));
		if (db_col_time(res, ACC_COL_PAYMENT_FAILED,
		    &a->payment_failed_at) != 0 ||
		    db_col_decimal(res, ACC_COL_CPU, &a->in_use[RES_CPU]) != 0 ||
		    db_col_decimal(res, ACC_COL_MEMORY, &a->in_use[RES_MEMORY]) != 0 ||
		    db_col_decimal(res, ACC_COL_STORAGE, &a->in_use[RES_STORAGE]) != 0)
			continue;
		b->n++;
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
quota_batch_txn(struct db *db, void *arg)
{
	static struct acct_row rows[BATCH];
	struct batch *b = arg;
	struct account acct;
	const struct plan *plan;
	int64_t since, over_since;
	size_t i;
	int rc, r;

	b->events = b->suspended = b->resumed = 0;
	if ((rc = load_accounts(db, b, rows)) != DB_OK)
		return rc;
	for (i = 0; i < b->n; i++) {
		struct acct_row *a = &rows[i];

		/* one checker at a time per account: concurrent runs queue here */
		struct db_param lp[] = { DBP_INT(a->id) };
		struct db_result *res = NULL;
		if ((rc = db_get(db, &quotas_stmts, QUOTAS_LOCK_ACCOUNT, lp, 1,
		    &res)) != DB_OK)
			return rc;
		if (db_fetch(res) == 1)
			db_col_text(res, 0, a->status, sizeof(a->status));
		db_result_free(res);

		memset(&acct, 0, sizeof(acct));
		snprintf(acct.plan_id, sizeof(acct.plan_id), "%s", a->plan_id);
		snprintf(acct.billing_mode, sizeof(acct.billing_mode), "%s", a->mode);
		plan = account_plan(b->app->cfg, &acct);
		over_since = 0;
		for (r = 0; r < RES_COUNT; r++) {
			if ((rc = check_resource(db, b, a, plan, r, &since)) != DB_OK)
				return rc;
			if (since != 0 && (over_since == 0 || since < over_since))
				over_since = since;
		}
		if ((rc = check_suspension(db, b, a, over_since)) != DB_OK)
			return rc;
	}
	b->last = b->n ? rows[b->n - 1].id : b->after;
	return DB_OK;
}

/* POSTs {user_id, status, reason} signed like our events; 0 on a 2xx. */
static int
notify_platform(struct outbound *out, const struct billing_config *cfg,
    const char *user_id, const char *status, const char *reason, int64_t now)
{
	struct json_object *o = json_object_new_object();
	const char *body;
	char err[256];
	long code = 0;
	int rc;

	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "reason",
	    reason[0] ? json_object_new_string(reason) : NULL);
	body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = outbound_post(out, cfg->platform_suspend_url,
	    cfg->events_webhook_secret, now / USEC_PER_SEC, body, strlen(body),
	    NULL, 0, &code, err, sizeof(err));
	if (rc != 0)
		log_warnx("platformSuspendUrl: %s for %s not acknowledged "
		    "(HTTP %ld)", status, user_id, code);
	json_object_put(o);
	return rc;
}

/* Tells the platform about every suspension or resumption not told yet. */
static int
notify_all(struct app *app, int64_t now, uint64_t *told)
{
	struct { uint64_t id; char user[256], status[16], reason[32]; } *rows = NULL;
	struct db_result *res = NULL;
	uint64_t after = 0;
	struct outbound *out = NULL;
	size_t n, i;
	int64_t v;
	int rc = DB_OK, r;

	*told = 0;
	if (app->cfg->platform_suspend_url == NULL)
		return DB_OK;
	if ((rows = calloc(BATCH, sizeof(*rows))) == NULL ||
	    (out = outbound_new("platform")) == NULL) {
		free(rows);
		return DB_ERROR;
	}
	do {
		struct db_param p[] = { DBP_INT(after) };
		if ((rc = db_get(app->db, &quotas_stmts, QUOTAS_TO_NOTIFY, p, 1,
		    &res)) != DB_OK)
			break;
		for (n = 0; (r = db_fetch(res)) == 1 && n < BATCH; n++) {
			db_col_i64(res, NOTIFY_COL_ID, &v);
			rows[n].id = (uint64_t)v;
			db_col_text(res, NOTIFY_COL_USER, rows[n].user, sizeof(rows[n].user));
			db_col_text(res, NOTIFY_COL_STATUS,
			    rows[n].status, sizeof(rows[n].status));
			db_col_text(res, NOTIFY_COL_REASON,
			    rows[n].reason, sizeof(rows[n].reason));
		}
		db_result_free(res);
		if (r < 0) {
			rc = r;
			break;
		}
		for (i = 0; i < n; i++) {
			after = rows[i].id;
			if (notify_platform(out, app->cfg, rows[i].user,
			    rows[i].status, rows[i].reason, now) != 0)
				continue;
			if ((rc = account_mark_notified(app->db, rows[i].id,
			    rows[i].status)) != DB_OK)
				break;
			(*told)++;
		}
	} while (rc == DB_OK && n == BATCH);
	outbound_free(out);
	free(rows);
	return rc;
}

int
quotas_job(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	struct batch b;
	uint64_t accounts = 0, events = 0, suspended = 0, resumed = 0, told = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	b.app = app;
	b.now = opts && opts->now ? opts->now : time_now_usec();
	/* downgrades come due first: their plans' limits apply from then */
	rc = plan_change_apply_due(app->db, app->cfg, 0, b.now);
	for (; rc == DB_OK;) {
		if ((rc = db_transaction(app->db, quota_batch_txn, &b)) != DB_OK)
			break;
		if (b.n == 0)
			break;
		accounts += b.n;
		events += b.events;
		suspended += b.suspended;
		resumed += b.resumed;
		b.after = b.last;
	}
	if (rc == DB_OK)
		rc = notify_all(app, b.now, &told);
	result->items = events;
	if (rc != DB_OK) {
		snprintf(result->message, sizeof(result->message),
		    "failed after %llu accounts: %s", (unsigned long long)accounts,
		    db_error(app->db));
		return -1;
	}
	snprintf(result->message, sizeof(result->message),
	    "%llu accounts checked, %llu events, %llu suspended, %llu resumed, "
	    "%llu platform notices", (unsigned long long)accounts,
	    (unsigned long long)events, (unsigned long long)suspended,
	    (unsigned long long)resumed, (unsigned long long)told);
	return 0;
}
