// Billing Management, operations: jobs with "run now", the events outbox with its delivery state.
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
			['Job', j => h('span', {}, h('strong', {}, j.name), h('br'), h('small', {}, j.description || ''))],
			['Schedule', j => h('code', {}, j.schedule || '')],
			['Last run', j => j.last_run ? statusBadge(j.last_run.status) : 'never'],
			['Started', j => j.last_run ? dateTime(j.last_run.started_at) : null],
			['Finished', j => j.last_run && j.last_run.finished_at ? dateTime(j.last_run.finished_at) : null],
			['Items', j => j.last_run ? String(j.last_run.items ?? 0) : null, 1],
			['Message', j => j.last_run ? j.last_run.message : null],
			['Last success', j => j.last_success_at ? dateTime(j.last_success_at) : 'never'],
		];
		if (canWrite()) cols.push(['Run', j => runNow(j.name, status, load)]);
		return grid('Jobs', cols, r.jobs, 'No job.');
	});
	main.append(section('Jobs', status, list));
	load();
}

export const EVENT_COLS = [
	['Created', e => dateTime(e.created_at)],
	['Type', e => e.type],
	['Account', e => e.user_id ? link(e.user_id, 'account', [['u', e.user_id]]) : null],
	['Delivery', e => statusBadge(e.status)],
	['Attempts', e => String(e.attempts ?? 0), 1],
	['Next attempt', e => e.next_attempt_at ? dateTime(e.next_attempt_at) : null],
	['Delivered', e => e.delivered_at ? dateTime(e.delivered_at) : null],
	['Last error', e => e.last_error],
	['Payload', e => h('details', {}, h('summary', {}, e.id),
		h('pre', {}, JSON.stringify(e.payload, null, 2)))],
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
