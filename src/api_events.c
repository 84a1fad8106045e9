/* placeholder until admin/events lands */
#include "api.h"
#include "router.h"
int api_admin_events(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
