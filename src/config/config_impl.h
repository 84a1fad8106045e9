/*
 * config_impl: what the files of the config module share; not an API
 * (config.h is).
 *
 *   config.c         the API: parse, load, free, find a plan, mode names;
 *                    reading the file, JSON errors, the environment
 *                    overrides and the rules that span several keys
 *   config_keys.c    the declarative key tables and their custom handlers
 *   config_engine.c  the engine that applies a table to a JSON object, and
 *                    the helpers the others share (errors, secrets)
 *   config_check.c   the string rules (URLs, listen address, cron, ...)
 *
 * Calls go one way, down this list: config.c uses the keys, the engine
 * and the checks; the keys use the engine and the checks; the engine uses
 * the checks; the checks use none of the others.
 */
#ifndef BILLING_CONFIG_IMPL_H
#define BILLING_CONFIG_IMPL_H

#include <stddef.h>

#include "config.h"
#include "errbuf.h"

struct json_object;

#define STR_MAX 4096		/* any string value, in bytes */
#define PATH_TEXT 192		/* a key path in a message */

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
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* -- config_keys.c -- */

/* "usage", "subscription", "hybrid": enum billing_mode's names */
extern const char *const config_mode_names[MODE_HYBRID + 1];

/* config_parse's steps: every table's defaults into cfg, then the file's
 * top-level object. */
int config_keys_defaults(struct billing_config *cfg, char *err,
    size_t errlen);
int config_keys_apply(struct json_object *root, struct billing_config *cfg,
    char *err, size_t errlen);

/* A list of secrets (stripeWebhookSecret, streamspaceWebhookSecret) */
void config_clear_secret_list(char **list, size_t *n);
int config_add_secrets_csv(char **list, size_t *n, const char *s,
    size_t len, const char *path, char *err, size_t errlen);

/* stripeWebhookSecret's list, also set by STRIPE_WEBHOOK_SECRET */
void config_clear_webhook_secrets(struct billing_config *cfg);
int config_add_webhook_csv(struct billing_config *cfg, const char *s,
    size_t len, const char *path, char *err, size_t errlen);

/* email.events' list */
void config_clear_email_events(struct email_config *ec);

/* jwtUserClaims' list */
void config_clear_user_claims(struct billing_config *cfg);

/* -- config_engine.c: the engine, and the helpers every file of the
 * module uses (printable key names, wiping secrets; errors: errbuf_set)
 * -- */

void config_safe_text(char *dst, size_t size, const char *src, size_t max);
void config_free_secret(char *s);

int config_set_defaults(const struct key *tab, size_t n, void *base,
    char *err, size_t errlen);
int config_parse_object(struct json_object *obj, const struct key *tab,
    size_t n, void *base, const char *prefix, char *err, size_t errlen);

/* -- config_check.c: each rule returns NULL when s is fine, else the
 * reason -- */

int config_has_control(const char *s);
const char *config_check_url(const char *s);
const char *config_check_origin(const char *s);
const char *config_check_stripe_api_base(const char *s);
const char *config_check_listen(const char *s);
const char *config_check_abs_path(const char *s);
const char *config_check_readable_file(const char *s);
const char *config_check_currency(const char *s);
const char *config_check_cron(const char *s);
const char *config_check_jwt_secret(const char *s);
const char *config_check_plan_id(const char *s);
const char *config_check_smtp_url(const char *s);
const char *config_check_mailbox(const char *s);
/* 1 when the smtp(s) URL's host is loopback (127.x, ::1, localhost) */
int config_smtp_url_loopback(const char *s);

#endif
