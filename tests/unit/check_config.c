/*
 * check_config: the configuration file, its defaults, the environment
 * overrides and every validation rule, as an operator meets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"

#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */

/* The seed's example config (its four snippets as one file) plus our keys. */
static const char seed_example[] =
    "{\n"
    "  \"enabled\": true,\n"
    "  \"billingMode\": \"usage\",\n"
    "  \"computeRates\": {\n"
    "    \"cpu_per_core_hour\": 0.05,\n"
    "    \"memory_per_gb_hour\": 0.01,\n"
    "    \"storage_per_gb_month\": 0.10\n"
    "  },\n"
    "  \"stripeEnabled\": true,\n"
    "  \"stripeSecretKey\": \"sk_live_...\",\n"
    "  \"stripeWebhookSecret\": \"whsec_...\",\n"
    "  \"subscriptionPlans\": [\n"
    "    { \"id\": \"free\", \"name\": \"Free Tier\", \"price\": 0,\n"
    "      \"interval\": \"month\", \"cpu_limit\": 2, \"memory_limit\": 4,\n"
    "      \"storage_limit\": 10 },\n"
    "    { \"id\": \"pro\", \"name\": \"Professional\", \"price\": 29.99,\n"
    "      \"interval\": \"month\", \"cpu_limit\": 8, \"memory_limit\": 16,\n"
    "      \"storage_limit\": 100, \"stripe_price_id\": \"price_pro\" },\n"
    "    { \"id\": \"enterprise\", \"name\": \"Enterprise\", \"price\": 99.99,\n"
    "      \"interval\": \"month\", \"cpu_limit\": 32, \"memory_limit\": 64,\n"
    "      \"storage_limit\": 500,\n"
    "      \"stripe_price_id\": \"price_enterprise\" }\n"
    "  ],\n"
    "  \"usageCalculationInterval\": \"0 * * * *\",\n"
    "  \"invoiceDay\": 1,\n"
    "  \"alertThreshold\": 80,\n"
    "  \"autoSuspendOnOverage\": false,\n"
    "  \"gracePeriodDays\": 7,\n"
    "  \"jwtSecret\": \"" SECRET "\"\n"
    "}\n";

/* One plan with `extra` keys appended (a later duplicate key wins). */
#define PLAN(extra) "\"subscriptionPlans\": [ { \"id\": \"p\", " \
	"\"name\": \"P\", \"price\": 1, \"cpu_limit\": 1, " \
	"\"memory_limit\": 1, \"storage_limit\": 1" extra " } ]"

static const char *const env_names[] = {
	"BILLING_CONFIG", "BILLING_JWT_SECRET", "STRIPE_SECRET_KEY",
	"STRIPE_WEBHOOK_SECRET", "STREAMSPACE_WEBHOOK_SECRET",
	"BILLING_DB_PASSWORD",
	"BILLING_EVENTS_WEBHOOK_URL", "BILLING_EVENTS_WEBHOOK_SECRET",
	"BILLING_PLATFORM_SUSPEND_URL", "STRIPE_API_BASE",
};

static char err[512];

/* The runner's own environment must not leak into any test. */
static void
clear_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
	err[0] = '\0';
}

static struct billing_config *
parse(const char *json)
{
	return config_parse(json, strlen(json), err, sizeof(err));
}

/* A minimal valid config (jwtSecret) with the given keys added. */
static struct billing_config *
parse_with(const char *keys)
{
	static char buf[16384];
	int n;

	n = snprintf(buf, sizeof(buf), "{ \"jwtSecret\": \"%s\"%s%s }",
	    SECRET, keys[0] != '\0' ? ", " : "", keys);
	ck_assert(n > 0 && (size_t)n < sizeof(buf));
	return parse(buf);
}

/* Asserts that keys are rejected with a message naming `key`. */
static void
assert_rejected(const char *keys, const char *key)
{
	struct billing_config *cfg = parse_with(keys);

	ck_assert_msg(cfg == NULL, "accepted: %s", keys);
	ck_assert_msg(strstr(err, key) != NULL, "\"%s\" not in \"%s\"", key,
	    err);
}

START_TEST(seed_example_parses_with_exact_rates)
{
	struct billing_config *cfg = parse(seed_example);

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->enabled, 1);
	ck_assert_int_eq(cfg->billing_mode, MODE_USAGE);
	ck_assert_int_eq(cfg->cpu_per_core_hour, 50000);
	ck_assert_int_eq(cfg->memory_per_gb_hour, 10000);
	ck_assert_int_eq(cfg->storage_per_gb_month, 100000);
	ck_assert_int_eq(cfg->stripe_enabled, 1);
	ck_assert_str_eq(cfg->stripe_secret_key, "sk_live_...");
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 1);
	ck_assert_str_eq(cfg->stripe_webhook_secrets[0], "whsec_...");
	ck_assert_str_eq(cfg->usage_calculation_interval, "0 * * * *");
	ck_assert_int_eq(cfg->invoice_day, 1);
	ck_assert_int_eq(cfg->alert_threshold, 80);
	ck_assert_int_eq(cfg->auto_suspend_on_overage, 0);
	ck_assert_int_eq(cfg->grace_period_days, 7);
	ck_assert_str_eq(cfg->default_plan, "free");
	config_free(cfg);
}
END_TEST

START_TEST(seed_example_plans_hold_their_values)
{
	struct billing_config *cfg = parse(seed_example);
	const struct plan *p;

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_plans, 3);

	p = &cfg->plans[0];
	ck_assert_str_eq(p->id, "free");
	ck_assert_str_eq(p->name, "Free Tier");
	ck_assert_int_eq(p->price, 0);
	ck_assert_int_eq(p->interval, INTERVAL_MONTH);
	ck_assert_int_eq(p->cpu_limit, 2000000);
	ck_assert_int_eq(p->memory_limit, 4000000);
	ck_assert_int_eq(p->storage_limit, 10000000);
	ck_assert_ptr_null(p->stripe_price_id);

	p = &cfg->plans[1];
	ck_assert_str_eq(p->id, "pro");
	ck_assert_str_eq(p->name, "Professional");
	ck_assert_int_eq(p->price, 29990000);
	ck_assert_int_eq(p->cpu_limit, 8000000);
	ck_assert_int_eq(p->memory_limit, 16000000);
	ck_assert_int_eq(p->storage_limit, 100000000);
	ck_assert_str_eq(p->stripe_price_id, "price_pro");

	p = &cfg->plans[2];
	ck_assert_str_eq(p->id, "enterprise");
	ck_assert_int_eq(p->price, 99990000);
	ck_assert_int_eq(p->cpu_limit, 32000000);
	ck_assert_int_eq(p->memory_limit, 64000000);
	ck_assert_int_eq(p->storage_limit, 500000000);
	ck_assert_str_eq(p->stripe_price_id, "price_enterprise");
	config_free(cfg);
}
END_TEST

