#!/usr/bin/env python3
"""A local stand-in for Stripe's API, for the tests and the dev stack.

It speaks Stripe's wire format: form-encoded bodies with bracketed keys
(line_items[0][price]=..., metadata[user_id]=...), "Authorization: Bearer
sk_...", JSON answers in the shapes of Stripe's own fixtures (fixtures3.json:
customer, checkout.session, payment_method, invoice, invoiceitem, list and
error objects), Request-Id on every answer, and Idempotency-Key like Stripe:
the same key with the same parameters replays the first answer (with
"Idempotent-Replayed: true"), the same key with other parameters is a 400
idempotency_error, and a key whose first request is still running gets a
409.  Lists paginate with limit/has_more/starting_after, newest first.

Endpoints: POST/GET /v1/customers[/{id}], GET
/v1/customers/{id}/payment_methods, POST/GET /v1/checkout/sessions[/{id}],
POST /v1/billing_portal/sessions,
POST/GET /v1/invoiceitems, POST/GET /v1/invoices[/{id}], POST
/v1/invoices/{id}/finalize.  Anything else is Stripe's 404.

Every /v1 request is recorded (method, path, query, form, headers) and
faults can be injected for the next N requests: an HTTP error (500, 429,
400...) with or without "Stripe-Should-Retry", a slow answer, a stall that
ends in a dropped connection, or a dropped connection at once.  Injected
faults happen before the idempotency layer, so they are never replayed.

Use it in-process (tests):

    s = Standin().start()        # a free port on 127.0.0.1
    s.url                        # http://127.0.0.1:PORT
    s.fault("500", count=1)      # the next request answers 500
    s.requests(path="/v1/customers", method="POST")
    s.seed_payment_methods("cus_...", 120)
    s.stop()

or standalone, with the same controls over HTTP under /_standin/:

    python3 tests/stripe_standin.py --port 12111
    GET    /_standin/requests[?path=&method=]   DELETE /_standin/requests
    POST   /_standin/faults {"kind", "count", "path"?, "method"?, "status"?,
                             "should_retry"?, "delay"?, "message"?}
    DELETE /_standin/faults
    POST   /_standin/payment_methods {"customer", "count", "type"?}
    GET    /_standin/objects/{customers,checkout_sessions,invoices,invoiceitems}
    POST   /_standin/reset

Python 3.11 standard library only.
"""

import argparse
import copy
import json
import os
import random
import socket
import string
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def suite_clock():
    """Seconds since the epoch on the suites' clock: the real one shifted by
    BILLING_TEST_OFFSET (scripts/stack.py sets it when BILLING_SUITE_NOW
    moves the suites to another date)."""
    return time.time() + int(os.environ.get("BILLING_TEST_OFFSET") or 0)

ALNUM = string.ascii_letters + string.digits


def new_id(prefix, n=24):
    return prefix + "".join(random.choice(ALNUM) for _ in range(n))


# -- Stripe's shapes (trimmed from fixtures3.json) ---------------------------

def customer_obj(cid, form, now):
    return {
        "id": cid, "object": "customer",
        "address": None, "balance": 0, "created": now, "currency": None,
        "default_source": None, "delinquent": False,
        "description": form.get("description"), "discount": None,
        "email": form.get("email"), "invoice_prefix": cid[4:12].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False, "metadata": nested(form).get("metadata", {}),
        "name": form.get("name"), "next_invoice_sequence": 1, "phone": None,
        "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        "test_clock": None,
    }


