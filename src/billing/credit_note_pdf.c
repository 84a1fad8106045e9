/*
 * credit_note_pdf: a credit note as a PDF document (libharu), for
 * GET credit-notes/{id}/pdf: one A4 page naming the credit note's number,
 * the invoice it corrects, the customer, the reason, the lines or amount
 * credited and how it was settled.
 *
 * As invoice_pdf.c: built-in Helvetica (WinAnsiEncoding), text from the
 * database reduced to printable ASCII; libharu's errors are recorded by the
 * handler and checked after each step; amounts come from money_format,
 * never a floating point type (HPDF_REAL is layout only).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hpdf.h>

#include "credit_notes.h"
#include "log.h"
#include "money.h"
#include "timeutil.h"
#include "tz.h"

#define LEFT_X   50.0f
#define RIGHT_X  545.0f
#define TOP_Y    792.0f
#define ROW      16.0f
#define TEXT_MAX 600

struct doc {
	HPDF_Doc doc;
	HPDF_Page page;
	HPDF_Font regular, bold;
	HPDF_REAL y;
	int failed;
};

static void
on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *arg)
{
	struct doc *d = arg;

	(void)error_no;
	(void)detail_no;
	d->failed = 1;
}

/* Printable ASCII of src into dst; a UTF-8 sequence becomes one '?'. */
static void
ascii(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;

	while (*s != '\0' && n + 1 < size) {
		if (*s >= 0x20 && *s < 0x7f) {
			dst[n++] = (char)*s++;
			continue;
		}
		if (*s++ >= 0xc0)
			while ((*s & 0xc0) == 0x80)
				s++;
		dst[n++] = '?';
	}
	dst[n] = '\0';
}

/* label at the left, value (may be "") after it or right-aligned. */
static int
row(struct doc *d, HPDF_Font font, HPDF_REAL size, const char *label,
    const char *value, int right)
{
	char l[TEXT_MAX], v[TEXT_MAX];
	HPDF_REAL x = LEFT_X + 130.0f;

	ascii(l, sizeof(l), label);
	ascii(v, sizeof(v), value);
	/* a long reason is cut to the page: the API has it whole */
	if (strlen(v) > 80)
		memcpy(v + 77, "...", 4);
	HPDF_Page_SetFontAndSize(d->page, font, size);
	HPDF_Page_BeginText(d->page);
	HPDF_Page_TextOut(d->page, LEFT_X, d->y, l);
	if (right)
		x = RIGHT_X - HPDF_Page_TextWidth(d->page, v);
	HPDF_Page_TextOut(d->page, x, d->y, v);
	HPDF_Page_EndText(d->page);
	d->y -= size > 12.0f ? 2 * ROW : ROW;
	return d->failed ? -1 : 0;
}

static void
money_text(int64_t micros, const char *currency, char *buf, size_t size)
{
	char num[32], cur[4];
	size_t i;

	money_format(micros, 2, num, sizeof(num));
	for (i = 0; i < 3 && currency[i] != '\0'; i++)
		cur[i] = (char)(currency[i] >= 'a' && currency[i] <= 'z' ?
		    currency[i] - 'a' + 'A' : currency[i]);
	cur[i] = '\0';
	snprintf(buf, size, "%s %s", cur, num);
}

/* The local date in zone (NULL: UTC). */
static void
date_text(const char *zone, int64_t usec, char *buf, size_t size)
{
	int y, m, dd;

	tz_local_date(zone, usec, &y, &m, &dd);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, dd);
}

