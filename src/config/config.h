/*
 * config: the one JSON file (BILLING_CONFIG, default
 * /etc/streamspace-billing/billing.json) with the seed plugin's keys, our own
 * keys and the environment overrides of the contract (section 2).
 *
 * It is parsed and validated once, at start (and by the master on SIGHUP);
 * workers inherit the result.  Any error names the key and the reason and
 * leaves nothing half-loaded.
 */
#ifndef BILLING_CONFIG_H
#define BILLING_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "db.h" /* struct db_config: the database key */

#define CONFIG_MAX_PLANS 64
#define CONFIG_MAX_WEBHOOK_SECRETS 8
#define CONFIG_MAX_RETURN_ORIGINS 16
/* widgetFrameAncestors: at most 8 origins of at most 120 bytes each */
#define CONFIG_MAX_FRAME_ANCESTORS 8
#define CONFIG_FRAME_ORIGIN_MAX 120
#define CONFIG_MAX_USER_CLAIMS 8     /* jwtUserClaims; = JWT_USER_CLAIMS_MAX */
#define CONFIG_CLAIM_NAME_MAX 64     /* = JWT_CLAIM_NAME_MAX */

enum billing_mode { MODE_USAGE = 0, MODE_SUBSCRIPTION, MODE_HYBRID };
enum plan_interval { INTERVAL_MONTH = 0, INTERVAL_YEAR };

struct plan {
	char *id;
	char *name;
	int64_t price;          /* micro-units of currency */
	enum plan_interval interval;
	int64_t cpu_limit;      /* micro-cores */
	int64_t memory_limit;   /* micro-GB */
	int64_t storage_limit;  /* micro-GB */
	char *stripe_price_id;  /* NULL when absent */
	char *tax_rate_id;      /* NULL: its fee is taxed at the account's rate */
};

/*
 * A tax rate (taxRates[]): percent in micro-units of a percent, at most 4
 * decimals (20% = 20000000, 7.6543% = 7654300), 0-100.  An inclusive rate
 * is part of the prices; an exclusive one is added to them.
 */
#define CONFIG_MAX_TAX_RATES 32
struct tax_rate {
	char *id;
	char *name;
	int64_t percent;
	int inclusive;
};

/* invoiceIssuer: who issues the invoices (every PDF shows it). */
#define CONFIG_MAX_ADDRESS_LINES 6
#define CONFIG_ADDRESS_LINE_MAX 200    /* bytes of UTF-8 */
struct invoice_issuer {
	char *name;                    /* NULL: "StreamSpace" */
	char *address[CONFIG_MAX_ADDRESS_LINES];
	size_t n_address;
	char *email;                   /* NULL when absent */
	char *tax_id;                  /* NULL when absent */
};

/*
 * email (docs/email.md): invoice and payment emails through the operator's
 * SMTP relay.  Off (enabled 0) when the key is absent.
 */
#define CONFIG_MAX_EMAIL_EVENTS 16
#define CONFIG_EMAIL_EVENT_MAX 64
struct email_config {
	int enabled;                   /* the "email" object was given */
	char *smtp_url;                /* smtp://host[:port] or smtps://...;
	                                * env BILLING_SMTP_URL wins */
	char *username;                /* NULL: no AUTH */
	char *password;                /* env BILLING_SMTP_PASSWORD wins */
	char *from;                    /* "addr@host" or "Name <addr@host>" */
	char *reply_to;                /* NULL when absent */
	int starttls;                  /* 1: STARTTLS required (smtp://);
	                                * default: 1 unless the host is
	                                * loopback */
	char *events[CONFIG_MAX_EMAIL_EVENTS];
	size_t n_events;
	char *template_dir;            /* default /etc/streamspace-billing/email */
	int timeout_seconds;           /* one SMTP attempt, default 30 */
};

struct billing_config {
	/* the seed's keys */
	int enabled;
	enum billing_mode billing_mode;
	int64_t cpu_per_core_hour;     /* micro-units */
	int64_t memory_per_gb_hour;    /* micro-units */
	int64_t storage_per_gb_month;  /* micro-units */
	int stripe_enabled;            /* true only if the key is also set */
	char *stripe_secret_key;
	char *stripe_webhook_secrets[CONFIG_MAX_WEBHOOK_SECRETS];
	size_t n_stripe_webhook_secrets;
	struct plan plans[CONFIG_MAX_PLANS];
	size_t n_plans;
	char *usage_calculation_interval;
	int invoice_day;               /* 1-28 */
	int alert_threshold;           /* percent, 1-100 */
	int auto_suspend_on_overage;
	int grace_period_days;

