-- 011: taxes and billing details (docs/billing.md "Taxes").
--
-- billing_accounts gains the account's billing details, set by an admin
-- (PATCH admin/users/{user_id}; src/billing/accounts.c writes them,
-- src/billing/account_details.c runs the change): billing_name,
-- billing_address (its lines joined by "\n"), country (ISO 3166-1
-- alpha-2), tax_id, tax_rate_id (a taxRates id of the config; NULL: the
-- config's defaultTaxRate applies) and tax_exempt.
-- billing_account_changes is their audit trail: who changed which field,
-- from what to what, when (src/billing/account_details.c, the one writer).
-- billing_invoices gains tax (the sum of its tax lines) and tax_exempt (the
-- account was exempt when it was finalized); billing_invoice_taxes holds
-- an invoice's tax lines with the rate as issued (id, name, percent,
-- inclusive), never recomputed (src/billing/invoice_tax.c).
-- Statements are safe to run again: a migration cut short is re-run whole.

ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS billing_name VARCHAR(200) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS billing_address VARCHAR(1300) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS country CHAR(2) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS tax_id VARCHAR(64) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS tax_rate_id VARCHAR(64) NULL;
ALTER TABLE billing_accounts ADD COLUMN IF NOT EXISTS tax_exempt TINYINT(1) NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS billing_account_changes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id BIGINT UNSIGNED NOT NULL,
  changed_by VARCHAR(255) NOT NULL,
  field VARCHAR(32) NOT NULL,
  old_value VARCHAR(1300) NULL,
  new_value VARCHAR(1300) NULL,
  changed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_account_changes_account (account_id, id),
  CONSTRAINT fk_account_changes_account FOREIGN KEY (account_id) REFERENCES billing_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS tax DECIMAL(18,2) NOT NULL DEFAULT 0;
ALTER TABLE billing_invoices ADD COLUMN IF NOT EXISTS tax_exempt TINYINT(1) NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS billing_invoice_taxes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  invoice_id BIGINT UNSIGNED NOT NULL,
  rate_id VARCHAR(64) NOT NULL,
  name VARCHAR(100) NOT NULL,
  percent DECIMAL(7,4) NOT NULL,
  inclusive TINYINT(1) NOT NULL,
  taxable DECIMAL(18,2) NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_invoice_taxes_rate (invoice_id, rate_id),
  CONSTRAINT fk_invoice_taxes_invoice FOREIGN KEY (invoice_id) REFERENCES billing_invoices (id),
  CONSTRAINT ck_invoice_taxes_amounts CHECK (percent >= 0 AND percent <= 100 AND taxable >= 0 AND amount >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
