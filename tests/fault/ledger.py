"""The ledger checks every fault test ends with: whatever was killed,
stopped or dropped, what the database holds must still add up.

    problems = ledger_problems(sql)      # sql(text) -> rows of strings
    FaultCase.assertLedger()             # the same, as an assertion

What is checked (docs/billing.md, docs/webhooks.md):

invoices
  - one live (not void) invoice per account and period, and no two live
    invoices of an account overlap;
  - subtotal = the sum of its lines; total = subtotal - credits >= 0;
    credits = the sum of its credit applications; lines numbered 1..n;
    a scheduled invoice has at least one line (nothing half-written);
  - a usage-mode invoice's subtotal = its usage records' costs, summed per
    resource and unit price and rounded to cents (records and lines were
    written in one transaction); no record points at a void invoice; no
    record lies behind its account's watermark (billed_through) on no
    invoice (it would never be billed);
  - each credit: amount - remaining = what live invoices took from it;
  - finalized (finalized_at set) <=> numbered; drafts have no number;
    INV-YYYY-NNNNNN with YYYY the year of finalization; per year the numbers
    are exactly 1..N (gap-free, no duplicates) and the counter row says N;
  - one billing.invoice.created event per finalized invoice, one
    billing.invoice.paid event per paid invoice;
credit notes and refunds (docs/billing.md, "Credit notes")
  - an invoice's credit_notes = the sum of its credit notes <= its total;
    no line is credited beyond its amount; no credit note on a draft;
  - amount due = total - credit notes - succeeded payments, never negative
    for an unpaid invoice; for a paid one the credit notes that lowered
    what was due plus the payments never exceed the total;
  - a credit note settled by refund has its refund of the same amount, one
    credited to the balance its credit of the same amount, one that lowered
    what was due neither; a payment's refunds never exceed it;
  - CN-YYYY-NNNNNN numbers are exactly 1..N per year (gap-free, the counter
    row says N); one billing.credit_note.created event per credit note and
    one billing.refund.created per refund;
payments and Stripe events
  - each Stripe event id is recorded once (billing_stripe_events) and each
    payment a Stripe event made can be traced to one: a failed payment's
    key names a recorded event, there are never more Stripe payment rows
    than recorded payment events, a Stripe invoice or payment intent has at
    most one succeeded payment, and a paid invoice has exactly one;
plan changes (docs/billing.md, "Plan changes")
  - each upgrade's proration pair never lowers an invoice: credit <= 0 <=
    charge and credit + charge >= 0 (the rest of a larger credit went to
    the credit balance);
  - a live scheduled invoice's proration lines are exactly the recorded
    amounts of the account's local upgrades in its period, and carry no
    other; a plan Stripe collects is never prorated here;
usage
  - every daily total equals its records (quantity, cost, count) and every
    record has its daily total; segments' metered_cost equals their
    records; no segment, resource and hour is metered twice;
  - per day, the total over every account (billing_usage_day_totals, what
    GET admin/summary reads) equals the sum of the accounts' daily totals,
    cost to the micro-unit and record count, and every day with daily
    totals has one.
"""

import re

NUMBER = re.compile(r"^INV-(\d{4})-(\d{6})$")
CN_NUMBER = re.compile(r"^CN-(\d{4})-(\d{6})$")

