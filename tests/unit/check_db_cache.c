/*
 * check_db_cache: the statement cache against a real server.  Needs
 * BILLING_TEST_DB_SOCKET (and optionally _USER, _PASSWORD, _NAME); without
 * it the program skips (77), as under `make check`.  The integration suite
 * test_db_layer runs it against its private MariaDB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "db.h"

#define NSTMTS 300	/* well past the old fixed cap of 128 */

static char texts[NSTMTS][48];
static struct db *db;

static void
setup(void)
{
	struct db_config cfg;
	int i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.socket = getenv("BILLING_TEST_DB_SOCKET");
	cfg.user = getenv("BILLING_TEST_DB_USER") ?
	    getenv("BILLING_TEST_DB_USER") : "root";
	cfg.password = getenv("BILLING_TEST_DB_PASSWORD");
	cfg.name = getenv("BILLING_TEST_DB_NAME");
	/* each text at its own address: a distinct statement to the cache */
	for (i = 0; i < NSTMTS; i++)
		snprintf(texts[i], sizeof(texts[i]), "SELECT ? + %d", i);
	db = db_new(&cfg);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(db_connect(db), DB_OK);
}

static void
teardown(void)
{
	db_free(db);
}

static int64_t
run(int i)
{
	struct db_param p[] = { DBP_INT(1000) };
	int64_t v = -1;

	ck_assert_msg(db_query_i64(db, texts[i], p, 1, &v) == DB_OK,
	    "statement %d: %s", i, db_error(db));
	return v;
}

START_TEST(three_hundred_distinct_statements_all_run_twice)
{
	int i, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < NSTMTS; i++)
			ck_assert_int_eq(run(i), 1000 + i);
}
END_TEST

START_TEST(an_open_result_survives_the_cache_growing)
{
	struct db_param p[] = { DBP_INT(7) };
	struct db_result *res = NULL;
	int64_t v;
	int i;

	ck_assert_int_eq(db_query(db, "SELECT ? UNION ALL SELECT 8", p, 1,
	    &res), DB_OK);
	ck_assert_int_eq(db_fetch(res), 1);
	for (i = 0; i < NSTMTS; i++)
		run(i);
	ck_assert_int_eq(db_col_i64(res, 0, &v), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(db_fetch(res), 1);
	ck_assert_int_eq(db_col_i64(res, 0, &v), 0);
	ck_assert_int_eq(v, 8);
	ck_assert_int_eq(db_fetch(res), 0);
	db_result_free(res);
}
END_TEST

START_TEST(the_server_limit_evicts_unused_statements_never_an_open_one)
{
	struct db_param p[] = { DBP_INT(7) };
	struct db_result *res = NULL;
	int64_t v;
	int i;

	ck_assert_int_eq(db_exec_script(db,
	    "SET GLOBAL max_prepared_stmt_count = 20"), DB_OK);
	ck_assert_int_eq(db_query(db, "SELECT ? UNION ALL SELECT 8", p, 1,
	    &res), DB_OK);
	ck_assert_int_eq(db_fetch(res), 1);
	for (i = 0; i < NSTMTS; i++)
		ck_assert_int_eq(run(i), 1000 + i);
	ck_assert_int_eq(db_fetch(res), 1);
	ck_assert_int_eq(db_col_i64(res, 0, &v), 0);
	ck_assert_int_eq(v, 8);
	db_result_free(res);
	/* an evicted statement is prepared again on its next use */
	ck_assert_int_eq(run(0), 1000);
	ck_assert_int_eq(db_exec_script(db,
	    "SET GLOBAL max_prepared_stmt_count = 16382"), DB_OK);
}
END_TEST

int
main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failures;

	if (getenv("BILLING_TEST_DB_SOCKET") == NULL) {
		printf("BILLING_TEST_DB_SOCKET is not set: skipped\n");
		return 77;
	}
	s = suite_create("db_cache");
	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, three_hundred_distinct_statements_all_run_twice);
	tcase_add_test(tc, an_open_result_survives_the_cache_growing);
	tcase_add_test(tc,
	    the_server_limit_evicts_unused_statements_never_an_open_one);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
