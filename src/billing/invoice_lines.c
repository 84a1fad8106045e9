/*
 * invoice_lines: an invoice's lines, worked out from usage sums, and their
 * multi-row insert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "grow.h"
#include "invoice_impl.h"
#include "metering.h"
#include "money.h"
#include "sql_rows.h"
#include "timeutil.h"
#include "tz.h"

#define USEC_PER_DAY (86400LL * USEC_PER_SEC)
#define LINE_PARAMS 10

struct sql_rows invoice_lines_rows_insert = SQL_ROWS_STMT("invoice_lines",
    0, 0, "INSERT INTO billing_invoice_lines (invoice_id, line_no, kind, "
    "resource_type, description, quantity, unit, unit_price, amount, "
    "tax_rate_id) VALUES ", "(?,?,?,?,?,?,?,?,?,?)", "");

struct usage_sum *
invoice_lines_sums_next(struct usage_sums *u)
{
	struct usage_sum *ns;

	if (u->n == u->cap) {
		if ((ns = grow_array(u->s, &u->cap, sizeof(*ns))) == NULL)
			return NULL;
		u->s = ns;
	}
	ns = &u->s[u->n++];
	memset(ns, 0, sizeof(*ns));
	return ns;
}

void
invoice_lines_sums_free(struct usage_sums *u)
{
	free(u->s);
	memset(u, 0, sizeof(*u));
}

void
invoice_lines_set_free(struct line_set *set)
{
	free(set->lines);
	memset(set, 0, sizeof(*set));
}

/* Appends a line; -1 (the set unchanged) when out of memory or when the
 * subtotal would leave the money range. */
static int
add_line(struct line_set *set, const char *kind, const char *resource,
    const char *description, int64_t quantity, const char *unit,
    int64_t unit_price, int64_t amount)
{
	struct invoice_line *l;
	int64_t subtotal;

	if (money_add(set->subtotal, amount, &subtotal) != 0)
		return -1;
	if (set->n == set->cap) {
		if ((l = grow_array(set->lines, &set->cap, sizeof(*l))) == NULL)
			return -1;
		set->lines = l;
	}
	l = &set->lines[set->n++];
	memset(l, 0, sizeof(*l));
	l->line_no = (unsigned)set->n;
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	snprintf(l->resource_type, sizeof(l->resource_type), "%s",
	    resource ? resource : "");
	snprintf(l->description, sizeof(l->description), "%s", description);
	l->quantity = quantity;
	snprintf(l->unit, sizeof(l->unit), "%s", unit);
	l->unit_price = unit_price;
	l->amount = amount;
	set->subtotal = subtotal;
	return 0;
}

/* The last line added is a fee of plan (NULL: none): it is taxed at the
 * plan's own rate when the plan has one (invoice_tax.c). */
static void
plan_rate(struct line_set *set, const struct plan *plan)
{
	if (plan != NULL && plan->tax_rate_id != NULL)
		snprintf(set->lines[set->n - 1].tax_rate_id,
		    sizeof(set->lines[0].tax_rate_id), "%s", plan->tax_rate_id);
}

/* An amount in the currency's minor unit: cents, or whole units (jpy). */
static int64_t
line_round(const struct line_set *set, int64_t micros)
{
	return money_round(micros, set->whole_units ? 0 : 2);
}

static const char *
usage_description(const char *resource)
{
	if (strcmp(resource, "cpu") == 0)
		return "CPU usage";
	if (strcmp(resource, "memory") == 0)
		return "Memory usage";
	return "Storage";
}

int
invoice_lines_usage(struct line_set *set, const struct usage_sum *sums, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (add_line(set, "usage", sums[i].resource,
		    usage_description(sums[i].resource), sums[i].qty,
		    sums[i].unit, sums[i].price,
		    line_round(set, sums[i].cost)) != 0)
			return -1;
	return 0;
}

int
invoice_lines_subscription(struct line_set *set, const struct plan *plan,
    int64_t account_created, int64_t period_start, int64_t period_end)
{
	char desc[256];
	int y, m, d, hh, mm, ss, us, cm;

	if (plan == NULL || plan->price <= 0)
		return 0;
	if (plan->interval == INTERVAL_YEAR) {
		time_to_civil(account_created, &y, &cm, &d, &hh, &mm, &ss, &us);
		time_to_civil(period_start, &y, &m, &d, &hh, &mm, &ss, &us);
		if (m != cm && period_end - period_start < 360 * USEC_PER_DAY)
			return 0;
	}
	snprintf(desc, sizeof(desc), "%s plan (%s)", plan->name,
	    plan->interval == INTERVAL_YEAR ? "yearly" : "monthly");
	if (add_line(set, "subscription", NULL, desc, MONEY_SCALE,
	    plan->interval == INTERVAL_YEAR ? "year" : "month", plan->price,
	    line_round(set, plan->price)) != 0)
		return -1;
	plan_rate(set, plan);
	return 0;
}

