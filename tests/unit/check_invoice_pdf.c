/*
 * Unit tests for invoice_pdf: the invoice drawn as a PDF, read back the way
 * a user would, with pdftotext and pdfinfo (poppler-utils).  Without those
 * tools the text assertions are skipped with a note; the PDF framing is
 * still checked.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "config.h"
#include "invoice_pdf.h"
#include "invoices.h"
#include "timeutil.h"

#define ISSUER "StreamSpace"

/* The seed example: 20 core-hours at 0.05 and 40 gb-hours at 0.01 = 1.40,
 * a 0.50 service credit, 0.90 due, January 2025. */
struct fixture {
	struct invoice inv;
	struct invoice_line lines[2];
	struct invoice_credit credit;
	struct invoice_payment payment;
};

static void
seed(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->inv.id = 1;
	f->inv.account_id = 7;
	snprintf(f->inv.user_id, sizeof(f->inv.user_id), "user-alice");
	snprintf(f->inv.email, sizeof(f->inv.email), "alice@example.com");
	snprintf(f->inv.number, sizeof(f->inv.number), "INV-2025-000001");
	snprintf(f->inv.kind, sizeof(f->inv.kind), "scheduled");
	snprintf(f->inv.status, sizeof(f->inv.status), "sent");
	snprintf(f->inv.currency, sizeof(f->inv.currency), "usd");
	snprintf(f->inv.billing_mode, sizeof(f->inv.billing_mode), "usage");
	f->inv.period_start = time_from_civil(2025, 1, 1, 0, 0, 0);
	f->inv.period_end = time_from_civil(2025, 2, 1, 0, 0, 0);
	f->inv.created_at = time_from_civil(2025, 2, 1, 0, 5, 0);
	f->inv.finalized_at = time_from_civil(2025, 2, 1, 0, 5, 0);
	f->inv.due_date = time_from_civil(2025, 2, 15, 0, 0, 0);
	f->inv.subtotal = 1400000;
	f->inv.credits = 500000;
	f->inv.total = 900000;

	f->lines[0] = (struct invoice_line){ .line_no = 1, .kind = "usage",
	    .resource_type = "cpu", .description = "CPU usage",
	    .quantity = 20000000, .unit = "core-hours", .unit_price = 50000,
	    .amount = 1000000 };
	f->lines[1] = (struct invoice_line){ .line_no = 2, .kind = "usage",
	    .resource_type = "memory", .description = "Memory usage",
	    .quantity = 40000000, .unit = "gb-hours", .unit_price = 10000,
	    .amount = 400000 };
	f->inv.lines = f->lines;
	f->inv.nlines = 2;

	f->credit.credit_id = 3;
	f->credit.amount = 500000;
	snprintf(f->credit.reason, sizeof(f->credit.reason),
	    "Service credit for downtime");
	f->inv.applied = &f->credit;
	f->inv.napplied = 1;
}

static void
render(const struct invoice *inv, unsigned char **pdf, size_t *len)
{
	*pdf = NULL;
	*len = 0;
	ck_assert_int_eq(invoice_pdf(inv, ISSUER, pdf, len), 0);
	ck_assert_ptr_nonnull(*pdf);
	ck_assert_uint_gt(*len, 0);
}

static int
have_poppler(void)
{
	static int known = -1;

	if (known == -1) {
		known = system("command -v pdftotext >/dev/null 2>&1 && "
		    "command -v pdfinfo >/dev/null 2>&1") == 0;
		if (!known)
			printf("note: pdftotext/pdfinfo (poppler-utils) not "
			    "found; skipping text assertions\n");
	}
	return known;
}

/* Runs `tool FILE args` on the PDF and returns its output; caller frees.
 * NULL when poppler is missing. */
