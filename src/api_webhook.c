/* placeholder until the webhook lands */
#include "api.h"
#include "router.h"
int api_stripe_webhook(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
