/*
 * config_check: the string rules of the config keys and of the environment
 * overrides.  config_has_control finds control characters; each
 * config_check_* returns NULL when s is fine, else the reason: a constant
 * text that never quotes the value.
 */
#include <sys/un.h>
#include <ctype.h>

#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_impl.h"

#define JWT_SECRET_MIN 32	/* the SHA-256 output size */

int
config_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

const char *
config_check_url(const char *s)
{
	const char *host;

	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return "must start with http:// or https://";
	if (*host == '\0' || *host == '/')
		return "must name a host after the scheme";
	if (strchr(s, ' ') != NULL)
		return "must not contain spaces";
	return NULL;
}

int
config_url_origin(const char *url, char *out, size_t size)
{
	const char *host;
	size_t n, i;

	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return -1;
	n = (size_t)(host - url) + strcspn(host, "/?#\\");
	if (n == (size_t)(host - url) || n >= size)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (url[i] >= 'A' && url[i] <= 'Z') ?
		    (char)(url[i] + 32) : url[i];
	out[n] = '\0';
	return 0;
}

const char *
config_check_origin(const char *s)
{
	char o[1024];
	const char *bad;

	if ((bad = config_check_url(s)) != NULL)
		return bad;
	if (config_url_origin(s, o, sizeof(o)) != 0 || strlen(o) != strlen(s) ||
	    strchr(o, '@') != NULL)
		return "must be an origin: http(s)://host[:port], without a "
		    "path";
	return NULL;
}

const char *
config_check_frame_origin(const char *s)
{
	const char *bad, *host, *p;
	int v6 = 0, port = 0;

	if ((bad = config_check_origin(s)) != NULL)
		return bad;
	host = strncmp(s, "https://", 8) == 0 ? s + 8 :
	    strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
	if (host == NULL)
		return "must be lowercase http:// or https://";
	if (*host == '[')
		v6 = 1;
	for (p = host; *p != '\0'; p++) {
		if (port) {
			if (*p < '0' || *p > '9')
				return "must have a port of digits only";
		} else if (v6 && p != host && *p == ']') {
			v6 = 0;
			if (p[1] != '\0' && p[1] != ':')
				return "must be an origin: http(s)://host[:port]";
		} else if (!v6 && *p == ':') {
			port = 1;
			if (p[1] == '\0')
				return "must have a port after ':'";
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-' || (v6 && (*p == ':' || p == host)))) {
			return "must have a host of lowercase letters, digits, "
			    "'.' and '-' (or [IPv6])";
		}
	}
	if (v6)
		return "must close an IPv6 host with ']'";
	return NULL;
}

/* 1 when the dotted quad s (of length n) is in 127.0.0.0/8. */
static int
loopback_v4(const char *s, size_t n)
{
	unsigned parts = 0, v = 0, digits = 0;
	size_t i;

	if (n < 4 || strncmp(s, "127.", 4) != 0)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (digits == 0 || v > 255)
				return 0;
			parts++;
			v = digits = 0;
		} else if (s[i] >= '0' && s[i] <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
		} else
			return 0;
	}
	return parts == 4;
}

const char *
config_check_stripe_api_base(const char *s)
{
	const char *bad, *host, *end;
	char o[1024];
	size_t n;

	if ((bad = config_check_url(s)) != NULL)
		return bad;
	if (config_url_origin(s, o, sizeof(o)) != 0 || strchr(o, '@') != NULL)
		return "must be http(s)://host[:port] without user information";
	if (strncmp(o, "https://", 8) == 0)
		return NULL;
	/* plain http carries the secret key in clear: loopback only */
	host = o + 7;
	if (host[0] == '[')
		return strncmp(host, "[::1]", 5) == 0 && (host[5] == '\0' ||
		    host[5] == ':') ? NULL : "may be http:// only for a loopback "
		    "host (127.0.0.0/8, ::1, localhost): use https://";
	end = strchr(host, ':');
	n = end != NULL ? (size_t)(end - host) : strlen(host);
	if ((n == 9 && strncmp(host, "localhost", 9) == 0) ||
	    loopback_v4(host, n))
		return NULL;
	return "may be http:// only for a loopback host (127.0.0.0/8, ::1, "
	    "localhost): use https://";
}

