/*
 * config_keys: the declarative key tables of the config file and their
 * custom handlers.
 *
 * Each JSON object (the top level, computeRates, database, each plan) is
 * described by one table of keys: name, type, bounds, default and where the
 * value lands.  The engine (config_engine.c) applies a table to an object,
 * so adding a key is adding a line here.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "config_impl.h"
#include "jwt.h"
#include "money.h"

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

const char *const config_mode_names[MODE_HYBRID + 1] = {
	"usage", "subscription", "hybrid"
};

/* The tables.  Custom handlers come first, then the tables they use. */

static int
parse_mode(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	const char *s;
	size_t i;

	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		for (i = 0; i < NKEYS(config_mode_names); i++) {
			if (strcmp(s, config_mode_names[i]) == 0) {
				cfg->billing_mode = (enum billing_mode)i;
				return 0;
			}
		}
	}
	errbuf_set(err, errlen, "%s: must be \"usage\", \"subscription\" or "
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
	errbuf_set(err, errlen, "%s: must be \"month\" or \"year\"", path);
	return -1;
}

void
config_clear_secret_list(char **list, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		config_free_secret(list[i]);
		list[i] = NULL;
	}
	*n = 0;
}

void
config_clear_webhook_secrets(struct billing_config *cfg)
{
	config_clear_secret_list(cfg->stripe_webhook_secrets,
	    &cfg->n_stripe_webhook_secrets);
}

