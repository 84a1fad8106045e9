/*
 * routes: the endpoint table of docs/api.md: method, path, who may call it
 * (router.h) and the handler.
 */
#include <stddef.h>

#include "api.h"
#include "routes.h"

const struct route routes[] = {
	{ "GET", "health", ACCESS_PUBLIC, api_health },
	{ "GET", "web/frame-ancestors", ACCESS_PUBLIC, api_web_frame_ancestors },

	{ "GET", "usage", ACCESS_USER, api_usage },
	{ "GET", "usage/days", ACCESS_USER, api_usage_days },
	{ "GET", "invoices", ACCESS_USER, api_invoices_list },
	{ "POST", "invoices", ACCESS_ADMIN, api_invoice_create },
	{ "GET", "invoices/{id}", ACCESS_USER, api_invoice_get },
	{ "GET", "invoices/{id}/pdf", ACCESS_USER, api_invoice_pdf },
	{ "GET", "credit-notes/{id}/pdf", ACCESS_USER, api_credit_note_pdf },
	{ "GET", "subscription", ACCESS_USER, api_subscription_get },
	{ "POST", "subscription", ACCESS_USER, api_subscription_post },
	{ "POST", "create-checkout", ACCESS_USER, api_create_checkout },
	{ "GET", "payment-methods", ACCESS_USER, api_payment_methods },
	{ "POST", "billing-portal", ACCESS_USER, api_billing_portal },
	{ "GET", "plans", ACCESS_USER, api_plans },
	{ "GET", "payments", ACCESS_USER, api_payments_list },
	{ "GET", "credits", ACCESS_USER, api_credits_list },
	{ "POST", "credits", ACCESS_ADMIN, api_credits_create },

	{ "GET", "admin/users", ACCESS_ADMIN, api_admin_users },
	{ "GET", "admin/summary", ACCESS_ADMIN, api_admin_summary },
	{ "GET", "admin/users/{user_id}", ACCESS_ADMIN, api_admin_user_get },
	{ "PATCH", "admin/users/{user_id}", ACCESS_ADMIN, api_admin_user_patch },
	{ "POST", "admin/credits", ACCESS_ADMIN, api_credits_create },
	{ "GET", "admin/invoices", ACCESS_ADMIN, api_admin_invoices_list },
	{ "POST", "admin/invoices", ACCESS_ADMIN, api_invoice_create },
	{ "PATCH", "admin/invoices/{id}", ACCESS_ADMIN, api_invoice_patch },
	{ "POST", "admin/invoices/{id}/credit-notes", ACCESS_ADMIN,
	    api_credit_note_create },
	{ "GET", "admin/reports", ACCESS_ADMIN, api_admin_reports },
	{ "GET", "admin/events", ACCESS_ADMIN, api_admin_events },

	{ "GET", "jobs/status", ACCESS_ADMIN, api_jobs_status },
	{ "POST", "jobs/{name}", ACCESS_ADMIN, api_jobs_run },

	{ "POST", "hooks/user-created", ACCESS_SERVICE, api_hook_user_created },
	{ "POST", "hooks/session-created", ACCESS_SERVICE, api_hook_session_created },
	{ "POST", "hooks/session-heartbeat", ACCESS_SERVICE,
	    api_hook_session_heartbeat },
	{ "POST", "hooks/session-terminated", ACCESS_SERVICE,
	    api_hook_session_terminated },
	{ "POST", "hooks/session-hibernated", ACCESS_SERVICE,
	    api_hook_session_hibernated },
	{ "POST", "hooks/session-woken", ACCESS_SERVICE,
	    api_hook_session_woken },
	{ "POST", "hooks/user-storage", ACCESS_SERVICE, api_hook_user_storage },
	{ "POST", "hooks/batch", ACCESS_SERVICE, api_hooks_batch },
	{ "POST", "hooks/streamspace", ACCESS_STREAMSPACE,
	    api_streamspace_hook },

	{ "POST", "webhook", ACCESS_STRIPE, api_stripe_webhook },
};
const size_t routes_count = sizeof(routes) / sizeof(routes[0]);
