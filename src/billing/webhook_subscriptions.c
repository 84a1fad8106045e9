/*
 * The Stripe webhook's subscription events (webhook.h):
 * checkout.session.completed, customer.subscription.updated and
 * customer.subscription.deleted.  They keep the account's
 * billing_subscriptions row (status, plan, period, cancel_at_period_end,
 * the Stripe subscription) and the account's plan in step with Stripe's,
 * and link the Stripe customer to an account that has none.
 *
 * Out-of-order delivery never regresses state: the row keeps the
 * `created` of the last subscription event applied to it and ignores
 * older ones, and same-second ones that would move its status back; a
 * canceled subscription is final; a checkout, which carries no
 * subscription time, only seeds a row that its subscription's own events
 * do not already own; news of another subscription replaces a live one
 * only when it is live itself and not older.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "events.h"
#include "json_util.h"
#include "plan_changes.h"
#include "subscriptions.h"
#include "timeutil.h"
#include "webhook.h"

#define STATUS_MAX 32

/* -- the account ---------------------------------------------------------- */

/* Stores the Stripe customer on an account that has none. */
static int
link_customer(struct db *db, struct webhook_event *w, struct account *acct,
    const char *customer)
{
	int rc;

	if (customer == NULL)
		return DB_OK;
	if (acct->stripe_customer_id[0] != '\0') {
		if (strcmp(acct->stripe_customer_id, customer) != 0)
			webhook_note(w, "account keeps its customer %s, not %s",
			    acct->stripe_customer_id, customer);
		return DB_OK;
	}
	rc = account_set_stripe_customer(db, acct->id, customer);
	if (rc == DB_DUPLICATE) {
		webhook_note(w, "customer %s belongs to another account",
		    customer);
		return DB_OK;
	}
	if (rc == DB_OK) {
		snprintf(acct->stripe_customer_id,
		    sizeof(acct->stripe_customer_id), "%s", customer);
		webhook_note(w, "customer %s linked", customer);
	}
	return rc;
}

/* -- subscriptions -------------------------------------------------------- */

/* A status word: [a-z_], 1..STATUS_MAX. */
static int
status_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= STATUS_MAX || !((s[n] >= 'a' && s[n] <= 'z') ||
		    s[n] == '_'))
			return 0;
	return n > 0;
}

/* Statuses under which the plan is the subscription's. */
static int
status_entitles(const char *s)
{
	return strcmp(s, "active") == 0 || strcmp(s, "trialing") == 0 ||
	    strcmp(s, "past_due") == 0;
}

/* Statuses after which the account is back on the default plan. */
static int
status_ended(const char *s)
{
	return strcmp(s, "canceled") == 0 || strcmp(s, "unpaid") == 0 ||
	    strcmp(s, "incomplete_expired") == 0 || strcmp(s, "paused") == 0;
}

/* Statuses Stripe never leaves: the subscription is over for good. */
static int
status_final(const char *s)
{
	return strcmp(s, "canceled") == 0 ||
	    strcmp(s, "incomplete_expired") == 0;
}

/*
 * Where a status stands in a subscription's life, for news of the same
 * second (Stripe's `created` has whole seconds, so their order is unknown):
 * such news may keep the stage or move it on, never back.  -1: unknown.
 */
static int
status_stage(const char *s)
{
	static const struct { const char *status; int stage; } stages[] = {
		{ "incomplete", 0 }, { "trialing", 1 }, { "active", 2 },
		{ "past_due", 3 }, { "unpaid", 4 }, { "paused", 4 },
		{ "incomplete_expired", 5 }, { "canceled", 5 },
	};
	size_t i;

	for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (strcmp(s, stages[i].status) == 0)
			return stages[i].stage;
	return -1;
}

/*
 * Whether news of subscription sub_id (status, at created; has_created 0
 * for a checkout, which carries no subscription time) may replace what the
 * row holds.  The row's own subscription: never once it is final (canceled
 * stays canceled), never when the news is older than what was applied, and
 * at the same second only when it does not move the status back.  Another
 * subscription: only if the row's is no longer live, or the news is live
 * and not older.  Sets *why when not.
 */