/* Appends one secret of len bytes at s (not NUL-terminated) to list. */
static int
add_webhook_secret(char **list, size_t *n, const char *s, size_t len,
    const char *path, char *err, size_t errlen)
{
	char *copy;

	if (len == 0) {
		errbuf_set(err, errlen, "%s: empty secret in the list",
		    path);
		return -1;
	}
	if (*n == CONFIG_MAX_WEBHOOK_SECRETS) {
		errbuf_set(err, errlen, "%s: at most %d secrets", path,
		    CONFIG_MAX_WEBHOOK_SECRETS);
		return -1;
	}
	if (len > STR_MAX) {
		errbuf_set(err, errlen, "%s: a secret is longer than %d "
		    "bytes", path, STR_MAX);
		return -1;
	}
	if ((copy = strndup(s, len)) == NULL) {
		errbuf_set(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (strlen(copy) != len || config_has_control(copy)) {
		config_free_secret(copy);
		errbuf_set(err, errlen, "%s: must not contain control "
		    "characters", path);
		return -1;
	}
	list[(*n)++] = copy;
	return 0;
}

/* "a,b, c": items trimmed of blanks, none empty (a stray comma is a typo). */
int
config_add_secrets_csv(char **list, size_t *n, const char *s, size_t len,
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
		if (add_webhook_secret(list, n, a, (size_t)(b - a), path, err,
		    errlen) == -1)
			return -1;
		if (stop == end)
			return 0;
		item = stop + 1;
	}
}

int
config_add_webhook_csv(struct billing_config *cfg, const char *s, size_t len,
    const char *path, char *err, size_t errlen)
{
	return config_add_secrets_csv(cfg->stripe_webhook_secrets,
	    &cfg->n_stripe_webhook_secrets, s, len, path, err, errlen);
}

/* A list of secrets: a string (comma-separated for rotation) or an array. */
static int
parse_secret_list(struct json_object *val, char **list, size_t *n,
    const char *path, char *err, size_t errlen)
{
	struct json_object *item;
	size_t i, count;

	config_clear_secret_list(list, n);
	if (json_object_is_type(val, json_type_string))
		return config_add_secrets_csv(list, n,
		    json_object_get_string(val),
		    (size_t)json_object_get_string_len(val), path, err, errlen);
	if (!json_object_is_type(val, json_type_array))
		goto bad;
	count = json_object_array_length(val);
	for (i = 0; i < count; i++) {
		item = json_object_array_get_idx(val, i);
		if (!json_object_is_type(item, json_type_string))
			goto bad;
		if (add_webhook_secret(list, n, json_object_get_string(item),
		    (size_t)json_object_get_string_len(item), path, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
bad:
	errbuf_set(err, errlen, "%s: must be a string (comma-separated for "
	    "rotation) or an array of strings", path);
	return -1;
}

static int
parse_webhook_secrets(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;

	return parse_secret_list(val, cfg->stripe_webhook_secrets,
	    &cfg->n_stripe_webhook_secrets, path, err, errlen);
}

static int
parse_streamspace_secrets(struct json_object *val, void *base,
    const char *path, char *err, size_t errlen)
{
	struct billing_config *cfg = base;

	return parse_secret_list(val, cfg->streamspace_webhook_secrets,
	    &cfg->n_streamspace_webhook_secrets, path, err, errlen);
}

/* checkoutReturnOrigins: an array of origins, kept lowercased. */
static int
parse_return_origins(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *item;
	const char *s, *why;
	char o[1024];
	size_t i, n;

	for (i = 0; i < cfg->n_checkout_return_origins; i++)
		free(cfg->checkout_return_origins[i]);
	cfg->n_checkout_return_origins = 0;
	if (!json_object_is_type(val, json_type_array) ||
	    (n = json_object_array_length(val)) > CONFIG_MAX_RETURN_ORIGINS) {
		errbuf_set(err, errlen, "%s: must be an array of at most %d "
		    "origins", path, CONFIG_MAX_RETURN_ORIGINS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		s = json_object_get_string(item);
		if (!json_object_is_type(item, json_type_string) ||
		    (why = config_check_origin(s)) != NULL ||
		    config_url_origin(s, o, sizeof(o)) != 0) {
			errbuf_set(err, errlen, "%s[%zu]: %s", path, i,
			    json_object_is_type(item, json_type_string) ?
			    (why ? why : "is too long") : "must be a string");
			return -1;
		}
		if ((cfg->checkout_return_origins[i] = strdup(o)) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", path);
			return -1;
		}
		cfg->n_checkout_return_origins = i + 1;
	}
	return 0;
}

/*
 * widgetFrameAncestors: at most 8 origins that may frame /billing/widget
 * besides its own and publicBaseUrl's; lowercased, host characters only
 * (they go into the widget's Content-Security-Policy as they are).
 */
static int
parse_frame_ancestors(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *item;
	const char *s, *why;
	char o[CONFIG_FRAME_ORIGIN_MAX + 1];
	size_t i, n;

	for (i = 0; i < cfg->n_widget_frame_ancestors; i++)
		free(cfg->widget_frame_ancestors[i]);
	cfg->n_widget_frame_ancestors = 0;
	if (!json_object_is_type(val, json_type_array) ||
	    (n = json_object_array_length(val)) > CONFIG_MAX_FRAME_ANCESTORS) {
		errbuf_set(err, errlen, "%s: must be an array of at most %d "
		    "origins", path, CONFIG_MAX_FRAME_ANCESTORS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		if (!json_object_is_type(item, json_type_string)) {
			errbuf_set(err, errlen, "%s[%zu]: must be a string", path,
			    i);
			return -1;
		}
		s = json_object_get_string(item);
		if ((size_t)json_object_get_string_len(item) != strlen(s) ||
		    config_url_origin(s, o, sizeof(o)) != 0) {
			errbuf_set(err, errlen, "%s[%zu]: must be an origin "
			    "http(s)://host[:port] of at most %d bytes", path, i,
			    CONFIG_FRAME_ORIGIN_MAX);
			return -1;
		}
		if (strlen(o) != strlen(s))
			why = "must be an origin: http(s)://host[:port], without "
			    "a path";
		else
			why = config_check_frame_origin(o);
		if (why != NULL) {
			errbuf_set(err, errlen, "%s[%zu]: %s", path, i, why);
			return -1;
		}
		if ((cfg->widget_frame_ancestors[i] = strdup(o)) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", path);
			return -1;
		}
		cfg->n_widget_frame_ancestors = i + 1;
	}
	return 0;
}

void
config_clear_user_claims(struct billing_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_jwt_user_claims; i++) {
		free(cfg->jwt_user_claims[i]);
		cfg->jwt_user_claims[i] = NULL;
	}
	cfg->n_jwt_user_claims = 0;
}

/* Appends a copy of one claim name to jwtUserClaims. */
static int
add_user_claim(struct billing_config *cfg, const char *name, const char *path,
    char *err, size_t errlen)
{
	if (cfg->n_jwt_user_claims == CONFIG_MAX_USER_CLAIMS) {
		errbuf_set(err, errlen, "%s: at most %d claim names", path,
		    CONFIG_MAX_USER_CLAIMS);
		return -1;
	}
	if ((cfg->jwt_user_claims[cfg->n_jwt_user_claims] = strdup(name)) ==
	    NULL) {
		errbuf_set(err, errlen, "%s: out of memory", path);
		return -1;
	}
	cfg->n_jwt_user_claims++;
	return 0;
}

/*
 * jwtUserClaims: 1 to 8 claim names, in order (the first a token has names
 * its user), each 1 to 64 bytes without control characters, none twice.
 */
static int
parse_user_claims(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *item;
	const char *s;
	size_t i, j, n, len;

	config_clear_user_claims(cfg);
	if (!json_object_is_type(val, json_type_array) ||
	    (n = json_object_array_length(val)) == 0 ||
	    n > CONFIG_MAX_USER_CLAIMS) {
		errbuf_set(err, errlen, "%s: must be an array of 1 to %d claim "
		    "names, such as [\"username\", \"sub\"]", path,
		    CONFIG_MAX_USER_CLAIMS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		if (!json_object_is_type(item, json_type_string)) {
			errbuf_set(err, errlen, "%s[%zu]: must be a string (a "
			    "claim name)", path, i);
			return -1;
		}
		s = json_object_get_string(item);
		len = (size_t)json_object_get_string_len(item);
		if (len == 0 || len > CONFIG_CLAIM_NAME_MAX || strlen(s) != len ||
		    config_has_control(s)) {
			errbuf_set(err, errlen, "%s[%zu]: a claim name is 1 to "
			    "%d bytes without control characters", path, i,
			    CONFIG_CLAIM_NAME_MAX);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(s, cfg->jwt_user_claims[j]) == 0) {
				errbuf_set(err, errlen, "%s[%zu]: listed twice",
				    path, i);
				return -1;
			}
		if (add_user_claim(cfg, s, path, err, errlen) == -1)
			return -1;
	}
	return 0;
}

static const struct key rate_keys[] = {
	KMONEY("cpu_per_core_hour", CF(cpu_per_core_hour), MONEY_DECIMALS, 0),
	KMONEY("memory_per_gb_hour", CF(memory_per_gb_hour), MONEY_DECIMALS, 0),
	KMONEY("storage_per_gb_month", CF(storage_per_gb_month),
	    MONEY_DECIMALS, 0),
};

#define SF(f) offsetof(struct db_ssl, f)
static const struct key db_ssl_keys[] = {
	KSTR("ca", SF(ca), 1, 4095, NULL, config_check_readable_file, 0),
	KSTR("cert", SF(cert), 1, 4095, NULL, config_check_readable_file, 0),
	KSTR("key", SF(key), 1, 4095, NULL, config_check_readable_file, 0),
	KBOOL("verifyServerCert", SF(verify), 1),
};

static int
parse_db_ssl(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct db_config *db = base;

	if (!json_object_is_type(val, json_type_object)) {
		errbuf_set(err, errlen, "%s: must be an object", path);
		return -1;
	}
	db->ssl.enabled = 1;
	if (config_set_defaults(db_ssl_keys, NKEYS(db_ssl_keys), &db->ssl, err,
	    errlen) == -1 ||
	    config_parse_object(val, db_ssl_keys, NKEYS(db_ssl_keys), &db->ssl,
	    path, err, errlen) == -1)
		return -1;
	if ((db->ssl.cert == NULL) != (db->ssl.key == NULL)) {
		errbuf_set(err, errlen, "%s: cert and key go together", path);
		return -1;
	}
	return 0;
}

#define DF(f) offsetof(struct db_config, f)
static const struct key db_keys[] = {
	KSTR("host", DF(host), 1, 255, NULL, NULL, 0),
	KUINT("port", DF(port), 0, 65535, 0),
	KSTR("socket", DF(socket), 1, 4095, NULL, config_check_abs_path, 0),
	KSTR("user", DF(user), 1, 255, "billing", NULL, 0),
	KSTR("password", DF(password), 1, STR_MAX, NULL, NULL, 0),
	KSTR("name", DF(name), 1, 64, "billing", NULL, 0),
	KUINT("readTimeoutSeconds", DF(read_timeout), 0, 3600, 0),
	KUINT("reportTimeoutSeconds", DF(report_timeout), 1, 86400, 300),
	KCUSTOM("ssl", parse_db_ssl, 0),
};

#define PF(f) offsetof(struct plan, f)
static const struct key plan_keys[] = {
	KSTR("id", PF(id), 1, 64, NULL, config_check_plan_id, KF_REQUIRED),
	KSTR("name", PF(name), 1, 200, NULL, NULL, KF_REQUIRED),
	KMONEY("price", PF(price), 2, KF_REQUIRED),
	KCUSTOM("interval", parse_interval, 0),
	KMONEY("cpu_limit", PF(cpu_limit), MONEY_DECIMALS, KF_REQUIRED),
	KMONEY("memory_limit", PF(memory_limit), MONEY_DECIMALS, KF_REQUIRED),
	KMONEY("storage_limit", PF(storage_limit), MONEY_DECIMALS, KF_REQUIRED),
	KSTR("stripe_price_id", PF(stripe_price_id), 1, 255, NULL, NULL, 0),
	KSTR("tax_rate_id", PF(tax_rate_id), 1, 64, NULL, NULL, 0),
};

static int
parse_rates(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	if (!json_object_is_type(val, json_type_object)) {
		errbuf_set(err, errlen, "%s: must be an object", path);
		return -1;
	}
	return config_parse_object(val, rate_keys, NKEYS(rate_keys), base, path,
	    err, errlen);
}

static int
parse_database(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;

	if (!json_object_is_type(val, json_type_object)) {
		errbuf_set(err, errlen, "%s: must be an object", path);
		return -1;
	}
	return config_parse_object(val, db_keys, NKEYS(db_keys), &cfg->database,
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
		errbuf_set(err, errlen, "%s: must be an array of plans",
		    path);
		return -1;
	}
	if ((n = json_object_array_length(val)) > CONFIG_MAX_PLANS) {
		errbuf_set(err, errlen, "%s: at most %d plans", path,
		    CONFIG_MAX_PLANS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(ppath, sizeof(ppath), "%s[%zu]", path, i);
		elem = json_object_array_get_idx(val, i);
		if (!json_object_is_type(elem, json_type_object)) {
			errbuf_set(err, errlen, "%s: must be an object",
			    ppath);
			return -1;
		}
		p = &cfg->plans[i];
		cfg->n_plans = i + 1;	/* config_free sees what we stored */
		if (config_parse_object(elem, plan_keys, NKEYS(plan_keys), p,
		    ppath, err, errlen) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			q = &cfg->plans[j];
			if (strcmp(p->id, q->id) == 0) {
				errbuf_set(err, errlen, "%s.id: duplicate "
				    "plan id \"%s\"", ppath, p->id);
				return -1;
			}
			/* webhooks find a plan by its price id */
			if (p->stripe_price_id != NULL &&
			    q->stripe_price_id != NULL &&
			    strcmp(p->stripe_price_id, q->stripe_price_id) == 0) {
				errbuf_set(err, errlen,
				    "%s.stripe_price_id: also used by plan "
				    "\"%s\"", ppath, q->id);
				return -1;
			}
		}
	}
	return 0;
}

/* --- taxes: taxRates, invoiceIssuer --------------------------------- */

#define TF(f) offsetof(struct tax_rate, f)
static const struct key tax_rate_keys[] = {
	KSTR("id", TF(id), 1, 64, NULL, config_check_plan_id, KF_REQUIRED),
	KSTR("name", TF(name), 1, 100, NULL, NULL, KF_REQUIRED),
	/* exactly from the number's text: a fifth decimal is an error */
	KMONEY("percent", TF(percent), 4, KF_REQUIRED),
	KBOOL("inclusive", TF(inclusive), 0),
};

static int
parse_tax_rates(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct json_object *elem;
	struct tax_rate *t;
	char tpath[PATH_TEXT];
	size_t i, j, n;

	if (!json_object_is_type(val, json_type_array)) {
		errbuf_set(err, errlen, "%s: must be an array of rates", path);
		return -1;
	}
	if ((n = json_object_array_length(val)) > CONFIG_MAX_TAX_RATES) {
		errbuf_set(err, errlen, "%s: at most %d rates", path,
		    CONFIG_MAX_TAX_RATES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(tpath, sizeof(tpath), "%s[%zu]", path, i);
		elem = json_object_array_get_idx(val, i);
		if (!json_object_is_type(elem, json_type_object)) {
			errbuf_set(err, errlen, "%s: must be an object", tpath);
			return -1;
		}
		t = &cfg->tax_rates[i];
		cfg->n_tax_rates = i + 1;	/* config_free sees what we stored */
		if (config_set_defaults(tax_rate_keys, NKEYS(tax_rate_keys), t,
		    err, errlen) == -1 ||
		    config_parse_object(elem, tax_rate_keys,
		    NKEYS(tax_rate_keys), t, tpath, err, errlen) == -1)
			return -1;
		if (t->percent > 100 * MONEY_SCALE) {
			errbuf_set(err, errlen, "%s.percent: must be 0 to 100",
			    tpath);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(t->id, cfg->tax_rates[j].id) == 0) {
				errbuf_set(err, errlen, "%s.id: duplicate rate "
				    "id \"%s\"", tpath, t->id);
				return -1;
			}
	}
	return 0;
}

/* invoiceIssuer.address: up to 6 lines of up to 200 bytes each. */
static int
parse_issuer_address(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct invoice_issuer *is = base;
	struct json_object *item;
	const char *s;
	size_t i, n, len;

	if (!json_object_is_type(val, json_type_array)) {
		errbuf_set(err, errlen, "%s: must be an array of lines", path);
		return -1;
	}
	if ((n = json_object_array_length(val)) > CONFIG_MAX_ADDRESS_LINES) {
		errbuf_set(err, errlen, "%s: at most %d lines", path,
		    CONFIG_MAX_ADDRESS_LINES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		if (!json_object_is_type(item, json_type_string)) {
			errbuf_set(err, errlen, "%s[%zu]: must be a string",
			    path, i);
			return -1;
		}
		s = json_object_get_string(item);
		len = (size_t)json_object_get_string_len(item);
		if (len == 0 || len > CONFIG_ADDRESS_LINE_MAX ||
		    strlen(s) != len || config_has_control(s)) {
			errbuf_set(err, errlen, "%s[%zu]: a line is 1 to %d "
			    "bytes without control characters", path, i,
			    CONFIG_ADDRESS_LINE_MAX);
			return -1;
		}
		if ((is->address[i] = strdup(s)) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", path);
			return -1;
		}
		is->n_address = i + 1;
	}
	return 0;
}

#define IF(f) offsetof(struct invoice_issuer, f)
static const struct key issuer_keys[] = {
	KSTR("name", IF(name), 1, 200, NULL, NULL, KF_REQUIRED),
	KCUSTOM("address", parse_issuer_address, 0),
	KSTR("email", IF(email), 1, 320, NULL, NULL, 0),
	KSTR("taxId", IF(tax_id), 1, 64, NULL, NULL, 0),
};

static int
parse_issuer(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;

	if (!json_object_is_type(val, json_type_object)) {
		errbuf_set(err, errlen, "%s: must be an object", path);
		return -1;
	}
	return config_parse_object(val, issuer_keys, NKEYS(issuer_keys),
	    &cfg->issuer, path, err, errlen);
}

/* email.events: an array of event types (billing.*), at most 16. */
static int
parse_email_events(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct email_config *ec = base;
	struct json_object *item;
	const char *s;
	size_t i, n;

	config_clear_email_events(ec);
	if (!json_object_is_type(val, json_type_array) ||
	    (n = json_object_array_length(val)) > CONFIG_MAX_EMAIL_EVENTS) {
		errbuf_set(err, errlen, "%s: must be an array of at most %d "
		    "event types", path, CONFIG_MAX_EMAIL_EVENTS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(val, i);
		s = json_object_is_type(item, json_type_string) ?
		    json_object_get_string(item) : NULL;
		if (s == NULL || strncmp(s, "billing.", 8) != 0 ||
		    strlen(s) > CONFIG_EMAIL_EVENT_MAX || strlen(s) < 9 ||
		    strspn(s, "abcdefghijklmnopqrstuvwxyz._") != strlen(s)) {
			errbuf_set(err, errlen, "%s[%zu]: must be an event "
			    "type such as \"billing.invoice.created\"", path, i);
			return -1;
		}
		if ((ec->events[i] = strdup(s)) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", path);
			return -1;
		}
		ec->n_events = i + 1;
	}
	return 0;
}

#define EF(f) offsetof(struct email_config, f)
static const struct key email_keys[] = {
	KSTR("smtpUrl", EF(smtp_url), 1, 1024, NULL, config_check_smtp_url,
	    0),
	KSTR("username", EF(username), 1, 255, NULL, NULL, 0),
	KSTR("password", EF(password), 1, STR_MAX, NULL, NULL, 0),
	KSTR("from", EF(from), 1, 520, NULL, config_check_mailbox,
	    KF_REQUIRED),
	KSTR("replyTo", EF(reply_to), 1, 520, NULL, config_check_mailbox, 0),
	KBOOL("starttls", EF(starttls), -1),
	KCUSTOM("events", parse_email_events, 0),
	KSTR("templateDir", EF(template_dir), 1, 4095,
	    "/etc/streamspace-billing/email", config_check_abs_path, 0),
	KINT("timeoutSeconds", EF(timeout_seconds), 1, 300, 30),
};

/* The events mailed when email.events is not given. */
static const char *const email_default_events[] = {
	"billing.invoice.created", "billing.invoice.paid",
	"billing.payment.failed", "billing.credit_note.created",
	"billing.quota.warning",
};

void
config_clear_email_events(struct email_config *ec)
{
	size_t i;

	for (i = 0; i < ec->n_events; i++) {
		free(ec->events[i]);
		ec->events[i] = NULL;
	}
	ec->n_events = 0;
}

static int
parse_email(struct json_object *val, void *base, const char *path,
    char *err, size_t errlen)
{
	struct billing_config *cfg = base;
	struct email_config *ec = &cfg->email;
	size_t i;

	if (!json_object_is_type(val, json_type_object)) {
		errbuf_set(err, errlen, "%s: must be an object", path);
		return -1;
	}
	if (config_set_defaults(email_keys, NKEYS(email_keys), ec, err,
	    errlen) == -1)
		return -1;
	for (i = 0; i < NKEYS(email_default_events); i++) {
		if ((ec->events[i] = strdup(email_default_events[i])) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", path);
			return -1;
		}
		ec->n_events = i + 1;
	}
	ec->enabled = 1;
	return config_parse_object(val, email_keys, NKEYS(email_keys), ec,
	    path, err, errlen);
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
	    255, "0 * * * *", config_check_cron, 0),
	KINT("invoiceDay", CF(invoice_day), 1, 28, 1),
	KINT("alertThreshold", CF(alert_threshold), 1, 100, 80),
	KBOOL("autoSuspendOnOverage", CF(auto_suspend_on_overage), 0),
	KINT("gracePeriodDays", CF(grace_period_days), 0, 365, 7),
	/* ours */
	KCUSTOM("database", parse_database, 0),
	KSTR("listen", CF(listen), 1, 1024,
	    "unix:/run/streamspace-billing/billingd.sock", config_check_listen,
	    0),
	KMODE("listenMode", CF(listen_mode), 0660),
	{ "workers", K_INT, CF(workers), 1, 256, 1, NULL, 0, NULL, NULL,
	    KF_NCPU },
	KLONG("maxRequests", CF(max_requests), 0, 100000000, 10000),
	KSTR("jwtSecret", CF(jwt_secret), 1, STR_MAX, NULL,
	    config_check_jwt_secret, 0),
	KSTR("jwtPublicKeyFile", CF(jwt_public_key_file), 1, 4095, NULL, NULL,
	    0),
	KCUSTOM("jwtUserClaims", parse_user_claims, 0),
	KSTR("jwtIssuer", CF(jwt_issuer), 1, 255, NULL, NULL, 0),
	KSTR("currency", CF(currency), 1, 255, "usd", config_check_currency, 0),
	KINT("invoiceDueDays", CF(invoice_due_days), 0, 365, 14),
	KINT("stripeTimeoutSeconds", CF(stripe_timeout_seconds), 1, 120, 10),
	KINT("invoiceDraftHours", CF(invoice_draft_hours), 0, 720, 0),
	KINT("sessionTimeoutMinutes", CF(session_timeout_minutes), 1, 10080,
	    15),
	KCUSTOM("streamspaceWebhookSecret", parse_streamspace_secrets, 0),
	KINT("streamspaceWebhookToleranceSeconds",
	    CF(streamspace_webhook_tolerance_seconds), 1, 604800, 3600),
	KINT("streamspaceHomeStorageGb", CF(streamspace_home_storage_gb), 0,
	    1000000, 0),
	KSTR("eventsWebhookUrl", CF(events_webhook_url), 1, STR_MAX, NULL,
	    config_check_url, 0),
	KSTR("eventsWebhookSecret", CF(events_webhook_secret), 1, STR_MAX,
	    NULL, NULL, 0),
	KSTR("platformSuspendUrl", CF(platform_suspend_url), 1, STR_MAX, NULL,
	    config_check_url, 0),
	KSTR("publicBaseUrl", CF(public_base_url), 1, STR_MAX, NULL,
	    config_check_url, 0),
	KCUSTOM("checkoutReturnOrigins", parse_return_origins, 0),
	KCUSTOM("widgetFrameAncestors", parse_frame_ancestors, 0),
	KSTR("stripeApiBase", CF(stripe_api_base), 1, STR_MAX,
	    "https://api.stripe.com", config_check_stripe_api_base, 0),
	KSTR("defaultPlan", CF(default_plan), 1, 64, NULL, NULL, 0),
	KINT("reportMaxDays", CF(report_max_days), 1, 3660, 366),
	KCUSTOM("taxRates", parse_tax_rates, 0),
	KSTR("defaultTaxRate", CF(default_tax_rate), 1, 64, NULL, NULL, 0),
	KCUSTOM("invoiceIssuer", parse_issuer, 0),
	KCUSTOM("email", parse_email, 0),
};

/* the list reaches jwt_keys_set_claims as it is */
_Static_assert(CONFIG_MAX_USER_CLAIMS == JWT_USER_CLAIMS_MAX &&
    CONFIG_CLAIM_NAME_MAX == JWT_CLAIM_NAME_MAX, "claim limits differ");

/* config_parse_object keeps a 64-bit mask of the keys it saw */
_Static_assert(NKEYS(top_keys) <= 64 && NKEYS(plan_keys) <= 64 &&
    NKEYS(db_keys) <= 64 && NKEYS(rate_keys) <= 64, "key table too long");

/* config_parse's steps: every table's defaults, then the file's top level. */
int
config_keys_defaults(struct billing_config *cfg, char *err, size_t errlen)
{
	if (config_set_defaults(top_keys, NKEYS(top_keys), cfg, err,
	    errlen) == -1 ||
	    config_set_defaults(rate_keys, NKEYS(rate_keys), cfg, err,
	    errlen) == -1 ||
	    config_set_defaults(db_keys, NKEYS(db_keys), &cfg->database, err,
	    errlen) == -1 ||
	    add_user_claim(cfg, "sub", "jwtUserClaims", err, errlen) == -1)
		return -1;
	return 0;
}

int
config_keys_apply(struct json_object *root, struct billing_config *cfg,
    char *err, size_t errlen)
{
	return config_parse_object(root, top_keys, NKEYS(top_keys), cfg, "",
	    err, errlen);
}
