/*
 * fuzz_config: config_parse on arbitrary JSON text (what config_load reads
 * from billing.json), with the environment overrides unset.
 *
 * Input: the file's bytes.
 * Properties:
 *   - no crash, and no leak on any path (LeakSanitizer is on);
 *   - NULL always with a one-line message, a config always with "";
 *   - no message depends on a secret's value: the same file with every
 *     secret's letters and digits rotated (rot13/rot5, which keeps every
 *     rule about secrets true) gives the same result and the same message;
 *   - an accepted config keeps the documented invariants: a JWT key,
 *     at most 64 plans with unique ids and Stripe price ids, 1 to 8
 *     webhook secrets or none, values within their documented bounds, the
 *     default plan among the plans, a plan for the non-usage modes.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "fuzz_common.h"
#include "money.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	return 0;
}

static void
check_str(const char *s, size_t max, const char *what)
{
	size_t n, i;

	if (s == NULL)
		return;
	n = strlen(s);
	FUZZ_CHECK(n >= 1 && n <= max, "%s: %zu bytes", what, n);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f,
		    "%s: control character", what);
}

static void
check_config(const struct billing_config *c)
{
	size_t i, j;

	FUZZ_CHECK(c->jwt_secret != NULL || c->jwt_public_key_file != NULL,
	    "no JWT key");
	if (c->jwt_secret != NULL)
		FUZZ_CHECK(strlen(c->jwt_secret) >= 32, "short jwtSecret");
	FUZZ_CHECK(c->billing_mode == MODE_USAGE || c->n_plans > 0,
	    "mode %s without plans", config_mode_name(c->billing_mode));
	FUZZ_CHECK(c->n_plans <= CONFIG_MAX_PLANS, "%zu plans", c->n_plans);
	FUZZ_CHECK(c->n_stripe_webhook_secrets <= CONFIG_MAX_WEBHOOK_SECRETS,
	    "%zu webhook secrets", c->n_stripe_webhook_secrets);
	for (i = 0; i < c->n_stripe_webhook_secrets; i++)
		check_str(c->stripe_webhook_secrets[i], 4096, "webhook secret");
	FUZZ_CHECK(c->stripe_enabled == 0 || c->stripe_enabled == 1,
	    "stripe_enabled %d", c->stripe_enabled);
	if (c->stripe_enabled)
		FUZZ_CHECK(c->stripe_secret_key != NULL, "Stripe without a key");
	if (c->events_webhook_url != NULL)
		FUZZ_CHECK(c->events_webhook_secret != NULL,
		    "events URL without a secret");
	FUZZ_CHECK(c->invoice_day >= 1 && c->invoice_day <= 28, "invoiceDay");
	FUZZ_CHECK(c->alert_threshold >= 1 && c->alert_threshold <= 100,
	    "alertThreshold");
	FUZZ_CHECK(c->grace_period_days >= 0 && c->grace_period_days <= 365,
	    "gracePeriodDays");
	FUZZ_CHECK(c->workers >= 1 && c->workers <= 256, "workers");
	FUZZ_CHECK(c->listen_mode >= 0 && c->listen_mode <= 0777, "listenMode");
	FUZZ_CHECK(c->max_requests >= 0 && c->max_requests <= 100000000,
	    "maxRequests");
	FUZZ_CHECK(c->database.port <= 65535, "database.port");
	FUZZ_CHECK(c->cpu_per_core_hour >= 0 &&
	    c->cpu_per_core_hour <= MONEY_MAX_MICROS &&
	    c->memory_per_gb_hour >= 0 &&
	    c->memory_per_gb_hour <= MONEY_MAX_MICROS &&
	    c->storage_per_gb_month >= 0 &&
	    c->storage_per_gb_month <= MONEY_MAX_MICROS, "rates");
	FUZZ_CHECK(c->currency != NULL && strlen(c->currency) == 3, "currency");
	check_str(c->listen, 1024, "listen");
	check_str(c->database.user, 255, "database.user");
	check_str(c->database.name, 64, "database.name");
	check_str(c->stripe_api_base, 4096, "stripeApiBase");
	check_str(c->usage_calculation_interval, 255, "usageCalculationInterval");
	for (i = 0; i < c->n_plans; i++) {
		const struct plan *p = &c->plans[i];

		FUZZ_CHECK(p->id != NULL && p->name != NULL, "plan %zu unnamed", i);
		check_str(p->id, 64, "plan id");
		check_str(p->name, 200, "plan name");
		check_str(p->stripe_price_id, 255, "stripe_price_id");
		FUZZ_CHECK(p->price >= 0 && p->price % 10000 == 0 &&
		    p->price <= MONEY_MAX_MICROS, "plan %zu price %lld", i,
		    (long long)p->price);
		FUZZ_CHECK(p->cpu_limit >= 0 && p->memory_limit >= 0 &&
		    p->storage_limit >= 0, "plan %zu limits", i);
		FUZZ_CHECK(config_find_plan(c, p->id) == p,
		    "plan id \"%s\" not unique", p->id);
		for (j = 0; j < i; j++)
			if (p->stripe_price_id && c->plans[j].stripe_price_id)
				FUZZ_CHECK(strcmp(p->stripe_price_id,
				    c->plans[j].stripe_price_id) != 0,
				    "duplicate stripe_price_id");
	}
	if (c->default_plan != NULL)
		FUZZ_CHECK(config_find_plan(c, c->default_plan) != NULL,
		    "defaultPlan \"%s\" is no plan", c->default_plan);
	else
		FUZZ_CHECK(config_find_plan(c, "free") == NULL,
		    "a \"free\" plan but no default plan");
}

/* A new string: letters rot13, digits rot5, everything else kept. */
static struct json_object *
rot_string(struct json_object *s)
{
	size_t n = (size_t)json_object_get_string_len(s), i;
	char *b = malloc(n + 1);
	struct json_object *r;

	if (b == NULL)
		abort();
	memcpy(b, json_object_get_string(s), n);
	for (i = 0; i < n; i++) {
		char c = b[i];

		if (c >= 'a' && c <= 'z')
			b[i] = (char)('a' + (c - 'a' + 13) % 26);
		else if (c >= 'A' && c <= 'Z')
			b[i] = (char)('A' + (c - 'A' + 13) % 26);
		else if (c >= '0' && c <= '9')
			b[i] = (char)('0' + (c - '0' + 5) % 10);
	}
	r = json_object_new_string_len(b, (int)n);
	free(b);
	return r;
}

