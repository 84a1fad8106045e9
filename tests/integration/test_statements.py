"""Every statement of the library prepares against the real schema
(src/billing/statements.c lists the modules' statement tables, db.h says
how a table is declared): `billing-migrate -s` prepares each one on the
migrated database and checks the parameter and column counts its table
declares, so a typo or a stale column count fails here, not in a request.
"""

import subprocess

from base import StackTestCase

import stack


class StatementsTest(StackTestCase):

    def check(self):
        r = subprocess.run([stack.find_program("billing-migrate", self.stack.build_dir), "-s"],
                           env=self.stack.env(), capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def test_every_registered_statement_prepares_on_the_schema(self):
        rc, out = self.check()
        self.assertEqual(rc, 0, out)
        self.assertNotIn("statement ", out.replace("statements checked", ""), out)
