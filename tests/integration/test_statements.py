"""Every statement of the library prepares against the real schema
(src/billing/statements.c lists the modules' statement tables, db.h says
how a table is declared): `billing-migrate -s` prepares each one on the
migrated database and checks the parameter and column counts its table
declares, so a typo or a stale column count fails here, not in a request.
"""

import json
import os
import re
import subprocess

from base import StackTestCase

import stack


class StatementsTest(StackTestCase):

    def check(self, env=None):
        e = self.stack.env()
        e.update(env or {})
        r = subprocess.run([stack.find_program("billing-migrate", self.stack.build_dir),
                            "-s"], env=e, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def test_every_registered_statement_prepares_on_the_schema(self):
        rc, out = self.check()
        self.assertEqual(rc, 0, out)
        self.assertNotIn("billing-migrate: statement", out)
        counted = re.search(r"info: (\d+) statements checked, 0 failed", out)
        self.assertTrue(counted, out)
        self.assertGreaterEqual(int(counted.group(1)), 100, out)

    def test_a_statement_the_schema_does_not_fit_is_named_and_fails(self):
        """The check is not vacuous: on a schema whose job runs lost a
        column, the statements that use it are named and the exit is 1."""
        name = "billing_stmt_check"
        self.stack.mariadb.sql(
            "DROP DATABASE IF EXISTS `{0}`; "
            "CREATE DATABASE `{0}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
            "GRANT ALL PRIVILEGES ON `{0}`.* TO 'billing'@'localhost';".format(name))
        cfg = self.stack.config()
        cfg["database"] = dict(cfg["database"], name=name)
        path = os.path.join(self.var, "billing-%s.json" % name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        rc, out = self.check({"BILLING_CONFIG": path})
        self.assertEqual(rc, 0, out)
        self.stack.mariadb.sql("ALTER TABLE billing_job_runs DROP COLUMN message",
                               database=name)
        rc, out = self.check({"BILLING_CONFIG": path})
        self.assertEqual(rc, 1, out)
        self.assertIn("billing-migrate: statement jobs/", out)
