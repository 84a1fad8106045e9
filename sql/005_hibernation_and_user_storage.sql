-- 005: sessions hibernate and wake (hooks/session-hibernated, session-woken).
--
-- hibernated is the state: 1 from a hibernation to the next wake.  While it is
-- 1 the open segment has cpu_cores and memory_gb 0 and the session's storage,
-- and the session row keeps the sizes it resumes with (src/billing/sessions.c,
-- docs/billing.md "Hibernation").  hibernated_at and woken_at are the latest
-- instants the platform reported, kept to order and deduplicate its calls.
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  hibernated TINYINT NOT NULL DEFAULT 0;
ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  hibernated_at DATETIME(6) NULL;
ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  woken_at DATETIME(6) NULL;

-- Per-user storage (hooks/user-storage): each account's persistent volume is
-- one row of kind 'user_storage' here, hibernated (storage only, never stale)
-- and never ended; its sizes over time are its segments, metered by the usage
-- job like any other (exactly once, docs/billing.md "Per-user storage").  Its
-- session_id starts with a control character that no hook's id may hold;
-- volume_account keeps it to one per account.
ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  kind VARCHAR(16) NOT NULL DEFAULT 'session';
ALTER TABLE billing_sessions DROP CONSTRAINT IF EXISTS ck_sessions_kind;
ALTER TABLE billing_sessions ADD CONSTRAINT ck_sessions_kind
  CHECK (kind IN ('session', 'user_storage'));
ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  volume_account BIGINT UNSIGNED AS (IF(kind = 'user_storage', account_id, NULL)) PERSISTENT;
CREATE UNIQUE INDEX IF NOT EXISTS uq_sessions_volume ON billing_sessions (volume_account);
