/*
 * sql_rows: multi-row statement text, built once per shape and size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_rows.h"

static const size_t sizes[SQL_ROWS_NSIZES] = { 256, 64, 16, 4, 1 };

size_t
sql_rows_chunk(size_t left)
{
	size_t k;

	for (k = 0; k < SQL_ROWS_NSIZES; k++)
		if (sizes[k] <= left)
			return sizes[k];
	return 1;
}

size_t
sql_rows_chunk_up(size_t n)
{
	size_t k;

	for (k = SQL_ROWS_NSIZES; k-- > 0;)
		if (sizes[k] >= n)
			return sizes[k];
	return SQL_ROWS_MAX;
}

size_t
sql_rows_chunk_wide(size_t n)
{
	return n > SQL_ROWS_MAX ? SQL_ROWS_WIDE : sql_rows_chunk_up(n);
}

const char *
sql_rows_text(struct sql_rows *s, size_t n)
{
	size_t k, len, rowlen = strlen(s->row);
	char *sql, *p;

	for (k = 0; k < SQL_ROWS_NSIZES; k++)
		if (sizes[k] == n)
			break;
	if (k == SQL_ROWS_NSIZES && n != SQL_ROWS_WIDE)
		return NULL; /* else k is SQL_ROWS_WIDE's slot */
	if (s->text[k] != NULL)
		return s->text[k];
	len = strlen(s->head) + n * (rowlen + 1) + strlen(s->tail) + 1;
	if ((sql = malloc(len)) == NULL)
		return NULL;
	p = sql + sprintf(sql, "%s", s->head);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", s->row);
	strcpy(p, s->tail);
	s->text[k] = sql;
	return sql;
}

static size_t
count_params(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '?';
	return n;
}

size_t
sql_rows_params(const struct sql_rows *s, size_t n)
{
	return count_params(s->head) + n * count_params(s->row) +
	    count_params(s->tail);
}
