/* placeholder until subscriptions land */
#include "api.h"
#include "router.h"
int api_subscription_get(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
int api_subscription_post(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
