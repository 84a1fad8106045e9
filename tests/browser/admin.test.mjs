// Billing Management (/admin/billing/) in a real browser against the real
// stack: totals and accounts filtered and paged by the server, the account
// view's credit and manual-invoice forms, an invoice marked paid behind its
// confirmation, the report's CSV, the operator's read-only view, a user's
// token refused; no console error, no foreign request, axe, 375 px.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
	token, apiCall, uniqueUser, seedSession, runJob, openPage, expectClean,
	checkA11y, screenshot, closeBrowser,
} from './lib/harness.mjs';

const ADMIN = token('admin@example.com', 'admin');
const OPERATOR = token('operator@example.com', 'operator');
const USER_PAGE = fileURLToPath(new URL('../../web/billing/index.html', import.meta.url));

after(closeBrowser);

// The API answers a page got so far: {url: path + query, status}.
const apiSeen = (p) => p.responses
	.map((r) => ({ u: new URL(r.url), status: r.status }))
	.filter((r) => r.u.pathname.startsWith('/api/'))
	.map((r) => ({ url: r.u.pathname + r.u.search, status: r.status }));
// A hash route keeps its place: the token goes in StreamSpace's localStorage.
const LS = { token: ADMIN, via: 'localStorage' };

async function clean(p, name, opts) {
	const bad = await checkA11y(p.page);
	assert.deepEqual(bad, [], `axe on ${name}`);
	await screenshot(p.page, name);
	expectClean(p, opts);
}

// A fresh account with 10 h of a 2-core, 4 GB session on 2027-03-14: 1.40.
async function seededUser(prefix) {
	const u = uniqueUser(prefix);
	await seedSession(u, { sessionId: `${u}-s1`, cores: 2, memoryGb: 4,
		start: '2027-03-14T00:00:00Z', end: '2027-03-14T10:00:00Z' });
	return u;
}

let pair = null;
async function twoUsers() {
	if (!pair) {
		const prefix = uniqueUser('adm').split('@')[0];
		pair = [await seededUser(`${prefix}-a`), await seededUser(`${prefix}-b`), prefix];
		await runJob('calculate-usage');
	}
	return pair;
}

test('totals first, then the accounts the server filtered by user and status', async () => {
	const [a, b, prefix] = await twoUsers();
	const p = await openPage(`/admin/billing/#overview?q=${encodeURIComponent(prefix)}&status=active`, LS);
	const figures = p.page.locator('.figures');
	await figures.getByText('Usage cost this period').waitFor();
	await figures.getByText('Overdue invoices').waitFor();
	await figures.getByText('Outstanding').waitFor();
	const rows = p.page.locator('table').filter({ hasText: 'Period cost' }).locator('tbody tr');
	await rows.filter({ hasText: a }).waitFor();
	await rows.filter({ hasText: b }).waitFor();
	assert.equal(await rows.count(), 2, 'only the two accounts matching the filter');
	for (const u of [a, b]) {
		const row = rows.filter({ hasText: u });
		assert.match(await row.innerText(), /\$1\.40/, 'this period cost of the seeded session');
		assert.match(await row.innerText(), /active/);
	}
	// (the first admin/users?limit=1 is the page asking whether it may open)
	const list = apiSeen(p).find((s) => /admin\/users\?.*limit=25/.test(s.url));
	assert.ok(list, 'the accounts list asked');
	const q = new URL(list.url, 'http://x').searchParams;
	assert.equal(q.get('q'), prefix, 'the user filter goes to the server');
	assert.equal(q.get('status'), 'active', 'the status filter goes to the server');
	assert.ok(apiSeen(p).some((s) => s.url.includes('admin/summary') && s.status === 200));

	await screenshot(p.page, 'admin-overview');

	// another status through the form: the request carries it, nothing matches
	await p.page.getByLabel('Status').first().selectOption('suspended');
	await p.page.getByRole('button', { name: 'Apply' }).first().click();
	await p.page.getByText('No account matches these filters.').waitFor();
	assert.ok(apiSeen(p).some((s) => /admin\/users\?.*status=suspended/.test(s.url)));
	assert.match(await p.page.evaluate(() => location.hash), /status=suspended/, 'the hash keeps the filter');
	await clean(p, 'admin-overview-suspended');
	await p.page.close();
});

