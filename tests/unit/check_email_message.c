/*
 * check_email_message: the pieces of an email (src/billing/email_message.c)
 * that the integration test (tests/integration/test_emails.py) reads only
 * through Python's email package: RFC 2047 words cut on whole UTF-8
 * characters, placeholders and their HTML escaping, CRLF lines and base64
 * lines of 76, the fallback to the default templates.  Expected encodings
 * were made with Python (base64.b64encode("Ström".encode())).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <json-c/json.h>

#include "email_message.h"

static struct json_object *
vars(void)
{
	struct json_object *v = json_object_new_object();

	json_object_object_add(v, "name", json_object_new_string("<b>&'\""));
	json_object_object_add(v, "n", json_object_new_string("42"));
	return v;
}

START_TEST(test_ascii_header_is_kept)
{
	char *s = email_message_header_text("Invoice INV-2025-000001", 9);

	ck_assert_str_eq(s, "Invoice INV-2025-000001");
	free(s);
}
END_TEST

START_TEST(test_utf8_header_is_an_encoded_word)
{
	/* base64("Ström") = "U3Ryw7Zt" */
	char *s = email_message_header_text("Str\xc3\xb6m", 9);

	ck_assert_str_eq(s, "=?UTF-8?B?U3Ryw7Zt?=");
	free(s);
}
END_TEST

