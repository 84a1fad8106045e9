/*
 * stripe_push: our finalized invoices of usage and hybrid accounts, pushed
 * to Stripe so that Stripe collects them (docs/stripe.md, "Pushing invoices").
 *
 * For one invoice:
 *   1. find a Stripe invoice already made for it (a push that failed half
 *      way): GET /v1/invoices?customer=... and metadata[billing_invoice_id];
 *   2. else POST /v1/invoices: a draft (auto_advance=false, so that Stripe
 *      never finalizes it half filled), pending_invoice_items_behavior=
 *      exclude (the customer's other pending items stay out of it);
 *   3. POST /v1/invoiceitems with invoice=<that draft>, one per line with
 *      an amount, and one negative "Credits applied" item, so that Stripe's
 *      total is ours; a draft found in step 1 gets only its missing items;
 *   4. POST /v1/invoices/{id}/finalize with auto_advance=true: Stripe
 *      charges the customer's default payment method;
 *   5. stripe_invoice_id stored (only where it is still NULL; invoices.c).
 * Every POST carries an Idempotency-Key made of our ids ("invoice-<id>",
 * "invoiceitem-<id>-<line no>", "invoiceitem-<id>-credits",
 * "invoice-finalize-<id>"), so a retried or re-run push makes nothing twice
 * within Stripe's 24 hours of idempotency; step 1 and the stored id cover
 * the time after that.
 *
 * An account whose plan a live Stripe subscription collects has invoices
 * without the plan line (invoice_impl.h, SQL_STRIPE_PLAN): what is pushed
 * is the invoice as it is, credits included.  An older invoice that still
 * carries the plan line is refused, never pushed with the plan charged twice.
 * An invoice voided or paid by hand while it was being pushed is voided or
 * paid out of band in Stripe right after (stripe_settle.c).  Credit notes
 * issued before the invoice had its Stripe id are made in Stripe right
 * after the id is stored (credit_notes.c, credit_notes_push_pending); one
 * issued since then made its own Stripe credit note.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "accounts.h"
#include "app.h"
#include "config.h"
#include "credit_notes.h"
#include "db.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "log.h"
#include "money.h"
#include "stripe.h"
#include "timeutil.h"

#define PUSH_BATCH 100
#define PUSH_BUDGET_MS 60000       /* one Stripe call, retries included */
#define LIST_MAX 10000
#define CLOCK_SKEW_SEC 3600

enum { PUSH_PENDING, PUSH_LIVE_SUBSCRIPTION, PUSH_NSTMTS };

static const struct db_stmt push_sql[PUSH_NSTMTS] = {
	[PUSH_PENDING] = { "SELECT i.id FROM billing_invoices i "
	    "JOIN billing_accounts a ON a.id = i.account_id "
	    "WHERE i.status = 'sent' AND i.stripe_invoice_id IS NULL "
	    "AND i.billing_mode IN ('usage', 'hybrid') "
	    "AND a.stripe_customer_id IS NOT NULL AND i.finalized_at <= ? "
	    "AND i.id > ? ORDER BY i.id LIMIT 100", 2, 1 },
	[PUSH_LIVE_SUBSCRIPTION] = { "SELECT COUNT(*) FROM "
	    "billing_subscriptions WHERE account_id = ? "
	    "AND stripe_subscription_id IS NOT NULL "
	    "AND status IN ('active', 'trialing', 'past_due')", 1, 1 },
};
const struct db_stmts stripe_push_stmts = DB_STMTS("stripe_push", push_sql);

/* One item to push. */
struct item {
	char tag[16];            /* line number, "credits" or "tax-N" */
	const char *description; /* borrowed from the invoice, or text */
	char text[160];          /* a tax item's description */
	int64_t amount;          /* minor units */
};

struct push {
	struct app *app;
	struct stripe s;
	struct invoice inv;
	struct account acct;
	struct item *items;      /* owned */
	size_t nitems;
	int64_t total;           /* minor units Stripe will collect */
	char id[24];             /* our invoice id as text */
	char sid[STRIPE_ID_MAX + 1];   /* the Stripe invoice */
	char sstatus[32];        /* its status */
	struct stripe_error se;
	char *err;
	size_t errlen;
};

static int fail(struct push *, int, const char *, ...) LOG_PRINTF(3, 4);