static int
may_replace(const struct subscription_row *row, const char *sub_id,
    const char *status, int has_created, int64_t created, const char **why)
{
	int older, tie, from, to;

	if (!row->exists)
		return 1;
	older = has_created && row->has_created && created < row->event_created;
	tie = has_created && row->has_created && created == row->event_created;
	if (strcmp(row->stripe_id, sub_id) == 0) {
		if (status_final(row->status) && strcmp(status, row->status) != 0) {
			*why = "the subscription has ended: its status is final";
			return 0;
		}
		*why = "older than the state already applied";
		if (older)
			return 0;
		from = status_stage(row->status);
		to = status_stage(status);
		if (tie && from >= 0 && to >= 0 && to < from) {
			*why = "of the same second as the state applied, and "
			    "behind it";
			return 0;
		}
		return 1;
	}
	*why = "another subscription of the account is live";
	return row->stripe_id[0] == '\0' || !status_entitles(row->status) ||
	    (status_entitles(status) && !older);
}

/* unix seconds plus one interval of plan (calendar months, day clamped). */
static int64_t
add_interval(int64_t sec, const struct plan *plan)
{
	int y, m, d, hh, mm, ss, dim, months;

	months = plan != NULL && plan->interval == INTERVAL_YEAR ? 12 : 1;
	time_to_civil(sec * USEC_PER_SEC, &y, &m, &d, &hh, &mm, &ss, NULL);
	dim = (int)((time_from_civil(y, m + months + 1, 1, 0, 0, 0) -
	    time_from_civil(y, m + months, 1, 0, 0, 0)) / USEC_PER_SEC / 86400);
	if (d > dim)
		d = dim;
	return time_from_civil(y, m + months, d, hh, mm, ss) / USEC_PER_SEC;
}

/*
 * The account's plan once its subscription is in status: the
 * subscription's plan while live, the default plan once it has ended,
 * unchanged otherwise (incomplete: not paid yet).
 */
static int
set_account_plan(struct db *db, struct webhook_event *w, struct account *acct,
    const char *status, const char *plan_id)
{
	const char *to;
	int rc;

	if (status_entitles(status))
		to = plan_id;
	else if (status_ended(status))
		to = w->cfg->default_plan;
	else
		return DB_OK;
	if (to == NULL ? acct->plan_id[0] == '\0' :
	    strcmp(to, acct->plan_id) == 0)
		return DB_OK;
	if ((rc = account_set_plan(db, acct->id, to)) == DB_OK)
		webhook_note(w, "account plan %s", to ? to : "(none)");
	return rc;
}

static const struct plan *
plan_by_price(const struct billing_config *cfg, const char *price)
{
	size_t i;

	for (i = 0; price != NULL && i < cfg->n_plans; i++)
		if (cfg->plans[i].stripe_price_id != NULL &&
		    strcmp(cfg->plans[i].stripe_price_id, price) == 0)
			return &cfg->plans[i];
	return NULL;
}

/*
 * checkout.session.completed: links the customer to the account named by
 * client_reference_id (or metadata.user_id, or the customer) and seeds the
 * account's subscription with the session's subscription and
 * metadata.plan_id: "active" when the session is complete and paid (or
 * needs no payment), "incomplete" otherwise.  The subscription's own
 * events, whenever they come, own its state afterwards.
 */
/*
 * 0 when the session's customer, expanded, says it was made for another
 * account (metadata.account_id or user_id, set by stripe_customer_ensure).
 */
static int
customer_made_for(struct json_object *s, const struct account *acct)
{
	struct json_object *md = webhook_jget(webhook_jget(s, "customer"),
	    "metadata");
	const char *aid = webhook_jtext(md, "account_id");
	const char *uid = webhook_jtext(md, "user_id");

	if (aid != NULL && webhook_parse_id(aid) != acct->id)
		return 0;
	return uid == NULL || strcmp(uid, acct->user_id) == 0;
}

