#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ (committed; rerun after
changing this file: `python3 fuzz/tools/make-seeds.py`).

Seeds are small valid and near-valid inputs in each target's input format
(the header comment of fuzz/fuzz_<target>.c describes it).  Tokens and
signatures are computed here with Python's hmac/hashlib/base64 and the
openssl command line (RS256, with fuzz/keys/rsa_priv.pem), never with
src/, so a seed is a real-looking input made by someone else.

Standard library + the openssl command line.  File names are the first 16
hex digits of the content's SHA-1 plus a readable label.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess
import sys

FUZZ = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(FUZZ, "corpus")

JWT_SECRET = b"test-secret-0123456789abcdef-not-for-prod"  # FJ_SECRET
NOW = 1700000000                                          # FJ_NOW, FS_NOW
FAR = 4102444800
SECRET_A = b"whsec_test_secret_a_0123456789abcdef"        # FS_SECRET_A
SECRET_B = b"whsec_test_secret_b_fedcba9876543210"        # FS_SECRET_B


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(header, payload, alg="HS256", key=JWT_SECRET):
    h = header if isinstance(header, bytes) else json.dumps(
        header, separators=(",", ":")).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(
        payload, separators=(",", ":")).encode()
    signing_input = b64url(h) + b"." + b64url(p)
    if alg == "HS256":
        sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign",
             os.path.join(FUZZ, "keys", "rsa_priv.pem")],
            input=signing_input, capture_output=True, check=True).stdout
    else:
        sig = b""
    return signing_input + b"." + b64url(sig)


def stripe_header(secret, t, body):
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256)
    return b"t=%d,v1=%s" % (t, mac.hexdigest().encode())


class Corpus:
    def __init__(self, target):
        self.dir = os.path.join(CORPUS, target)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.n = 0

    def add(self, data, label):
        if isinstance(data, str):
            data = data.encode()
        name = "%s-%s" % (hashlib.sha1(data).hexdigest()[:16], label)
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)
        self.n += 1


def json_body():
    c = Corpus("fuzz_json_body")
    bodies = {
        "credit": '{"user_id": "john@example.com", "amount": 50.00, "reason": '
                  '"Service credit for downtime",\n "expires_at": "2025-12-31", '
                  '"idempotency_key": "downtime-2025-01-31-john"}',
        "credit-string-amount": '{"user_id":"u1","amount":"29.99","reason":"x"}',
        "session-created": '{"session_id": "s-1", "user_id": "alice@example.com",\n'
                           ' "started_at": "2025-01-31T10:00:00Z", "cpu_cores": 2, '
                           '"memory_gb": 4, "storage_gb": 10}',
        "session-heartbeat": '{"session_id":"s-1","at":"2025-01-31T11:00:00.123456+01:00",'
                             '"cpu_cores":"0.5","memory_gb":1.25}',
        "user-created": '{"user_id":"bob","email":"bob@example.com","plan_id":"free"}',
        "invoice": '{"user_id":"u","period_start":"2025-01-13","period_end":'
                   '"2025-01-14T00:00:00Z","draft":true}',
        "patch": '{"status":"void"}',
        "nulls": '{"ended_at":null,"a":[],"b":{},"c":[null,true,false]}',
        "numbers": '[0,-0,1.5,-1.5e-3,1E+2,12345678901234567890,-9223372036854775809,'
                   '0.000001,1e400]',
        "unicode": '{"reason":"caf\\u00e9 \\ud83d\\ude00 \\u0000 \\/ \\"q\\"",'
                   '"raw":"caf\u00e9 \u20ac"}',
        "scalar-string": '"just a string"',
        "scalar-number-nl": '6\n',
        "scalar-true": 'true',
        "ws": ' \t\r\n{ "a" : 1 }\n ',
        "dup-keys": '{"a":1,"a":"2"}',
        "depth-16": "[" * 16 + "]" * 16,
        "depth-17": "[" * 17 + "]" * 17,
        "obj-depth-16": '{"a":' * 15 + "{}" + "}" * 15,
        # near-valid: each must be refused
        "single-quotes": "{'a': 1}",
        "nan": '{"a": NaN}',
        "infinity": '[Infinity, -Infinity]',
        "trailing-comma": '{"a":1,}',
        "trailing-garbage": '{"a":1} x',
        "two-values": '{} {}',
        "comment": '{"a":1 /* c */}',
        "leading-plus": '[+1]',
        "leading-zero": '[01]',
        "hex-escape": '["\\x41"]',
        "bad-escape": '["\\u12"]',
        "control-char": '["a\tb"]',
        "truncated": '{"a":[1,2',
        "bom": '\ufeff{}',
        "bad-utf8": b'{"a":"\xc3\x28"}',
        "overlong-utf8": b'{"a":"\xc0\xaf"}',
        "nul-byte": b'{"a":1}\x00',
        "empty": b"",
        "lone-surrogate": '["\\ud800"]',
    }
    for label, body in bodies.items():
        c.add(body, label)
    return c.n


