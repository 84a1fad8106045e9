// Billing Management, usage report (GET admin/reports), shown and downloaded as CSV (api.js download()).
import { api, download } from './api.js';
import { h, money, dateTime, section, showError } from './ui.js';
import { grid, fill, filterForm } from './admin-util.js';

const MONEY = new Set(['total_cost', 'unit_price']);
const NUM = new Set(['quantity', 'records', 'cpu_core_hours', 'memory_gb_hours', 'storage_gb_months']);
const TIME = new Set(['start_time', 'end_time']);
const SHOWN = 500;

const FILTERS = [
	{ name: 'group_by', label: 'Group by', type: 'select', default: 'user',
		options: [['user', 'User'], ['resource', 'Resource'], ['day', 'Day'], ['none', 'Each usage record']] },
	{ name: 'from', label: 'From', type: 'date' },
	{ name: 'to', label: 'To (included)', type: 'date' },
	{ name: 'user_id', label: 'User', type: 'search' },
];

const label = (k) => k.replace(/_/g, ' ').replace(/^./, c => c.toUpperCase());

function query(params) {
	const g = params.get('group_by') || 'user';
	return { group_by: g === 'none' ? null : g, from: params.get('from'),
		to: params.get('to'), user_id: params.get('user_id') };
}

export function reports(main, params) {
	const out = h('div', { 'aria-live': 'polite' });
	const msg = h('div');
	const q = query(params);
	const csv = h('button', { type: 'button', on: { click: async () => {
		csv.disabled = true;
		msg.replaceChildren();
		try {
			await download('admin/reports', { ...q, format: 'csv' },
				`usage-${q.group_by || 'records'}-${q.from || 'period'}-${q.to || 'now'}.csv`);
		} catch (e) {
			showError(msg, e);
		} finally {
			csv.disabled = false;
		}
	} } }, 'Download CSV');
	main.append(section('Usage report',
		filterForm('Report options', FILTERS, params, 'reports'),
		h('p', { class: 'buttons' }, csv), msg, out));
	fill(out, async () => {
		const r = await api('admin/reports', { query: q });
		const rows = r.rows || [];
		const keys = rows.length ? Object.keys(rows[0]) : [];
		const cols = keys.map(k => [label(k),
			MONEY.has(k) ? (x => money(x[k], r.currency)) : TIME.has(k) ? (x => dateTime(x[k])) : (x => x[k]),
			MONEY.has(k) || NUM.has(k)]);
		return [
			h('p', {}, `${rows.length} rows, `, dateTime(r.from), ' – ', dateTime(r.to),
				rows.length > SHOWN ? ` (the first ${SHOWN} shown; the CSV has them all)` : ''),
			grid('Report rows', cols, rows.slice(0, SHOWN), 'No usage in this range.'),
		];
	});
}
