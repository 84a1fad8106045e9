/* placeholder until the Stripe endpoints land */
#include "api.h"
#include "router.h"
int api_create_checkout(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
int api_payment_methods(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
