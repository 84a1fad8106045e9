// Billing Management: helpers its views share (hash state, tables, forms, pages, errors).
import { claims, download } from './api.js';
import { h, date, showError, loading } from './ui.js';

export function role() {
	try { return (claims() || {}).role || 'user'; } catch { return 'user'; }
}
// Only an admin writes; an operator reads everything, with no forms or buttons.
export const canWrite = () => role() === 'admin';

// The place lives in the hash: #VIEW?key=value&... (c: the cursors walked so far).
export function route() {
	const raw = location.hash.slice(1);
	const i = raw.indexOf('?');
	return {
		view: (i < 0 ? raw : raw.slice(0, i)) || 'overview',
		params: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)),
	};
}

export function hashOf(view, pairs) {
	const q = new URLSearchParams();
	for (const [k, v] of pairs) if (v != null && v !== '') q.append(k, v);
	const s = q.toString();
	return '#' + view + (s ? '?' + s : '');
}

export const go = (view, pairs) => { location.hash = hashOf(view, pairs).slice(1); };

export const link = (text, view, pairs = []) => h('a', { href: hashOf(view, pairs), text });

// A table; cols: [[label, cell(row) → node|string|null, num?]].
export function grid(label, cols, rows, empty = 'Nothing to show.') {
	if (!rows || !rows.length) return h('p', { class: 'empty', text: empty });
	const num = (c, a) => c[2] ? { class: 'num', ...a } : a;
	const td = (c, r) => {
		const v = c[1](r);
		return h('td', num(c, { 'data-label': c[0] }), v == null || v === '' ? '—' : (typeof v === 'object' ? v : String(v)));
	};
	return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label },
		h('table', {},
			h('caption', { class: 'visually-hidden', text: label }),
			h('thead', {}, h('tr', {}, ...cols.map(c => h('th', num(c, { scope: 'col' }), c[0])))),
			h('tbody', {}, ...rows.map(r => h('tr', {}, ...cols.map(c => td(c, r)))))));
}

// A period of whole UTC days, its end shown as the last day it includes
// (the API's end is exclusive: 00:00 the next day).
export function period(from, to) {
	const end = /T00:00:00(\.0+)?Z$/.test(to || '') ? new Date(Date.parse(to) - 864e5).toISOString() : to;
	return h('span', {}, date(from), ' – ', date(end));
}

export const facts = (pairs) =>
	h('dl', { class: 'facts' }, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));

let nextId = 0;
export const uid = (p) => `${p}-${++nextId}`;

// A labelled field; f: {name, label, type, options: [[value, text]], ...attrs}.
export function field(f, value) {
	const id = uid('f');
	const { name, label, type = 'text', options, hint, default: def, ...attrs } = f;
	if (value == null || value === '') value = def ?? '';
	let input;
	if (type === 'select') {
		input = h('select', { id, name, ...attrs }, ...options.map(([v, t]) => h('option', { value: v }, t)));
	} else if (type === 'textarea') {
		input = h('textarea', { id, name, ...attrs });
	} else if (type === 'checkbox') {
		input = h('input', { id, name, type, ...attrs });
		input.checked = !!value;
	} else {
		input = h('input', { id, name, type, ...attrs });
	}
	if (type !== 'checkbox') input.value = value || '';
	const kids = [h('label', { for: id }, label), input];
	if (hint) {
		const hid = uid('hint');
		input.setAttribute('aria-describedby', hid);
		kids.push(h('small', { id: hid, class: 'hint' }, hint));
	}
	return h('div', { class: type === 'checkbox' ? 'field check' : 'field' }, ...kids);
}

// A search form whose values become the hash (the server filters).
export function filterForm(label, fields, params, view, keep = []) {
	const form = h('form', { class: 'filters', role: 'search', 'aria-label': label },
		...fields.map(f => field(f, params.get(f.name))),
		h('div', { class: 'field buttons' },
			h('button', { type: 'submit' }, 'Apply'),
			h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
	const submit = (clear) => go(view, [...keep, ...fields.map(f => [f.name, clear ? '' : form.elements[f.name].value.trim()])]);
	form.addEventListener('submit', e => { e.preventDefault(); submit(false); });
	form.addEventListener('reset', e => { e.preventDefault(); submit(true); });
	return form;
}

// The cursor of the page shown: the last of the c's walked so far.
export const cursorOf = (params) => params.getAll('c').pop();

// Previous/next links: previous drops the last cursor, next adds the server's.
export function pager(label, view, params, next) {
	const stack = params.getAll('c');
	const base = [...params].filter(([k]) => k !== 'c');
	const at = (cs) => hashOf(view, [...base, ...cs.map(c => ['c', c])]);
	return h('nav', { class: 'pager', 'aria-label': label },
		stack.length ? h('a', { href: at(stack.slice(0, -1)), rel: 'prev' }, '← Previous') : null,
		h('span', {}, `Page ${stack.length + 1}`),
		next != null && next !== '' ? h('a', { href: at([...stack, String(next)]), rel: 'next' }, 'Next →') : null);
}

// Fill a container from an async builder; while waiting "Loading",
// on failure the error as the API said it.
export async function fill(box, build) {
	loading(box);
	try {
		const nodes = await build();
		box.replaceChildren(...[].concat(nodes).filter(n => n != null));
	} catch (e) {
		box.replaceChildren();
		showError(box, e);
	}
}

// A polite live line for what an action did.
export function notice(box, text) {
	box.replaceChildren(h('p', { class: 'notice', role: 'status' }, text));
}

// What an action reports: done(message) after a change (then reload),
// done(null, error) when it failed.
export const reporter = (box, reload) => (msg, err) => {
	if (err) { box.replaceChildren(); showError(box, err); } else { notice(box, msg); reload(); }
};

// A 400 naming a field (param "lines[1].amount" → lines): the message next
// to that field, which takes the focus; the whole error in box too.
export function fieldError(form, box, err) {
	for (const x of form.querySelectorAll('[aria-invalid]')) {
		x.removeAttribute('aria-invalid');
		x.setAttribute('aria-describedby', x.getAttribute('aria-describedby').replace(/ ?err-\d+/, ''));
	}
	for (const x of form.querySelectorAll('.field-error')) x.remove();
	box.replaceChildren();
	showError(box, err);
	const name = String(err.param || '').split(/[[.]/)[0];
	const input = name && form.elements[name];
	if (!input || !input.closest) return;
	const id = uid('err');
	input.setAttribute('aria-invalid', 'true');
	input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
	input.closest('.field').append(h('small', { id, class: 'field-error' }, err.message));
	input.focus();
}

// fn() on submit, once at a time, its button disabled; a refusal at its field.
export function onSubmit(form, msg, fn) {
	let busy = false;
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const btn = form.querySelector('[type=submit]');
		if (busy) return;
		busy = btn.disabled = true;
		try { await fn(form.elements); } catch (err) { fieldError(form, msg, err); } finally { busy = btn.disabled = false; }
	});
	return form;
}

// A button that downloads a PDF through api.js (the token in a header).
export const pdfButton = (label, path, file, box) => h('button', { type: 'button', class: 'secondary', on: { click: async () => {
	try { await download(path, null, file); } catch (e) { showError(box, e); }
} } }, label);

export function idempotencyKey() {
	const b = new Uint8Array(12);
	crypto.getRandomValues(b);
	return 'admin-' + Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}