int
webhook_on_checkout_completed(struct db *db, struct webhook_event *w)
{
	struct json_object *s = w->obj, *md = webhook_jget(s, "metadata");
	const char *user_id, *customer, *sub_id, *pay, *why = "";
	const struct plan *plan;
	struct subscription_state st;
	struct subscription_row row;
	struct account acct;
	int ours, rc;

	/* ours (metadata, set with the customer) before client_reference_id,
	 * which whoever makes a session can set */
	user_id = webhook_jtext(md, "user_id");
	ours = user_id != NULL && account_user_id_valid(user_id);
	if (!ours)
		user_id = webhook_jtext(s, "client_reference_id");
	customer = webhook_jid(s, "customer");
	sub_id = webhook_jid(s, "subscription");
	rc = webhook_account_by_user(db, user_id, &acct);
	if (rc == DB_NOT_FOUND) {
		ours = 1;   /* the customer's own account */
		rc = webhook_account_by_customer(db, customer, &acct);
	}
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "no account for the session's user or "
		    "customer");
		return webhook_ignore(w, "unknown account");
	}
	if (rc != DB_OK || (rc = webhook_lock_account(db, &acct)) != DB_OK)
		return rc;
	webhook_note(w, "account %llu", (unsigned long long)acct.id);
	if (!customer_made_for(s, &acct))
		ours = 0;
	if (!ours)
		webhook_note(w, "customer %s not linked: not made for this "
		    "account",
		    customer ? customer : "(none)");
	else if ((rc = link_customer(db, w, &acct, customer)) != DB_OK)
		return rc;
	if (sub_id == NULL)
		return DB_OK;
	if ((rc = subscription_lock(db, acct.id, &row)) != DB_OK)
		return rc;
	if (row.exists && strcmp(row.stripe_id, sub_id) == 0) {
		webhook_note(w, "subscription %s known from its own events",
		    sub_id);
		return DB_OK;
	}
	plan = config_find_plan(w->cfg, webhook_jtext(md, "plan_id"));
	if (plan == NULL) {
		webhook_note(w, "no configured plan in metadata.plan_id: "
		    "subscription %s left to its own events", sub_id);
		return DB_OK;
	}
	memset(&st, 0, sizeof(st));
	pay = webhook_jtext(s, "payment_status");
	st.status = webhook_jtext(s, "status") != NULL &&
	    strcmp(webhook_jtext(s, "status"), "complete") == 0 &&
	    pay != NULL &&
	    (strcmp(pay, "paid") == 0 ||
	    strcmp(pay, "no_payment_required") == 0) ? "active" : "incomplete";
	if (!may_replace(&row, sub_id, st.status, 0, 0, &why)) {
		webhook_note(w, "subscription %s not applied: %s", sub_id, why);
		return DB_OK;
	}
	st.stripe_id = sub_id;
	st.plan_id = plan->id;
	/* the period until the subscription's events tell the real one */
	if (webhook_sec_text(w->created, st.start) != 0 ||
	    webhook_sec_text(add_interval(w->created, plan), st.end) != 0)
		return webhook_ignore(w, "malformed object");
	rc = subscription_write(db, acct.id, &row, &st);
	if (rc == DB_DUPLICATE) {
		webhook_note(w, "subscription %s belongs to another account",
		    sub_id);
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	webhook_note(w, "subscription %s %s on plan %s", sub_id, st.status,
	    plan->id);
	return set_account_plan(db, w, &acct, st.status, plan->id);
}

/*
 * billing.subscription.changed for a plan Stripe's subscription moved
 * (prorated by Stripe, which invoices it: no proration lines here).  Once
 * per Stripe event; an older event never gets here (may_replace).
 */
static int
plan_changed(struct db *db, struct webhook_event *w,
    const struct account *acct, const char *from, const struct plan *to)
{
	const struct plan *fp = config_find_plan(w->cfg, from);
	struct json_object *d;
	char key[300];
	int rc;

	d = json_object_new_object();
	json_object_object_add(d, "user_id",
	    json_object_new_string(acct->user_id));
	json_object_object_add(d, "change", json_object_new_string(
	    fp == NULL || plan_change_compare(to, fp) >= 0 ? "upgrade" :
	    "downgrade"));
	json_object_object_add(d, "from_plan", json_object_new_string(from));
	json_object_object_add(d, "to_plan", json_object_new_string(to->id));
	json_object_object_add(d, "effective_at",
	    json_time(w->created * USEC_PER_SEC));
	json_object_object_add(d, "source", json_object_new_string("stripe"));
	snprintf(key, sizeof(key), "billing.subscription.changed:%s",
	    w->event_id);
	rc = event_emit(db, "billing.subscription.changed", acct->id, key, d,
	    w->now);
	json_object_put(d);
	if (rc == DB_OK)
		webhook_note(w, "plan %s -> %s", from, to->id);
	return rc;
}

/* A period bound: the first item's (2025-03-31 API), else the top level's. */
static int
sub_period(struct json_object *sub, const char *key, int64_t *out)
{
	if (webhook_jint(webhook_jfirst(sub, "items"), key, out) == 1)
		return 1;
	return webhook_jint(sub, key, out) == 1;
}

/*
 * customer.subscription.updated and .deleted: the account's subscription
 * row follows Stripe's (status, plan by price or metadata.plan_id, period,
 * cancel_at_period_end) unless the event is older than the one applied;
 * the account's plan follows the status.
 */
