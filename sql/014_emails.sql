-- 014: invoice and payment emails (docs/email.md).
--
-- billing_accounts.email_opt_out: the account gets no email (PATCH
-- admin/users/{user_id} "email_opt_out", audited in billing_account_changes;
-- written by src/billing/accounts.c).
-- billing_events.emails_queued: whether the email step has looked at the
-- event (0: not yet).  Added with the default 1, so every event written
-- before this migration counts as looked at (no email for the past), then
-- the default becomes 0 for new events.  Written by src/billing/events.c.
-- billing_emails: one row per event that mails (its one recipient, the
-- account's email, or none: skipped), with its delivery state, the
-- Message-ID derived from the event id and the relay's answer.  Written by
-- src/billing/emails.c only.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_accounts
  ADD COLUMN IF NOT EXISTS email_opt_out TINYINT(1) NOT NULL DEFAULT 0;

ALTER TABLE billing_events
  ADD COLUMN IF NOT EXISTS emails_queued TINYINT(1) NOT NULL DEFAULT 1;
ALTER TABLE billing_events ALTER COLUMN emails_queued SET DEFAULT 0;
CREATE INDEX IF NOT EXISTS ix_events_emails_queued
  ON billing_events (emails_queued, id);

CREATE TABLE IF NOT EXISTS billing_emails (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_ref BIGINT UNSIGNED NOT NULL,
  account_id BIGINT UNSIGNED NULL,
  recipient VARCHAR(320) NULL,
  message_id VARCHAR(255) NOT NULL,
  -- pending, sent, failed, skipped
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  -- why it was skipped: no_email, opted_out
  skip_reason VARCHAR(32) NULL,
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL,
  last_error VARCHAR(1000) NULL,
  relay_reply VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL,
  sent_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_emails_event (event_ref),
  KEY ix_emails_due (status, next_attempt_at),
  CONSTRAINT fk_emails_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id),
  CONSTRAINT ck_emails_status CHECK (status IN ('pending', 'sent', 'failed', 'skipped'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
