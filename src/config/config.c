/*
 * config: the JSON file, the environment overrides and every rule about them.
 *
 * Each JSON object (the top level, computeRates, database, each plan) is
 * described by one table of keys (config_keys.c) that one engine
 * (config_engine.c) applies; the string rules are in config_check.c.  This
 * file is the API and the order of work: defaults, the file, the environment
 * (which wins), then the rules that span several keys.  Any error frees
 * everything and names the key; no error message ever contains a value that
 * could be a secret.
 */
#include "build-config.h" /* configure's switches */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "config_impl.h"

#ifndef BILLING_DEFAULT_CONFIG
#define BILLING_DEFAULT_CONFIG "/etc/streamspace-billing/billing.json"
#endif

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 16

/* Environment variables that replace a file value when set and non-empty. */
struct env_override {
	const char *env;
	const char *key;	/* the file key it replaces, for messages */
	size_t off;		/* a char * in struct billing_config */
	const char *(*check)(const char *);
};

static const struct env_override env_overrides[] = {
	{ "BILLING_JWT_SECRET", "jwtSecret", CF(jwt_secret),
	    config_check_jwt_secret },
	{ "STRIPE_SECRET_KEY", "stripeSecretKey", CF(stripe_secret_key), NULL },
	{ "BILLING_DB_PASSWORD", "database.password", CF(database.password),
	    NULL },
	{ "BILLING_EVENTS_WEBHOOK_URL", "eventsWebhookUrl",
	    CF(events_webhook_url), config_check_url },
	{ "BILLING_EVENTS_WEBHOOK_SECRET", "eventsWebhookSecret",
	    CF(events_webhook_secret), NULL },
	{ "BILLING_PLATFORM_SUSPEND_URL", "platformSuspendUrl",
	    CF(platform_suspend_url), config_check_url },
	{ "STRIPE_API_BASE", "stripeApiBase", CF(stripe_api_base),
	    config_check_stripe_api_base },
	{ "BILLING_SMTP_URL", "email.smtpUrl", CF(email.smtp_url),
	    config_check_smtp_url },
	{ "BILLING_SMTP_PASSWORD", "email.password", CF(email.password),
	    NULL },
};

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
		else if (config_has_control(v))
			why = "must not contain control characters";
		else if (e->check != NULL)
			why = e->check(v);
		if (why != NULL) {
			errbuf_set(err, errlen, "%s (from %s): %s", e->key,
			    e->env, why);
			return -1;
		}
		if ((copy = strdup(v)) == NULL) {
			errbuf_set(err, errlen, "%s: out of memory", e->env);
			return -1;
		}
		at = (char **)(void *)((char *)cfg + e->off);
		config_free_secret(*at);
		*at = copy;
	}
	if ((v = env_value("STRIPE_TIMEOUT_SECONDS")) != NULL) {
		char *end;
		long secs = strtol(v, &end, 10);

		if (*end != '\0' || secs < 1 || secs > 120) {
			errbuf_set(err, errlen, "stripeTimeoutSeconds (from "
			    "STRIPE_TIMEOUT_SECONDS): must be an integer from 1 "
			    "to 120");
			return -1;
		}
		cfg->stripe_timeout_seconds = (int)secs;
	}
	if ((v = env_value("STRIPE_WEBHOOK_SECRET")) != NULL) {
		config_clear_webhook_secrets(cfg);
		if (config_add_webhook_csv(cfg, v, strlen(v),
		    "stripeWebhookSecret (from STRIPE_WEBHOOK_SECRET)", err,
		    errlen) == -1)
			return -1;
	}
	if ((v = env_value("STREAMSPACE_WEBHOOK_SECRET")) != NULL) {
		config_clear_secret_list(cfg->streamspace_webhook_secrets,
		    &cfg->n_streamspace_webhook_secrets);
		if (config_add_secrets_csv(cfg->streamspace_webhook_secrets,
		    &cfg->n_streamspace_webhook_secrets, v, strlen(v),
		    "streamspaceWebhookSecret (from "
		    "STREAMSPACE_WEBHOOK_SECRET)", err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Rules that span keys, on the final values (file and environment). */
static int
cross_check(struct billing_config *cfg, char *err, size_t errlen)
{
	char *free_id;
	size_t i;

	if (cfg->jwt_secret == NULL && cfg->jwt_public_key_file == NULL) {
		errbuf_set(err, errlen, "jwtSecret: one of jwtSecret or "
		    "jwtPublicKeyFile is required (or BILLING_JWT_SECRET)");
		return -1;
	}
	/* not given: on iff a key is; true demands a key; false wins */
	if (cfg->stripe_enabled == -1)
		cfg->stripe_enabled = cfg->stripe_secret_key != NULL;
	else if (cfg->stripe_enabled && cfg->stripe_secret_key == NULL) {
		errbuf_set(err, errlen, "stripeSecretKey: required when "
		    "stripeEnabled is true (or set STRIPE_SECRET_KEY)");
		return -1;
	}
	/* events are signed: a URL without a secret could only send unsigned */
	if (cfg->events_webhook_url != NULL &&
	    cfg->events_webhook_secret == NULL) {
		errbuf_set(err, errlen, "eventsWebhookSecret: required when "
		    "eventsWebhookUrl is set");
		return -1;
	}
	/* suspension notices are signed with the events' secret */
	if (cfg->platform_suspend_url != NULL &&
	    cfg->events_webhook_secret == NULL) {
		errbuf_set(err, errlen, "eventsWebhookSecret: required when "
		    "platformSuspendUrl is set (notices are signed with it)");
		return -1;
	}
	if (cfg->email.enabled) {
		if (cfg->email.smtp_url == NULL) {
			errbuf_set(err, errlen, "email.smtpUrl: required when "
			    "email is set (or BILLING_SMTP_URL)");
			return -1;
		}
		if (cfg->email.password != NULL && cfg->email.username == NULL) {
			errbuf_set(err, errlen, "email.username: required "
			    "when a password is set");
			return -1;
		}
		/* not given: required unless smtps:// or a loopback relay */
		if (cfg->email.starttls == -1)
			cfg->email.starttls = strncasecmp(cfg->email.smtp_url,
			    "smtps://", 8) != 0 &&
			    !config_smtp_url_loopback(cfg->email.smtp_url);
	}
	if (cfg->billing_mode != MODE_USAGE && cfg->n_plans == 0) {
		errbuf_set(err, errlen, "subscriptionPlans: at least one "
		    "plan is required when billingMode is \"%s\"",
		    config_mode_name(cfg->billing_mode));
		return -1;
	}
	if (cfg->default_tax_rate != NULL &&
	    config_find_tax_rate(cfg, cfg->default_tax_rate) == NULL) {
		errbuf_set(err, errlen, "defaultTaxRate: no rate in taxRates "
		    "has this id");
		return -1;
	}
	for (i = 0; i < cfg->n_plans; i++)
		if (cfg->plans[i].tax_rate_id != NULL &&
		    config_find_tax_rate(cfg, cfg->plans[i].tax_rate_id) == NULL) {
			errbuf_set(err, errlen, "subscriptionPlans[%zu].tax_rate_id: "
			    "no rate in taxRates has this id", i);
			return -1;
		}
	if (cfg->default_plan != NULL) {
		if (config_find_plan(cfg, cfg->default_plan) == NULL) {
			errbuf_set(err, errlen, "defaultPlan: no plan in "
			    "subscriptionPlans has this id");
			return -1;
		}
	} else if (config_find_plan(cfg, "free") != NULL) {
		if ((free_id = strdup("free")) == NULL) {
			errbuf_set(err, errlen,
			    "defaultPlan: out of memory");
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
		errbuf_set(err, errlen, "line %u: unexpected end of JSON",
		    line);
	else if (jerr == json_tokener_error_depth)
		errbuf_set(err, errlen, "line %u: nested deeper than %d "
		    "levels", line, CONFIG_MAX_DEPTH);
	else
		errbuf_set(err, errlen, "line %u: invalid JSON: %s", line,
		    json_tokener_error_desc(jerr));
}

static struct json_object *
parse_json(const char *json, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	size_t i;

	if (len > CONFIG_MAX_BYTES) {
		errbuf_set(err, errlen, "larger than 1 MiB");
		goto out;
	}
	if (len == 0) {
		errbuf_set(err, errlen, "empty, expected a JSON object");
		goto out;
	}
	if (memchr(json, '\0', len) != NULL) {
		errbuf_set(err, errlen, "contains a NUL byte");
		goto out;
	}
	if ((tok = json_tokener_new_ex(CONFIG_MAX_DEPTH)) == NULL) {
		errbuf_set(err, errlen, "out of memory");
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
			errbuf_set(err, errlen, "data after the JSON "
			    "object");
			json_object_put(root);
			root = NULL;
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		errbuf_set(err, errlen, "must be a JSON object");
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

	errbuf_set(err, errlen, "unknown error");
	if (json == NULL)
		len = 0;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	if (config_keys_defaults(cfg, err, errlen) == -1)
		goto out;
	if ((root = parse_json(json, len, err, errlen)) == NULL)
		goto out;
	if (config_keys_apply(root, cfg, err, errlen) == -1)
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

	config_safe_text(safe, sizeof(safe), path, 160);
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
		errbuf_set(err, errlen, "%s: larger than 1 MiB", safe);
		goto out;
	}
	*buf = p;
	*len = n;
	p = NULL;
	rc = 0;
	goto out;
fail:
	errbuf_set(err, errlen, "%s: cannot read: %s", safe,
	    strerror(errno));
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
	config_free_secret(cfg->stripe_secret_key);
	config_clear_webhook_secrets(cfg);
	config_clear_secret_list(cfg->streamspace_webhook_secrets,
	    &cfg->n_streamspace_webhook_secrets);
	for (i = 0; i < CONFIG_MAX_PLANS; i++) {
		free(cfg->plans[i].id);
		free(cfg->plans[i].name);
		free(cfg->plans[i].stripe_price_id);
		free(cfg->plans[i].tax_rate_id);
	}
	free(cfg->usage_calculation_interval);
	free(cfg->database.host);
	free(cfg->database.socket);
	free(cfg->database.user);
	config_free_secret(cfg->database.password);
	free(cfg->database.name);
	free(cfg->database.ssl.ca);
	free(cfg->database.ssl.cert);
	free(cfg->database.ssl.key);
	free(cfg->listen);
	config_free_secret(cfg->jwt_secret);
	free(cfg->jwt_public_key_file);
	config_clear_user_claims(cfg);
	free(cfg->jwt_issuer);
	free(cfg->currency);
	free(cfg->events_webhook_url);
	config_free_secret(cfg->events_webhook_secret);
	free(cfg->platform_suspend_url);
	free(cfg->public_base_url);
	for (i = 0; i < cfg->n_checkout_return_origins; i++)
		free(cfg->checkout_return_origins[i]);
	for (i = 0; i < cfg->n_widget_frame_ancestors; i++)
		free(cfg->widget_frame_ancestors[i]);
	free(cfg->stripe_api_base);
	free(cfg->default_plan);
	for (i = 0; i < CONFIG_MAX_TAX_RATES; i++) {
		free(cfg->tax_rates[i].id);
		free(cfg->tax_rates[i].name);
	}
	free(cfg->default_tax_rate);
	free(cfg->issuer.name);
	for (i = 0; i < cfg->issuer.n_address; i++)
		free(cfg->issuer.address[i]);
	free(cfg->issuer.email);
	free(cfg->issuer.tax_id);
	free(cfg->email.smtp_url);
	free(cfg->email.username);
	config_free_secret(cfg->email.password);
	free(cfg->email.from);
	free(cfg->email.reply_to);
	free(cfg->email.template_dir);
	config_clear_email_events(&cfg->email);
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

/* Borrowed from cfg. */
const struct tax_rate *
config_find_tax_rate(const struct billing_config *cfg, const char *id)
{
	size_t i;

	if (cfg == NULL || id == NULL)
		return NULL;
	for (i = 0; i < cfg->n_tax_rates; i++)
		if (strcmp(cfg->tax_rates[i].id, id) == 0)
			return &cfg->tax_rates[i];
	return NULL;
}

const char *
config_mode_name(enum billing_mode mode)
{
	if ((size_t)mode < NKEYS(config_mode_names))
		return config_mode_names[mode];
	return "unknown";
}

int
config_email_wants(const struct billing_config *cfg, const char *type)
{
	size_t i;

	if (!cfg->email.enabled)
		return 0;
	for (i = 0; i < cfg->email.n_events; i++)
		if (strcmp(cfg->email.events[i], type) == 0)
			return 1;
	return 0;
}