static char *
run_on_pdf(const char *tool, const char *args, const unsigned char *pdf,
    size_t len)
{
	const char *dir = getenv("TMPDIR");
	char path[512], cmd[1024];
	char *text = NULL;
	size_t n = 0, cap = 0, r;
	FILE *fp;
	int fd;

	if (!have_poppler())
		return NULL;
	snprintf(path, sizeof(path), "%s/check_invoice_pdf.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : ".");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, pdf, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s '%s' %s 2>/dev/null", tool, path, args);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	do {
		if (cap - n < 4096) {
			cap = cap * 2 + 8192;
			ck_assert_ptr_nonnull(text = realloc(text, cap));
		}
		r = fread(text + n, 1, cap - n - 1, fp);
		n += r;
	} while (r > 0);
	text[n] = '\0';
	ck_assert_int_eq(pclose(fp), 0);
	unlink(path);
	return text;
}

static char *
pdf_text(const unsigned char *pdf, size_t len)
{
	return run_on_pdf("pdftotext -layout", "-", pdf, len);
}

static char *
rendered_text(const struct invoice *inv)
{
	unsigned char *pdf;
	size_t len;
	char *text;

	render(inv, &pdf, &len);
	text = pdf_text(pdf, len);
	free(pdf);
	return text;
}

#define ck_assert_has(text, want) \
	ck_assert_msg(strstr((text), (want)) != NULL, \
	    "\"%s\" not in the PDF text:\n%.1500s", (want), (text))

static size_t
count(const char *text, const char *needle)
{
	size_t n = 0;

	for (; (text = strstr(text, needle)) != NULL; text++)
		n++;
	return n;
}

/* The "Pages:" figure of pdfinfo. */
static long
page_count(const char *info)
{
	const char *p = strstr(info, "Pages:");

	ck_assert_ptr_nonnull(p);
	return strtol(p + strlen("Pages:"), NULL, 10);
}

START_TEST(test_output_is_framed_as_pdf)
{
	struct fixture f;
	unsigned char *pdf;
	size_t len, end;

	seed(&f);
	render(&f.inv, &pdf, &len);
	ck_assert_uint_gt(len, 5);
	ck_assert_int_eq(memcmp(pdf, "%PDF-", 5), 0);
	end = len;
	while (end > 0 && (pdf[end - 1] == '\n' || pdf[end - 1] == '\r'))
		end--;
	ck_assert_uint_ge(end, 5);
	ck_assert_int_eq(memcmp(pdf + end - 5, "%%EOF", 5), 0);
	free(pdf);
}
END_TEST

START_TEST(test_shows_number_status_issuer_and_customer)
{
	struct fixture f;
	char *text;

	seed(&f);
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "Invoice INV-2025-000001");
	ck_assert_has(text, "SENT");
	ck_assert_has(text, ISSUER);
	ck_assert_has(text, "user-alice");
	ck_assert_has(text, "alice@example.com");
	free(text);
}
END_TEST

START_TEST(test_shows_period_as_last_included_day_and_dates)
{
	struct fixture f;
	char *text;

	seed(&f);
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "2025-01-01 - 2025-01-31");
	ck_assert_has(text, "2025-02-01");	/* invoice date */
	ck_assert_has(text, "2025-02-15");	/* due date */
	free(text);
}
END_TEST

/* Copies the text line holding needle into buf: -layout keeps a table row
 * on one text line. */
static void
row_of(const char *text, const char *needle, char *buf, size_t size)
{
	const char *p = strstr(text, needle);
	size_t n;

	ck_assert_msg(p != NULL, "\"%s\" not in the PDF text", needle);
	while (p > text && p[-1] != '\n')
		p--;
	n = strcspn(p, "\n");
	ck_assert_uint_lt(n, size);
	memcpy(buf, p, n);
	buf[n] = '\0';
}

START_TEST(test_lines_show_quantity_unit_price_and_amount)
{
	struct fixture f;
	char *text, row[512];

	seed(&f);
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	row_of(text, "CPU usage", row, sizeof(row));
	ck_assert_has(row, " 20 ");
	ck_assert_has(row, "core-hours");
	ck_assert_has(row, "0.05");
	ck_assert_has(row, "1.00");
	row_of(text, "Memory usage", row, sizeof(row));
	ck_assert_has(row, " 40 ");
	ck_assert_has(row, "gb-hours");
	ck_assert_has(row, "0.01");
	ck_assert_has(row, "0.40");
	free(text);
}
END_TEST

