/*
 * api: the request handlers, one file per area (api_health.c, api_jobs.c,
 * ...), and the helpers they share for answering in the contract's shapes.
 */
#ifndef BILLING_API_H
#define BILLING_API_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct http_request;

/* GET health */
int api_health(struct app *app, struct http_request *req);

/* GET jobs/status, POST jobs/{name} */
int api_jobs_status(struct app *app, struct http_request *req);
int api_jobs_run(struct app *app, struct http_request *req);

/* POST hooks/...: the platform reports users and sessions (role service) */
int api_hook_user_created(struct app *app, struct http_request *req);
int api_hook_session_created(struct app *app, struct http_request *req);
int api_hook_session_heartbeat(struct app *app, struct http_request *req);
int api_hook_session_terminated(struct app *app, struct http_request *req);
int api_hook_session_hibernated(struct app *app, struct http_request *req);
int api_hook_session_woken(struct app *app, struct http_request *req);
int api_hook_user_storage(struct app *app, struct http_request *req);
/* POST hooks/batch: up to 1,000 hook calls, each answered (api_hooks_batch.c) */
int api_hooks_batch(struct app *app, struct http_request *req);
/* api_streamspace.c: StreamSpace's own webhook, signed */
int api_streamspace_hook(struct app *app, struct http_request *req);
/* The answer of every hook while billing is disabled (enabled: false):
 * 200 {"billing": "disabled", "recorded": false, "message"}; records nothing. */
int api_hooks_disabled(struct http_request *req);

/* GET usage */
int api_usage(struct app *app, struct http_request *req);
int api_usage_days(struct app *app, struct http_request *req);

/* GET invoices, GET invoices/{id}, POST invoices and admin/invoices,
 * PATCH admin/invoices/{id} */
int api_invoices_list(struct app *app, struct http_request *req);
int api_invoice_get(struct app *app, struct http_request *req);
int api_invoice_create(struct app *app, struct http_request *req);
int api_invoice_patch(struct app *app, struct http_request *req);
/* GET admin/invoices: every account's invoices */
int api_admin_invoices_list(struct app *app, struct http_request *req);

/* POST admin/invoices/{id}/credit-notes, GET credit-notes/{id}/pdf */
int api_credit_note_create(struct app *app, struct http_request *req);
int api_credit_note_pdf(struct app *app, struct http_request *req);

/* GET invoices/{id}/pdf */
int api_invoice_pdf(struct app *app, struct http_request *req);

/* POST credits and admin/credits */
int api_credits_create(struct app *app, struct http_request *req);
/* GET credits (the account's credits, newest first) */
int api_credits_list(struct app *app, struct http_request *req);

/* GET admin/users */
int api_admin_users(struct app *app, struct http_request *req);
/* GET admin/summary: totals over every account */
int api_admin_summary(struct app *app, struct http_request *req);
/* GET and PATCH admin/users/{user_id}: one account's billing details */
int api_admin_user_get(struct app *app, struct http_request *req);
int api_admin_user_patch(struct app *app, struct http_request *req);

/* GET subscription, POST subscription */
int api_subscription_get(struct app *app, struct http_request *req);
int api_subscription_post(struct app *app, struct http_request *req);

/* POST create-checkout, GET payment-methods (Stripe) */
int api_create_checkout(struct app *app, struct http_request *req);
int api_payment_methods(struct app *app, struct http_request *req);
/* POST billing-portal (a Stripe Billing Portal session for the caller) */
int api_billing_portal(struct app *app, struct http_request *req);

/* POST webhook (Stripe events, signed) */
int api_stripe_webhook(struct app *app, struct http_request *req);

/* GET admin/events (the outbox) */
int api_admin_events(struct app *app, struct http_request *req);

/* GET payments (api_payments.c): the account's payment history */
int api_payments_list(struct app *app, struct http_request *req);

/* GET plans (api_plans.c) */
int api_plans(struct app *app, struct http_request *req);

/* GET admin/reports */
int api_admin_reports(struct app *app, struct http_request *req);

/* GET web/frame-ancestors (public): the widget's CSP frame-ancestors for
 * nginx's auth_request, in X-Billing-Frame-Ancestors of a 204 */
int api_web_frame_ancestors(struct app *app, struct http_request *req);

/* True for the roles that read every user's data: admin and operator. */
int api_reads_every_user(const struct http_request *req);