START_TEST(absent_keys_take_their_defaults)
{
	struct billing_config *cfg = parse_with("");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->enabled, 1);
	ck_assert_int_eq(cfg->billing_mode, MODE_USAGE);
	ck_assert_int_eq(cfg->cpu_per_core_hour, 0);
	ck_assert_int_eq(cfg->memory_per_gb_hour, 0);
	ck_assert_int_eq(cfg->storage_per_gb_month, 0);
	ck_assert_int_eq(cfg->stripe_enabled, 0);
	ck_assert_ptr_null(cfg->stripe_secret_key);
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 0);
	ck_assert_int_eq(cfg->n_plans, 0);
	ck_assert_str_eq(cfg->usage_calculation_interval, "0 * * * *");
	ck_assert_int_eq(cfg->invoice_day, 1);
	ck_assert_int_eq(cfg->alert_threshold, 80);
	ck_assert_int_eq(cfg->auto_suspend_on_overage, 0);
	ck_assert_int_eq(cfg->grace_period_days, 7);
	ck_assert_ptr_null(cfg->database.host);
	ck_assert_uint_eq(cfg->database.port, 0);
	ck_assert_ptr_null(cfg->database.socket);
	ck_assert_str_eq(cfg->database.user, "billing");
	ck_assert_ptr_null(cfg->database.password);
	ck_assert_str_eq(cfg->database.name, "billing");
	ck_assert_str_eq(cfg->listen,
	    "unix:/run/streamspace-billing/billingd.sock");
	ck_assert_int_eq(cfg->listen_mode, 0660);
	ck_assert_int_eq(cfg->max_requests, 10000);
	ck_assert_str_eq(cfg->jwt_secret, SECRET);
	ck_assert_ptr_null(cfg->jwt_public_key_file);
	ck_assert_str_eq(cfg->currency, "usd");
	ck_assert_int_eq(cfg->invoice_due_days, 14);
	ck_assert_int_eq(cfg->stripe_timeout_seconds, 10);
	ck_assert_int_eq(cfg->invoice_draft_hours, 0);
	ck_assert_int_eq(cfg->session_timeout_minutes, 15);
	ck_assert_ptr_null(cfg->events_webhook_url);
	ck_assert_ptr_null(cfg->events_webhook_secret);
	ck_assert_ptr_null(cfg->platform_suspend_url);
	ck_assert_ptr_null(cfg->public_base_url);
	ck_assert_str_eq(cfg->stripe_api_base, "https://api.stripe.com");
	ck_assert_ptr_null(cfg->default_plan);
	config_free(cfg);
}
END_TEST

START_TEST(workers_default_to_online_cpus)
{
	struct billing_config *cfg = parse_with("");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_msg(cfg != NULL, "%s", err);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 256)
		ncpu = 256;
	ck_assert_int_eq(cfg->workers, ncpu);
	config_free(cfg);
}
END_TEST

START_TEST(our_keys_are_read)
{
	struct billing_config *cfg = parse_with(
	    "\"database\": { \"host\": \"db.local\", \"port\": 3307, "
	    "\"socket\": \"/run/mysqld/mysqld.sock\", \"user\": \"bill\", "
	    "\"password\": \"pw\", \"name\": \"billing_test\" }, "
	    "\"listen\": \"127.0.0.1:9000\", \"listenMode\": \"0600\", "
	    "\"workers\": 3, \"maxRequests\": 0, \"currency\": \"eur\", "
	    "\"invoiceDueDays\": 30, \"invoiceDraftHours\": 24, "
	    "\"sessionTimeoutMinutes\": 5, "
	    "\"eventsWebhookUrl\": \"https://platform.example/hooks\", "
	    "\"eventsWebhookSecret\": \"evsecret\", "
	    "\"platformSuspendUrl\": \"http://platform:8000/suspend\", "
	    "\"publicBaseUrl\": \"https://billing.example\", "
	    "\"stripeApiBase\": \"http://localhost:12111\", "
	    "\"billingMode\": \"hybrid\", \"invoiceDay\": 28, " PLAN("") ", "
	    "\"alertThreshold\": 100, \"autoSuspendOnOverage\": true, "
	    "\"gracePeriodDays\": 0, \"enabled\": false");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->database.host, "db.local");
	ck_assert_uint_eq(cfg->database.port, 3307);
	ck_assert_str_eq(cfg->database.socket, "/run/mysqld/mysqld.sock");
	ck_assert_str_eq(cfg->database.user, "bill");
	ck_assert_str_eq(cfg->database.password, "pw");
	ck_assert_str_eq(cfg->database.name, "billing_test");
	ck_assert_str_eq(cfg->listen, "127.0.0.1:9000");
	ck_assert_int_eq(cfg->listen_mode, 0600);
	ck_assert_int_eq(cfg->workers, 3);
	ck_assert_int_eq(cfg->max_requests, 0);
	ck_assert_str_eq(cfg->currency, "eur");
	ck_assert_int_eq(cfg->invoice_due_days, 30);
	ck_assert_int_eq(cfg->invoice_draft_hours, 24);
	ck_assert_int_eq(cfg->session_timeout_minutes, 5);
	ck_assert_str_eq(cfg->events_webhook_url,
	    "https://platform.example/hooks");
	ck_assert_str_eq(cfg->events_webhook_secret, "evsecret");
	ck_assert_str_eq(cfg->platform_suspend_url,
	    "http://platform:8000/suspend");
	ck_assert_str_eq(cfg->public_base_url, "https://billing.example");
	ck_assert_str_eq(cfg->stripe_api_base, "http://localhost:12111");
	ck_assert_int_eq(cfg->billing_mode, MODE_HYBRID);
	ck_assert_int_eq(cfg->invoice_day, 28);
	ck_assert_int_eq(cfg->alert_threshold, 100);
	ck_assert_int_eq(cfg->auto_suspend_on_overage, 1);
	ck_assert_int_eq(cfg->grace_period_days, 0);
	ck_assert_int_eq(cfg->enabled, 0);
	config_free(cfg);
}
END_TEST

START_TEST(null_means_default)
{
	struct billing_config *cfg = parse_with("\"invoiceDay\": null, "
	    "\"currency\": null, \"computeRates\": null");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->invoice_day, 1);
	ck_assert_str_eq(cfg->currency, "usd");
	config_free(cfg);
}
END_TEST

START_TEST(env_overrides_win_over_the_file)
{
	struct billing_config *cfg;

	setenv("BILLING_JWT_SECRET", "env-secret-env-secret-env-secret-1", 1);
	setenv("STRIPE_SECRET_KEY", "sk_test_env", 1);
	setenv("STRIPE_WEBHOOK_SECRET", "whsec_env", 1);
	setenv("BILLING_DB_PASSWORD", "envpw", 1);
	setenv("BILLING_EVENTS_WEBHOOK_URL", "https://env.example/events", 1);
	setenv("BILLING_EVENTS_WEBHOOK_SECRET", "envevents", 1);
	setenv("BILLING_PLATFORM_SUSPEND_URL", "http://env.example/s", 1);
	setenv("STRIPE_API_BASE", "http://127.0.0.1:12111", 1);
	cfg = parse_with("\"stripeSecretKey\": \"sk_test_file\", "
	    "\"stripeWebhookSecret\": \"whsec_a,whsec_b\", "
	    "\"database\": { \"password\": \"filepw\" }, "
	    "\"eventsWebhookUrl\": \"https://file.example/events\", "
	    "\"eventsWebhookSecret\": \"fileevents\", "
	    "\"platformSuspendUrl\": \"https://file.example/s\", "
	    "\"stripeApiBase\": \"https://file.example\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->jwt_secret, "env-secret-env-secret-env-secret-1");
	ck_assert_str_eq(cfg->stripe_secret_key, "sk_test_env");
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 1);
	ck_assert_str_eq(cfg->stripe_webhook_secrets[0], "whsec_env");
	ck_assert_str_eq(cfg->database.password, "envpw");
	ck_assert_str_eq(cfg->events_webhook_url, "https://env.example/events");
	ck_assert_str_eq(cfg->events_webhook_secret, "envevents");
	ck_assert_str_eq(cfg->platform_suspend_url, "http://env.example/s");
	ck_assert_str_eq(cfg->stripe_api_base, "http://127.0.0.1:12111");
	config_free(cfg);
}
END_TEST

START_TEST(empty_env_counts_as_unset)
{
	struct billing_config *cfg;

	setenv("STRIPE_SECRET_KEY", "", 1);
	setenv("STRIPE_API_BASE", "", 1);
	setenv("BILLING_JWT_SECRET", "", 1);
	cfg = parse_with("\"stripeSecretKey\": \"sk_test_file\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->stripe_secret_key, "sk_test_file");
	ck_assert_str_eq(cfg->stripe_api_base, "https://api.stripe.com");
	ck_assert_str_eq(cfg->jwt_secret, SECRET);
	config_free(cfg);
}
END_TEST

START_TEST(env_jwt_secret_alone_is_enough)
{
	struct billing_config *cfg;

	setenv("BILLING_JWT_SECRET", SECRET, 1);
	cfg = parse("{}");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->jwt_secret, SECRET);
	config_free(cfg);
}
END_TEST

