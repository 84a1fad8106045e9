/*
 * config: the JSON file, the environment overrides and every rule about them.
 *
 * Each JSON object (the top level, computeRates, database, each plan) is
 * described by one table of keys: name, type, bounds, default and where the
 * value lands.  One engine applies a table to an object, so adding a key is
 * adding a line.  Order of work: defaults, the file, the environment
 * (which wins), then the rules that span several keys.  Any error frees
 * everything and names the key; no error message ever contains a value that
 * could be a secret.
 */
#include "build-config.h" /* configure's switches */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "json_util.h"
#include "money.h"

#ifndef BILLING_DEFAULT_CONFIG
#define BILLING_DEFAULT_CONFIG "/etc/streamspace-billing/billing.json"
#endif

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 16
#define STR_MAX 4096		/* any string value, in bytes */
#define PATH_TEXT 192		/* a key path in a message */
#define JWT_SECRET_MIN 32	/* the SHA-256 output size */

enum ktype {
	K_BOOL,		/* int 0/1 (default may be -1: "not given") */
	K_INT,		/* int in [min, max] */
	K_LONG,		/* long in [min, max] */
	K_UINT,		/* unsigned in [min, max] */
	K_MODE,		/* int file mode: "0660" or an integer 0..0777 */
	K_MONEY,	/* int64_t micro-units, >= 0, at most `decimals` */
	K_STR,		/* char *, [min, max] bytes, no control characters */
	K_CUSTOM	/* parse() does it all */
};

#define KF_REQUIRED	0x1	/* must be present and not null */
#define KF_NCPU		0x2	/* default: online CPUs, clamped to bounds */

typedef int (*custom_fn)(struct json_object *, void *, const char *,
    char *, size_t);

struct key {
	const char *name;
	enum ktype type;
	size_t off;			/* into the table's base struct */
	long long min, max;		/* values, or string lengths */
	long long def;			/* numeric default */
	const char *sdef;		/* K_STR default, NULL for none */
	int decimals;			/* K_MONEY */
	const char *(*check)(const char *); /* K_STR: NULL or a reason */
	custom_fn parse;		/* K_CUSTOM */
	unsigned flags;
};

#define CF(f) offsetof(struct billing_config, f)
#define KBOOL(n, o, d) \
	{ n, K_BOOL, o, 0, 1, d, NULL, 0, NULL, NULL, 0 }
#define KINT(n, o, lo, hi, d) \
	{ n, K_INT, o, lo, hi, d, NULL, 0, NULL, NULL, 0 }
#define KLONG(n, o, lo, hi, d) \
	{ n, K_LONG, o, lo, hi, d, NULL, 0, NULL, NULL, 0 }
#define KUINT(n, o, lo, hi, d) \
	{ n, K_UINT, o, lo, hi, d, NULL, 0, NULL, NULL, 0 }
#define KMODE(n, o, d) \
	{ n, K_MODE, o, 0, 0777, d, NULL, 0, NULL, NULL, 0 }
#define KMONEY(n, o, dec, fl) \
	{ n, K_MONEY, o, 0, 0, 0, NULL, dec, NULL, NULL, fl }
#define KSTR(n, o, lo, hi, d, chk, fl) \
	{ n, K_STR, o, lo, hi, 0, d, 0, chk, NULL, fl }
#define KCUSTOM(n, fn, fl) \
	{ n, K_CUSTOM, 0, 0, 0, 0, NULL, 0, NULL, fn, fl }
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

static const char *const mode_names[] = { "usage", "subscription", "hybrid" };

static void seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Key names and paths come from the file: keep them short and printable. */
static void
safe_text(char *dst, size_t size, const char *src, size_t max)
{
	size_t i, n = 0;

	for (i = 0; src[i] != '\0' && n + 4 < size; i++) {
		if (i == max) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		dst[n++] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
	}
	dst[n] = '\0';
}

static void
join_path(char *dst, size_t size, const char *prefix, const char *key)
{
	char safe[80];

	safe_text(safe, sizeof(safe), key, 64);
	if (prefix[0] == '\0')
		snprintf(dst, size, "%s", safe);
	else
		snprintf(dst, size, "%s.%s", prefix, safe);
}

/* Secrets are wiped before their memory goes back. */
static void
free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* String rules: each returns NULL when s is fine, else the reason. */

static const char *
check_url(const char *s)
{
	const char *host;

	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return "must start with http:// or https://";
	if (*host == '\0' || *host == '/')
		return "must name a host after the scheme";
	if (strchr(s, ' ') != NULL)
		return "must not contain spaces";
	return NULL;
}

