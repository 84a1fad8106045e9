/* placeholder until the hooks land */
#include "api.h"
#include "router.h"
int api_hook_user_created(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
int api_hook_session_created(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
int api_hook_session_heartbeat(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
int api_hook_session_terminated(struct app *app, struct http_request *req) { return handle_not_implemented(app, req); }
