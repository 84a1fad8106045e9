// Billing Management, one invoice (#invoice?id=N); for an admin its actions and the credit-note form.
import { api, pathId } from './api.js';
import { h, money, quantity, dateTime, date, statusBadge, confirmAction } from './ui.js';
import { grid, fill, field, reporter, canWrite, idempotencyKey, period, link, onSubmit, pdfButton, facts } from './admin-util.js';
import { actions, invoiceName } from './admin-invoices.js';

const amountField = (name, label, hint) => field({ name, label, inputmode: 'decimal', hint,
	pattern: '[0-9]+([.][0-9]{1,2})?', autocomplete: 'off' });

function creditNoteForm(inv, after) {
	let key = idempotencyKey();
	const cur = inv.currency, name = invoiceName(inv), paid = inv.status === 'paid';
	const msg = h('div', { class: 'form-msg' });
	const lines = (inv.lines || []).map(l => amountField(`line_${l.line_no}`,
		`Line ${l.line_no}: ${l.description} (${money(l.amount, cur)})`));
	const form = h('form', { class: 'form', 'aria-label': 'Issue a credit note' },
		amountField('amount', 'Amount', `At most what is left: ${money(inv.total, cur)} total, ${money(inv.credited, cur)} credited`),
		lines.length ? h('fieldset', {}, h('legend', {}, 'Or per line (leave Amount empty)'), ...lines) : null,
		field({ name: 'reason', label: 'Reason', required: '', maxlength: '500' }),
		paid ? field({ name: 'refund', label: 'Refund the payment', type: 'checkbox' }) : null,
		h('p', { class: 'hint form-msg' }, paid ? 'Unchecked, the amount becomes a credit on the account’s balance for its next invoices.'
			: 'It lowers what the invoice asks.'),
		h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Issue credit note')),
		msg);
	return onSubmit(form, msg, async (el) => {
		const amount = el.amount.value.trim();
		const body = { reason: el.reason.value.trim(), idempotency_key: key };
		const ls = (inv.lines || []).map(l => ({ line_no: l.line_no, amount: el[`line_${l.line_no}`].value.trim() })).filter(l => l.amount);
		if (amount || !ls.length) body.amount = amount; else body.lines = ls;
		if (paid) body.refund = el.refund.checked;
		const what = body.lines ? body.lines.map(l => `${money(l.amount, cur)} on line ${l.line_no}`).join(', ') : money(amount, cur);
		const how = paid ? (body.refund ? ' It is refunded.' : ' It goes to the account’s balance.') : '';
		if (!await confirmAction(`Issue a credit note of ${what} on invoice ${name} (${inv.user_id})?${how}`, 'Issue credit note')) return;
		const cn = await api(`admin/invoices/${pathId(inv.id, 1)}/credit-notes`, { method: 'POST', body });
		key = idempotencyKey();
		after(`Credit note ${cn.credit_note_number} of ${money(cn.amount, cn.currency)} issued (${cn.settlement}).`);
	});
}

function detail(inv, box, done) {
	const cur = inv.currency, m = (x) => money(x, cur), b = inv.bill_to || {};
	const write = canWrite();
	const pdf = (label, path, file) => pdfButton(label, path, file, box);
	return [
		facts([
			['Account', link(inv.user_id, 'account', [['u', inv.user_id]])],
			['Status', statusBadge(inv.status)],
			['Kind', inv.kind],
			['Period', period(inv.period_start, inv.period_end)],
			['Due', inv.due_date && date(inv.due_date)],
			['Bill to', [b.name, ...(b.address || []), b.country, b.tax_id && `Tax id ${b.tax_id}`].filter(Boolean).join('\n') || null],
		]),
		h('div', { class: 'actions' }, write ? actions(inv, done, false) : null,
			inv.invoice_number ? pdf('Download PDF', `invoices/${pathId(inv.id, 1)}/pdf`, `${inv.invoice_number}.pdf`) : null),
		h('h3', {}, 'Lines'),
		grid('Lines', [
			['#', l => String(l.line_no), 1],
			['Description', l => l.description],
			['Quantity', l => quantity(l.quantity, l.unit), 1],
			['Unit price', l => m(l.unit_price), 1],
			['Amount', l => m(l.amount), 1],
		], inv.lines, 'No line.'),
		facts([
			['Subtotal', m(inv.subtotal)],
			['Credits', m(inv.credits)],
			...(inv.taxes || []).map(t => [`${t.name} ${t.percent}%${t.inclusive ? ' (included)' : ''}`, `${m(t.amount)} on ${m(t.taxable)}`]),
			['Tax', inv.tax_exempt ? 'exempt' : m(inv.tax)],
			['Total', m(inv.total)],
			['Credited', m(inv.credited)],
			['Amount due', h('strong', { class: 'due' }, m(inv.amount_due))],
		]),
		h('h3', {}, 'Credit notes'),
		grid('Credit notes', [
			['Number', c => c.credit_note_number],
			['Date', c => dateTime(c.created_at)],
			['Amount', c => m(c.amount), 1],
			['Reason', c => c.reason],
			['Settlement', c => c.refund ? `refund (${c.refund.method})` : c.settlement],
			['PDF', c => pdf(`PDF ${c.credit_note_number}`, `credit-notes/${pathId(c.id, 1)}/pdf`, `${c.credit_note_number}.pdf`)],
		], inv.credit_notes, 'No credit note.'),
		write && ['sent', 'overdue', 'paid'].includes(inv.status) ? h('details', { open: new URLSearchParams(location.hash.split('?')[1]).has('cn') },
			h('summary', {}, 'Issue a credit note'), creditNoteForm(inv, done)) : null,
		h('h3', {}, 'Credits applied'),
		grid('Credits applied', [
			['Credit', c => String(c.credit_id), 1],
			['Reason', c => c.reason],
			['Amount', c => m(c.amount), 1],
		], inv.credits_applied, 'None.'),
		h('h3', {}, 'Payments'),
		grid('Invoice payments', [
			['Date', p => dateTime(p.created_at)],
			['Method', p => p.method],
			['Status', p => statusBadge(p.status)],
			['Amount', p => m(p.amount), 1],
		], inv.payments, 'No payment.'),
	];
}

export function invoice(main, params) {
	const id = params.get('id') || '';
	const box = h('div', { 'aria-live': 'polite' });
	const status = h('div');
	const title = h('h2', {}, `Invoice ${id}`);
	const load = () => fill(box, async () => {
		const inv = await api(`invoices/${pathId(id, 1)}`);
		title.textContent = `Invoice ${invoiceName(inv)}`;
		return detail(inv, status, reporter(status, load));
	});
	main.append(h('p', { class: 'back' }, link('← All invoices', 'invoices')),
		h('section', { class: 'card' }, title, status, box));
	load();
}