/* Writes "invoice <id>: <what>" into p->err and returns rc. */
static int
fail(struct push *p, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "invoice %s: ", p->id);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int
stripe_fail(struct push *p, const char *step)
{
	return fail(p, p->se.rc, "%s: %s", step, p->se.message);
}

static const char *
metadata(struct json_object *o, const char *key)
{
	struct json_object *md;

	if (o == NULL || !json_object_object_get_ex(o, "metadata", &md))
		return "";
	return stripe_str(md, key);
}

/* Which lines go to Stripe, in minor units, and the credits item. */
static int
plan_items(struct push *p)
{
	const struct invoice *inv = &p->inv;
	int64_t amount, credits, sum = 0, live = 0;
	char pct[32];
	size_t i;
	int rc;

	if (strcmp(inv->billing_mode, "hybrid") == 0) {
		struct db_param q[] = { DBP_INT(inv->account_id) };
		rc = db_get_i64(p->app->db, &stripe_push_stmts,
		    PUSH_LIVE_SUBSCRIPTION, q, 1, &live);
		if (rc != DB_OK && rc != DB_NOT_FOUND)
			return fail(p, STRIPE_DB, "%s", db_error(p->app->db));
	}
	if ((p->items = calloc(inv->nlines + inv->ntaxes + 1,
	    sizeof(*p->items))) == NULL)
		return fail(p, STRIPE_BAD_ANSWER, "%s", "out of memory");
	for (i = 0; i < inv->nlines; i++) {
		if (live > 0 && strcmp(inv->lines[i].kind, "subscription") == 0)
			return fail(p, STRIPE_REJECTED, "%s", "carries the plan, "
			    "which a Stripe subscription collects: void it and "
			    "invoice the period again");
		if (stripe_minor_units(inv->currency, inv->lines[i].amount,
		    &amount) != 0)
			return fail(p, STRIPE_BAD_ANSWER, "a line amount is "
			    "not exact in the minor unit of %s",
			    inv->currency);
		if (amount == 0)
			continue;
		snprintf(p->items[p->nitems].tag, sizeof(p->items[0].tag),
		    "%u", inv->lines[i].line_no);
		p->items[p->nitems].description = inv->lines[i].description;
		p->items[p->nitems++].amount = amount;
		sum += amount;
	}
	if (stripe_minor_units(inv->currency, inv->credits, &credits) != 0)
		return fail(p, STRIPE_BAD_ANSWER, "the credits are not exact "
		    "in the minor unit of %s", inv->currency);
	if (credits > sum)  /* cannot happen: credits never exceed the lines */
		return fail(p, STRIPE_BAD_ANSWER, "%s", "the credits exceed "
		    "the lines");
	if (credits > 0) {
		snprintf(p->items[p->nitems].tag, sizeof(p->items[0].tag),
		    "credits");
		p->items[p->nitems].description = "Credits applied";
		p->items[p->nitems++].amount = -credits;
	}
	p->total = sum - credits;
	/* an exclusive rate's tax is an item of its own; an inclusive one's
	 * is inside the lines' amounts already */
	for (i = 0; i < inv->ntaxes; i++) {
		if (inv->taxes[i].inclusive)
			continue;
		if (stripe_minor_units(inv->currency, inv->taxes[i].amount,
		    &amount) != 0)
			return fail(p, STRIPE_BAD_ANSWER, "the tax is not "
			    "exact in the minor unit of %s", inv->currency);
		if (amount == 0)
			continue;
		snprintf(p->items[p->nitems].tag, sizeof(p->items[0].tag),
		    "tax-%u", (unsigned)(i + 1) % 1000u);
		if (money_format_trim(inv->taxes[i].percent, 0, pct,
		    sizeof(pct)) == -1)
			pct[0] = '\0';
		snprintf(p->items[p->nitems].text,
		    sizeof(p->items[0].text), "%s %s%%", inv->taxes[i].name,
		    pct);
		p->items[p->nitems].description = p->items[p->nitems].text;
		p->items[p->nitems++].amount = amount;
		p->total += amount;
	}
	return STRIPE_OK;
}

