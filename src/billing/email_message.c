/*
 * email_message: see email_message.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "email_message.h"
#include "timeutil.h"
#include "utf8.h"

#define TEMPLATE_MAX (256 * 1024)
#define B64_LINE 76                 /* characters per base64 line */
#define WORD_BYTES 45               /* bytes per encoded-word: 60 chars */
#define HEADER_LINE 76              /* RFC 2047: an encoded header line */

struct buf {
	char *s;
	size_t len, cap;
	int oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	char *t;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((t = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = t;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* n bytes as base64 in lines of 76 characters, each ending in CRLF. */
static void
put_base64(struct buf *b, const unsigned char *p, size_t n)
{
	char quad[4];
	size_t i, col = 0;
	unsigned v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		quad[0] = b64[(v >> 18) & 63];
		quad[1] = b64[(v >> 12) & 63];
		quad[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < n ? b64[v & 63] : '=';
		put(b, quad, 4);
		if ((col += 4) == B64_LINE) {
			put(b, "\r\n", 2);
			col = 0;
		}
	}
	if (col > 0)
		put(b, "\r\n", 2);
}

/* The same without line breaks (encoded-words). */
static void
put_base64_flat(struct buf *b, const unsigned char *p, size_t n)
{
	struct buf t = { 0 };

	put_base64(&t, p, n);
	if (t.oom) {
		free(t.s);
		b->oom = 1;
		return;
	}
	for (size_t i = 0; i < t.len; i++)
		if (t.s[i] != '\r' && t.s[i] != '\n')
			put(b, t.s + i, 1);
	free(t.s);
}

/* Text with LF or CRLF lines into CRLF lines (no lone CR or LF). */
static char *
crlf(const char *s)
{
	struct buf b = { 0 };

	for (; *s != '\0'; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n')
			put(&b, "\r\n", 2);
		else
			put(&b, s, 1);
	}
	put(&b, "", 0);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s != NULL ? b.s : strdup("");
}

/*
 * The bytes an encoded-word holds when lead characters come before it on
 * its line and the line is at most HEADER_LINE: "=?UTF-8?B?" and "?=" (12)
 * and 4 base64 characters per 3 bytes; at most WORD_BYTES, at least one
 * UTF-8 character's 4 (a prefix too long to leave room gets the 4).
 */
static size_t
word_bytes(size_t lead)
{
	size_t room = lead + 12 + 4 * 2 <= HEADER_LINE ?
	    (HEADER_LINE - lead - 12) / 4 * 3 : 4;

	return room > WORD_BYTES ? WORD_BYTES : room < 4 ? 4 : room;
}

char *
email_message_header_text(const char *text, size_t prefix_len)
{
	struct buf b = { 0 };
	const unsigned char *p;
	size_t n, take, k, max;
	unsigned cp;
	int plain = 1;

	for (p = (const unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			plain = 0;
	/* "=?" in plain text would read as an encoded-word: encode it too */
	if (plain && strstr(text, "=?") == NULL && strlen(text) +
	    prefix_len <= HEADER_LINE)
		return strdup(text);
	n = strlen(text);
	p = (const unsigned char *)text;
	while (n > 0) {
		/* whole UTF-8 characters only, as many as the line holds: the
		 * first after the prefix ("Subject: "), the others after the
		 * folding space */
		max = word_bytes(b.len == 0 ? prefix_len : 1);
		take = 0;
		while (take < n) {
			k = utf8_char((const char *)p + take, &cp);
			if (k == 0)
				k = 1;     /* an invalid byte goes as it is */
			if (take + k > max && take > 0)
				break;
			take += k;
		}
		if (b.len > 0)
			put(&b, "\r\n ", 3);
		puts_(&b, "=?UTF-8?B?");
		put_base64_flat(&b, p, take);
		puts_(&b, "?=");
		p += take;
		n -= take;
	}
	put(&b, "", 0);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void
put_escaped(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': puts_(b, "&amp;"); break;
		case '<': puts_(b, "&lt;"); break;
		case '>': puts_(b, "&gt;"); break;
		case '"': puts_(b, "&quot;"); break;
		case '\'': puts_(b, "&#39;"); break;
		default: put(b, s, 1);
		}
	}
}

char *
email_message_render(const char *tpl, struct json_object *vars, int html)
{
	struct buf b = { 0 };
	struct json_object *v;
	const char *open, *close, *val;
	char name[64];
	size_t n;

	while ((open = strstr(tpl, "{{")) != NULL) {
		put(&b, tpl, (size_t)(open - tpl));
		if ((close = strstr(open + 2, "}}")) == NULL) {
			tpl = open;
			break;
		}
		n = (size_t)(close - open - 2);
		while (n > 0 && open[2] == ' ') {
			open++;
			n--;
		}
		while (n > 0 && open[2 + n - 1] == ' ')
			n--;
		val = "";
		if (n < sizeof(name)) {
			memcpy(name, open + 2, n);
			name[n] = '\0';
			if (json_object_object_get_ex(vars, name, &v) &&
			    json_object_is_type(v, json_type_string))
				val = json_object_get_string(v);
		}
		if (html)
			put_escaped(&b, val);
		else
			puts_(&b, val);
		tpl = close + 2;
	}
	puts_(&b, tpl);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s != NULL ? b.s : strdup("");
}

/* Reads <dir>/<kind>.<ext> into a malloc'd string.  NULL with errno
 * (ENOENT: no such template; EFBIG: too large). */
static char *
read_template(const char *dir, const char *kind, const char *ext)
{
	char path[4200], *s;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, kind, ext);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((s = malloc(TEMPLATE_MAX + 1)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(s, 1, TEMPLATE_MAX + 1, f);
	fclose(f);
	if (n > TEMPLATE_MAX) {
		free(s);
		errno = EFBIG;
		return NULL;
	}
	s[n] = '\0';
	return s;
}

/* The Date header's text: "Sat, 01 Feb 2025 00:30:00 +0000". */
static void
date_text(int64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "Name <addr>" with the name encoded (or quoted), or "addr". */
static int
put_mailbox(struct buf *b, const char *field, const char *mailbox)
{
	const char *lt = strchr(mailbox, '<');
	char name[256], *enc;
	const char *last;
	size_t n, col;

	puts_(b, field);
	puts_(b, ": ");
	if (lt == NULL) {
		puts_(b, mailbox);
		puts_(b, "\r\n");
		return 0;
	}
	n = (size_t)(lt - mailbox);
	while (n > 0 && mailbox[n - 1] == ' ')
		n--;
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, mailbox, n);
	name[n] = '\0';
	if (n > 0) {
		/* the quoted name's two quotes count on its line */
		if ((enc = email_message_header_text(name, strlen(field) + 4)) ==
		    NULL)
			return -1;
		if (strcmp(enc, name) == 0) {
			puts_(b, "\"");
			puts_(b, name);
			puts_(b, "\"");
			col = strlen(field) + 2 + n + 2;
		} else {
			puts_(b, enc);
			last = strrchr(enc, '\n');
			col = last != NULL ? strlen(last + 1) :
			    strlen(field) + 2 + strlen(enc);
		}
		free(enc);
		/* the address on a line of its own when it does not fit */
		puts_(b, col + 1 + strlen(lt) <= HEADER_LINE ? " " : "\r\n ");
	}
	puts_(b, lt);
	puts_(b, "\r\n");
	return 0;
}

static void
put_part_header(struct buf *b, const char *boundary, const char *type)
{
	puts_(b, "--");
	puts_(b, boundary);
	puts_(b, "\r\nContent-Type: ");
	puts_(b, type);
	puts_(b, "\r\nContent-Transfer-Encoding: base64\r\n");
}

int
email_message_build(const struct email_message_input *in, char **out,
    size_t *len, char *err, size_t errlen)
{
	struct buf b = { 0 };
	const char *kind = in->kind;
	char *tpl[3] = { NULL, NULL, NULL }, *part[3] = { NULL, NULL, NULL };
	char *subject = NULL, *enc = NULL, date[64], alt[128], mixed[128];
	static const char *const ext[3] = { "subject", "txt", "html" };
	size_t i;
	int rc = -1;

	for (i = 0; i < 3; i++) {
		errno = 0;
		if ((tpl[i] = read_template(in->template_dir, kind, ext[i])) ==
		    NULL && errno == ENOENT && i == 0 &&
		    strcmp(kind, "default") != 0) {
			kind = "default";     /* no templates of its own */
			tpl[i] = read_template(in->template_dir, kind, ext[i]);
		}
		if (tpl[i] == NULL) {
			snprintf(err, errlen, "template %s/%s.%s: %s",
			    in->template_dir, kind, ext[i], strerror(errno));
			goto out;
		}
	}
	/* the subject: the first line, control characters dropped */
	if ((part[0] = email_message_render(tpl[0], in->vars, 0)) == NULL ||
	    (part[1] = email_message_render(tpl[1], in->vars, 0)) == NULL ||
	    (part[2] = email_message_render(tpl[2], in->vars, 1)) == NULL)
		goto oom;
	part[0][strcspn(part[0], "\r\n")] = '\0';
	for (i = 0; part[0][i] != '\0'; i++)
		if ((unsigned char)part[0][i] < 0x20 || part[0][i] == 0x7f)
			part[0][i] = ' ';
	if ((subject = email_message_header_text(part[0], 9)) == NULL)
		goto oom;
	for (i = 1; i < 3; i++) {
		if ((enc = crlf(part[i])) == NULL)
			goto oom;
		free(part[i]);
		part[i] = enc;
		enc = NULL;
	}
	/* boundaries: "=_" never occurs in base64 text */
	snprintf(alt, sizeof(alt), "=_alt_%.60s", in->message_id + 1);
	snprintf(mixed, sizeof(mixed), "=_mixed_%.60s", in->message_id + 1);
	for (i = 0; alt[i] != '\0'; i++)
		if (alt[i] == '@' || alt[i] == '>')
			alt[i] = '_';
	for (i = 0; mixed[i] != '\0'; i++)
		if (mixed[i] == '@' || mixed[i] == '>')
			mixed[i] = '_';
	date_text(in->date, date, sizeof(date));

	if (put_mailbox(&b, "From", in->from) != 0 ||
	    put_mailbox(&b, "To", in->to) != 0 ||
	    (in->reply_to != NULL &&
	    put_mailbox(&b, "Reply-To", in->reply_to) != 0))
		goto oom;
	puts_(&b, "Subject: ");
	puts_(&b, subject);
	puts_(&b, "\r\nDate: ");
	puts_(&b, date);
	puts_(&b, "\r\nMessage-ID: ");
	puts_(&b, in->message_id);
	puts_(&b, "\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n");
	if (in->pdf != NULL) {
		puts_(&b, "Content-Type: multipart/mixed; boundary=\"");
		puts_(&b, mixed);
		puts_(&b, "\"\r\n\r\nThis is a MIME message.\r\n--");
		puts_(&b, mixed);
		puts_(&b, "\r\n");
	}
	puts_(&b, "Content-Type: multipart/alternative; boundary=\"");
	puts_(&b, alt);
	puts_(&b, "\"\r\n\r\n");
	if (in->pdf == NULL)
		puts_(&b, "This is a MIME message.\r\n");
	put_part_header(&b, alt, "text/plain; charset=UTF-8");
	puts_(&b, "\r\n");
	put_base64(&b, (const unsigned char *)part[1], strlen(part[1]));
	put_part_header(&b, alt, "text/html; charset=UTF-8");
	puts_(&b, "\r\n");
	put_base64(&b, (const unsigned char *)part[2], strlen(part[2]));
	puts_(&b, "--");
	puts_(&b, alt);
	puts_(&b, "--\r\n");
	if (in->pdf != NULL) {
		puts_(&b, "--");
		puts_(&b, mixed);
		puts_(&b, "\r\nContent-Type: application/pdf; name=\"");
		puts_(&b, in->pdf_name);
		puts_(&b, "\"\r\nContent-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"");
		puts_(&b, in->pdf_name);
		puts_(&b, "\"\r\n\r\n");
		put_base64(&b, in->pdf, in->pdf_len);
		puts_(&b, "--");
		puts_(&b, mixed);
		puts_(&b, "--\r\n");
	}
	if (b.oom)
		goto oom;
	*out = b.s;
	*len = b.len;
	b.s = NULL;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	for (i = 0; i < 3; i++) {
		free(tpl[i]);
		free(part[i]);
	}
	free(subject);
	free(b.s);
	return rc;
}
