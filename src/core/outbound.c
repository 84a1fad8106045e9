/*
 * outbound: see outbound.h.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "outbound.h"
#include "signature.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 10000L
#define AGENT_MAX 128

struct outbound {
	CURL *curl;
	char agent[AGENT_MAX];
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	(void)ptr;
	(void)ctx;
	return size * nmemb;
}

struct outbound *
outbound_new(const char *agent)
{
	struct outbound *o;
	CURL *c;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	snprintf(o->agent, sizeof(o->agent), "StreamSpace-Billing/%s (%s)",
	    PACKAGE_VERSION, agent);
	if ((c = o->curl = curl_easy_init()) == NULL ||
	    curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, o->agent) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, o->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
#else
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK) {
#endif
		outbound_free(o);
		return NULL;
	}
	return o;
}

void
outbound_free(struct outbound *o)
{
	if (o == NULL)
		return;
	if (o->curl != NULL)
		curl_easy_cleanup(o->curl);
	free(o);
}

/* Appends "name: value" to *h, value kept to printable ASCII.  0 or -1. */
static int
add_header(struct curl_slist **h, const char *name, const char *value)
{
	char line[SIGNATURE_HEADER_MAX + 64];
	struct curl_slist *t;
	char *s;

	snprintf(line, sizeof(line), "%s:%s%s", name, *value ? " " : "", value);
	for (s = line; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
	if ((t = curl_slist_append(*h, line)) == NULL)
		return -1;
	*h = t;
	return 0;
}

/* The request's headers into *h.  0, or -1 with err set. */
static int
headers(struct curl_slist **h, const char *secret, int64_t now_sec,
    const char *body, size_t len, const struct outbound_header *extra,
    size_t nextra, char *err, size_t errlen)
{
	char sig[SIGNATURE_HEADER_MAX];
	size_t i;

	if (secret != NULL && signature_header(secret, now_sec, body, len, sig,
	    sizeof(sig)) != 0) {
		snprintf(err, errlen, "cannot sign the request");
		return -1;
	}
	if (add_header(h, "Content-Type", "application/json") != 0 ||
	    add_header(h, "Expect", "") != 0 ||
	    (secret != NULL && add_header(h, "Billing-Signature", sig) != 0))
		goto oom;
	for (i = 0; i < nextra; i++)
		if (add_header(h, extra[i].name, extra[i].value) != 0)
			goto oom;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
outbound_post(struct outbound *o, const char *url, const char *secret,
    int64_t now_sec, const char *body, size_t len,
    const struct outbound_header *extra, size_t nextra, long *status,
    char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	CURLcode cc;
	long code = 0;
	int rc = -1;

	if (headers(&h, secret, now_sec, body, len, extra, nextra, err,
	    errlen) != 0)
		goto out;
	o->errbuf[0] = '\0';
	if (curl_easy_setopt(o->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)len) != CURLE_OK) {
		snprintf(err, errlen, "cannot set up the request");
		goto out;
	}
	cc = curl_easy_perform(o->curl);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "curl error %d: %s", (int)cc,
		    o->errbuf[0] ? o->errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code <= 299)
		rc = 0;
	else if (code >= 300 && code <= 399)
		snprintf(err, errlen, "HTTP %ld (redirects are not followed)",
		    code);
	else
		snprintf(err, errlen, "HTTP %ld", code);
out:
	/* the handle must not keep pointers into this request */
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(h);
	if (status != NULL)
		*status = code;
	return rc;
}
