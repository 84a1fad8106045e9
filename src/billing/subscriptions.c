/*
 * subscriptions: the subscription row (its one writer); plan changes
 * through Stripe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "app.h"
#include "checkout.h"
#include "config.h"
#include "db.h"
#include "plan_changes.h"
#include "result.h"
#include "stripe.h"
#include "subscriptions.h"
#include "timeutil.h"

enum {
	SUBSCRIPTION_FIND, SUBSCRIPTION_CANCEL, SUBSCRIPTION_ACCOUNT,
	SUBSCRIPTION_LOCK, SUBSCRIPTION_UPDATE, SUBSCRIPTION_INSERT,
	SUBSCRIPTION_NSTMTS
};

/* The columns of SUBSCRIPTION_FIND. */
enum {
	FIND_COL_ID, FIND_COL_PLAN_ID, FIND_COL_STATUS, FIND_COL_START,
	FIND_COL_END, FIND_COL_CANCEL, FIND_COL_STRIPE_ID, FIND_NCOLS
};

/* The columns of SUBSCRIPTION_LOCK. */
enum {
	LOCK_COL_ID, LOCK_COL_PLAN_ID, LOCK_COL_STATUS, LOCK_COL_STRIPE_ID,
	LOCK_COL_CREATED, LOCK_COL_START, LOCK_COL_END, LOCK_NCOLS
};

static const struct db_stmt subscription_sql[SUBSCRIPTION_NSTMTS] = {
	[SUBSCRIPTION_FIND] = { "SELECT id, plan_id, status, "
	    "current_period_start, current_period_end, cancel_at_period_end, "
	    "COALESCE(stripe_subscription_id, '') "
	    "FROM billing_subscriptions WHERE account_id = ?", 1, FIND_NCOLS },
	[SUBSCRIPTION_CANCEL] = { "UPDATE billing_subscriptions SET "
	    "cancel_at_period_end = 1 WHERE id = ?", 1, 0 },
	[SUBSCRIPTION_ACCOUNT] = { "SELECT account_id FROM "
	    "billing_subscriptions WHERE stripe_subscription_id = ?", 1, 1 },
	[SUBSCRIPTION_LOCK] = { "SELECT id, plan_id, status, "
	    "COALESCE(stripe_subscription_id, ''), stripe_event_created, "
	    "current_period_start, current_period_end "
	    "FROM billing_subscriptions WHERE account_id = ? FOR UPDATE", 1,
	    LOCK_NCOLS },
	[SUBSCRIPTION_UPDATE] = { "UPDATE billing_subscriptions SET "
	    "plan_id = ?, status = ?, current_period_start = ?, "
	    "current_period_end = ?, cancel_at_period_end = ?, "
	    "stripe_subscription_id = ?, stripe_event_created = ?, "
	    "canceled_at = ? WHERE id = ?", 9, 0 },
	[SUBSCRIPTION_INSERT] = { "INSERT INTO billing_subscriptions (plan_id, "
	    "status, current_period_start, current_period_end, "
	    "cancel_at_period_end, stripe_subscription_id, "
	    "stripe_event_created, canceled_at, account_id) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", 9, 0 },
};

const struct db_stmts subscription_stmts = DB_STMTS("subscriptions",
    subscription_sql);