START_TEST(bad_env_url_names_the_variable)
{
	setenv("BILLING_PLATFORM_SUSPEND_URL", "ftp://x", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "BILLING_PLATFORM_SUSPEND_URL"));
	ck_assert_ptr_nonnull(strstr(err, "platformSuspendUrl"));
}
END_TEST

START_TEST(unknown_key_is_rejected)
{
	assert_rejected("\"invoiceday\": 1", "invoiceday: unknown key");
	assert_rejected("\"computeRates\": { \"cpu_per_hour\": 1 }",
	    "computeRates.cpu_per_hour: unknown key");
	assert_rejected("\"database\": { \"pass\": \"x\" }",
	    "database.pass: unknown key");
}
END_TEST

START_TEST(invoice_day_must_be_1_to_28)
{
	assert_rejected("\"invoiceDay\": 0",
	    "invoiceDay: must be an integer from 1 to 28");
	assert_rejected("\"invoiceDay\": 29", "invoiceDay");
	assert_rejected("\"invoiceDay\": \"1\"", "invoiceDay");
	assert_rejected("\"invoiceDay\": 1.5", "invoiceDay");
	assert_rejected("\"invoiceDay\": true", "invoiceDay");
}
END_TEST

START_TEST(integer_bounds_are_enforced)
{
	assert_rejected("\"alertThreshold\": 0", "alertThreshold");
	assert_rejected("\"alertThreshold\": 101", "alertThreshold");
	assert_rejected("\"gracePeriodDays\": -1", "gracePeriodDays");
	assert_rejected("\"gracePeriodDays\": 366", "gracePeriodDays");
	assert_rejected("\"workers\": 0", "workers");
	assert_rejected("\"workers\": 257", "workers");
	assert_rejected("\"maxRequests\": -1", "maxRequests");
	assert_rejected("\"maxRequests\": 100000001", "maxRequests");
	assert_rejected("\"maxRequests\": 99999999999999999999", "");
	assert_rejected("\"invoiceDueDays\": 366", "invoiceDueDays");
	assert_rejected("\"invoiceDraftHours\": 721", "invoiceDraftHours");
	assert_rejected("\"sessionTimeoutMinutes\": 0",
	    "sessionTimeoutMinutes");
	assert_rejected("\"sessionTimeoutMinutes\": 10081",
	    "sessionTimeoutMinutes");
	assert_rejected("\"database\": { \"port\": 65536 }", "database.port");
}
END_TEST

START_TEST(booleans_must_be_booleans)
{
	assert_rejected("\"enabled\": 1", "enabled: must be true or false");
	assert_rejected("\"autoSuspendOnOverage\": \"false\"",
	    "autoSuspendOnOverage");
	assert_rejected("\"stripeEnabled\": \"yes\"", "stripeEnabled");
}
END_TEST

START_TEST(billing_mode_must_be_known)
{
	struct billing_config *cfg;

	assert_rejected("\"billingMode\": \"prepaid\"", "billingMode");
	assert_rejected("\"billingMode\": 1", "billingMode");
	cfg = parse_with("\"billingMode\": \"subscription\", "
	    "\"subscriptionPlans\": [ { \"id\": \"basic\", \"name\": \"B\", "
	    "\"price\": 5, \"cpu_limit\": 1, \"memory_limit\": 1, "
	    "\"storage_limit\": 1 } ]");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->billing_mode, MODE_SUBSCRIPTION);
	ck_assert_str_eq(config_mode_name(cfg->billing_mode), "subscription");
	config_free(cfg);
}
END_TEST

START_TEST(subscription_mode_needs_a_plan)
{
	assert_rejected("\"billingMode\": \"subscription\"",
	    "subscriptionPlans: at least one plan");
	assert_rejected("\"billingMode\": \"hybrid\"", "subscriptionPlans");
}
END_TEST

START_TEST(rates_are_non_negative_six_decimal_numbers)
{
	assert_rejected("\"computeRates\": { \"cpu_per_core_hour\": -0.05 }",
	    "computeRates.cpu_per_core_hour: must be a non-negative decimal "
	    "with at most 6 decimals");
	assert_rejected("\"computeRates\": { \"memory_per_gb_hour\": "
	    "0.0000001 }", "computeRates.memory_per_gb_hour");
	assert_rejected("\"computeRates\": { \"storage_per_gb_month\": true }",
	    "computeRates.storage_per_gb_month");
	assert_rejected("\"computeRates\": [ 1 ]",
	    "computeRates: must be an object");
}
END_TEST

START_TEST(float_looking_money_is_exact)
{
	struct billing_config *cfg = parse_with("\"computeRates\": { "
	    "\"cpu_per_core_hour\": 0.1, \"memory_per_gb_hour\": \"0.05\", "
	    "\"storage_per_gb_month\": 0.000001 }");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->cpu_per_core_hour, 100000);
	ck_assert_int_eq(cfg->memory_per_gb_hour, 50000);
	ck_assert_int_eq(cfg->storage_per_gb_month, 1);
	config_free(cfg);
}
END_TEST

START_TEST(exponent_money_is_rejected)
{
	assert_rejected("\"computeRates\": { \"cpu_per_core_hour\": 1e-2 }",
	    "computeRates.cpu_per_core_hour");
	assert_rejected("\"computeRates\": { \"cpu_per_core_hour\": 5E1 }",
	    "computeRates.cpu_per_core_hour");
}
END_TEST

