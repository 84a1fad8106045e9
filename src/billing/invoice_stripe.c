/*
 * invoice_stripe: what a Stripe subscription collects, recorded here as a
 * paid invoice (kind 'stripe') with its Stripe invoice id, so that the user
 * sees it among their invoices and the ledger holds every charge once.
 *
 * Such an invoice is never made by us, never pushed, holds no period (the
 * one-invoice-per-period key and the overlap checks leave kind 'stripe'
 * out: sql/004_stripe_invoices.sql) and takes no credits: credits apply
 * where we collect, on our own invoices.  It gets a number from the same
 * gap-free counter as ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "money.h"
#include "timeutil.h"

enum { STRIPE_INV_BY_ID, STRIPE_INV_INSERT, STRIPE_INV_LINE,
	STRIPE_INV_NSTMTS };

static const struct db_stmt stripe_inv_sql[STRIPE_INV_NSTMTS] = {
	[STRIPE_INV_BY_ID] = { "SELECT id FROM billing_invoices "
	    "WHERE stripe_invoice_id = ?", 1, 1 },
	[STRIPE_INV_INSERT] = { "INSERT INTO billing_invoices (account_id, "
	    "invoice_number, kind, period_start, period_end, billing_mode, "
	    "plan_id, currency, subtotal, credits, total, status, due_date, "
	    "finalized_at, paid_at, stripe_invoice_id, created_at, "
	    "issued_details) "
	    "VALUES (?, ?, 'stripe', ?, ?, ?, ?, ?, ?, 0, ?, 'paid', ?, ?, ?, "
	    "?, ?, ?)", 15, 0 },
	[STRIPE_INV_LINE] = { "INSERT INTO billing_invoice_lines (invoice_id, "
	    "line_no, kind, resource_type, description, quantity, unit, "
	    "unit_price, amount) "
	    "VALUES (?, 1, 'subscription', NULL, ?, 1, ?, ?, ?)", 5, 0 },
};
const struct db_stmts invoice_stripe_stmts = DB_STMTS("invoice_stripe",
    stripe_inv_sql);

int
invoice_stripe_record(struct db *db, const struct billing_config *cfg,
    const struct account *acct, const struct invoice_stripe_paid *sp,
    uint64_t *invoice_id)
{
	const struct plan *plan = account_plan(cfg, acct);
	struct account_billing bill;
	char *issued = NULL;
	char number[33], ps[TIME_TEXT_MAX], pe[TIME_TEXT_MAX];
	char paid[TIME_TEXT_MAX], now[TIME_TEXT_MAX], amt[32];
	const char *unit = "period";
	int64_t v, end = sp->period_end;
	int y, m, d, hh, mm, ss, us, rc;

	*invoice_id = 0;
	struct db_param sp1[] = { DBP_STR(sp->stripe_invoice_id) };
	rc = db_get_i64(db, &invoice_stripe_stmts, STRIPE_INV_BY_ID, sp1, 1,
	    &v);
	if (rc == DB_OK) {
		*invoice_id = (uint64_t)v;  /* recorded before */
		return DB_OK;
	}
	if (rc != DB_NOT_FOUND)
		return rc;
	if (end <= sp->period_start)   /* a period is never empty */
		end = sp->period_start + USEC_PER_SEC;
	time_format_db(sp->period_start, ps, sizeof(ps));
	time_format_db(end, pe, sizeof(pe));
	time_format_db(sp->paid_at, paid, sizeof(paid));
	time_format_db(sp->now, now, sizeof(now));
	money_format(sp->amount, 2, amt, sizeof(amt));
	/* numbered: issued with the account's details as they are now */
	if ((rc = account_billing_get(db, acct->id, 0, &bill)) != DB_OK)
		return rc == DB_NOT_FOUND ? DB_ERROR : rc;
	if ((issued = invoice_issued_text(&bill, &cfg->issuer, sp->period_start,
	    end)) == NULL)
		return DB_ERROR;
	time_to_civil(sp->paid_at, &y, &m, &d, &hh, &mm, &ss, &us);
	if ((rc = invoice_build_next_number(db, y, number, sizeof(number))) !=
	    DB_OK)
		goto out;
	struct db_param p[] = { DBP_INT(acct->id), DBP_STR(number),
	    DBP_STR(ps), DBP_STR(pe),
	    DBP_STR(config_mode_name(account_mode(cfg, acct))),
	    plan ? DBP_STR(plan->id) : DBP_NULLV, DBP_STR(sp->currency),
	    DBP_STR(amt), DBP_STR(amt), DBP_STR(paid), DBP_STR(paid),
	    DBP_STR(paid), DBP_STR(sp->stripe_invoice_id), DBP_STR(now),
	    DBP_STR(issued) };
	if ((rc = db_run(db, &invoice_stripe_stmts, STRIPE_INV_INSERT, p, 15,
	    NULL, invoice_id)) != DB_OK)
		goto out;
	if (plan != NULL)
		unit = plan->interval == INTERVAL_YEAR ? "year" : "month";
	struct db_param lp[] = { DBP_INT(*invoice_id),
	    DBP_STR(sp->description[0] ? sp->description : "Subscription"),
	    DBP_STR(unit), DBP_STR(amt), DBP_STR(amt) };
	rc = db_run(db, &invoice_stripe_stmts, STRIPE_INV_LINE, lp, 5, NULL,
	    NULL);
out:
	free(issued);
	return rc;
}