# (what is wrong, SQL that returns the offending rows: none when all is well)
CHECKS = [
    ("two live invoices for one account and period",
     "SELECT account_id, period_start, COUNT(*) FROM billing_invoices "
     "WHERE status <> 'void' GROUP BY account_id, period_start HAVING COUNT(*) > 1"),
    ("live invoices of one account overlap",
     "SELECT a.id, b.id FROM billing_invoices a JOIN billing_invoices b "
     "ON b.account_id = a.account_id AND b.id > a.id "
     "WHERE a.status <> 'void' AND b.status <> 'void' "
     "AND a.period_start < b.period_end AND b.period_start < a.period_end LIMIT 20"),
    ("subtotal is not the sum of the lines",
     "SELECT i.id, i.subtotal, COALESCE(SUM(l.amount), 0) FROM billing_invoices i "
     "LEFT JOIN billing_invoice_lines l ON l.invoice_id = i.id "
     "GROUP BY i.id, i.subtotal HAVING i.subtotal <> COALESCE(SUM(l.amount), 0) LIMIT 20"),
    ("total is not subtotal - credits, or is negative",
     "SELECT id, subtotal, credits, total FROM billing_invoices "
     "WHERE total <> subtotal - credits OR total < 0 OR credits < 0 LIMIT 20"),
    ("credits are not the sum of the credit applications",
     "SELECT i.id, i.credits, COALESCE(SUM(ca.amount), 0) FROM billing_invoices i "
     "LEFT JOIN billing_credit_applications ca ON ca.invoice_id = i.id "
     "GROUP BY i.id, i.credits HAVING i.credits <> COALESCE(SUM(ca.amount), 0) LIMIT 20"),
    ("lines are not numbered 1..n",
     "SELECT invoice_id, MIN(line_no), MAX(line_no), COUNT(*) FROM billing_invoice_lines "
     "GROUP BY invoice_id HAVING MIN(line_no) <> 1 OR MAX(line_no) <> COUNT(*) LIMIT 20"),
    ("a scheduled invoice without lines (half-written)",
     "SELECT i.id FROM billing_invoices i WHERE i.kind = 'scheduled' AND NOT EXISTS "
     "(SELECT 1 FROM billing_invoice_lines l WHERE l.invoice_id = i.id) LIMIT 20"),
    ("a usage invoice's subtotal differs from its usage records",
     "SELECT i.id, i.subtotal, COALESCE(u.amount, 0) FROM billing_invoices i "
     "LEFT JOIN (SELECT invoice_id, SUM(amount) AS amount FROM "
     "(SELECT invoice_id, ROUND(SUM(total_cost), 2) AS amount FROM billing_usage_billed "
     "WHERE invoice_id IS NOT NULL GROUP BY invoice_id, resource_type, unit, unit_price) g "
     "GROUP BY invoice_id) u ON u.invoice_id = i.id "
     "WHERE i.billing_mode = 'usage' AND i.status <> 'void' "
     "AND i.subtotal <> COALESCE(u.amount, 0) LIMIT 20"),
    ("a usage record is still tied to a void invoice",
     "SELECT r.id, r.invoice_id FROM billing_usage_billed r "
     "JOIN billing_invoices i ON i.id = r.invoice_id WHERE i.status = 'void' LIMIT 20"),
    ("a usage record behind its account's invoiced watermark on no invoice (never billed)",
     "SELECT r.id, r.account_id, r.bill_from, a.billed_through FROM billing_usage_billed r "
     "JOIN billing_accounts a ON a.id = r.account_id WHERE r.invoice_id IS NULL "
     "AND a.billed_through IS NOT NULL AND r.bill_from < a.billed_through LIMIT 20"),
    ("two live invoices of an account claim the same usage",
     "SELECT a.id, b.id FROM billing_invoices a JOIN billing_invoices b "
     "ON b.account_id = a.account_id AND b.id > a.id "
     "WHERE a.usage_to IS NOT NULL AND b.usage_to IS NOT NULL "
     "AND a.status <> 'void' AND b.status <> 'void' "
     "AND COALESCE(a.usage_from, '1000-01-01') < b.usage_to "
     "AND COALESCE(b.usage_from, '1000-01-01') < a.usage_to LIMIT 20"),
    ("a credit's used amount differs from its applications to live invoices",
     "SELECT c.id, c.amount, c.remaining, COALESCE(SUM(ca.amount), 0) FROM billing_credits c "
     "LEFT JOIN billing_credit_applications ca ON ca.credit_id = c.id AND EXISTS "
     "(SELECT 1 FROM billing_invoices i WHERE i.id = ca.invoice_id AND i.status <> 'void') "
     "GROUP BY c.id, c.amount, c.remaining "
     "HAVING c.amount - c.remaining <> COALESCE(SUM(ca.amount), 0) LIMIT 20"),
    ("finalized and numbered disagree, or a draft has a number",
     "SELECT id, status, COALESCE(invoice_number, 'NULL'), COALESCE(finalized_at, 'NULL') "
     "FROM billing_invoices WHERE (finalized_at IS NULL) <> (invoice_number IS NULL) "
     "OR (status IN ('sent', 'paid', 'overdue') AND invoice_number IS NULL) "
     "OR (status = 'draft' AND invoice_number IS NOT NULL) LIMIT 20"),
    ("an invoice number's year is not its year of finalization",
     "SELECT id, invoice_number, finalized_at FROM billing_invoices "
     "WHERE invoice_number IS NOT NULL "
     "AND SUBSTRING(invoice_number, 5, 4) <> CAST(YEAR(finalized_at) AS CHAR) LIMIT 20"),
    ("finalized invoices and billing.invoice.created events differ",
     "SELECT i.id, COUNT(e.id) FROM billing_invoices i LEFT JOIN billing_events e "
     "ON e.dedupe_key = CONCAT('billing.invoice.created:', i.id) "
     "GROUP BY i.id, i.finalized_at "
     "HAVING COUNT(e.id) <> (i.finalized_at IS NOT NULL) LIMIT 20"),
    ("a billing.invoice.created event for no finalized invoice",
     "SELECT e.id, e.dedupe_key FROM billing_events e LEFT JOIN billing_invoices i "
     "ON i.id = CAST(SUBSTRING(e.dedupe_key, 25) AS UNSIGNED) "
     "AND e.dedupe_key = CONCAT('billing.invoice.created:', i.id) "
     "WHERE e.type = 'billing.invoice.created' AND (i.id IS NULL OR i.finalized_at IS NULL) "
     "LIMIT 20"),
    ("a paid invoice without exactly one billing.invoice.paid event",
     "SELECT i.id, COUNT(e.id) FROM billing_invoices i LEFT JOIN billing_events e "
     "ON e.dedupe_key = CONCAT('billing.invoice.paid:', i.id) WHERE i.status = 'paid' "
     "GROUP BY i.id HAVING COUNT(e.id) <> 1 LIMIT 20"),
    # -- credit notes and refunds --
    ("an invoice's credit_notes is not the sum of its credit notes, or exceeds its total",
     "SELECT i.id, i.total, i.credit_notes, COALESCE(SUM(cn.amount), 0) "
     "FROM billing_invoices i LEFT JOIN billing_credit_notes cn ON cn.invoice_id = i.id "
     "GROUP BY i.id, i.total, i.credit_notes "
     "HAVING i.credit_notes <> COALESCE(SUM(cn.amount), 0) OR i.credit_notes > i.total "
     "LIMIT 20"),
    ("a line credited beyond its amount",
     "SELECT l.invoice_id, l.line_no, l.amount, SUM(c.amount) FROM billing_invoice_lines l "
     "JOIN billing_credit_note_lines c ON c.invoice_id = l.invoice_id "
     "AND c.line_no = l.line_no GROUP BY l.invoice_id, l.line_no, l.amount "
     "HAVING SUM(c.amount) > l.amount LIMIT 20"),
    ("a credit note on a draft invoice",
     "SELECT cn.id, cn.invoice_id FROM billing_credit_notes cn JOIN billing_invoices i "
     "ON i.id = cn.invoice_id WHERE i.status = 'draft' LIMIT 20"),
    ("an unpaid invoice's amount due (total - credit notes - payments) is negative",
     "SELECT i.id, i.total, i.credit_notes, COALESCE(SUM(p.amount), 0) "
     "FROM billing_invoices i LEFT JOIN billing_payments p ON p.invoice_id = i.id "
     "AND p.status = 'succeeded' WHERE i.status IN ('sent', 'overdue') "
     "GROUP BY i.id, i.total, i.credit_notes "
     "HAVING i.total - i.credit_notes - COALESCE(SUM(p.amount), 0) < 0 LIMIT 20"),
    ("a paid invoice's payments and the credit notes that lowered what was due exceed its total",
     "SELECT i.id, i.total, (SELECT COALESCE(SUM(cn.amount), 0) FROM billing_credit_notes cn "
     "WHERE cn.invoice_id = i.id AND cn.settlement = 'due') AS due_notes, "
     "(SELECT COALESCE(SUM(p.amount), 0) FROM billing_payments p WHERE p.invoice_id = i.id "
     "AND p.status = 'succeeded') AS paid FROM billing_invoices i WHERE i.status = 'paid' "
     "HAVING i.total - due_notes - paid < 0 LIMIT 20"),
    ("a credit note not settled as it says (refund, balance credit, or neither)",
     "SELECT cn.id, cn.settlement, cn.amount, r.amount, c.amount FROM billing_credit_notes cn "
     "LEFT JOIN billing_refunds r ON r.credit_note_id = cn.id "
     "LEFT JOIN billing_credits c ON c.id = cn.credit_id "
     "WHERE (cn.settlement = 'refund' AND (r.id IS NULL OR r.amount <> cn.amount "
     "OR cn.credit_id IS NOT NULL)) "
     "OR (cn.settlement = 'balance' AND (c.id IS NULL OR c.amount <> cn.amount "
     "OR r.id IS NOT NULL)) "
     "OR (cn.settlement = 'due' AND (r.id IS NOT NULL OR cn.credit_id IS NOT NULL)) LIMIT 20"),
    ("a payment refunded beyond its amount",
     "SELECT p.id, p.amount, SUM(r.amount) FROM billing_payments p "
     "JOIN billing_refunds r ON r.payment_id = p.id GROUP BY p.id, p.amount "
     "HAVING SUM(r.amount) > p.amount LIMIT 20"),
    ("credit notes and billing.credit_note.created events differ",
     "SELECT cn.id, COUNT(e.id) FROM billing_credit_notes cn LEFT JOIN billing_events e "
     "ON e.dedupe_key = CONCAT('billing.credit_note.created:', cn.id) "
     "GROUP BY cn.id HAVING COUNT(e.id) <> 1 LIMIT 20"),
    ("refunds and billing.refund.created events differ",
     "SELECT r.id, COUNT(e.id) FROM billing_refunds r LEFT JOIN billing_events e "
     "ON e.dedupe_key = CONCAT('billing.refund.created:', r.credit_note_id) "
     "GROUP BY r.id HAVING COUNT(e.id) <> 1 LIMIT 20"),
    # -- payments and Stripe events --
    # (credited in full before it was paid, an invoice is paid without one)
    ("a paid invoice without exactly one succeeded payment",
     "SELECT i.id, COUNT(p.id) FROM billing_invoices i LEFT JOIN billing_payments p "
     "ON p.invoice_id = i.id AND p.status = 'succeeded' WHERE i.status = 'paid' "
     "GROUP BY i.id, i.credit_notes, i.total HAVING NOT (COUNT(p.id) = 1 "
     "OR (COUNT(p.id) = 0 AND i.total > 0 AND i.credit_notes = i.total)) LIMIT 20"),
    ("an invoice with more than one succeeded payment",
     "SELECT invoice_id, COUNT(*) FROM billing_payments WHERE status = 'succeeded' "
     "AND invoice_id IS NOT NULL GROUP BY invoice_id HAVING COUNT(*) > 1 LIMIT 20"),
    ("a Stripe invoice paid twice",
     "SELECT stripe_invoice_id, COUNT(*) FROM billing_payments WHERE status = 'succeeded' "
     "AND stripe_invoice_id IS NOT NULL GROUP BY stripe_invoice_id HAVING COUNT(*) > 1 LIMIT 20"),
    ("a payment intent recorded as succeeded twice",
     "SELECT stripe_payment_intent_id, COUNT(*) FROM billing_payments WHERE status = 'succeeded' "
     "AND stripe_payment_intent_id IS NOT NULL GROUP BY stripe_payment_intent_id "
     "HAVING COUNT(*) > 1 LIMIT 20"),
    ("a Stripe payment whose key is none of the webhook's",
     "SELECT id, COALESCE(idempotency_key, 'NULL') FROM billing_payments WHERE method = 'stripe' "
     "AND (idempotency_key IS NULL OR (idempotency_key NOT LIKE 'stripe-invoice-paid:%' "
     "AND idempotency_key NOT LIKE 'stripe-invoice-failed:%' "
     "AND idempotency_key NOT LIKE 'stripe-pi:%')) LIMIT 20"),
    ("a failed Stripe payment whose event was not recorded",
     "SELECT p.id, p.idempotency_key FROM billing_payments p WHERE p.method = 'stripe' "
     "AND p.idempotency_key LIKE 'stripe-invoice-failed:%' AND NOT EXISTS "
     "(SELECT 1 FROM billing_stripe_events e "
     "WHERE e.event_id = SUBSTRING(p.idempotency_key, 23)) LIMIT 20"),
    ("more Stripe payment rows than recorded payment events",
     "SELECT (SELECT COUNT(*) FROM billing_payments WHERE method = 'stripe') AS payments, "
     "(SELECT COUNT(*) FROM billing_stripe_events WHERE type IN ('invoice.paid', "
     "'invoice.payment_failed', 'payment_intent.succeeded')) AS events "
     "FROM DUAL HAVING payments > events"),
    # -- usage --
    ("an upgrade's proration pair lowers the invoice",
     "SELECT id, credit, charge FROM billing_plan_changes WHERE kind = 'upgrade' "
     "AND (credit > 0 OR charge < 0 OR credit + charge < 0) LIMIT 20"),
    ("an invoice's proration lines differ from its period's upgrades",
     "SELECT i.id, COALESCE(l.amount, 0), COALESCE(c.amount, 0) FROM billing_invoices i "
     "LEFT JOIN (SELECT invoice_id, SUM(amount) AS amount FROM billing_invoice_lines "
     "WHERE kind = 'proration' GROUP BY invoice_id) l ON l.invoice_id = i.id "
     "LEFT JOIN (SELECT i2.id AS invoice_id, SUM(ROUND(pc.credit, 2) + ROUND(pc.charge, 2)) "
     "AS amount FROM billing_invoices i2 JOIN billing_plan_changes pc "
     "ON pc.account_id = i2.account_id AND pc.source = 'local' AND pc.kind = 'upgrade' "
     "AND pc.status = 'applied' AND pc.effective_at >= i2.period_start "
     "AND pc.effective_at < i2.period_end WHERE i2.kind = 'scheduled' "
     "GROUP BY i2.id) c ON c.invoice_id = i.id "
     "WHERE i.status <> 'void' AND i.kind = 'scheduled' "
     "AND COALESCE(l.amount, 0) <> COALESCE(c.amount, 0) "
     "AND (l.amount IS NOT NULL OR i.billing_mode <> 'usage') LIMIT 20"),
    ("a proration line on an invoice that is not scheduled",
     "SELECT l.invoice_id FROM billing_invoice_lines l JOIN billing_invoices i "
     "ON i.id = l.invoice_id WHERE l.kind = 'proration' AND i.kind <> 'scheduled' LIMIT 20"),
    ("a daily total differs from its records",
     "SELECT d.account_id, d.day, d.resource_type, d.unit_price, d.quantity, d.total_cost, "
     "d.records, COALESCE(SUM(r.quantity), 0), COALESCE(SUM(r.total_cost), 0), COUNT(r.id) "
     "FROM billing_usage_daily d LEFT JOIN billing_usage_records r "
     "ON r.account_id = d.account_id AND r.start_time >= d.day "
     "AND r.start_time < d.day + INTERVAL 1 DAY "
     "AND r.resource_type = d.resource_type AND r.unit_price = d.unit_price "
     "GROUP BY d.account_id, d.day, d.resource_type, d.unit_price "
     "HAVING d.quantity <> COALESCE(SUM(r.quantity), 0) "
     "OR d.total_cost <> COALESCE(SUM(r.total_cost), 0) OR d.records <> COUNT(r.id) LIMIT 20"),
    ("usage records without their daily total",
     "SELECT r.account_id, DATE(r.start_time), r.resource_type, r.unit_price, COUNT(*) "
     "FROM billing_usage_records r LEFT JOIN billing_usage_daily d "
     "ON d.account_id = r.account_id AND d.day = DATE(r.start_time) "
     "AND d.resource_type = r.resource_type AND d.unit_price = r.unit_price "
     "WHERE d.account_id IS NULL "
     "GROUP BY r.account_id, DATE(r.start_time), r.resource_type, r.unit_price LIMIT 20"),
    ("a day's total over every account differs from its accounts' daily totals",
     "SELECT t.day, t.total_cost, t.records, COALESCE(d.cost, 'none'), COALESCE(d.n, 'none') "
     "FROM billing_usage_day_totals t LEFT JOIN (SELECT day, SUM(total_cost) AS cost, "
     "SUM(records) AS n FROM billing_usage_daily GROUP BY day) d ON d.day = t.day "
     "WHERE d.day IS NULL OR t.total_cost <> d.cost OR t.records <> d.n LIMIT 20"),
    ("a day's daily totals without its total over every account",
     "SELECT d.day, SUM(d.total_cost), SUM(d.records) FROM billing_usage_daily d "
     "LEFT JOIN billing_usage_day_totals t ON t.day = d.day WHERE t.day IS NULL "
     "GROUP BY d.day LIMIT 20"),
    ("a segment's metered_cost differs from its records",
     "SELECT g.id, g.metered_cost, COALESCE(SUM(r.total_cost), 0) FROM billing_session_segments g "
     "LEFT JOIN billing_usage_records r ON r.segment_id = g.id GROUP BY g.id, g.metered_cost "
     "HAVING g.metered_cost <> COALESCE(SUM(r.total_cost), 0) LIMIT 20"),
    ("a segment, resource and hour metered twice",
     "SELECT segment_id, resource_type, start_time, COUNT(*) FROM billing_usage_records "
     "WHERE segment_id IS NOT NULL GROUP BY segment_id, resource_type, start_time "
     "HAVING COUNT(*) > 1 LIMIT 20"),
]


