/*
 * migrate: the schema's history, applied forward only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "db.h"
#include "log.h"
#include "migrate.h"

#define MIGRATE_MAX_FILES 1000
#define MIGRATE_MAX_SIZE (4 * 1024 * 1024)

static const char SQL_CREATE_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " checksum CHAR(64) NOT NULL,"
    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin";
static const char SQL_LOCK[] = "SELECT GET_LOCK('billing-migrate', 60)";
static const char SQL_UNLOCK[] = "SELECT RELEASE_LOCK('billing-migrate')";
static const char SQL_CHECKSUM[] =
    "SELECT checksum FROM schema_migrations WHERE version = ?";
static const char SQL_RECORD[] =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)";

int
migrate_split(char *text, int (*fn)(const char *stmt, void *arg), void *arg)
{
	char *stmt = NULL, *line, *next, *end;
	size_t stmt_len = 0;
	int rc = 0;

	if ((stmt = malloc(strlen(text) + 1)) == NULL)
		return -1;
	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *p = line;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "--", 2) == 0)
			continue;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			*--end = '\0';
		if (stmt_len > 0)
			stmt[stmt_len++] = '\n';
		memcpy(stmt + stmt_len, line, (size_t)(end - line));
		stmt_len += (size_t)(end - line);
		stmt[stmt_len] = '\0';
		if (end > line && end[-1] == ';') {
			stmt[--stmt_len] = '\0';
			if (strspn(stmt, " \t\n") != stmt_len &&
			    (rc = fn(stmt, arg)) != 0)
				goto out;
			stmt_len = 0;
		}
	}
	if (strspn(stmt, " \t\n") != stmt_len)
		rc = fn(stmt, arg); /* a last statement without ';' */
out:
	free(stmt);
	return rc;
}

static int
name_is_migration(const char *name)
{
	size_t n = strlen(name);

	return n > 8 && name[0] >= '0' && name[0] <= '9' &&
	    name[1] >= '0' && name[1] <= '9' && name[2] >= '0' &&
	    name[2] <= '9' && name[3] == '_' &&
	    strcmp(name + n - 4, ".sql") == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file; caller frees.  NULL on error or when too large. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f;
	char *buf = NULL;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((buf = malloc(MIGRATE_MAX_SIZE + 1)) != NULL) {
		n = fread(buf, 1, MIGRATE_MAX_SIZE + 1, f);
		if (ferror(f) || n > MIGRATE_MAX_SIZE) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = n;
		}
	}
	fclose(f);
	return buf;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

struct apply_ctx {
	struct db *db;
	int failed_rc;
};

static int
apply_statement(const char *stmt, void *arg)
{
	struct apply_ctx *ctx = arg;
	int rc;

	if ((rc = db_exec_script(ctx->db, stmt)) != DB_OK) {
		ctx->failed_rc = rc;
		return -1;
	}
	return 0;
}

/* Applies one file unless it is already recorded (then checks it is unchanged). */
static int
apply_file(struct db *db, const char *dir, const char *name, int *applied,
    char *err, size_t errlen)
{
	struct apply_ctx ctx = { db, 0 };
	char path[4096], sum[65], *text = NULL, *scratch = NULL;
	struct db_result *res = NULL;
	int64_t version = atoi(name);
	size_t len = 0;
	int rc = -1, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((text = read_file(path, &len)) == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    errno ? strerror(errno) : "too large");
		goto out;
	}
	sha256_hex(text, len, sum);

	struct db_param p[] = { DBP_INT(version) };
	if (db_query(db, SQL_CHECKSUM, p, 1, &res) != DB_OK) {
		snprintf(err, errlen, "reading schema_migrations: %s",
		    db_error(db));
		goto out;
	}
	r = db_fetch(res);
	if (r == 1) {
		const char *have = db_col(res, 0, NULL);

		if (have == NULL || strcmp(have, sum) != 0) {
			snprintf(err, errlen, "%s was changed after it was "
			    "applied; add a new migration instead", name);
			goto out;
		}
		rc = 0;
		goto out;
	}
	db_result_free(res);
	res = NULL;

	if ((scratch = strdup(text)) == NULL)
		goto out;
	log_info("applying %s", name);
	if (migrate_split(scratch, apply_statement, &ctx) != 0) {
		snprintf(err, errlen, "%s: %s", name, db_error(db));
		goto out;
	}
	struct db_param rec[] = { DBP_INT(version), DBP_STR(name), DBP_STR(sum) };
	r = db_exec(db, SQL_RECORD, rec, 3, NULL, NULL);
	if (r != DB_OK && r != DB_DUPLICATE) {
		snprintf(err, errlen, "recording %s: %s", name, db_error(db));
		goto out;
	}
	(*applied)++;
	rc = 0;
out:
	db_result_free(res);
	free(scratch);
	free(text);
	return rc;
}

int
migrate_apply(struct db *db, const char *dir, int *applied, char *err,
    size_t errlen)
{
	char *names[MIGRATE_MAX_FILES];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d = NULL;
	int64_t got = 0;
	int rc = -1, locked = 0;

	*applied = 0;
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && n < MIGRATE_MAX_FILES)
		if (name_is_migration(de->d_name) &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);

	if (db_exec_script(db, SQL_CREATE_TABLE) != DB_OK) {
		snprintf(err, errlen, "creating schema_migrations: %s",
		    db_error(db));
		goto out;
	}
	if (db_query_i64(db, SQL_LOCK, NULL, 0, &got) != DB_OK || got != 1) {
		snprintf(err, errlen, "cannot take the migration lock: %s",
		    db_error(db));
		goto out;
	}
	locked = 1;
	for (i = 0; i < n; i++)
		if (apply_file(db, dir, names[i], applied, err, errlen) != 0)
			goto out;
	rc = 0;
out:
	if (locked)
		(void)db_query_i64(db, SQL_UNLOCK, NULL, 0, &got);
	for (i = 0; i < n; i++)
		free(names[i]);
	return rc;
}