START_TEST(listen_forms_are_validated)
{
	struct billing_config *cfg;

	cfg = parse_with("\"listen\": \"/run/b.sock\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->listen, "/run/b.sock");
	config_free(cfg);
	cfg = parse_with("\"listen\": \"[::1]:8080\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	config_free(cfg);
	cfg = parse_with("\"listen\": \"localhost:65535\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	config_free(cfg);
	assert_rejected("\"listen\": \"unix:run/b.sock\"", "listen");
	assert_rejected("\"listen\": \"127.0.0.1:0\"", "listen");
	assert_rejected("\"listen\": \"127.0.0.1:65536\"", "listen");
	assert_rejected("\"listen\": \"127.0.0.1\"", "listen");
	assert_rejected("\"listen\": \":8080\"", "listen");
	assert_rejected("\"listen\": \"host:80a\"", "listen");
	assert_rejected("\"listen\": \"\"", "listen");
}
END_TEST

START_TEST(listen_mode_is_octal_text_or_an_integer)
{
	struct billing_config *cfg;

	cfg = parse_with("\"listenMode\": \"0666\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->listen_mode, 0666);
	config_free(cfg);
	cfg = parse_with("\"listenMode\": \"770\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->listen_mode, 0770);
	config_free(cfg);
	cfg = parse_with("\"listenMode\": 432");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->listen_mode, 0660);
	config_free(cfg);
	/* 660 written as a JSON integer is decimal: caught, not misread */
	assert_rejected("\"listenMode\": 660", "listenMode");
	assert_rejected("\"listenMode\": \"0680\"", "listenMode");
	assert_rejected("\"listenMode\": \"10660\"", "listenMode");
	assert_rejected("\"listenMode\": \"\"", "listenMode");
}
END_TEST

START_TEST(currency_is_three_lower_case_letters)
{
	assert_rejected("\"currency\": \"USD\"", "currency");
	assert_rejected("\"currency\": \"us\"", "currency");
	assert_rejected("\"currency\": \"usdx\"", "currency");
	assert_rejected("\"currency\": 840", "currency");
}
END_TEST

START_TEST(urls_must_be_http)
{
	assert_rejected("\"eventsWebhookUrl\": \"ftp://x\", "
	    "\"eventsWebhookSecret\": \"s\"", "eventsWebhookUrl");
	assert_rejected("\"platformSuspendUrl\": \"platform/suspend\"",
	    "platformSuspendUrl");
	assert_rejected("\"publicBaseUrl\": \"https://\"", "publicBaseUrl");
	assert_rejected("\"stripeApiBase\": \"api.stripe.com\"",
	    "stripeApiBase");
}
END_TEST

START_TEST(events_url_needs_a_secret)
{
	assert_rejected("\"eventsWebhookUrl\": \"https://x.example/e\"",
	    "eventsWebhookSecret: required");
}
END_TEST

START_TEST(suspend_url_needs_the_events_secret)
{
	struct billing_config *cfg;

	assert_rejected("\"platformSuspendUrl\": \"https://p.example/s\"",
	    "eventsWebhookSecret: required when platformSuspendUrl is set");
	setenv("BILLING_PLATFORM_SUSPEND_URL", "https://p.example/s", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "eventsWebhookSecret"));
	setenv("BILLING_EVENTS_WEBHOOK_SECRET", "evsecret", 1);
	cfg = parse_with("");
	ck_assert_msg(cfg != NULL, "%s", err);
	config_free(cfg);
}
END_TEST

START_TEST(stripe_api_base_is_https_unless_loopback)
{
	static const char *const ok[] = { "https://api.stripe.com",
	    "https://stripe.internal:8443/", "http://localhost:12111",
	    "http://127.0.0.1:12111", "http://127.5.6.7", "http://[::1]:12111",
	    "HTTP://LOCALHOST:1" };
	static const char *const bad[] = { "http://api.stripe.com",
	    "http://10.0.0.1:12111", "http://127.0.0.1.evil.example",
	    "http://localhost.evil.example", "http://128.0.0.1",
	    "http://[::2]:1", "http://127.0.0.256", "http://u@127.0.0.1" };
	char keys[256];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct billing_config *cfg;

		snprintf(keys, sizeof(keys), "\"stripeApiBase\": \"%s\"", ok[i]);
		cfg = parse_with(keys);
		ck_assert_msg(cfg != NULL, "%s: %s", ok[i], err);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(keys, sizeof(keys), "\"stripeApiBase\": \"%s\"", bad[i]);
		assert_rejected(keys, "stripeApiBase");
	}
	setenv("STRIPE_API_BASE", "http://stripe.example", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "STRIPE_API_BASE"));
}
END_TEST

START_TEST(checkout_return_origins_are_origins)
{
	struct billing_config *cfg = parse_with("\"checkoutReturnOrigins\": "
	    "[\"https://App.Example.com\", \"http://localhost:3000\"]");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->n_checkout_return_origins, 2);
	ck_assert_str_eq(cfg->checkout_return_origins[0], "https://app.example.com");
	ck_assert_str_eq(cfg->checkout_return_origins[1], "http://localhost:3000");
	config_free(cfg);
	assert_rejected("\"checkoutReturnOrigins\": \"https://a.example\"",
	    "checkoutReturnOrigins: must be an array");
	assert_rejected("\"checkoutReturnOrigins\": [\"https://a.example/x\"]",
	    "checkoutReturnOrigins[0]: must be an origin");
	assert_rejected("\"checkoutReturnOrigins\": [\"https://a.example\", 1]",
	    "checkoutReturnOrigins[1]: must be a string");
	assert_rejected("\"checkoutReturnOrigins\": [\"ftp://a.example\"]",
	    "checkoutReturnOrigins[0]");
}
END_TEST

START_TEST(usage_interval_needs_five_fields)
{
	struct billing_config *cfg;

	cfg = parse_with("\"usageCalculationInterval\": \"*/30 * * * MON-FRI\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->usage_calculation_interval, "*/30 * * * MON-FRI");
	config_free(cfg);
	assert_rejected("\"usageCalculationInterval\": \"0 * * *\"",
	    "usageCalculationInterval");
	assert_rejected("\"usageCalculationInterval\": \"0 * * * * *\"",
	    "usageCalculationInterval");
	assert_rejected("\"usageCalculationInterval\": \"@hourly\"",
	    "usageCalculationInterval");
}
END_TEST

START_TEST(strings_reject_empty_and_control_characters)
{
	assert_rejected("\"publicBaseUrl\": \"\"", "publicBaseUrl: must not "
	    "be empty");
	assert_rejected("\"database\": { \"user\": \"a\\nb\" }",
	    "database.user: must not contain control characters");
	assert_rejected("\"database\": { \"name\": \"a\\u0000b\" }",
	    "database.name");
	assert_rejected("\"database\": { \"socket\": \"mysqld.sock\" }",
	    "database.socket: must be an absolute path");
	assert_rejected("\"database\": \"localhost\"",
	    "database: must be an object");
}
END_TEST

START_TEST(jwt_key_is_required)
{
	ck_assert_ptr_null(parse("{}"));
	ck_assert_str_eq(err, "jwtSecret: one of jwtSecret or "
	    "jwtPublicKeyFile is required (or BILLING_JWT_SECRET)");
}
END_TEST

START_TEST(jwt_public_key_file_alone_is_enough)
{
	struct billing_config *cfg;

	cfg = parse("{ \"jwtPublicKeyFile\": \"/etc/billing/jwt.pem\" }");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_null(cfg->jwt_secret);
	ck_assert_str_eq(cfg->jwt_public_key_file, "/etc/billing/jwt.pem");
	config_free(cfg);
}
END_TEST

START_TEST(jwt_user_claims_default_to_sub_and_issuer_to_none)
{
	struct billing_config *cfg = parse_with("");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->n_jwt_user_claims, 1);
	ck_assert_str_eq(cfg->jwt_user_claims[0], "sub");
	ck_assert_ptr_null(cfg->jwt_issuer);
	config_free(cfg);
	/* null leaves the defaults */
	cfg = parse_with("\"jwtUserClaims\": null, \"jwtIssuer\": null");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->n_jwt_user_claims, 1);
	ck_assert_str_eq(cfg->jwt_user_claims[0], "sub");
	ck_assert_ptr_null(cfg->jwt_issuer);
	config_free(cfg);
}
END_TEST

START_TEST(jwt_user_claims_and_issuer_are_read_in_order)
{
	struct billing_config *cfg;

	cfg = parse_with("\"jwtUserClaims\": [\"username\", \"sub\"], "
	    "\"jwtIssuer\": \"streamspace-api\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->n_jwt_user_claims, 2);
	ck_assert_str_eq(cfg->jwt_user_claims[0], "username");
	ck_assert_str_eq(cfg->jwt_user_claims[1], "sub");
	ck_assert_str_eq(cfg->jwt_issuer, "streamspace-api");
	config_free(cfg);
	/* eight is the most, and any claim name will do */
	cfg = parse_with("\"jwtUserClaims\": [\"a\", \"b\", \"c\", \"d\", "
	    "\"e\", \"f\", \"preferred username\", \"sub\"]");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->n_jwt_user_claims, 8);
	ck_assert_str_eq(cfg->jwt_user_claims[6], "preferred username");
	config_free(cfg);
}
END_TEST

