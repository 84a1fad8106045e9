-- 012: per-account time zones (docs/billing.md "Time zones").
--
-- timezone is the account's IANA zone (the system's tzdata), 'UTC' unless
-- set by PATCH admin/users/{user_id}.  A change applies from the account's
-- next period: timezone_prev is the zone before it and timezone_from the
-- instant from which timezone governs the periods (the end of the period
-- the change was made in); both NULL when the account never changed zone.
-- Written only by src/billing/accounts.c (account_set_timezone).
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_accounts
  ADD COLUMN IF NOT EXISTS timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  ADD COLUMN IF NOT EXISTS timezone_prev VARCHAR(64) NULL,
  ADD COLUMN IF NOT EXISTS timezone_from DATETIME(6) NULL;
CREATE INDEX IF NOT EXISTS ix_accounts_timezone ON billing_accounts (timezone);