def query():
    c = Corpus("fuzz_query")

    def q(name, size, query, label):
        c.add(bytes([len(name), size]) + name + query, label)

    q(b"limit", 64, b"limit=50&cursor=42", "limit")
    q(b"cursor", 64, b"limit=50&cursor=42", "cursor")
    q(b"user_id", 255, b"user_id=john%40example.com", "pct-at")
    q(b"from", 64, b"from=2025-01-01T00%3A00%3A00Z&to=2025-02-01", "from")
    q(b"to", 64, b"from=2025-01-01&to=2025-02-01", "to")
    q(b"status", 16, b"status=sent&status=void", "first-wins")
    q(b"format", 8, b"group_by=day&format=csv", "format")
    q(b"q", 32, b"q=a+b%2Bc%20d", "plus-space")
    q(b"q", 32, b"q=%zz", "bad-escape")
    q(b"q", 32, b"q=%4", "short-escape")
    q(b"q", 32, b"q=%00", "nul")
    q(b"q", 32, b"q=%e2%82%AC", "mixed-case-hex")
    q(b"q", 4, b"q=abcd", "too-long")
    q(b"q", 5, b"q=abcd", "just-fits")
    q(b"user_id", 64, b"user_id", "no-equals")
    q(b"user_id", 64, b"x=1&&user_id=&y", "empty-value")
    q(b"a", 64, b"aa=1&a=2", "prefix")
    q(b"a", 64, b"b=1&a=x=y", "equals-in-value")
    q(b"", 16, b"=x&a", "empty-name")
    q(b"a", 64, b"", "empty-query")
    q(b"a", 64, b"&&&", "only-amps")
    return c.n


def money():
    c = Corpus("fuzz_money")
    texts = ["29.99", "-0.005", "1e2", "0", "-0", "007.5", "0.1", "12.", ".5",
             "+1", "1,000", " 1", "1 ", "0x10", "-", "", "1000000000000",
             "-1000000000000", "1000000000000.000001", "999999999999.999999",
             "99999999999999999999", "0.0000001", "0.000001", "1.40", "--1",
             "1.2.3", "100000.00", "9223372036854.775807"]
    for i, t in enumerate(texts):
        for maxdec in (2, 6):
            c.add(bytes([maxdec + 1, 32]) + t.encode(), "d%d-%d" % (maxdec, i))
    c.add(bytes([0, 0]) + b"1", "bad-decimals")
    c.add(bytes([8, 3]) + b"5", "decimals-7")
    # the arithmetic reads int64s from the same bytes: extremes
    c.add(bytes([7, 21]) + struct.pack(">qqqq", -2**63, 2**63 - 1, 3600, 1),
          "int64-extremes")
    c.add(bytes([3, 8]) + struct.pack(">qqqq", 10**18, 10**18, -1, 0),
          "max-micros")
    return c.n