START_TEST(jwt_user_claims_are_validated)
{
	char long_name[80], buf[160];

	assert_rejected("\"jwtUserClaims\": []",
	    "jwtUserClaims: must be an array of 1 to 8 claim names");
	assert_rejected("\"jwtUserClaims\": \"username\"",
	    "jwtUserClaims: must be an array");
	assert_rejected("\"jwtUserClaims\": [\"a\", \"b\", \"c\", \"d\", "
	    "\"e\", \"f\", \"g\", \"h\", \"sub\"]",
	    "jwtUserClaims: must be an array of 1 to 8");
	assert_rejected("\"jwtUserClaims\": [\"username\", 1]",
	    "jwtUserClaims[1]: must be a string");
	assert_rejected("\"jwtUserClaims\": [null]",
	    "jwtUserClaims[0]: must be a string");
	assert_rejected("\"jwtUserClaims\": [\"\"]",
	    "jwtUserClaims[0]: a claim name is 1 to 64 bytes");
	assert_rejected("\"jwtUserClaims\": [\"user\\nname\"]",
	    "jwtUserClaims[0]: a claim name is 1 to 64 bytes without "
	    "control characters");
	assert_rejected("\"jwtUserClaims\": [\"user\\u0000name\"]",
	    "jwtUserClaims[0]");
	assert_rejected("\"jwtUserClaims\": [\"sub\", \"username\", "
	    "\"sub\"]", "jwtUserClaims[2]: listed twice");
	memset(long_name, 'x', 65);
	long_name[65] = '\0';
	snprintf(buf, sizeof(buf), "\"jwtUserClaims\": [\"%s\"]", long_name);
	assert_rejected(buf, "jwtUserClaims[0]: a claim name is 1 to 64");
	long_name[64] = '\0';
	snprintf(buf, sizeof(buf), "\"jwtUserClaims\": [\"%s\"]", long_name);
	config_free(parse_with(buf));
	ck_assert_msg(err[0] == '\0', "64 bytes refused: %s", err);
}
END_TEST

START_TEST(jwt_issuer_is_a_string)
{
	assert_rejected("\"jwtIssuer\": \"\"", "jwtIssuer: must not be empty");
	assert_rejected("\"jwtIssuer\": 1", "jwtIssuer: must be a string");
	assert_rejected("\"jwtIssuer\": \"streamspace\\tapi\"",
	    "jwtIssuer: must not contain control characters");
}
END_TEST

START_TEST(short_jwt_secret_is_weak)
{
	ck_assert_ptr_null(parse("{ \"jwtSecret\": \"tooshortsecret\" }"));
	ck_assert_ptr_nonnull(strstr(err, "jwtSecret: must be at least 32 "
	    "bytes"));
	ck_assert_ptr_nonnull(strstr(err, "weak"));
	ck_assert_ptr_null(strstr(err, "tooshortsecret"));

	setenv("BILLING_JWT_SECRET", "envshortsecret", 1);
	ck_assert_ptr_null(parse("{}"));
	ck_assert_ptr_nonnull(strstr(err, "BILLING_JWT_SECRET"));
	ck_assert_ptr_null(strstr(err, "envshortsecret"));
}
END_TEST

START_TEST(secrets_never_appear_in_errors)
{
	ck_assert_ptr_null(parse_with("\"stripeSecretKey\": "
	    "\"sk_live_SECRETVALUE\\u0001\""));
	ck_assert_ptr_nonnull(strstr(err, "stripeSecretKey"));
	ck_assert_ptr_null(strstr(err, "SECRETVALUE"));

	ck_assert_ptr_null(parse_with("\"stripeEnabled\": true, "
	    "\"stripeWebhookSecret\": \"whsec_SECRETVALUE,\""));
	ck_assert_ptr_null(strstr(err, "SECRETVALUE"));

	setenv("STRIPE_SECRET_KEY", "sk_SECRETVALUE\n", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "STRIPE_SECRET_KEY"));
	ck_assert_ptr_null(strstr(err, "SECRETVALUE"));
}
END_TEST

START_TEST(webhook_secrets_rotate_from_a_list)
{
	struct billing_config *cfg;

	cfg = parse_with("\"stripeWebhookSecret\": \"whsec_new, whsec_old\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 2);
	ck_assert_str_eq(cfg->stripe_webhook_secrets[0], "whsec_new");
	ck_assert_str_eq(cfg->stripe_webhook_secrets[1], "whsec_old");
	config_free(cfg);

	cfg = parse_with("\"stripeWebhookSecret\": [ \"whsec_a\", "
	    "\"whsec_b\", \"whsec_c\" ]");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 3);
	ck_assert_str_eq(cfg->stripe_webhook_secrets[2], "whsec_c");
	config_free(cfg);

	setenv("STRIPE_WEBHOOK_SECRET", "whsec_x,whsec_y", 1);
	cfg = parse_with("\"stripeWebhookSecret\": [ \"whsec_a\" ]");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 2);
	ck_assert_str_eq(cfg->stripe_webhook_secrets[0], "whsec_x");
	ck_assert_str_eq(cfg->stripe_webhook_secrets[1], "whsec_y");
	config_free(cfg);
}
END_TEST

START_TEST(streamspace_webhook_keys)
{
	struct billing_config *cfg;

	cfg = parse_with("");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_streamspace_webhook_secrets, 0);
	ck_assert_int_eq(cfg->streamspace_webhook_tolerance_seconds, 3600);
	ck_assert_int_eq(cfg->streamspace_home_storage_gb, 0);
	config_free(cfg);

	cfg = parse_with("\"streamspaceWebhookSecret\": \"s1, s2\", "
	    "\"streamspaceWebhookToleranceSeconds\": 600, "
	    "\"streamspaceHomeStorageGb\": 20");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_streamspace_webhook_secrets, 2);
	ck_assert_str_eq(cfg->streamspace_webhook_secrets[1], "s2");
	ck_assert_int_eq(cfg->streamspace_webhook_tolerance_seconds, 600);
	ck_assert_int_eq(cfg->streamspace_home_storage_gb, 20);
	/* the Stripe list is another list */
	ck_assert_int_eq(cfg->n_stripe_webhook_secrets, 0);
	config_free(cfg);

	/* the environment wins */
	setenv("STREAMSPACE_WEBHOOK_SECRET", "e1,e2,e3", 1);
	cfg = parse_with("\"streamspaceWebhookSecret\": [ \"f1\" ]");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_streamspace_webhook_secrets, 3);
	ck_assert_str_eq(cfg->streamspace_webhook_secrets[0], "e1");
	config_free(cfg);
	setenv("STREAMSPACE_WEBHOOK_SECRET", "e1,,e2", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "STREAMSPACE_WEBHOOK_SECRET"));
	unsetenv("STREAMSPACE_WEBHOOK_SECRET");

	assert_rejected("\"streamspaceWebhookSecret\": \"a,,b\"",
	    "streamspaceWebhookSecret: empty secret");
	assert_rejected("\"streamspaceWebhookToleranceSeconds\": 0",
	    "streamspaceWebhookToleranceSeconds");
	assert_rejected("\"streamspaceHomeStorageGb\": -1",
	    "streamspaceHomeStorageGb");
}
END_TEST

START_TEST(webhook_secret_list_rejects_empty_items_and_excess)
{
	assert_rejected("\"stripeWebhookSecret\": \"whsec_a,,whsec_b\"",
	    "stripeWebhookSecret: empty secret");
	assert_rejected("\"stripeWebhookSecret\": \"whsec_a,\"",
	    "stripeWebhookSecret");
	assert_rejected("\"stripeWebhookSecret\": [ \"whsec_a\", \"\" ]",
	    "stripeWebhookSecret");
	assert_rejected("\"stripeWebhookSecret\": [ 1 ]",
	    "stripeWebhookSecret");
	assert_rejected("\"stripeWebhookSecret\": \"a,b,c,d,e,f,g,h,i\"",
	    "stripeWebhookSecret: at most 8");

	setenv("STRIPE_WEBHOOK_SECRET", "whsec_a, ,whsec_b", 1);
	ck_assert_ptr_null(parse_with(""));
	ck_assert_ptr_nonnull(strstr(err, "STRIPE_WEBHOOK_SECRET"));
}
END_TEST

START_TEST(stripe_is_enabled_by_a_key_when_not_said)
{
	struct billing_config *cfg;

	setenv("STRIPE_SECRET_KEY", "sk_test_123", 1);
	cfg = parse_with("");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->stripe_enabled, 1);
	config_free(cfg);
}
END_TEST

START_TEST(stripe_is_disabled_without_a_key)
{
	struct billing_config *cfg = parse_with("");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->stripe_enabled, 0);
	config_free(cfg);
}
END_TEST

