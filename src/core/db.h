/*
 * db: one MariaDB connection with its prepared statements.
 *
 * Each worker (and each cron helper) owns exactly one struct db, opened after
 * fork.  SQL text is always a string literal of ours; values travel only as
 * bound parameters.  Statements are prepared on first use and kept for the
 * life of the connection; a reconnect re-prepares them on demand.
 *
 * Results are read as text: DECIMAL and DATETIME columns arrive as their
 * exact decimal/date text and are parsed by money_parse/time_parse_db.
 *
 * Lost connections (2006/2013): outside a transaction the call reconnects
 * and retries once; inside one it returns DB_UNAVAILABLE and the transaction
 * is gone.  Only a statement that cannot do a thing twice is retried: one
 * the server never received, or a read (db_sql_repeatable); a write lost in
 * flight is DB_UNAVAILABLE.  db_transaction retries the whole unit on
 * deadlock (1213) and lock wait timeout (1205).  Each session waits for a
 * row lock at most about a third of the read timeout, so that a lock held
 * by a batch job is a 1205 (retried, then 503) and never a lost connection
 * whose server thread goes on holding its locks.
 */
#ifndef BILLING_DB_H
#define BILLING_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* How to reach the server (the config file's "database" key). */
/* database.ssl: TLS to the server (Connector/C's MYSQL_OPT_SSL_*). */
struct db_ssl {
	int enabled;		/* the object was given: TLS is required */
	char *ca;		/* PEM file of the CA that signed the server's cert */
	char *cert;		/* client certificate (with key), or NULL */
	char *key;
	int verify;		/* check the server's cert and host name */
};

struct db_config {
	char *host;     /* NULL: use socket or localhost */
	unsigned port;  /* 0: default */
	char *socket;   /* NULL: none */
	char *user;
	char *password; /* never logged */
	char *name;
	unsigned read_timeout;  /* seconds a reply may take; 0: the default */
	unsigned report_timeout; /* the same for admin/reports; 0: default */
	struct db_ssl ssl;
};


enum db_rc {
	DB_OK = 0,
	DB_ERROR = -1,       /* a bug or a constraint we did not expect: 500 */
	DB_UNAVAILABLE = -2, /* cannot reach the server: 503 */
	DB_DUPLICATE = -3,   /* unique key violated (1062) */
	DB_RETRY = -4,       /* deadlock or lock wait timeout: retry the transaction */
	DB_NOT_FOUND = -5    /* for callers: no such row */
};

enum db_ptype { DBP_NULL = 0, DBP_I64, DBP_STR };

struct db_param {
	enum db_ptype type;
	int64_t i;
	const char *s;
	size_t len;
};

#define DBP_INT(v) ((struct db_param){ .type = DBP_I64, .i = (int64_t)(v) })
#define DBP_STR(str) ((struct db_param){ .type = DBP_STR, .s = (str), .len = strlen(str) })
#define DBP_STRN(str, n) ((struct db_param){ .type = DBP_STR, .s = (str), .len = (n) })
#define DBP_NULLV ((struct db_param){ .type = DBP_NULL })

struct db;
struct db_result;

/* Allocates a handle; does not connect.  cfg is copied.  Caller frees with db_free. */
struct db *db_new(const struct db_config *cfg);
void db_free(struct db *db);

/* (Re)connects now: utf8mb4, time_zone '+00:00', autocommit on, short
 * timeouts, innodb_lock_wait_timeout db_lock_wait_seconds(read timeout),
 * TLS when cfg->ssl.enabled. */
int db_connect(struct db *db);
unsigned db_lock_wait_seconds(unsigned read_timeout);

/*
 * A second connection of this process for long reads (admin/reports):
 * the same server and account, with the report read timeout.  Opened on
 * first use; borrowed (freed with db).  NULL when out of memory.
 */
struct db *db_long(struct db *db);

/* 1 when sql may run twice with the effect of once: a SELECT.  Only those
 * are run again after a connection lost in flight. */
int db_sql_repeatable(const char *sql);
int db_is_connected(const struct db *db);

/*
 * Runs a statement that returns no rows.  affected and insert_id may be NULL.
 */
int db_exec(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, uint64_t *affected, uint64_t *insert_id);

/*
 * Runs a statement that returns rows, buffered on the client.  On DB_OK,
 * *res is an open result the caller reads with db_fetch and releases with
 * db_result_free before using the same SQL again.
 */
int db_query(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, struct db_result **res);

/*
 * Same, unbuffered: rows stream from the server as they are fetched, so
 * memory stays flat for any number of rows.  No other statement may run on
 * this connection until the result is freed.
 */
int db_query_stream(struct db *db, const char *sql,
    const struct db_param *params, size_t nparams, struct db_result **res);