START_TEST(test_totals_credits_and_currency)
{
	struct fixture f;
	char *text;

	seed(&f);
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "USD 1.40");	/* subtotal */
	ck_assert_has(text, "USD -0.50");	/* credits, negative */
	ck_assert_has(text, "Service credit for downtime");
	ck_assert_has(text, "USD 0.90");	/* total */
	ck_assert_has(text, "Subtotal");
	ck_assert_has(text, "Total");
	free(text);
}
END_TEST

START_TEST(test_draft_shows_draft)
{
	struct fixture f;
	char *text;

	seed(&f);
	f.inv.number[0] = '\0';
	snprintf(f.inv.status, sizeof(f.inv.status), "draft");
	f.inv.finalized_at = 0;
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "Invoice DRAFT");
	ck_assert_has(text, "2025-02-01");	/* created_at stands in */
	free(text);
}
END_TEST

START_TEST(test_many_lines_span_pages_with_repeated_header)
{
	struct fixture f;
	struct invoice_line *lines;
	unsigned char *pdf;
	size_t len, i;
	char *text, *info, want[64];
	long pages;

	seed(&f);
	ck_assert_ptr_nonnull(lines = calloc(200, sizeof(*lines)));
	for (i = 0; i < 200; i++) {
		lines[i] = f.lines[i % 2];
		lines[i].line_no = (unsigned)i + 1;
		snprintf(lines[i].description, sizeof(lines[i].description),
		    "Line item %03zu", i + 1);
	}
	f.inv.lines = lines;
	f.inv.nlines = 200;
	render(&f.inv, &pdf, &len);
	free(lines);
	if ((text = pdf_text(pdf, len)) == NULL) {
		free(pdf);
		return;
	}
	info = run_on_pdf("pdfinfo", "", pdf, len);
	free(pdf);
	pages = page_count(info);
	ck_assert_int_ge(pages, 3);
	/* One table header per page, one total for the invoice. */
	ck_assert_uint_eq(count(text, "Description"), (size_t)pages);
	ck_assert_uint_eq(count(text, "Subtotal"), 1);
	snprintf(want, sizeof(want), "Page %ld", pages);
	ck_assert_has(text, want);
	ck_assert_has(text, "Invoice INV-2025-000001 (continued)");
	for (i = 0; i < 200; i++) {
		snprintf(want, sizeof(want), "Line item %03zu", i + 1);
		ck_assert_has(text, want);
	}
	free(info);
	free(text);
}
END_TEST

START_TEST(test_non_ascii_becomes_question_marks)
{
	struct fixture f;
	char *text, *p;

	seed(&f);
	snprintf(f.inv.user_id, sizeof(f.inv.user_id), "M\xc3\xbcller");
	snprintf(f.lines[0].description, sizeof(f.lines[0].description),
	    "Caf\xc3\xa9 \xe2\x82\xac \x01\x1b[31mred\x07");
	snprintf(f.credit.reason, sizeof(f.credit.reason),
	    "tab\there\nnewline \xf0\x9f\x98\x80 bad \xff\xfe end \xc3");
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "M?ller");
	ck_assert_has(text, "Caf? ? ??[31mred?");
	ck_assert_has(text, "tab?here?newline ? bad ?? end ?");
	/* Nothing but ASCII reached the page. */
	for (p = text; *p != '\0'; p++)
		ck_assert_msg((unsigned char)*p < 0x80,
		    "non-ASCII byte 0x%02x in the text", (unsigned char)*p);
	free(text);
}
END_TEST

