-- 006: StreamSpace's own webhook (POST hooks/streamspace, docs/hooks.md).
--
-- Each delivery is applied once: its key is the SHA-256 of the raw body (the
-- platform sends no delivery id), inserted in the same transaction as its
-- effect (src/billing/streamspace.c, this table's one writer).  outcome is
-- 'applied' or 'ignored' (an event billing does not act on).
-- Statements are safe to run again: a migration cut short is re-run whole.

CREATE TABLE IF NOT EXISTS billing_streamspace_deliveries (
  body_sha256 CHAR(64) NOT NULL,
  event VARCHAR(64) NOT NULL,
  event_at DATETIME(6) NOT NULL,
  received_at DATETIME(6) NOT NULL,
  outcome VARCHAR(16) NOT NULL,
  PRIMARY KEY (body_sha256),
  CONSTRAINT ck_streamspace_outcome CHECK (outcome IN ('applied', 'ignored'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- heartbeats: 1 for a session whose source sends heartbeats (the hooks);
-- 0 for one StreamSpace's webhook started, which never heartbeats: the
-- stale cut-off (sessionTimeoutMinutes) never applies to it, and it accrues
-- until an event hibernates or ends it.
ALTER TABLE billing_sessions ADD COLUMN IF NOT EXISTS
  heartbeats TINYINT NOT NULL DEFAULT 1;
