/*
 * sql_rows: the text of multi-row statements ("VALUES (?,?),(?,?)" or
 * "IN (?,?,?)"), built once per shape and size and kept for the process.
 * Sizes come in chunks of 256, 64, 16, 4 or 1 rows, so that a batch of any
 * length runs as a few statements that stay prepared.
 */
#ifndef BILLING_SQL_ROWS_H
#define BILLING_SQL_ROWS_H

#include <stddef.h>

#define SQL_ROWS_MAX 256
#define SQL_ROWS_NSIZES 5
/* One more size, never chosen by sql_rows_chunk: a statement of up to 1,024
 * rows in one round trip (POST hooks/batch), padded up to it. */
#define SQL_ROWS_WIDE 1024

struct sql_rows {
	const char *head;   /* up to the first row */
	const char *row;    /* one row, e.g. "(?,?,?)" or "?" */
	const char *tail;   /* after the last row; "" for none */
	const char *text[SQL_ROWS_NSIZES + 1]; /* the last: SQL_ROWS_WIDE */
	const char *module; /* with id: the statement's name in db's cache */
	unsigned id;
	unsigned ncols;     /* columns it returns; 0: none */
};

#define SQL_ROWS_INIT(h, r, t) { (h), (r), (t), { 0 }, NULL, 0, 0 }
/* A multi-row statement of a module's table (db_run_rows, db_get_rows). */
#define SQL_ROWS_STMT(module, id, ncols, h, r, t) \
	{ (h), (r), (t), { 0 }, (module), (id), (ncols) }

/* The number of parameters of the statement for n rows. */
size_t sql_rows_params(const struct sql_rows *s, size_t n);

/* The largest chunk size <= left (1 when left is 0). */
size_t sql_rows_chunk(size_t left);

/* The smallest chunk size >= n (n <= SQL_ROWS_MAX): for IN lists padded
 * with a repeated value. */
size_t sql_rows_chunk_up(size_t n);

/* The smallest chunk size >= n, SQL_ROWS_WIDE included (n <=
 * SQL_ROWS_WIDE): one statement for up to 1,024 rows, padded. */
size_t sql_rows_chunk_wide(size_t n);

/* The statement for n rows (n a chunk size or SQL_ROWS_WIDE); NULL when out of memory. */
const char *sql_rows_text(struct sql_rows *s, size_t n);

#endif