static const char *
check_unix_path(const char *p)
{
	if (p[0] != '/')
		return "must be an absolute path";
	if (strlen(p) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return "socket path is too long";
	return NULL;
}

static const char *
check_listen(const char *s)
{
	const char *colon, *p, *bad = "must be \"unix:/path\", \"/path\" or "
	    "\"host:port\" with a port from 1 to 65535";
	long port = 0;

	if (strncmp(s, "unix:", 5) == 0)
		return check_unix_path(s + 5);
	if (s[0] == '/')
		return check_unix_path(s);
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return bad;
	if (colon[1] == '\0' || strlen(colon + 1) > 5)
		return bad;
	for (p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return bad;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return bad;
	if (s[0] == '[') {
		/* [IPv6]:port */
		if (colon[-1] != ']' || colon - s < 3)
			return bad;
		for (p = s + 1; p < colon - 1; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				return bad;
		return NULL;
	}
	for (p = s; p < colon; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_", *p) == NULL)
			return bad;
	return NULL;
}

static const char *
check_abs_path(const char *s)
{
	return s[0] == '/' ? NULL : "must be an absolute path";
}

static const char *
check_currency(const char *s)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (s[i] < 'a' || s[i] > 'z')
			break;
	if (i != 3 || s[3] != '\0')
		return "must be a lower-case ISO 4217 code of 3 letters, "
		    "such as \"usd\"";
	return NULL;
}

static const char *
check_cron(const char *s)
{
	int fields = 0, in_field = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t') {
			in_field = 0;
			continue;
		}
		if (strchr("0123456789*/,-abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", *s) == NULL)
			return "must be a cron expression of 5 fields, "
			    "such as \"0 * * * *\"";
		if (!in_field)
			fields++;
		in_field = 1;
	}
	if (fields != 5)
		return "must be a cron expression of 5 fields, "
		    "such as \"0 * * * *\"";
	return NULL;
}

static const char *
check_jwt_secret(const char *s)
{
	if (strlen(s) < JWT_SECRET_MIN)
		return "must be at least 32 bytes: an HS256 key shorter than "
		    "the SHA-256 output is weak";
	return NULL;
}

static const char *
check_plan_id(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *s) == NULL)
			return "must be 1 to 64 characters of a-z, 0-9, '_' "
			    "and '-'";
	return NULL;
}

/* The tables.  Custom handlers come first, then the tables they use. */

static int parse_object(struct json_object *, const struct key *, size_t,
    void *, const char *, char *, size_t);

static int
parse_mode(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	const char *s;
	size_t i;

	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		for (i = 0; i < NKEYS(mode_names); i++) {
			if (strcmp(s, mode_names[i]) == 0) {
				cfg->billing_mode = (enum billing_mode)i;
				return 0;
			}
		}
	}
	seterr(err, errlen, "%s: must be \"usage\", \"subscription\" or "
	    "\"hybrid\"", path);
	return -1;
}

static int
parse_interval(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct plan *p = base;
	const char *s;

	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		if (strcmp(s, "month") == 0) {
			p->interval = INTERVAL_MONTH;
			return 0;
		}
		if (strcmp(s, "year") == 0) {
			p->interval = INTERVAL_YEAR;
			return 0;
		}
	}
	seterr(err, errlen, "%s: must be \"month\" or \"year\"", path);
	return -1;
}

static void
clear_webhook_secrets(struct billing_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_stripe_webhook_secrets; i++) {
		free_secret(cfg->stripe_webhook_secrets[i]);
		cfg->stripe_webhook_secrets[i] = NULL;
	}
	cfg->n_stripe_webhook_secrets = 0;
}

