/*
 * invoice_pdf: an invoice as a PDF document, drawn with libharu.
 *
 * libharu reports errors through a handler and keeps going; we record the
 * first error in the handler and every drawing step checks the flag, so a
 * failure unwinds through the one exit path (no longjmp across libharu's
 * frames, which could skip its own frees).  HPDF_Free releases everything
 * the document allocated, on every path.
 *
 * Coordinates are HPDF_REAL (float): that is layout only.  Amounts are
 * formatted from int64_t micro-units with money_format and never converted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hpdf.h>

#include "accounts.h"
#include "config.h"
#include "invoice_pdf.h"
#include "invoices.h"
#include "log.h"
#include "money.h"
#include "timeutil.h"
#include "tz.h"

/* A4 portrait in points; 50 pt margins. */
#define PAGE_LEFT	50.0f
#define PAGE_RIGHT	545.0f
#define PAGE_TOP	792.0f
#define PAGE_BOTTOM	60.0f	/* lowest baseline for content */
#define FOOTER_Y	30.0f
#define ROW		14.0f	/* baseline to baseline, 9-10 pt text */
#define BODY_SIZE	9.0f

#define TEXT_MAX	512	/* longest field (a credit reason) is 500 */
#define FIELD_MAX	64	/* dates, amounts, short labels */

enum align { LEFT, RIGHT };

struct column {
	const char *title;
	HPDF_REAL x, w;
	enum align align;
};

/* The line table; widths add up to the 495 pt between the margins. */
static const struct column columns[] = {
	{ "Description", 50.0f, 220.0f, LEFT },
	{ "Quantity", 275.0f, 70.0f, RIGHT },
	{ "Unit", 355.0f, 60.0f, LEFT },
	{ "Unit price", 420.0f, 60.0f, RIGHT },
	{ "Amount", 485.0f, 60.0f, RIGHT },
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

struct pdf {
	HPDF_Doc doc;
	HPDF_Page page;
	HPDF_Font regular, bold;
	HPDF_REAL y;		/* baseline of the next row */
	int pageno;
	int failed;		/* set by on_error */
	HPDF_STATUS error_no, detail_no;
	char title[FIELD_MAX];	/* "Invoice INV-2025-000001", repeated */
	const char *zone;	/* the dates' time zone (NULL: UTC) */
	const char *start_zone;	/* the period start's (the zone before a
				   change for the period it applies from) */
};

/* libharu's error handler: remembers the first error for the log. */
static void
on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *arg)
{
	struct pdf *p = arg;

	if (!p->failed) {
		p->error_no = error_no;
		p->detail_no = detail_no;
	}
	p->failed = 1;
}

/*
 * Copies src into dst (size > 0) keeping printable ASCII only: anything
 * else becomes '?'.  WinAnsi would draw raw UTF-8 as mojibake, so a UTF-8
 * sequence (lead byte and its continuation bytes) becomes a single '?'.
 */
static void
safe_text(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;
	int k;

	while (*s != '\0' && n + 1 < size) {
		if (*s >= 0x20 && *s < 0x7f) {
			dst[n++] = (char)*s++;
			continue;
		}
		if (*s++ >= 0xc0)
			for (k = 0; k < 3 && (*s & 0xc0) == 0x80; k++)
				s++;
		dst[n++] = '?';
	}
	dst[n] = '\0';
}

/* ASCII only: toupper() would follow the locale (Turkish 'i'). */
static void
upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

/* "YYYY-MM-DD", the local date in zone (NULL: UTC), or "-" for 0 (no
 * such date). */
