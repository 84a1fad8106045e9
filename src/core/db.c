/*
 * db: a MariaDB connection, its statement cache and the retry rules.
 *
 * Statements are keyed by (module, id, rows): each module declares its
 * statements in a table (struct db_stmts, db.h) and names one by its index;
 * multi-row statements (sql_rows) add their row count.  Text given without
 * a table (migrations' helpers) is keyed by its content.  Nothing depends on
 * where a string lives.  The cache is a hash table that grows: it
 * has no fixed cap, so a worker that serves every endpoint and every job
 * never runs out of room.  Each entry is allocated on its own (a caller's
 * open result points into it, and stays valid while the table grows) and
 * owns its result buffers, reused across executions.  When the server's
 * max_prepared_stmt_count is reached, the least recently used statement
 * without an open result is closed and prepared again on its next use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"
#include "log.h"
#include "sql_rows.h"
#include "timeutil.h"

#define DB_SLOTS_INITIAL 256 /* a power of two; doubles at half full */
#define DB_EVICT_TRIES 8
#define DB_MAX_PARAMS 65535 /* the protocol's limit */
#define DB_COL_INITIAL 64
#define DB_TXN_ATTEMPTS 5
/* of which at most this many may end in a lock wait timeout: each already
 * waited innodb_lock_wait_timeout, and the request has a reply to give */
#define DB_TXN_LOCK_WAITS 2
/* a server that stops answering becomes 503 in this many seconds */
#define DB_DEFAULT_READ_TIMEOUT 10
/* admin/reports' reads (db_long) may take this long */
#define DB_DEFAULT_REPORT_TIMEOUT 300

struct db_col {
	char *buf;
	unsigned long cap;
	unsigned long len;
	my_bool is_null;
	my_bool error;
};

struct db_result {
	struct db *db;
	MYSQL_STMT *stmt;
	MYSQL_BIND *binds;
	struct db_col *cols;
	size_t ncols;
	int open;
	int streaming;
};

/* What names a statement in the cache. */
struct db_key {
	const char *module;	/* NULL: keyed by the text itself */
	unsigned id, rows;
	const char *sql;	/* the text (borrowed: a literal or sql_rows') */
	unsigned nparams;	/* declared with the table's statement */
	unsigned ncols;
};

struct db_slot {
	struct db_key key;
	const char *sql;	/* key.sql */
	MYSQL_STMT *stmt;	/* NULL: not prepared on this connection */
	uint64_t used;		/* db->tick at the last use, for eviction */
	struct db_result res;
};

struct db {
	char *host, *socket, *user, *password, *name;
	unsigned port;
	unsigned read_timeout;
	unsigned report_timeout;
	int ssl, ssl_verify;
	char *ssl_ca, *ssl_cert, *ssl_key;
	struct db *long_db;	/* db_long's connection, NULL until used */
	struct db *peer;	/* the other one of the pair, for eviction */
	MYSQL *mysql;
	int in_txn;
	struct db_slot **slots;	/* open addressing, keyed by struct db_key */
	size_t slot_cap;	/* a power of two, or 0 before the first use */
	size_t nslots;
	uint64_t tick;
	unsigned last_errno;
	char last_error[256];
	/* parameter bindings, grown to the largest statement seen (batches) */
	MYSQL_BIND *pbinds;
	unsigned long *plens;
	size_t pcap;
};

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct db *
db_new(const struct db_config *cfg)
{
	struct db *db;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return NULL;
	db->host = dup_or_null(cfg->host);
	db->socket = dup_or_null(cfg->socket);
	db->user = dup_or_null(cfg->user);
	db->password = dup_or_null(cfg->password);
	db->name = dup_or_null(cfg->name);
	db->port = cfg->port;
	db->read_timeout = cfg->read_timeout ? cfg->read_timeout :
	    DB_DEFAULT_READ_TIMEOUT;
	db->report_timeout = cfg->report_timeout ? cfg->report_timeout :
	    DB_DEFAULT_REPORT_TIMEOUT;
	db->ssl = cfg->ssl.enabled;
	db->ssl_verify = cfg->ssl.verify;
	db->ssl_ca = dup_or_null(cfg->ssl.ca);
	db->ssl_cert = dup_or_null(cfg->ssl.cert);
	db->ssl_key = dup_or_null(cfg->ssl.key);
	return db;
}