/* Appends one secret of len bytes at s (not NUL-terminated) to the list. */
static int
add_webhook_secret(struct billing_config *cfg, const char *s, size_t len,
    const char *path, char *err, size_t errlen)
{
	char *copy;

	if (len == 0) {
		seterr(err, errlen, "%s: empty secret in the list", path);
		return -1;
	}
	if (cfg->n_stripe_webhook_secrets == CONFIG_MAX_WEBHOOK_SECRETS) {
		seterr(err, errlen, "%s: at most %d secrets", path,
		    CONFIG_MAX_WEBHOOK_SECRETS);
		return -1;
	}
	if (len > STR_MAX) {
		seterr(err, errlen, "%s: a secret is longer than %d bytes",
		    path, STR_MAX);
		return -1;
	}
	if ((copy = strndup(s, len)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (strlen(copy) != len || has_control(copy)) {
		free_secret(copy);
		seterr(err, errlen, "%s: must not contain control characters",
		    path);
		return -1;
	}
	cfg->stripe_webhook_secrets[cfg->n_stripe_webhook_secrets++] = copy;
	return 0;
}

/* "a,b, c": items trimmed of blanks, none empty (a stray comma is a typo). */
static int
add_webhook_csv(struct billing_config *cfg, const char *s, size_t len,
    const char *path, char *err, size_t errlen)
{
	const char *end = s + len, *item = s, *stop, *a, *b;

	for (;;) {
		if ((stop = memchr(item, ',', (size_t)(end - item))) == NULL)
			stop = end;
		a = item;
		b = stop;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (add_webhook_secret(cfg, a, (size_t)(b - a), path, err,
		    errlen) == -1)
			return -1;
		if (stop == end)
			return 0;
		item = stop + 1;
	}
}

static int
parse_webhook_secrets(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *item;
	size_t i, n;

	clear_webhook_secrets(cfg);
	if (json_object_is_type(val, json_type_string))
		return add_webhook_csv(cfg, json_object_get_string(val),
		    (size_t)json_object_get_string_len(val), path, err, errlen);
	if (!json_object_is_type(val, json_type_array))
		goto bad;
	n = json_object_array_length(val);
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		if (!json_object_is_type(item, json_type_string))
			goto bad;
		if (add_webhook_secret(cfg, json_object_get_string(item),
		    (size_t)json_object_get_string_len(item), path, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
bad:
	seterr(err, errlen, "%s: must be a string (comma-separated for "
	    "rotation) or an array of strings", path);
	return -1;
}

static const struct key rate_keys[] = {
	KMONEY("cpu_per_core_hour", CF(cpu_per_core_hour), MONEY_DECIMALS, 0),
	KMONEY("memory_per_gb_hour", CF(memory_per_gb_hour), MONEY_DECIMALS, 0),
	KMONEY("storage_per_gb_month", CF(storage_per_gb_month),
	    MONEY_DECIMALS, 0),
};

#define DF(f) offsetof(struct db_config, f)
static const struct key db_keys[] = {
	KSTR("host", DF(host), 1, 255, NULL, NULL, 0),
	KUINT("port", DF(port), 0, 65535, 0),
	KSTR("socket", DF(socket), 1, 4095, NULL, check_abs_path, 0),
	KSTR("user", DF(user), 1, 255, "billing", NULL, 0),
	KSTR("password", DF(password), 1, STR_MAX, NULL, NULL, 0),
	KSTR("name", DF(name), 1, 64, "billing", NULL, 0),
	KUINT("readTimeoutSeconds", DF(read_timeout), 0, 3600, 0),
};

#define PF(f) offsetof(struct plan, f)
static const struct key plan_keys[] = {
	KSTR("id", PF(id), 1, 64, NULL, check_plan_id, KF_REQUIRED),
	KSTR("name", PF(name), 1, 200, NULL, NULL, KF_REQUIRED),
	KMONEY("price", PF(price), 2, KF_REQUIRED),
	KCUSTOM("interval", parse_interval, 0),
	KMONEY("cpu_limit", PF(cpu_limit), MONEY_DECIMALS, KF_REQUIRED),
	KMONEY("memory_limit", PF(memory_limit), MONEY_DECIMALS, KF_REQUIRED),
	KMONEY("storage_limit", PF(storage_limit), MONEY_DECIMALS, KF_REQUIRED),
	KSTR("stripe_price_id", PF(stripe_price_id), 1, 255, NULL, NULL, 0),
};

static int
parse_rates(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	if (!json_object_is_type(val, json_type_object)) {
		seterr(err, errlen, "%s: must be an object", path);
		return -1;
	}
	return parse_object(val, rate_keys, NKEYS(rate_keys), base, path,
	    err, errlen);
}

static int
parse_database(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;

	if (!json_object_is_type(val, json_type_object)) {
		seterr(err, errlen, "%s: must be an object", path);
		return -1;
	}
	return parse_object(val, db_keys, NKEYS(db_keys), &cfg->database,
	    path, err, errlen);
}

static int
parse_plans(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *elem;
	struct plan *p, *q;
	char ppath[PATH_TEXT];
	size_t i, j, n;

	if (!json_object_is_type(val, json_type_array)) {
		seterr(err, errlen, "%s: must be an array of plans", path);
		return -1;
	}
	if ((n = json_object_array_length(val)) > CONFIG_MAX_PLANS) {
		seterr(err, errlen, "%s: at most %d plans", path,
		    CONFIG_MAX_PLANS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(ppath, sizeof(ppath), "%s[%zu]", path, i);
		elem = json_object_array_get_idx(val, i);
		if (!json_object_is_type(elem, json_type_object)) {
			seterr(err, errlen, "%s: must be an object", ppath);
			return -1;
		}
		p = &cfg->plans[i];
		cfg->n_plans = i + 1;	/* config_free sees what we stored */
		if (parse_object(elem, plan_keys, NKEYS(plan_keys), p, ppath,
		    err, errlen) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			q = &cfg->plans[j];
			if (strcmp(p->id, q->id) == 0) {
				seterr(err, errlen, "%s.id: duplicate plan id "
				    "\"%s\"", ppath, p->id);
				return -1;
			}
			/* webhooks find a plan by its price id */
			if (p->stripe_price_id != NULL &&
			    q->stripe_price_id != NULL &&
			    strcmp(p->stripe_price_id, q->stripe_price_id) == 0) {
				seterr(err, errlen, "%s.stripe_price_id: also "
				    "used by plan \"%s\"", ppath, q->id);
				return -1;
			}
		}
	}
	return 0;
}

static const struct key top_keys[] = {
	/* the seed's keys */
	KBOOL("enabled", CF(enabled), 1),
	KCUSTOM("billingMode", parse_mode, 0),
	KCUSTOM("computeRates", parse_rates, 0),
	KBOOL("stripeEnabled", CF(stripe_enabled), -1),
	KSTR("stripeSecretKey", CF(stripe_secret_key), 1, STR_MAX, NULL,
	    NULL, 0),
	KCUSTOM("stripeWebhookSecret", parse_webhook_secrets, 0),
	KCUSTOM("subscriptionPlans", parse_plans, 0),
	KSTR("usageCalculationInterval", CF(usage_calculation_interval), 1,
	    255, "0 * * * *", check_cron, 0),
	KINT("invoiceDay", CF(invoice_day), 1, 28, 1),
	KINT("alertThreshold", CF(alert_threshold), 1, 100, 80),
	KBOOL("autoSuspendOnOverage", CF(auto_suspend_on_overage), 0),
	KINT("gracePeriodDays", CF(grace_period_days), 0, 365, 7),
	/* ours */
	KCUSTOM("database", parse_database, 0),
	KSTR("listen", CF(listen), 1, 1024,
	    "unix:/run/streamspace-billing/billingd.sock", check_listen, 0),
	KMODE("listenMode", CF(listen_mode), 0660),
	{ "workers", K_INT, CF(workers), 1, 256, 1, NULL, 0, NULL, NULL,
	    KF_NCPU },
	KLONG("maxRequests", CF(max_requests), 0, 100000000, 10000),
	KSTR("jwtSecret", CF(jwt_secret), 1, STR_MAX, NULL, check_jwt_secret,
	    0),
	KSTR("jwtPublicKeyFile", CF(jwt_public_key_file), 1, 4095, NULL, NULL,
	    0),
	KSTR("currency", CF(currency), 1, 255, "usd", check_currency, 0),
	KINT("invoiceDueDays", CF(invoice_due_days), 0, 365, 14),
	KINT("stripeTimeoutSeconds", CF(stripe_timeout_seconds), 1, 120, 10),
	KINT("invoiceDraftHours", CF(invoice_draft_hours), 0, 720, 0),
	KINT("sessionTimeoutMinutes", CF(session_timeout_minutes), 1, 10080,
	    15),
	KSTR("eventsWebhookUrl", CF(events_webhook_url), 1, STR_MAX, NULL,
	    check_url, 0),
	KSTR("eventsWebhookSecret", CF(events_webhook_secret), 1, STR_MAX,
	    NULL, NULL, 0),
	KSTR("platformSuspendUrl", CF(platform_suspend_url), 1, STR_MAX, NULL,
	    check_url, 0),
	KSTR("publicBaseUrl", CF(public_base_url), 1, STR_MAX, NULL,
	    check_url, 0),
	KSTR("stripeApiBase", CF(stripe_api_base), 1, STR_MAX,
	    "https://api.stripe.com", check_url, 0),
	KSTR("defaultPlan", CF(default_plan), 1, 64, NULL, NULL, 0),
};

/* parse_object keeps a 64-bit mask of the keys it saw */
_Static_assert(NKEYS(top_keys) <= 64 && NKEYS(plan_keys) <= 64 &&
    NKEYS(db_keys) <= 64 && NKEYS(rate_keys) <= 64, "key table too long");

/* Environment variables that replace a file value when set and non-empty. */
struct env_override {
	const char *env;
	const char *key;	/* the file key it replaces, for messages */
	size_t off;		/* a char * in struct billing_config */
	const char *(*check)(const char *);
};

static const struct env_override env_overrides[] = {
	{ "BILLING_JWT_SECRET", "jwtSecret", CF(jwt_secret), check_jwt_secret },
	{ "STRIPE_SECRET_KEY", "stripeSecretKey", CF(stripe_secret_key), NULL },
	{ "BILLING_DB_PASSWORD", "database.password", CF(database.password),
	    NULL },
	{ "BILLING_EVENTS_WEBHOOK_URL", "eventsWebhookUrl",
	    CF(events_webhook_url), check_url },
	{ "BILLING_EVENTS_WEBHOOK_SECRET", "eventsWebhookSecret",
	    CF(events_webhook_secret), NULL },
	{ "BILLING_PLATFORM_SUSPEND_URL", "platformSuspendUrl",
	    CF(platform_suspend_url), check_url },
	{ "STRIPE_API_BASE", "stripeApiBase", CF(stripe_api_base), check_url },
};

/* The engine. */

static int
set_defaults(const struct key *tab, size_t n, void *base, char *err,
    size_t errlen)
{
	const struct key *k;
	char *at;
	long ncpu;
	size_t i;

	for (i = 0; i < n; i++) {
		k = &tab[i];
		at = (char *)base + k->off;
		switch (k->type) {
		case K_BOOL:
		case K_INT:
		case K_MODE:
			*(int *)(void *)at = (int)k->def;
			if (k->flags & KF_NCPU) {
				ncpu = sysconf(_SC_NPROCESSORS_ONLN);
				if (ncpu < k->min)
					ncpu = k->min;
				if (ncpu > k->max)
					ncpu = k->max;
				*(int *)(void *)at = (int)ncpu;
			}
			break;
		case K_LONG:
			*(long *)(void *)at = (long)k->def;
			break;
		case K_UINT:
			*(unsigned *)(void *)at = (unsigned)k->def;
			break;
		case K_MONEY:
			*(int64_t *)(void *)at = 0;
			break;
		case K_STR:
			if (k->sdef != NULL &&
			    (*(char **)(void *)at = strdup(k->sdef)) == NULL) {
				seterr(err, errlen, "%s: out of memory",
				    k->name);
				return -1;
			}
			break;
		case K_CUSTOM:
			break;
		}
	}
	return 0;
}

static int
apply_string(const struct key *k, struct json_object *val, char *at,
    const char *path, char *err, size_t errlen)
{
	const char *s, *why;
	size_t len;
	char *copy;

	if (!json_object_is_type(val, json_type_string)) {
		seterr(err, errlen, "%s: must be a string", path);
		return -1;
	}
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (len == 0) {
		seterr(err, errlen, "%s: must not be empty (leave the key out "
		    "or use null)", path);
		return -1;
	}
	if ((long long)len < k->min || (long long)len > k->max) {
		seterr(err, errlen, "%s: must be %lld to %lld bytes long", path,
		    k->min, k->max);
		return -1;
	}
	if (strlen(s) != len || has_control(s)) {
		seterr(err, errlen, "%s: must not contain control characters",
		    path);
		return -1;
	}
	if (k->check != NULL && (why = k->check(s)) != NULL) {
		seterr(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if ((copy = strdup(s)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		return -1;
	}
	free_secret(*(char **)(void *)at);
	*(char **)(void *)at = copy;
	return 0;
}

static int
apply_mode(struct json_object *val, char *at, const char *path, char *err,
    size_t errlen)
{
	const char *s;
	int64_t v;
	size_t i;

	if (json_object_is_type(val, json_type_int)) {
		v = json_object_get_int64(val);
		if (v >= 0 && v <= 0777) {
			*(int *)(void *)at = (int)v;
			return 0;
		}
	} else if (json_object_is_type(val, json_type_string)) {
		/* octal digits, as chmod takes them: "660" or "0660" */
		s = json_object_get_string(val);
		for (i = 0, v = 0; i < 4 && s[i] >= '0' && s[i] <= '7'; i++)
			v = v * 8 + (s[i] - '0');
		if (i > 0 && s[i] == '\0' && v <= 0777) {
			*(int *)(void *)at = (int)v;
			return 0;
		}
	}
	seterr(err, errlen, "%s: must be an octal string such as \"0660\" or "
	    "an integer from 0 to 511", path);
	return -1;
}

static int
apply_key(const struct key *k, struct json_object *val, void *base,
    const char *path, char *err, size_t errlen)
{
	char *at = (char *)base + k->off;
	int64_t v;

	switch (k->type) {
	case K_BOOL:
		if (!json_object_is_type(val, json_type_boolean)) {
			seterr(err, errlen, "%s: must be true or false", path);
			return -1;
		}
		*(int *)(void *)at = json_object_get_boolean(val) ? 1 : 0;
		return 0;
	case K_INT:
	case K_LONG:
	case K_UINT:
		/* json-c clamps huge integers to INT64_MAX: the bounds catch it */
		if (!json_object_is_type(val, json_type_int) ||
		    (v = json_object_get_int64(val)) < k->min || v > k->max) {
			seterr(err, errlen, "%s: must be an integer from %lld "
			    "to %lld", path, k->min, k->max);
			return -1;
		}
		if (k->type == K_INT)
			*(int *)(void *)at = (int)v;
		else if (k->type == K_LONG)
			*(long *)(void *)at = (long)v;
		else
			*(unsigned *)(void *)at = (unsigned)v;
		return 0;
	case K_MODE:
		return apply_mode(val, at, path, err, errlen);
	case K_MONEY:
		/* from the number's own text: 0.1 is exactly 100000 */
		if (json_get_money(val, k->decimals, &v) == -1 || v < 0) {
			seterr(err, errlen, "%s: must be a non-negative decimal "
			    "with at most %d decimals", path, k->decimals);
			return -1;
		}
		*(int64_t *)(void *)at = v;
		return 0;
	case K_STR:
		return apply_string(k, val, at, path, err, errlen);
	case K_CUSTOM:
		return k->parse(val, base, path, err, errlen);
	}
	return -1;
}

/*
 * Applies tab to the JSON object obj, storing into base.  Unknown keys are
 * errors (they are typos); JSON null leaves the default.
 */
static int
parse_object(struct json_object *obj, const struct key *tab, size_t n,
    void *base, const char *prefix, char *err, size_t errlen)
{
	struct json_object_iterator it, end;
	struct json_object *val;
	const char *name;
	char path[PATH_TEXT];
	uint64_t seen = 0;
	size_t i;

	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		val = json_object_iter_peek_value(&it);
		join_path(path, sizeof(path), prefix, name);
		for (i = 0; i < n; i++)
			if (strcmp(tab[i].name, name) == 0)
				break;
		if (i == n) {
			seterr(err, errlen, "%s: unknown key", path);
			return -1;
		}
		if (val == NULL)
			continue;
		seen |= (uint64_t)1 << i;
		if (apply_key(&tab[i], val, base, path, err, errlen) == -1)
			return -1;
	}
	for (i = 0; i < n; i++) {
		if ((tab[i].flags & KF_REQUIRED) && !(seen & ((uint64_t)1 << i))) {
			join_path(path, sizeof(path), prefix, tab[i].name);
			seterr(err, errlen, "%s: required", path);
			return -1;
		}
	}
	return 0;
}

static const char *
env_value(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

static int
apply_env(struct billing_config *cfg, char *err, size_t errlen)
{
	const struct env_override *e;
	const char *v, *why;
	char **at, *copy;
	size_t i;

	for (i = 0; i < NKEYS(env_overrides); i++) {
		e = &env_overrides[i];
		if ((v = env_value(e->env)) == NULL)
			continue;
		why = NULL;
		if (strlen(v) > STR_MAX)
			why = "too long";
		else if (has_control(v))
			why = "must not contain control characters";
		else if (e->check != NULL)
			why = e->check(v);
		if (why != NULL) {
			seterr(err, errlen, "%s (from %s): %s", e->key, e->env,
			    why);
			return -1;
		}
		if ((copy = strdup(v)) == NULL) {
			seterr(err, errlen, "%s: out of memory", e->env);
			return -1;
		}
		at = (char **)(void *)((char *)cfg + e->off);
		free_secret(*at);
		*at = copy;
	}
	if ((v = env_value("STRIPE_TIMEOUT_SECONDS")) != NULL) {
		char *end;
		long secs = strtol(v, &end, 10);

		if (*end != '\0' || secs < 1 || secs > 120) {
			seterr(err, errlen, "stripeTimeoutSeconds (from "
			    "STRIPE_TIMEOUT_SECONDS): must be an integer from 1 "
			    "to 120");
			return -1;
		}
		cfg->stripe_timeout_seconds = (int)secs;
	}
	if ((v = env_value("STRIPE_WEBHOOK_SECRET")) != NULL) {
		clear_webhook_secrets(cfg);
		if (add_webhook_csv(cfg, v, strlen(v),
		    "stripeWebhookSecret (from STRIPE_WEBHOOK_SECRET)", err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}

/* Rules that span keys, on the final values (file and environment). */
static int
cross_check(struct billing_config *cfg, char *err, size_t errlen)
{
	char *free_id;

	if (cfg->jwt_secret == NULL && cfg->jwt_public_key_file == NULL) {
		seterr(err, errlen, "jwtSecret: one of jwtSecret or "
		    "jwtPublicKeyFile is required (or BILLING_JWT_SECRET)");
		return -1;
	}
	/* not given: on iff a key is; true demands a key; false wins */
	if (cfg->stripe_enabled == -1)
		cfg->stripe_enabled = cfg->stripe_secret_key != NULL;
	else if (cfg->stripe_enabled && cfg->stripe_secret_key == NULL) {
		seterr(err, errlen, "stripeSecretKey: required when "
		    "stripeEnabled is true (or set STRIPE_SECRET_KEY)");
		return -1;
	}
	/* events are signed: a URL without a secret could only send unsigned */
	if (cfg->events_webhook_url != NULL &&
	    cfg->events_webhook_secret == NULL) {
		seterr(err, errlen, "eventsWebhookSecret: required when "
		    "eventsWebhookUrl is set");
		return -1;
	}
	if (cfg->billing_mode != MODE_USAGE && cfg->n_plans == 0) {
		seterr(err, errlen, "subscriptionPlans: at least one plan is "
		    "required when billingMode is \"%s\"",
		    config_mode_name(cfg->billing_mode));
		return -1;
	}
	if (cfg->default_plan != NULL) {
		if (config_find_plan(cfg, cfg->default_plan) == NULL) {
			seterr(err, errlen, "defaultPlan: no plan in "
			    "subscriptionPlans has this id");
			return -1;
		}
	} else if (config_find_plan(cfg, "free") != NULL) {
		if ((free_id = strdup("free")) == NULL) {
			seterr(err, errlen, "defaultPlan: out of memory");
			return -1;
		}
		cfg->default_plan = free_id;
	}
	return 0;
}

/* Reports where the tokener stopped, as a line number. */
static void
json_error(struct json_tokener *tok, const char *json, size_t len,
    char *err, size_t errlen)
{
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok), i;
	unsigned line = 1;

	for (i = 0; i < end && i < len; i++)
		if (json[i] == '\n')
			line++;
	if (jerr == json_tokener_continue || jerr == json_tokener_success)
		seterr(err, errlen, "line %u: unexpected end of JSON",
		    line);
	else if (jerr == json_tokener_error_depth)
		seterr(err, errlen, "line %u: nested deeper than %d "
		    "levels", line, CONFIG_MAX_DEPTH);
	else
		seterr(err, errlen, "line %u: invalid JSON: %s", line,
		    json_tokener_error_desc(jerr));
}

static struct json_object *
parse_json(const char *json, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	size_t i;

	if (len > CONFIG_MAX_BYTES) {
		seterr(err, errlen, "larger than 1 MiB");
		goto out;
	}
	if (len == 0) {
		seterr(err, errlen, "empty, expected a JSON object");
		goto out;
	}
	if (memchr(json, '\0', len) != NULL) {
		seterr(err, errlen, "contains a NUL byte");
		goto out;
	}
	if ((tok = json_tokener_new_ex(CONFIG_MAX_DEPTH)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (root == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success) {
		json_error(tok, json, len, err, errlen);
		json_object_put(root);
		root = NULL;
		goto out;
	}
	for (i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (strchr(" \t\r\n", json[i]) == NULL) {
			seterr(err, errlen, "data after the JSON "
			    "object");
			json_object_put(root);
			root = NULL;
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		seterr(err, errlen, "must be a JSON object");
		json_object_put(root);
		root = NULL;
	}
out:
	if (tok != NULL)	/* json_tokener_free(NULL) crashes */
		json_tokener_free(tok);
	return root;
}

/* Caller frees with config_free; NULL with err set on any error. */
struct billing_config *
config_parse(const char *json, size_t len, char *err, size_t errlen)
{
	struct billing_config *cfg = NULL;
	struct json_object *root = NULL;
	int rc = -1;

	seterr(err, errlen, "unknown error");
	if (json == NULL)
		len = 0;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	if (set_defaults(top_keys, NKEYS(top_keys), cfg, err, errlen) == -1 ||
	    set_defaults(rate_keys, NKEYS(rate_keys), cfg, err, errlen) == -1 ||
	    set_defaults(db_keys, NKEYS(db_keys), &cfg->database, err,
	    errlen) == -1)
		goto out;
	if ((root = parse_json(json, len, err, errlen)) == NULL)
		goto out;
	if (parse_object(root, top_keys, NKEYS(top_keys), cfg, "", err,
	    errlen) == -1)
		goto out;
	if (apply_env(cfg, err, errlen) == -1)
		goto out;
	if (cross_check(cfg, err, errlen) == -1)
		goto out;
	rc = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
out:
	json_object_put(root);
	if (rc == -1) {
		config_free(cfg);
		cfg = NULL;
	}
	return cfg;
}

/* Reads at most CONFIG_MAX_BYTES of path into *buf (caller frees). */
static int
read_file(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
	char safe[PATH_TEXT], *p = NULL;
	size_t n = 0;
	ssize_t r;
	int fd = -1, rc = -1;

	safe_text(safe, sizeof(safe), path, 160);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	/* one byte more than the limit tells "too large" from "just fits" */
	if ((p = malloc(CONFIG_MAX_BYTES + 1)) == NULL)
		goto fail;
	while (n < CONFIG_MAX_BYTES + 1) {
		r = read(fd, p + n, CONFIG_MAX_BYTES + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_MAX_BYTES) {
		seterr(err, errlen, "%s: larger than 1 MiB", safe);
		goto out;
	}
	*buf = p;
	*len = n;
	p = NULL;
	rc = 0;
	goto out;
fail:
	seterr(err, errlen, "%s: cannot read: %s", safe, strerror(errno));
out:
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
	if (fd != -1)
		close(fd);
	return rc;
}

const char *
config_default_path(void)
{
	const char *p = env_value("BILLING_CONFIG");

	return p != NULL ? p : BILLING_DEFAULT_CONFIG;
}

/* Caller frees with config_free; NULL with err set on any error. */
struct billing_config *
config_load(const char *path, char *err, size_t errlen)
{
	struct billing_config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;

	if (path == NULL)
		path = config_default_path();
	if (read_file(path, &buf, &len, err, errlen) == -1)
		goto out;
	cfg = config_parse(buf, len, err, errlen);
out:
	if (buf != NULL) {
		explicit_bzero(buf, len);	/* it held the secrets */
		free(buf);
	}
	return cfg;
}

void
config_free(struct billing_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free_secret(cfg->stripe_secret_key);
	clear_webhook_secrets(cfg);
	for (i = 0; i < CONFIG_MAX_PLANS; i++) {
		free(cfg->plans[i].id);
		free(cfg->plans[i].name);
		free(cfg->plans[i].stripe_price_id);
	}
	free(cfg->usage_calculation_interval);
	free(cfg->database.host);
	free(cfg->database.socket);
	free(cfg->database.user);
	free_secret(cfg->database.password);
	free(cfg->database.name);
	free(cfg->listen);
	free_secret(cfg->jwt_secret);
	free(cfg->jwt_public_key_file);
	free(cfg->currency);
	free(cfg->events_webhook_url);
	free_secret(cfg->events_webhook_secret);
	free(cfg->platform_suspend_url);
	free(cfg->public_base_url);
	free(cfg->stripe_api_base);
	free(cfg->default_plan);
	free(cfg);
}

/* Borrowed from cfg. */
const struct plan *
config_find_plan(const struct billing_config *cfg, const char *id)
{
	size_t i;

	if (cfg == NULL || id == NULL)
		return NULL;
	for (i = 0; i < cfg->n_plans; i++)
		if (cfg->plans[i].id != NULL && strcmp(cfg->plans[i].id, id) == 0)
			return &cfg->plans[i];
	return NULL;
}

const char *
config_mode_name(enum billing_mode mode)
{
	if ((size_t)mode < NKEYS(mode_names))
		return mode_names[mode];
	return "unknown";
}
