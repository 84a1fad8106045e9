// Billing & Usage: invoices (list, PDF, one invoice's detail), payment
// history and credits.
import { api, download, pathId } from './api.js';
import { h, money, date, dateTime, statusBadge, showError } from './ui.js';
import { fill, grid, note, isZero } from './billing-common.js';

// A PDF download (api.js download(): the token never in a URL).
function pdfButton(path, name, label, errBox) {
  const b = h('button', { type: 'button', class: 'small', 'aria-label': 'Download PDF of ' + label }, 'PDF');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await download(path, null, name + '.pdf');
    } catch (err) {
      showError(errBox, err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

const invPdf = (inv, errBox) => pdfButton('invoices/' + pathId(inv.id, 1) + '/pdf', inv.invoice_number || 'invoice-' + inv.id,
  'invoice ' + (inv.invoice_number || inv.id), errBox);

function period(inv) {
  return h('span', {}, date(inv.period_start), ' – ', date(new Date(Date.parse(inv.period_end) - 1000).toISOString()));
}

// What is still due, under the total when it differs (credit notes, part payments).
function totalCell(inv) {
  const open = inv.status === 'sent' || inv.status === 'overdue';
  return open && inv.amount_due !== undefined && inv.amount_due !== inv.total
    ? h('span', {}, money(inv.total, inv.currency), h('span', { class: 'due' }, money(inv.amount_due, inv.currency) + ' due'))
    : money(inv.total, inv.currency);
}

export async function loadInvoices(cursor, append) {
  const box = document.getElementById('invoices-body');
  const r = await api('invoices', { query: { limit: 20, cursor } });
  const errBox = h('div');
  const rows = (r.invoices || []).map((inv) => [
    h('a', { href: '#invoice=' + inv.id, 'aria-label': 'Invoice ' + (inv.invoice_number || inv.id) + ', details' }, inv.invoice_number || 'Draft ' + inv.id),
    period(inv), statusBadge(inv.status), totalCell(inv),
    inv.due_date ? date(inv.due_date) : '—', invPdf(inv, errBox)]);
  const cols = [{ label: 'Invoice' }, { label: 'Period' }, { label: 'Status' }, { label: 'Total', num: true },
    { label: 'Due' }, { label: 'PDF' }];
  if (append) {
    const tbody = box.querySelector('tbody');
    for (const tr of grid(cols, rows).querySelectorAll('tbody tr')) tbody.append(tr);
    box.querySelector('.more')?.remove();
  } else {
    fill(box, rows.length ? grid(cols, rows, 'Invoices, newest first') : note('No invoices yet.'), errBox);
  }
  if (r.next_cursor) {
    const more = h('button', { type: 'button', class: 'more' }, 'More invoices');
    more.addEventListener('click', () => loadInvoices(r.next_cursor, true).catch((err) => showError(errBox, err)));
    box.append(more);
  }
}

const SETTLED = { due: 'Taken off the amount due', balance: 'Added to your credit balance', refund: 'Refunded' };

// The customer block, as the PDF's "Bill to".
function billTo(inv) {
  const b = inv.bill_to || {};
  return h('address', { class: 'bill-to' }, h('strong', {}, 'Bill to'), h('span', {}, b.name || inv.user_id),
    ...(b.address || []).map((l) => h('span', {}, l)), b.country ? h('span', {}, b.country) : null,
    b.tax_id ? h('span', {}, 'Tax ID ' + b.tax_id) : null);
}

// One invoice in the panel under the list; focus moves to its heading.
export async function showInvoice(id) {
  const panel = document.getElementById('invoice-detail');
  const box = document.getElementById('invoice-detail-body');
  const head = document.getElementById('invoice-detail-h');
  panel.hidden = false;
  head.textContent = 'Invoice';
  box.replaceChildren(note('Loading…'));
  head.focus();
  let inv;
  try {
    inv = await api('invoices/' + pathId(id, 1));
  } catch (err) {
    box.replaceChildren();
    showError(box, err);
    return;
  }
  const cur = inv.currency;
  const m = (x) => money(x, cur);
  const neg = (x) => money('-' + x, cur);
  head.textContent = 'Invoice ' + (inv.invoice_number || 'draft ' + inv.id);
  const errBox = h('div');
  const close = h('button', { type: 'button', 'data-close-invoice': '' }, 'Close');
  const parts = [
    h('div', { class: 'inv-head' }, h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(inv.status)),
      h('dt', {}, 'Period'), h('dd', {}, period(inv)),
      h('dt', {}, 'Issued'), h('dd', {}, inv.finalized_at ? dateTime(inv.finalized_at) : '—'),
      h('dt', {}, 'Due'), h('dd', {}, inv.due_date ? date(inv.due_date) : '—'),
      inv.paid_at ? h('dt', {}, 'Paid') : null, inv.paid_at ? h('dd', {}, dateTime(inv.paid_at)) : null), billTo(inv)),
    h('h3', {}, 'Lines'),
    grid([{ label: 'Description' }, { label: 'Quantity', num: true }, { label: 'Unit' }, { label: 'Unit price', num: true }, { label: 'Amount', num: true }],
      (inv.lines || []).map((l) => [l.kind === 'proration' ? h('span', {}, h('span', { class: 'badge' }, 'Proration'), ' ', l.description) : l.description,
        String(l.quantity), l.unit, m(l.unit_price), m(l.amount)]), 'Invoice lines'),
  ];
  const totals = [['Subtotal', m(inv.subtotal)]];
  if (!isZero(inv.credits)) totals.push(['Credits applied', neg(inv.credits)]);
  for (const t of inv.taxes || []) totals.push([t.name + ' ' + t.percent + '%' + (t.inclusive ? ' (included)' : ''), m(t.amount)]);
  if (inv.tax_exempt) totals.push(['Tax exempt', m('0')]);
  totals.push([h('strong', {}, 'Total'), h('strong', {}, m(inv.total))]);
  if (!isZero(inv.credited)) totals.push(['Credited by credit notes', neg(inv.credited)]);
  if (inv.status !== 'draft' && inv.status !== 'void') totals.push([h('strong', {}, 'Amount due'), h('strong', {}, m(inv.amount_due))]);
  parts.push(grid([{ label: 'Totals' }, { label: 'Amount', num: true }], totals, 'Invoice totals'));
  if ((inv.credits_applied || []).length) {
    parts.push(h('h3', {}, 'Credits applied'), grid([{ label: 'Reason' }, { label: 'Amount', num: true }],
      inv.credits_applied.map((c) => [c.reason, neg(c.amount)]), 'Credits applied'));
  }
  if ((inv.credit_notes || []).length) {
    parts.push(h('h3', {}, 'Credit notes'), grid([{ label: 'Credit note' }, { label: 'Date' }, { label: 'Reason' }, { label: 'Settled' }, { label: 'Amount', num: true }, { label: 'PDF' }],
      inv.credit_notes.map((c) => [c.credit_note_number, date(c.created_at), c.reason,
        (SETTLED[c.settlement] || c.settlement) + (c.refund && c.refund.method === 'stripe' ? ' to your card' : ''),
        neg(c.amount), pdfButton('credit-notes/' + pathId(c.id, 1) + '/pdf', c.credit_note_number, 'credit note ' + c.credit_note_number, errBox)]), 'Credit notes'));
  }
  parts.push(h('h3', {}, 'Payments'), (inv.payments || []).length
    ? grid([{ label: 'Date' }, { label: 'Method' }, { label: 'Status' }, { label: 'Amount', num: true }],
      inv.payments.map((p) => [dateTime(p.created_at), p.method, statusBadge(p.status), m(p.amount)]), 'Payments of this invoice')
    : note('No payment recorded for this invoice.'));
  parts.push(h('p', { class: 'actions' }, invPdf(inv, errBox), ' ', close), errBox);
  box.replaceChildren(...parts);
}