struct db *
db_long(struct db *db)
{
	struct db_config cfg;

	if (db->long_db != NULL)
		return db->long_db;
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = db->host;
	cfg.socket = db->socket;
	cfg.user = db->user;
	cfg.password = db->password;
	cfg.name = db->name;
	cfg.port = db->port;
	cfg.read_timeout = db->report_timeout;
	cfg.report_timeout = db->report_timeout;
	cfg.ssl.enabled = db->ssl;
	cfg.ssl.verify = db->ssl_verify;
	cfg.ssl.ca = db->ssl_ca;
	cfg.ssl.cert = db->ssl_cert;
	cfg.ssl.key = db->ssl_key;
	if ((db->long_db = db_new(&cfg)) != NULL) {
		/* the server's statement limit counts both connections */
		db->long_db->peer = db;
		db->peer = db->long_db;
	}
	return db->long_db;
}

static void
result_release_buffers(struct db_result *res)
{
	size_t i;

	for (i = 0; i < res->ncols; i++)
		free(res->cols[i].buf);
	free(res->cols);
	free(res->binds);
	res->cols = NULL;
	res->binds = NULL;
	res->ncols = 0;
}

/* Closes a slot's statement; the slot stays, to be prepared again. */
static void
slot_unprepare(struct db_slot *slot)
{
	if (slot->stmt != NULL)
		mysql_stmt_close(slot->stmt);
	slot->stmt = NULL;
	slot->res.stmt = NULL;
	slot->res.open = 0;
}

/* Drops the connection and every prepared statement (they die with it).
 * A result a caller still holds reads as finished. */
static void
db_disconnect(struct db *db)
{
	size_t i;

	for (i = 0; i < db->slot_cap; i++)
		if (db->slots[i] != NULL)
			slot_unprepare(db->slots[i]);
	if (db->mysql != NULL)
		mysql_close(db->mysql);
	db->mysql = NULL;
	db->in_txn = 0;
}

void
db_free(struct db *db)
{
	size_t i;

	if (db == NULL)
		return;
	db_disconnect(db);
	for (i = 0; i < db->slot_cap; i++) {
		if (db->slots[i] != NULL) {
			result_release_buffers(&db->slots[i]->res);
			free(db->slots[i]);
		}
	}
	free(db->slots);
	db_free(db->long_db);
	free(db->ssl_ca);
	free(db->ssl_cert);
	free(db->ssl_key);
	free(db->host);
	free(db->socket);
	free(db->user);
	if (db->password != NULL)
		explicit_bzero(db->password, strlen(db->password));
	free(db->password);
	free(db->name);
	free(db->pbinds);
	free(db->plens);
	free(db);
}

static void
remember_error(struct db *db, unsigned err, const char *msg)
{
	db->last_errno = err;
	snprintf(db->last_error, sizeof(db->last_error), "%s", msg ? msg : "");
}

static int
is_connection_error(unsigned err)
{
	switch (err) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case ER_NEW_ABORTING_CONNECTION:
	case ER_UNKNOWN_COM_ERROR: /* 1047: a Galera node without quorum */
		return 1;
	default:
		return 0;
	}
}

/* Maps a server/client error to our codes; drops the connection if it is gone. */
static int
classify(struct db *db, unsigned err, const char *msg)
{
	remember_error(db, err, msg);
	if (is_connection_error(err)) {
		db_disconnect(db);
		return DB_UNAVAILABLE;
	}
	switch (err) {
	case ER_DUP_ENTRY:
		return DB_DUPLICATE;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
		return DB_RETRY;
	default:
		return DB_ERROR;
	}
}

unsigned
db_lock_wait_seconds(unsigned read_timeout)
{
	/* two waits (DB_TXN_LOCK_WAITS) and the work fit in one read timeout */
	return read_timeout >= 6 ? read_timeout / 3 : 1;
}

/* TLS options before connecting: with database.ssl, TLS is required. */
static void
set_tls(const struct db *db, MYSQL *m)
{
	my_bool on = 1, verify = db->ssl_verify ? 1 : 0;

	if (!db->ssl)
		return;
	if (db->ssl_ca != NULL)
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, db->ssl_ca);
	if (db->ssl_cert != NULL)
		mysql_optionsv(m, MYSQL_OPT_SSL_CERT, db->ssl_cert);
	if (db->ssl_key != NULL)
		mysql_optionsv(m, MYSQL_OPT_SSL_KEY, db->ssl_key);
	mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
}