def session_obj(sid, form, now):
    n = nested(form)
    return {
        "id": sid, "object": "checkout.session",
        "after_expiration": None, "allow_promotion_codes": None,
        "amount_subtotal": None, "amount_total": None,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None, "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"), "client_secret": None,
        "consent": None, "consent_collection": None, "created": now, "currency": None,
        "custom_fields": [], "customer": form.get("customer"), "customer_creation": None,
        "customer_details": None, "customer_email": form.get("customer_email"),
        "expires_at": now + 86400, "invoice": None, "invoice_creation": None,
        "livemode": False, "locale": None, "metadata": n.get("metadata", {}),
        "mode": form.get("mode"), "payment_intent": None, "payment_link": None,
        "payment_method_collection": "always", "payment_method_options": {},
        "payment_method_types": ["card"], "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "setup_intent": None, "shipping_address_collection": None,
        "shipping_cost": None, "shipping_options": [], "status": "open",
        "submit_type": None, "subscription": None, "success_url": form.get("success_url"),
        "total_details": None, "ui_mode": "hosted",
        "url": "https://checkout.stripe.com/c/pay/" + sid,
    }


def portal_session_obj(sid, form, now):
    return {
        "id": sid, "object": "billing_portal.session",
        "configuration": "bpc_standin_default", "created": now,
        "customer": form.get("customer"), "flow": None, "livemode": False,
        "locale": form.get("locale"), "on_behalf_of": None,
        "return_url": form.get("return_url"),
        "url": "https://billing.stripe.com/p/session/" + sid,
    }


def payment_method_obj(pmid, customer, now, pm_type="card", i=0):
    brands = ["visa", "mastercard", "amex", "discover"]
    obj = {
        "id": pmid, "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": {"city": "San Francisco", "country": "US",
                                        "line1": "1234 Fake Street", "line2": None,
                                        "postal_code": "94102", "state": "CA"},
                            "email": "jenny@example.com", "name": None,
                            "phone": "+15555555555", "tax_id": None},
        "created": now, "customer": customer, "livemode": False, "metadata": {},
        "type": pm_type,
    }
    if pm_type == "card":
        obj["card"] = {
            "brand": brands[i % len(brands)],
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "display_brand": brands[i % len(brands)],
            "exp_month": 1 + i % 12, "exp_year": 2030 + i % 5,
            "fingerprint": new_id("", 16), "funding": "credit",
            "generated_from": None, "last4": "%04d" % (4242 + i),
            "networks": {"available": [brands[i % len(brands)]], "preferred": None},
            "three_d_secure_usage": {"supported": True}, "wallet": None,
        }
    else:
        obj[pm_type] = {}
    return obj


def invoiceitem_obj(iid, form, now):
    amount = int(form["amount"])
    return {
        "id": iid, "object": "invoiceitem", "amount": amount,
        "currency": form.get("currency", "usd"), "customer": form.get("customer"),
        "date": now, "description": form.get("description"), "discountable": amount >= 0,
        "discounts": [], "invoice": form.get("invoice"), "livemode": False,
        "metadata": nested(form).get("metadata", {}),
        "period": {"end": now, "start": now}, "proration": False, "quantity": 1,
        "tax_rates": [], "test_clock": None,
        "parent": None, "pricing": {"type": "price_details", "unit_amount_decimal": str(amount)},
        "net_amount": amount, "customer_account": None, "quantity_decimal": "1",
    }


def invoice_obj(inv_id, form, now):
    n = nested(form)
    return {
        "id": inv_id, "object": "invoice", "account_country": "US", "account_name": None,
        "amount_due": 0, "amount_paid": 0, "amount_remaining": 0, "amount_shipping": 0,
        "attempt_count": 0, "attempted": False,
        "auto_advance": form.get("auto_advance", "true") == "true",
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": "manual",
        "collection_method": form.get("collection_method", "charge_automatically"),
        "created": now, "currency": form.get("currency", "usd"),
        "customer": form.get("customer"), "customer_email": None,
        "default_payment_method": None, "description": form.get("description"),
        "discounts": [], "due_date": None, "effective_at": None, "ending_balance": None,
        "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": {"object": "list", "data": [], "has_more": False,
                  "url": "/v1/invoices/%s/lines" % inv_id},
        "livemode": False, "metadata": n.get("metadata", {}), "number": None,
        "paid_out_of_band": False, "parent": None, "period_end": now, "period_start": now,
        "status": "draft", "status_transitions": {"finalized_at": None, "paid_at": None,
                                                  "voided_at": None},
        "subtotal": 0, "total": 0,
    }


