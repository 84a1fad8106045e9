/*
 * invoice_pdf: an invoice as a PDF document (libharu), for
 * GET /invoices/{id}/pdf.
 *
 * A4 pages in the built-in Helvetica (WinAnsiEncoding) so the text stays
 * extractable; text that came from the database is reduced to printable
 * ASCII and cut to its column.  Amounts are formatted from micro-units with
 * money_format, never through a floating point type.
 */
#ifndef BILLING_INVOICE_PDF_H
#define BILLING_INVOICE_PDF_H

#include <stddef.h>

struct invoice;
struct invoice_issuer;

/*
 * Renders inv as a PDF document.  On success returns 0 and *out is a
 * malloc'd buffer of *len bytes the caller frees.  -1 on failure (*out and
 * *len untouched).  inv and issuer_name are borrowed.
 */
int invoice_pdf(const struct invoice *inv, const char *issuer_name,
    unsigned char **out, size_t *len);

/*
 * The same with the issuer's block (the config's invoiceIssuer: name,
 * address lines, email, tax id; NULL or no name: "StreamSpace"), the
 * customer's block (inv->bill_to, when loaded), the tax lines, and "Tax
 * exempt" for an exempt account's invoice.
 */
int invoice_pdf_issued(const struct invoice *inv,
    const struct invoice_issuer *issuer, unsigned char **out, size_t *len);

#endif