static void
format_date(const char *zone, int64_t usec, char *buf, size_t size)
{
	int y, m, d;

	if (usec == 0) {
		snprintf(buf, size, "-");
		return;
	}
	tz_local_date(zone, usec, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

/* 1 when zone is a zone other than UTC. */
static int
zone_named(const char *zone)
{
	return zone != NULL && zone[0] != '\0' && strcmp(zone, TZ_UTC) != 0;
}

/*
 * The zone the invoice's dates were issued in: as stored when it was
 * numbered (inv->issued); else (a draft, or numbered before sql/016) from
 * the account's zone and the one before its last change (period_zone_at): the zone of the period's
 * last instant, and for its start the zone of the instant before it (the
 * old zone for the one period that starts where a change applies: its
 * start is the old zone's midnight).  No account details: UTC.
 */
static void
issued_zones(const struct invoice *inv, struct pdf *p)
{
	const struct period_zone *z;
	int64_t last;

	p->zone = p->start_zone = NULL;
	if (inv->issued) {
		/* stored when it was numbered (invoice_issued.c) */
		p->zone = zone_named(inv->zone) ? inv->zone : NULL;
		p->start_zone = zone_named(inv->start_zone) ? inv->start_zone :
		    NULL;
		return;
	}
	if (inv->bill_to == NULL)
		return;
	z = &inv->bill_to->zone;
	last = inv->period_end != 0 ? inv->period_end - 1 :
	    inv->finalized_at != 0 ? inv->finalized_at : inv->created_at;
	p->zone = period_zone_at(z, last);
	p->start_zone = inv->period_start != 0 ?
	    period_zone_at(z, inv->period_start - 1) : p->zone;
	if (!zone_named(p->zone))
		p->zone = NULL;
	if (!zone_named(p->start_zone))
		p->start_zone = NULL;
}

/* "USD 1.40": the one form for every amount shown with its currency. */
static int
format_money(int64_t micros, const char *currency, char *buf, size_t size)
{
	char num[32];
	int n;

	if (money_format(micros, 2, num, sizeof(num)) == -1)
		return -1;
	n = snprintf(buf, size, "%s%s%s", currency,
	    *currency != '\0' ? " " : "", num);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Cuts text (in the page's current font) to w points, ending in "...". */
static void
fit(struct pdf *p, char *text, HPDF_REAL w)
{
	HPDF_REAL room;
	HPDF_UINT n;

	if (HPDF_Page_TextWidth(p->page, text) <= w)
		return;
	room = w - HPDF_Page_TextWidth(p->page, "...");
	n = room > 0 ? HPDF_Page_MeasureText(p->page, text, room, HPDF_FALSE,
	    NULL) : 0;
	/* MeasureText counts bytes that fit, never more than strlen(text),
	 * but counts a space even when that space overflows: drop trailing
	 * spaces.  put() left room for the dots past the NUL. */
	while (n > 0 && text[n - 1] == ' ')
		n--;
	memcpy(text + n, "...", 4);
}

/*
 * Draws raw (any bytes; made safe here) on the current baseline in the
 * column [x, x + w], cut to fit.
 */
static int
put(struct pdf *p, HPDF_Font font, HPDF_REAL size, HPDF_REAL x, HPDF_REAL w,
    enum align align, const char *raw)
{
	char text[TEXT_MAX + 3];	/* room for fit()'s "..." */

	safe_text(text, TEXT_MAX, raw);
	if (HPDF_Page_SetFontAndSize(p->page, font, size) != HPDF_OK)
		return -1;
	fit(p, text, w);
	if (align == RIGHT)
		x += w - HPDF_Page_TextWidth(p->page, text);
	HPDF_Page_BeginText(p->page);
	HPDF_Page_TextOut(p->page, x, p->y, text);
	HPDF_Page_EndText(p->page);
	return p->failed ? -1 : 0;
}

/* A label at the left margin and a value right-aligned at the right one. */
static int
put_pair(struct pdf *p, HPDF_Font font, HPDF_REAL indent, const char *label,
    const char *value)
{
	const HPDF_REAL vw = 110.0f;

	if (put(p, font, BODY_SIZE, PAGE_LEFT + indent,
	    PAGE_RIGHT - vw - PAGE_LEFT - indent - 10.0f, LEFT, label) == -1)
		return -1;
	return put(p, font, BODY_SIZE, PAGE_RIGHT - vw, vw, RIGHT, value);
}

/* A thin horizontal rule dy points above the current baseline. */
static int
rule(struct pdf *p, HPDF_REAL dy)
{
	HPDF_Page_SetLineWidth(p->page, 0.5f);
	HPDF_Page_MoveTo(p->page, PAGE_LEFT, p->y + dy);
	HPDF_Page_LineTo(p->page, PAGE_RIGHT, p->y + dy);
	HPDF_Page_Stroke(p->page);
	return p->failed ? -1 : 0;
}

/* Adds a page with its footer; later pages repeat the invoice title. */
static int
new_page(struct pdf *p)
{
	char footer[FIELD_MAX];	/* and the continued title */

	if ((p->page = HPDF_AddPage(p->doc)) == NULL ||
	    HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4,
	    HPDF_PAGE_PORTRAIT) != HPDF_OK)
		return -1;
	p->pageno++;
	snprintf(footer, sizeof(footer), "Page %d", p->pageno);
	p->y = FOOTER_Y;
	if (put(p, p->regular, 8.0f, PAGE_LEFT, PAGE_RIGHT - PAGE_LEFT, RIGHT,
	    footer) == -1)
		return -1;
	p->y = PAGE_TOP;
	if (p->pageno == 1)
		return 0;
	snprintf(footer, sizeof(footer), "%.40s (continued)", p->title);
	if (put(p, p->bold, 11.0f, PAGE_LEFT, PAGE_RIGHT - PAGE_LEFT, LEFT,
	    footer) == -1)
		return -1;
	p->y -= 2 * ROW;
	return 0;
}

static int
table_header(struct pdf *p)
{
	size_t i;

	for (i = 0; i < NCOLUMNS; i++)
		if (put(p, p->bold, BODY_SIZE, columns[i].x, columns[i].w,
		    columns[i].align, columns[i].title) == -1)
			return -1;
	if (rule(p, -4.0f) == -1)
		return -1;
	p->y -= ROW + 2.0f;
	return 0;
}

/* Starts a new page unless `rows` more rows fit; with_header for tables. */
static int
need(struct pdf *p, int rows, int with_header)
{
	if (p->y - (HPDF_REAL)(rows - 1) * ROW >= PAGE_BOTTOM)
		return 0;
	if (new_page(p) == -1)
		return -1;
	return with_header ? table_header(p) : 0;
}

/* A "Label:" and its value on one row of the header block. */
static int
put_field(struct pdf *p, const char *label, const char *value)
{
	if (put(p, p->bold, 10.0f, PAGE_LEFT, 90.0f, LEFT, label) == -1 ||
	    put(p, p->regular, 10.0f, PAGE_LEFT + 95.0f,
	    PAGE_RIGHT - PAGE_LEFT - 95.0f, LEFT, value) == -1)
		return -1;
	p->y -= ROW;
	return 0;
}

/* The issuer's details, right-aligned under its name, from p->y down. */
static int
draw_issuer(struct pdf *p, const struct invoice_issuer *is)
{
	char text[FIELD_MAX + 16];
	size_t i;

	for (i = 0; is != NULL && i < is->n_address; i++) {
		if (put(p, p->regular, BODY_SIZE, 300.0f, PAGE_RIGHT - 300.0f,
		    RIGHT, is->address[i]) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	if (is != NULL && is->email != NULL) {
		if (put(p, p->regular, BODY_SIZE, 300.0f, PAGE_RIGHT - 300.0f,
		    RIGHT, is->email) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	if (is != NULL && is->tax_id != NULL) {
		snprintf(text, sizeof(text), "Tax ID: %.64s", is->tax_id);
		if (put(p, p->regular, BODY_SIZE, 300.0f, PAGE_RIGHT - 300.0f,
		    RIGHT, text) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	return 0;
}

/* "Bill to": the account's billing name (else its user id), address,
 * country and tax id, at the left from p->y down. */
static int
draw_bill_to(struct pdf *p, const struct invoice *inv)
{
	const struct account_billing *b = inv->bill_to;
	char text[FIELD_MAX + 16];
	size_t i;

	if (put(p, p->bold, 10.0f, PAGE_LEFT, 240.0f, LEFT, "Bill to") == -1)
		return -1;
	p->y -= ROW;
	if (put(p, p->regular, 10.0f, PAGE_LEFT, 240.0f, LEFT, b != NULL &&
	    b->name[0] != '\0' ? b->name : inv->user_id) == -1)
		return -1;
	p->y -= ROW - 2.0f;
	for (i = 0; b != NULL && i < b->naddress; i++) {
		if (put(p, p->regular, BODY_SIZE, PAGE_LEFT, 240.0f, LEFT,
		    b->address[i]) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	if (b != NULL && b->country[0] != '\0') {
		if (put(p, p->regular, BODY_SIZE, PAGE_LEFT, 240.0f, LEFT,
		    b->country) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	if (b != NULL && b->tax_id[0] != '\0') {
		snprintf(text, sizeof(text), "Tax ID: %.64s", b->tax_id);
		if (put(p, p->regular, BODY_SIZE, PAGE_LEFT, 240.0f, LEFT,
		    text) == -1)
			return -1;
		p->y -= ROW - 2.0f;
	}
	return 0;
}

static int
draw_header(struct pdf *p, const struct invoice *inv,
    const struct invoice_issuer *is, const char *currency)
{
	char status[sizeof(inv->status)], start[FIELD_MAX], end[FIELD_MAX];
	char period[FIELD_MAX * 2 + 4], issued[FIELD_MAX], due[FIELD_MAX];
	char note[2 * TZ_NAME_MAX + 64];
	HPDF_REAL top, left_y;

	if (put(p, p->bold, 20.0f, PAGE_LEFT, 300.0f, LEFT, p->title) == -1 ||
	    put(p, p->bold, 14.0f, 300.0f, PAGE_RIGHT - 300.0f, RIGHT,
	    is != NULL && is->name != NULL ? is->name : "StreamSpace") == -1)
		return -1;
	p->y -= 2 * ROW;
	/* two columns: status and the customer at the left, the issuer at
	 * the right; the fields go on below the longer one */
	top = p->y;
	safe_text(status, sizeof(status), inv->status);
	upper(status);
	if (put(p, p->bold, 11.0f, PAGE_LEFT, 240.0f, LEFT, status) == -1)
		return -1;
	p->y -= 2 * ROW;
	if (draw_bill_to(p, inv) == -1)
		return -1;
	left_y = p->y;
	p->y = top;
	if (draw_issuer(p, is) == -1)
		return -1;
	if (left_y < p->y)
		p->y = left_y;
	p->y -= ROW;

	/* The period ends at the first instant after it; people read the
	 * last day included, hence one second earlier.  Dates are local
	 * dates in the zone the invoice was issued in. */
	format_date(p->start_zone, inv->period_start, start, sizeof(start));
	format_date(p->zone, inv->period_end != 0 ?
	    inv->period_end - USEC_PER_SEC : 0, end, sizeof(end));
	snprintf(period, sizeof(period), "%s - %s", start, end);
	format_date(p->zone, inv->finalized_at != 0 ? inv->finalized_at :
	    inv->created_at, issued, sizeof(issued));
	format_date(p->zone, inv->due_date, due, sizeof(due));
	note[0] = '\0';
	if (p->zone != p->start_zone &&
	    (p->zone == NULL || p->start_zone == NULL ||
	    strcmp(p->zone, p->start_zone) != 0))
		snprintf(note, sizeof(note), "Times in %s (the period's start "
		    "in %s, the zone before)", p->zone ? p->zone : TZ_UTC,
		    p->start_zone ? p->start_zone : TZ_UTC);
	else if (p->zone != NULL)
		snprintf(note, sizeof(note), "Times in %s", p->zone);

	if (put_field(p, "Customer:", inv->user_id) == -1 ||
	    (inv->email[0] != '\0' &&
	    put_field(p, "Email:", inv->email) == -1) ||
	    put_field(p, "Invoice date:", issued) == -1 ||
	    put_field(p, "Period:", period) == -1 ||
	    put_field(p, "Due date:", due) == -1 ||
	    put_field(p, "Currency:", currency) == -1 ||
	    (note[0] != '\0' && put_field(p, "Time zone:", note) == -1))
		return -1;
	p->y -= ROW;
	return 0;
}

static int
draw_lines(struct pdf *p, const struct invoice *inv)
{
	char qty[FIELD_MAX], price[FIELD_MAX], amount[FIELD_MAX];
	size_t i, c;

	if (table_header(p) == -1)
		return -1;
	for (i = 0; i < inv->nlines; i++) {
		const struct invoice_line *l = &inv->lines[i];
		const char *text[NCOLUMNS] = { l->description, qty, l->unit,
		    price, amount };

		if (money_format_trim(l->quantity, 0, qty, sizeof(qty)) == -1 ||
		    money_format_trim(l->unit_price, 2, price,
		    sizeof(price)) == -1 ||
		    money_format(l->amount, 2, amount, sizeof(amount)) == -1 ||
		    need(p, 1, 1) == -1)
			return -1;
		for (c = 0; c < NCOLUMNS; c++)
			if (put(p, p->regular, BODY_SIZE, columns[c].x,
			    columns[c].w, columns[c].align, text[c]) == -1)
				return -1;
		p->y -= ROW;
	}
	return 0;
}

/* The tax rows: one per rate ("VAT 20%", or "VAT 20% (included)" for an
 * inclusive rate, whose tax is inside the subtotal), or "Tax exempt". */
static int
draw_taxes(struct pdf *p, const struct invoice *inv, const char *currency)
{
	char amount[FIELD_MAX], pct[32], label[160];
	size_t i;

	if (inv->tax_exempt) {
		if (need(p, 1, 0) == -1 ||
		    put_pair(p, p->regular, 0, "Tax exempt", "") == -1)
			return -1;
		p->y -= ROW;
		return 0;
	}
	for (i = 0; i < inv->ntaxes; i++) {
		const struct invoice_tax *t = &inv->taxes[i];

		if (money_format_trim(t->percent, 0, pct, sizeof(pct)) == -1 ||
		    format_money(t->amount, currency, amount,
		    sizeof(amount)) == -1)
			return -1;
		snprintf(label, sizeof(label), "%.100s %s%%%s", t->name, pct,
		    t->inclusive ? " (included)" : "");
		if (need(p, 1, 0) == -1 ||
		    put_pair(p, p->regular, 0, label, amount) == -1)
			return -1;
		p->y -= ROW;
	}
	return 0;
}

/* Subtotal, credits (negative, one row per credit applied), taxes, total. */
static int
draw_summary(struct pdf *p, const struct invoice *inv, const char *currency)
{
	char amount[FIELD_MAX];
	size_t i;

	/* Keep at least the three totals together. */
	if (need(p, 4, 0) == -1 || rule(p, ROW - 3.0f) == -1)
		return -1;
	p->y -= 4.0f;
	if (format_money(inv->subtotal, currency, amount,
	    sizeof(amount)) == -1 ||
	    put_pair(p, p->regular, 0, "Subtotal", amount) == -1)
		return -1;
	p->y -= ROW;
	if (format_money(-inv->credits, currency, amount,
	    sizeof(amount)) == -1 ||
	    put_pair(p, p->regular, 0, "Credits", amount) == -1)
		return -1;
	p->y -= ROW;
	for (i = 0; i < inv->napplied; i++) {
		if (need(p, 1, 0) == -1 ||
		    format_money(-inv->applied[i].amount, currency, amount,
		    sizeof(amount)) == -1 ||
		    put_pair(p, p->regular, 15.0f, inv->applied[i].reason,
		    amount) == -1)
			return -1;
		p->y -= ROW;
	}
	if (draw_taxes(p, inv, currency) == -1)
		return -1;
	if (need(p, 1, 0) == -1 ||
	    format_money(inv->total, currency, amount, sizeof(amount)) == -1 ||
	    put_pair(p, p->bold, 0, "Total", amount) == -1)
		return -1;
	p->y -= 2 * ROW;
	return 0;
}

static int
draw_payments(struct pdf *p, const struct invoice *inv, const char *currency)
{
	const struct invoice_payment *pay;
	char date[FIELD_MAX], amount[FIELD_MAX];
	size_t i;

	if (inv->npayments == 0)
		return 0;
	if (need(p, 2, 0) == -1 ||
	    put(p, p->bold, 10.0f, PAGE_LEFT, 200.0f, LEFT, "Payments") == -1)
		return -1;
	p->y -= ROW;
	for (i = 0; i < inv->npayments; i++) {
		pay = &inv->payments[i];
		format_date(p->zone, pay->created_at, date, sizeof(date));
		if (need(p, 1, 0) == -1 ||
		    format_money(pay->amount, currency, amount,
		    sizeof(amount)) == -1 ||
		    put(p, p->regular, BODY_SIZE, PAGE_LEFT, 75.0f, LEFT,
		    date) == -1 ||
		    put(p, p->regular, BODY_SIZE, 130.0f, 95.0f, LEFT,
		    pay->method) == -1 ||
		    put(p, p->regular, BODY_SIZE, 230.0f, 95.0f, LEFT,
		    pay->status) == -1 ||
		    put(p, p->regular, BODY_SIZE, PAGE_RIGHT - 110.0f, 110.0f,
		    RIGHT, amount) == -1)
			return -1;
		p->y -= ROW;
	}
	return 0;
}

/* Title, creator, and the invoice date as creation date, so the same
 * invoice renders to the same document info. */
static int
set_info(struct pdf *p, const struct invoice *inv)
{
	int64_t when;
	HPDF_Date d;

	HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, p->title);
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "streamspace-billing");
	when = inv->finalized_at != 0 ? inv->finalized_at : inv->created_at;
	if (when > 0) {
		memset(&d, 0, sizeof(d));
		time_to_civil(when, &d.year, &d.month, &d.day, &d.hour,
		    &d.minutes, &d.seconds, NULL);
		d.ind = 'Z';
		HPDF_SetInfoDateAttr(p->doc, HPDF_INFO_CREATION_DATE, d);
	}
	return p->failed ? -1 : 0;
}

/* Copies the saved document out of libharu's memory stream. */
static int
save(struct pdf *p, unsigned char **out, size_t *len)
{
	unsigned char *buf;
	HPDF_UINT32 size, n;
	HPDF_STATUS st;

	if (HPDF_SaveToStream(p->doc) != HPDF_OK || p->failed)
		return -1;
	if ((size = HPDF_GetStreamSize(p->doc)) == 0 ||
	    (buf = malloc(size)) == NULL)
		return -1;
	/* Reading stops at the end with HPDF_STREAM_EOF, not an error. */
	n = size;
	HPDF_ResetStream(p->doc);
	st = HPDF_ReadFromStream(p->doc, buf, &n);
	if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || n != size ||
	    p->failed) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = size;
	return 0;
}

int
invoice_pdf(const struct invoice *inv, const char *issuer_name,
    unsigned char **out, size_t *len)
{
	struct invoice_issuer is;

	memset(&is, 0, sizeof(is));
	is.name = (char *)(uintptr_t)issuer_name;   /* read only */
	return invoice_pdf_issued(inv, &is, out, len);
}

int
invoice_pdf_issued(const struct invoice *inv,
    const struct invoice_issuer *issuer, unsigned char **out, size_t *len)
{
	struct pdf p;
	char number[sizeof(inv->number)], currency[sizeof(inv->currency)];
	int rc = -1;

	if (inv == NULL || out == NULL || len == NULL ||
	    (inv->nlines > 0 && inv->lines == NULL) ||
	    (inv->napplied > 0 && inv->applied == NULL) ||
	    (inv->npayments > 0 && inv->payments == NULL))
		return -1;
	memset(&p, 0, sizeof(p));
	safe_text(number, sizeof(number), inv->number);
	snprintf(p.title, sizeof(p.title), "Invoice %s",
	    number[0] != '\0' ? number : "DRAFT");
	safe_text(currency, sizeof(currency), inv->currency);
	upper(currency);
	issued_zones(inv, &p);
	if (inv->issued && inv->issuer != NULL)
		issuer = inv->issuer;   /* as issued, not the config's now */

	if ((p.doc = HPDF_New(on_error, &p)) == NULL)
		goto out;
	if (HPDF_SetCompressionMode(p.doc, HPDF_COMP_ALL) != HPDF_OK ||
	    (p.regular = HPDF_GetFont(p.doc, "Helvetica",
	    "WinAnsiEncoding")) == NULL ||
	    (p.bold = HPDF_GetFont(p.doc, "Helvetica-Bold",
	    "WinAnsiEncoding")) == NULL)
		goto out;
	if (set_info(&p, inv) == -1 ||
	    new_page(&p) == -1 ||
	    draw_header(&p, inv, issuer, currency) == -1 ||
	    draw_lines(&p, inv) == -1 ||
	    draw_summary(&p, inv, currency) == -1 ||
	    draw_payments(&p, inv, currency) == -1 ||
	    save(&p, out, len) == -1)
		goto out;
	rc = 0;
out:
	/* detail_no is an errno or a zlib code, hence signed. */
	if (rc == -1 && p.failed)
		log_warnx("invoice_pdf: invoice %llu: libharu error 0x%04lX "
		    "(detail %ld)", (unsigned long long)inv->id,
		    (unsigned long)p.error_no, (long)p.detail_no);
	else if (rc == -1)
		log_warnx("invoice_pdf: invoice %llu: out of memory",
		    (unsigned long long)inv->id);
	if (p.doc != NULL)
		HPDF_Free(p.doc);
	return rc;
}
