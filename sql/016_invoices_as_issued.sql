-- 016: invoices as issued (docs/billing.md "What an invoice keeps as issued").
--
-- issued_details is what an invoice's documents show about who billed whom,
-- written once, in the transaction that gives the invoice its number
-- (src/billing/invoice_issued.c builds it with json-c; invoice_build.c,
-- invoice_batch.c and invoice_stripe.c store it), never changed after:
--   {"bill_to": {"name", "address": [lines], "country", "tax_id"},
--    "issuer": {"name", "address": [lines], "email", "tax_id"},
--    "timezone": the zone of the period's dates,
--    "start_timezone": the period start's, only when it differs (the one
--    period after a zone change starts at the old zone's midnight)}
-- the customer's from billing_accounts, the issuer's from the config's
-- invoiceIssuer, the zones from the account's zone history, as they were
-- at finalization (absent fields and nulls: not given).
-- NULL for drafts (they show the current details until finalized) and for
-- invoices finalized before this migration: those keep showing the
-- account's current details and the config's issuer, as before.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS issued_details TEXT NULL;
ALTER TABLE billing_invoices DROP CONSTRAINT IF EXISTS ck_invoices_issued_details;
ALTER TABLE billing_invoices ADD CONSTRAINT ck_invoices_issued_details
  CHECK (issued_details IS NULL OR JSON_VALID(issued_details));