test('pages come from the server: next and previous by cursor', async () => {
	const [a, b, prefix] = await twoUsers();
	const p = await openPage(`/admin/billing/#overview?q=${encodeURIComponent(prefix)}&limit=1`, LS);
	const table = p.page.locator('table').filter({ hasText: 'Period cost' });
	await table.getByText(a).waitFor();
	assert.equal(await table.getByText(b).count(), 0);
	await p.page.getByRole('link', { name: 'Next →' }).click();
	await table.getByText(b).waitFor();
	const second = apiSeen(p).filter((s) => s.url.includes('admin/users')).pop();
	const sp = new URL(second.url, 'http://x').searchParams;
	assert.ok(sp.get('cursor'), 'page 2 asks the server with its cursor');
	assert.equal(sp.get('limit'), '1');
	assert.equal(sp.get('q'), prefix);
	// a reload keeps the place
	await p.page.reload();
	await p.page.locator('table').filter({ hasText: 'Period cost' }).getByText(b).waitFor();
	await p.page.getByRole('link', { name: '← Previous' }).click();
	await p.page.locator('table').filter({ hasText: 'Period cost' }).getByText(a).waitFor();
	expectClean(p);
	await p.page.close();
});

test('the admin adds a credit and the user sees it', async () => {
	const [a] = await twoUsers();
	const p = await openPage(`/admin/billing/#account?u=${encodeURIComponent(a)}`, LS);
	await p.page.getByRole('heading', { name: `Account ${a}` }).waitFor();
	await p.page.getByText('Add a credit').click();
	const form = p.page.getByRole('form', { name: 'Add a credit' });
	// the API's refusal is shown as it said it, naming the field
	await form.getByLabel('Amount').fill('0');
	await form.getByLabel('Reason').fill('nothing');
	await form.getByRole('button', { name: 'Add credit' }).click();
	await form.getByRole('alert').filter({ hasText: 'Field: amount' }).waitFor();
	await form.getByLabel('Amount').fill('12.50');
	await form.getByLabel('Reason').fill('Goodwill for the outage');
	await form.getByLabel(/Expires/).fill('2027-12-31');
	await form.getByRole('button', { name: 'Add credit' }).click();
	await form.getByRole('status').filter({ hasText: /of \$12\.50 added/ }).waitFor();
	const credits = p.page.locator('table').filter({ hasText: 'Remaining' });
	await credits.getByText('Goodwill for the outage').waitFor();
	await clean(p, 'admin-account', { allowStatus: [400] });  // the refused amount 0
	await p.page.close();

	const mine = token(a, 'user');
	if (existsSync(USER_PAGE)) {
		const u = await openPage('/billing/', { token: mine });
		await u.page.getByText('Goodwill for the outage').first().waitFor();
		expectClean(u);
		await u.page.close();
	} else {
		const r = await apiCall('GET', 'credits', null, mine);
		assert.equal(r.status, 200);
		const c = r.json.credits.find((x) => x.reason === 'Goodwill for the outage');
		assert.ok(c, 'the user reads the credit');
		assert.equal(String(c.amount), '12.5');
	}
});