def error_obj(message, etype="invalid_request_error", code=None, param=None):
    e = {"message": message, "type": etype,
         "request_log_url": "https://dashboard.stripe.com/test/logs"}
    if code:
        e["code"] = code
        e["doc_url"] = "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
    if param:
        e["param"] = param
    return {"error": e}


def nested(form):
    """{"metadata[user_id]": "x", "line_items[0][price]": "p"} as
    {"metadata": {"user_id": "x"}, "line_items": [{"price": "p"}]}."""
    root = {}
    for key, value in form.items():
        parts = key.replace("]", "").split("[")
        d = root
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                break
        else:
            d[parts[-1]] = value

    def lists(v):
        if isinstance(v, dict):
            v = {k: lists(x) for k, x in v.items()}
            if v and all(k.isdigit() for k in v):
                return [v[k] for k in sorted(v, key=int)]
        return v
    return lists(root)


class StripeError(Exception):
    def __init__(self, status, message, etype="invalid_request_error", code=None,
                 param=None):
        super().__init__(message)
        self.status = status
        self.body = error_obj(message, etype, code, param)


def missing(kind, oid, param="id"):
    return StripeError(404 if param == "id" else 400, "No such %s: '%s'" % (kind, oid),
                       code="resource_missing", param=param)


# -- the state -----------------------------------------------------------------