START_TEST(test_overlong_fields_are_cut_with_ellipsis)
{
	struct fixture f;
	char *text, run[64];

	seed(&f);
	memset(f.lines[0].description, 'W', sizeof(f.lines[0].description) - 1);
	f.lines[0].description[sizeof(f.lines[0].description) - 1] = '\0';
	memset(f.credit.reason, 'r', sizeof(f.credit.reason) - 1);
	f.credit.reason[sizeof(f.credit.reason) - 1] = '\0';
	memset(f.inv.email, 'e', sizeof(f.inv.email) - 1);
	f.inv.email[sizeof(f.inv.email) - 1] = '\0';
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "WWWWWWWWWW...");
	ck_assert_has(text, "rrrrrrrrrr...");
	ck_assert_has(text, "eeeeeeeeee...");
	/* 60 W at 9 pt are wider than the description column. */
	memset(run, 'W', 60);
	run[60] = '\0';
	ck_assert_ptr_null(strstr(text, run));
	/* The amounts beside the cut text are still there. */
	ck_assert_has(text, "1.00");
	ck_assert_has(text, "USD -0.50");
	free(text);
}
END_TEST

START_TEST(test_payments_are_listed)
{
	struct fixture f;
	char *text;

	seed(&f);
	snprintf(f.inv.status, sizeof(f.inv.status), "paid");
	f.payment = (struct invoice_payment){ .id = 9, .amount = 900000,
	    .status = "succeeded", .method = "card",
	    .created_at = time_from_civil(2025, 2, 3, 12, 0, 0) };
	f.inv.payments = &f.payment;
	f.inv.npayments = 1;
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "PAID");
	ck_assert_has(text, "Payments");
	ck_assert_has(text, "2025-02-03");
	ck_assert_has(text, "card");
	ck_assert_has(text, "succeeded");
	ck_assert_uint_eq(count(text, "USD 0.90"), 2);
	free(text);
}
END_TEST

START_TEST(test_without_payments_no_payment_section)
{
	struct fixture f;
	char *text;

	seed(&f);
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_ptr_null(strstr(text, "Payments"));
	free(text);
}
END_TEST

START_TEST(test_document_info_and_a4)
{
	struct fixture f;
	unsigned char *pdf;
	size_t len;
	char *info;

	seed(&f);
	render(&f.inv, &pdf, &len);
	info = run_on_pdf("pdfinfo", "", pdf, len);
	free(pdf);
	if (info == NULL)
		return;
	ck_assert_has(info, "Invoice INV-2025-000001");
	ck_assert_has(info, "streamspace-billing");
	ck_assert_has(info, "(A4)");
	ck_assert_int_eq(page_count(info), 1);
	free(info);
}
END_TEST

START_TEST(test_empty_invoice_renders_zero_total)
{
	struct fixture f;
	char *text;

	seed(&f);
	f.inv.nlines = 0;
	f.inv.napplied = 0;
	f.inv.subtotal = f.inv.credits = f.inv.total = 0;
	f.inv.email[0] = '\0';
	f.inv.due_date = 0;
	if ((text = rendered_text(&f.inv)) == NULL)
		return;
	ck_assert_has(text, "USD 0.00");
	ck_assert_ptr_null(strstr(text, "-0.00"));
	ck_assert_ptr_null(strstr(text, "Email:"));
	free(text);
}
END_TEST

START_TEST(test_bad_arguments_fail)
{
	struct fixture f;
	unsigned char *pdf = NULL;
	size_t len = 0;

	seed(&f);
	ck_assert_int_eq(invoice_pdf(NULL, ISSUER, &pdf, &len), -1);
	ck_assert_int_eq(invoice_pdf(&f.inv, ISSUER, NULL, &len), -1);
	ck_assert_int_eq(invoice_pdf(&f.inv, ISSUER, &pdf, NULL), -1);
	f.inv.lines = NULL;
	ck_assert_int_eq(invoice_pdf(&f.inv, ISSUER, &pdf, &len), -1);
	ck_assert_ptr_null(pdf);
	ck_assert_uint_eq(len, 0);
}
END_TEST