static int
draw(struct doc *d, const struct credit_note *cn, const char *issuer)
{
	char buf[TEXT_MAX], lab[64], amt[48];
	const char *zone;
	size_t i;

	d->y = TOP_Y;
	snprintf(buf, sizeof(buf), "Credit note %s", cn->number);
	/* the issuer and the customer as its invoice was issued with */
	if (cn->issuer[0] != '\0')
		issuer = cn->issuer;
	if (row(d, d->bold, 16.0f, buf, "", 0) != 0 ||
	    row(d, d->regular, 10.0f, "Issuer", issuer, 0) != 0 ||
	    row(d, d->regular, 10.0f, "Customer", cn->user_id, 0) != 0 ||
	    (cn->bill_to[0] != '\0' &&
	    row(d, d->regular, 10.0f, "Bill to", cn->bill_to, 0) != 0) ||
	    row(d, d->regular, 10.0f, "Invoice", cn->invoice_number, 0) != 0)
		return -1;
	/* the date as issued: in its invoice's zone as issued (no history
	 * then); an older invoice's, the account's zone then in force */
	zone = period_zone_at(&cn->zone, cn->created_at);
	if (zone != NULL && (zone[0] == '\0' || strcmp(zone, TZ_UTC) == 0))
		zone = NULL;
	date_text(zone, cn->created_at, buf, sizeof(buf));
	if (row(d, d->regular, 10.0f, "Date", buf, 0) != 0)
		return -1;
	if (zone != NULL) {
		snprintf(lab, sizeof(lab), "Times in %.54s", zone);
		if (row(d, d->regular, 10.0f, "Time zone", lab, 0) != 0)
			return -1;
	}
	if (
	    row(d, d->regular, 10.0f, "Reason", cn->reason, 0) != 0)
		return -1;
	d->y -= ROW;
	for (i = 0; i < cn->nlines; i++) {
		snprintf(lab, sizeof(lab), "Invoice line %u", cn->lines[i].line_no);
		money_text(cn->lines[i].amount, cn->currency, amt, sizeof(amt));
		if (row(d, d->regular, 10.0f, lab, amt, 1) != 0)
			return -1;
	}
	money_text(cn->amount, cn->currency, amt, sizeof(amt));
	if (row(d, d->bold, 11.0f, "Total credited", amt, 1) != 0)
		return -1;
	if (strcmp(cn->settlement, "refund") == 0) {
		money_text(cn->refund_amount, cn->currency, amt, sizeof(amt));
		snprintf(lab, sizeof(lab), "Refunded (%s)", cn->refund_method);
		return row(d, d->regular, 10.0f, lab, amt, 1);
	}
	if (strcmp(cn->settlement, "balance") == 0)
		return row(d, d->regular, 10.0f, "Credited to the account's "
		    "balance", amt, 1);
	return row(d, d->regular, 10.0f, "Deducted from the amount due", amt, 1);
}

int
credit_note_pdf(const struct credit_note *cn, const char *issuer_name,
    unsigned char **out, size_t *len)
{
	struct doc d;
	unsigned char *buf = NULL;
	HPDF_UINT32 size = 0, n;
	HPDF_STATUS st;
	char title[64];
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if ((d.doc = HPDF_New(on_error, &d)) == NULL)
		goto out;
	if (HPDF_SetCompressionMode(d.doc, HPDF_COMP_ALL) != HPDF_OK ||
	    (d.regular = HPDF_GetFont(d.doc, "Helvetica",
	    "WinAnsiEncoding")) == NULL ||
	    (d.bold = HPDF_GetFont(d.doc, "Helvetica-Bold",
	    "WinAnsiEncoding")) == NULL ||
	    (d.page = HPDF_AddPage(d.doc)) == NULL ||
	    HPDF_Page_SetSize(d.page, HPDF_PAGE_SIZE_A4,
	    HPDF_PAGE_PORTRAIT) != HPDF_OK)
		goto out;
	snprintf(title, sizeof(title), "Credit note %s", cn->number);
	HPDF_SetInfoAttr(d.doc, HPDF_INFO_TITLE, title);
	HPDF_SetInfoAttr(d.doc, HPDF_INFO_CREATOR, "streamspace-billing");
	if (draw(&d, cn, issuer_name ? issuer_name : "") != 0 ||
	    HPDF_SaveToStream(d.doc) != HPDF_OK || d.failed ||
	    (size = HPDF_GetStreamSize(d.doc)) == 0 ||
	    (buf = malloc(size)) == NULL)
		goto out;
	n = size;
	HPDF_ResetStream(d.doc);
	st = HPDF_ReadFromStream(d.doc, buf, &n);
	if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || n != size || d.failed)
		goto out;
	*out = buf;
	*len = size;
	buf = NULL;
	rc = 0;
out:
	if (rc != 0)
		log_warnx("credit_note_pdf: credit note %llu: cannot render",
		    (unsigned long long)cn->id);
	free(buf);
	if (d.doc != NULL)
		HPDF_Free(d.doc);
	return rc;
}
