/*
 * An invoice's lines from usage sums (invoice_lines.c) and the multi-row
 * statement text they are written with (sql_rows.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "grow.h"
#include "invoice_impl.h"
#include "money.h"
#include "sql_rows.h"
#include "stripe.h"
#include "timeutil.h"

static struct plan pro;

static void
setup(void)
{
	memset(&pro, 0, sizeof(pro));
	pro.id = "pro";
	pro.name = "Pro";
	pro.price = 49990000;          /* 49.99 */
	pro.interval = INTERVAL_MONTH;
	pro.cpu_limit = 8000000;       /* 8 cores */
	pro.memory_limit = 16000000;   /* 16 GB */
	pro.storage_limit = 100000000; /* 100 GB */
}

static struct usage_sum
sum(const char *res, const char *unit, int64_t price, int64_t qty, int64_t cost)
{
	struct usage_sum s;

	memset(&s, 0, sizeof(s));
	strcpy(s.resource, res);
	strcpy(s.unit, unit);
	s.price = price;
	s.qty = qty;
	s.cost = cost;
	return s;
}

START_TEST(test_usage_lines_round_each_sum_half_up_to_cents)
{
	struct line_set set;
	struct usage_sum s[2] = {
		sum("cpu", "core-hours", 50000, 20000000, 1000000),  /* 1.00 */
		sum("memory", "gb-hours", 10000, 40005000, 400050),  /* 0.40005 */
	};

	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(invoice_lines_usage(&set, s, 2), 0);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_uint_eq(set.lines[0].line_no, 1);
	ck_assert_str_eq(set.lines[0].kind, "usage");
	ck_assert_str_eq(set.lines[0].description, "CPU usage");
	ck_assert_int_eq(set.lines[0].amount, 1000000);
	ck_assert_uint_eq(set.lines[1].line_no, 2);
	ck_assert_int_eq(set.lines[1].quantity, 40005000);
	ck_assert_int_eq(set.lines[1].amount, 400000);  /* 0.40 */
	ck_assert_int_eq(set.subtotal, 1400000);        /* the seed's 1.40 */
	/* half a cent rounds up */
	invoice_lines_set_free(&set);
	s[0].cost = 5000;   /* 0.005 */
	ck_assert_int_eq(invoice_lines_usage(&set, s, 1), 0);
	ck_assert_int_eq(set.lines[0].amount, 10000);
	invoice_lines_set_free(&set);
}
END_TEST

START_TEST(test_zero_decimal_currency_lines_are_whole_units)
{
	struct line_set set;
	struct usage_sum s[1] = {
		/* 123.45 jpy of cpu: 123 yen, exact in Stripe's minor unit */
		sum("cpu", "core-hours", 50000000, 2469000, 123450000),
	};
	int64_t minor;

	memset(&set, 0, sizeof(set));
	set.whole_units = money_amount_decimals("jpy") == 0;
	ck_assert_int_eq(set.whole_units, 1);
	invoice_lines_usage(&set, s, 1);
	ck_assert_int_eq(set.lines[0].amount, 123000000);
	ck_assert_int_eq(stripe_minor_units("jpy", set.lines[0].amount, &minor), 0);
	ck_assert_int_eq(minor, 123);
	s[0].cost = 123500000;      /* half a yen rounds up */
	invoice_lines_set_free(&set);
	set.whole_units = 1;
	invoice_lines_usage(&set, s, 1);
	ck_assert_int_eq(set.lines[0].amount, 124000000);
	invoice_lines_set_free(&set);
	/* cents everywhere else, three-decimal currencies included */
	ck_assert_int_eq(money_amount_decimals("usd"), 2);
	ck_assert_int_eq(money_amount_decimals("KWD"), 2);
	ck_assert_int_eq(money_currency_decimals("kwd"), 3);
	ck_assert_int_eq(money_currency_decimals("JPY"), 0);
}
END_TEST