/* The issuer's and the customer's blocks, a tax row, "Tax exempt". */
START_TEST(test_issued_shows_issuer_bill_to_and_taxes)
{
	struct fixture f;
	struct invoice_issuer is;
	struct account_billing bt;
	struct invoice_tax tax;
	unsigned char *pdf = NULL;
	size_t len = 0;
	char *text;

	seed(&f);
	memset(&is, 0, sizeof(is));
	is.name = "StreamSpace Demo Ltd";
	is.address[0] = "1 Example Street";
	is.address[1] = "London EC1A 1AA";
	is.n_address = 2;
	is.email = "billing@streamspace.example";
	is.tax_id = "GB123456789";
	memset(&bt, 0, sizeof(bt));
	snprintf(bt.name, sizeof(bt.name), "Acme Trading GmbH");
	snprintf(bt.address[0], sizeof(bt.address[0]), "Hauptstrasse 1");
	bt.naddress = 1;
	snprintf(bt.country, sizeof(bt.country), "DE");
	snprintf(bt.tax_id, sizeof(bt.tax_id), "DE999999999");
	memset(&tax, 0, sizeof(tax));
	snprintf(tax.rate_id, sizeof(tax.rate_id), "gst");
	snprintf(tax.name, sizeof(tax.name), "GST");
	tax.percent = 7654300;
	tax.inclusive = 1;
	tax.taxable = 900000;
	tax.amount = 60000;
	f.inv.bill_to = &bt;
	f.inv.taxes = &tax;
	f.inv.ntaxes = 1;
	f.inv.tax = 60000;
	ck_assert_int_eq(invoice_pdf_issued(&f.inv, &is, &pdf, &len), 0);
	if ((text = pdf_text(pdf, len)) == NULL) {
		free(pdf);
		return;
	}
	ck_assert_has(text, "StreamSpace Demo Ltd");
	ck_assert_has(text, "London EC1A 1AA");
	ck_assert_has(text, "billing@streamspace.example");
	ck_assert_has(text, "Tax ID: GB123456789");
	ck_assert_has(text, "Bill to");
	ck_assert_has(text, "Acme Trading GmbH");
	ck_assert_has(text, "Hauptstrasse 1");
	ck_assert_has(text, "Tax ID: DE999999999");
	ck_assert_has(text, "GST 7.6543% (included)");
	ck_assert_has(text, "USD 0.06");
	ck_assert_msg(strstr(text, "Tax exempt") == NULL, "exempt shown");
	free(text);
	free(pdf);

	f.inv.ntaxes = 0;
	f.inv.tax_exempt = 1;
	ck_assert_int_eq(invoice_pdf_issued(&f.inv, &is, &pdf, &len), 0);
	if ((text = pdf_text(pdf, len)) != NULL) {
		ck_assert_has(text, "Tax exempt");
		free(text);
	}
	if (getenv("KEEP_PDF") != NULL) {
		FILE *fp = fopen(getenv("KEEP_PDF"), "wb");

		if (fp != NULL) {
			fwrite(pdf, 1, len, fp);
			fclose(fp);
		}
	}
	free(pdf);
}
END_TEST


static Suite *
invoice_pdf_suite(void)
{
	Suite *s = suite_create("invoice_pdf");
	TCase *tc = tcase_create("render");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_output_is_framed_as_pdf);
	tcase_add_test(tc, test_shows_number_status_issuer_and_customer);
	tcase_add_test(tc, test_shows_period_as_last_included_day_and_dates);
	tcase_add_test(tc, test_lines_show_quantity_unit_price_and_amount);
	tcase_add_test(tc, test_totals_credits_and_currency);
	tcase_add_test(tc, test_draft_shows_draft);
	tcase_add_test(tc, test_many_lines_span_pages_with_repeated_header);
	tcase_add_test(tc, test_non_ascii_becomes_question_marks);
	tcase_add_test(tc, test_overlong_fields_are_cut_with_ellipsis);
	tcase_add_test(tc, test_payments_are_listed);
	tcase_add_test(tc, test_without_payments_no_payment_section);
	tcase_add_test(tc, test_document_info_and_a4);
	tcase_add_test(tc, test_empty_invoice_renders_zero_total);
	tcase_add_test(tc, test_bad_arguments_fail);
	tcase_add_test(tc, test_issued_shows_issuer_bill_to_and_taxes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(invoice_pdf_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