START_TEST(stripe_enabled_true_requires_a_key)
{
	struct billing_config *cfg;

	assert_rejected("\"stripeEnabled\": true",
	    "stripeSecretKey: required when stripeEnabled is true");
	setenv("STRIPE_SECRET_KEY", "sk_test_123", 1);
	cfg = parse_with("\"stripeEnabled\": true");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->stripe_enabled, 1);
	config_free(cfg);
}
END_TEST

START_TEST(stripe_enabled_false_wins_over_a_key)
{
	struct billing_config *cfg;

	setenv("STRIPE_SECRET_KEY", "sk_test_123", 1);
	cfg = parse_with("\"stripeEnabled\": false, "
	    "\"stripeSecretKey\": \"sk_test_file\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->stripe_enabled, 0);
	config_free(cfg);
}
END_TEST

START_TEST(plan_fields_are_validated)
{
	struct billing_config *cfg;

	cfg = parse_with(PLAN(", \"interval\": \"year\", "
	    "\"cpu_limit\": 0.5"));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->plans[0].interval, INTERVAL_YEAR);
	ck_assert_int_eq(cfg->plans[0].cpu_limit, 500000);
	config_free(cfg);

	assert_rejected(PLAN(", \"price\": 9.999"),
	    "subscriptionPlans[0].price: must be a non-negative decimal with "
	    "at most 2 decimals");
	assert_rejected(PLAN(", \"price\": -1"), "subscriptionPlans[0].price");
	assert_rejected(PLAN(", \"interval\": \"week\""),
	    "subscriptionPlans[0].interval");
	assert_rejected(PLAN(", \"memory_limit\": 1.0000001"),
	    "subscriptionPlans[0].memory_limit");
	assert_rejected(PLAN(", \"id\": \"Pro\""), "subscriptionPlans[0].id");
	assert_rejected(PLAN(", \"id\": \"pro plan\""),
	    "subscriptionPlans[0].id");
	assert_rejected(PLAN(", \"colour\": \"red\""),
	    "subscriptionPlans[0].colour: unknown key");
	assert_rejected(PLAN(", \"stripe_price_id\": 5"),
	    "subscriptionPlans[0].stripe_price_id");
}
END_TEST

START_TEST(plan_required_fields_are_named)
{
	assert_rejected("\"subscriptionPlans\": [ { \"id\": \"p\", "
	    "\"name\": \"P\", \"cpu_limit\": 1, \"memory_limit\": 1, "
	    "\"storage_limit\": 1 } ]", "subscriptionPlans[0].price: required");
	assert_rejected("\"subscriptionPlans\": [ { \"name\": \"P\" } ]",
	    "subscriptionPlans[0].id: required");
	assert_rejected("\"subscriptionPlans\": [ { \"id\": \"p\", "
	    "\"price\": 1 } ]", "subscriptionPlans[0].name: required");
}
END_TEST

START_TEST(plans_shape_is_checked)
{
	assert_rejected("\"subscriptionPlans\": { \"id\": \"p\" }",
	    "subscriptionPlans: must be an array");
	assert_rejected("\"subscriptionPlans\": [ \"free\" ]",
	    "subscriptionPlans[0]: must be an object");
}
END_TEST

START_TEST(duplicate_plan_ids_are_rejected)
{
	assert_rejected("\"subscriptionPlans\": ["
	    "{ \"id\": \"a\", \"name\": \"A\", \"price\": 1, \"cpu_limit\": 1, "
	    "\"memory_limit\": 1, \"storage_limit\": 1 },"
	    "{ \"id\": \"a\", \"name\": \"B\", \"price\": 2, \"cpu_limit\": 1, "
	    "\"memory_limit\": 1, \"storage_limit\": 1 } ]",
	    "subscriptionPlans[1].id: duplicate plan id");
	assert_rejected("\"subscriptionPlans\": ["
	    "{ \"id\": \"a\", \"name\": \"A\", \"price\": 1, \"cpu_limit\": 1, "
	    "\"memory_limit\": 1, \"storage_limit\": 1, "
	    "\"stripe_price_id\": \"price_x\" },"
	    "{ \"id\": \"b\", \"name\": \"B\", \"price\": 2, \"cpu_limit\": 1, "
	    "\"memory_limit\": 1, \"storage_limit\": 1, "
	    "\"stripe_price_id\": \"price_x\" } ]",
	    "subscriptionPlans[1].stripe_price_id");
}
END_TEST

START_TEST(too_many_plans_are_rejected)
{
	char keys[12000];
	size_t n = 0;
	int i;

	n += (size_t)snprintf(keys + n, sizeof(keys) - n,
	    "\"subscriptionPlans\": [");
	for (i = 0; i <= CONFIG_MAX_PLANS; i++)
		n += (size_t)snprintf(keys + n, sizeof(keys) - n,
		    "%s{\"id\":\"p%d\",\"name\":\"P\",\"price\":1,"
		    "\"cpu_limit\":1,\"memory_limit\":1,\"storage_limit\":1}",
		    i ? "," : "", i);
	snprintf(keys + n, sizeof(keys) - n, "]");
	ck_assert_uint_lt(n, sizeof(keys) - 2);
	assert_rejected(keys, "subscriptionPlans: at most 64 plans");
}
END_TEST

START_TEST(default_plan_must_name_a_plan)
{
	struct billing_config *cfg;

	cfg = parse(seed_example);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->default_plan, "free");
	config_free(cfg);

	cfg = parse_with(PLAN(", \"id\": \"starter\"") ", "
	    "\"defaultPlan\": \"starter\"");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->default_plan, "starter");
	config_free(cfg);

	cfg = parse_with(PLAN(""));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_null(cfg->default_plan);
	config_free(cfg);

	assert_rejected(PLAN("") ", \"defaultPlan\": \"gold\"",
	    "defaultPlan");
}
END_TEST

START_TEST(database_timeouts_and_report_range_have_defaults_and_bounds)
{
	struct billing_config *cfg = parse_with("");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->database.read_timeout, 0);
	ck_assert_uint_eq(cfg->database.report_timeout, 300);
	ck_assert_int_eq(cfg->report_max_days, 366);
	ck_assert_int_eq(cfg->database.ssl.enabled, 0);
	config_free(cfg);

	cfg = parse_with("\"database\": { \"readTimeoutSeconds\": 20, "
	    "\"reportTimeoutSeconds\": 900 }, \"reportMaxDays\": 31");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->database.read_timeout, 20);
	ck_assert_uint_eq(cfg->database.report_timeout, 900);
	ck_assert_int_eq(cfg->report_max_days, 31);
	config_free(cfg);

	assert_rejected("\"reportMaxDays\": 0", "reportMaxDays");
	assert_rejected("\"reportMaxDays\": 3661", "reportMaxDays");
	assert_rejected("\"reportMaxDays\": \"366\"", "reportMaxDays");
	assert_rejected("\"database\": { \"reportTimeoutSeconds\": 0 }",
	    "database.reportTimeoutSeconds");
	assert_rejected("\"database\": { \"reportTimeoutSeconds\": 86401 }",
	    "database.reportTimeoutSeconds");
}
END_TEST

/* A readable file of ours for the TLS keys; the caller unlinks it. */
static void
temp_file(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/check_config_tls.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "pem\n", 4), 4);
	close(fd);
}