/* Replaces obj[key] by its rotation when it is a string; 1 if it did. */
static int
rot_key(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return 0;
	json_object_object_add(obj, key, rot_string(v));
	return 1;
}

/* Rotates every secret in the parsed file; returns how many. */
static int
rot_secrets(struct json_object *root)
{
	struct json_object *v;
	size_t i;
	int n = 0;

	n += rot_key(root, "jwtSecret");
	n += rot_key(root, "stripeSecretKey");
	n += rot_key(root, "stripeWebhookSecret");
	n += rot_key(root, "eventsWebhookSecret");
	if (json_object_object_get_ex(root, "database", &v))
		n += rot_key(v, "password");
	if (json_object_object_get_ex(root, "stripeWebhookSecret", &v) &&
	    json_object_is_type(v, json_type_array))
		for (i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			if (json_object_is_type(e, json_type_string)) {
				json_object_array_put_idx(v, i, rot_string(e));
				n++;
			}
		}
	return n;
}

/*
 * Parses the file as config_parse does; when it holds secrets, runs
 * config_parse on the same file with the secrets rotated and compares.
 */
static void
check_secret_free_message(const uint8_t *data, size_t size, int ok,
    const char *err)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct billing_config *cfg;
	const char *text;
	char err2[512];

	if (size == 0 || memchr(data, '\0', size) != NULL)
		return;
	tok = json_tokener_new_ex(16);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object) ||
	    rot_secrets(root) == 0) {
		json_object_put(root);
		json_tokener_free(tok);
		return;
	}
	json_tokener_free(tok);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	cfg = config_parse(text, strlen(text), err2, sizeof(err2));
	FUZZ_CHECK((cfg != NULL) == ok, "rotating the secrets' characters "
	    "changed the result: \"%s\" / \"%s\"", err, err2);
	FUZZ_CHECK(strcmp(err, err2) == 0, "the message depends on a secret's "
	    "value:\n  %s\n  %s", err, err2);
	config_free(cfg);
	json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct billing_config *cfg;
	char err[512];

	memset(err, 'X', sizeof(err));
	cfg = config_parse((const char *)data, size, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL,
	    "err not NUL-terminated");
	if (cfg == NULL) {
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL,
		    "refused with message \"%s\"", err);
		check_secret_free_message(data, size, 0, err);
		return 0;
	}
	FUZZ_CHECK(err[0] == '\0', "accepted with message \"%s\"", err);
	check_config(cfg);
	config_free(cfg);
	check_secret_free_message(data, size, 1, err);

	/* a NULL or zero-size error buffer is allowed */
	config_free(config_parse((const char *)data, size, NULL, 0));
	return 0;
}
