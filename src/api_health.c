/*
 * GET health: is this worker able to serve?  It answers without a token so
 * that load balancers and the platform can poll it.
 */
#include <json-c/json.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "log.h"

int
api_health(struct app *app, struct http_request *req)
{
	struct json_object *o = json_object_new_object();
	int rc, ok;

	rc = db_ping(app->db);
	ok = rc == DB_OK;
	json_object_object_add(o, "status",
	    json_object_new_string(ok ? "ok" : "unavailable"));
	json_object_object_add(o, "database",
	    json_object_new_string(ok ? "ok" : "unreachable"));
	if (!ok) {
		struct json_object *err = json_object_new_object();

		json_object_object_add(err, "code",
		    json_object_new_string("unavailable"));
		json_object_object_add(err, "message",
		    json_object_new_string("the database is unreachable"));
		json_object_object_add(o, "error", err);
		req->error_code = "unavailable";
		log_warnx("req=%s health: database: %s", req->request_id,
		    db_error(app->db));
	}
	rc = http_send_json(req, ok ? 200 : 503, o);
	json_object_put(o);
	return rc;
}