def jwts():
    c = Corpus("fuzz_jwt")
    hs = {"alg": "HS256", "typ": "JWT"}
    user = {"sub": "alice@example.com", "role": "user", "exp": FAR}
    c.add(jwt(hs, user), "hs-user")
    c.add(jwt(hs, {"sub": "root@example.com", "role": "admin", "exp": FAR}),
          "hs-admin")
    c.add(jwt({"alg": "HS256"}, {"sub": "svc-metering", "role": "service",
                                 "exp": FAR, "nbf": NOW - 10, "iat": NOW - 10}),
          "hs-service-nbf-iat")
    c.add(jwt(hs, {"sub": "bob", "exp": FAR + 0.75, "iss": "streamspace",
                   "ctx": {"a": [1, 2, {"b": None}]}}), "hs-nested")
    c.add(jwt(b' { "alg" : "HS256" , "typ" : "JWT" } \n', user), "hs-blanks")
    c.add(jwt(hs, {"sub": "jos\u00e9", "exp": FAR}), "hs-utf8-sub")
    c.add(jwt(hs, {"sub": "u" * 255, "exp": FAR}), "hs-sub-255")
    c.add(jwt(hs, {"sub": "u" * 256, "exp": FAR}), "hs-sub-256")
    c.add(jwt(hs, {"sub": "alice", "exp": NOW - 59}), "hs-exp-edge")
    c.add(jwt(hs, {"sub": "alice", "exp": NOW - 61}), "hs-expired")
    c.add(jwt(hs, {"sub": "alice", "exp": FAR, "nbf": NOW + 61}), "hs-nbf-future")
    c.add(jwt(hs, {"sub": "alice", "exp": "4102444800"}), "hs-exp-string")
    c.add(jwt(hs, {"sub": "alice", "exp": 1e300}), "hs-exp-huge")
    c.add(jwt(hs, {"sub": "alice", "exp": FAR, "role": "root"}), "hs-bad-role")
    c.add(jwt(hs, {"sub": "a\u0085b", "exp": FAR}), "hs-c1-sub")
    c.add(jwt(hs, b'{"sub":"alice","exp":4102444800}x'), "hs-payload-garbage")
    c.add(jwt(hs, b'["sub"]'), "hs-payload-array")
    c.add(jwt({"alg": "RS256", "typ": "JWT"},
              {"sub": "carol@example.com", "role": "admin", "exp": FAR},
              alg="RS256"), "rs-admin")
    c.add(jwt({"alg": "RS256"}, {"sub": "dave", "exp": FAR}, alg="RS256"),
          "rs-no-typ")
    c.add(jwt({"alg": "none"}, {"sub": "alice", "role": "admin", "exp": FAR},
              alg="none"), "alg-none")
    c.add(jwt({"alg": "HS384"}, user), "alg-hs384")
    c.add(jwt({"alg": "hs256"}, user), "alg-lower")
    c.add(jwt({"alg": "HS256\u0000"}, user), "alg-nul")
    c.add(jwt({"alg": "HS256", "typ": "jwt"}, user), "typ-lower")
    c.add(jwt({"alg": "HS256", "crit": ["exp"]}, user), "crit")
    c.add(jwt({"typ": "JWT"}, user), "no-alg")
    c.add(jwt(["HS256"], user), "header-array")
    tok = jwt(hs, user)
    c.add(tok[:-1], "sig-cut")
    c.add(tok + b".", "four-parts")
    c.add(tok.replace(b".", b"=.", 1), "padded-header")
    c.add(tok[:-1] + (b"N" if tok[-1:] != b"N" else b"M"), "sig-last-char")
    c.add(b"Bearer " + tok, "with-bearer")
    c.add(b"..", "dots")
    c.add(b"", "empty")
    return c.n


