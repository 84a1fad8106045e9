/*
 * check_db: the rules of the database layer that need no server: which
 * statements may run again after a connection was lost in flight, and how
 * long a session waits for a row lock.
 */
#include <check.h>

#include "db.h"

START_TEST(reads_may_run_twice)
{
	ck_assert_int_eq(db_sql_repeatable("SELECT 1"), 1);
	ck_assert_int_eq(db_sql_repeatable("select id FROM t WHERE a = ?"), 1);
	ck_assert_int_eq(db_sql_repeatable("  (SELECT a FROM t) UNION "
	    "(SELECT b FROM u)"), 1);
	ck_assert_int_eq(db_sql_repeatable("SELECT id FROM billing_accounts "
	    "WHERE id = ? FOR UPDATE"), 1);
	ck_assert_int_eq(db_sql_repeatable("SELECT\n  a FROM t"), 1);
}
END_TEST

START_TEST(writes_never_run_twice)
{
	/* a credit without an idempotency key would be granted twice */
	ck_assert_int_eq(db_sql_repeatable("INSERT INTO billing_credits "
	    "(account_id, amount) VALUES (?, ?)"), 0);
	ck_assert_int_eq(db_sql_repeatable("INSERT IGNORE INTO t VALUES (?)"),
	    0);
	ck_assert_int_eq(db_sql_repeatable("UPDATE billing_accounts SET "
	    "balance = balance + ? WHERE id = ?"), 0);
	ck_assert_int_eq(db_sql_repeatable("DELETE FROM t WHERE id = ?"), 0);
	ck_assert_int_eq(db_sql_repeatable("REPLACE INTO t VALUES (?)"), 0);
	ck_assert_int_eq(db_sql_repeatable("INSERT INTO t SELECT * FROM u"),
	    0);
	/* a word that only starts like SELECT is not one */
	ck_assert_int_eq(db_sql_repeatable("SELECTED"), 0);
	ck_assert_int_eq(db_sql_repeatable(""), 0);
}
END_TEST

START_TEST(lock_waits_end_well_before_the_read_timeout)
{
	unsigned t;

	ck_assert_uint_eq(db_lock_wait_seconds(10), 3);
	ck_assert_uint_eq(db_lock_wait_seconds(1), 1);
	ck_assert_uint_eq(db_lock_wait_seconds(2), 1);
	/* two waits (a transaction retried once) fit in the read timeout */
	for (t = 3; t <= 3600; t++)
		ck_assert_msg(2 * db_lock_wait_seconds(t) < t,
		    "read timeout %u: lock wait %u", t, db_lock_wait_seconds(t));
}
END_TEST

static Suite *
db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("rules");

	tcase_add_test(tc, reads_may_run_twice);
	tcase_add_test(tc, writes_never_run_twice);
	tcase_add_test(tc, lock_waits_end_well_before_the_read_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(db_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
