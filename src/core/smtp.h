/*
 * smtp: one message to one recipient through the operator's SMTP relay,
 * with libcurl's SMTP (smtp:// with STARTTLS when required, or smtps://),
 * AUTH when a username is given, and the relay's own answer kept: the
 * last reply line on success ("250 ... queued as ..."), or the refusal.
 */
#ifndef BILLING_SMTP_H
#define BILLING_SMTP_H

#include <stddef.h>

struct smtp_settings {
	const char *url;        /* smtp://host[:port] or smtps://... */
	const char *username;   /* NULL: no AUTH */
	const char *password;   /* never logged nor returned */
	int starttls;           /* 1: STARTTLS required, else opportunistic */
	long timeout_sec;       /* one message, connection included */
};

/* A handle for a run of messages: the connection is reused. */
struct smtp;

/* settings are borrowed for the handle's life.  NULL when out of memory. */
struct smtp *smtp_new(const struct smtp_settings *settings);
void smtp_free(struct smtp *s);

enum smtp_outcome {
	SMTP_SENT = 0,          /* the relay accepted the message */
	SMTP_TEMPORARY,         /* try again later: no connection, a timeout,
	                         * a dropped connection, a 4xx, any refusal
	                         * before the recipient */
	SMTP_PERMANENT          /* the relay refused the recipient (5xx) */
};

/*
 * Sends msg (len bytes, CRLF lines, headers included) from the address
 * from to rcpt (bare addresses).  answer gets the relay's last reply line
 * (SMTP_SENT) or the reason (curl's error and the relay's reply), printable
 * ASCII, never anything of the password.  An address that is not one word
 * of printable ASCII without '<', '>', ',' or '"' is SMTP_PERMANENT, sent
 * nothing.
 */
enum smtp_outcome smtp_send(struct smtp *s, const char *from,
    const char *rcpt, const char *msg, size_t len, char *answer,
    size_t answerlen);

#endif