int
webhook_on_subscription(struct db *db, struct webhook_event *w)
{
	struct json_object *sub = w->obj, *md = webhook_jget(sub, "metadata");
	struct json_object *price;
	const char *sub_id, *why = "";
	const struct plan *plan;
	struct subscription_state st;
	struct subscription_row row;
	struct account acct;
	int64_t ps, pe, ca;
	int deleted, same, rc;

	deleted = strcmp(w->type, "customer.subscription.deleted") == 0;
	memset(&st, 0, sizeof(st));
	sub_id = webhook_jid(sub, "id");
	st.status = deleted ? "canceled" : webhook_jtext(sub, "status");
	if (sub_id == NULL || !status_ok(st.status)) {
		webhook_note(w, "no subscription id or status");
		return webhook_ignore(w, "malformed object");
	}
	rc = webhook_account_by_subscription(db, sub_id, &acct);
	if (rc == DB_NOT_FOUND)
		rc = webhook_account_by_user(db, webhook_jtext(md, "user_id"),
		    &acct);
	if (rc == DB_NOT_FOUND)
		rc = webhook_account_by_customer(db,
		    webhook_jid(sub, "customer"), &acct);
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "no account for subscription %s", sub_id);
		return webhook_ignore(w, "unknown subscription");
	}
	if (rc != DB_OK || (rc = webhook_lock_account(db, &acct)) != DB_OK ||
	    (rc = subscription_lock(db, acct.id, &row)) != DB_OK)
		return rc;
	webhook_note(w, "account %llu subscription %s",
	    (unsigned long long)acct.id, sub_id);
	if (!may_replace(&row, sub_id, st.status, 1, w->created, &why))
		return webhook_ignore(w, why);
	same = row.exists && strcmp(row.stripe_id, sub_id) == 0;
	price = webhook_jget(webhook_jfirst(sub, "items"), "price");
	plan = plan_by_price(w->cfg, webhook_jid(price, "id"));
	if (plan == NULL)
		plan = config_find_plan(w->cfg, webhook_jtext(md, "plan_id"));
	if (plan == NULL && same)
		plan = config_find_plan(w->cfg, row.plan_id);
	if (plan == NULL) {
		webhook_note(w, "no configured plan for its price or "
		    "metadata.plan_id");
		return webhook_ignore(w, "unknown plan");
	}
	st.stripe_id = sub_id;
	st.plan_id = plan->id;
	st.has_created = 1;
	st.created = w->created;
	if (json_field_bool(sub, "cancel_at_period_end",
	    &st.cancel_at_period_end) != 1)
		st.cancel_at_period_end = 0;
	if (sub_period(sub, "current_period_start", &ps) &&
	    sub_period(sub, "current_period_end", &pe)) {
		if (webhook_sec_text(ps, st.start) != 0 ||
		    webhook_sec_text(pe, st.end) != 0)
			return webhook_ignore(w, "malformed object");
	} else if (same) {
		memcpy(st.start, row.start, sizeof(st.start));
		memcpy(st.end, row.end, sizeof(st.end));
	} else if (webhook_sec_text(w->created, st.start) != 0 ||
	    webhook_sec_text(add_interval(w->created, plan), st.end) != 0)
		return webhook_ignore(w, "malformed object");
	if (strcmp(st.status, "canceled") == 0) {
		if (webhook_jint(sub, "ended_at", &ca) != 1 &&
		    webhook_jint(sub, "canceled_at", &ca) != 1)
			ca = w->created;
		if (webhook_sec_text(ca, st.canceled) != 0)
			return webhook_ignore(w, "malformed object");
		st.has_canceled = 1;
	}
	rc = link_customer(db, w, &acct, webhook_jid(sub, "customer"));
	if (rc != DB_OK)
		return rc;
	rc = subscription_write(db, acct.id, &row, &st);
	if (rc == DB_DUPLICATE) {
		webhook_note(w, "subscription belongs to another account");
		return webhook_ignore(w, "subscription of another account");
	}
	if (rc != DB_OK)
		return rc;
	webhook_note(w, "%s on plan %s", st.status, plan->id);
	if (same && strcmp(row.plan_id, plan->id) != 0 &&
	    (rc = plan_changed(db, w, &acct, row.plan_id, plan)) != DB_OK)
		return rc;
	return set_account_plan(db, w, &acct, st.status, plan->id);
}
