-- 002: quota crossings, suspension causes, payment failures, and the
-- outbox's delivery order.

-- Where each account stands against each limit of its plan.  A crossing
-- (ok -> warning -> exceeded, or back) is stored, so an event is emitted
-- once per crossing; crossing_seq numbers them for the events' dedupe keys.
CREATE TABLE IF NOT EXISTS billing_quota_state (
  account_id BIGINT UNSIGNED NOT NULL,
  resource_type VARCHAR(16) NOT NULL,
  level VARCHAR(16) NOT NULL DEFAULT 'ok',
  crossing_seq INT UNSIGNED NOT NULL DEFAULT 0,
  level_since DATETIME(6) NULL,
  -- the start of the current stretch above 100%, for the grace period
  exceeded_since DATETIME(6) NULL,
  in_use DECIMAL(20,6) NOT NULL DEFAULT 0,
  quota_limit DECIMAL(20,6) NOT NULL DEFAULT 0,
  checked_at DATETIME(6) NULL,
  PRIMARY KEY (account_id, resource_type),
  CONSTRAINT fk_quota_state_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_quota_state_level CHECK (level IN ('ok', 'warning', 'exceeded'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- why an account is suspended (overage, payment), and since when a payment
-- has been failing (the grace period of invoice.payment_failed)
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS suspension_reason VARCHAR(32) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS payment_failed_at DATETIME(6) NULL;
-- the status the platform (platformSuspendUrl) last acknowledged: while it
-- differs from status, the quota job keeps telling it (NULL: active)
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS platform_status VARCHAR(16) NULL;

-- payment_intent.succeeded finds its payment by the intent
CREATE INDEX IF NOT EXISTS ix_payments_pi ON billing_payments (stripe_payment_intent_id);

-- the dispatcher reads each account's events in order
CREATE INDEX IF NOT EXISTS ix_events_pending_account ON billing_events (status, account_id, id);