def numbering_problems(sql, numbers_sql="SELECT invoice_number FROM billing_invoices "
                       "WHERE invoice_number IS NOT NULL",
                       counters_sql="SELECT year, last_number FROM billing_invoice_counters",
                       pattern=NUMBER, what="invoice", form="INV-YYYY-NNNNNN"):
    """Gap-free numbers per year, and the counter rows agree (invoices, or
    with the other arguments credit notes)."""
    problems = []
    by_year = {}
    for (number,) in sql(numbers_sql):
        m = pattern.match(number)
        if not m:
            problems.append("%s number %r is not %s" % (what, number, form))
            continue
        by_year.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    counters = {int(y): int(n) for y, n in sql(counters_sql)}
    for year, numbers in sorted(by_year.items()):
        numbers.sort()
        if numbers != list(range(1, len(numbers) + 1)):
            seen, missing, dups = set(), [], []
            for n in numbers:
                if n in seen:
                    dups.append(n)
                seen.add(n)
            missing = [n for n in range(1, max(numbers) + 1) if n not in seen]
            problems.append("%s numbers of %d are not 1..%d: missing %s, twice %s"
                            % (what, year, len(numbers), missing[:10], dups[:10]))
        if counters.get(year, 0) != len(numbers):
            problems.append("the %s counter of %d says %s, %d are numbered"
                            % (what, year, counters.get(year), len(numbers)))
    for year, n in counters.items():
        if year not in by_year and n != 0:
            problems.append("the %s counter of %d says %d, none has a number of it"
                            % (what, year, n))
    return problems