START_TEST(test_subscription_monthly_every_period_yearly_on_the_anniversary)
{
	struct line_set set;
	int64_t created = time_from_civil(2024, 3, 15, 9, 0, 0);

	memset(&set, 0, sizeof(set));
	invoice_lines_subscription(&set, &pro, created, time_from_civil(2025, 1, 1, 0, 0, 0),
	    time_from_civil(2025, 2, 1, 0, 0, 0));
	ck_assert_uint_eq(set.n, 1);
	ck_assert_str_eq(set.lines[0].kind, "subscription");
	ck_assert_str_eq(set.lines[0].description, "Pro plan (monthly)");
	ck_assert_int_eq(set.lines[0].amount, 49990000);
	pro.interval = INTERVAL_YEAR;
	invoice_lines_set_free(&set);
	invoice_lines_subscription(&set, &pro, created, time_from_civil(2025, 1, 1, 0, 0, 0),
	    time_from_civil(2025, 2, 1, 0, 0, 0));
	ck_assert_uint_eq(set.n, 0);
	invoice_lines_subscription(&set, &pro, created, time_from_civil(2025, 3, 1, 0, 0, 0),
	    time_from_civil(2025, 4, 1, 0, 0, 0));
	ck_assert_uint_eq(set.n, 1);
	ck_assert_str_eq(set.lines[0].unit, "year");
	/* no plan or a free one: no line */
	invoice_lines_set_free(&set);
	ck_assert_int_eq(invoice_lines_subscription(&set, NULL, created, 0, 1), 0);
	pro.price = 0;
	ck_assert_int_eq(invoice_lines_subscription(&set, &pro, created, 0, 1), 0);
	ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(test_overage_is_what_each_hour_exceeds_the_limit)
{
	struct overage o;
	struct line_set set;

	memset(&o, 0, sizeof(o));
	memset(&set, 0, sizeof(set));
	/* the seed: 10 cores on Pro (8) for one hour = 2 core-hours x 0.05 */
	invoice_lines_overage_add(&o, &pro, "cpu", "core-hours", 50000, 10000000);
	/* an hour under the limit adds nothing; the next over it adds 1 */
	invoice_lines_overage_add(&o, &pro, "cpu", "core-hours", 50000, 7000000);
	invoice_lines_overage_add(&o, &pro, "cpu", "core-hours", 50000, 9000000);
	invoice_lines_overage_add(&o, &pro, "memory", "gb-hours", 10000, 16000000);
	ck_assert_int_eq(invoice_lines_overage(&set, &o, &pro), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_str_eq(set.lines[0].kind, "overage");
	ck_assert_str_eq(set.lines[0].description, "CPU usage above the Pro plan");
	ck_assert_int_eq(set.lines[0].quantity, 3000000);
	ck_assert_int_eq(set.lines[0].amount, 150000);  /* 0.15 */
	invoice_lines_overage_free(&o);
	invoice_lines_set_free(&set);
}

/* Issue 12: three resources and many rate changes in one period.  Every
 * (resource, price) group gets its line, far past the former caps (16 sums,
 * 40 lines), numbered in order, and the subtotal is their sum. */
START_TEST(test_a_line_set_holds_100_usage_lines_and_drops_none)
{
	static const char *const res[] = { "cpu", "memory", "storage" };
	struct usage_sums sums;
	struct usage_sum *u;
	struct line_set set;
	int64_t want = 0;
	size_t i;

	memset(&sums, 0, sizeof(sums));
	memset(&set, 0, sizeof(set));
	for (i = 0; i < 100; i++) {
		ck_assert_ptr_nonnull(u = invoice_lines_sums_next(&sums));
		strcpy(u->resource, res[i % 3]);
		strcpy(u->unit, "units");
		u->price = 10000 * (int64_t)(i + 1);          /* 0.01 more each */
		u->qty = 2 * MONEY_SCALE;
		u->cost = 20000 * (int64_t)(i + 1);
		want += u->cost;
	}
	ck_assert_uint_eq(sums.n, 100);
	ck_assert_int_eq(invoice_lines_usage(&set, sums.s, sums.n), 0);
	ck_assert_int_eq(invoice_lines_subscription(&set, &pro, 0,
	    time_from_civil(2025, 1, 1, 0, 0, 0),
	    time_from_civil(2025, 2, 1, 0, 0, 0)), 0);
	ck_assert_uint_eq(set.n, 101);
	for (i = 0; i < 100; i++) {
		ck_assert_uint_eq(set.lines[i].line_no, i + 1);
		ck_assert_str_eq(set.lines[i].resource_type, res[i % 3]);
		ck_assert_int_eq(set.lines[i].unit_price, 10000 * (int64_t)(i + 1));
		ck_assert_int_eq(set.lines[i].amount, 20000 * (int64_t)(i + 1));
	}
	ck_assert_str_eq(set.lines[100].kind, "subscription");
	ck_assert_uint_eq(set.lines[100].line_no, 101);
	ck_assert_int_eq(set.subtotal, want + pro.price);
	invoice_lines_sums_free(&sums);
	invoice_lines_set_free(&set);
	ck_assert_ptr_null(set.lines);
	ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(test_overage_keeps_every_resource_and_price_past_16)
{
	struct overage o;
	struct line_set set;
	size_t i;

	memset(&o, 0, sizeof(o));
	memset(&set, 0, sizeof(set));
	/* 20 prices of cpu, each an hour at 10 cores on Pro (8): 2 over */
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(invoice_lines_overage_add(&o, &pro, "cpu", "core-hours",
		    50000 + 10000 * (int64_t)i, 10000000), 0);
	/* the same price again adds to its own line */
	ck_assert_int_eq(invoice_lines_overage_add(&o, &pro, "cpu", "core-hours", 50000,
	    9000000), 0);
	ck_assert_int_eq(invoice_lines_overage(&set, &o, &pro), 0);
	ck_assert_uint_eq(set.n, 20);
	ck_assert_int_eq(set.lines[0].quantity, 3000000);
	ck_assert_int_eq(set.lines[0].amount, 150000);
	ck_assert_int_eq(set.lines[19].unit_price, 240000);
	ck_assert_int_eq(set.lines[19].amount, 480000);
	invoice_lines_overage_free(&o);
	invoice_lines_set_free(&set);
}
END_TEST

/* A bound that must stay (the money range) fails the whole set, loudly to
 * the caller; it never wraps or drops a line silently. */
START_TEST(test_a_subtotal_beyond_the_money_range_fails_and_drops_nothing_silently)
{
	struct usage_sum s[2] = {
		sum("cpu", "core-hours", 50000, MONEY_SCALE, MONEY_MAX_MICROS),
		sum("memory", "gb-hours", 10000, MONEY_SCALE, MONEY_MAX_MICROS),
	};
	struct overage o;
	struct line_set set;

	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(invoice_lines_usage(&set, s, 2), -1);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_int_eq(set.subtotal, MONEY_MAX_MICROS);
	invoice_lines_set_free(&set);
	/* an hour's overage that overflows is an error, not nothing */
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(invoice_lines_overage_add(&o, &pro, "cpu", "core-hours",
	    MONEY_MAX_MICROS, MONEY_MAX_MICROS), -1);
	invoice_lines_overage_free(&o);
}
END_TEST

START_TEST(test_grow_array_doubles_and_refuses_sizes_that_overflow)
{
	size_t cap = 0, big = SIZE_MAX / 2;
	int *a, *b;

	ck_assert_ptr_nonnull(a = grow_array(NULL, &cap, sizeof(*a)));
	ck_assert_uint_eq(cap, GROW_FIRST);
	ck_assert_ptr_nonnull(b = grow_array(a, &cap, sizeof(*a)));
	ck_assert_uint_eq(cap, 2 * GROW_FIRST);
	/* twice SIZE_MAX / 2 ints does not fit a size_t: refused, b kept */
	ck_assert_ptr_null(grow_array(b, &big, sizeof(*b)));
	ck_assert_uint_eq(big, SIZE_MAX / 2);
	b[2 * GROW_FIRST - 1] = 1;
	free(b);
}
END_TEST

/* static, as in the modules: the text is kept for the process */
static struct sql_rows rows = SQL_ROWS_INIT("INSERT INTO t (a, b) VALUES ", "(?,?)",
    " ON DUPLICATE KEY UPDATE b = b");

START_TEST(test_sql_rows_builds_each_size_once)
{
	const char *four = sql_rows_text(&rows, 4);

	ck_assert_str_eq(four, "INSERT INTO t (a, b) VALUES (?,?),(?,?),(?,?),(?,?)"
	    " ON DUPLICATE KEY UPDATE b = b");
	ck_assert_ptr_eq(sql_rows_text(&rows, 4), four);   /* kept: stays prepared */
	ck_assert_ptr_null(sql_rows_text(&rows, 5));       /* not a chunk size */
	ck_assert_uint_eq(sql_rows_chunk(300), 256);
	ck_assert_uint_eq(sql_rows_chunk(100), 64);
	ck_assert_uint_eq(sql_rows_chunk(3), 1);
	ck_assert_uint_eq(sql_rows_chunk(0), 1);
	ck_assert_uint_eq(sql_rows_chunk_up(100), 256);
	ck_assert_uint_eq(sql_rows_chunk_up(5), 16);
	ck_assert_uint_eq(sql_rows_chunk_up(1), 1);
	/* the wide size: only on request, never a chunk of its own */
	ck_assert_uint_eq(sql_rows_chunk(5000), 256);
	ck_assert_uint_eq(sql_rows_chunk_wide(257), SQL_ROWS_WIDE);
	ck_assert_uint_eq(sql_rows_chunk_wide(1000), SQL_ROWS_WIDE);
	ck_assert_uint_eq(sql_rows_chunk_wide(200), 256);
	ck_assert_uint_eq(sql_rows_chunk_wide(1), 1);
	ck_assert_uint_eq(strlen(sql_rows_text(&rows, SQL_ROWS_WIDE)),
	    strlen("INSERT INTO t (a, b) VALUES ") + 1024 * 6 - 1 +
	    strlen(" ON DUPLICATE KEY UPDATE b = b"));
	ck_assert_uint_eq(sql_rows_params(&rows, SQL_ROWS_WIDE), 2048);
}
END_TEST

/* Taxes (invoice_tax.c): rounded half-up once, to the minor unit. */
START_TEST(test_tax_exclusive_rounds_half_up_once)
{
	int64_t t;

	/* 20% of 10.00 = 2.00 */
	ck_assert_int_eq(invoice_tax_amount(10000000, 20000000, 0, 2, &t), 0);
	ck_assert_int_eq(t, 2000000);
	/* 10% of 0.05 = 0.005: half-up to 0.01 */
	ck_assert_int_eq(invoice_tax_amount(50000, 10000000, 0, 2, &t), 0);
	ck_assert_int_eq(t, 10000);
	/* 10% of 0.04 = 0.004: down to 0.00 */
	ck_assert_int_eq(invoice_tax_amount(40000, 10000000, 0, 2, &t), 0);
	ck_assert_int_eq(t, 0);
	/* 7.6543% of 1234.56 = 94.4969... -> 94.50 */
	ck_assert_int_eq(invoice_tax_amount(1234560000, 7654300, 0, 2, &t), 0);
	ck_assert_int_eq(t, 94500000);
	/* 100% and 0% */
	ck_assert_int_eq(invoice_tax_amount(1400000, 100000000, 0, 2, &t), 0);
	ck_assert_int_eq(t, 1400000);
	ck_assert_int_eq(invoice_tax_amount(1400000, 0, 0, 2, &t), 0);
	ck_assert_int_eq(t, 0);
	/* whole units (jpy): 8% of 1001 = 80.08 -> 80 */
	ck_assert_int_eq(invoice_tax_amount(1001000000, 8000000, 0, 0, &t), 0);
	ck_assert_int_eq(t, 80000000);
	/* near the money range: 10^10 units at 100% fits, no overflow */
	ck_assert_int_eq(invoice_tax_amount(10000000000000000LL, 100000000, 0,
	    2, &t), 0);
	ck_assert_int_eq(t, 10000000000000000LL);
}
END_TEST

START_TEST(test_tax_inclusive_splits_the_price_exactly)
{
	int64_t t, price;

	/* 12.00 with 20% inside: tax 2.00, net 10.00 */
	ck_assert_int_eq(invoice_tax_amount(12000000, 20000000, 1, 2, &t), 0);
	ck_assert_int_eq(t, 2000000);
	/* 1.00 with 20% inside: 0.1666... -> 0.17, net 0.83 */
	ck_assert_int_eq(invoice_tax_amount(1000000, 20000000, 1, 2, &t), 0);
	ck_assert_int_eq(t, 170000);
	/* every price from 0.01 to 20.00 splits into net + tax = price, each
	 * a whole number of cents, the tax within half a cent of exact */
	for (price = 10000; price <= 20000000; price += 10000) {
		__extension__ __int128 exact6;

		ck_assert_int_eq(invoice_tax_amount(price, 20000000, 1, 2, &t), 0);
		ck_assert_int_eq(t % 10000, 0);
		ck_assert_int_eq((price - t) % 10000, 0);
		ck_assert(t >= 0 && t <= price);
		/* |t * 120 - price * 20| <= 0.005 * 120 */
		exact6 = (__int128)t * 120 - (__int128)price * 20;
		ck_assert(exact6 <= 600000 && exact6 >= -600000);
	}
}
END_TEST

START_TEST(test_tax_refuses_what_is_not_whole_cents_or_above_100)
{
	int64_t t = 7;

	ck_assert_int_eq(invoice_tax_amount(12345, 20000000, 0, 2, &t), -1);
	ck_assert_int_eq(invoice_tax_amount(10000, 100000001, 0, 2, &t), -1);
	ck_assert_int_eq(invoice_tax_amount(-10000, 20000000, 0, 2, &t), -1);
	ck_assert_int_eq(t, 7);
}
END_TEST

/* A plan's fee lines carry the plan's own rate: its subscription line,
 * and each proration line the rate of its own plan (the one left, the one
 * taken); a plan without a rate leaves the line to the account's. */
START_TEST(test_a_plans_fee_lines_carry_the_plans_rate)
{
	struct line_set set;
	struct plan consumer = pro;

	memset(&set, 0, sizeof(set));
	consumer.id = "consumer";
	consumer.tax_rate_id = "inc20";
	ck_assert_int_eq(invoice_lines_subscription(&set, &consumer, 0,
	    1735689600000000LL, 1738368000000000LL), 0);
	ck_assert_int_eq(invoice_lines_proration(&set, NULL, &consumer, &pro,
	    "consumer", "pro", 1736899200000000LL, -10000000, 20000000,
	    500000, 500000), 0);
	ck_assert_int_eq(invoice_lines_proration(&set, NULL, &pro, &consumer,
	    "pro", "consumer", 1736899200000000LL, -10000000, 20000000,
	    500000, 500000), 0);
	ck_assert_uint_eq(set.n, 5);
	ck_assert_str_eq(set.lines[0].tax_rate_id, "inc20");  /* its fee */
	ck_assert_str_eq(set.lines[1].tax_rate_id, "inc20");  /* unused */
	ck_assert_str_eq(set.lines[2].tax_rate_id, "");       /* pro: none */
	ck_assert_str_eq(set.lines[3].tax_rate_id, "");
	ck_assert_str_eq(set.lines[4].tax_rate_id, "inc20");
	invoice_lines_set_free(&set);
}
END_TEST

/* Credits split over the rates' sums: exact, by largest remainder. */
START_TEST(test_credits_split_pro_rata_by_largest_remainder)
{
	int64_t bases[4], shares[4];

	/* 5.00 over 19.99 and 2.20 (docs/billing.md): 4.5042... and
	 * 0.4957...; floors 4.50 + 0.49, the cent left to the larger
	 * remainder (0.57 > 0.42): 4.50 + 0.50 */
	bases[0] = 19990000;
	bases[1] = 2200000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 2, 5000000, 2, shares), 0);
	ck_assert_int_eq(shares[0], 4500000);
	ck_assert_int_eq(shares[1], 500000);
	/* a tie goes to the earlier base: 0.01 over 1.00 and 1.00 */
	bases[0] = bases[1] = 1000000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 2, 10000, 2, shares), 0);
	ck_assert_int_eq(shares[0], 10000);
	ck_assert_int_eq(shares[1], 0);
	/* three equal thirds of 1.00: 0.34 + 0.33 + 0.33 */
	bases[0] = bases[1] = bases[2] = 500000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 3, 1000000, 2, shares), 0);
	ck_assert_int_eq(shares[0], 340000);
	ck_assert_int_eq(shares[1], 330000);
	ck_assert_int_eq(shares[2], 330000);
	/* all of it: each base whole; none: all zero; a zero base none */
	bases[0] = 1230000;
	bases[1] = 0;
	bases[2] = 40000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 3, 1270000, 2, shares), 0);
	ck_assert(shares[0] == 1230000 && shares[1] == 0 && shares[2] == 40000);
	ck_assert_int_eq(invoice_tax_allocate(bases, 3, 0, 2, shares), 0);
	ck_assert(shares[0] == 0 && shares[1] == 0 && shares[2] == 0);
	/* whole units (jpy) */
	bases[0] = 1000000000;
	bases[1] = 2000000000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 2, 100000000, 0, shares), 0);
	ck_assert_int_eq(shares[0], 33000000);
	ck_assert_int_eq(shares[1], 67000000);
	/* refused: more credit than bases, a fraction of a cent, a base
	 * below zero */
	ck_assert_int_eq(invoice_tax_allocate(bases, 2, 3000010000LL, 0,
	    shares), -1);
	bases[0] = 10000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 1, 5000, 2, shares), -1);
	bases[0] = -10000;
	ck_assert_int_eq(invoice_tax_allocate(bases, 1, 0, 2, shares), -1);
}
END_TEST

