-- 009: plan changes with proration (docs/billing.md, "Plan changes").
--
-- billing_plan_changes, written only by src/billing/plan_changes.c: one row
-- per change a user asked for.
--   kind 'upgrade' (effective at once, effective_at = when asked) carries the
--     two proration amounts worked out then, each rounded once: credit (the
--     unused part of the old plan, <= 0) and charge (the rest of the period on
--     the new one, >= 0); the invoice of the period it falls in
--     (period_start) bills them as 'proration' lines;
--   kind 'downgrade' takes effect at the end of its period (effective_at =
--     period_end): status 'pending' until then, 'applied' once the account's
--     plan is moved, 'canceled' when the user keeps the current plan or asks
--     for another one first;
--   source 'stripe': a change of a plan that a Stripe subscription collects,
--     asked of Stripe (its id is the request's idempotency key); Stripe
--     prorates and invoices it, so the invoice run never reads these rows.
-- Statements are safe to run again: a migration cut short is re-run whole.

CREATE TABLE IF NOT EXISTS billing_plan_changes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  source VARCHAR(16) NOT NULL DEFAULT 'local',
  kind VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  from_plan VARCHAR(64) NOT NULL,
  to_plan VARCHAR(64) NOT NULL,
  effective_at DATETIME(6) NOT NULL,
  period_start DATETIME(6) NOT NULL,
  period_end DATETIME(6) NOT NULL,
  credit DECIMAL(20,6) NOT NULL DEFAULT 0,
  charge DECIMAL(20,6) NOT NULL DEFAULT 0,
  credit_quantity DECIMAL(20,6) NOT NULL DEFAULT 0,
  charge_quantity DECIMAL(20,6) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_plan_changes_account (account_id, effective_at),
  KEY ix_plan_changes_pending (status, effective_at),
  CONSTRAINT fk_plan_changes_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_plan_changes_source CHECK (source IN ('local', 'stripe')),
  CONSTRAINT ck_plan_changes_kind CHECK (kind IN ('upgrade', 'downgrade')),
  CONSTRAINT ck_plan_changes_status CHECK (status IN ('pending', 'applied', 'canceled')),
  CONSTRAINT ck_plan_changes_credit CHECK (credit <= 0 AND charge >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- invoice lines of kind 'proration'
ALTER TABLE billing_invoice_lines DROP CONSTRAINT IF EXISTS ck_lines_kind;
ALTER TABLE billing_invoice_lines ADD CONSTRAINT ck_lines_kind CHECK (kind IN ('usage', 'subscription', 'overage', 'adjustment', 'proration'));