static const char *
check_unix_path(const char *p)
{
	if (p[0] != '/')
		return "must be an absolute path";
	if (strlen(p) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return "socket path is too long";
	return NULL;
}

const char *
config_check_listen(const char *s)
{
	const char *colon, *p, *bad = "must be \"unix:/path\", \"/path\" or "
	    "\"host:port\" with a port from 1 to 65535";
	long port = 0;

	if (strncmp(s, "unix:", 5) == 0)
		return check_unix_path(s + 5);
	if (s[0] == '/')
		return check_unix_path(s);
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return bad;
	if (colon[1] == '\0' || strlen(colon + 1) > 5)
		return bad;
	for (p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return bad;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return bad;
	if (s[0] == '[') {
		/* [IPv6]:port */
		if (colon[-1] != ']' || colon - s < 3)
			return bad;
		for (p = s + 1; p < colon - 1; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				return bad;
		return NULL;
	}
	for (p = s; p < colon; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_", *p) == NULL)
			return bad;
	return NULL;
}

const char *
config_check_abs_path(const char *s)
{
	return s[0] == '/' ? NULL : "must be an absolute path";
}

/* A file read at every connect (TLS material): checked now, so that a
 * typo fails the start and not the first request. */
const char *
config_check_readable_file(const char *s)
{
	if (s[0] != '/')
		return "must be an absolute path";
	if (access(s, R_OK) != 0)
		return "cannot be read";
	return NULL;
}

const char *
config_check_currency(const char *s)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (s[i] < 'a' || s[i] > 'z')
			break;
	if (i != 3 || s[3] != '\0')
		return "must be a lower-case ISO 4217 code of 3 letters, "
		    "such as \"usd\"";
	return NULL;
}

const char *
config_check_cron(const char *s)
{
	int fields = 0, in_field = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t') {
			in_field = 0;
			continue;
		}
		if (strchr("0123456789*/,-abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", *s) == NULL)
			return "must be a cron expression of 5 fields, "
			    "such as \"0 * * * *\"";
		if (!in_field)
			fields++;
		in_field = 1;
	}
	if (fields != 5)
		return "must be a cron expression of 5 fields, "
		    "such as \"0 * * * *\"";
	return NULL;
}

const char *
config_check_jwt_secret(const char *s)
{
	if (strlen(s) < JWT_SECRET_MIN)
		return "must be at least 32 bytes: an HS256 key shorter than "
		    "the SHA-256 output is weak";
	return NULL;
}

const char *
config_check_plan_id(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *s) == NULL)
			return "must be 1 to 64 characters of a-z, 0-9, '_' "
			    "and '-'";
	return NULL;
}

/* smtp://host[:port] or smtps://host[:port], an optional "/" after; the
 * host of letters, digits, '.', '-' or an IPv6 literal in brackets.  The
 * credentials are keys of their own, never in the URL. */
const char *
config_check_smtp_url(const char *s)
{
	const char *h, *p;

	if (strncasecmp(s, "smtps://", 8) == 0)
		h = s + 8;
	else if (strncasecmp(s, "smtp://", 7) == 0)
		h = s + 7;
	else
		return "must start with smtp:// or smtps://";
	p = h;
	if (*p == '[') {
		while (*++p != '\0' && *p != ']')
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				return "must name a host after the scheme";
		if (*p++ != ']' || p == h + 2)
			return "must name a host after the scheme";
	} else
		while (*p != '\0' && strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", *p) != NULL)
			p++;
	if (p == h)
		return "must name a host after the scheme (the credentials "
		    "go in username and password)";
	if (*p == ':') {
		long port = 0;

		if (!(p[1] >= '0' && p[1] <= '9'))
			return "must have a port number after ':'";
		while (*++p >= '0' && *p <= '9')
			if ((port = port * 10 + (*p - '0')) > 65535)
				return "must have a port from 1 to 65535";
		if (port == 0)
			return "must have a port from 1 to 65535";
	}
	if (*p == '/')
		p++;
	if (*p != '\0')
		return "must be smtp(s)://host[:port] with nothing after";
	return NULL;
}

int
config_smtp_url_loopback(const char *s)
{
	const char *h = strncasecmp(s, "smtps://", 8) == 0 ? s + 8 : s + 7;
	size_t n = strcspn(h, ":/");

	if (h[0] == '[')
		return strncmp(h, "[::1]", 5) == 0;
	return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
	    strncmp(h, "127.", 4) == 0;
}

/* The addr-spec we accept: local@domain, the local part of letters,
 * digits and !#$%&'*+/=?^_`{|}~.- , the domain of letters, digits, '.' and
 * '-', neither part empty.  The length of the addr-spec, 0 when not one. */
static size_t
addr_spec(const char *s, size_t len)
{
	size_t i = 0, at;

	while (i < len && (isalnum((unsigned char)s[i]) ||
	    strchr("!#$%&'*+/=?^_`{|}~.-", s[i]) != NULL) && s[i] != '\0')
		i++;
	if (i == 0 || i >= len || s[i] != '@')
		return 0;
	at = ++i;
	while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '.' ||
	    s[i] == '-'))
		i++;
	if (i == at || i != len || s[at] == '.' || s[i - 1] == '.')
		return 0;
	return len;
}

int
config_addr_spec(const char *s)
{
	size_t len = strlen(s);

	return len <= 320 && addr_spec(s, len) != 0;
}

const char *
config_check_mailbox(const char *s)
{
	const char *lt, *p;
	size_t len = strlen(s);

	if (len == 0 || len > 320 + 200)
		return "must be an address (a@example.com) or a name and an "
		    "address (Name <a@example.com>)";
	if ((lt = strchr(s, '<')) == NULL)
		return addr_spec(s, len) ? NULL : "must be an address "
		    "(a@example.com) or a name and an address "
		    "(Name <a@example.com>)";
	for (p = s; p < lt; p++)
		if (*p == '"' || *p == '>' || *p == '\\' ||
		    (unsigned char)*p < 0x20 || *p == 0x7f)
			return "the name before <address> must not contain "
			    "quotes, backslashes, '>' or control characters";
	if (s[len - 1] != '>' || !addr_spec(lt + 1, len - (size_t)(lt - s) - 2))
		return "must be an address (a@example.com) or a name and an "
		    "address (Name <a@example.com>)";
	return NULL;
}

int
config_mailbox_address(const char *mailbox, char *out, size_t size)
{
	const char *lt = strchr(mailbox, '<');
	size_t len;

	if (config_check_mailbox(mailbox) != NULL)
		return -1;
	if (lt == NULL)
		len = strlen(mailbox);
	else {
		mailbox = lt + 1;
		len = strlen(mailbox) - 1;
	}
	if (len >= size)
		return -1;
	memcpy(out, mailbox, len);
	out[len] = '\0';
	return 0;
}
