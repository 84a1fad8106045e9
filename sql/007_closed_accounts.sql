-- 007: closed accounts (StreamSpace's user.deleted, docs/hooks.md).
--
-- status 'closed' is allowed since 001; closed_at is when the platform
-- deleted the user (the delivery's timestamp), set once by
-- src/billing/accounts.c (account_close).  The invoice run bills no plan fee
-- for a period that starts at or after it; usage is billed as ever.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS closed_at DATETIME(6) NULL;