int
invoice_lines_overage_add(struct overage *o, const struct plan *plan,
    const char *resource,
    const char *unit, int64_t price, int64_t qty)
{
	struct usage_sum *s = NULL;
	int64_t limit, over, cost, nqty, ncost;
	size_t i;

	if (strcmp(resource, "cpu") == 0)
		limit = plan->cpu_limit;
	else if (strcmp(resource, "memory") == 0)
		limit = plan->memory_limit;
	else if (money_muldiv(plan->storage_limit, 1, HOURS_PER_MONTH, &limit) != 0)
		return -1; /* GB-months held in one hour */
	over = qty - limit;
	if (over <= 0)
		return 0;
	if (money_mul(over, price, &cost) != 0)
		return -1;
	for (i = 0; i < o->over.n && s == NULL; i++)
		if (strcmp(o->over.s[i].resource, resource) == 0 &&
		    o->over.s[i].price == price)
			s = &o->over.s[i];
	if (s != NULL && (money_add(s->qty, over, &nqty) != 0 ||
	    money_add(s->cost, cost, &ncost) != 0))
		return -1;
	if (s == NULL) {
		if ((s = invoice_lines_sums_next(&o->over)) == NULL)
			return -1;
		snprintf(s->resource, sizeof(s->resource), "%s", resource);
		snprintf(s->unit, sizeof(s->unit), "%s", unit);
		s->price = price;
		nqty = over;
		ncost = cost;
	}
	s->qty = nqty;
	s->cost = ncost;
	return 0;
}

int
invoice_lines_proration(struct line_set *set, const char *zone,
    const struct plan *from, const struct plan *to, const char *from_id,
    const char *to_id, int64_t at, int64_t credit, int64_t charge,
    int64_t credit_qty, int64_t charge_qty)
{
	char desc[300], day[TIME_TEXT_MAX];
	int y, m, d;

	tz_local_date(zone != NULL && zone[0] != '\0' ? zone : NULL, at, &y,
	    &m, &d);
	snprintf(day, sizeof(day), "%04d-%02d-%02d", y, m, d);
	if (credit != 0) {
		snprintf(desc, sizeof(desc), "Unused time on %s after %s",
		    from ? from->name : from_id, day);
		if (add_line(set, "proration", NULL, desc, credit_qty,
		    from && from->interval == INTERVAL_YEAR ? "year" : "month",
		    from ? -from->price : 0, credit) != 0)
			return -1;
		plan_rate(set, from);
	}
	if (charge != 0) {
		snprintf(desc, sizeof(desc), "Remaining time on %s from %s",
		    to ? to->name : to_id, day);
		if (add_line(set, "proration", NULL, desc, charge_qty,
		    to && to->interval == INTERVAL_YEAR ? "year" : "month",
		    to ? to->price : 0, charge) != 0)
			return -1;
		plan_rate(set, to);
	}
	return 0;
}

int
invoice_lines_overage(struct line_set *set, const struct overage *o,
    const struct plan *plan)
{
	char desc[128];
	size_t i;

	for (i = 0; i < o->over.n; i++) {
		const struct usage_sum *s = &o->over.s[i];

		snprintf(desc, sizeof(desc), "%s above the %s plan",
		    usage_description(s->resource), plan->name);
		if (add_line(set, "overage", s->resource, desc, s->qty, s->unit,
		    s->price, line_round(set, s->cost)) != 0)
			return -1;
	}
	return 0;
}

void
invoice_lines_overage_free(struct overage *o)
{
	invoice_lines_sums_free(&o->over);
}

/* The text of one line's decimals, kept alive for the binds. */
struct line_text {
	char qty[32], price[32], amount[32];
};

int
invoice_lines_insert(struct db *db, const uint64_t *ids,
    const struct line_set *const *sets, size_t n)
{
	static struct db_param p[SQL_ROWS_MAX * LINE_PARAMS];
	static struct line_text txt[SQL_ROWS_MAX];
	size_t inv = 0, line = 0;
	int rc;

	for (;;) {
		size_t left = 0, i, j, k, a = inv, b = line;
		/* how many lines are left, up to a full statement */
		while (a < n && left < SQL_ROWS_MAX) {
			left += sets[a]->n - b;
			b = 0;
			a++;
		}
		if (left == 0)
			return DB_OK;
		k = sql_rows_chunk(left);
		for (i = 0, j = 0; i < k; i++) {
			const struct invoice_line *l;

			while (line == sets[inv]->n) {
				inv++;
				line = 0;
			}
			l = &sets[inv]->lines[line++];
			money_format(l->quantity, 6, txt[i].qty, sizeof(txt[i].qty));
			money_format(l->unit_price, 6, txt[i].price,
			    sizeof(txt[i].price));
			money_format(l->amount, 2, txt[i].amount,
			    sizeof(txt[i].amount));
			p[j++] = DBP_INT(ids[inv]);
			p[j++] = DBP_INT(l->line_no);
			p[j++] = DBP_STR(l->kind);
			p[j++] = l->resource_type[0] ? DBP_STR(l->resource_type) :
			    DBP_NULLV;
			p[j++] = DBP_STR(l->description);
			p[j++] = DBP_STR(txt[i].qty);
			p[j++] = DBP_STR(l->unit);
			p[j++] = DBP_STR(txt[i].price);
			p[j++] = DBP_STR(txt[i].amount);
			p[j++] = l->tax_rate_id[0] ? DBP_STR(l->tax_rate_id) :
			    DBP_NULLV;
		}
		if ((rc = db_run_rows(db, &invoice_lines_rows_insert, k, p, j,
		    NULL, NULL)) != DB_OK)
			return rc;
	}
}
