// Billing Management, one account (#account?u=ID): its figures, this
// period's usage, live sessions, invoices, credits, payments and events;
// for an admin the forms to add a credit and make a manual invoice.
import { api } from './api.js';
import { h, money, quantity, dateTime, date, statusBadge, section, showError } from './ui.js';
import { grid, fill, field, notice, reporter, canWrite, idempotencyKey, period, link, facts } from './admin-util.js';
import { INVOICE_COLS } from './admin-invoices.js';
import { EVENT_COLS } from './admin-ops.js';
import { details } from './admin-details.js';

async function profile(user) {
	const [r, u] = await Promise.all([
		api('admin/users', { query: { q: user, limit: 50 } }),
		api('usage', { query: { user_id: user } })]);
	const a = (r.users || []).find(x => x.user_id === user) || {};
	const cur = u.currency;
	const plan = u.plan || {};
	return [
		facts([
			['Status', a.status ? statusBadge(a.status) : null],
			['Email', a.email],
			['Plan', plan.name ? `${plan.name} (${plan.id})` : a.plan_id],
			['Mode', u.billing_mode],
			['Period', period(u.period.from, u.period.to)],
			['Outstanding', a.outstanding_balance != null ? money(a.outstanding_balance, cur) : null],
			['Credits', money(u.credits_balance, cur)],
			['Created', a.created_at ? dateTime(a.created_at) : null],
		]),
		h('h3', {}, 'Usage this period'),
		grid('Usage by resource', [
			{ label: 'Resource', cell: i => i.resource_type },
			{ label: 'Quantity', num: true, cell: i => quantity(i.quantity, i.unit) },
			{ label: 'Unit price', num: true, cell: i => money(i.unit_price, cur) },
			{ label: 'Cost', num: true, cell: i => money(i.total_cost, cur) },
		], u.items),
		facts([
			['Metered', money(u.total_cost, cur)],
			['Not yet metered', money(u.pending_cost, cur)],
			['Estimated total', money(u.estimated_total_cost, cur)],
		]),
		h('h3', {}, 'Live sessions'),
		grid('Live sessions', [
			{ label: 'Session', cell: s => s.session_id },
			{ label: 'State', cell: s => statusBadge(s.stale ? 'stale' : s.state) },
			{ label: 'Started', cell: s => dateTime(s.started_at) },
			{ label: 'CPU', num: true, cell: s => String(s.cpu_cores) },
			{ label: 'Memory GB', num: true, cell: s => String(s.memory_gb) },
			{ label: 'Accrued', num: true, cell: s => money(s.accrued_cost, cur) },
		], u.active_sessions, 'No live session.'),
	];
}

function creditForm(user, after) {
	let key = idempotencyKey();
	const msg = h('div', { class: 'form-msg' });
	const form = h('form', { class: 'form', 'aria-label': 'Add a credit' },
		field({ name: 'amount', label: 'Amount', required: '', inputmode: 'decimal',
			pattern: '[0-9]+([.][0-9]{1,2})?', hint: 'Up to 2 decimals, at most 100000.00' }),
		field({ name: 'reason', label: 'Reason', required: '', maxlength: '500' }),
		field({ name: 'expires_at', label: 'Expires (end of day, optional)', type: 'date' }),
		h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Add credit')),
		msg);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const v = (n) => form.elements[n].value.trim();
		const btn = form.querySelector('button');
		btn.disabled = true;
		try {
			const c = await api('admin/credits', { method: 'POST', body: {
				user_id: user, amount: v('amount'), reason: v('reason'),
				expires_at: v('expires_at') || undefined, idempotency_key: key } });
			key = idempotencyKey();
			form.reset();
			notice(msg, `Credit ${c.id} of ${money(c.amount, c.currency)} added.`);
			after();
		} catch (err) {
			msg.replaceChildren();
			showError(msg, err);
		} finally {
			btn.disabled = false;
		}
	});
	return form;
}

