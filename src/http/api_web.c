/*
 * api_web: what nginx asks billingd for the web pages.
 *
 * GET web/frame-ancestors (public): 204 with X-Billing-Frame-Ancestors, the
 * source list of the widget's CSP frame-ancestors: 'self', publicBaseUrl's
 * origin and widgetFrameAncestors.  nginx's web snippet fetches it with
 * auth_request before it serves /billing/widget (static nginx cannot read
 * billing.json).
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"

/* "X-Billing-Frame-Ancestors: 'self'" and at most 9 origins */
#define FRAME_HEADER_MAX 1536

/* Appends " origin" to buf (of length *len) unless it is there already. */
static int
add_origin(char *buf, size_t size, size_t *len, const char *origin)
{
	const char *p = buf;
	size_t n = strlen(origin);

	while ((p = strstr(p, origin)) != NULL) {
		if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\0'))
			return 0;
		p += n;
	}
	if (*len + 1 + n >= size)
		return -1;
	buf[(*len)++] = ' ';
	memcpy(buf + *len, origin, n + 1);
	*len += n;
	return 0;
}

int
api_web_frame_ancestors(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	char header[FRAME_HEADER_MAX], origin[1024];
	size_t len, i;

	len = (size_t)snprintf(header, sizeof(header),
	    "X-Billing-Frame-Ancestors: 'self'");
	if (cfg->public_base_url != NULL) {
		/* publicBaseUrl is checked as a URL only: its origin goes into
		 * the CSP only when it is a plain one */
		if (config_url_origin(cfg->public_base_url, origin,
		    sizeof(origin)) == 0 &&
		    strlen(origin) <= CONFIG_FRAME_ORIGIN_MAX &&
		    config_check_frame_origin(origin) == NULL)
			(void)add_origin(header, sizeof(header), &len, origin);
		else
			log_warnx("req=%s web/frame-ancestors: publicBaseUrl's "
			    "origin is not a plain http(s)://host[:port]; the "
			    "widget may not be framed by it", req->request_id);
	}
	for (i = 0; i < cfg->n_widget_frame_ancestors; i++)
		(void)add_origin(header, sizeof(header), &len,
		    cfg->widget_frame_ancestors[i]);
	return http_begin(req, 204, "text/plain", header) == 0 ? 0 : -1;
}