int
db_connect(struct db *db)
{
	unsigned int rw_timeout = db->read_timeout;
	unsigned int timeout = rw_timeout < 3 ? rw_timeout : 3;
	my_bool off = 0;
	MYSQL *m;
	char session_setup[512];
	/* our session settings: UTC, strict, read-committed so that batch
	 * jobs take no gap locks beyond what their unique keys need, and a
	 * lock wait that ends (1205) well before the read timeout would */
	static const char *const session_fmt =
	    "SET time_zone = '+00:00', "
	    "sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
	    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', "
	    "tx_isolation = 'READ-COMMITTED', "
	    "innodb_lock_wait_timeout = %u";
	static const char *const wsrep_setup = "SET SESSION wsrep_sync_wait = 1";

	snprintf(session_setup, sizeof(session_setup), session_fmt,
	    db_lock_wait_seconds(rw_timeout));

	db_disconnect(db);
	if ((m = mysql_init(NULL)) == NULL) {
		remember_error(db, 0, "out of memory");
		return DB_ERROR;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(m, MYSQL_OPT_RECONNECT, &off);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	set_tls(db, m);
	if (mysql_real_connect(m, db->socket && !db->host ? "localhost" : db->host,
	    db->user, db->password, db->name, db->port, db->socket, 0) == NULL) {
		remember_error(db, mysql_errno(m), mysql_error(m));
		mysql_close(m);
		return DB_UNAVAILABLE;
	}
	if (mysql_real_query(m, session_setup, strlen(session_setup)) != 0) {
		remember_error(db, mysql_errno(m), mysql_error(m));
		mysql_close(m);
		return DB_UNAVAILABLE;
	}
	/* on Galera, read what any node has committed (a session made through
	 * one billingd host is seen by the next request on another); servers
	 * without wsrep do not know the variable, which is fine */
	(void)mysql_real_query(m, wsrep_setup, strlen(wsrep_setup));
	db->mysql = m;
	return DB_OK;
}

int
db_is_connected(const struct db *db)
{
	return db->mysql != NULL;
}

/* FNV-1a over a string, then the numbers mixed in. */
static size_t
key_hash(const struct db_key *k)
{
	const unsigned char *p = (const unsigned char *)(k->module ?
	    k->module : k->sql);
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h ^= ((uint64_t)k->id << 20) ^ k->rows;
	return (size_t)(h * 0x9e3779b97f4a7c15ULL >> 17);
}

static int
key_eq(const struct db_key *a, const struct db_key *b)
{
	if ((a->module == NULL) != (b->module == NULL))
		return 0;
	if (a->module == NULL)
		return strcmp(a->sql, b->sql) == 0;
	return a->id == b->id && a->rows == b->rows &&
	    strcmp(a->module, b->module) == 0;
}

/* The cell holding key's slot, or the empty cell where it belongs. */
static struct db_slot **
slot_cell(struct db_slot **tab, size_t cap, const struct db_key *key)
{
	size_t mask = cap - 1, i = key_hash(key) & mask;

	while (tab[i] != NULL && !key_eq(&tab[i]->key, key))
		i = (i + 1) & mask;
	return &tab[i];
}

/* Doubles the table (slots keep their addresses).  0, or -1 out of memory. */
static int
slots_grow(struct db *db)
{
	size_t i, cap = db->slot_cap ? db->slot_cap * 2 : DB_SLOTS_INITIAL;
	struct db_slot **tab;

	if ((tab = calloc(cap, sizeof(*tab))) == NULL)
		return -1;
	for (i = 0; i < db->slot_cap; i++)
		if (db->slots[i] != NULL)
			*slot_cell(tab, cap, &db->slots[i]->key) = db->slots[i];
	free(db->slots);
	db->slots = tab;
	db->slot_cap = cap;
	return 0;
}

/* The slot for key, made if new (not prepared yet); NULL out of memory. */
static struct db_slot *
slot_for(struct db *db, const struct db_key *key)
{
	struct db_slot **cell;

	if ((db->nslots + 1) * 2 > db->slot_cap && slots_grow(db) != 0)
		return NULL;
	cell = slot_cell(db->slots, db->slot_cap, key);
	if (*cell == NULL) {
		if ((*cell = calloc(1, sizeof(**cell))) == NULL)
			return NULL;
		(*cell)->key = *key;
		(*cell)->sql = key->sql;
		(*cell)->res.db = db;
		db->nslots++;
	}
	return *cell;
}

/* Closes the least recently used prepared statement other than keep that
 * has no open result.  0, or -1 when there is none. */
static int
evict_lru(struct db *db, const struct db_slot *keep)
{
	struct db_slot *s, *lru = NULL;
	size_t i;

	for (i = 0; i < db->slot_cap; i++) {
		s = db->slots[i];
		if (s == NULL || s == keep || s->stmt == NULL || s->res.open)
			continue;
		if (lru == NULL || s->used < lru->used)
			lru = s;
	}
	if (lru == NULL)
		return -1;
	log_debug("statement cache: closing one unused since tick %llu",
	    (unsigned long long)lru->used);
	slot_unprepare(lru);
	return 0;
}

/* Closes the other connection's least recently used statement.  A close
 * has no reply: a round trip on that connection makes sure the server has
 * done it before we prepare on ours. */
static int
evict_peer(struct db *db)
{
	if (db->peer == NULL || db->peer->mysql == NULL ||
	    evict_lru(db->peer, NULL) != 0)
		return -1;
	(void)mysql_ping(db->peer->mysql);
	return 0;
}

/* Prepares slot's statement on the current connection. */
static int
slot_prepare(struct db *db, struct db_slot *slot)
{
	MYSQL_STMT *stmt;
	unsigned err;
	char msg[256];
	int tries, rc;

	for (tries = 0;; tries++) {
		if ((stmt = mysql_stmt_init(db->mysql)) == NULL)
			return classify(db, mysql_errno(db->mysql),
			    mysql_error(db->mysql));
		if (mysql_stmt_prepare(stmt, slot->sql, strlen(slot->sql)) == 0)
			break;
		err = mysql_stmt_errno(stmt);
		snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(stmt));
		mysql_stmt_close(stmt);
		/* the server's limit on prepared statements (all connections
		 * together): make room in ours rather than fail the request */
		if (err == ER_MAX_PREPARED_STMT_COUNT_REACHED &&
		    tries < DB_EVICT_TRIES && (evict_lru(db, slot) == 0 ||
		    evict_peer(db) == 0))
			continue;
		if ((rc = classify(db, err, msg)) == DB_ERROR)
			log_warnx("prepare failed (%u %s): %.120s", err, msg,
			    slot->sql);
		return rc;
	}
	/* a table's statement is what its table says it is */
	if (slot->key.module != NULL && (mysql_stmt_param_count(stmt) !=
	    slot->key.nparams || mysql_stmt_field_count(stmt) !=
	    slot->key.ncols)) {
		snprintf(msg, sizeof(msg), "statement %s/%u: declared %u "
		    "parameters and %u columns, the server sees %lu and %u",
		    slot->key.module, slot->key.id, slot->key.nparams,
		    slot->key.ncols, mysql_stmt_param_count(stmt),
		    mysql_stmt_field_count(stmt));
		mysql_stmt_close(stmt);
		log_warnx("%s", msg);
		remember_error(db, 0, msg);
		return DB_ERROR;
	}
	slot->stmt = stmt;
	slot->res.stmt = stmt;
	return DB_OK;
}

