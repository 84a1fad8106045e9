/*
 * subscriptions: reading the subscription row; plan changes through Stripe.
 */
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "money.h"
#include "subscriptions.h"
#include "timeutil.h"

static const char SQL_FIND[] =
    "SELECT id, plan_id, status, current_period_start, current_period_end, "
    "cancel_at_period_end, COALESCE(stripe_subscription_id, '') "
    "FROM billing_subscriptions WHERE account_id = ?";

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
	if ((rc = db_query(db, SQL_FIND, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, 0, &v);
		out->id = (uint64_t)v;
		out->account_id = account_id;
		snprintf(out->plan_id, sizeof(out->plan_id), "%s", db_col(res, 1, NULL));
		snprintf(out->status, sizeof(out->status), "%s", db_col(res, 2, NULL));
		if ((s = db_col(res, 3, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_start);
		if ((s = db_col(res, 4, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_end);
		db_col_i64(res, 5, &v);
		out->cancel_at_period_end = v != 0;
		snprintf(out->stripe_subscription_id,
		    sizeof(out->stripe_subscription_id), "%s", db_col(res, 6, NULL));
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

int
subscription_cancel_at_period_end(struct app *app,
    const struct subscription *sub, char *err, size_t errlen)
{
	(void)sub;
	snprintf(err, errlen, "%s", app->cfg->stripe_enabled ?
	    "the Stripe client is not built yet" : "Stripe is not configured");
	return 503;
}

int
subscription_change_paid(struct app *app, const struct account *acct,
    const struct subscription *live, const struct plan *plan,
    struct json_object **checkout, char *err, size_t errlen)
{
	(void)acct;
	(void)live;
	(void)plan;
	*checkout = NULL;
	snprintf(err, errlen, "%s", app->cfg->stripe_enabled ?
	    "the Stripe client is not built yet" : "Stripe is not configured");
	return 503;
}