def jwt_sign():
    c = Corpus("fuzz_jwt_sign")

    def s(mode, idx, x, p, label):
        c.add(bytes([mode]) + struct.pack(">H", idx) + bytes([x]) + p, label)

    s(0x00, 0, 1, b"alice@example.com", "hs-built")
    s(0x20 | 0x01, 40, 0x20, b"bob@example.com", "hs-built-user-notyp")
    s(0x40 | 0x02, 90, 0x01, b"root@example.com", "hs-built-admin-kid")
    s(0x60 | 0x03, 7, 0x80, b"svc-metering", "hs-built-service-blanks")
    s(0x80, 3, 0x02, b"sweep@example.com", "hs-built-sweep")
    s(0x08, 200, 0x01, b"carol@example.com", "rs-built")
    s(0x10, 12, 0x04,
      b'{"sub":"alice@example.com","exp":4102444800,"role":"admin"}', "hs-raw")
    s(0x18, 300, 0x01, b'{"sub":"dave","exp":4102444800.5,"nbf":1699999990}',
      "rs-raw")
    s(0x10, 0, 1, b'{"sub":"alice","exp":1}', "hs-raw-expired")
    s(0x10, 0, 1, b'{"sub":"","exp":4102444800}', "hs-raw-empty-sub")
    s(0x10, 0, 1, b'not json', "hs-raw-not-json")
    for v in range(4, 8):
        s(v, 0, 1, b"alice@example.com", "bad-header-%d" % v)
    return c.n


def signature():
    c = Corpus("fuzz_signature")
    bodies = [b'{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}',
              b"", b"a\x00b", b'{"id":"evt_2"}\n']

    def add(sel, header, body, label):
        c.add(bytes([sel]) + header + b"\n" + body, label)

    for i, body in enumerate(bodies):
        add(1, stripe_header(SECRET_A, NOW, body), body, "valid-a-%d" % i)
    body = bodies[0]
    good = stripe_header(SECRET_A, NOW, body)
    mac = good.split(b"v1=")[1]
    mac_b = stripe_header(SECRET_B, NOW, body).split(b"v1=")[1]
    add(2, stripe_header(SECRET_B, NOW, body), body, "valid-b-rotation")
    add(3, stripe_header(SECRET_A, NOW, body), body, "valid-odd-list")
    add(0, good, body, "no-secrets")
    add(1 | 4, good, body, "stale")
    add(1, stripe_header(SECRET_A, NOW - 300, body), body, "edge-300")
    add(1, stripe_header(SECRET_A, NOW + 301, body), body, "future-301")
    add(1, b"t=%d,v0=%s,v1=%s" % (NOW, b"0" * 64, mac), body, "v0-then-v1")
    add(1, b"v1=%s,t=%d" % (mac, NOW), body, "v1-first")
    add(2, b"t=%d,v1=%s,v1=%s" % (NOW, b"0" * 64, mac_b), body, "two-v1")
    add(1, b"t=%d,v1=%s" % (NOW, mac.upper()), body, "upper-hex")
    add(1, b"t=%d, v1=%s" % (NOW, mac), body, "blank")
    add(1, b"t=%d,t=%d,v1=%s" % (NOW, NOW, mac), body, "two-t")
    add(1, b"t=0%d,v1=%s" % (NOW, mac), body, "t-leading-zero")
    add(1, b"t=99999999999999999999,v1=%s" % mac, body, "t-overflow")
    add(1, b"t=-1,v1=%s" % mac, body, "t-negative")
    add(1, b"t=%d,v1=%s," % (NOW, mac), body, "trailing-comma")
    add(1, b"t=%d,v1=%s0" % (NOW, mac), body, "v1-65")
    add(1, b"t=%d,v1" % NOW, body, "no-equals")
    add(1, b"t=%d,averyveryverylongscheme=1,v1=%s" % (NOW, mac), body,
        "long-scheme")
    add(1, b"t=%d" % NOW, body, "no-v1")
    add(1, b"", body, "empty")
    add(1, b"t=%d,v1=%s" % (NOW, mac) + b",v0=" + b"x" * 1000, body, "too-long")
    return c.n