export function hideInvoice() {
  document.getElementById('invoice-detail').hidden = true;
}

export async function loadPayments() {
  const box = document.getElementById('payments-body');
  const r = await api('payments', { query: { limit: 50 } });
  const ps = r.payments || [];
  fill(box, ps.length ? grid([{ label: 'Date' }, { label: 'Invoice' }, { label: 'Method' }, { label: 'Status' }, { label: 'Amount', num: true }],
    ps.map((p) => [dateTime(p.created_at),
      p.invoice_id ? h('a', { href: '#invoice=' + p.invoice_id }, p.invoice_number || String(p.invoice_id)) : '—',
      p.method || '—', h('span', {}, statusBadge(p.status), p.failure_message ? ' ' + p.failure_message : null),
      money(p.amount, p.currency)]), 'Payments, newest first')
    : note('No payments yet.'));
}

export async function loadCredits() {
  const box = document.getElementById('credits-body');
  const r = await api('credits');
  const cs = r.credits || [];
  fill(box, cs.length ? grid([{ label: 'Reason' }, { label: 'State' }, { label: 'Added' }, { label: 'Expires' }, { label: 'Amount', num: true }, { label: 'Remaining', num: true }],
    cs.map((c) => [c.reason, c.state ? statusBadge(c.state) : '', date(c.created_at), c.expires_at ? dateTime(c.expires_at) : 'never',
      money(c.amount, c.currency), money(c.remaining, c.currency)]), 'Credits with their expiry')
    : note('No credits.'));
}
