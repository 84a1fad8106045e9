-- 017: a tax rate per invoice line (docs/billing.md "Taxes").
--
-- billing_invoice_lines.tax_rate_id: the rate of the plan whose fee the
-- line is (a `subscription` line, a `proration` line of that plan), set
-- when the line is made from the plan's subscriptionPlans[].tax_rate_id;
-- NULL: the line is taxed at the account's rate (else defaultTaxRate),
-- resolved when the invoice is finalized.  Kept on the line so that a
-- draft finalized later taxes each line as it was made.  Written with the
-- lines by src/billing/invoice_lines.c.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_invoice_lines
  ADD COLUMN IF NOT EXISTS tax_rate_id VARCHAR(64) NULL;