/* 1: a row is ready; 0: no more rows; < 0: an enum db_rc error. */
int db_fetch(struct db_result *res);
size_t db_ncols(const struct db_result *res);
/* Borrowed text of column i of the current row, NULL for SQL NULL. */
const char *db_col(const struct db_result *res, size_t i, size_t *len);
/* Column i as an integer; 0 on success, -1 if NULL or not an integer. */
int db_col_i64(const struct db_result *res, size_t i, int64_t *out);
void db_result_free(struct db_result *res);

/* Column i as text copied into dst ("" for NULL; cut at a UTF-8 character
 * boundary when it does not fit), as exact micro-units of
 * a DECIMAL, or as UTC microseconds of a DATETIME; NULL reads as 0.  The
 * last two return 0, or -1 when the text is not what the column should
 * hold.  (db_cols.c) */
void db_col_text(const struct db_result *res, size_t i, char *dst,
    size_t size);
int db_col_decimal(const struct db_result *res, size_t i, int64_t *out);
int db_col_time(const struct db_result *res, size_t i, int64_t *out);

/*
 * Single-row conveniences: run the query and copy column 0 of the first row.
 * Return DB_OK, DB_NOT_FOUND when there is no row (or the value is NULL), or an error.
 */
int db_query_i64(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, int64_t *out);

/*
 * Statement tables.  Each module declares its statements once, in a const
 * array indexed by an enum of its own, with the number of parameters each
 * takes and of columns it returns (0 for a statement without rows):
 *
 *	enum { CREDIT_INSERT, CREDIT_BY_ID, CREDIT_NSTMTS };
 *	static const struct db_stmt credit_sql[CREDIT_NSTMTS] = {
 *		[CREDIT_INSERT] = { "INSERT INTO billing_credits ... (?, ?)", 2, 0 },
 *		[CREDIT_BY_ID] = { "SELECT amount, remaining ... WHERE id = ?", 1, 2 },
 *	};
 *	const struct db_stmts credit_stmts = DB_STMTS("credits", credit_sql);
 *
 * The cache keys a statement by (module, id): no fixed cap, no pointer
 * identity.  When a statement is prepared its declared counts are checked
 * against the server's (a mismatch is DB_ERROR and logged), and every call
 * passes exactly nparams parameters.  db_check_stmts prepares a whole table:
 * the statements test does it for every table against the real schema.
 */
struct db_stmt {
	const char *sql;
	unsigned nparams;
	unsigned ncols;
};

struct db_stmts {
	const char *module;          /* unique among the tables */
	const struct db_stmt *list;  /* indexed by the module's enum */
	size_t n;
};

#define DB_STMTS(name, list) { (name), (list), sizeof(list) / sizeof((list)[0]) }

/* db_exec, db_query, db_query_stream and db_query_i64 for statement id of
 * table t. */
int db_run(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, uint64_t *affected,
    uint64_t *insert_id);
int db_get(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, struct db_result **res);
int db_get_stream(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, struct db_result **res);
int db_get_i64(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, int64_t *out);

/*
 * Multi-row statements (sql_rows.h) declared with SQL_ROWS_STMT: rows is a
 * chunk size; the key is (module, id, rows) and the parameter count is the
 * text's.
 */
struct sql_rows;
int db_run_rows(struct db *db, struct sql_rows *s, size_t rows,
    const struct db_param *params, size_t nparams, uint64_t *affected,
    uint64_t *insert_id);
int db_get_rows(struct db *db, struct sql_rows *s, size_t rows,
    const struct db_param *params, size_t nparams, struct db_result **res);

/*
 * Prepares every statement of t (and of s, at one row) on this connection
 * and checks its declared counts; report(msg, arg) is called for each one
 * that fails.  Returns the number of failures (-1: no connection).
 */
int db_check_stmts(struct db *db, const struct db_stmts *t,
    void (*report)(const char *msg, void *arg), void *arg);
int db_check_rows(struct db *db, struct sql_rows *s,
    void (*report)(const char *msg, void *arg), void *arg);

/* Transactions.  db_begin..db_commit, or db_rollback on any failure. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
int db_in_transaction(const struct db *db);

/*
 * Runs fn(db, arg) inside a transaction and commits.  fn returns DB_OK or an
 * error code (or any negative value of its own, which is passed through after
 * rollback).  On DB_RETRY from fn or from commit, rolls back and runs fn
 * again, up to 5 attempts with a short randomized pause.
 */
typedef int (*db_txn_fn)(struct db *db, void *arg);
int db_transaction(struct db *db, db_txn_fn fn, void *arg);

/* Cheap liveness check through a prepared SELECT 1 (reconnects if needed). */
int db_ping(struct db *db);

/* Last server error number and message (for logs; never contains parameters). */
unsigned db_errno(const struct db *db);
const char *db_error(const struct db *db);

/* Runs SQL text of ours that cannot be prepared (migrations: DDL batches).
 * Not for values: nothing from outside ever reaches this. */
int db_exec_script(struct db *db, const char *sql_text);

#endif
