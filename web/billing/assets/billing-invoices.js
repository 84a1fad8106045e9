// Billing & Usage: invoices (list, PDF, one invoice's detail), payment
// history and credits.
import { api, download } from './api.js';
import { h, money, date, dateTime, statusBadge, showError } from './ui.js';
import { fill, grid, note } from './billing-common.js';

function pdfButton(inv, errBox) {
  const b = h('button', { type: 'button', class: 'small', 'aria-label': 'Download PDF of invoice ' + (inv.invoice_number || inv.id) }, 'PDF');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await download('invoices/' + inv.id + '/pdf', null, (inv.invoice_number || 'invoice-' + inv.id) + '.pdf');
    } catch (err) {
      showError(errBox, err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function period(inv) {
  return h('span', {}, date(inv.period_start), ' – ', date(new Date(Date.parse(inv.period_end) - 1000).toISOString()));
}

export async function loadInvoices(cursor, append) {
  const box = document.getElementById('invoices-body');
  const r = await api('invoices', { query: { limit: 20, cursor } });
  const errBox = h('div');
  const rows = (r.invoices || []).map((inv) => [
    h('a', { href: '#invoice=' + inv.id, 'aria-label': 'Invoice ' + (inv.invoice_number || inv.id) + ', details' }, inv.invoice_number || 'Draft ' + inv.id),
    period(inv), statusBadge(inv.status), money(inv.total, inv.currency),
    inv.due_date ? date(inv.due_date) : '—', pdfButton(inv, errBox)]);
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
    inv = await api('invoices/' + encodeURIComponent(id));
  } catch (err) {
    box.replaceChildren();
    showError(box, err);
    return;
  }
  const cur = inv.currency;
  const m = (x) => money(x, cur);
  head.textContent = 'Invoice ' + (inv.invoice_number || 'draft ' + inv.id);
  const errBox = h('div');
  const close = h('button', { type: 'button', 'data-close-invoice': '' }, 'Close');
  const parts = [
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(inv.status)),
      h('dt', {}, 'Period'), h('dd', {}, period(inv)),
      h('dt', {}, 'Issued'), h('dd', {}, inv.finalized_at ? dateTime(inv.finalized_at) : '—'),
      h('dt', {}, 'Due'), h('dd', {}, inv.due_date ? date(inv.due_date) : '—'),
      inv.paid_at ? h('dt', {}, 'Paid') : null, inv.paid_at ? h('dd', {}, dateTime(inv.paid_at)) : null),
    h('h3', {}, 'Lines'),
    grid([{ label: 'Description' }, { label: 'Quantity', num: true }, { label: 'Unit' }, { label: 'Unit price', num: true }, { label: 'Amount', num: true }],
      (inv.lines || []).map((l) => [l.description, String(l.quantity), l.unit, m(l.unit_price), m(l.amount)]), 'Invoice lines'),
  ];
  const totals = [['Subtotal', inv.subtotal]];
  for (const t of inv.taxes || []) totals.push([t.description || t.name || 'Tax', t.amount]);
  if (inv.tax !== undefined && !(inv.taxes || []).length) totals.push(['Tax', inv.tax]);
  totals.push(['Credits applied', inv.credits], ['Total', inv.total]);
  parts.push(grid([{ label: 'Totals' }, { label: 'Amount', num: true }], totals.map(([k, v]) => [k, m(v)]), 'Invoice totals'));
  if ((inv.credits_applied || []).length) {
    parts.push(h('h3', {}, 'Credits applied'), grid([{ label: 'Reason' }, { label: 'Amount', num: true }],
      inv.credits_applied.map((c) => [c.reason, m(c.amount)]), 'Credits applied'));
  }
  if ((inv.credit_notes || []).length) {
    parts.push(h('h3', {}, 'Credit notes'), grid([{ label: 'Credit note' }, { label: 'Reason' }, { label: 'Date' }, { label: 'Amount', num: true }],
      inv.credit_notes.map((c) => [c.number || c.credit_note_number || String(c.id), c.reason || '', c.created_at ? date(c.created_at) : '', m(c.amount || c.total)]), 'Credit notes'));
  }
  parts.push(h('h3', {}, 'Payments'), (inv.payments || []).length
    ? grid([{ label: 'Date' }, { label: 'Method' }, { label: 'Status' }, { label: 'Amount', num: true }],
      inv.payments.map((p) => [dateTime(p.created_at), p.method, statusBadge(p.status), m(p.amount)]), 'Payments of this invoice')
    : note('No payment recorded for this invoice.'));
  parts.push(h('p', { class: 'actions' }, pdfButton(inv, errBox), ' ', close), errBox);
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
