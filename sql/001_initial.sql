-- 001: the billing schema.
-- Money is DECIMAL: 6 decimals for quantities, unit prices and accrued costs,
-- 2 for invoice, payment and credit amounts.  Instants are DATETIME(6) in UTC
-- (every connection runs with time_zone '+00:00').  Rows point at accounts by
-- an integer id; the platform's user id string lives once, in billing_accounts.
-- Unique keys, not locks, are what make hooks, jobs and webhooks exactly-once.
-- Text compares byte for byte with no padding (utf8mb4_nopad_bin): with a
-- PAD SPACE collation 'bob ' would find bob's account.

CREATE TABLE IF NOT EXISTS billing_accounts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id VARCHAR(255) NOT NULL,
  email VARCHAR(320) NULL,
  plan_id VARCHAR(64) NULL,
  billing_mode VARCHAR(16) NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'active',
  suspended_at DATETIME(6) NULL,
  stripe_customer_id VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_accounts_user (user_id),
  UNIQUE KEY uq_accounts_stripe_customer (stripe_customer_id),
  CONSTRAINT ck_accounts_status CHECK (status IN ('active', 'suspended', 'closed')),
  CONSTRAINT ck_accounts_mode CHECK (billing_mode IS NULL OR billing_mode IN ('usage', 'subscription', 'hybrid'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  session_id VARCHAR(255) NOT NULL,
  account_id BIGINT UNSIGNED NOT NULL,
  started_at DATETIME(6) NOT NULL,
  last_heartbeat_at DATETIME(6) NOT NULL,
  ended_at DATETIME(6) NULL,
  cpu_cores DECIMAL(12,6) NOT NULL,
  memory_gb DECIMAL(14,6) NOT NULL,
  storage_gb DECIMAL(16,6) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_sessions_session (session_id),
  KEY ix_sessions_account_active (account_id, ended_at),
  KEY ix_sessions_open (ended_at, last_heartbeat_at),
  CONSTRAINT fk_sessions_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- A segment is a stretch of a session at constant size; a resize closes one
-- and opens the next.  metered_until is how far the usage job has cut it.
CREATE TABLE IF NOT EXISTS billing_session_segments (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  session_pk BIGINT UNSIGNED NOT NULL,
  account_id BIGINT UNSIGNED NOT NULL,
  seq INT UNSIGNED NOT NULL,
  started_at DATETIME(6) NOT NULL,
  ended_at DATETIME(6) NULL,
  cpu_cores DECIMAL(12,6) NOT NULL,
  memory_gb DECIMAL(14,6) NOT NULL,
  storage_gb DECIMAL(16,6) NOT NULL,
  metered_until DATETIME(6) NULL,
  -- the cost of the usage records cut from this segment so far
  metered_cost DECIMAL(20,6) NOT NULL DEFAULT 0,
  -- 1 once the segment has ended and is metered to its end: the job skips it
  metered_done TINYINT(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY uq_segments_session_seq (session_pk, seq),
  KEY ix_segments_pending (metered_done, id),
  KEY ix_segments_account (account_id),
  CONSTRAINT fk_segments_session FOREIGN KEY (session_pk) REFERENCES billing_sessions (id),
  CONSTRAINT fk_segments_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_invoices (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  invoice_number VARCHAR(32) NULL,
  kind VARCHAR(16) NOT NULL DEFAULT 'scheduled',
  period_start DATETIME(6) NOT NULL,
  period_end DATETIME(6) NOT NULL,
  billing_mode VARCHAR(16) NOT NULL,
  plan_id VARCHAR(64) NULL,
  currency CHAR(3) NOT NULL,
  subtotal DECIMAL(18,2) NOT NULL DEFAULT 0,
  credits DECIMAL(18,2) NOT NULL DEFAULT 0,
  total DECIMAL(18,2) NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL DEFAULT 'draft',
  due_date DATETIME(6) NULL,
  finalized_at DATETIME(6) NULL,
  paid_at DATETIME(6) NULL,
  voided_at DATETIME(6) NULL,
  stripe_invoice_id VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  -- the period a live invoice holds; a void one (kept forever) holds none
  live_period_start DATETIME(6) AS (IF(status = 'void', NULL, period_start)) PERSISTENT,
  PRIMARY KEY (id),
  -- one live invoice per account and period: the exactly-once guarantee of the invoice run
  UNIQUE KEY uq_invoices_account_period (account_id, live_period_start),
  KEY ix_invoices_account_period (account_id, period_start),
  UNIQUE KEY uq_invoices_number (invoice_number),
  UNIQUE KEY uq_invoices_stripe (stripe_invoice_id),
  KEY ix_invoices_status_due (status, due_date),
  KEY ix_invoices_account_created (account_id, created_at),
  CONSTRAINT fk_invoices_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_invoices_status CHECK (status IN ('draft', 'sent', 'paid', 'overdue', 'void')),
  CONSTRAINT ck_invoices_kind CHECK (kind IN ('scheduled', 'manual')),
  CONSTRAINT ck_invoices_period CHECK (period_end > period_start),
  CONSTRAINT ck_invoices_amounts CHECK (subtotal >= 0 AND credits >= 0 AND total >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- Lines are stored as issued and never recomputed.
CREATE TABLE IF NOT EXISTS billing_invoice_lines (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  invoice_id BIGINT UNSIGNED NOT NULL,
  line_no INT UNSIGNED NOT NULL,
  kind VARCHAR(16) NOT NULL,
  resource_type VARCHAR(16) NULL,
  description VARCHAR(500) NOT NULL,
  quantity DECIMAL(20,6) NOT NULL,
  unit VARCHAR(32) NOT NULL,
  unit_price DECIMAL(20,6) NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_lines_invoice_no (invoice_id, line_no),
  CONSTRAINT fk_lines_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT ck_lines_kind CHECK (kind IN ('usage', 'subscription', 'overage', 'adjustment'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- Gap-free invoice numbers: the row for a year is locked in the transaction
-- that finalizes an invoice, so a number is never taken by a rolled-back one.
CREATE TABLE IF NOT EXISTS billing_invoice_counters (
  year SMALLINT UNSIGNED NOT NULL,
  last_number INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (year)
) ENGINE=InnoDB;

-- One usage record per segment, resource and hour: re-running the usage job
-- cannot count an hour twice.
CREATE TABLE IF NOT EXISTS billing_usage_records (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  session_pk BIGINT UNSIGNED NULL,
  segment_id BIGINT UNSIGNED NULL,
  resource_type VARCHAR(16) NOT NULL,
  quantity DECIMAL(20,6) NOT NULL,
  unit VARCHAR(16) NOT NULL,
  unit_price DECIMAL(20,6) NOT NULL,
  total_cost DECIMAL(20,6) NOT NULL,
  start_time DATETIME(6) NOT NULL,
  end_time DATETIME(6) NOT NULL,
  invoice_id BIGINT UNSIGNED NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_usage_segment_resource_hour (segment_id, resource_type, start_time),
  KEY ix_usage_account_time (account_id, start_time),
  KEY ix_usage_invoice (invoice_id),
  KEY ix_usage_time (start_time),
  CONSTRAINT fk_usage_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT fk_usage_segment FOREIGN KEY (segment_id) REFERENCES billing_session_segments (id),
  CONSTRAINT fk_usage_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT ck_usage_resource CHECK (resource_type IN ('cpu', 'memory', 'storage')),
  CONSTRAINT ck_usage_span CHECK (end_time > start_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- Per account, day, resource and unit price: what GET usage sums, so that
-- its cost stays flat however long the history grows.  The usage job updates
-- it in the same transaction as the records it adds.
CREATE TABLE IF NOT EXISTS billing_usage_daily (
  account_id BIGINT UNSIGNED NOT NULL,
  day DATE NOT NULL,
  resource_type VARCHAR(16) NOT NULL,
  unit_price DECIMAL(20,6) NOT NULL,
  quantity DECIMAL(24,6) NOT NULL,
  total_cost DECIMAL(24,6) NOT NULL,
  records INT UNSIGNED NOT NULL,
  PRIMARY KEY (account_id, day, resource_type, unit_price),
  CONSTRAINT fk_usage_daily_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_subscriptions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  plan_id VARCHAR(64) NOT NULL,
  status VARCHAR(32) NOT NULL,
  current_period_start DATETIME(6) NOT NULL,
  current_period_end DATETIME(6) NOT NULL,
  cancel_at_period_end TINYINT(1) NOT NULL DEFAULT 0,
  stripe_subscription_id VARCHAR(255) NULL,
  -- the Stripe event time last applied, so that older events never win
  stripe_event_created BIGINT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  canceled_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_subscriptions_account (account_id),
  UNIQUE KEY uq_subscriptions_stripe (stripe_subscription_id),
  CONSTRAINT fk_subscriptions_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_payments (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  invoice_id BIGINT UNSIGNED NULL,
  amount DECIMAL(18,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  status VARCHAR(16) NOT NULL,
  method VARCHAR(16) NOT NULL,
  stripe_payment_intent_id VARCHAR(255) NULL,
  stripe_invoice_id VARCHAR(255) NULL,
  -- what makes a payment idempotent: the Stripe event or our own request
  idempotency_key VARCHAR(255) NULL,
  failure_message VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_payments_idempotency (idempotency_key),
  KEY ix_payments_invoice (invoice_id),
  KEY ix_payments_account (account_id, created_at),
  CONSTRAINT fk_payments_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT fk_payments_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT ck_payments_status CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
  CONSTRAINT ck_payments_method CHECK (method IN ('stripe', 'manual'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_credits (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  remaining DECIMAL(18,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  reason VARCHAR(500) NOT NULL,
  expires_at DATETIME(6) NULL,
  created_by VARCHAR(255) NULL,
  idempotency_key VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_credits_idempotency (idempotency_key),
  KEY ix_credits_account_expiry (account_id, expires_at),
  CONSTRAINT fk_credits_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_credits_amounts CHECK (amount > 0 AND remaining >= 0 AND remaining <= amount)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_credit_applications (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  credit_id BIGINT UNSIGNED NOT NULL,
  invoice_id BIGINT UNSIGNED NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_credit_app (credit_id, invoice_id),
  KEY ix_credit_app_invoice (invoice_id),
  CONSTRAINT fk_credit_app_credit FOREIGN KEY (credit_id) REFERENCES billing_credits (id),
  CONSTRAINT fk_credit_app_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT ck_credit_app_amount CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS billing_job_runs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  job VARCHAR(64) NOT NULL,
  trigger_source VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  host VARCHAR(255) NULL,
  pid INT UNSIGNED NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  items BIGINT UNSIGNED NOT NULL DEFAULT 0,
  message VARCHAR(1000) NULL,
  PRIMARY KEY (id),
  KEY ix_job_runs_job_started (job, started_at),
  CONSTRAINT ck_job_runs_status CHECK (status IN ('running', 'succeeded', 'failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- The events outbox: written in the same transaction as the event's cause,
-- delivered at least once by billing-dispatch-events.
CREATE TABLE IF NOT EXISTS billing_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id VARCHAR(64) NOT NULL,
  type VARCHAR(64) NOT NULL,
  account_id BIGINT UNSIGNED NULL,
  -- what makes an event once-only for its cause (e.g. a quota crossing)
  dedupe_key VARCHAR(255) NULL,
  payload LONGTEXT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_error VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  delivered_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_events_event_id (event_id),
  UNIQUE KEY uq_events_dedupe (dedupe_key),
  KEY ix_events_due (status, next_attempt_at),
  KEY ix_events_account (account_id, id),
  CONSTRAINT fk_events_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_events_status CHECK (status IN ('pending', 'delivered', 'failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- Each Stripe event id is applied once, recorded with its effect.
CREATE TABLE IF NOT EXISTS billing_stripe_events (
  event_id VARCHAR(255) NOT NULL,
  type VARCHAR(128) NOT NULL,
  stripe_created BIGINT NOT NULL,
  processed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