START_TEST(database_ssl_keys_are_read)
{
	char ca[64], cert[64], key[64], keys[512];
	struct billing_config *cfg;

	temp_file(ca, sizeof(ca));
	temp_file(cert, sizeof(cert));
	temp_file(key, sizeof(key));
	snprintf(keys, sizeof(keys), "\"database\": { \"ssl\": { \"ca\": "
	    "\"%s\", \"cert\": \"%s\", \"key\": \"%s\", "
	    "\"verifyServerCert\": false } }", ca, cert, key);
	cfg = parse_with(keys);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->database.ssl.enabled, 1);
	ck_assert_str_eq(cfg->database.ssl.ca, ca);
	ck_assert_str_eq(cfg->database.ssl.cert, cert);
	ck_assert_str_eq(cfg->database.ssl.key, key);
	ck_assert_int_eq(cfg->database.ssl.verify, 0);
	config_free(cfg);

	/* an empty object asks for TLS, verified against the system's CAs */
	cfg = parse_with("\"database\": { \"ssl\": {} }");
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->database.ssl.enabled, 1);
	ck_assert_ptr_null(cfg->database.ssl.ca);
	ck_assert_int_eq(cfg->database.ssl.verify, 1);
	config_free(cfg);

	/* a cert without its key (or the reverse) is a mistake */
	snprintf(keys, sizeof(keys), "\"database\": { \"ssl\": { \"cert\": "
	    "\"%s\" } }", cert);
	assert_rejected(keys, "database.ssl");
	snprintf(keys, sizeof(keys), "\"database\": { \"ssl\": { \"key\": "
	    "\"%s\" } }", key);
	assert_rejected(keys, "database.ssl");
	unlink(ca);
	unlink(cert);
	unlink(key);
}
END_TEST

START_TEST(database_ssl_files_must_be_readable_now)
{
	assert_rejected("\"database\": { \"ssl\": { \"ca\": "
	    "\"/nonexistent/ca.pem\" } }", "database.ssl.ca");
	ck_assert_msg(strstr(err, "cannot be read") != NULL, "%s", err);
	assert_rejected("\"database\": { \"ssl\": { \"ca\": \"ca.pem\" } }",
	    "database.ssl.ca");
	assert_rejected("\"database\": { \"ssl\": { \"cert\": "
	    "\"/nonexistent/c.pem\", \"key\": \"/nonexistent/k.pem\" } }",
	    "database.ssl.cert");
	assert_rejected("\"database\": { \"ssl\": { \"verifyServerCert\": 1 } }",
	    "database.ssl.verifyServerCert");
	assert_rejected("\"database\": { \"ssl\": { \"capath\": \"/etc\" } }",
	    "database.ssl.capath");
	assert_rejected("\"database\": { \"ssl\": true }", "database.ssl");
}
END_TEST

START_TEST(find_plan_by_id)
{
	struct billing_config *cfg = parse(seed_example);
	const struct plan *p;

	ck_assert_msg(cfg != NULL, "%s", err);
	p = config_find_plan(cfg, "pro");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->price, 29990000);
	ck_assert_ptr_null(config_find_plan(cfg, "gold"));
	ck_assert_ptr_null(config_find_plan(cfg, NULL));
	ck_assert_ptr_null(config_find_plan(NULL, "pro"));
	config_free(cfg);
}
END_TEST

