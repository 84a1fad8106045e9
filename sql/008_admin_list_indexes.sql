-- 008: indexes for the pages' lists (docs/api.md, "The pages' endpoints").
--
-- admin/users: ?q= is a prefix of user_id (uq_accounts_user serves it) or of
-- email; ?status= walks one status in id order; admin/summary counts
-- accounts by status.  admin/summary sums every account's daily totals of a
-- range of days (the primary key starts with account_id).  admin/invoices
-- walks one status newest first.  GET credits and GET payments walk one
-- account's rows newest first.
-- Statements are safe to run again: a migration cut short is re-run whole.

CREATE INDEX IF NOT EXISTS ix_accounts_email ON billing_accounts (email);
CREATE INDEX IF NOT EXISTS ix_accounts_status ON billing_accounts (status, id);
CREATE INDEX IF NOT EXISTS ix_usage_daily_day ON billing_usage_daily (day, total_cost);
CREATE INDEX IF NOT EXISTS ix_invoices_status_id ON billing_invoices (status, id);
CREATE INDEX IF NOT EXISTS ix_credits_account_id ON billing_credits (account_id, id);
CREATE INDEX IF NOT EXISTS ix_payments_account_id ON billing_payments (account_id, id);