/*
 * The account a user endpoint is about: the caller's own user id, or for
 * an admin or operator the ?user_id= given.  Anyone else naming another
 * user gets 403.  Returns 0 with the id copied into buf, or -1 after
 * answering.
 */
int api_target_user(struct http_request *req, char *buf, size_t size);

struct plan;
struct json_object;

/* A plan as the API shows it (new reference; JSON null for NULL). */
struct json_object *api_plan_json(const struct plan *p);

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 500

/*
 * ?limit= (1-500, default 50) and ?cursor= (the last id of the previous
 * page; 0 when absent).  Returns 0, or -1 after answering 400.
 */
int api_page_args(struct http_request *req, int newest_first, int64_t *limit,
    int64_t *cursor);

/*
 * ?from= and ?to= (RFC 3339 or YYYY-MM-DD; a date-only `to` includes that
 * day); default: the current billing period (in UTC).  max_days > 0 bounds
 * the span.  *neither (may be NULL) is 1 when the request gave neither, so
 * a caller may use an account's own period (its time zone) instead.
 * Returns 0, or -1 after answering 400.
 */
int api_range_args(struct app *app, struct http_request *req, int64_t max_days,
    int64_t *from, int64_t *to, int *neither);

/* api_range_args, and both must be whole UTC days (00:00:00Z): ranges
 * over the daily totals.  0, or -1 after answering 400. */
int api_day_range_args(struct app *app, struct http_request *req,
    int64_t max_days, int64_t *from, int64_t *to);

/* The end of time as far as ranges go: 9999-12-31T00:00:00Z (DATETIME's
 * last day). */
#define API_TIME_END (253402214400LL * 1000000LL)

/*
 * ?from= and ?to= where both are optional and absent means unbounded: both
 * absent leaves *from = *to = 0 (no range); else an absent from is 0
 * (1970) and an absent to API_TIME_END.  0, or -1 after answering 400.
 */
int api_open_range_args(struct http_request *req, int64_t *from,
    int64_t *to);

/*
 * Answers 200 {"<key>": items, "next_cursor": "<last_id>" or null when
 * there is no more}.  Consumes items.
 */
int api_send_page(struct http_request *req, const char *key,
    struct json_object *items, int more, int64_t last_id);

/* Answers 400 invalid_argument "<param> <why>" with param; returns -1. */
int api_bad_param(struct http_request *req, const char *param,
    const char *why);

/* Answers 400 invalid_argument msg with param (may be NULL) and drops
 * body (a request's parsed body, may be NULL); returns -1. */
int api_bad_body(struct http_request *req, struct json_object *body,
    const char *msg, const char *param);

/*
 * Answers 400 invalid_argument for an instant param that json_field_time or
 * time_parse_rfc3339 refused with r (-1 malformed, TIME_OUT_OF_RANGE), as
 * read with date_form (enum time_date_form).  Returns -1.
 */
int api_bad_time(struct http_request *req, const char *param, int r,
    int date_form);

/* Refuses (400, param = the key) a body with a key outside allowed
 * (NULL-terminated): typos are caught, not ignored.  0, or -1 after answering. */
int api_check_keys(struct http_request *req, struct json_object *body,
    const char *const *allowed);

/*
 * The start of a signed webhook (Stripe's, StreamSpace's): 503 with
 * unconfigured when no secret is configured, 415 unless the body is JSON,
 * then the raw body, up to max bytes (413 above).  0: read, go on; 1:
 * answered (the handler returns 0); -1: reading failed (it returns -1).
 */
int api_webhook_body(struct http_request *req, int configured,
    const char *unconfigured, size_t max);

/* Answers a billing function's failure (src/billing/result.h): the one
 * mapping of result codes to statuses (api_result.c). */
struct result;
int api_send_result(struct http_request *req, const struct result *r);

/* Answers 503 unavailable or 500 internal for a db rc, and logs it. */
int api_db_error(struct app *app, struct http_request *req, int rc);

/* Answers a failed Stripe operation (api_stripe.c): 503 unavailable when
 * Stripe is off or down, 502 stripe_error when it refused or answered
 * something we cannot use (its message, never for our credentials). */
struct stripe_error;
int api_stripe_failed(struct app *app, struct http_request *req,
    const struct stripe_error *err);

#endif
