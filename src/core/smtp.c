/*
 * smtp: see smtp.h.
 */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "smtp.h"

#define CONNECT_TIMEOUT_SEC 10L
#define LINE_MAX_KEPT 512

struct smtp {
	const struct smtp_settings *set;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	char last[LINE_MAX_KEPT];       /* the relay's last reply line */
	char refusal[LINE_MAX_KEPT];    /* its last 4xx or 5xx line */
	/* the message being read by libcurl */
	const char *msg;
	size_t len, off;
};

/* libcurl hands the relay's reply lines to the header callback. */
static size_t
reply_line(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct smtp *s = arg;
	size_t n = size * nmemb, i, k = 0;

	for (i = 0; i < n && k + 1 < sizeof(s->last); i++) {
		if (ptr[i] == '\r' || ptr[i] == '\n')
			break;
		s->last[k++] = (ptr[i] >= 0x20 && ptr[i] <= 0x7e) ? ptr[i] : '?';
	}
	if (k > 0) {
		s->last[k] = '\0';
		/* QUIT's "221" after a refusal must not hide it */
		if (s->last[0] == '4' || s->last[0] == '5')
			memcpy(s->refusal, s->last, k + 1);
	}
	return n;
}

static size_t
read_msg(char *buf, size_t size, size_t nitems, void *arg)
{
	struct smtp *s = arg;
	size_t n = size * nitems;

	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->msg + s->off, n);
	s->off += n;
	return n;
}

struct smtp *
smtp_new(const struct smtp_settings *set)
{
	struct smtp *s;
	CURL *c;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->set = set;
	if ((c = s->curl = curl_easy_init()) == NULL ||
	    curl_easy_setopt(c, CURLOPT_URL, set->url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SEC) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, set->timeout_sec) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USE_SSL, set->starttls ?
	    (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, reply_line) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, s) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_msg) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_READDATA, s) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
#else
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS)) != CURLE_OK ||
#endif
	    (set->username != NULL && (curl_easy_setopt(c, CURLOPT_USERNAME,
	    set->username) != CURLE_OK || curl_easy_setopt(c,
	    CURLOPT_PASSWORD, set->password ? set->password : "") !=
	    CURLE_OK))) {
		smtp_free(s);
		return NULL;
	}
	return s;
}

void
smtp_free(struct smtp *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s);
}

/* 1 when a fits in a path <a> as one word: printable ASCII without
 * space, '<', '>', ',' or '"' (the callers pass addr-specs they checked;
 * this keeps anything else out of MAIL FROM and RCPT TO) */
static int
path_ok(const char *a, size_t size)
{
	size_t n = strlen(a);

	if (n == 0 || n + 3 > size)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f ||
		    strchr("<>,\"", *a) != NULL)
			return 0;
	return 1;
}

enum smtp_outcome
smtp_send(struct smtp *s, const char *from, const char *rcpt,
    const char *msg, size_t len, char *answer, size_t answerlen)
{
	struct curl_slist *to = NULL;
	char from_path[340], rcpt_path[340];
	enum smtp_outcome out = SMTP_TEMPORARY;
	long code = 0;
	CURLcode cc;

	if (!path_ok(from, sizeof(from_path)) ||
	    !path_ok(rcpt, sizeof(rcpt_path))) {
		snprintf(answer, answerlen, "not a plain address");
		return SMTP_PERMANENT;
	}
	snprintf(from_path, sizeof(from_path), "<%s>", from);
	snprintf(rcpt_path, sizeof(rcpt_path), "<%s>", rcpt);
	s->msg = msg;
	s->len = len;
	s->off = 0;
	s->errbuf[0] = '\0';
	s->last[0] = '\0';
	s->refusal[0] = '\0';
	if ((to = curl_slist_append(NULL, rcpt_path)) == NULL ||
	    curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, from_path) !=
	    CURLE_OK ||
	    curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, to) != CURLE_OK) {
		snprintf(answer, answerlen, "cannot set up the message");
		goto out;
	}
	cc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK) {
		snprintf(answer, answerlen, "%s", s->last[0] ? s->last :
		    "250 (no text)");
		out = SMTP_SENT;
		goto out;
	}
	/* libcurl says "RCPT failed: 550" when the recipient is refused */
	if (code >= 500 && code <= 599 &&
	    strncmp(s->errbuf, "RCPT failed", 11) == 0)
		out = SMTP_PERMANENT;
	snprintf(answer, answerlen, "curl error %d: %s%s%s", (int)cc,
	    s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc),
	    s->refusal[0] || s->last[0] ? "; relay: " : "",
	    s->refusal[0] ? s->refusal : s->last);
out:
	/* the handle must not keep pointers into this message */
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(to);
	s->msg = NULL;
	return out;
}