function invoiceForm(user, after) {
	const msg = h('div', { class: 'form-msg' });
	const form = h('form', { class: 'form', 'aria-label': 'Make a manual invoice' },
		field({ name: 'period_start', label: 'Period start', type: 'date', required: '' }),
		field({ name: 'period_end', label: 'Period end (included)', type: 'date', required: '' }),
		field({ name: 'draft', label: 'Keep as a draft (finalize later)', type: 'checkbox' }, true),
		h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Make invoice')),
		msg);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const btn = form.querySelector('button');
		btn.disabled = true;
		try {
			const inv = await api('admin/invoices', { method: 'POST', body: {
				user_id: user, period_start: form.elements.period_start.value,
				period_end: form.elements.period_end.value, draft: form.elements.draft.checked } });
			notice(msg, `Invoice ${inv.invoice_number || 'draft ' + inv.id} made: ${inv.status}, ${money(inv.total, inv.currency)}.`);
			after();
		} catch (err) {
			msg.replaceChildren();
			showError(msg, err);
		} finally {
			btn.disabled = false;
		}
	});
	return form;
}

export function account(main, params) {
	const user = params.get('u') || '';
	const box = () => h('div', { 'aria-live': 'polite' });
	const [prof, invs, creds, pays, evs, bill] = [box(), box(), box(), box(), box(), box()];
	const status = h('div');
	const loadInvoices = () => fill(invs, async () => {
		const r = await api('invoices', { query: { user_id: user, limit: 50 } });
		return grid('Invoices', INVOICE_COLS(reporter(status, loadAll), false), r.invoices, 'No invoice yet.');
	});
	const loadCredits = () => fill(creds, async () => {
		const r = await api('credits', { query: { user_id: user, limit: 50 } });
		return grid('Credits', [
			{ label: 'Id', num: true, cell: c => String(c.id) },
			{ label: 'Reason', cell: c => c.reason },
			{ label: 'Amount', num: true, cell: c => money(c.amount, c.currency) },
			{ label: 'Remaining', num: true, cell: c => money(c.remaining, c.currency) },
			{ label: 'State', cell: c => statusBadge(c.state) },
			{ label: 'Expires', cell: c => c.expires_at ? dateTime(c.expires_at) : 'never' },
			{ label: 'Added', cell: c => dateTime(c.created_at) },
			{ label: 'By', cell: c => c.created_by },
		], r.credits, 'No credit.');
	});
	const loadAll = () => {
		fill(prof, () => profile(user));
		loadInvoices();
		loadCredits();
		fill(pays, async () => {
			const r = await api('payments', { query: { user_id: user, limit: 50 } });
			return grid('Payments', [
				{ label: 'Paid', cell: p => dateTime(p.paid_at || p.created_at) },
				{ label: 'Invoice', cell: p => p.invoice_number || (p.invoice_id != null ? String(p.invoice_id) : null) },
				{ label: 'Method', cell: p => p.method },
				{ label: 'Status', cell: p => statusBadge(p.status) },
				{ label: 'Amount', num: true, cell: p => money(p.amount, p.currency) },
			], r.payments, 'No payment.');
		});
		fill(evs, async () => {
			const r = await api('admin/events', { query: { user_id: user, limit: 20 } });
			return grid('Events', EVENT_COLS, r.events, 'No event.');
		});
	};
	const write = canWrite();
	main.append(
		h('p', { class: 'back' }, link('← All accounts', 'overview')),
		section(`Account ${user}`, status, prof),
		section('Billing details', bill),
		section('Invoices', invs, write ? h('details', {}, h('summary', {}, 'Make a manual invoice'), invoiceForm(user, loadAll)) : null),
		section('Credits', creds, write ? h('details', {}, h('summary', {}, 'Add a credit'), creditForm(user, loadAll)) : null),
		section('Payments', pays),
		section('Events', evs));
	loadAll();
	details(bill, user);
}
