/*
 * db_cols: reading a result column as what it holds.  Every value arrives
 * as text (db.h); these parse it the one way the project parses it: DECIMAL
 * as exact micro-units, DATETIME(6) as UTC microseconds.
 */
#include <stdio.h>

#include "db.h"
#include "money.h"
#include "timeutil.h"

void
db_col_text(const struct db_result *res, size_t i, char *dst, size_t size)
{
	const char *v = db_col(res, i, NULL);

	snprintf(dst, size, "%s", v ? v : "");
}

int
db_col_decimal(const struct db_result *res, size_t i, int64_t *out)
{
	size_t len;
	const char *s = db_col(res, i, &len);

	*out = 0;
	return s == NULL ? 0 : money_parse(s, len, MONEY_DECIMALS, out);
}

int
db_col_time(const struct db_result *res, size_t i, int64_t *out)
{
	size_t len;
	const char *s = db_col(res, i, &len);

	*out = 0;
	return s == NULL ? 0 : time_parse_db(s, len, out);
}