class Standin:
    """The fake Stripe: objects, the request log, faults, the server."""

    def __init__(self, host="127.0.0.1", port=0, secret_key=None):
        self.host = host
        self.port = port
        self.secret_key = secret_key   # None: any sk_test_/sk_live_ key
        self.lock = threading.RLock()
        self.server = None
        self.thread = None
        self.reset()

    # -- control ---------------------------------------------------------

    def reset(self):
        with self.lock:
            self.customers = {}
            self.sessions = {}
            self.portal_sessions = {}
            self.subscriptions = {}
            self.invoices = {}
            self.items = {}
            self.payment_methods = {}     # customer -> [pm], oldest first
            self.log = []
            self.faults = []
            self.idem = {}                # key -> (fingerprint, status, body)
            self.in_flight = set()
            self.seq = 0

    def start(self):
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer((self.host, self.port), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def requests(self, path=None, method=None, prefix=None):
        """The recorded /v1 requests (copies), oldest first."""
        with self.lock:
            return [copy.deepcopy(r) for r in self.log
                    if (path is None or r["path"] == path)
                    and (prefix is None or r["path"].startswith(prefix))
                    and (method is None or r["method"] == method)]

    def clear_requests(self):
        with self.lock:
            self.log = []

    def fault(self, kind, count=1, path=None, method=None, status=None,
              should_retry=None, delay=None, message=None):
        """The next count requests (matching path prefix and method) fail.
        kind: "500", "429", "error" (status given), "slow" (delay, then the
        real answer), "stall" (delay, then the connection is dropped),
        "drop" (dropped at once).  should_retry: None (no header), True or
        False (Stripe-Should-Retry)."""
        if kind in ("500", "429", "400", "402", "409", "503"):
            status, kind = int(kind), "error"
        with self.lock:
            self.faults.append({"kind": kind, "count": count, "path": path,
                                "method": method, "status": status or 500,
                                "should_retry": should_retry, "delay": delay or 0,
                                "message": message})

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def seed_subscription(self, customer, price, metadata=None):
        """A live subscription of customer to price, as Checkout would leave
        it (shape of fixtures3.json's subscription, reduced)."""
        now = int(suite_clock())
        with self.lock:
            sid = new_id("sub_", 14)
            self.subscriptions[sid] = {
                "id": sid, "object": "subscription", "customer": customer,
                "status": "active", "cancel_at_period_end": False,
                "metadata": dict(metadata or {}), "created": now,
                "items": {"object": "list", "has_more": False, "url": "/v1/subscription_items",
                          "data": [{"id": new_id("si_", 14), "object": "subscription_item",
                                    "price": {"id": price, "object": "price"}, "quantity": 1,
                                    "current_period_start": now,
                                    "current_period_end": now + 30 * 86400}]}}
            return dict(self.subscriptions[sid])

    def _update_subscription(self, sid, form):
        if sid not in self.subscriptions:
            raise missing("subscription", sid)
        sub = self.subscriptions[sid]
        if "cancel_at_period_end" in form:
            sub["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
        if "items[0][id]" in form:
            for item in sub["items"]["data"]:
                if item["id"] == form["items[0][id]"] and "items[0][price]" in form:
                    item["price"] = {"id": form["items[0][price]"], "object": "price"}
        for k, v in form.items():
            if k.startswith("metadata[") and k.endswith("]"):
                sub["metadata"][k[9:-1]] = v
        return sub

    def seed_payment_methods(self, customer, count, pm_type="card"):
        with self.lock:
            pms = self.payment_methods.setdefault(customer, [])
            made = []
            for _ in range(count):
                self.seq += 1
                pm = payment_method_obj(new_id("pm_"), customer, int(suite_clock()),
                                        pm_type, len(pms))
                pm["_seq"] = self.seq
                pms.append(pm)
                made.append(public(pm))
            return made

    def objects(self, kind):
        with self.lock:
            table = {"customers": self.customers, "checkout_sessions": self.sessions,
                     "billing_portal_sessions": self.portal_sessions,
                     "invoices": self.invoices, "invoiceitems": self.items}[kind]
            return [public(self._render(kind, o)) for o in table.values()]

    # -- the API ---------------------------------------------------------

    def _next(self, obj):
        self.seq += 1
        obj["_seq"] = self.seq
        return obj

    def _render(self, kind, obj):
        if kind == "invoices":
            obj = copy.deepcopy(obj)
            lines = [i for i in sorted(self.items.values(), key=lambda x: x["_seq"])
                     if i["invoice"] == obj["id"]]
            obj["lines"]["data"] = [{
                "id": "il_" + i["id"][3:], "object": "line_item", "amount": i["amount"],
                "currency": i["currency"], "description": i["description"],
                "invoice": obj["id"], "livemode": False, "metadata": i["metadata"],
                "period": i["period"], "quantity": 1,
                "parent": {"type": "invoice_item_details",
                           "invoice_item_details": {"invoice_item": i["id"],
                                                    "proration": False,
                                                    "subscription": None}},
            } for i in lines]
            total = sum(i["amount"] for i in lines)
            obj["subtotal"] = obj["total"] = total
            if obj["status"] in ("draft", "open"):
                obj["amount_due"] = obj["amount_remaining"] = total
            else:
                obj["amount_due"] = total
        return obj

    def _customer(self, cid, param="customer"):
        if cid not in self.customers:
            raise missing("customer", cid, param)
        return self.customers[cid]

    def handle(self, method, path, form):
        """Routes one authenticated, idempotency-checked /v1 request.
        Returns (status, body)."""
        now = int(suite_clock())
        parts = path.strip("/").split("/")
        with self.lock:
            if path == "/v1/customers" and method == "POST":
                c = self._next(customer_obj(new_id("cus_", 14), form, now))
                self.customers[c["id"]] = c
                return 200, c
            if len(parts) == 3 and parts[1] == "customers" and method == "GET":
                return 200, self._customer(parts[2], "id")
            if (len(parts) == 4 and parts[1] == "customers"
                    and parts[3] == "payment_methods" and method == "GET"):
                self._customer(parts[2], "customer")
                pms = self.payment_methods.get(parts[2], [])
                if form.get("type"):
                    pms = [p for p in pms if p["type"] == form["type"]]
                return 200, self._page(pms, form, path)
            if path == "/v1/checkout/sessions" and method == "POST":
                return 200, self._create_session(form, now)
            if path == "/v1/billing_portal/sessions" and method == "POST":
                if not form.get("customer"):
                    raise StripeError(400, "Missing required param: customer.",
                                      code="parameter_missing", param="customer")
                self._customer(form["customer"])
                ps = self._next(portal_session_obj(new_id("bps_", 24), form, now))
                self.portal_sessions[ps["id"]] = ps
                return 200, ps
            if len(parts) == 4 and parts[1:3] == ["checkout", "sessions"] and method == "GET":
                if parts[3] not in self.sessions:
                    raise missing("checkout.session", parts[3])
                return 200, self.sessions[parts[3]]
            if len(parts) == 3 and parts[1] == "subscriptions":
                if method == "GET":
                    if parts[2] not in self.subscriptions:
                        raise missing("subscription", parts[2])
                    return 200, self.subscriptions[parts[2]]
                if method == "POST":
                    return 200, self._update_subscription(parts[2], form)
            if path == "/v1/invoiceitems" and method == "POST":
                return 200, self._create_item(form, now)
            if path == "/v1/invoiceitems" and method == "GET":
                items = list(self.items.values())
                if "customer" in form:
                    items = [i for i in items if i["customer"] == form["customer"]]
                if "invoice" in form:
                    items = [i for i in items if i["invoice"] == form["invoice"]]
                if form.get("pending") == "true":
                    items = [i for i in items if i["invoice"] is None]
                return 200, self._page(items, form, path)
            if path == "/v1/invoices" and method == "POST":
                return 200, self._create_invoice(form, now)
            if path == "/v1/invoices" and method == "GET":
                invs = list(self.invoices.values())
                if "customer" in form:
                    invs = [i for i in invs if i["customer"] == form["customer"]]
                if "status" in form:
                    invs = [i for i in invs if i["status"] == form["status"]]
                for op, fn in (("gte", lambda a, b: a >= b), ("gt", lambda a, b: a > b),
                               ("lte", lambda a, b: a <= b), ("lt", lambda a, b: a < b)):
                    if "created[%s]" % op in form:
                        bound = int(form["created[%s]" % op])
                        invs = [i for i in invs if fn(i["created"], bound)]
                return 200, self._page([self._render("invoices", i) for i in invs],
                                       form, path)
            if len(parts) == 3 and parts[1] == "invoices" and method == "GET":
                if parts[2] not in self.invoices:
                    raise missing("invoice", parts[2])
                return 200, self._render("invoices", self.invoices[parts[2]])
            if (len(parts) == 4 and parts[1] == "invoices" and parts[3] == "finalize"
                    and method == "POST"):
                return 200, self._finalize(parts[2], form, now)
            if (len(parts) == 4 and parts[1] == "invoices" and parts[3] == "void"
                    and method == "POST"):
                return 200, self._void(parts[2], now)
            if (len(parts) == 4 and parts[1] == "invoices" and parts[3] == "pay"
                    and method == "POST"):
                return 200, self._pay(parts[2], form, now)
        raise StripeError(404, "Unrecognized request URL (%s: %s). Please see "
                          "https://stripe.com/docs or we can help at "
                          "https://support.stripe.com/." % (method, path))

    def _page(self, objs, form, path):
        """A list page, newest first, after starting_after, limit (1-100)."""
        try:
            limit = int(form.get("limit", "10"))
        except ValueError:
            raise StripeError(400, "Invalid integer: %s" % form.get("limit"), param="limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "This value must be between 1 and 100 (it "
                              "currently is %d)." % limit, param="limit")
        objs = sorted(objs, key=lambda o: o["_seq"], reverse=True)
        after = form.get("starting_after")
        if after:
            ids = [o["id"] for o in objs]
            if after not in ids:
                raise StripeError(400, "No such object: '%s'" % after,
                                  code="resource_missing", param="starting_after")
            objs = objs[ids.index(after) + 1:]
        return {"object": "list", "data": [public(o) for o in objs[:limit]],
                "has_more": len(objs) > limit, "url": path}

    def _create_session(self, form, now):
        n = nested(form)
        mode = form.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise StripeError(400, "Missing required param: mode." if mode is None else
                              "Invalid mode: %s" % mode, code="parameter_missing"
                              if mode is None else "parameter_invalid_string", param="mode")
        if not form.get("success_url"):
            raise StripeError(400, "Missing required param: success_url.",
                              code="parameter_missing", param="success_url")
        if "customer" in form:
            self._customer(form["customer"])
        items = n.get("line_items")
        if mode != "setup":
            if not isinstance(items, list) or not items:
                raise StripeError(400, "Missing required param: line_items.",
                                  code="parameter_missing", param="line_items")
            for i, it in enumerate(items):
                if not isinstance(it, dict) or not str(it.get("price", "")).startswith("price_"):
                    raise StripeError(400, "No such price: '%s'" % (
                        it.get("price") if isinstance(it, dict) else it),
                        code="resource_missing", param="line_items[%d][price]" % i)
        s = self._next(session_obj(new_id("cs_test_", 58), form, now))
        self.sessions[s["id"]] = s
        return s

    def _create_item(self, form, now):
        cid = form.get("customer")
        if not cid:
            raise StripeError(400, "Missing required param: customer.",
                              code="parameter_missing", param="customer")
        self._customer(cid)
        try:
            int(form.get("amount", ""))
        except ValueError:
            raise StripeError(400, "Invalid integer: %s" % form.get("amount"),
                              code="parameter_invalid_integer", param="amount")
        if not form.get("currency"):
            raise StripeError(400, "Missing required param: currency.",
                              code="parameter_missing", param="currency")
        inv = form.get("invoice")
        if inv is not None:
            if inv not in self.invoices:
                raise missing("invoice", inv, "invoice")
            if self.invoices[inv]["customer"] != cid or self.invoices[inv]["status"] != "draft":
                raise StripeError(400, "You can only add invoice items to draft "
                                  "invoices of the same customer.",
                                  code="invoice_not_editable", param="invoice")
        item = self._next(invoiceitem_obj(new_id("ii_"), form, now))
        self.items[item["id"]] = item
        return item

    def _create_invoice(self, form, now):
        cid = form.get("customer")
        if not cid:
            raise StripeError(400, "Missing required param: customer.",
                              code="parameter_missing", param="customer")
        self._customer(cid)
        behavior = form.get("pending_invoice_items_behavior", "exclude")
        if behavior not in ("include", "exclude"):
            raise StripeError(400, "Invalid pending_invoice_items_behavior",
                              param="pending_invoice_items_behavior")
        inv = self._next(invoice_obj(new_id("in_"), form, now))
        self.invoices[inv["id"]] = inv
        if behavior == "include":
            for item in self.items.values():
                if item["customer"] == cid and item["invoice"] is None:
                    item["invoice"] = inv["id"]
        return self._render("invoices", inv)

    def _finalize(self, inv_id, form, now):
        if inv_id not in self.invoices:
            raise missing("invoice", inv_id)
        inv = self.invoices[inv_id]
        if inv["status"] != "draft":
            raise StripeError(400, "This invoice is already finalized, you can't "
                              "re-finalize a non-draft invoice.",
                              code="invoice_not_editable")
        if "auto_advance" in form:
            inv["auto_advance"] = form["auto_advance"] == "true"
        total = sum(i["amount"] for i in self.items.values() if i["invoice"] == inv_id)
        inv["status"] = "open" if total > 0 else "paid"
        inv["number"] = "%s-%04d" % (self.customers[inv["customer"]]["invoice_prefix"],
                                     len([i for i in self.invoices.values()
                                          if i["number"]]) + 1)
        inv["status_transitions"]["finalized_at"] = now
        inv["effective_at"] = now
        return self._render("invoices", inv)

    def _void(self, inv_id, now):
        """POST /v1/invoices/{id}/void: open or uncollectible invoices only."""
        if inv_id not in self.invoices:
            raise missing("invoice", inv_id)
        inv = self.invoices[inv_id]
        if inv["status"] not in ("open", "uncollectible"):
            raise StripeError(400, "You can only void invoices that are open or "
                              "uncollectible. This invoice is %s." % inv["status"])
        inv["status"] = "void"
        inv["auto_advance"] = False
        inv["status_transitions"]["voided_at"] = now
        return self._render("invoices", inv)

    def _pay(self, inv_id, form, now):
        """POST /v1/invoices/{id}/pay; only paid_out_of_band=true is
        modelled (no money moves)."""
        if inv_id not in self.invoices:
            raise missing("invoice", inv_id)
        inv = self.invoices[inv_id]
        if inv["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if inv["status"] not in ("open", "uncollectible"):
            raise StripeError(400, "You can only pay invoices that are open or "
                              "uncollectible. This invoice is %s." % inv["status"])
        if form.get("paid_out_of_band") != "true":
            raise StripeError(402, "The stand-in charges nothing: pay with "
                              "paid_out_of_band=true, or collect() it.",
                              etype="card_error", code="card_declined")
        total = self._render("invoices", inv)["total"]
        inv.update(status="paid", paid_out_of_band=True, amount_paid=total,
                   auto_advance=False)
        inv["status_transitions"]["paid_at"] = now
        return self._render("invoices", inv)

    def collect(self, inv_id):
        """Stripe charging an open invoice (what auto_advance does): it
        becomes paid with a payment intent.  Returns the invoice."""
        now = int(time.time())
        with self.lock:
            inv = self.invoices[inv_id]
            if inv["status"] != "open":
                raise ValueError("invoice %s is %s, not open" % (inv_id, inv["status"]))
            total = self._render("invoices", inv)["total"]
            # 2025-03-31.basil: the payment intent is under invoice.payments
            inv.update(status="paid", amount_paid=total, payments={
                "object": "list", "has_more": False, "data": [{
                    "id": new_id("inpay_"), "object": "invoice_payment",
                    "amount_paid": total, "currency": inv["currency"],
                    "invoice": inv_id, "is_default": True, "status": "paid",
                    "payment": {"type": "payment_intent",
                                "payment_intent": new_id("pi_")}}]})
            inv["status_transitions"]["paid_at"] = now
            return public(self._render("invoices", inv))

    # -- the wire --------------------------------------------------------

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and (f["path"] is None or path.startswith(f["path"])) \
                        and (f["method"] is None or f["method"] == method):
                    f["count"] -= 1
                    return dict(f)
        return None

    def check_auth(self, header):
        if not header or not header.startswith("Bearer "):
            raise StripeError(401, "You did not provide an API key. You need to provide "
                              "your API key in the Authorization header, using Bearer "
                              "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        key = header[7:]
        ok = key == self.secret_key if self.secret_key else \
            key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_"))
        if not ok:
            raise StripeError(401, "Invalid API Key provided: %s****%s"
                              % (key[:8], key[-4:]), etype="invalid_request_error",
                              code="api_key_invalid")

    def idempotent(self, key, fingerprint, method, path, form):
        """Runs the request once per key: (status, body, replayed)."""
        with self.lock:
            if key in self.in_flight:
                raise StripeError(409, "There is currently another in-progress request "
                                  "using this Idempotent Key (that probably means you "
                                  "submitted twice, and the other request is still going "
                                  "through): %s. Please try again later." % key,
                                  etype="idempotency_error")
            if key in self.idem:
                fp, status, body = self.idem[key]
                if fp != fingerprint:
                    raise StripeError(400, "Keys for idempotent requests can only be used "
                                      "with the same parameters they were first used "
                                      "with. Try using a key other than '%s' if you "
                                      "meant to execute a different request." % key,
                                      etype="idempotency_error")
                return status, copy.deepcopy(body), True
            self.in_flight.add(key)
        try:
            try:
                status, body = self.handle(method, path, form)
            except StripeError as e:
                status, body = e.status, e.body
            with self.lock:
                self.idem[key] = (fingerprint, status, copy.deepcopy(public(body)))
            return status, body, False
        finally:
            with self.lock:
                self.in_flight.discard(key)


def public(obj):
    """obj without our bookkeeping keys (those starting with "_")."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin = None   # set by Standin.start
    server_version = "stripe-standin/1"

    def setup(self):
        super().setup()
        # headers and body leave in two writes: no Nagle pause between them
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def send(self, status, body, headers=None):
        data = json.dumps(public(body), indent=2).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", new_id("req_", 14))
            self.send_header("Stripe-Version", self.headers.get("Stripe-Version")
                             or "2025-03-31.basil")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def dispatch(self):
        s = self.standin
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith("/_standin/"):
            return self.control(path, url.query, raw)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"),
                                       keep_blank_values=True)
        form = dict(pairs) if self.command == "POST" else query
        with s.lock:
            s.log.append({"method": self.command, "path": path, "query": query,
                          "form": dict(pairs), "raw_body": raw.decode("utf-8", "replace"),
                          "headers": {k: v for k, v in self.headers.items()},
                          "peer": self.client_address[1], "at": time.time()})
        fault = s.take_fault(self.command, path)
        if fault is not None:
            if fault["kind"] == "drop":
                return self.drop()
            if fault["kind"] in ("slow", "stall"):
                time.sleep(fault["delay"])
                if fault["kind"] == "stall":
                    return self.drop()
            elif fault["kind"] == "error":
                headers = {}
                if fault["should_retry"] is not None:
                    headers["Stripe-Should-Retry"] = "true" if fault["should_retry"] \
                        else "false"
                status = fault["status"]
                etype = "api_error" if status >= 500 else "invalid_request_error"
                code = "rate_limit" if status == 429 else None
                msg = fault["message"] or ("Too many requests hit the API too quickly."
                                           if status == 429 else
                                           "An unknown error occurred" if status >= 500
                                           else "Injected error")
                return self.send(status, error_obj(msg, etype, code), headers)
        try:
            s.check_auth(self.headers.get("Authorization"))
            key = self.headers.get("Idempotency-Key")
            if self.command == "POST" and key:
                fp = (self.command, path, tuple(sorted(pairs)))
                status, body, replayed = s.idempotent(key, fp, self.command, path, form)
                headers = {"Idempotency-Key": key}
                if replayed:
                    headers["Idempotent-Replayed"] = "true"
                return self.send(status, body, headers)
            status, body = s.handle(self.command, path, form)
            return self.send(status, body)
        except StripeError as e:
            return self.send(e.status, e.body)

    def control(self, path, query, raw):
        s = self.standin
        q = dict(urllib.parse.parse_qsl(query))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.send(400, {"error": "bad JSON"})
        if path == "/_standin/requests" and self.command == "GET":
            return self.send(200, {"requests": s.requests(q.get("path"), q.get("method"))})
        if path == "/_standin/requests" and self.command == "DELETE":
            s.clear_requests()
            return self.send(200, {"ok": True})
        if path == "/_standin/faults" and self.command == "POST":
            s.fault(body.get("kind", "500"), int(body.get("count", 1)), body.get("path"),
                    body.get("method"), body.get("status"), body.get("should_retry"),
                    body.get("delay"), body.get("message"))
            return self.send(200, {"ok": True})
        if path == "/_standin/faults" and self.command == "DELETE":
            s.clear_faults()
            return self.send(200, {"ok": True})
        if path == "/_standin/payment_methods" and self.command == "POST":
            return self.send(200, {"data": s.seed_payment_methods(
                body["customer"], int(body.get("count", 1)), body.get("type", "card"))})
        if path.startswith("/_standin/objects/") and self.command == "GET":
            try:
                return self.send(200, {"data": s.objects(path.rsplit("/", 1)[1])})
            except KeyError:
                return self.send(404, {"error": "no such kind"})
        if path == "/_standin/reset" and self.command == "POST":
            s.reset()
            return self.send(200, {"ok": True})
        return self.send(404, {"error": "no such control"})


def main(argv):
    ap = argparse.ArgumentParser(description="A local stand-in for Stripe's API.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--key", default=None, help="the only secret key accepted "
                    "(default: any sk_test_/sk_live_ key)")
    args = ap.parse_args(argv[1:])
    s = Standin(args.host, args.port, args.key).start()
    print("stripe stand-in listening on %s (STRIPE_API_BASE=%s)" % (s.url, s.url),
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