START_TEST(invalid_json_is_rejected)
{
	ck_assert_ptr_null(parse(""));
	ck_assert_ptr_null(parse("{ \"jwtSecret\": \"" SECRET "\", }"));
	ck_assert_ptr_nonnull(strstr(err, "line 1"));
	ck_assert_ptr_null(parse("{ \"jwtSecret\": \"" SECRET "\" } {}"));
	ck_assert_ptr_nonnull(strstr(err, "line 1"));
	ck_assert_ptr_null(parse("{ \"jwtSecret\": '" SECRET "' }"));
	ck_assert_ptr_null(parse("{\n\n /* c */ }"));
	ck_assert_ptr_nonnull(strstr(err, "line 3"));
	ck_assert_ptr_null(parse("[ 1 ]"));
	ck_assert_ptr_nonnull(strstr(err, "must be a JSON object"));
	ck_assert_ptr_null(parse("{ \"jwtSecret\": \"" SECRET "\""));
	ck_assert_ptr_null(config_parse("{}\0{}", 5, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
}
END_TEST

START_TEST(deep_nesting_is_rejected)
{
	char buf[128];
	int i, n = 0;

	for (i = 0; i < 20; i++)
		buf[n++] = '[';
	for (i = 0; i < 20; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	ck_assert_ptr_null(parse(buf));
	ck_assert_ptr_nonnull(strstr(err, "nested"));
}
END_TEST

START_TEST(missing_file_names_the_path_and_errno)
{
	ck_assert_ptr_null(config_load("/nonexistent/billing.json", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/billing.json: cannot read: "
	    "No such file or directory");
}
END_TEST

/* Writes text to a fresh file in the current directory; caller unlinks. */
static void
write_temp(char *path, const char *text, size_t len)
{
	FILE *f;
	int fd;

	strcpy(path, "check_config.XXXXXX");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(load_reads_the_file)
{
	struct billing_config *cfg;
	char path[64];

	write_temp(path, seed_example, strlen(seed_example));
	cfg = config_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_plans, 3);
	config_free(cfg);
}
END_TEST

START_TEST(load_without_path_uses_billing_config)
{
	struct billing_config *cfg;
	char path[64];

	ck_assert_str_eq(config_default_path(),
	    "/etc/streamspace-billing/billing.json");
	write_temp(path, seed_example, strlen(seed_example));
	setenv("BILLING_CONFIG", path, 1);
	ck_assert_str_eq(config_default_path(), path);
	cfg = config_load(NULL, err, sizeof(err));
	unlink(path);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->plans[1].id, "pro");
	config_free(cfg);
}
END_TEST

START_TEST(load_refuses_files_over_1_mib)
{
	char path[64], *big;
	size_t len = 1024 * 1024 + 1;

	ck_assert_ptr_nonnull(big = malloc(len));
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	write_temp(path, big, len);
	free(big);
	ck_assert_ptr_null(config_load(path, err, sizeof(err)));
	unlink(path);
	ck_assert_ptr_nonnull(strstr(err, "larger than 1 MiB"));
}
END_TEST

START_TEST(free_null_is_a_no_op)
{
	config_free(NULL);
}
END_TEST

START_TEST(mode_names)
{
	ck_assert_str_eq(config_mode_name(MODE_USAGE), "usage");
	ck_assert_str_eq(config_mode_name(MODE_SUBSCRIPTION), "subscription");
	ck_assert_str_eq(config_mode_name(MODE_HYBRID), "hybrid");
}
END_TEST

START_TEST(tax_rates_and_issuer_are_read_exactly)
{
	struct billing_config *cfg = parse_with(
	    "\"taxRates\": [{\"id\": \"vat20\", \"name\": \"VAT\", "
	    "\"percent\": 20, \"inclusive\": false}, {\"id\": \"gst\", "
	    "\"name\": \"GST\", \"percent\": 7.6543, \"inclusive\": true}, "
	    "{\"id\": \"zero\", \"name\": \"Zero\", \"percent\": \"0\"}], "
	    "\"defaultTaxRate\": \"gst\", \"invoiceIssuer\": {\"name\": "
	    "\"StreamSpace Demo Ltd\", \"address\": [\"1 Example Street\", "
	    "\"London\"], \"email\": \"billing@example.com\", \"taxId\": "
	    "\"GB123\"}");
	const struct tax_rate *t;

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->n_tax_rates, 3);
	t = config_find_tax_rate(cfg, "vat20");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->percent, 20000000);
	ck_assert_int_eq(t->inclusive, 0);
	t = config_find_tax_rate(cfg, "gst");
	ck_assert_int_eq(t->percent, 7654300);
	ck_assert_int_eq(t->inclusive, 1);
	ck_assert_int_eq(config_find_tax_rate(cfg, "zero")->percent, 0);
	ck_assert_ptr_null(config_find_tax_rate(cfg, "nope"));
	ck_assert_str_eq(cfg->default_tax_rate, "gst");
	ck_assert_str_eq(cfg->issuer.name, "StreamSpace Demo Ltd");
	ck_assert_int_eq(cfg->issuer.n_address, 2);
	ck_assert_str_eq(cfg->issuer.address[1], "London");
	ck_assert_str_eq(cfg->issuer.email, "billing@example.com");
	ck_assert_str_eq(cfg->issuer.tax_id, "GB123");
	config_free(cfg);
}
END_TEST

START_TEST(bad_tax_rates_fail_naming_the_key)
{
	/* a fifth decimal, above 100, negative, missing, duplicate, unknown */
	assert_rejected("\"taxRates\": [{\"id\": \"a\", \"name\": \"A\", "
	    "\"percent\": 20.00001}]", "taxRates[0].percent");
	assert_rejected("\"taxRates\": [{\"id\": \"a\", \"name\": \"A\", "
	    "\"percent\": 100.0001}]", "taxRates[0].percent");
	assert_rejected("\"taxRates\": [{\"id\": \"a\", \"name\": \"A\", "
	    "\"percent\": -1}]", "taxRates[0].percent");
	assert_rejected("\"taxRates\": [{\"id\": \"a\", \"name\": \"A\"}]",
	    "taxRates[0].percent");
	assert_rejected("\"taxRates\": [{\"id\": \"a\", \"name\": \"A\", "
	    "\"percent\": 1}, {\"id\": \"a\", \"name\": \"B\", "
	    "\"percent\": 2}]", "taxRates[1].id");
	assert_rejected("\"taxRates\": [{\"id\": \"A B\", \"name\": \"A\", "
	    "\"percent\": 1}]", "taxRates[0].id");
	assert_rejected("\"defaultTaxRate\": \"vat20\"", "defaultTaxRate");
	assert_rejected("\"invoiceIssuer\": {\"address\": []}",
	    "invoiceIssuer.name");
	assert_rejected("\"invoiceIssuer\": {\"name\": \"X\", \"address\": "
	    "[\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\"]}",
	    "invoiceIssuer.address");
}
END_TEST

START_TEST(a_plan_may_carry_its_own_tax_rate)
{
	struct billing_config *cfg = parse_with(
	    "\"taxRates\": [{\"id\": \"inc20\", \"name\": \"VAT\", "
	    "\"percent\": 20, \"inclusive\": true}], "
	    "\"subscriptionPlans\": [{\"id\": \"a\", \"name\": \"A\", "
	    "\"price\": 1, \"interval\": \"month\", \"cpu_limit\": 1, "
	    "\"memory_limit\": 1, \"storage_limit\": 1, \"tax_rate_id\": "
	    "\"inc20\"}, {\"id\": \"b\", \"name\": \"B\", \"price\": 2, "
	    "\"interval\": \"month\", \"cpu_limit\": 1, \"memory_limit\": 1, "
	    "\"storage_limit\": 1}]");

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(config_find_plan(cfg, "a")->tax_rate_id, "inc20");
	ck_assert_ptr_null(config_find_plan(cfg, "b")->tax_rate_id);
	config_free(cfg);
	/* a rate that taxRates does not have: the plan's key is named */
	assert_rejected("\"taxRates\": [{\"id\": \"inc20\", \"name\": \"VAT\", "
	    "\"percent\": 20}], \"subscriptionPlans\": [{\"id\": \"a\", "
	    "\"name\": \"A\", \"price\": 1, \"interval\": \"month\", "
	    "\"cpu_limit\": 1, \"memory_limit\": 1, \"storage_limit\": 1}, "
	    "{\"id\": \"b\", \"name\": \"B\", \"price\": 1, \"interval\": "
	    "\"month\", \"cpu_limit\": 1, \"memory_limit\": 1, "
	    "\"storage_limit\": 1, \"tax_rate_id\": \"vat7\"}]",
	    "subscriptionPlans[1].tax_rate_id");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("seed");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, seed_example_parses_with_exact_rates);
	tcase_add_test(tc, tax_rates_and_issuer_are_read_exactly);
	tcase_add_test(tc, bad_tax_rates_fail_naming_the_key);
	tcase_add_test(tc, a_plan_may_carry_its_own_tax_rate);
	tcase_add_test(tc, seed_example_plans_hold_their_values);
	tcase_add_test(tc, float_looking_money_is_exact);
	tcase_add_test(tc, exponent_money_is_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("defaults");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, absent_keys_take_their_defaults);
	tcase_add_test(tc, workers_default_to_online_cpus);
	tcase_add_test(tc, our_keys_are_read);
	tcase_add_test(tc, null_means_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, env_overrides_win_over_the_file);
	tcase_add_test(tc, empty_env_counts_as_unset);
	tcase_add_test(tc, env_jwt_secret_alone_is_enough);
	tcase_add_test(tc, bad_env_url_names_the_variable);
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, unknown_key_is_rejected);
	tcase_add_test(tc, invoice_day_must_be_1_to_28);
	tcase_add_test(tc, integer_bounds_are_enforced);
	tcase_add_test(tc, booleans_must_be_booleans);
	tcase_add_test(tc, billing_mode_must_be_known);
	tcase_add_test(tc, subscription_mode_needs_a_plan);
	tcase_add_test(tc, rates_are_non_negative_six_decimal_numbers);
	tcase_add_test(tc, listen_forms_are_validated);
	tcase_add_test(tc, listen_mode_is_octal_text_or_an_integer);
	tcase_add_test(tc, currency_is_three_lower_case_letters);
	tcase_add_test(tc, urls_must_be_http);
	tcase_add_test(tc, events_url_needs_a_secret);
	tcase_add_test(tc, suspend_url_needs_the_events_secret);
	tcase_add_test(tc, stripe_api_base_is_https_unless_loopback);
	tcase_add_test(tc, checkout_return_origins_are_origins);
	tcase_add_test(tc, usage_interval_needs_five_fields);
	tcase_add_test(tc, strings_reject_empty_and_control_characters);
	tcase_add_test(tc, invalid_json_is_rejected);
	tcase_add_test(tc, deep_nesting_is_rejected);
	tcase_add_test(tc,
	    database_timeouts_and_report_range_have_defaults_and_bounds);
	tcase_add_test(tc, database_ssl_keys_are_read);
	tcase_add_test(tc, database_ssl_files_must_be_readable_now);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, jwt_key_is_required);
	tcase_add_test(tc, jwt_public_key_file_alone_is_enough);
	tcase_add_test(tc, short_jwt_secret_is_weak);
	tcase_add_test(tc, jwt_user_claims_default_to_sub_and_issuer_to_none);
	tcase_add_test(tc, jwt_user_claims_and_issuer_are_read_in_order);
	tcase_add_test(tc, jwt_user_claims_are_validated);
	tcase_add_test(tc, jwt_issuer_is_a_string);
	tcase_add_test(tc, secrets_never_appear_in_errors);
	tcase_add_test(tc, webhook_secrets_rotate_from_a_list);
	tcase_add_test(tc, streamspace_webhook_keys);
	tcase_add_test(tc, webhook_secret_list_rejects_empty_items_and_excess);
	tcase_add_test(tc, stripe_is_enabled_by_a_key_when_not_said);
	tcase_add_test(tc, stripe_is_disabled_without_a_key);
	tcase_add_test(tc, stripe_enabled_true_requires_a_key);
	tcase_add_test(tc, stripe_enabled_false_wins_over_a_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("plans");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, plan_fields_are_validated);
	tcase_add_test(tc, plan_required_fields_are_named);
	tcase_add_test(tc, plans_shape_is_checked);
	tcase_add_test(tc, duplicate_plan_ids_are_rejected);
	tcase_add_test(tc, too_many_plans_are_rejected);
	tcase_add_test(tc, default_plan_must_name_a_plan);
	tcase_add_test(tc, find_plan_by_id);
	tcase_add_test(tc, mode_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, clear_env, clear_env);
	tcase_add_test(tc, missing_file_names_the_path_and_errno);
	tcase_add_test(tc, load_reads_the_file);
	tcase_add_test(tc, load_without_path_uses_billing_config);
	tcase_add_test(tc, load_refuses_files_over_1_mib);
	tcase_add_test(tc, free_null_is_a_no_op);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