test('a manual invoice, then mark paid behind a confirmation naming number and amount', async () => {
	const u = await seededUser('inv');
	await runJob('calculate-usage');
	const p = await openPage(`/admin/billing/#account?u=${encodeURIComponent(u)}`, LS);
	await p.page.getByRole('heading', { name: `Account ${u}` }).waitFor();
	await p.page.getByText('Make a manual invoice').click();
	const form = p.page.getByRole('form', { name: 'Make a manual invoice' });
	await form.getByLabel('Period start').fill('2027-03-14');
	await form.getByLabel(/Period end/).fill('2027-03-14');
	await form.getByLabel(/draft/).uncheck();
	await form.getByRole('button', { name: 'Make invoice' }).click();
	const made = form.getByRole('status');
	await made.filter({ hasText: /made: sent, \$1\.40/ }).waitFor();
	const number = /INV-\d{4}-\d{6}/.exec(await made.innerText())[0];

	// by keyboard: Escape leaves the dialog and changes nothing
	await p.page.getByRole('button', { name: `Void ${number}` }).focus();
	await p.page.keyboard.press('Enter');
	await p.page.locator('dialog[open]').getByText(/Voiding cannot be undone/).waitFor();
	await p.page.keyboard.press('Escape');
	await p.page.locator('dialog').waitFor({ state: 'detached' });
	await p.page.locator('tr').filter({ hasText: number }).locator('.status-sent').waitFor();

	await p.page.getByRole('button', { name: `Mark paid ${number}` }).click();
	const dialog = p.page.locator('dialog[open]');
	await dialog.waitFor();
	const text = await dialog.innerText();
	assert.match(text, new RegExp(number), 'the confirmation names the invoice');
	assert.match(text, /\$1\.40/, 'and its amount');
	await screenshot(p.page, 'admin-confirm-paid');
	await dialog.getByRole('button', { name: 'Mark paid' }).click();
	await p.page.getByRole('status').filter({ hasText: `${number} of $1.40 is now paid` }).waitFor();
	const row = p.page.locator('tr').filter({ hasText: number });
	await row.locator('.status-paid').waitFor();
	assert.equal(await row.getByRole('button').count(), 0, 'a paid invoice offers no action');
	await p.page.getByRole('status').filter({ hasText: 'is now paid' }).waitFor();
	await screenshot(p.page, 'admin-invoice-paid');

	// every account's invoices, filtered by the server: user, status, period
	await p.page.getByRole('link', { name: 'Invoices' }).click();
	const filters = p.page.getByRole('search', { name: 'Filter invoices' });
	await filters.getByLabel('User').fill(u);
	await filters.getByLabel('Status').selectOption('paid');
	await filters.getByLabel('Period from').fill('2027-03-01');
	await filters.getByLabel('Period to').fill('2027-03-31');
	await filters.getByRole('button', { name: 'Apply' }).click();
	await p.page.locator('tr').filter({ hasText: number }).locator('.status-paid').waitFor();
	const asked = apiSeen(p).filter((s) => s.url.includes('admin/invoices?')).pop();
	const q = new URL(asked.url, 'http://x').searchParams;
	assert.deepEqual([q.get('user_id'), q.get('status'), q.get('from'), q.get('to')],
		[u, 'paid', '2027-03-01', '2027-03-31'], 'the filters go to the server');
	await clean(p, 'admin-invoices');
	await p.page.close();
	const check = await apiCall('GET', `invoices?user_id=${encodeURIComponent(u)}`, null, ADMIN);
	assert.equal(check.json.invoices[0].status, 'paid');
});

// A sent manual invoice of the seeded 1.40 (2027-03-14) → the invoice.
async function sentInvoice(prefix) {
	const u = await seededUser(prefix);
	await runJob('calculate-usage');
	const r = await apiCall('POST', 'admin/invoices', { user_id: u, period_start: '2027-03-14',
		period_end: '2027-03-14', draft: false }, ADMIN);
	assert.equal(r.status, 201, r.text);
	return r.json;
}

