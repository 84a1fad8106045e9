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

/* The healthy answer, as http_send_json would write it. */
static const char HEALTH_OK[] = "{\"status\":\"ok\",\"database\":\"ok\"}\n";

int
api_health(struct app *app, struct http_request *req)
{
	struct json_object *o, *err;
	int rc;

	if (db_ping(app->db) == DB_OK) {
		/* the answer of nearly every call: no JSON objects to build */
		if (http_begin(req, 200, "application/json", NULL) != 0 ||
		    http_write(req, HEALTH_OK, sizeof(HEALTH_OK) - 1) != 0)
			return -1;
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status",
	    json_object_new_string("unavailable"));
	json_object_object_add(o, "database",
	    json_object_new_string("unreachable"));
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string("unavailable"));
	json_object_object_add(err, "message",
	    json_object_new_string("the database is unreachable"));
	json_object_object_add(o, "error", err);
	req->error_code = "unavailable";
	log_warnx("req=%s health: database: %s", req->request_id,
	    db_error(app->db));
	rc = http_send_json(req, 503, o);
	json_object_put(o);
	return rc;
}