/* Every split adds up to the credit, no share above its base nor a cent
 * away from its exact part, over many bases and credits. */
START_TEST(test_credit_shares_always_sum_to_the_credit)
{
	int64_t bases[5], shares[5], sum, credit, tot;
	unsigned seed = 17;
	int k, i, n;

	for (k = 0; k < 20000; k++) {
		n = 1 + k % 5;
		for (sum = 0, i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			bases[i] = (int64_t)(seed % 100000u) * 10000;
			sum += bases[i];
		}
		seed = seed * 1103515245u + 12345u;
		credit = sum == 0 ? 0 : (int64_t)(seed % (unsigned)(sum / 10000 +
		    1)) * 10000;
		ck_assert_int_eq(invoice_tax_allocate(bases, (size_t)n, credit, 2,
		    shares), 0);
		for (tot = 0, i = 0; i < n; i++) {
			__int128 exact = (__int128)credit * bases[i];

			ck_assert(shares[i] >= 0 && shares[i] <= bases[i]);
			ck_assert(shares[i] % 10000 == 0);
			ck_assert((__int128)shares[i] * sum <= exact +
			    (__int128)10000 * sum);
			ck_assert((__int128)shares[i] * sum >= exact -
			    (__int128)10000 * sum);
			tot += shares[i];
		}
		ck_assert_int_eq(tot, credit);
	}
}
END_TEST

