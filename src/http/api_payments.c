/*
 * GET payments[?user_id=][&limit=&cursor=]: the account's payment history
 * across its invoices, newest first (payments_list, src/billing/payments.c).
 *
 *   -> 200 {"payments": [{"id", "amount", "currency", "status", "method",
 *       "invoice_id", "invoice_number", "stripe_payment_intent_id",
 *       "failure_message", "paid_at", "created_at"}], "next_cursor"}
 *
 * method is who collected it: "stripe" or "manual" (an admin marked the
 * invoice paid).  paid_at is when a succeeded payment was recorded, null
 * for the others; created_at is when the row was recorded.
 */
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "http.h"
#include "json_util.h"
#include "payments.h"
#include "result.h"

static struct json_object *
string_or_null(const char *s)
{
	return s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static void
payment_json(const struct payment_row *p, void *arg)
{
	struct json_object *items = arg, *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(p->id));
	json_object_object_add(o, "amount", json_money(p->amount, 2));
	json_object_object_add(o, "currency",
	    json_object_new_string(p->currency));
	json_object_object_add(o, "status", json_object_new_string(p->status));
	json_object_object_add(o, "method", json_object_new_string(p->method));
	json_object_object_add(o, "invoice_id", p->invoice_id != 0 ?
	    json_object_new_int64((int64_t)p->invoice_id) : NULL);
	json_object_object_add(o, "invoice_number",
	    string_or_null(p->invoice_number));
	json_object_object_add(o, "stripe_payment_intent_id",
	    string_or_null(p->payment_intent));
	json_object_object_add(o, "failure_message",
	    string_or_null(p->failure));
	json_object_object_add(o, "paid_at", strcmp(p->status,
	    "succeeded") == 0 ? json_time(p->created_at) : NULL);
	json_object_object_add(o, "created_at", json_time(p->created_at));
	json_object_array_add(items, o);
}

int
api_payments_list(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 1];
	struct payments_page pg;
	struct json_object *items;
	struct result r;

	memset(&pg, 0, sizeof(pg));
	if (api_target_user(req, user, sizeof(user)) != 0 ||
	    api_page_args(req, 1, &pg.limit, &pg.before) != 0)
		return -1;
	pg.user_id = user;
	items = json_object_new_array();
	if (payments_list(app->db, &pg, payment_json, items, &r) !=
	    RESULT_OK) {
		json_object_put(items);
		return api_send_result(req, &r);
	}
	api_send_page(req, "payments", items, pg.more, pg.last_id);
	return 0;
}