	/* ours */
	struct db_config database;
	char *listen;                  /* "unix:/path", "/path", or "host:port" */
	int listen_mode;               /* unix socket mode, default 0660 */
	int workers;                   /* default: number of CPUs */
	long max_requests;             /* 0: never recycle */
	char *jwt_secret;
	char *jwt_public_key_file;
	/* the claims that name the user, first present wins; default "sub" */
	char *jwt_user_claims[CONFIG_MAX_USER_CLAIMS];
	size_t n_jwt_user_claims;
	char *jwt_issuer;              /* "iss" must equal it; NULL: unchecked */
	char *currency;                /* lower-case ISO 4217, default "usd" */
	int invoice_due_days;          /* default 14 */
	int invoice_draft_hours;       /* default 0: finalize at once */
	int session_timeout_minutes;   /* default 15 */
	/* hooks/streamspace: its secrets (rotation), how far its timestamp
	 * may be from now, and a persistentHome's size in GB (0: none) */
	char *streamspace_webhook_secrets[CONFIG_MAX_WEBHOOK_SECRETS];
	size_t n_streamspace_webhook_secrets;
	int streamspace_webhook_tolerance_seconds;  /* default 3600 */
	int streamspace_home_storage_gb;            /* default 0 */
	char *events_webhook_url;
	char *events_webhook_secret;
	char *platform_suspend_url;
	char *public_base_url;
	/* where Checkout may return besides publicBaseUrl: lowercase origins */
	char *checkout_return_origins[CONFIG_MAX_RETURN_ORIGINS];
	size_t n_checkout_return_origins;
	/* who may frame the widget besides this origin and publicBaseUrl's:
	 * lowercase origins of host characters only (they go into a CSP) */
	char *widget_frame_ancestors[CONFIG_MAX_FRAME_ANCESTORS];
	size_t n_widget_frame_ancestors;
	char *stripe_api_base;         /* default https://api.stripe.com; http
	                                * only for a loopback host */
	int stripe_timeout_seconds;    /* one Stripe attempt, default 10 */
	char *default_plan;            /* default "free" if such a plan exists */
	int report_max_days;           /* admin/reports' longest range, 366 */
	/* taxes: the rates, the one an account without its own pays (NULL:
	 * none), and the issuer */
	struct tax_rate tax_rates[CONFIG_MAX_TAX_RATES];
	size_t n_tax_rates;
	char *default_tax_rate;
	struct invoice_issuer issuer;
	struct email_config email;
};

/* 1 when the email config mails events of this type. */
int config_email_wants(const struct billing_config *cfg, const char *type);

/*
 * 1 when s is a plain addr-spec as config_check_mailbox accepts one
 * (local@domain, at most 320 bytes: no name, '<', '>', ',', space or
 * control character), else 0.  The recipients of emails are checked
 * with it.
 */
int config_addr_spec(const char *s);

/*
 * The address part of a mailbox ("a@b" or "Name <a@b>") into out; 0, or
 * -1 when it is not one (config_check_mailbox says why).
 */
int config_mailbox_address(const char *mailbox, char *out, size_t size);

/*
 * The origin of an http(s) URL, "scheme://host[:port]" lowercased (the
 * authority ends at '/', '?', '#' or a backslash), into out.  0, or -1 when
 * url is not http(s):// with a host, or out is too small.
 */
int config_url_origin(const char *url, char *out, size_t size);

/*
 * NULL when s is an origin fit for a Content-Security-Policy source list:
 * http(s)://host[:port] lowercased, the host of letters, digits, '.', '-'
 * (or an IPv6 literal in brackets), no path; else the reason.
 */
const char *config_check_frame_origin(const char *s);

/*
 * Loads path (NULL: $BILLING_CONFIG or the default path), applies the
 * environment overrides, validates.  Returns a config the caller frees with
 * config_free, or NULL with "key: reason" written into err.
 */
struct billing_config *config_load(const char *path, char *err, size_t errlen);

/* Same, from a JSON text in memory (tests, fuzzing); env overrides apply. */
struct billing_config *config_parse(const char *json, size_t len,
    char *err, size_t errlen);

void config_free(struct billing_config *cfg);

/* Borrowed pointer into cfg, or NULL. */
const struct plan *config_find_plan(const struct billing_config *cfg,
    const char *id);

const char *config_mode_name(enum billing_mode mode);

/* The tax rate with this id, or NULL.  Borrowed from cfg. */
const struct tax_rate *config_find_tax_rate(const struct billing_config *cfg,
    const char *id);

/* The path config_load(NULL) would read. */
const char *config_default_path(void);

#endif
