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