/* Step 1: a Stripe invoice already made for ours, into sid/sstatus. */
static int
find_existing(struct push *p)
{
	struct stripe_form q;
	struct json_object *items = NULL, *o;
	size_t i, n;
	int rc;

	stripe_form_init(&q);
	stripe_form_add(&q, "customer", p->acct.stripe_customer_id);
	if (p->inv.finalized_at > 0)
		stripe_form_add_i64(&q, "created[gte]",
		    p->inv.finalized_at / USEC_PER_SEC - CLOCK_SKEW_SEC);
	stripe_form_add(&q, "limit", "100");
	rc = stripe_list(&p->s, "/v1/invoices", &q, LIST_MAX, &items, &p->se);
	stripe_form_free(&q);
	if (rc != STRIPE_OK)
		return stripe_fail(p, "listing the customer's invoices");
	n = json_object_array_length(items);
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(items, i);
		if (strcmp(metadata(o, "billing_invoice_id"), p->id) == 0 &&
		    stripe_id_valid(stripe_str(o, "id"))) {
			snprintf(p->sid, sizeof(p->sid), "%s",
			    stripe_str(o, "id"));
			snprintf(p->sstatus, sizeof(p->sstatus), "%s",
			    stripe_str(o, "status"));
			break;
		}
	}
	json_object_put(items);
	return STRIPE_OK;
}

/* Step 2: the draft. */
static int
create_draft(struct push *p)
{
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[48], desc[128];
	int rc;

	snprintf(key, sizeof(key), "invoice-%s", p->id);
	snprintf(desc, sizeof(desc), "Invoice %s", p->inv.number[0] ?
	    p->inv.number : p->id);
	stripe_form_init(&f);
	stripe_form_add(&f, "customer", p->acct.stripe_customer_id);
	stripe_form_add(&f, "currency", p->inv.currency);
	stripe_form_add(&f, "collection_method", "charge_automatically");
	stripe_form_add(&f, "auto_advance", "false");
	stripe_form_add(&f, "pending_invoice_items_behavior", "exclude");
	stripe_form_add(&f, "description", desc);
	stripe_form_add(&f, "metadata[billing_invoice_id]", p->id);
	stripe_form_add(&f, "metadata[invoice_number]",
	    p->inv.number[0] ? p->inv.number : NULL);
	rc = stripe_request(&p->s, "POST", "/v1/invoices", &f, key, &o, &p->se);
	stripe_form_free(&f);
	if (rc != STRIPE_OK)
		return stripe_fail(p, "creating the invoice");
	if (!stripe_id_valid(stripe_str(o, "id"))) {
		json_object_put(o);
		return fail(p, STRIPE_BAD_ANSWER, "%s", "Stripe's invoice has "
		    "no id");
	}
	snprintf(p->sid, sizeof(p->sid), "%s", stripe_str(o, "id"));
	snprintf(p->sstatus, sizeof(p->sstatus), "%s", stripe_str(o, "status"));
	json_object_put(o);
	return STRIPE_OK;
}

/* The tags of the items a found draft already has, into have[]. */
static int
existing_items(struct push *p, int *have)
{
	struct stripe_form q;
	struct json_object *items = NULL;
	const char *tag;
	size_t i, j, n;
	int rc;

	stripe_form_init(&q);
	stripe_form_add(&q, "invoice", p->sid);
	stripe_form_add(&q, "limit", "100");
	rc = stripe_list(&p->s, "/v1/invoiceitems", &q, LIST_MAX, &items,
	    &p->se);
	stripe_form_free(&q);
	if (rc != STRIPE_OK)
		return stripe_fail(p, "listing the invoice's items");
	n = json_object_array_length(items);
	for (i = 0; i < n; i++) {
		tag = metadata(json_object_array_get_idx(items, i), "line");
		for (j = 0; j < p->nitems; j++)
			if (strcmp(tag, p->items[j].tag) == 0)
				have[j] = 1;
	}
	json_object_put(items);
	return STRIPE_OK;
}

/* Step 3: one invoice item. */
static int
add_item(struct push *p, const struct item *it)
{
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[64];
	int rc;

	snprintf(key, sizeof(key), "invoiceitem-%s-%s", p->id, it->tag);
	stripe_form_init(&f);
	stripe_form_add(&f, "customer", p->acct.stripe_customer_id);
	stripe_form_add(&f, "invoice", p->sid);
	stripe_form_add_i64(&f, "amount", it->amount);
	stripe_form_add(&f, "currency", p->inv.currency);
	stripe_form_add(&f, "description", it->description);
	stripe_form_add(&f, "metadata[billing_invoice_id]", p->id);
	stripe_form_add(&f, "metadata[line]", it->tag);
	rc = stripe_request(&p->s, "POST", "/v1/invoiceitems", &f, key, &o,
	    &p->se);
	stripe_form_free(&f);
	json_object_put(o);
	return rc == STRIPE_OK ? STRIPE_OK : stripe_fail(p, "adding an item");
}

