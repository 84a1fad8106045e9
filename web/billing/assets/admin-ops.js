// Billing Management, operations: the jobs with their last run and "run
// now" (GET jobs/status, POST jobs/{name}), and the events outbox with its
// delivery state (GET admin/events).
import { api } from './api.js';
import { h, dateTime, statusBadge, section, showError } from './ui.js';
import { grid, fill, link, filterForm, pager, cursorOf, notice, canWrite } from './admin-util.js';

function runNow(name, status, reload) {
	const b = h('button', { type: 'button', class: 'secondary', 'aria-label': `Run now: ${name}`, on: { click: async () => {
		b.disabled = true;
		notice(status, `Running ${name}…`);
		try {
			const r = await api(`jobs/${encodeURIComponent(name)}`, { method: 'POST', body: {} });
			const run = r.last_run || r.run || r;
			notice(status, `${name}: ${run.status}, ${run.items ?? 0} items${run.message ? ' — ' + run.message : ''}.`);
			reload();
		} catch (e) {
			status.replaceChildren();
			showError(status, e);
		} finally {
			b.disabled = false;
		}
	} } }, 'Run now');
	return b;
}

export function jobs(main) {
	const list = h('div', { 'aria-live': 'polite' });
	const status = h('div');
	const load = () => fill(list, async () => {
		const r = await api('jobs/status');
		const cols = [
			{ label: 'Job', cell: j => h('span', {}, h('strong', {}, j.name), h('br'), h('small', {}, j.description || '')) },
			{ label: 'Schedule', cell: j => h('code', {}, j.schedule || '') },
			{ label: 'Last run', cell: j => j.last_run ? statusBadge(j.last_run.status) : 'never' },
			{ label: 'Started', cell: j => j.last_run ? dateTime(j.last_run.started_at) : null },
			{ label: 'Finished', cell: j => j.last_run && j.last_run.finished_at ? dateTime(j.last_run.finished_at) : null },
			{ label: 'Items', num: true, cell: j => j.last_run ? String(j.last_run.items ?? 0) : null },
			{ label: 'Message', cell: j => j.last_run ? j.last_run.message : null },
			{ label: 'Last success', cell: j => j.last_success_at ? dateTime(j.last_success_at) : 'never' },
		];
		if (canWrite()) cols.push({ label: 'Run', cell: j => runNow(j.name, status, load) });
		return grid('Jobs', cols, r.jobs, 'No job.');
	});
	main.append(section('Jobs', status, list));
	load();
}

export const EVENT_COLS = [
	{ label: 'Created', cell: e => dateTime(e.created_at) },
	{ label: 'Type', cell: e => e.type },
	{ label: 'Account', cell: e => e.user_id ? link(e.user_id, 'account', [['u', e.user_id]]) : null },
	{ label: 'Delivery', cell: e => statusBadge(e.status) },
	{ label: 'Attempts', num: true, cell: e => String(e.attempts ?? 0) },
	{ label: 'Next attempt', cell: e => e.next_attempt_at ? dateTime(e.next_attempt_at) : null },
	{ label: 'Delivered', cell: e => e.delivered_at ? dateTime(e.delivered_at) : null },
	{ label: 'Last error', cell: e => e.last_error },
	{ label: 'Payload', cell: e => h('details', {}, h('summary', {}, e.id),
		h('pre', {}, JSON.stringify(e.payload, null, 2))) },
];

const FILTERS = [
	{ name: 'status', label: 'Delivery', type: 'select',
		options: [['', 'Any'], ['pending', 'Pending'], ['delivered', 'Delivered'], ['failed', 'Failed']] },
	{ name: 'type', label: 'Type', type: 'search', placeholder: 'billing.invoice.created' },
	{ name: 'user_id', label: 'User', type: 'search' },
];

export function events(main, params) {
	const list = h('div', { 'aria-live': 'polite' });
	main.append(section('Events outbox', filterForm('Filter events', FILTERS, params, 'events'), list));
	fill(list, async () => {
		const r = await api('admin/events', { query: {
			status: params.get('status'), type: params.get('type'),
			user_id: params.get('user_id'), limit: 25, cursor: cursorOf(params) } });
		return [grid('Events', EVENT_COLS, r.events, 'No event matches these filters.'),
			pager('Event pages', 'events', params, r.next_cursor)];
	});
}
