// Billing Management, landing view: totals, then every account, filtered and paged by the server.
import { api } from './api.js';
import { h, money, statusBadge, section } from './ui.js';
import { grid, filterForm, pager, cursorOf, fill, link, period } from './admin-util.js';

const PAGE = 25;

function card(label, value, note) {
	return h('div', { class: 'figure card' },
		h('span', { class: 'label' }, label),
		h('span', { class: 'value' }, value),
		note ? h('span', { class: 'muted' }, note) : null);
}

function totals(s) {
	const cur = s.currency;
	const p = s.period || {};
	const out = s.outstanding || {};
	const over = s.overdue || {};
	const acc = s.accounts || {};
	return h('div', { class: 'figures' },
		card('Usage cost this period', money(s.usage_cost, cur),
			p.from ? period(p.from, p.to) : null),
		card('Outstanding', money(out.amount, cur), `${out.invoices ?? 0} invoices sent or overdue`),
		card('Overdue invoices', String(over.invoices ?? 0), `${money(over.amount, cur)} overdue`),
		card('Accounts', String(acc.total ?? 0),
			`${acc.active ?? 0} active, ${acc.suspended ?? 0} suspended, ${acc.closed ?? 0} closed`));
}

export const ACCOUNT_COLS = [
	['Account', u => link(u.user_id, 'account', [['u', u.user_id]])],
	['Plan', u => u.plan_id],
	['Mode', u => u.billing_mode],
	['Status', u => statusBadge(u.status)],
	['Period cost', u => money(u.current_period_cost, u.currency), 1],
	['Outstanding', u => money(u.outstanding_balance, u.currency), 1],
	['Credits', u => money(u.credits_balance, u.currency), 1],
	['Live sessions', u => String(u.active_sessions ?? 0), 1],
];

const FILTERS = [
	{ name: 'q', label: 'User', type: 'search', placeholder: 'start of id or email' },
	{ name: 'status', label: 'Status', type: 'select',
		options: [['', 'Any'], ['active', 'Active'], ['suspended', 'Suspended'], ['closed', 'Closed']] },
	{ name: 'from', label: 'Period from', type: 'date' },
	{ name: 'to', label: 'Period to (included)', type: 'date' },
];

export function overview(main, params) {
	const tot = h('div', { class: 'totals-box' });
	const list = h('div', { class: 'accounts', 'aria-live': 'polite' });
	main.append(
		section('Totals', tot),
		section('Accounts', filterForm('Filter accounts', FILTERS, params, 'overview', [['limit', params.get('limit')]]), list));
	fill(tot, async () => totals(await api('admin/summary', { query: { from: params.get('from'), to: params.get('to') } })));
	const t0 = performance.now();
	fill(list, async () => {
		const r = await api('admin/users', { query: {
			q: params.get('q'), status: params.get('status'),
			from: params.get('from'), to: params.get('to'),
			limit: params.get('limit') || PAGE, cursor: cursorOf(params) } });
		return [
			grid('Accounts', ACCOUNT_COLS, r.users, 'No account matches these filters.'),
			pager('Account pages', 'overview', params, r.next_cursor),
		];
	}).then(() => {
		// for the speed figures: the list's request to rows, and since navigation
		performance.measure('admin-accounts-list', { start: t0 });
		performance.mark('admin-accounts-shown');
	});
}
