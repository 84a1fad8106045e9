-- 010: credit notes and refunds (docs/billing.md, "Credit notes").
--
-- A finalized invoice is corrected only by a credit note, numbered
-- CN-YYYY-NNNNNN from its own gap-free counter (locked in the transaction
-- that issues it, as the invoice counter).  billing_invoices.credit_notes is
-- the sum of an invoice's credit notes, kept by src/billing/invoices.c in
-- the same transaction; the CHECK makes "never above the total" a guarantee
-- of the database, not only of the code.  A credit note lowers what is due
-- (settlement 'due'), or on a paid invoice is refunded ('refund': a row in
-- billing_refunds) or credited to the account's balance ('balance': a row
-- in billing_credits).
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS credit_notes DECIMAL(18,2) NOT NULL DEFAULT 0;
ALTER TABLE billing_invoices DROP CONSTRAINT IF EXISTS ck_invoices_credit_notes;
ALTER TABLE billing_invoices ADD CONSTRAINT ck_invoices_credit_notes
  CHECK (credit_notes >= 0 AND credit_notes <= total);

CREATE TABLE IF NOT EXISTS billing_credit_note_counters (
  year SMALLINT UNSIGNED NOT NULL,
  last_number INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (year)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS billing_credit_notes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  invoice_id BIGINT UNSIGNED NOT NULL,
  account_id BIGINT UNSIGNED NOT NULL,
  -- the n-th credit note of its invoice: with the invoice id, the stable
  -- name of the credit note that Stripe idempotency keys are made from
  seq INT UNSIGNED NOT NULL,
  credit_note_number VARCHAR(32) NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  reason VARCHAR(500) NOT NULL,
  settlement VARCHAR(16) NOT NULL,
  credit_id BIGINT UNSIGNED NULL,
  stripe_credit_note_id VARCHAR(255) NULL,
  idempotency_key VARCHAR(255) NULL,
  created_by VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_credit_notes_number (credit_note_number),
  UNIQUE KEY uq_credit_notes_invoice_seq (invoice_id, seq),
  UNIQUE KEY uq_credit_notes_idempotency (idempotency_key),
  UNIQUE KEY uq_credit_notes_stripe (stripe_credit_note_id),
  KEY ix_credit_notes_account (account_id, created_at),
  CONSTRAINT fk_credit_notes_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT fk_credit_notes_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT fk_credit_notes_credit FOREIGN KEY (credit_id) REFERENCES billing_credits (id),
  CONSTRAINT ck_credit_notes_amount CHECK (amount > 0),
  CONSTRAINT ck_credit_notes_settlement CHECK (settlement IN ('due', 'refund', 'balance'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- what a credit note takes off each line it names (a credit note by amount
-- names none)
CREATE TABLE IF NOT EXISTS billing_credit_note_lines (
  credit_note_id BIGINT UNSIGNED NOT NULL,
  invoice_id BIGINT UNSIGNED NOT NULL,
  line_no INT UNSIGNED NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  PRIMARY KEY (credit_note_id, line_no),
  KEY ix_credit_note_lines_invoice (invoice_id, line_no),
  CONSTRAINT fk_cn_lines_note FOREIGN KEY (credit_note_id) REFERENCES billing_credit_notes (id),
  CONSTRAINT ck_cn_lines_amount CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- money given back for a credit note: through Stripe (a refund of the
-- payment intent Stripe collected) or by hand (recorded here)
CREATE TABLE IF NOT EXISTS billing_refunds (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  credit_note_id BIGINT UNSIGNED NOT NULL,
  invoice_id BIGINT UNSIGNED NOT NULL,
  account_id BIGINT UNSIGNED NOT NULL,
  payment_id BIGINT UNSIGNED NULL,
  amount DECIMAL(18,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  method VARCHAR(16) NOT NULL,
  stripe_refund_id VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_refunds_credit_note (credit_note_id),
  UNIQUE KEY uq_refunds_stripe (stripe_refund_id),
  KEY ix_refunds_invoice (invoice_id),
  CONSTRAINT fk_refunds_note FOREIGN KEY (credit_note_id) REFERENCES billing_credit_notes (id),
  CONSTRAINT fk_refunds_payment FOREIGN KEY (payment_id) REFERENCES billing_payments (id),
  CONSTRAINT ck_refunds_amount CHECK (amount > 0),
  CONSTRAINT ck_refunds_method CHECK (method IN ('stripe', 'manual'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