/* Step 4. */
static int
finalize(struct push *p)
{
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[48], path[STRIPE_ID_MAX + 32];
	int rc;

	snprintf(key, sizeof(key), "invoice-finalize-%s", p->id);
	snprintf(path, sizeof(path), "/v1/invoices/%s/finalize", p->sid);
	stripe_form_init(&f);
	stripe_form_add(&f, "auto_advance", "true");
	rc = stripe_request(&p->s, "POST", path, &f, key, &o, &p->se);
	stripe_form_free(&f);
	if (rc == STRIPE_OK)
		snprintf(p->sstatus, sizeof(p->sstatus), "%s",
		    stripe_str(o, "status"));
	json_object_put(o);
	return rc == STRIPE_OK ? STRIPE_OK : stripe_fail(p, "finalizing");
}

/* Voided or paid by hand here while it was pushed: the same in Stripe. */
static int
settle_if_changed(struct push *p)
{
	struct invoice now;
	int rc;

	if ((rc = invoice_load_summary(p->app->db, p->inv.id, &now)) != DB_OK)
		return fail(p, STRIPE_DB, "%s", db_error(p->app->db));
	if (strcmp(now.status, "void") != 0 && strcmp(now.status, "paid") != 0)
		return STRIPE_OK;
	/* settled by its credit notes, which Stripe now has too */
	if (strcmp(now.status, "paid") == 0 && now.credit_notes == now.total)
		return STRIPE_OK;
	if (strcmp(now.status, "paid") == 0 && strcmp(p->sstatus, "paid") == 0)
		return STRIPE_OK;
	if (stripe_settle_invoice(p->app->cfg, p->inv.id, p->sid, now.status,
	    &p->se) != STRIPE_OK)
		return stripe_fail(p, now.status);
	log_info("stripe: invoice %s became %s while pushed: %s in Stripe too",
	    p->id, now.status, now.status);
	return STRIPE_OK;
}

static int
push_steps(struct push *p)
{
	int *have = NULL, rc, found;
	size_t i;

	if ((rc = plan_items(p)) != STRIPE_OK ||
	    (rc = find_existing(p)) != STRIPE_OK)
		return rc;
	found = p->sid[0] != '\0';
	if (!found && (rc = create_draft(p)) != STRIPE_OK)
		return rc;
	if (strcmp(p->sstatus, "draft") == 0) {
		if ((have = calloc(p->nitems + 1, sizeof(*have))) == NULL)
			return fail(p, STRIPE_BAD_ANSWER, "%s",
			    "out of memory");
		if (found)
			rc = existing_items(p, have);
		for (i = 0; rc == STRIPE_OK && i < p->nitems; i++)
			if (!have[i])
				rc = add_item(p, &p->items[i]);
		free(have);
		if (rc == STRIPE_OK)
			rc = finalize(p);
		if (rc != STRIPE_OK)
			return rc;
	}
	/* the first id stored stays */
	if ((rc = invoice_link_stripe(p->app->db, p->inv.id, p->sid)) != DB_OK)
		return fail(p, STRIPE_DB, "storing the Stripe id: %s",
		    db_error(p->app->db));
	log_info("stripe: invoice %s pushed as %s (%s, %" PRId64 " %s)", p->id,
	    p->sid, p->sstatus, p->total, p->inv.currency);
	/* credit notes issued before it reached Stripe (read after the link,
	 * so that a credit note issued since then made its own) */
	if (credit_notes_push_pending(p->app->db, p->app->cfg, p->inv.id,
	    p->sid, &p->se) != 0)
		return stripe_fail(p, "pushing its credit notes");
	return settle_if_changed(p);
}

