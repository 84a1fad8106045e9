-- 018: a heartbeat rewrites no index entry.
--
-- The common heartbeat is one UPDATE of billing_sessions.last_heartbeat_at
-- (src/billing/sessions.c, SESSION_SQL_BEAT_ONLY).  ix_sessions_open had
-- last_heartbeat_at as its second column, so every heartbeat also deleted
-- and inserted an entry of that index; no query ranges over it (the quotas
-- job and GET usage reach sessions by account, the usage job by segment).
-- The open sessions keep an index of their own on ended_at alone, which a
-- heartbeat never changes: InnoDB then updates the row in place.
-- Statements are safe to run again: a migration cut short is re-run whole.

CREATE INDEX IF NOT EXISTS ix_sessions_ended ON billing_sessions (ended_at);
ALTER TABLE billing_sessions DROP INDEX IF EXISTS ix_sessions_open;