test('a partial credit note lowers the amount due, behind a confirmation; its PDF downloads', async () => {
	const inv = await sentInvoice('cn');
	const number = inv.invoice_number;
	const p = await openPage(`/admin/billing/#invoice?id=${inv.id}`, LS);
	await p.page.getByRole('heading', { name: `Invoice ${number}` }).waitFor();
	const due = p.page.locator('.due');
	assert.equal(await due.innerText(), '$1.40');
	await p.page.getByRole('button', { name: `Void ${number}` }).waitFor();
	await p.page.getByText('Issue a credit note').click();
	const form = p.page.getByRole('form', { name: 'Issue a credit note' });
	assert.ok(await form.getByLabel(/^Line 1: /).count(), 'a field per line of the invoice');
	assert.equal(await form.getByLabel('Refund the payment').count(), 0, 'no refund on an unpaid invoice');

	// above what is left: the API's refusal next to the amount
	await form.getByLabel('Amount').fill('5.00');
	await form.getByLabel('Reason').fill('Too much');
	await form.getByRole('button', { name: 'Issue credit note' }).click();
	await p.page.locator('dialog[open]').getByRole('button', { name: 'Issue credit note' }).click();
	const err = form.locator('.field').filter({ has: p.page.getByLabel('Amount') }).locator('.field-error');
	await err.waitFor();
	assert.equal(await form.getByLabel('Amount').getAttribute('aria-invalid'), 'true');
	await form.getByRole('alert').filter({ hasText: 'Field: amount' }).waitFor();

	// 0.40: the confirmation names the invoice and the amount
	await form.getByLabel('Amount').fill('0.40');
	await form.getByLabel('Reason').fill('Memory was mis-metered');
	await form.getByRole('button', { name: 'Issue credit note' }).click();
	const dialog = p.page.locator('dialog[open]');
	const text = await dialog.innerText();
	assert.match(text, new RegExp(number), 'the confirmation names the invoice');
	assert.match(text, /\$0\.40/, 'and the amount');
	await screenshot(p.page, 'admin-confirm-credit-note');
	await dialog.getByRole('button', { name: 'Issue credit note' }).click();
	await p.page.getByRole('status').filter({ hasText: /Credit note CN-\d{4}-\d{6} of \$0\.40 issued \(due\)/ }).waitFor();
	await p.page.locator('.due').filter({ hasText: '$1.00' }).waitFor();
	const api = await apiCall('GET', `invoices/${inv.id}`, null, ADMIN);
	assert.equal(api.json.amount_due, 1, 'the API says 1.00 is due');
	assert.equal(api.json.credited, 0.4);
	const cn = api.json.credit_notes[0];
	const row = p.page.locator('tr').filter({ hasText: cn.credit_note_number });
	assert.match(await row.innerText(), /Memory was mis-metered[\s\S]*due/);
	assert.equal(await p.page.getByRole('button', { name: `Void ${number}` }).count(), 0,
		'no void once credited');

	// the PDF, through a blob (the token never in a URL)
	const [dl] = await Promise.all([p.page.waitForEvent('download'),
		row.getByRole('button', { name: `PDF ${cn.credit_note_number}` }).click()]);
	assert.equal(dl.suggestedFilename(), `${cn.credit_note_number}.pdf`);
	assert.equal(readFileSync(await dl.path()).subarray(0, 5).toString(), '%PDF-');

	// a double submit makes one note (one confirmation, one key)
	await p.page.getByText('Issue a credit note').click();
	await form.getByLabel('Amount').fill('0.10');
	await form.getByLabel('Reason').fill('Twice?');
	await form.evaluate((f) => { f.requestSubmit(); f.requestSubmit(); });
	await p.page.locator('dialog[open]').getByRole('button', { name: 'Issue credit note' }).click();
	await p.page.locator('.due').filter({ hasText: '$0.90' }).waitFor();
	assert.equal(await p.page.locator('dialog').count(), 0);
	const twice = await apiCall('GET', `invoices/${inv.id}`, null, ADMIN);
	assert.equal(twice.json.credit_notes.length, 2, 'one note for the double submit');

	// the list shows what is due, and no void
	await p.page.goto(p.page.url().replace(/#.*/, `#invoices?user_id=${encodeURIComponent(inv.user_id)}`));
	const lrow = p.page.locator('tr').filter({ hasText: number });
	await lrow.getByText('$0.90').waitFor();
	await lrow.getByRole('link', { name: `Credit note ${number}` }).waitFor();
	assert.equal(await lrow.getByRole('button', { name: `Void ${number}` }).count(), 0);

	// paid: the form offers a refund, else a credit to the balance
	assert.equal((await apiCall('PATCH', `admin/invoices/${inv.id}`, { status: 'paid' }, ADMIN)).status, 200);
	await lrow.getByRole('link', { name: `Credit note ${number}` }).click();
	await p.page.getByRole('heading', { name: `Invoice ${number}` }).waitFor();
	await form.getByLabel('Refund the payment').waitFor();
	await form.getByText(/credit on the account’s balance/).waitFor();
	await clean(p, 'admin-invoice-detail', { allowStatus: [400] });
	await p.page.setViewportSize({ width: 375, height: 800 });
	const w = await p.page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(w <= 375, `the invoice fits 375 px (${w} px)`);
	await clean(p, 'admin-invoice-375', { allowStatus: [400] });
	await p.page.close();
});

test('billing details: a bad country at its field, then country, tax rate and zone in the audit trail', async () => {
	const u = await seededUser('det');
	const p = await openPage(`/admin/billing/#account?u=${encodeURIComponent(u)}`, LS);
	const panel = p.page.getByRole('region', { name: 'Billing details', exact: true });
	await panel.getByText('No change recorded.').waitFor();
	await panel.getByText('Edit billing details').click();
	const form = panel.getByRole('form', { name: 'Edit billing details' });
	await form.getByLabel('Country').fill('UK');
	await form.getByRole('button', { name: 'Save details' }).click();
	const err = form.locator('.field').filter({ has: p.page.getByLabel('Country') }).locator('.field-error');
	await err.waitFor();
	assert.ok((await err.innerText()).length > 0, 'the API says why');
	assert.equal(await form.getByLabel('Country').getAttribute('aria-invalid'), 'true');
	assert.equal((await apiCall('GET', `admin/users/${encodeURIComponent(u)}`, null, ADMIN)).json.country, null,
		'nothing changed');

	await form.getByLabel('Billing name').fill('Acme Ltd');
	await form.getByLabel('Address').fill('1 Main St\nLeeds');
	await form.getByLabel('Country').fill('GB');
	await form.getByLabel('Tax rate id').fill('vat20');
	await form.getByLabel('Time zone').fill('Europe/Paris');
	await form.getByRole('button', { name: 'Save details' }).click();
	await panel.getByRole('status').filter({ hasText: /Saved: .*country/ }).waitFor();
	await panel.getByText(/VAT 20% \(vat20\)/).first().waitFor();
	await panel.getByText(/pending: UTC until/).first().waitFor();
	const trail = panel.locator('table').filter({ hasText: 'Field' });
	for (const [f, v] of [['country', 'GB'], ['tax_rate_id', 'vat20'], ['timezone', 'Europe/Paris'], ['billing_name', 'Acme Ltd']]) {
		const r = trail.locator('tr').filter({ hasText: f }).filter({ hasText: v });
		await r.first().waitFor();
		assert.match(await r.first().innerText(), /admin@example\.com/);
	}
	const d = (await apiCall('GET', `admin/users/${encodeURIComponent(u)}`, null, ADMIN)).json;
	assert.deepEqual([d.country, d.tax_rate_id, d.timezone, d.billing_address], ['GB', 'vat20', 'Europe/Paris', ['1 Main St', 'Leeds']]);
	assert.ok(d.timezone_effective_from, 'the zone waits for the next period');
	assert.equal(d.changes.filter((c) => c.field === 'billing_mode').length, 0, 'an untouched field is not sent');
	await clean(p, 'admin-billing-details', { allowStatus: [400] });
	await p.page.close();
});

test('an operator: no credit-note form or link, no details form', async () => {
	const inv = await sentInvoice('opcn');
	const OP = { token: OPERATOR, via: 'localStorage' };
	const p = await openPage(`/admin/billing/#invoice?id=${inv.id}&cn=1`, OP);
	await p.page.getByRole('heading', { name: `Invoice ${inv.invoice_number}` }).waitFor();
	await p.page.locator('.due').waitFor();
	assert.equal(await p.page.locator('main form').count(), 0);
	assert.equal(await p.page.getByText('Issue a credit note').count(), 0);
	assert.equal(await p.page.getByRole('button', { name: /Void|Mark paid/ }).count(), 0);
	await clean(p, 'admin-invoice-operator');
	await p.page.goto(p.page.url().replace(/#.*/, `#invoices?user_id=${encodeURIComponent(inv.user_id)}`));
	await p.page.locator('tr').filter({ hasText: inv.invoice_number }).waitFor();
	assert.equal(await p.page.getByRole('link', { name: /^Credit note/ }).count(), 0);
	await p.page.goto(p.page.url().replace(/#.*/, `#account?u=${encodeURIComponent(inv.user_id)}`));
	const panel = p.page.getByRole('region', { name: 'Billing details', exact: true });
	await panel.getByText('Time zone').first().waitFor();
	assert.equal(await panel.getByText('Edit billing details').count(), 0);
	assert.equal(await p.page.locator('main form').count(), 0);
	await clean(p, 'admin-account-operator');
	await p.page.close();
});

test('the usage report downloads as CSV, the token never in a URL', async () => {
	const [a] = await twoUsers();
	const p = await openPage(`/admin/billing/#reports?group_by=user&from=2027-03-14&to=2027-03-14&user_id=${encodeURIComponent(a)}`, LS);
	await p.page.locator('table').getByText(a).waitFor();
	const [dl] = await Promise.all([
		p.page.waitForEvent('download'),
		p.page.getByRole('button', { name: 'Download CSV' }).click(),
	]);
	const csv = readFileSync(await dl.path(), 'utf8');
	assert.match(csv.split('\n')[0], /^user_id,total_cost,records/);
	assert.match(csv, new RegExp(`${a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},1\\.40`));
	assert.match(dl.suggestedFilename(), /^usage-user-2027-03-14-2027-03-14\.csv$/);
	const rep = p.requests.filter((x) => x.includes('admin/reports'));
	assert.ok(rep.some((x) => x.includes('format=csv') && x.includes('group_by=user')));
	for (const x of p.requests) assert.doesNotMatch(x, /token|eyJ/, 'no token in a URL');
	await clean(p, 'admin-report');
	await p.page.close();
});

test('jobs and the events outbox', async () => {
	const p = await openPage('/admin/billing/#jobs', LS);
	await p.page.getByText('calculate-usage').first().waitFor();
	await p.page.getByRole('button', { name: 'Run now: check-quotas' }).click();
	await p.page.getByRole('status').filter({ hasText: /check-quotas: succeeded/ }).waitFor();
	await clean(p, 'admin-jobs');
	await p.page.getByRole('link', { name: 'Events' }).click();
	await p.page.getByRole('heading', { name: 'Events outbox' }).waitFor();
	await p.page.locator('table, .empty').first().waitFor();
	await clean(p, 'admin-events');
	await p.page.close();
});

test('an operator sees everything read-only: no form, no action button', async () => {
	const [a] = await twoUsers();
	const p = await openPage(`/admin/billing/#account?u=${encodeURIComponent(a)}`, { token: OPERATOR, via: 'localStorage' });
	await p.page.getByText(/read-only/).waitFor();
	await p.page.locator('table').filter({ hasText: 'Remaining' }).waitFor();
	await p.page.locator('table').filter({ hasText: 'Resource' }).first().waitFor();
	assert.equal(await p.page.locator('main form').count(), 0, 'no form on the account');
	assert.equal(await p.page.getByText('Add a credit').count(), 0);
	assert.equal(await p.page.locator('main button').count(), 0, 'no button on the account');
	await p.page.goto(p.page.url().replace(/#.*/, '#jobs'));
	await p.page.getByText('calculate-usage').first().waitFor();
	assert.equal(await p.page.getByRole('button', { name: /Run now/ }).count(), 0);
	await p.page.getByRole('link', { name: 'Invoices' }).click();
	await p.page.getByRole('heading', { name: 'Invoices' }).waitFor();
	await p.page.locator('table, .empty').first().waitFor();
	assert.equal(await p.page.getByRole('button', { name: /Mark paid|Void|Finalize/ }).count(), 0);
	await clean(p, 'admin-operator');
	await p.page.close();
});

test("a user's token: the 403 message, no one else's data", async () => {
	const [a, b] = await twoUsers();
	const mine = token(a, 'user');
	for (const [path, via, shot] of [['/admin/billing/', 'hash', 'admin-forbidden'],
		[`/admin/billing/#account?u=${encodeURIComponent(b)}`, 'localStorage', 'admin-forbidden-account']]) {
		const p = await openPage(path, { token: mine, via });
		await p.page.getByText(/for billing admins/).waitFor();
		await p.page.getByRole('heading', { name: 'Not allowed' }).waitFor();
		const seen = apiSeen(p);
		assert.ok(seen.length > 0, 'the server was asked');
		for (const s of seen) assert.equal(s.status, 403, `${s.url} refused`);
		assert.doesNotMatch(p.page.url(), /token=/, 'the token left the address bar');
		assert.ok(!(await p.page.content()).includes(b), "no other account's id in the DOM");
		assert.equal(await p.page.locator('table').count(), 0);
		assert.ok(await p.page.locator('#tabs').isHidden(), 'no sections');
		await clean(p, shot, { allowStatus: [403] });
		await p.page.close();
	}
});

test('375 px: the list answers and fits; the time to the list is printed', async () => {
	const [a, , prefix] = await twoUsers();
	const p = await openPage(`/admin/billing/#overview?q=${encodeURIComponent(prefix)}`,
		{ ...LS, width: 375, height: 800 });
	const table = p.page.locator('table').filter({ hasText: 'Period cost' });
	await table.getByText(a).waitFor();
	const width = await p.page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(width <= 375, `no page-wide horizontal scroll (${width} px)`);
	await clean(p, 'admin-375');
	await p.page.goto(p.page.url().replace(/#.*/, `#account?u=${encodeURIComponent(a)}`));
	await p.page.locator('table').filter({ hasText: 'Remaining' }).waitFor();
	const w2 = await p.page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(w2 <= 375, `the account fits too (${w2} px)`);
	await clean(p, 'admin-375-account');
	await p.page.goto(p.page.url().replace(/#.*/, `#overview?q=${encodeURIComponent(prefix)}`));
	// the time for the admin list to answer, seen from the browser, 5 times
	const times = [];
	for (let i = 0; i < 5; i++) {
		const t0 = Date.now();
		await p.page.reload();
		await p.page.locator('table').filter({ hasText: 'Period cost' }).getByText(a).waitFor();
		const api = await p.page.evaluate(() => {
			const r = performance.getEntriesByType('resource').find((e) => e.name.includes('admin/users'));
			return r ? r.responseEnd - r.requestStart : null;
		});
		times.push({ shown: Date.now() - t0, api });
		if (i === 4) console.log('admin list in-page (request to rows):', await p.page.evaluate(() =>
			performance.getEntriesByName('admin-accounts-list').map((m) => m.duration.toFixed(1) + ' ms').join(', ')));
	}
	const med = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
	console.log(`admin list: navigation to rows on screen median ${med(times.map((t) => t.shown))} ms; ` +
		`admin/users request median ${med(times.map((t) => t.api)).toFixed(1)} ms (${times.length} loads)`);
	expectClean(p);
	await p.page.close();
});

// Opt-in (ADMIN_BENCH_ACCOUNTS=10000 python3 tests/browser/run.py admin): N
// more accounts seeded straight into the stack's database (half a month of
// daily totals each, two invoices, a credit for every tenth, every 20th
// suspended), then the page's time from navigation to the list on screen,
// and to the totals, median of 5 loads.
const BENCH = Number(process.env.ADMIN_BENCH_ACCOUNTS || 0);
test(`the admin page with ${BENCH} more accounts: time to the list`, { skip: !BENCH && 'ADMIN_BENCH_ACCOUNTS not set' }, async () => {
	const sock = path.join(process.env.BILLING_STACK_VAR, 'mysql.sock');
	const sql = (text) => execFileSync('mariadb', ['--no-defaults', '-S', sock, '-u', 'root',
		'--batch', '--skip-column-names', 'billing'], { input: text, encoding: 'utf8', maxBuffer: 1 << 26 });
	const chunks = (rows, head) => {
		const out = [];
		for (let i = 0; i < rows.length; i += 1000) out.push(head + rows.slice(i, i + 1000).join(',') + ';');
		return out.join('\n');
	};
	const t0 = Date.now();
	const ids = Array.from({ length: BENCH }, (_, i) => i + 1);
	const name = (i) => `bench-${String(i).padStart(5, '0')}`;
	sql(chunks(ids.map((i) => `('${name(i)}', '${name(i)}@example.com', '${i % 20 ? 'active' : 'suspended'}', '2027-01-01')`),
		'INSERT INTO billing_accounts (user_id, email, status, created_at) VALUES '));
	const first = Number(sql(`SELECT MIN(id) FROM billing_accounts WHERE user_id = '${name(1)}'`).trim());
	const acc = ids.map((i) => first + i - 1);
	const daily = [];
	for (const a of acc) {
		for (let d = 1; d <= 14; d++) {
			const day = `2027-03-${String(d).padStart(2, '0')}`;
			daily.push(`(${a}, '${day}', 'cpu', 0.05, 2, 0.100000, 1)`, `(${a}, '${day}', 'memory', 0.01, 4, 0.040000, 1)`,
				`(${a}, '${day}', 'storage', 0.10, 1, 0.000137, 1)`);
		}
	}
	sql(chunks(daily, 'INSERT INTO billing_usage_daily (account_id, day, resource_type, unit_price, quantity, total_cost, records) VALUES '));
	sql(chunks(acc.flatMap((a) => [`(${a}, '2027-01-01', '2027-02-01', 'usage', 'usd', 4.21, 4.21, 'paid')`,
		`(${a}, '2027-02-01', '2027-03-01', 'usage', 'usd', 4.21, 4.21, '${a % 7 ? 'sent' : 'overdue'}')`]),
	'INSERT INTO billing_invoices (account_id, period_start, period_end, billing_mode, currency, subtotal, total, status) VALUES '));
	sql(chunks(acc.filter((a) => a % 10 === 0).map((a) => `(${a}, 5.00, 5.00, 'usd', 'welcome')`),
		'INSERT INTO billing_credits (account_id, amount, remaining, currency, reason) VALUES '));
	sql('ANALYZE TABLE billing_accounts, billing_usage_daily, billing_invoices, billing_credits;');
	console.log(`seeded ${BENCH} accounts in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

	const p = await openPage('/admin/billing/#overview', LS);
	const rows = p.page.locator('table').filter({ hasText: 'Period cost' }).locator('tbody tr');
	await rows.first().waitFor();
	const runs = [];
	for (let i = 0; i < 5; i++) {
		const n0 = Date.now();
		await p.page.reload();
		await rows.nth(24).waitFor();
		const list = Date.now() - n0;
		await p.page.locator('.figures').waitFor();
		const totals = Date.now() - n0;
		const req = await p.page.evaluate(() => Object.fromEntries(performance.getEntriesByType('resource')
			.filter((e) => e.name.includes('/api/')).map((e) => [new URL(e.name).pathname.split('/').slice(-2).join('/') +
				new URL(e.name).search, +(e.responseEnd - e.requestStart).toFixed(1)])));
		const shown = await p.page.evaluate(() => performance.getEntriesByName('admin-accounts-shown')[0].startTime);
		runs.push({ list, totals, req, shown });
	}
	const med = (xs) => [...xs].sort((x, y) => x - y)[2];
	const reqMed = (k) => med(runs.map((r) => Object.entries(r.req).find(([u]) => u.startsWith(k))?.[1] ?? NaN));
	console.log(`admin page, ${BENCH} more accounts (median of 5): in the page, navigation start to 25 rows ${med(runs.map((r) => r.shown)).toFixed(0)} ms; seen by the test ${med(runs.map((r) => r.list))} ms, ` +
		`to totals ${med(runs.map((r) => r.totals))} ms; requests: admin/users?limit=1 ${reqMed('admin/users?limit=1')} ms, ` +
		`admin/users?limit=25 ${reqMed('admin/users?limit=25')} ms, admin/summary ${reqMed('admin/summary')} ms`);
	expectClean(p);
	await p.page.close();
});

// -- review fixes: the hash token keeps the route; ids in API paths -------------

test('a deep link with #token= keeps its view; a later #token= in the hash is taken', async () => {
	const [a] = await twoUsers();
	const hash = '#account?u=' + encodeURIComponent(a);
	const p = await openPage('/admin/billing/' + hash + '&token=' + ADMIN, { via: 'none' });
	await p.page.getByRole('heading', { name: `Account ${a}` }).waitFor();
	assert.equal(new URL(p.page.url()).hash, hash);
	assert.equal(await p.page.evaluate(() => sessionStorage.getItem('billing-token')), ADMIN);
	// the same token again, on a later route: taken off, the route shown, no reload
	await p.page.evaluate((t) => { window.kept = 1; location.hash = 'invoices?status=paid&token=' + t; }, ADMIN);
	await p.page.waitForURL(/#invoices\?status=paid$/);
	await p.page.locator('nav a[data-view=invoices][aria-current=page]').waitFor();
	assert.equal(await p.page.evaluate(() => window.kept), 1);
	assert.ok(p.requests.every((u) => !u.includes(ADMIN)), p.requests.join('\n'));
	expectClean(p);
	await p.context.close();
});

test('an account or invoice id that is not one says the link is bad and asks nothing with it', async () => {
	for (const hash of ['invoice?id=..', 'invoice?id=', 'invoice?id=3%2F..', 'account?u=..', 'account?u=.', 'account?u=']) {
		const p = await openPage('/admin/billing/#' + hash, LS);
		await p.page.locator('#main [role=alert]', { hasText: 'Not found: a bad id in this link.' }).waitFor();
		await p.page.waitForLoadState('networkidle');
		assert.deepEqual(apiSeen(p).map((r) => r.url), ['/api/plugins/billing/admin/users?limit=1'], hash);
		expectClean(p);
		await p.context.close();
	}
});