def signature_sign():
    c = Corpus("fuzz_signature_sign")

    def s(idx, x, flags, skew, small, secret, body, t=None, label=""):
        head = struct.pack(">HBBHB", idx, x, flags | len(secret), skew + 400,
                           small)
        if t is not None:
            head += struct.pack(">q", t)
        c.add(head + secret + body, label)

    body = b'{"id":"evt_1","type":"invoice.paid"}'
    s(0, 1, 0, 0, 79, SECRET_A, body, label="basic")
    s(5, 0x20, 0, 300, 10, SECRET_A, body, label="skew-300")
    s(70, 0x01, 0, -301, 0, SECRET_B, body, label="skew-minus-301")
    s(80, 0x0f, 0, 0, 78, b"whsec_x", b"", label="empty-body")
    s(81, 0x0f, 0, 0, 30, b"", body, label="empty-secret")
    s(3, 1, 0x80, 12, 40, SECRET_A, body, t=2**63 - 1, label="t-max")
    s(3, 1, 0x80, -12, 40, SECRET_A, body, t=0, label="t-zero")
    s(3, 1, 0x40, 0, 40, SECRET_A, body, label="t-negative")
    s(9, 1, 0, 0, 79, SECRET_A, b"a\x00b\xff" * 20, label="binary-body")
    return c.n


CONFIG_FULL = """{
  "enabled": true,
  "billingMode": "usage",
  "computeRates": {
    "cpu_per_core_hour": 0.05,
    "memory_per_gb_hour": 0.01,
    "storage_per_gb_month": 0.10
  },

  "stripeEnabled": true,
  "stripeSecretKey": "sk_live_...",
  "stripeWebhookSecret": "whsec_...",

  "subscriptionPlans": [
    {
      "id": "free",
      "name": "Free Tier",
      "price": 0,
      "interval": "month",
      "cpu_limit": 2,
      "memory_limit": 4,
      "storage_limit": 10
    },
    {
      "id": "pro",
      "name": "Professional",
      "price": 29.99,
      "interval": "month",
      "cpu_limit": 8,
      "memory_limit": 16,
      "storage_limit": 100,
      "stripe_price_id": "price_pro"
    },
    {
      "id": "enterprise",
      "name": "Enterprise",
      "price": 99.99,
      "interval": "month",
      "cpu_limit": 32,
      "memory_limit": 64,
      "storage_limit": 500,
      "stripe_price_id": "price_enterprise"
    }
  ],
  "defaultPlan": "free",

  "usageCalculationInterval": "0 * * * *",
  "invoiceDay": 1,
  "alertThreshold": 80,
  "autoSuspendOnOverage": false,
  "gracePeriodDays": 7,

  "database": {
    "socket": "/run/mysqld/mysqld.sock",
    "user": "billing",
    "name": "billing"
  },
  "listen": "unix:/run/streamspace-billing/billingd.sock",
  "listenMode": "0660",
  "workers": 4,
  "maxRequests": 10000,

  "jwtSecret": "replace-me-with-32-or-more-random-bytes",
  "currency": "usd",
  "invoiceDueDays": 14,
  "invoiceDraftHours": 0,
  "sessionTimeoutMinutes": 15,

  "eventsWebhookUrl": "https://streamspace.example.com/api/webhooks/billing",
  "eventsWebhookSecret": "replace-me",
  "platformSuspendUrl": "https://streamspace.example.com/api/internal/suspend",
  "publicBaseUrl": "https://streamspace.example.com",
  "stripeApiBase": "https://api.stripe.com"
}
"""