START_TEST(test_long_utf8_header_folds_on_whole_characters)
{
	char text[200], *s, *line, *save = NULL;
	size_t i;

	/* 60 two-byte characters: 120 bytes, three words of at most 45 */
	for (i = 0; i < 60; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	text[120] = '\0';
	s = email_message_header_text(text, 9);
	ck_assert_ptr_nonnull(strstr(s, "?=\r\n =?UTF-8?B?"));
	for (line = strtok_r(s, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ')
			line++;
		ck_assert_uint_le(strlen(line), 75);   /* RFC 2047's limit */
		ck_assert(strncmp(line, "=?UTF-8?B?", 10) == 0);
		/* 44 bytes (22 characters) a word: base64 of 44 is 60 */
		ck_assert_uint_le(strlen(line), 12 + 60);
	}
	free(s);
}
END_TEST

START_TEST(test_text_that_looks_encoded_is_encoded)
{
	char *s = email_message_header_text("=?UTF-8?B?x?=", 9);

	ck_assert(strncmp(s, "=?UTF-8?B?", 10) == 0);
	ck_assert_str_ne(s, "=?UTF-8?B?x?=");
	free(s);
}
END_TEST

START_TEST(test_placeholders_text_and_html)
{
	struct json_object *v = vars();
	char *t = email_message_render("a {{name}} b {{ n }} c {{unknown}}.", v,
	    0);
	char *h = email_message_render("a {{name}} b {{n}}.", v, 1);
	char *open = email_message_render("a {{name", v, 1);

	ck_assert_str_eq(t, "a <b>&'\" b 42 c .");
	ck_assert_str_eq(h, "a &lt;b&gt;&amp;&#39;&quot; b 42.");
	ck_assert_str_eq(open, "a {{name");
	free(t);
	free(h);
	free(open);
	json_object_put(v);
}
END_TEST

/* Writes a template file under dir. */
static void
put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* base64 (no padding inside) of src into out; the bytes, or -1 */
static int
unbase64(const char *src, size_t n, unsigned char *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = 0;
	int bits = 0, len = 0;
	const char *c;

	for (; n > 0 && *src != '='; src++, n--) {
		if ((c = strchr(b64, *src)) == NULL || *src == '\0')
			return -1;
		v = (v << 6) | (unsigned)(c - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[len++] = (unsigned char)(v >> bits);
		}
	}
	return len;
}

/*
 * A header "Name: value" (CRLF SP folded, as the message has it): every
 * line at most 76 characters, the first with the name; and its text, the
 * encoded-words decoded (each on whole UTF-8 characters; the space between
 * two of them is not text), into out.
 */
static void
check_header(const char *hdr, char *out, size_t size)
{
	char flat[2048], *tok, *save = NULL;
	const char *l, *e;
	unsigned char dec[128];
	size_t len = 0, f = 0;
	int n, prev_word = 0;

	for (l = hdr; ; l = e + 2) {
		e = strstr(l, "\r\n");
		if (e == NULL)
			e = l + strlen(l);
		ck_assert_uint_le((size_t)(e - l), 76);
		ck_assert_uint_lt(f + (size_t)(e - l), sizeof(flat));
		memcpy(flat + f, l, (size_t)(e - l));
		f += (size_t)(e - l);
		if (*e == '\0')
			break;
		ck_assert(e[2] == ' ');   /* folded with CRLF SP */
	}
	flat[f] = '\0';
	tok = strtok_r(strchr(flat, ':') + 1, " ", &save);
	for (; tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		size_t tl = strlen(tok);

		if (strncmp(tok, "=?UTF-8?B?", 10) == 0 && tl > 12 &&
		    strcmp(tok + tl - 2, "?=") == 0) {
			n = unbase64(tok + 10, tl - 12, dec);
			ck_assert_int_gt(n, 0);
			ck_assert((dec[0] & 0xc0) != 0x80);   /* whole */
			if (len > 0 && !prev_word)
				out[len++] = ' ';
			ck_assert_uint_lt(len + (size_t)n, size);
			memcpy(out + len, dec, (size_t)n);
			len += (size_t)n;
			prev_word = 1;
		} else {
			if (len > 0)
				out[len++] = ' ';
			ck_assert_uint_lt(len + tl, size);
			memcpy(out + len, tok, tl);
			len += tl;
			prev_word = 0;
		}
	}
	out[len] = '\0';
}

static void
check_subject(const char *text)
{
	char hdr[2048], got[1024], *s;

	s = email_message_header_text(text, 9);
	ck_assert_ptr_nonnull(s);
	snprintf(hdr, sizeof(hdr), "Subject: %s", s);
	check_header(hdr, got, sizeof(got));
	ck_assert_str_eq(got, text);
	free(s);
}

START_TEST(test_subject_lines_fit_76_with_the_name)
{
	char cjk[400], acc[400];
	size_t i;

	/* short and long ASCII (the long one encoded: no line over 76) */
	check_subject("Invoice INV-2025-000001");
	check_subject("Your invoice INV-2025-000001 of StreamSpace is ready: "
	    "40.00 EUR, due 2025-02-15");
	check_subject("Invoice INV-2025-000001 of StreamSpace Billing abc 12");
	/* accented: 2-byte characters */
	check_subject("Str\xc3\xb6m");
	for (i = 0, acc[0] = '\0'; i < 12; i++)
		strcat(acc, "Factur\xc3\xa9 pay\xc3\xa9" "e ");
	check_subject(acc);
	/* CJK: 3-byte characters (請求書) */
	for (i = 0, cjk[0] = '\0'; i < 30; i++)
		strcat(cjk, i % 3 == 0 ? "\xe8\xab\x8b" : i % 3 == 1 ?
		    "\xe6\xb1\x82" : "\xe6\x9b\xb8");
	check_subject(cjk);
	/* a first word sized by its prefix: 9 + 12 + 52 = 73, not 81 */
	{
		char *s = email_message_header_text(cjk, 9);

		ck_assert_uint_le((size_t)(strstr(s, "\r\n") - s) + 9, 76);
		free(s);
	}
}
END_TEST

/* The From header of a message built with from (its lines, its text). */
static void
check_from(const char *from, const char *want)
{
	char dir[] = "/tmp/check_email_XXXXXX", *msg = NULL, err[256];
	char hdr[2048], got[1024], *p, *e;
	struct email_message_input in;
	struct json_object *v = vars();
	size_t len = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	put(dir, "default.subject", "Hello\n");
	put(dir, "default.txt", "x\n");
	put(dir, "default.html", "<p>x</p>\n");
	memset(&in, 0, sizeof(in));
	in.from = from;
	in.to = "ada@example.com";
	in.message_id = "<evt_1.billing@example.com>";
	in.date = (int64_t)1738369800 * 1000000;
	in.template_dir = dir;
	in.kind = "invoice.created";
	in.vars = v;
	ck_assert_int_eq(email_message_build(&in, &msg, &len, err,
	    sizeof(err)), 0);
	p = strncmp(msg, "From: ", 6) == 0 ? msg : strstr(msg, "\r\nFrom: ");
	ck_assert_ptr_nonnull(p);
	if (p != msg)
		p += 2;
	/* the header runs to the first CRLF not followed by a space */
	for (e = p; (e = strstr(e, "\r\n")) != NULL && e[2] == ' '; e += 2)
		;
	ck_assert_ptr_nonnull(e);
	snprintf(hdr, sizeof(hdr), "%.*s", (int)(e - p), p);
	check_header(hdr, got, sizeof(got));
	ck_assert_str_eq(got, want);
	free(msg);
	json_object_put(v);
}

START_TEST(test_from_lines_fit_76_with_the_name)
{
	char name[300], want[400], from[400];
	size_t i;

	check_from("Str\xc3\xb6m Billing <billing@example.com>",
	    "Str\xc3\xb6m Billing <billing@example.com>");
	/* a long accented name: words, then the address on its own line */
	for (i = 0, name[0] = '\0'; i < 6; i++)
		strcat(name, "Soci\xc3\xa9t\xc3\xa9 ");
	strcat(name, "Billing");
	snprintf(from, sizeof(from), "%s <billing-department@example.com>",
	    name);
	snprintf(want, sizeof(want), "%s <billing-department@example.com>",
	    name);
	check_from(from, want);
	/* CJK */
	for (i = 0, name[0] = '\0'; i < 20; i++)
		strcat(name, "\xe8\xab\x8b");
	snprintf(from, sizeof(from), "%s <billing@example.com>", name);
	snprintf(want, sizeof(want), "%s <billing@example.com>", name);
	check_from(from, want);
	/* a plain name that with its quotes and address passes 76 */
	snprintf(from, sizeof(from), "StreamSpace Billing Department of "
	    "Example Corporation <billing-department@example.com>");
	snprintf(want, sizeof(want), "\"StreamSpace Billing Department of "
	    "Example Corporation\" <billing-department@example.com>");
	check_from(from, want);
}
END_TEST

START_TEST(test_message_has_crlf_lines_base64_of_76_and_the_default)
{
	char dir[] = "/tmp/check_email_XXXXXX", *msg = NULL, err[256];
	unsigned char pdf[300];
	struct email_message_input in;
	struct json_object *v = vars();
	size_t len = 0, i, col = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	put(dir, "default.subject", "Hello {{n}}\nsecond line\n");
	put(dir, "default.txt", "line one\nline {{n}}\n");
	put(dir, "default.html", "<p>{{name}}</p>\n");
	for (i = 0; i < sizeof(pdf); i++)
		pdf[i] = (unsigned char)i;
	memset(&in, 0, sizeof(in));
	in.from = "Str\xc3\xb6m Billing <billing@example.com>";
	in.to = "ada@example.com";
	in.message_id = "<evt_1.billing@example.com>";
	in.date = (int64_t)1738369800 * 1000000;
	in.template_dir = dir;
	in.kind = "invoice.created";        /* none of its own: default */
	in.vars = v;
	in.pdf = pdf;
	in.pdf_len = sizeof(pdf);
	in.pdf_name = "INV-2025-000001.pdf";
	ck_assert_int_eq(email_message_build(&in, &msg, &len, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(strlen(msg), len);
	ck_assert_ptr_nonnull(strstr(msg, "Subject: Hello 42\r\n"));
	ck_assert_ptr_nonnull(strstr(msg,
	    "From: =?UTF-8?B?U3Ryw7ZtIEJpbGxpbmc=?= <billing@example.com>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "Date: Sat, 01 Feb 2025 00:30:00 "
	    "+0000\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "Message-ID: "
	    "<evt_1.billing@example.com>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "filename=\"INV-2025-000001.pdf\""));
	/* every LF ends a CRLF; no line longer than 76 but the headers' */
	for (i = 0; i < len; i++) {
		if (msg[i] == '\n') {
			ck_assert(i > 0 && msg[i - 1] == '\r');
			col = 0;
		} else if (msg[i] != '\r')
			col++;
		ck_assert_uint_le(col, 998);
	}
	/* 300 bytes of PDF: 400 base64 characters, 5 lines of 76 and 20 */
	ck_assert_ptr_nonnull(strstr(msg, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
	    "GxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"));
	free(msg);
	/* a template missing altogether is an error naming it */
	in.template_dir = "/nonexistent";
	ck_assert_int_eq(email_message_build(&in, &msg, &len, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/default.subject"));
	json_object_put(v);
}
END_TEST

static Suite *
email_message_suite(void)
{
	Suite *s = suite_create("email_message");
	TCase *tc = tcase_create("headers");

	tcase_add_test(tc, test_ascii_header_is_kept);
	tcase_add_test(tc, test_utf8_header_is_an_encoded_word);
	tcase_add_test(tc, test_long_utf8_header_folds_on_whole_characters);
	tcase_add_test(tc, test_text_that_looks_encoded_is_encoded);
	tcase_add_test(tc, test_subject_lines_fit_76_with_the_name);
	tcase_add_test(tc, test_from_lines_fit_76_with_the_name);
	suite_add_tcase(s, tc);
	tc = tcase_create("body");
	tcase_add_test(tc, test_placeholders_text_and_html);
	tcase_add_test(tc, test_message_has_crlf_lines_base64_of_76_and_the_default);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(email_message_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
