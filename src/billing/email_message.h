/*
 * email_message: one email as RFC 5322 text with MIME (docs/email.md): a
 * multipart/alternative of text/plain and text/html made from the
 * operator's templates, inside a multipart/mixed with the PDF when there
 * is one.  CRLF line endings, UTF-8 headers encoded per RFC 2047, every
 * body part in base64 wrapped at 76 columns.  No SQL, no network.
 */
#ifndef BILLING_EMAIL_MESSAGE_H
#define BILLING_EMAIL_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* What a message is made of; everything borrowed. */
struct email_message_input {
	const char *from;           /* the config's mailbox: "a@b", "N <a@b>" */
	const char *reply_to;       /* NULL: none */
	const char *to;             /* the recipient's address */
	const char *message_id;     /* "<...>" */
	int64_t date;               /* usec: the Date header */
	const char *template_dir;   /* holds <kind>.subject, .txt, .html */
	const char *kind;           /* "invoice.created"; falls back to
	                             * "default" when it has no templates */
	struct json_object *vars;   /* {name: string}: the placeholders */
	const unsigned char *pdf;   /* NULL: no attachment */
	size_t pdf_len;
	const char *pdf_name;       /* "INV-2025-000001.pdf" (ASCII) */
};

/*
 * Builds the message into *out (malloc'd, NUL-terminated, *len bytes; the
 * caller frees).  0, or -1 with the reason in err (a template missing or
 * unreadable, out of memory).
 */
int email_message_build(const struct email_message_input *in, char **out,
    size_t *len, char *err, size_t errlen);

/*
 * Replaces each {{name}} of tpl by vars' string for name ("" when it has
 * none), HTML-escaped when html.  Returns a malloc'd string the caller
 * frees, or NULL when out of memory.
 */
char *email_message_render(const char *tpl, struct json_object *vars,
    int html);

/*
 * The header value text as RFC 2047 encoded-words ("=?UTF-8?B?...?="),
 * folded with CRLF SP, when it has a byte outside printable ASCII, a "=?",
 * or does not fit on the line; else as it is.  prefix_len: the bytes of
 * the line before it ("Subject: ").  Every line, the first with the
 * prefix, is at most 76 characters (the first word is sized by the
 * prefix).  A malloc'd string, NULL when out of memory.
 */
char *email_message_header_text(const char *text, size_t prefix_len);

#endif
