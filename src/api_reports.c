/* placeholder until reports land */
#include "api.h"
#include "router.h"
int api_admin_reports(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