static struct invoice_line
taxed_line(int64_t amount, const char *rate)
{
	struct invoice_line l;

	memset(&l, 0, sizeof(l));
	l.amount = amount;
	strcpy(l.tax_rate_id, rate);
	return l;
}

/* The worked example of docs/billing.md: a plan fee of 19.99 at 20%
 * inclusive (the plan's rate), overage 1.50 + 0.70 at 7.6543% exclusive
 * (the account's), 5.00 of credits. */
START_TEST(test_an_inclusive_plan_rate_and_an_exclusive_usage_rate_sum_to_the_cent)
{
	struct billing_config cfg;
	struct invoice_taxes *t = calloc(1, sizeof(*t));
	struct invoice_line lines[3];
	int64_t subtotal = 22190000, credits = 5000000;

	ck_assert_ptr_nonnull(t);
	memset(&cfg, 0, sizeof(cfg));
	cfg.tax_rates[0] = (struct tax_rate){ "inc20", "VAT", 20000000, 1 };
	cfg.tax_rates[1] = (struct tax_rate){ "use7", "Sales tax", 7654300, 0 };
	cfg.n_tax_rates = 2;
	lines[0] = taxed_line(19990000, "inc20");
	lines[1] = taxed_line(1500000, "");
	lines[2] = taxed_line(700000, "");
	ck_assert_int_eq(invoice_tax_compute(&cfg, "use7", 0, lines, 3, credits,
	    2, t), 0);
	ck_assert_uint_eq(t->n, 2);
	/* 19.99 - 4.50 = 15.49 with 20% inside: 2.5816... -> 2.58 (net
	 * 12.91) */
	ck_assert_str_eq(t->t[0].rate_id, "inc20");
	ck_assert_int_eq(t->t[0].taxable, 15490000);
	ck_assert_int_eq(t->t[0].amount, 2580000);
	/* 2.20 - 0.50 = 1.70 at 7.6543%: 0.1301... -> 0.13 */
	ck_assert_str_eq(t->t[1].rate_id, "use7");
	ck_assert_int_eq(t->t[1].taxable, 1700000);
	ck_assert_int_eq(t->t[1].amount, 130000);
	ck_assert_int_eq(t->tax, 2710000);
	ck_assert_int_eq(t->added, 130000);
	/* the taxable parts are what is charged after credits; the total
	 * 22.19 - 5.00 + 0.13 = 17.32 */
	ck_assert_int_eq(t->t[0].taxable + t->t[1].taxable, subtotal - credits);
	ck_assert_int_eq(subtotal - credits + t->added, 17320000);

	/* no defaultTaxRate and no account rate: the usage is untaxed but
	 * takes its share of the credits all the same */
	ck_assert_int_eq(invoice_tax_compute(&cfg, "", 0, lines, 3, credits, 2,
	    t), 0);
	ck_assert_uint_eq(t->n, 1);
	ck_assert_int_eq(t->t[0].taxable, 15490000);
	/* the same rate on the plan and the account: one line */
	ck_assert_int_eq(invoice_tax_compute(&cfg, "inc20", 0, lines, 3, credits,
	    2, t), 0);
	ck_assert_uint_eq(t->n, 1);
	ck_assert_int_eq(t->t[0].taxable, 17190000);
	ck_assert_int_eq(t->t[0].amount, 2870000);   /* 17.19 / 6 = 2.865 */
	/* exempt: none at all */
	ck_assert_int_eq(invoice_tax_compute(&cfg, "use7", 1, lines, 3, credits,
	    2, t), 0);
	ck_assert_uint_eq(t->n, 0);
	ck_assert_int_eq(t->tax, 0);
	/* a rate gone from the config: the account's (-2), a line's (-3) */
	ck_assert_int_eq(invoice_tax_compute(&cfg, "gone", 0, lines, 3, credits,
	    2, t), -2);
	lines[0] = taxed_line(19990000, "gone");
	ck_assert_int_eq(invoice_tax_compute(&cfg, "use7", 0, lines, 3, credits,
	    2, t), -3);
	free(t);
}
END_TEST