def credit_note_numbering_problems(sql):
    """CN-YYYY-NNNNNN: gap-free per year, as the invoices' numbers."""
    return numbering_problems(
        sql, "SELECT credit_note_number FROM billing_credit_notes",
        "SELECT year, last_number FROM billing_credit_note_counters",
        CN_NUMBER, "credit note", "CN-YYYY-NNNNNN")


def ledger_problems(sql):
    """Every ledger rule that does not hold, as readable lines (empty: all hold)."""
    problems = []
    for what, query in CHECKS:
        rows = sql(query)
        if rows:
            problems.append("%s: %s" % (what, rows[:10]))
    problems += numbering_problems(sql)
    problems += credit_note_numbering_problems(sql)
    return problems


def ledger_summary(sql):
    """A one-line picture of the ledger, for messages."""
    [[inv, live, lines, pays, evts, recs]] = sql(
        "SELECT (SELECT COUNT(*) FROM billing_invoices), "
        "(SELECT COUNT(*) FROM billing_invoices WHERE status <> 'void'), "
        "(SELECT COUNT(*) FROM billing_invoice_lines), "
        "(SELECT COUNT(*) FROM billing_payments), "
        "(SELECT COUNT(*) FROM billing_stripe_events), "
        "(SELECT COUNT(*) FROM billing_usage_records)")
    return ("%s invoices (%s live), %s lines, %s payments, %s Stripe events, "
            "%s usage records" % (inv, live, lines, pays, evts, recs))
