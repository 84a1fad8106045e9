-- 003: scheduled invoices claim usage by range instead of writing every record.
--
-- Tying each usage record to its invoice with an UPDATE made the monthly run
-- cost many times the aggregation it needs.  Now:
--  * each record carries bill_from, the instant it is billed at: its
--    start_time, or, when it arrived after its period was invoiced, the end
--    of the last invoiced period (so it goes on the next invoice);
--  * each account carries billed_through, the end of the last period the
--    scheduled run invoiced for it (the run and the usage job both lock the
--    account row, so a record cannot slip in behind an invoice);
--  * a scheduled invoice claims the records of its account with invoice_id
--    NULL and usage_from <= bill_from < usage_to.  Manual invoices still set
--    invoice_id on the records they bill (few records, made by hand).
-- billing_usage_billed shows, for every record, the invoice that bills it.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_usage_records
  ADD COLUMN IF NOT EXISTS bill_from DATETIME(6) NOT NULL DEFAULT (start_time) AFTER end_time;
CREATE INDEX IF NOT EXISTS ix_usage_account_bill ON billing_usage_records (account_id, bill_from);

ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS billed_through DATETIME(6) NULL;

ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS usage_from DATETIME(6) NULL;
ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS usage_to DATETIME(6) NULL;

-- Invoices made before this migration tied their records one by one; the
-- watermark starts at the end of each account's last live scheduled invoice,
-- and untied records from before it move up to it (the next invoice takes
-- them, as it did before).
UPDATE billing_accounts a SET billed_through =
  (SELECT MAX(i.period_end) FROM billing_invoices i
    WHERE i.account_id = a.id AND i.kind = 'scheduled' AND i.status <> 'void')
  WHERE a.billed_through IS NULL;
UPDATE billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id
  SET r.bill_from = a.billed_through
  WHERE r.invoice_id IS NULL AND a.billed_through IS NOT NULL
    AND r.bill_from < a.billed_through;

CREATE OR REPLACE VIEW billing_usage_billed AS
  SELECT r.id, r.account_id, r.resource_type, r.quantity, r.unit, r.unit_price,
         r.total_cost, r.start_time, r.end_time, r.bill_from,
         COALESCE(r.invoice_id,
           (SELECT i.id FROM billing_invoices i
             WHERE i.account_id = r.account_id AND i.usage_to IS NOT NULL
               AND i.status <> 'void'
               AND (i.usage_from IS NULL OR r.bill_from >= i.usage_from)
               AND r.bill_from < i.usage_to)) AS invoice_id
  FROM billing_usage_records r;
