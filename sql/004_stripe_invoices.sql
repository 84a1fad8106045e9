-- 004: what a Stripe subscription collects is recorded as our invoice.
--
-- An invoice of kind 'stripe' is a Stripe subscription's invoice, paid in
-- Stripe and recorded here (src/billing/invoice_stripe.c) with its stripe_invoice_id.
-- It holds no period: the one-live-invoice-per-period key leaves it out, so
-- that our own usage invoice of the same period can still be made.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_invoices DROP CONSTRAINT IF EXISTS ck_invoices_kind;
ALTER TABLE billing_invoices ADD CONSTRAINT ck_invoices_kind
  CHECK (kind IN ('scheduled', 'manual', 'stripe'));
ALTER TABLE billing_invoices MODIFY live_period_start DATETIME(6)
  AS (IF(status = 'void' OR kind = 'stripe', NULL, period_start)) PERSISTENT;
