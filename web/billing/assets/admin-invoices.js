// Billing Management, invoices filtered and paged by the server; actions behind a confirmation naming number and amount.
import { api, pathId } from './api.js';
import { h, money, dateTime, date, statusBadge, section, confirmAction } from './ui.js';
import { grid, fill, link, filterForm, pager, cursorOf, reporter, canWrite, period, hashOf } from './admin-util.js';

export const invoiceName = (inv) => inv.invoice_number || `draft ${inv.id}`;

// status → the actions that may follow it (docs/billing.md "Statuses")
const ACTIONS = {
	draft: [['sent', 'Finalize', 'It gets its number and due date and is sent.'],
		['void', 'Void', 'Voiding cannot be undone.']],
	sent: [['paid', 'Mark paid', 'This records a manual payment of the whole amount.'],
		['void', 'Void', 'Voiding cannot be undone.']],
	overdue: [['paid', 'Mark paid', 'This records a manual payment of the whole amount.'],
		['void', 'Void', 'Voiding cannot be undone.']],
};

// A credit note on it: an invoice with one cannot be voided (the API: 409).
const credited = (inv) => /[1-9]/.test(String(inv.credited ?? 0));

// done(message) after a change; done(null, error) when it failed
export function actions(inv, done, inList = true) {
	const list = (ACTIONS[inv.status] || []).filter(a => a[0] !== 'void' || !credited(inv));
	const cn = inList && ['sent', 'overdue', 'paid'].includes(inv.status);
	if (!list.length && !cn) return null;
	return h('span', { class: 'actions' }, cn ? h('a', { class: 'button secondary', href: hashOf('invoice', [['id', inv.id], ['cn', 1]]),
		'aria-label': `Credit note ${invoiceName(inv)}` }, 'Credit note') : null, ...list.map(([to, label, why]) => h('button', {
		type: 'button', class: to === 'void' ? 'danger' : 'secondary',
		'aria-label': `${label} ${invoiceName(inv)}`,
		on: { click: async () => {
			const amount = money(inv.total, inv.currency);
			if (!await confirmAction(`${label} invoice ${invoiceName(inv)} of ${amount} (${inv.user_id})? ${why}`, label)) return;
			try {
				const r = await api(`admin/invoices/${pathId(inv.id, 1)}`, { method: 'PATCH', body: { status: to } });
				done(`Invoice ${invoiceName(r)} of ${money(r.total, r.currency)} is now ${r.status}.`);
			} catch (e) {
				done(null, e);
			}
		} },
	}, label)));
}

export function INVOICE_COLS(done, withUser = true) {
	const cols = [
		['Number', i => link(invoiceName(i), 'invoice', [['id', i.id]])],
		withUser ? ['Account', i => link(i.user_id, 'account', [['u', i.user_id]])] : null,
		['Kind', i => i.kind],
		['Status', i => statusBadge(i.status)],
		['Period', i => period(i.period_start, i.period_end)],
		['Total', i => money(i.total, i.currency), 1],
		['Amount due', i => money(i.amount_due, i.currency), 1],
		['Due', i => i.due_date ? date(i.due_date) : null],
	].filter(Boolean);
	if (canWrite()) cols.push(['Actions', i => actions(i, done)]);
	return cols;
}

const FILTERS = [
	{ name: 'user_id', label: 'User', type: 'search' },
	{ name: 'status', label: 'Status', type: 'select',
		options: [['', 'Any'], ['draft', 'Draft'], ['sent', 'Sent'], ['overdue', 'Overdue'], ['paid', 'Paid'], ['void', 'Void']] },
	{ name: 'from', label: 'Period from', type: 'date' },
	{ name: 'to', label: 'Period to', type: 'date' },
];

export function invoices(main, params) {
	const list = h('div', { 'aria-live': 'polite' });
	const status = h('div');
	const load = () => fill(list, async () => {
		const r = await api('admin/invoices', { query: {
			user_id: params.get('user_id'), status: params.get('status'),
			from: params.get('from'), to: params.get('to'), limit: 25, cursor: cursorOf(params) } });
		return [grid('Invoices', INVOICE_COLS(reporter(status, load)), r.invoices, 'No invoice matches these filters.'),
			pager('Invoice pages', 'invoices', params, r.next_cursor)];
	});
	main.append(section('Invoices', filterForm('Filter invoices', FILTERS, params, 'invoices'), status, list));
	load();
}
