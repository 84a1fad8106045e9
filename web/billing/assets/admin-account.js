// Billing Management, one account (#account?u=ID): figures, usage, sessions, invoices, credits, payments, events; an admin's forms.
import { api, pathId } from './api.js';
import { h, money, quantity, dateTime, statusBadge, section, showError } from './ui.js';
import { grid, fill, field, notice, reporter, canWrite, idempotencyKey, period, link, facts, onSubmit } from './admin-util.js';
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
			['Resource', i => i.resource_type],
			['Quantity', i => quantity(i.quantity, i.unit), 1],
			['Unit price', i => money(i.unit_price, cur), 1],
			['Cost', i => money(i.total_cost, cur), 1],
		], u.items),
		facts([
			['Metered', money(u.total_cost, cur)],
			['Not yet metered', money(u.pending_cost, cur)],
			['Estimated total', money(u.estimated_total_cost, cur)],
		]),
		h('h3', {}, 'Live sessions'),
		grid('Live sessions', [
			['Session', s => s.session_id],
			['State', s => statusBadge(s.stale ? 'stale' : s.state)],
			['Started', s => dateTime(s.started_at)],
			['CPU', s => String(s.cpu_cores), 1],
			['Memory GB', s => String(s.memory_gb), 1],
			['Accrued', s => money(s.accrued_cost, cur), 1],
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
	return onSubmit(form, msg, async (el) => {
		const c = await api('admin/credits', { method: 'POST', body: {
			user_id: user, amount: el.amount.value.trim(), reason: el.reason.value.trim(),
			expires_at: el.expires_at.value || undefined, idempotency_key: key } });
		key = idempotencyKey();
		form.reset();
		notice(msg, `Credit ${c.id} of ${money(c.amount, c.currency)} added.`);
		after();
	});
}

function invoiceForm(user, after) {
	const msg = h('div', { class: 'form-msg' });
	const form = h('form', { class: 'form', 'aria-label': 'Make a manual invoice' },
		field({ name: 'period_start', label: 'Period start', type: 'date', required: '' }),
		field({ name: 'period_end', label: 'Period end (included)', type: 'date', required: '' }),
		field({ name: 'draft', label: 'Keep as a draft (finalize later)', type: 'checkbox' }, true),
		h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Make invoice')),
		msg);
	return onSubmit(form, msg, async (el) => {
		const inv = await api('admin/invoices', { method: 'POST', body: {
			user_id: user, period_start: el.period_start.value, period_end: el.period_end.value, draft: el.draft.checked } });
		notice(msg, `Invoice ${inv.invoice_number || 'draft ' + inv.id} made: ${inv.status}, ${money(inv.total, inv.currency)}.`);
		after();
	});
}

export function account(main, params) {
	const user = params.get('u') || '';
	main.append(h('p', { class: 'back' }, link('← All accounts', 'overview')));
	try { pathId(user); } catch (e) { return showError(main.appendChild(h('div')), e); }
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
			['Id', c => String(c.id), 1],
			['Reason', c => c.reason],
			['Amount', c => money(c.amount, c.currency), 1],
			['Remaining', c => money(c.remaining, c.currency), 1],
			['State', c => statusBadge(c.state)],
			['Expires', c => c.expires_at ? dateTime(c.expires_at) : 'never'],
			['Added', c => dateTime(c.created_at)],
			['By', c => c.created_by],
		], r.credits, 'No credit.');
	});
	const loadAll = () => {
		fill(prof, () => profile(user));
		loadInvoices();
		loadCredits();
		fill(pays, async () => {
			const r = await api('payments', { query: { user_id: user, limit: 50 } });
			return grid('Payments', [
				['Paid', p => dateTime(p.paid_at || p.created_at)],
				['Invoice', p => p.invoice_number || (p.invoice_id != null ? String(p.invoice_id) : null)],
				['Method', p => p.method],
				['Status', p => statusBadge(p.status)],
				['Amount', p => money(p.amount, p.currency), 1],
			], r.payments, 'No payment.');
		});
		fill(evs, async () => {
			const r = await api('admin/events', { query: { user_id: user, limit: 20 } });
			return grid('Events', EVENT_COLS, r.events, 'No event.');
		});
	};
	const write = canWrite();
	main.append(
		section(`Account ${user}`, status, prof),
		section('Billing details', bill),
		section('Invoices', invs, write ? h('details', {}, h('summary', {}, 'Make a manual invoice'), invoiceForm(user, loadAll)) : null),
		section('Credits', creds, write ? h('details', {}, h('summary', {}, 'Add a credit'), creditForm(user, loadAll)) : null),
		section('Payments', pays),
		section('Events', evs));
	loadAll();
	details(bill, user);
}