/* A plan's proration credit (below zero) taxes nothing at its rate and
 * reduces the other rates' bases like a credit. */
START_TEST(test_a_rate_whose_lines_sum_below_zero_counts_as_a_credit)
{
	struct billing_config cfg;
	struct invoice_taxes *t = calloc(1, sizeof(*t));
	struct invoice_line lines[3];

	ck_assert_ptr_nonnull(t);
	memset(&cfg, 0, sizeof(cfg));
	cfg.tax_rates[0] = (struct tax_rate){ "old", "Old", 10000000, 0 };
	cfg.tax_rates[1] = (struct tax_rate){ "new", "New", 20000000, 0 };
	cfg.n_tax_rates = 2;
	lines[0] = taxed_line(-3000000, "old");     /* unused time: -3.00 */
	lines[1] = taxed_line(6000000, "new");      /* remaining: 6.00 */
	lines[2] = taxed_line(2000000, "");         /* usage: 2.00 */
	ck_assert_int_eq(invoice_tax_compute(&cfg, "new", 0, lines, 3, 1000000,
	    2, t), 0);
	/* old: nothing; new: 8.00 less 1.00 + 3.00 = 4.00, tax 0.80 */
	ck_assert_uint_eq(t->n, 2);
	ck_assert_str_eq(t->t[0].rate_id, "old");
	ck_assert_int_eq(t->t[0].taxable, 0);
	ck_assert_int_eq(t->t[0].amount, 0);
	ck_assert_int_eq(t->t[1].taxable, 4000000);
	ck_assert_int_eq(t->t[1].amount, 800000);
	free(t);
}
END_TEST