int
subscription_find(struct db *db, uint64_t account_id, struct subscription *out)
{
	struct db_result *res = NULL;
	size_t len;
	const char *s;
	int64_t v;
	int rc, r;

	memset(out, 0, sizeof(*out));
	struct db_param p[] = { DBP_INT(account_id) };
	rc = db_get(db, &subscription_stmts, SUBSCRIPTION_FIND, p, 1, &res);
	if (rc != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, FIND_COL_ID, &v);
		out->id = (uint64_t)v;
		out->account_id = account_id;
		db_col_text(res, FIND_COL_PLAN_ID, out->plan_id,
		    sizeof(out->plan_id));
		db_col_text(res, FIND_COL_STATUS, out->status,
		    sizeof(out->status));
		if ((s = db_col(res, FIND_COL_START, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_start);
		if ((s = db_col(res, FIND_COL_END, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_end);
		db_col_i64(res, FIND_COL_CANCEL, &v);
		out->cancel_at_period_end = v != 0;
		db_col_text(res, FIND_COL_STRIPE_ID, out->stripe_subscription_id,
		    sizeof(out->stripe_subscription_id));
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

int
subscription_is_live(const struct subscription *sub)
{
	static const char *const live[] = { "active", "trialing", "past_due",
	    "incomplete", "unpaid" };
	size_t i;

	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (strcmp(sub->status, live[i]) == 0)
			return 1;
	return 0;
}

/* -- as the webhook keeps it ------------------------------------------------ */

int
subscription_account(struct db *db, const char *stripe_id,
    struct account *out)
{
	int64_t id;
	int rc;

	if (stripe_id == NULL)
		return DB_NOT_FOUND;
	struct db_param p[] = { DBP_STR(stripe_id) };
	rc = db_get_i64(db, &subscription_stmts, SUBSCRIPTION_ACCOUNT, p, 1,
	    &id);
	if (rc != DB_OK)
		return rc;
	return account_get(db, (uint64_t)id, out);
}

int
subscription_lock(struct db *db, uint64_t account_id,
    struct subscription_row *row)
{
	struct db_result *res = NULL;
	char created[32];
	int64_t id;
	int rc, r;

	memset(row, 0, sizeof(*row));
	struct db_param p[] = { DBP_INT(account_id) };
	rc = db_get(db, &subscription_stmts, SUBSCRIPTION_LOCK, p, 1, &res);
	if (rc != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		row->exists = 1;
		if (db_col_i64(res, LOCK_COL_ID, &id) == 0)
			row->id = (uint64_t)id;
		db_col_text(res, LOCK_COL_PLAN_ID, row->plan_id,
		    sizeof(row->plan_id));
		db_col_text(res, LOCK_COL_STATUS, row->status,
		    sizeof(row->status));
		db_col_text(res, LOCK_COL_STRIPE_ID, row->stripe_id,
		    sizeof(row->stripe_id));
		db_col_text(res, LOCK_COL_CREATED, created, sizeof(created));
		if (created[0] != '\0') {
			row->has_created = 1;
			row->event_created = strtoll(created, NULL, 10);
		}
		db_col_text(res, LOCK_COL_START, row->start, sizeof(row->start));
		db_col_text(res, LOCK_COL_END, row->end, sizeof(row->end));
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

int
subscription_write(struct db *db, uint64_t account_id,
    const struct subscription_row *row, const struct subscription_state *s)
{
	struct db_param p[] = { DBP_STR(s->plan_id), DBP_STR(s->status),
	    DBP_STR(s->start), DBP_STR(s->end),
	    DBP_INT(s->cancel_at_period_end), DBP_STR(s->stripe_id),
	    s->has_created ? DBP_INT(s->created) : DBP_NULLV,
	    s->has_canceled ? DBP_STR(s->canceled) : DBP_NULLV,
	    DBP_INT(row->exists ? row->id : account_id) };

	return db_run(db, &subscription_stmts, row->exists ?
	    SUBSCRIPTION_UPDATE : SUBSCRIPTION_INSERT, p, 9, NULL, NULL);
}

/* -- what a user asks for --------------------------------------------------- */

enum result_code
subscription_view(struct app *app, const char *user_id,
    struct subscription_view *out, struct result *r)
{
	struct db *db = app->db;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = account_find(db, user_id, &out->acct);
	if (rc == DB_NOT_FOUND)
		return RESULT_OK;
	if (rc != DB_OK)
		return result_db(r, rc);
	out->has_account = 1;
	/* a downgrade that has come due applies before it is shown */
	rc = plan_change_find_pending(db, out->acct.id, &out->pending);
	if (rc == DB_OK && out->pending.has &&
	    out->pending.effective_at <= time_now_usec()) {
		if ((rc = plan_change_apply_due(db, app->cfg, out->acct.id,
		    time_now_usec())) == DB_OK &&
		    (rc = account_get(db, out->acct.id, &out->acct)) == DB_OK)
			rc = plan_change_find_pending(db, out->acct.id,
			    &out->pending);
	}
	if (rc != DB_OK)
		return result_db(r, rc);
	rc = subscription_find(db, out->acct.id, &out->sub);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return result_db(r, rc);
	out->has_sub = rc == DB_OK;
	return RESULT_OK;
}

/* Asks Stripe to stop the subscription at the end of its period and
 * records cancel_at_period_end. */
static enum result_code
cancel_at_period_end(struct app *app, const struct subscription *sub,
    struct result *r)
{
	struct stripe s;
	struct stripe_error se;
	struct stripe_form f;
	struct json_object *out = NULL;
	char path[300], key[300];
	int rc;

	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	memset(&se, 0, sizeof(se));
	stripe_form_init(&f);
	stripe_form_add(&f, "cancel_at_period_end", "true");
	snprintf(path, sizeof(path), "/v1/subscriptions/%s",
	    sub->stripe_subscription_id);
	snprintf(key, sizeof(key), "subscription-cancel-%s",
	    sub->stripe_subscription_id);
	rc = stripe_request(&s, "POST", path, &f, key, &out, &se);
	stripe_form_free(&f);
	json_object_put(out);
	if (rc != STRIPE_OK)
		return result_stripe(r, &se);
	/* Stripe's customer.subscription.updated will say the same */
	struct db_param p[] = { DBP_INT(sub->id) };
	if (db_run(app->db, &subscription_stmts, SUBSCRIPTION_CANCEL, p, 1, NULL,
	    NULL) != DB_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "the database is unavailable, try again");
	return RESULT_OK;
}

/*
 * Moves a live Stripe subscription to the plan's price, prorated by Stripe;
 * the webhook's customer.subscription.updated then records the new plan.
 * Nothing is asked when its item already has that price.  The request's
 * idempotency key is the id of the change recorded here first.
 */
static enum result_code
change_price(struct app *app, struct stripe *s, const struct account *acct,
    const struct subscription *live, const struct plan *plan,
    struct result *r)
{
	const struct plan *from = config_find_plan(app->cfg, live->plan_id);
	struct stripe_error se;
	struct stripe_form f;
	struct json_object *sub = NULL, *out = NULL, *items, *data, *first, *id;
	struct json_object *price, *pid;
	char path[300], key[64];
	enum result_code code = RESULT_OK;
	uint64_t change_id = 0;
	int rc;

	memset(&se, 0, sizeof(se));
	snprintf(path, sizeof(path), "/v1/subscriptions/%s",
	    live->stripe_subscription_id);
	if (stripe_request(s, "GET", path, NULL, NULL, &sub, &se) != STRIPE_OK)
		return result_stripe(r, &se);
	if (!json_object_object_get_ex(sub, "items", &items) ||
	    !json_object_object_get_ex(items, "data", &data) ||
	    (first = json_object_array_get_idx(data, 0)) == NULL ||
	    !json_object_object_get_ex(first, "id", &id)) {
		json_object_put(sub);
		return result_set(r, RESULT_STRIPE_REFUSED, NULL,
		    "the Stripe subscription has no item");
	}
	if (!live->cancel_at_period_end &&
	    json_object_object_get_ex(first, "price", &price) &&
	    json_object_object_get_ex(price, "id", &pid) &&
	    strcmp(json_object_get_string(pid), plan->stripe_price_id) == 0) {
		json_object_put(sub);
		return RESULT_OK;       /* Stripe bills that price already */
	}
	rc = plan_change_record_stripe(app->db, acct->id, live->plan_id,
	    plan->id, from == NULL || plan_change_compare(plan, from) >= 0,
	    time_now_usec(), &change_id);
	if (rc != DB_OK) {
		json_object_put(sub);
		return result_db(r, rc);
	}
	stripe_form_init(&f);
	stripe_form_add(&f, "items[0][id]", json_object_get_string(id));
	stripe_form_add(&f, "items[0][price]", plan->stripe_price_id);
	stripe_form_add(&f, "proration_behavior", "create_prorations");
	stripe_form_add(&f, "cancel_at_period_end", "false");
	stripe_form_add(&f, "metadata[plan_id]", plan->id);
	snprintf(key, sizeof(key), "plan-change-%llu",
	    (unsigned long long)change_id);
	if (stripe_request(s, "POST", path, &f, key, &out, &se) != STRIPE_OK) {
		code = result_stripe(r, &se);
		(void)plan_change_stripe_failed(app->db, change_id);
	}
	stripe_form_free(&f);
	json_object_put(out);
	json_object_put(sub);
	return code;
}

/* To a paid plan: a new Checkout Session when Stripe bills nothing yet,
 * else the live subscription's price is changed. */
static enum result_code
change_paid(struct app *app, struct account *acct,
    const struct subscription *live, const struct plan *plan,
    struct checkout_session *cs, int *has_checkout, struct result *r)
{
	const char *base = app->cfg->public_base_url;
	char success[2100], cancel[2100];
	struct stripe_error se;
	struct stripe s;

	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	if (plan->stripe_price_id == NULL)
		return result_set(r, RESULT_INVALID, "plan_id",
		    "the plan has no Stripe price");
	if (live != NULL)
		return change_price(app, &s, acct, live, plan, r);
	if (base == NULL)
		return result_set(r, RESULT_INVALID, "plan_id", "publicBaseUrl "
		    "is not configured: use POST create-checkout with "
		    "success_url and cancel_url");
	snprintf(success, sizeof(success),
	    "%s/billing/success?session_id={CHECKOUT_SESSION_ID}", base);
	snprintf(cancel, sizeof(cancel), "%s/billing/cancel", base);
	memset(&se, 0, sizeof(se));
	if (checkout_session_create(app, &s, acct, plan, success, cancel, cs,
	    &se) != STRIPE_OK)
		return result_stripe(r, &se);
	*has_checkout = 1;
	return RESULT_OK;
}

enum result_code
subscription_change(struct app *app, const char *user_id,
    const struct plan *plan, struct checkout_session *checkout,
    int *has_checkout, struct result *r)
{
	const struct billing_config *cfg = app->cfg;
	enum plan_change_outcome outcome;
	const struct plan *cur;
	struct subscription sub;
	struct account acct;
	int rc, live;

	*has_checkout = 0;
	rc = account_ensure(app->db, user_id, NULL, NULL, &acct, NULL);
	if (rc != DB_OK)
		return result_db(r, rc);
	rc = subscription_find(app->db, acct.id, &sub);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return result_db(r, rc);
	live = rc == DB_OK && subscription_is_live(&sub);

	if (live) {
		/* Stripe collects the plan: it changes there, prorated by
		 * Stripe; leaving for a free plan stops it at the period's
		 * end */
		if (plan != NULL && strcmp(plan->id, sub.plan_id) == 0 &&
		    !sub.cancel_at_period_end)
			return RESULT_OK;
		if (plan != NULL && plan->price != 0)
			return change_paid(app, &acct, &sub, plan, checkout,
			    has_checkout, r);
		return cancel_at_period_end(app, &sub, r);
	}
	if (plan == NULL)
		return result_set(r, RESULT_CONFLICT, "cancel",
		    "there is no paid subscription to cancel");
	cur = account_plan(cfg, &acct);
	/* a plan fee we bill ourselves: prorated at once, or at the cycle's
	 * end (plan_changes.h) */
	if (account_mode(cfg, &acct) != MODE_USAGE &&
	    (plan->price == 0 || (cur != NULL && cur->price > 0)))
		return plan_change_local(app->db, cfg, acct.id, plan,
		    time_now_usec(), &outcome, r);
	if (cur != NULL && strcmp(cur->id, plan->id) == 0)
		return RESULT_OK;       /* nothing to change */
	/* a paid plan: pay first, through Stripe */
	if (plan->price != 0)
		return change_paid(app, &acct, NULL, plan, checkout,
		    has_checkout, r);
	/* usage mode: the plan's price is not billed; its limits apply now */
	if ((rc = account_set_plan(app->db, acct.id, plan->id)) != DB_OK)
		return result_db(r, rc);
	return RESULT_OK;
}