/* Finds or prepares the statement for key.  Returns the slot or NULL (*rc set). */
static struct db_slot *
get_slot(struct db *db, const struct db_key *key, int *rc)
{
	struct db_slot *slot;

	if ((slot = slot_for(db, key)) == NULL) {
		remember_error(db, 0, "out of memory for a statement");
		*rc = DB_ERROR;
		return NULL;
	}
	if (slot->stmt == NULL && (*rc = slot_prepare(db, slot)) != DB_OK)
		return NULL;
	slot->used = ++db->tick;
	return slot;
}

static int
bind_params(struct db_slot *slot, const struct db_param *params, size_t n,
    MYSQL_BIND *binds, unsigned long *lens)
{
	size_t i;

	if (n != mysql_stmt_param_count(slot->stmt) || n > DB_MAX_PARAMS) {
		log_warnx("statement wants %lu parameters, got %zu: %.120s",
		    mysql_stmt_param_count(slot->stmt), n, slot->sql);
		return -1;
	}
	if (n == 0)
		return 0;
	memset(binds, 0, sizeof(*binds) * n);
	for (i = 0; i < n; i++) {
		switch (params[i].type) {
		case DBP_I64:
			binds[i].buffer_type = MYSQL_TYPE_LONGLONG;
			binds[i].buffer = (void *)&params[i].i;
			break;
		case DBP_STR:
			lens[i] = params[i].len;
			binds[i].buffer_type = MYSQL_TYPE_STRING;
			binds[i].buffer = (void *)params[i].s;
			binds[i].buffer_length = params[i].len;
			binds[i].length = &lens[i];
			break;
		default:
			binds[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	return mysql_stmt_bind_param(slot->stmt, binds) == 0 ? 0 : -1;
}

/* Binds every result column as text, growing buffers when a value did not fit. */
static int
bind_result(struct db_result *res)
{
	size_t i, n;

	/* the column count is all we need: mysql_stmt_result_metadata would
	 * copy every field's description into a new result on each run */
	if ((n = mysql_stmt_field_count(res->stmt)) == 0)
		return -1;
	if (res->binds == NULL || res->ncols != n) {
		result_release_buffers(res);
		res->binds = calloc(n ? n : 1, sizeof(*res->binds));
		res->cols = calloc(n ? n : 1, sizeof(*res->cols));
		if (res->binds == NULL || res->cols == NULL)
			return -1;
		res->ncols = n;
		for (i = 0; i < n; i++) {
			res->cols[i].cap = DB_COL_INITIAL;
			if ((res->cols[i].buf = malloc(DB_COL_INITIAL)) == NULL)
				return -1;
		}
	}
	for (i = 0; i < n; i++) {
		memset(&res->binds[i], 0, sizeof(res->binds[i]));
		res->binds[i].buffer_type = MYSQL_TYPE_STRING;
		res->binds[i].buffer = res->cols[i].buf;
		res->binds[i].buffer_length = res->cols[i].cap - 1;
		res->binds[i].length = &res->cols[i].len;
		res->binds[i].is_null = &res->cols[i].is_null;
		res->binds[i].error = &res->cols[i].error;
	}
	return mysql_stmt_bind_result(res->stmt, res->binds) == 0 ? 0 : -1;
}

/* Executes once on the current connection.  *sent is set when the server
 * may have run the statement: a failure while connecting, preparing or
 * sending it (2006) leaves it 0. */
static int
run_once(struct db *db, const struct db_key *key,
    const struct db_param *params, size_t n, int want_rows, int streaming,
    struct db_slot **out, int *sent)
{
	struct db_slot *slot;
	int rc = DB_ERROR;

	if (n > db->pcap) {
		MYSQL_BIND *nb = realloc(db->pbinds, n * sizeof(*nb));
		unsigned long *nl;

		if (nb == NULL)
			return DB_ERROR;
		db->pbinds = nb;
		if ((nl = realloc(db->plens, n * sizeof(*nl))) == NULL)
			return DB_ERROR;
		db->plens = nl;
		db->pcap = n;
	}

	if (db->mysql == NULL && (rc = db_connect(db)) != DB_OK)
		return rc;
	if ((slot = get_slot(db, key, &rc)) == NULL)
		return rc;
	if (slot->res.open) {
		log_warnx("statement reused while its result is open: %.120s",
		    key->sql);
		return DB_ERROR;
	}
	if (bind_params(slot, params, n, db->pbinds, db->plens) != 0)
		return DB_ERROR;
	if (mysql_stmt_execute(slot->stmt) != 0) {
		unsigned err = mysql_stmt_errno(slot->stmt);

		*sent = err != CR_SERVER_GONE_ERROR;
		return classify(db, err, mysql_stmt_error(slot->stmt));
	}
	*sent = 1;
	if (want_rows) {
		if (!streaming && mysql_stmt_store_result(slot->stmt) != 0)
			return classify(db, mysql_stmt_errno(slot->stmt),
			    mysql_stmt_error(slot->stmt));
		if (bind_result(&slot->res) != 0) {
			mysql_stmt_free_result(slot->stmt);
			remember_error(db, 0, "cannot bind result");
			return DB_ERROR;
		}
		slot->res.open = 1;
		slot->res.streaming = streaming;
	}
	*out = slot;
	return DB_OK;
}

int
db_sql_repeatable(const char *sql)
{
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '(')
		sql++;
	return strncasecmp(sql, "SELECT", 6) == 0 &&
	    (sql[6] == ' ' || sql[6] == '\t' || sql[6] == '\n');
}

/* Retries once on a fresh connection when no transaction could be lost and
 * running the statement twice cannot do a thing twice. */
static int
run(struct db *db, const struct db_key *key, const struct db_param *params,
    size_t n, int want_rows, int streaming, struct db_slot **out)
{
	int was_in_txn = db->in_txn;
	int64_t t0 = time_mono_usec();
	int rc, sent = 0;

	if (key->module != NULL && n != key->nparams) {
		log_warnx("statement %s/%u takes %u parameters, got %zu",
		    key->module, key->id, key->nparams, n);
		remember_error(db, 0, "wrong number of parameters");
		return DB_ERROR;
	}
	rc = run_once(db, key, params, n, want_rows, streaming, out, &sent);
	/* a connection found dead at once (the server restarted) is worth a
	 * second try; one that timed out (the server hangs) is not.  A write
	 * the server may have run is not tried again: an insert without a key
	 * of its own (a credit) would be done twice; the caller answers 503 */
	if (rc == DB_UNAVAILABLE && !was_in_txn &&
	    time_mono_usec() - t0 < USEC_PER_SEC &&
	    (!sent || db_sql_repeatable(key->sql))) {
		sent = 0;
		rc = run_once(db, key, params, n, want_rows, streaming, out,
		    &sent);
	}
	return rc;
}

/* Runs key's statement (DB_ERROR when key is NULL: no statement). */
static int
exec_key(struct db *db, const struct db_key *key,
    const struct db_param *params, size_t nparams, uint64_t *affected,
    uint64_t *insert_id)
{
	struct db_slot *slot = NULL;
	int rc;

	if (key == NULL)
		return DB_ERROR;
	if ((rc = run(db, key, params, nparams, 0, 0, &slot)) != DB_OK)
		return rc;
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(slot->stmt);
	if (insert_id != NULL)
		*insert_id = mysql_stmt_insert_id(slot->stmt);
	return DB_OK;
}

/* Runs key's query (DB_ERROR when key is NULL: no statement). */
static int
query_key(struct db *db, const struct db_key *key,
    const struct db_param *params, size_t nparams, int streaming,
    struct db_result **res)
{
	struct db_slot *slot = NULL;
	int rc;

	if (key == NULL)
		return DB_ERROR;
	if ((rc = run(db, key, params, nparams, 1, streaming, &slot)) != DB_OK)
		return rc;
	*res = &slot->res;
	return DB_OK;
}

int
db_exec(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, uint64_t *affected, uint64_t *insert_id)
{
	struct db_key key = { NULL, 0, 0, sql, 0, 0 };

	return exec_key(db, &key, params, nparams, affected, insert_id);
}

int
db_query(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, struct db_result **res)
{
	struct db_key key = { NULL, 0, 0, sql, 0, 0 };

	return query_key(db, &key, params, nparams, 0, res);
}

int
db_query_stream(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, struct db_result **res)
{
	struct db_key key = { NULL, 0, 0, sql, 0, 0 };

	return query_key(db, &key, params, nparams, 1, res);
}

/* The key of statement id of table t, filled into *key; NULL (logged) when
 * there is none. */
static const struct db_key *
table_key(struct db *db, const struct db_stmts *t, unsigned id,
    struct db_key *key)
{
	if (id >= t->n || t->list[id].sql == NULL) {
		log_warnx("statement %s/%u is not declared", t->module, id);
		remember_error(db, 0, "undeclared statement");
		return NULL;
	}
	*key = (struct db_key){ t->module, id, 0, t->list[id].sql,
	    t->list[id].nparams, t->list[id].ncols };
	return key;
}

/* The key of s at rows rows, filled into *key; NULL (logged) when it has no
 * text. */
static const struct db_key *
rows_key(struct db *db, struct sql_rows *s, size_t rows, struct db_key *key)
{
	const char *sql;

	if (s->module == NULL || (sql = sql_rows_text(s, rows)) == NULL) {
		log_warnx("multi-row statement %s/%u: no text for %zu rows",
		    s->module ? s->module : "?", s->id, rows);
		remember_error(db, 0, "no multi-row statement text");
		return NULL;
	}
	*key = (struct db_key){ s->module, s->id, (unsigned)rows, sql,
	    (unsigned)sql_rows_params(s, rows), s->ncols };
	return key;
}

int
db_run(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, uint64_t *affected,
    uint64_t *insert_id)
{
	struct db_key key;

	return exec_key(db, table_key(db, t, id, &key), params, nparams,
	    affected, insert_id);
}

int
db_get(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, struct db_result **res)
{
	struct db_key key;

	return query_key(db, table_key(db, t, id, &key), params, nparams, 0,
	    res);
}

int
db_get_stream(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, struct db_result **res)
{
	struct db_key key;

	return query_key(db, table_key(db, t, id, &key), params, nparams, 1,
	    res);
}

/* The first column of res's first row into *out (DB_NOT_FOUND without one);
 * frees res. */
static int
first_i64(struct db_result *res, int64_t *out)
{
	int rc = DB_OK, r;

	r = db_fetch(res);
	if (r < 0)
		rc = r;
	else if (r == 0 || db_col_i64(res, 0, out) != 0)
		rc = DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

int
db_get_i64(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *params, size_t nparams, int64_t *out)
{
	struct db_result *res = NULL;
	int rc;

	if ((rc = db_get(db, t, id, params, nparams, &res)) != DB_OK)
		return rc;
	return first_i64(res, out);
}

int
db_run_rows(struct db *db, struct sql_rows *s, size_t rows,
    const struct db_param *params, size_t nparams, uint64_t *affected,
    uint64_t *insert_id)
{
	struct db_key key;

	return exec_key(db, rows_key(db, s, rows, &key), params, nparams,
	    affected, insert_id);
}

int
db_get_rows(struct db *db, struct sql_rows *s, size_t rows,
    const struct db_param *params, size_t nparams, struct db_result **res)
{
	struct db_key key;

	return query_key(db, rows_key(db, s, rows, &key), params, nparams, 0,
	    res);
}

/* Prepares key's statement now; reports a failure. */
static int
check_key(struct db *db, const struct db_key *key,
    void (*report)(const char *msg, void *arg), void *arg)
{
	char msg[512];
	int rc;

	if (get_slot(db, key, &rc) != NULL)
		return 0;
	snprintf(msg, sizeof(msg), "%s/%u: %s", key->module, key->id,
	    db_error(db));
	report(msg, arg);
	return 1;
}

int
db_check_stmts(struct db *db, const struct db_stmts *t,
    void (*report)(const char *msg, void *arg), void *arg)
{
	struct db_key key;
	char msg[160];
	size_t i;
	int bad = 0;

	if (db->mysql == NULL && db_connect(db) != DB_OK)
		return -1;
	for (i = 0; i < t->n; i++) {
		if (table_key(db, t, (unsigned)i, &key) == NULL) {
			snprintf(msg, sizeof(msg), "%s/%zu: not declared",
			    t->module, i);
			report(msg, arg);
			bad++;
			continue;
		}
		bad += check_key(db, &key, report, arg);
	}
	return bad;
}

int
db_check_rows(struct db *db, struct sql_rows *s,
    void (*report)(const char *msg, void *arg), void *arg)
{
	struct db_key key;

	if (db->mysql == NULL && db_connect(db) != DB_OK)
		return -1;
	if (rows_key(db, s, 1, &key) == NULL) {
		report("a multi-row statement without a module", arg);
		return 1;
	}
	return check_key(db, &key, report, arg);
}

/* A value was longer than its buffer: grow it and fetch that column again. */
static int
refetch_truncated(struct db_result *res)
{
	MYSQL_BIND b;
	size_t i;

	for (i = 0; i < res->ncols; i++) {
		struct db_col *c = &res->cols[i];
		char *nbuf;

		if (c->is_null || c->len < c->cap)
			continue;
		if ((nbuf = realloc(c->buf, c->len + 1)) == NULL)
			return -1;
		c->buf = nbuf;
		c->cap = c->len + 1;
		memset(&b, 0, sizeof(b));
		b.buffer_type = MYSQL_TYPE_STRING;
		b.buffer = c->buf;
		b.buffer_length = c->cap - 1;
		b.length = &c->len;
		if (mysql_stmt_fetch_column(res->stmt, &b, (unsigned)i, 0) != 0)
			return -1;
		res->binds[i].buffer = c->buf;
		res->binds[i].buffer_length = c->cap - 1;
	}
	return mysql_stmt_bind_result(res->stmt, res->binds) == 0 ? 0 : -1;
}

int
db_fetch(struct db_result *res)
{
	size_t i;
	int r;

	if (!res->open)
		return 0;
	r = mysql_stmt_fetch(res->stmt);
	if (r == MYSQL_NO_DATA)
		return 0;
	if (r == MYSQL_DATA_TRUNCATED) {
		if (refetch_truncated(res) != 0) {
			remember_error(res->db, 0, "cannot grow column buffer");
			return DB_ERROR;
		}
	} else if (r != 0)
		return classify(res->db, mysql_stmt_errno(res->stmt),
		    mysql_stmt_error(res->stmt));
	for (i = 0; i < res->ncols; i++)
		if (!res->cols[i].is_null)
			res->cols[i].buf[res->cols[i].len] = '\0';
	return 1;
}

size_t
db_ncols(const struct db_result *res)
{
	return res->ncols;
}

const char *
db_col(const struct db_result *res, size_t i, size_t *len)
{
	if (i >= res->ncols || res->cols[i].is_null)
		return NULL;
	if (len != NULL)
		*len = res->cols[i].len;
	return res->cols[i].buf;
}

int
db_col_i64(const struct db_result *res, size_t i, int64_t *out)
{
	const char *s = db_col(res, i, NULL);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

void
db_result_free(struct db_result *res)
{
	if (res == NULL || !res->open)
		return;
	/* the connection may have died under a stream; the slot is gone then */
	if (res->db->mysql != NULL)
		mysql_stmt_free_result(res->stmt);
	res->open = 0;
}

int
db_query_i64(struct db *db, const char *sql, const struct db_param *params,
    size_t nparams, int64_t *out)
{
	struct db_result *res = NULL;
	int rc;

	if ((rc = db_query(db, sql, params, nparams, &res)) != DB_OK)
		return rc;
	return first_i64(res, out);
}

static int
simple_query(struct db *db, const char *text)
{
	if (mysql_real_query(db->mysql, text, strlen(text)) != 0)
		return classify(db, mysql_errno(db->mysql), mysql_error(db->mysql));
	return DB_OK;
}

int
db_begin(struct db *db)
{
	int rc, attempt;

	if (db->in_txn) {
		log_warnx("db_begin inside a transaction");
		return DB_ERROR;
	}
	/* no transaction is open yet, so a lost connection is retried */
	for (attempt = 0; attempt < 2; attempt++) {
		if (db->mysql == NULL && (rc = db_connect(db)) != DB_OK)
			return rc;
		rc = simple_query(db, "START TRANSACTION");
		if (rc == DB_OK) {
			db->in_txn = 1;
			return DB_OK;
		}
		if (rc != DB_UNAVAILABLE)
			return rc;
	}
	return rc;
}

int
db_commit(struct db *db)
{
	int rc;

	if (db->mysql == NULL) {
		db->in_txn = 0;
		return DB_UNAVAILABLE;
	}
	rc = mysql_commit(db->mysql) == 0 ? DB_OK :
	    classify(db, mysql_errno(db->mysql), mysql_error(db->mysql));
	db->in_txn = 0;
	return rc;
}

void
db_rollback(struct db *db)
{
	if (db->mysql != NULL && mysql_rollback(db->mysql) != 0)
		(void)classify(db, mysql_errno(db->mysql), mysql_error(db->mysql));
	db->in_txn = 0;
}

int
db_in_transaction(const struct db *db)
{
	return db->in_txn;
}

static void
pause_before_retry(int attempt)
{
	struct timespec ts;
	long ms = 5L * (1L << attempt) + (random() % 20);

	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	nanosleep(&ts, NULL);
}

int
db_transaction(struct db *db, db_txn_fn fn, void *arg)
{
	int attempt, lock_waits = 0, rc = DB_RETRY;
	unsigned err;

	for (attempt = 0; attempt < DB_TXN_ATTEMPTS; attempt++) {
		if ((rc = db_begin(db)) != DB_OK)
			return rc;
		rc = fn(db, arg);
		if (rc == DB_OK && (rc = db_commit(db)) == DB_OK)
			return DB_OK;
		err = db->last_errno;
		db_rollback(db);
		if (rc != DB_RETRY)
			return rc;
		if (err == ER_LOCK_WAIT_TIMEOUT &&
		    ++lock_waits >= DB_TXN_LOCK_WAITS) {
			log_warnx("transaction gave up after %d lock wait "
			    "timeouts", lock_waits);
			return rc;
		}
		log_debug("transaction retry %d after %u", attempt + 1,
		    db->last_errno);
		pause_before_retry(attempt);
	}
	return rc;
}

int
db_ping(struct db *db)
{
	int64_t one = 0;
	int rc;

	rc = db_query_i64(db, "SELECT 1", NULL, 0, &one);
	if (rc == DB_OK && one != 1)
		rc = DB_ERROR;
	return rc;
}

unsigned
db_errno(const struct db *db)
{
	return db->last_errno;
}

const char *
db_error(const struct db *db)
{
	return db->last_error;
}

int
db_exec_script(struct db *db, const char *sql_text)
{
	int rc;

	if (db->mysql == NULL && (rc = db_connect(db)) != DB_OK)
		return rc;
	return simple_query(db, sql_text);
}