static Suite *
invoice_lines_suite(void)
{
	Suite *s = suite_create("invoice_lines");
	TCase *tc = tcase_create("lines");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_usage_lines_round_each_sum_half_up_to_cents);
	tcase_add_test(tc, test_tax_exclusive_rounds_half_up_once);
	tcase_add_test(tc, test_tax_inclusive_splits_the_price_exactly);
	tcase_add_test(tc, test_tax_refuses_what_is_not_whole_cents_or_above_100);
	tcase_add_test(tc, test_a_plans_fee_lines_carry_the_plans_rate);
	tcase_add_test(tc, test_credits_split_pro_rata_by_largest_remainder);
	tcase_add_test(tc, test_credit_shares_always_sum_to_the_credit);
	tcase_add_test(tc,
	    test_an_inclusive_plan_rate_and_an_exclusive_usage_rate_sum_to_the_cent);
	tcase_add_test(tc, test_a_rate_whose_lines_sum_below_zero_counts_as_a_credit);
	tcase_add_test(tc, test_zero_decimal_currency_lines_are_whole_units);
	tcase_add_test(tc, test_subscription_monthly_every_period_yearly_on_the_anniversary);
	tcase_add_test(tc, test_overage_is_what_each_hour_exceeds_the_limit);
	tcase_add_test(tc, test_sql_rows_builds_each_size_once);
	tcase_add_test(tc, test_a_line_set_holds_100_usage_lines_and_drops_none);
	tcase_add_test(tc, test_overage_keeps_every_resource_and_price_past_16);
	tcase_add_test(tc,
	    test_a_subtotal_beyond_the_money_range_fails_and_drops_nothing_silently);
	tcase_add_test(tc, test_grow_array_doubles_and_refuses_sizes_that_overflow);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(invoice_lines_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