def config():
    c = Corpus("fuzz_config")
    c.add(CONFIG_FULL, "docs-full-example")
    js = '"jwtSecret": "0123456789abcdef0123456789abcdef"'

    def cfg(extra, label):
        c.add("{" + js + ("," + extra if extra else "") + "}", label)

    cfg("", "minimal")
    c.add("{}", "empty-object")
    cfg('"billingMode": "hybrid", "subscriptionPlans": [{"id": "p", "name": "P", '
        '"price": "9.99", "interval": "year", "cpu_limit": 0.5, "memory_limit": "1", '
        '"storage_limit": 0}], "defaultPlan": "p"', "hybrid")
    cfg('"billingMode": "subscription"', "subscription-no-plans")
    cfg('"stripeWebhookSecret": ["whsec_new", "whsec_old"]', "secrets-array")
    cfg('"stripeWebhookSecret": "whsec_a, whsec_b,\\twhsec_c"', "secrets-csv")
    cfg('"stripeWebhookSecret": "whsec_a,,whsec_b"', "secrets-empty-item")
    cfg('"stripeWebhookSecret": "a,b,c,d,e,f,g,h,i"', "secrets-nine")
    cfg('"listen": "127.0.0.1:9000", "listenMode": 432', "listen-tcp")
    cfg('"listen": "[::1]:9000"', "listen-ipv6")
    cfg('"listen": "/' + "x" * 120 + '"', "listen-long-path")
    cfg('"listenMode": "0777"', "mode-string")
    cfg('"listenMode": 660', "mode-decimal")
    cfg('"workers": null, "database": {"host": "db", "port": 3306, '
        '"password": "pw", "readTimeoutSeconds": 30}', "database")
    cfg('"invoiceDay": 29', "invoice-day-29")
    cfg('"computeRates": {"cpu_per_core_hour": 1e-2}', "rate-exponent")
    cfg('"computeRates": {"cpu_per_core_hour": -0.01}', "rate-negative")
    cfg('"computeRates": {"cpu_per_core_hour": 0.0000001}', "rate-7-decimals")
    cfg('"currency": "EUR"', "currency-upper")
    cfg('"usageCalculationInterval": "*/5 * * * MON"', "cron")
    cfg('"invoiceday": 1', "unknown-key")
    cfg('"stripeEnabled": true', "stripe-no-key")
    cfg('"eventsWebhookUrl": "https://x.example/h"', "events-no-secret")
    cfg('"platformSuspendUrl": "ftp://x"', "bad-url")
    cfg('"subscriptionPlans": [{"id": "a", "name": "A", "price": 1, "cpu_limit": 1, '
        '"memory_limit": 1, "storage_limit": 1, "stripe_price_id": "p"}, '
        '{"id": "b", "name": "B", "price": 1.001, "cpu_limit": 1, "memory_limit": 1, '
        '"storage_limit": 1, "stripe_price_id": "p"}]', "plans-dup-price")
    cfg('"subscriptionPlans": [{"id": "a", "name": "A", "price": 1, "cpu_limit": 1, '
        '"memory_limit": 1, "storage_limit": 1}, {"id": "a", "name": "A2", '
        '"price": 2, "cpu_limit": 1, "memory_limit": 1, "storage_limit": 1}]',
        "plans-dup-id")
    cfg('"defaultPlan": "nope"', "default-plan-missing")
    cfg('"jwtSecret": "short"', "jwt-secret-short")
    cfg('"name\\u0000x": 1', "nul-in-key")
    c.add("{" + js + "} trailing", "trailing-data")
    c.add("[" * 17 + "]" * 17, "too-deep")
    c.add("{" + js + ",}", "trailing-comma")
    return c.n


def main():
    total = 0
    for gen in (json_body, query, money, jwts, jwt_sign, signature,
                signature_sign, config):
        total += gen()
    print("wrote %d seeds under %s" % (total, os.path.relpath(CORPUS)))


if __name__ == "__main__":
    sys.exit(main())
