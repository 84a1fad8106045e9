-- 013: the all-accounts total of each day, for GET admin/summary.
--
-- billing_usage_day_totals holds, per UTC day, the sum of every account's
-- billing_usage_daily rows of that day: total_cost and records.  The usage
-- job (src/billing/metering_write.c, its one writer) adds to it in the same
-- transaction and by the same amounts as to billing_usage_daily, so that
-- admin/summary reads a row per day of its range instead of every
-- account's rows (docs/api.md, "Speed").
-- The INSERT ... SELECT fills it from the daily totals already written,
-- setting (not adding) each day's figures: running it again gives the same
-- rows.  Until this runs, the new usage job fails (no table) and writes
-- nothing, to catch up on its next run; an older usage job still running
-- after it (on a host not yet upgraded) would add to the daily rows only.
-- Statements are safe to run again: a migration cut short is re-run whole.

CREATE TABLE IF NOT EXISTS billing_usage_day_totals (
  day DATE NOT NULL,
  total_cost DECIMAL(28,6) NOT NULL,
  records BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

INSERT INTO billing_usage_day_totals (day, total_cost, records)
  SELECT day, SUM(total_cost), SUM(records) FROM billing_usage_daily GROUP BY day
  ON DUPLICATE KEY UPDATE total_cost = VALUES(total_cost), records = VALUES(records);
