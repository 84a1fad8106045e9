/*
 * db_cols: reading a result column as what it holds.  Every value arrives
 * as text (db.h); these parse it the one way the project parses it: DECIMAL
 * as exact micro-units, DATETIME(6) as UTC microseconds.
 */
#include <string.h>

#include "db.h"
#include "money.h"
#include "timeutil.h"

void
db_col_text(const struct db_result *res, size_t i, char *dst, size_t size)
{
	const char *v = db_col(res, i, NULL);
	size_t n;

	if (size == 0)
		return;
	n = v ? strlen(v) : 0;
	if (n >= size) {
		/* Text too long for dst is cut before the character that does
		 * not fit, never inside it: the columns are utf8mb4, and half a
		 * character is invalid UTF-8 in every answer that shows it. */
		n = size - 1;
		while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, v ? v : "", n);
	dst[n] = '\0';
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
