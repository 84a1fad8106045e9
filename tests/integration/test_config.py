"""The configuration as an operator meets it (docs/configuration.md):
`billingd -t`, a bad config naming the key and never half-starting, secrets
from the environment winning over the file, and no secret in any message.

The stack's config file holds a jwtSecret of its own (FILE_SECRET) while
billingd's environment holds BILLING_JWT_SECRET (the stack's secret).
"""

import json
import os
import subprocess
import tempfile

from base import StackTestCase, make_jwt, claims_for, stack

FILE_SECRET = "file-secret-" + "f0e1d2c3b4a59687" * 3          # 60 bytes
DB_PASSWORD_IN_FILE = "db-password-in-file-8c1f7e2a"
SHORT_SECRET = "tooShortSecretValue42"                         # 21 bytes
STRIPE_KEY = "sk_test_SECRETVALUE0123456789"


class ConfigTest(StackTestCase):
    config_overrides = {"jwtSecret": FILE_SECRET}

    @classmethod
    def setUpStack(cls):
        cls.billingd = stack.find_program("billingd", cls.stack.build_dir)
        cls.tmp = tempfile.mkdtemp(prefix="cfg-", dir=cls.var)

    # -- helpers --------------------------------------------------------------

    def env(self, **changes):
        env = self.stack.env()
        for k, v in changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def write(self, name, cfg):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=2))
        return path

    def config(self, **changes):
        """The stack's config with changes; a value of None removes the key."""
        cfg = self.stack.config()
        for k, v in changes.items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        return cfg

    def run_billingd(self, *args, env=None, timeout=15):
        r = subprocess.run([self.billingd] + list(args), env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def secrets(self):
        return [self.stack.jwt_secret, FILE_SECRET, DB_PASSWORD_IN_FILE, SHORT_SECRET,
                STRIPE_KEY, self.stack._secrets()["db_password"]]

    def assertNoSecret(self, text):
        for s in self.secrets():
            self.assertNotIn(s, text)
            self.assertNotIn(s[:16], text, "the start of a secret is in the output")

    def assertRefused(self, cfg, key, env=None):
        path = self.write("bad.json", cfg)
        rc, out = self.run_billingd("-t", "-c", path, env=env)
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("configuration ok", out)
        self.assertIn(key, out)
        self.assertNoSecret(out)
        return out

    # -- billingd -t ----------------------------------------------------------

    def test_check_mode_accepts_the_stacks_config(self):
        rc, out = self.run_billingd("-t", "-c", self.stack.config_path)
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration ok", out)
        self.assertNoSecret(out)

    def test_check_mode_reads_billing_config_from_the_environment(self):
        rc, out = self.run_billingd("-t", env=self.env(BILLING_CONFIG=self.stack.config_path))
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration ok", out)

    def test_invoice_day_31_is_refused_naming_invoiceDay(self):
        self.assertRefused(self.config(invoiceDay=31), "invoiceDay")

    def test_invoice_day_0_and_a_string_are_refused(self):
        self.assertRefused(self.config(invoiceDay=0), "invoiceDay")
        self.assertRefused(self.config(invoiceDay="1"), "invoiceDay")

    def test_billing_mode_weird_is_refused_naming_billingMode(self):
        self.assertRefused(self.config(billingMode="weird"), "billingMode")

    def test_unknown_key_invoiceDya_is_refused_naming_it(self):
        self.assertRefused(self.config(invoiceDya=1), "invoiceDya")

    def test_non_numeric_rate_is_refused_naming_cpu_per_core_hour(self):
        cfg = self.config()
        cfg["computeRates"]["cpu_per_core_hour"] = "abc"
        out = self.assertRefused(cfg, "cpu_per_core_hour")
        self.assertIn("computeRates.cpu_per_core_hour", out)

    def test_negative_rate_is_refused(self):
        cfg = self.config()
        cfg["computeRates"]["memory_per_gb_hour"] = -0.01
        self.assertRefused(cfg, "memory_per_gb_hour")

    def test_bad_plan_price_is_refused_naming_the_plan(self):
        cfg = self.config()
        cfg["subscriptionPlans"][1]["price"] = "lots"
        self.assertRefused(cfg, "subscriptionPlans[1].price")

    def test_no_jwt_secret_anywhere_is_refused_naming_jwtSecret(self):
        self.assertRefused(self.config(jwtSecret=None), "jwtSecret",
                           env=self.env(BILLING_JWT_SECRET=None))

    def test_short_jwt_secret_in_the_file_is_refused_without_echoing_it(self):
        self.assertRefused(self.config(jwtSecret=SHORT_SECRET), "jwtSecret",
                           env=self.env(BILLING_JWT_SECRET=None))

    def test_short_jwt_secret_in_the_environment_is_refused_without_echoing_it(self):
        out = self.assertRefused(self.config(), "jwtSecret",
                                 env=self.env(BILLING_JWT_SECRET=SHORT_SECRET))
        self.assertIn("BILLING_JWT_SECRET", out)

    def test_secret_with_a_control_character_is_refused_without_echoing_it(self):
        self.assertRefused(self.config(stripeSecretKey=STRIPE_KEY + "\n"), "stripeSecretKey")

    def test_wrongly_typed_database_password_is_refused_without_echoing_it(self):
        cfg = self.config()
        cfg["database"]["password"] = [DB_PASSWORD_IN_FILE]
        self.assertRefused(cfg, "database.password", env=self.env(BILLING_DB_PASSWORD=None))

    def test_stripe_enabled_without_a_key_is_refused(self):
        self.assertRefused(self.config(stripeEnabled=True), "stripeSecretKey",
                           env=self.env(STRIPE_SECRET_KEY=None))

    def test_workers_0_and_bad_listen_are_refused(self):
        self.assertRefused(self.config(workers=0), "workers")
        self.assertRefused(self.config(listen="nonsense"), "listen")

    def test_invalid_json_is_refused_with_a_line_number(self):
        text = json.dumps(self.config(), indent=2)
        out = self.assertRefused(text[:-3], "line")
        self.assertNotIn(FILE_SECRET, out)

    def test_missing_config_file_is_refused(self):
        rc, out = self.run_billingd("-t", "-c", os.path.join(self.tmp, "absent.json"))
        self.assertNotEqual(rc, 0)
        self.assertIn("absent.json", out)

    def test_unknown_command_line_option_exits_non_zero(self):
        rc, out = self.run_billingd("-x")
        self.assertNotEqual(rc, 0)
        self.assertIn("usage", out)

    # -- a bad config never half-starts ---------------------------------------

    def test_billingd_with_a_bad_config_exits_non_zero_without_creating_its_socket(self):
        sock = os.path.join(self.tmp, "never.sock")
        pidfile = os.path.join(self.tmp, "never.pid")
        cases = {
            "invoiceDay": self.config(listen="unix:" + sock, invoiceDay=31),
            "billingMode": self.config(listen="unix:" + sock, billingMode="weird"),
            "invoiceDya": self.config(listen="unix:" + sock, invoiceDya=1),
        }
        for key, cfg in cases.items():
            with self.subTest(key=key):
                path = self.write("bad-%s.json" % key, cfg)
                rc, out = self.run_billingd("-c", path, "-p", pidfile)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(key, out)
                self.assertFalse(os.path.exists(sock), "socket created")
                self.assertFalse(os.path.exists(pidfile), "pidfile created")
                self.assertNoSecret(out)
        # the same config, made valid, does start: the socket path was usable
        path = self.write("good.json", self.config(listen="unix:" + sock))
        rc, out = self.run_billingd("-t", "-c", path)
        self.assertEqual(rc, 0, out)

    def test_billingd_without_any_jwt_secret_does_not_start(self):
        sock = os.path.join(self.tmp, "nosecret.sock")
        path = self.write("nosecret.json", self.config(listen="unix:" + sock, jwtSecret=None))
        rc, out = self.run_billingd("-c", path, env=self.env(BILLING_JWT_SECRET=None))
        self.assertNotEqual(rc, 0)
        self.assertIn("jwtSecret", out)
        self.assertFalse(os.path.exists(sock))

    # -- the environment wins -------------------------------------------------

    def test_env_jwt_secret_wins_over_the_files(self):
        env_secret = self.stack.jwt_secret
        self.assertNotEqual(env_secret, FILE_SECRET)
        with open(self.stack.config_path) as f:
            self.assertEqual(json.load(f)["jwtSecret"], FILE_SECRET)
        claims = claims_for("admin@example.com", "admin")
        resp = self.request("GET", "jobs/status", token=make_jwt(claims, env_secret))
        self.assertEqual(resp[0], 200, resp[2])
        resp = self.request("GET", "jobs/status", token=make_jwt(claims, FILE_SECRET))
        self.assertError(resp, 401, "unauthenticated")

    def test_zz_no_secret_in_billingd_log(self):
        self.request("GET", "jobs/status", token=make_jwt(claims_for(), FILE_SECRET))
        self.assertNoSecret(self.log_text())
