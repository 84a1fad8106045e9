// Billing Management, an account's billing details, time zone, pending plan, audit trail; an admin's PATCH form.
import { api, pathId } from './api.js';
import { h, dateTime, date } from './ui.js';
import { grid, fill, field, notice, canWrite, facts, onSubmit, uid } from './admin-util.js';

const ZONES = ['UTC', 'Europe/London', 'Europe/Paris', 'Europe/Berlin', 'America/New_York', 'America/Chicago',
	'America/Denver', 'America/Los_Angeles', 'America/Sao_Paulo', 'Asia/Tokyo', 'Asia/Shanghai', 'Asia/Kolkata',
	'Asia/Kathmandu', 'Australia/Sydney', 'Australia/Lord_Howe', 'Pacific/Auckland'];

const rateText = (d) => d.tax_exempt ? 'none: exempt' : d.tax_rate
	? `${d.tax_rate.name} ${d.tax_rate.percent}%${d.tax_rate.inclusive ? ' included in prices' : ''} (${d.tax_rate.id}${d.tax_rate_id ? '' : ', the default'})`
	: 'none';

function zone(d, s) {
	const from = d.timezone_effective_from;
	if (!from) return d.timezone;
	// a change applies from the account's next period: pending until then
	const pending = Date.parse(from) > Date.parse((s && s.current_period_start) || 0);
	return h('span', {}, d.timezone, pending
		? h('span', { class: 'pending' }, ` — pending: ${d.previous_timezone} until `, dateTime(from), ', then ' + d.timezone)
		: h('span', {}, ' since ', dateTime(from), ` (was ${d.previous_timezone})`));
}

// What the form shows; the PATCH carries only the fields changed.
const values = (d) => ({
	billing_name: d.billing_name || '', billing_address: (d.billing_address || []).join('\n'),
	country: d.country || '', tax_id: d.tax_id || '', tax_rate_id: d.tax_rate_id || '',
	tax_exempt: !!d.tax_exempt, billing_mode: d.billing_mode || '', timezone: d.timezone || 'UTC',
});

function editForm(d, after) {
	const was = values(d);
	const msg = h('div', { class: 'form-msg' });
	const list = uid('zones');
	const form = h('form', { class: 'form', 'aria-label': 'Edit billing details' },
		field({ name: 'billing_name', label: 'Billing name', maxlength: '200' }, was.billing_name),
		field({ name: 'billing_address', label: 'Address', type: 'textarea', rows: '3', hint: 'One line per line, at most 6' }, was.billing_address),
		field({ name: 'country', label: 'Country', maxlength: '8', hint: 'ISO 3166-1 alpha-2, e.g. GB' }, was.country),
		field({ name: 'tax_id', label: 'Tax id', maxlength: '64' }, was.tax_id),
		field({ name: 'tax_rate_id', label: 'Tax rate id', hint: 'A rate of the config (taxRates); empty: the default' }, was.tax_rate_id),
		field({ name: 'tax_exempt', label: 'Tax exempt', type: 'checkbox' }, was.tax_exempt),
		field({ name: 'billing_mode', label: 'Billing mode', type: 'select',
			options: [['', 'the config’s'], ['usage', 'usage'], ['subscription', 'subscription'], ['hybrid', 'hybrid']] }, was.billing_mode),
		field({ name: 'timezone', label: 'Time zone', list, autocomplete: 'off', hint: 'IANA name; applies from the next period' }, was.timezone),
		h('datalist', { id: list }, ...ZONES.map(z => h('option', { value: z }))),
		h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Save details')),
		msg);
	return onSubmit(form, msg, async (el) => {
		const body = {};
		for (const k of Object.keys(was)) {
			const v = el[k].type === 'checkbox' ? el[k].checked : el[k].value.trim();
			if (v !== was[k]) body[k] = k === 'billing_address' ? v.split('\n').map(x => x.trim()).filter(Boolean) : v === '' && k !== 'timezone' ? null : v;
		}
		if (!Object.keys(body).length) return notice(msg, 'Nothing changed.');
		await api(`admin/users/${pathId(d.user_id)}`, { method: 'PATCH', body });
		after(`Saved: ${Object.keys(body).join(', ')}.`);
	});
}

export function details(box, user) {
	const status = h('div');
	const load = (said) => fill(box, async () => {
		const [d, s] = await Promise.all([api(`admin/users/${pathId(user)}`),
			api('subscription', { query: { user_id: user } }).catch(() => null)]);
		if (said) notice(status, said);
		return [status,
			facts([
				['Billing name', d.billing_name],
				['Address', (d.billing_address || []).join('\n') || null],
				['Country', d.country],
				['Tax id', d.tax_id],
				['Tax rate', rateText(d)],
				['Billing mode', d.billing_mode],
				['Time zone', zone(d, s)],
				s && s.pending_plan_id ? ['Plan change', h('span', {}, `pending: ${s.pending_plan_id} from `, date(s.pending_at))] : null,
			].filter(Boolean)),
			canWrite() ? h('details', {}, h('summary', {}, 'Edit billing details'), editForm(d, load)) : null,
			h('h3', {}, 'Changes'),
			h('div', { class: 'changes' }, grid('Changes of billing details', [
				['When', c => dateTime(c.changed_at)],
				['Field', c => c.field],
				['From', c => c.old_value],
				['To', c => c.new_value],
				['By', c => c.changed_by],
			], d.changes, 'No change recorded.'))];
	});
	load();
}
