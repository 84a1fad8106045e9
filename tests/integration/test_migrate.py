"""billing-migrate and the schema it leaves (docs/operations.md and
sql/README.md): idempotent, checksummed, serialized, InnoDB with DECIMAL
money.  The stack already ran billing-migrate once on its database.
"""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from base import ROOT, StackTestCase, stack

SQL_DIR = os.path.join(ROOT, "sql")

# the money columns and their scale: 2 for invoice, payment and credit
# amounts, 6 for usage quantities, unit prices and accrued costs
MONEY_COLUMNS = {
    ("billing_usage_records", "quantity"): 6,
    ("billing_usage_records", "unit_price"): 6,
    ("billing_usage_records", "total_cost"): 6,
    ("billing_invoices", "subtotal"): 2,
    ("billing_invoices", "credits"): 2,
    ("billing_invoices", "total"): 2,
    ("billing_payments", "amount"): 2,
    ("billing_credits", "amount"): 2,
    ("billing_credits", "remaining"): 2,
}
SEED_TABLES = ("billing_usage_records", "billing_invoices", "billing_subscriptions",
               "billing_payments", "billing_credits")


def migration_files(directory=SQL_DIR):
    return sorted(p for p in glob.glob(os.path.join(directory, "*.sql"))
                  if re.match(r"^\d{3}_.+\.sql$", os.path.basename(p)))


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class MigrateTest(StackTestCase):

    # -- helpers --------------------------------------------------------------

    def migrate(self, env=None, args=()):
        e = self.stack.env()
        e.update(env or {})
        r = subprocess.run([stack.find_program("billing-migrate", self.stack.build_dir)]
                           + list(args), env=e, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def sql(self, text, database=None):
        return self.stack.mariadb.sql(text, database=database or self.stack.db_name)

    def new_database(self, name):
        """A fresh, empty database the billing user may use, and a config
        file pointing billing-migrate at it; returns the config path."""
        self.stack.mariadb.sql(
            "DROP DATABASE IF EXISTS `{0}`; "
            "CREATE DATABASE `{0}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
            "GRANT ALL PRIVILEGES ON `{0}`.* TO 'billing'@'localhost';".format(name))
        cfg = self.stack.config()
        cfg["database"] = dict(cfg["database"], name=name)
        path = os.path.join(self.var, "billing-%s.json" % name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    # -- idempotence ----------------------------------------------------------

    def test_migrate_on_a_migrated_database_applies_nothing_and_exits_0(self):
        before = self.sql("SELECT version, checksum, applied_at FROM schema_migrations "
                          "ORDER BY version")
        rc, out = self.migrate()
        self.assertEqual(rc, 0, out)
        self.assertIn("0 migrations applied", out)
        self.assertNotIn("applying", out)
        after = self.sql("SELECT version, checksum, applied_at FROM schema_migrations "
                         "ORDER BY version")
        self.assertEqual(before, after)

    def test_schema_migrations_has_one_row_per_sql_file_with_its_sha256(self):
        files = migration_files()
        self.assertTrue(files, "no migrations in sql/")
        rows = self.sql("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        self.assertEqual(len(rows), len(files), rows)
        for (version, name, checksum), path in zip(rows, files):
            base = os.path.basename(path)
            self.assertEqual(name, base)
            self.assertEqual(int(version), int(base[:3]))
            self.assertRegex(checksum, r"^[0-9a-f]{64}$")
            self.assertEqual(checksum, sha256_file(path), "checksum of %s" % base)

    # -- the schema -----------------------------------------------------------

    def test_seed_tables_exist_and_every_table_is_innodb(self):
        rows = dict(self.sql(
            "SELECT table_name, engine FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"))
        for table in SEED_TABLES:
            self.assertIn(table, rows)
        for table, engine in rows.items():
            self.assertEqual(engine, "InnoDB", "table %s is %s" % (table, engine))

    def test_money_columns_are_decimal_with_the_contracts_scale(self):
        cols = {(t, c): (dt, int(scale) if scale != "NULL" else None)
                for t, c, dt, scale in self.sql(
                    "SELECT table_name, column_name, data_type, numeric_scale "
                    "FROM information_schema.columns WHERE table_schema = DATABASE()")}
        for key, scale in MONEY_COLUMNS.items():
            self.assertIn(key, cols)
            self.assertEqual(cols[key], ("decimal", scale), "%s.%s" % key)

    def test_no_column_anywhere_is_a_binary_floating_point(self):
        rows = self.sql("SELECT table_name, column_name, data_type "
                        "FROM information_schema.columns WHERE table_schema = DATABASE() "
                        "AND data_type IN ('float', 'double', 'real')")
        self.assertEqual(rows, [])

    # -- a changed migration --------------------------------------------------

    def test_a_migration_changed_by_one_byte_is_refused_with_exit_1(self):
        copy = os.path.join(self.var, "sql-changed")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(SQL_DIR, copy)
        first = migration_files(copy)[0]
        with open(first, "rb") as f:
            data = bytearray(f.read())
        i = data.index(b"--") + 1  # inside the first comment: still valid SQL
        data[i + 2] = ord("X") if data[i + 2] != ord("X") else ord("Y")
        with open(first, "wb") as f:
            f.write(data)
        before = self.sql("SELECT version, checksum FROM schema_migrations ORDER BY version")
        rc, out = self.migrate(env={"BILLING_SQL_DIR": copy})
        self.assertEqual(rc, 1, out)
        self.assertIn(os.path.basename(first), out)
        self.assertIn("changed", out)
        self.assertNotIn("migrations applied", out)
        self.assertEqual(self.sql("SELECT version, checksum FROM schema_migrations "
                                  "ORDER BY version"), before)
        # the unchanged files still pass
        rc, out = self.migrate()
        self.assertEqual(rc, 0, out)

    def test_unreachable_database_exits_1_with_a_reason(self):
        cfg = self.stack.config()
        cfg["database"] = dict(cfg["database"], socket=os.path.join(self.var, "absent.sock"))
        path = os.path.join(self.var, "billing-nodb.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        rc, out = self.migrate(env={"BILLING_CONFIG": path})
        self.assertEqual(rc, 1, out)
        self.assertIn("database", out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)
        self.assertNotIn(self.stack._secrets()["db_password"], out)

    # -- two at once ----------------------------------------------------------

    def test_two_concurrent_runs_on_a_fresh_database_both_succeed_and_apply_once(self):
        name = "billing_concurrent"
        path = self.new_database(name)
        env = {"BILLING_CONFIG": path}
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda _: self.migrate(env=env), range(2)))
        for rc, out in results:
            self.assertEqual(rc, 0, out)
        files = migration_files()
        applied = []
        for _, out in results:
            m = re.search(r"\((\d+) migrations? applied\)", out)
            self.assertTrue(m, out)
            applied.append(int(m.group(1)))
        # between them, each file was applied exactly once
        self.assertEqual(sorted(applied), [0, len(files)] if len(files) else [0, 0], results)
        self.assertEqual(sum(out.count("applying ") for _, out in results), len(files))
        rows = self.sql("SELECT version, checksum FROM schema_migrations ORDER BY version",
                        database=name)
        self.assertEqual([(int(v), c) for v, c in rows],
                         [(int(os.path.basename(p)[:3]), sha256_file(p)) for p in files])
        tables = {r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
            database=name)}
        self.assertTrue(set(SEED_TABLES) <= tables)
        # and it is as idempotent as the stack's own
        rc, out = self.migrate(env=env)
        self.assertEqual(rc, 0, out)
        self.assertIn("0 migrations applied", out)