/* Pushes one invoice; an enum stripe_rc, with err set on failure. */
static int
push_one(struct app *app, uint64_t invoice_id, int *pushed, char *err,
    size_t errlen)
{
	struct push *p;
	int rc;

	*pushed = 0;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return STRIPE_BAD_ANSWER;
	}
	p->app = app;
	p->err = err;
	p->errlen = errlen;
	snprintf(p->id, sizeof(p->id), "%llu", (unsigned long long)invoice_id);
	if (stripe_init(&p->s, app->cfg) != STRIPE_OK) {
		rc = fail(p, STRIPE_DISABLED, "%s", "Stripe is not configured");
		goto out;
	}
	p->s.budget_ms = PUSH_BUDGET_MS;
	if ((rc = invoice_load(app->db, invoice_id, &p->inv)) != DB_OK) {
		rc = fail(p, STRIPE_DB, "%s", rc == DB_NOT_FOUND ?
		    "no such invoice" : db_error(app->db));
		goto out;
	}
	rc = STRIPE_OK;
	if (p->inv.stripe_invoice_id[0] != '\0')
		goto out;  /* pushed before */
	if (strcmp(p->inv.status, "sent") != 0 &&
	    strcmp(p->inv.status, "overdue") != 0) {
		rc = fail(p, STRIPE_REJECTED, "is %s, not finalized and unpaid",
		    p->inv.status);
		goto out;
	}
	if (strcmp(p->inv.billing_mode, "usage") != 0 &&
	    strcmp(p->inv.billing_mode, "hybrid") != 0) {
		rc = fail(p, STRIPE_REJECTED, "is a %s invoice: only usage and "
		    "hybrid invoices are pushed", p->inv.billing_mode);
		goto out;
	}
	if ((rc = account_get(app->db, p->inv.account_id, &p->acct)) != DB_OK) {
		rc = fail(p, STRIPE_DB, "%s", db_error(app->db));
		goto out;
	}
	if (!stripe_id_valid(p->acct.stripe_customer_id)) {
		rc = fail(p, STRIPE_REJECTED, "%s", "the account has no Stripe "
		    "customer");
		goto out;
	}
	if ((rc = push_steps(p)) == STRIPE_OK)
		*pushed = 1;
out:
	if (rc != STRIPE_OK)
		log_warnx("stripe: push failed: %s", err);
	invoice_free(&p->inv);
	free(p->items);
	free(p);
	return rc;
}

int
stripe_push_invoice(struct app *app, uint64_t invoice_id, char *err,
    size_t errlen)
{
	int pushed;

	if (errlen > 0)
		err[0] = '\0';
	return push_one(app, invoice_id, &pushed, err, errlen) == STRIPE_OK ?
	    0 : -1;
}

/* The next batch of invoices to push, ids above after, into ids[]. */
static int
pending_batch(struct app *app, const char *now, uint64_t after,
    uint64_t *ids, size_t *n)
{
	struct db_result *res = NULL;
	int64_t v;
	int rc, r;

	*n = 0;
	struct db_param q[] = { DBP_STR(now), DBP_INT(after) };
	if ((rc = db_get(app->db, &stripe_push_stmts, PUSH_PENDING, q, 2,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1 && *n < PUSH_BATCH)
		if (db_col_i64(res, 0, &v) == 0)
			ids[(*n)++] = (uint64_t)v;
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

int
stripe_push_pending(struct app *app, int64_t now, unsigned *pushed,
    char *err, size_t errlen)
{
	uint64_t ids[PUSH_BATCH], after = 0;
	char nowt[TIME_TEXT_MAX], one[512];
	unsigned done = 0, failed = 0;
	size_t i, n;
	int rc, ok;

	if (pushed != NULL)
		*pushed = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (!stripe_configured(app->cfg))
		return 0;
	time_format_db(now, nowt, sizeof(nowt));
	for (;;) {
		if ((rc = pending_batch(app, nowt, after, ids, &n)) != DB_OK) {
			snprintf(err, errlen, "finding invoices to push: %s",
			    db_error(app->db));
			return -1;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			after = ids[i];
			rc = push_one(app, ids[i], &ok, one, sizeof(one));
			if (rc == STRIPE_OK) {
				done += ok;
				continue;
			}
			if (failed++ == 0)
				snprintf(err, errlen, "%s", one);
			/* Stripe or the database is down: stop for now */
			if (rc == STRIPE_UNAVAILABLE || rc == STRIPE_DB)
				goto out;
		}
	}
out:
	if (pushed != NULL)
		*pushed = done;
	if (failed > 0)
		log_warnx("stripe: %u invoices pushed, %u failed", done,
		    failed);
	else if (done > 0)
		log_info("stripe: %u invoices pushed", done);
	return failed > 0 ? -1 : 0;
}
