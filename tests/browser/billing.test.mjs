// Billing & Usage (/billing/) in a real browser against the real stack on
// the harness clock (BILLING_TEST_NOW=2027-03-15T12:00:00Z: the current
// period is March 2027).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  token, apiCall, uniqueUser, seedSession, runJob, openPage, expectClean,
  checkA11y, screenshot, closeBrowser, standin,
} from './lib/harness.mjs';

after(closeBrowser);

// The seed's example: 2 cores and 4 GB for 10 hours at 0.05 and 0.01 = 1.40.
async function seededUser(prefix) {
  const user = uniqueUser(prefix);
  await seedSession(user, { sessionId: user + '-s1', cores: 2, memoryGb: 4,
    start: '2027-03-10T00:00:00Z', end: '2027-03-10T10:00:00Z' });
  await runJob('calculate-usage');
  const u = await apiCall('GET', 'usage', null, token(user));
  assert.equal(u.status, 200, u.text);
  assert.match(u.text, /"total_cost":\s*1\.40\b/);
  return user;
}

async function assertAccessible(page, name) {
  const violations = await checkA11y(page);
  assert.deepEqual(violations.map((v) => v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 5).join(', ')), [], name + ': axe serious/critical');
}

test('the seed example 1.40 is on the page: summary, per resource, per day', async () => {
  const user = await seededUser('seed');
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  const total = page.locator('#total-cost');
  await total.waitFor();
  const ms = await page.evaluate(() => window.billingTotalShownAt);
  console.log(`billing: the total on screen ${Math.round(ms)} ms after navigation (target < 300 ms)`);
  assert.equal((await total.textContent()).trim(), '$1.40');

  const usage = page.locator('#usage-body');
  await assert.doesNotReject(usage.getByRole('cell', { name: '$1.00' }).waitFor());
  assert.equal(await usage.getByRole('cell', { name: '$0.40' }).count(), 1);
  assert.equal(await usage.getByRole('cell', { name: '$0.05' }).count(), 1);
  assert.equal(await usage.getByRole('cell', { name: '$0.01' }).count(), 1);
  assert.equal(await usage.locator('td.num', { hasText: '$1.40' }).count(), 1);

  // the chart and its table: 1.40 on March 10
  await page.locator('#chart-body canvas').waitFor();
  const dayRow = page.locator('#chart-body tr', { hasText: '10' }).filter({ hasText: '$1.40' });
  assert.equal(await dayRow.count(), 1);
  assert.equal(await page.evaluate(() => typeof window.Chart), 'function');

  // quotas and the plan (free tier by default) render
  assert.ok(await page.locator('#quotas-body [role=progressbar]').count() >= 3);
  await page.locator('#plan-body .plan-card').first().waitFor();

  // a previous period is empty, and back to the current one
  await page.getByRole('button', { name: '← Previous period' }).click();
  await page.locator('#total-cost', { hasText: '$0.00' }).waitFor();
  assert.match(page.url(), /#from=2027-02-01/);
  await page.getByRole('button', { name: 'Current period' }).click();
  await page.locator('#total-cost', { hasText: '$1.40' }).waitFor();

  await assertAccessible(page, 'billing');
  await screenshot(page, 'billing-user');
  expectClean(p);
  await p.context.close();
});

test('a live session shows its accrued cost from the API', async () => {
  const user = uniqueUser('live');
  await seedSession(user, { sessionId: user + '-live', cores: 2, memoryGb: 4,
    start: '2027-03-15T10:00:00Z' });
  const api = await apiCall('GET', 'usage', null, token(user));
  const accrued = api.json.active_sessions[0].accrued_cost;
  const p = await openPage('/billing/', { token: token(user) });
  const row = p.page.locator('#sessions-body tr', { hasText: user + '-live' });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp('\\$' + String(accrued).replace('.', '\\.')));
  assert.match(await p.page.locator('#sessions-body').textContent(), /refreshed every 30 seconds/);
  expectClean(p);
  await p.context.close();
});

test('an invoice: detail panel with lines, and its PDF downloads and names its number', async () => {
  const user = await seededUser('pdf');
  const admin = token('admin@example.com', 'admin');
  const made = await apiCall('POST', 'invoices', { user_id: user, period_start: '2027-03-10', period_end: '2027-03-10' }, admin);
  assert.equal(made.status, 201, made.text);
  const number = made.json.invoice_number;
  assert.ok(number);

  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  const link = page.getByRole('link', { name: new RegExp('Invoice ' + number) });
  await link.waitFor();
  // keyboard: focus the link, Enter opens the panel
  await link.focus();
  await page.keyboard.press('Enter');
  const panel = page.locator('#invoice-detail');
  await panel.getByRole('heading', { name: 'Invoice ' + number }).waitFor();
  assert.match(page.url(), new RegExp('#invoice=' + made.json.id + '$'));
  assert.match(await panel.textContent(), /\$1\.00[\s\S]*\$0\.40/);
  assert.equal(await panel.locator('td.num', { hasText: '$1.40' }).count() >= 1, true);
  await screenshot(page, 'billing-invoice');
  await assertAccessible(page, 'billing invoice panel');

  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    panel.getByRole('button', { name: 'Download PDF of invoice ' + number }).click(),
  ]);
  assert.equal(dl.suggestedFilename(), number + '.pdf');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'billing-pdf-')), 'invoice.pdf');
  await dl.saveAs(file);
  assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
  const text = execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
  assert.ok(text.includes(number), 'the PDF names ' + number);

  await panel.getByRole('button', { name: 'Close' }).click();
  assert.equal(await panel.isHidden(), true);
  expectClean(p);
  await p.context.close();
});

test('a paid plan goes to Stripe Checkout (the stand-in), back with a notice', async () => {
  const user = uniqueUser('paid');
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  // the stand-in answers with Stripe's real Checkout host; the browser stops there
  let checkoutUrl = null;
  await page.route('https://checkout.stripe.com/**', (route) => {
    checkoutUrl = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Checkout</title>' });
  });
  await page.getByRole('button', { name: 'Upgrade to Professional' }).click();
  await page.waitForURL(/^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_/);
  assert.match(checkoutUrl, /\/c\/pay\/cs_/);
  // the session's return URLs come back to /billing/
  const origin = process.env.BILLING_ORIGIN;
  const sessions = await standin('GET', 'objects/checkout_sessions');
  const mine = (sessions.data || sessions).filter((s) => checkoutUrl.includes(s.id));
  assert.equal(mine.length, 1);
  assert.ok(mine[0].success_url.startsWith(origin + '/billing/?checkout=success'), mine[0].success_url);
  assert.equal(mine[0].cancel_url, origin + '/billing/?checkout=cancelled');

  await page.goto(origin + '/billing/?checkout=cancelled');
  await page.locator('#notice', { hasText: 'Checkout was cancelled' }).waitFor();
  assert.equal(new URL(page.url()).search, '');
  await p.context.close();
});

test('a change to the free plan applies at once after a confirmation naming it', async () => {
  const user = uniqueUser('free');
  const svc = token('streamspace', 'service');
  const made = await apiCall('POST', 'hooks/user-created', { user_id: user, plan_id: 'pro' }, svc);
  assert.equal(made.status, 201, made.text);
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  await page.locator('#plan-body .plan-name', { hasText: 'Professional' }).waitFor();
  await page.getByRole('button', { name: 'Change to Free Tier' }).click();
  const dialog = page.locator('dialog.confirm');
  assert.match(await dialog.textContent(), /from Professional to Free Tier/);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#notice', { hasText: 'Your plan is now Free Tier.' }).waitFor();
  await page.locator('#plan-body .plan-name', { hasText: 'Free Tier' }).waitFor();
  const sub = await apiCall('GET', 'subscription', null, token(user));
  assert.equal(sub.json.plan.id, 'free');
  expectClean(p);
  await p.context.close();
});

test('375 px wide: no sideways scrolling, the total visible', async () => {
  const user = await seededUser('narrow');
  const p = await openPage('/billing/', { token: token(user), width: 375, height: 812 });
  const { page } = p;
  await page.locator('#total-cost', { hasText: '$1.40' }).waitFor();
  await page.locator('#chart-body canvas').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, 'page wider than the viewport by ' + overflow + ' px');
  await screenshot(page, 'billing-user-375');
  await assertAccessible(page, 'billing 375');
  expectClean(p);
  await p.context.close();
});

test('speed: navigation to the total on screen, 5 loads', async () => {
  const user = await seededUser('speed');
  const tok = token(user);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const p = await openPage('/billing/', { token: tok, via: 'localStorage', waitUntil: 'commit' });
    await p.page.locator('#total-cost', { hasText: '$1.40' }).waitFor();
    times.push(Math.round(await p.page.evaluate(() => window.billingTotalShownAt)));
    await p.context.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`billing: total on screen after navigation, ms: ${times.join(', ')}; median ${sorted[2]} (target < 300)`);
  // a shared, busy machine: a generous bound; the figure is what is reported
  assert.ok(sorted[2] < 1500, 'median ' + sorted[2] + ' ms');
});

test('a quota at its limit is drawn in the warning colour, with words', async () => {
  const user = uniqueUser('quota');
  // 2 cores on the free plan's 2: 100 %, at or above alertThreshold (80)
  await seedSession(user, { cores: 2, memoryGb: 1, start: '2027-03-15T11:59:00Z' });
  const p = await openPage('/billing/', { token: token(user) });
  const cpu = p.page.locator('#quotas-body .quota', { hasText: 'CPU cores: 2 of 2' });
  await cpu.waitFor();
  assert.match(await cpu.getAttribute('class'), /\bwarn\b/);
  assert.match(await cpu.textContent(), /100\.00%.*near limit/);
  const mem = p.page.locator('#quotas-body .quota', { hasText: 'Memory (GB): 1 of 4' });
  assert.doesNotMatch(await mem.getAttribute('class'), /\bwarn\b/);
  expectClean(p);
  await p.context.close();
});

test('the chart\'s days come from one usage/days request, every day of the period', async () => {
  const user = await seededUser('days');
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  await page.locator('#chart-body canvas').waitFor();
  await page.waitForFunction(() => window.Chart && window.Chart.getChart(document.querySelector('#chart-body canvas')));
  const calls = (name) => p.requests.filter((u) => new URL(u).pathname === '/api/plugins/billing/' + name);
  const api = p.requests.filter((u) => new URL(u).pathname.startsWith('/api/plugins/billing/'));
  console.log(`billing: API requests on one load: ${api.length} (usage ${calls('usage').length}, usage/days ${calls('usage/days').length})`);
  assert.equal(calls('usage/days').length, 1);
  assert.equal(calls('usage').length, 1);
  // the request asks for the period GET usage answered for
  const q = new URL(calls('usage/days')[0]).searchParams;
  assert.deepEqual([q.get('from'), q.get('to')], ['2027-03-01T00:00:00Z', '2027-04-01T00:00:00Z']);
  assert.equal(q.get('token'), null);

  // the chart's values are that answer's days: all 31, 1.40 on the 10th
  const days = await apiCall('GET', 'usage/days', null, token(user));
  assert.equal(days.status, 200, days.text);
  assert.equal(days.json.days.length, 31);
  const chart = await page.evaluate(() => {
    const c = window.Chart.getChart(document.querySelector('#chart-body canvas'));
    return { labels: c.data.labels, data: c.data.datasets[0].data };
  });
  assert.deepEqual(chart.data, days.json.days.map((d) => Number(d.total_cost)));
  assert.equal(chart.data[9], 1.4);
  assert.equal(chart.labels[9], 'Mar 10');
  assert.equal(await page.locator('#chart-body details tbody tr').count(), 31);

  // another period: one more usage/days, none per day
  await page.getByRole('button', { name: '← Previous period' }).click();
  await page.locator('#total-cost', { hasText: '$0.00' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#chart-body details tbody tr').length === 28);
  assert.equal(calls('usage/days').length, 2);
  assert.equal(calls('usage').length, 2);
  expectClean(p);
  await p.context.close();
});

test('quota bars take the warning threshold from GET usage\'s alert_threshold', async () => {
  const user = uniqueUser('thr');
  // 1 of 2 cores, 2 of 4 GB: 50 %, under the stack's alertThreshold (80)
  await seedSession(user, { cores: 1, memoryGb: 2, start: '2027-03-15T11:59:00Z' });
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  const cpu = page.locator('#quotas-body .quota', { hasText: 'CPU cores: 1 of 2' });
  await cpu.waitFor();
  assert.doesNotMatch(await cpu.getAttribute('class'), /\bwarn\b/);
  assert.match(await page.locator('#quotas-body').textContent(), /from 80 %/);
  // the same answer with alert_threshold 50: the bars warn at 50 %
  await page.route((url) => url.pathname === '/api/plugins/billing/usage', async (route) => {
    const resp = await route.fetch();
    const text = (await resp.text()).replace(/"alert_threshold":\s*80/, '"alert_threshold":50');
    await route.fulfill({ response: resp, body: text });
  });
  await page.reload();
  await page.locator('#quotas-body', { hasText: 'from 50 %' }).waitFor();
  assert.match(await cpu.getAttribute('class'), /\bwarn\b/);
  assert.match(await cpu.textContent(), /50\.00%.*near limit/);
  expectClean(p);
  await p.context.close();
});

test('every status badge meets 4.5:1 contrast from app.css alone', async () => {
  const p = await openPage('/billing/', { token: token(uniqueUser('badge')) });
  const { page } = p;
  await page.locator('#total-cost').waitFor();
  const words = ['active', 'paid', 'succeeded', 'running', 'delivered', 'draft', 'hibernated',
    'sent', 'open', 'pending', 'overdue', 'failed', 'past_due', 'void', 'canceled'];
  await page.evaluate(async (list) => {
    const { statusBadge } = await import('/billing/assets/ui.js');
    const box = document.createElement('p');
    box.id = 'badge-sample';
    for (const w of list) box.append(statusBadge(w), ' ');
    document.getElementById('summary-body').append(box);
  }, words);
  assert.equal(await page.locator('#badge-sample .badge').count(), words.length);
  await assertAccessible(page, 'status badges');
  expectClean(p);
  await p.context.close();
});

test('errors are shown where they happen: 401 says how to sign in, a 503 its message', async () => {
  const bad = await openPage('/billing/', { token: 'not-a-token' });
  await bad.page.locator('#fatal').getByRole('heading', { name: 'Sign in' }).waitFor();
  await bad.page.waitForLoadState('networkidle');
  assert.equal(await bad.page.getByRole('heading', { name: 'Sign in' }).count(), 1);
  assert.equal(await bad.page.locator('#summary').isHidden(), true);
  expectClean(bad, { allowStatus: [401] });
  await bad.context.close();

  const user = uniqueUser('err');
  const p = await openPage('/billing/', { token: token(user), waitUntil: 'commit' });
  await p.page.route('**/api/plugins/billing/invoices?*', (route) => route.fulfill({
    status: 503, contentType: 'application/json',
    body: '{"error":{"code":"unavailable","message":"the database cannot be reached"}}' }));
  await p.page.reload();
  await p.page.locator('#invoices-body [role=alert]', { hasText: 'the database cannot be reached' }).waitFor();
  await p.page.locator('#total-cost').waitFor();
  expectClean(p, { allowStatus: [503] });
  await p.context.close();
});

test('no token: the page says how to sign in', async () => {
  const p = await openPage('/billing/', { via: 'none' });
  await p.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.match(await p.page.locator('#fatal').textContent(), /#token=/);
  expectClean(p);
  await p.context.close();
});

// The seed example invoiced by hand (lines: CPU 1.00, memory 0.40), after
// the admin set the account's details (PATCH admin/users/{id}).
async function invoicedUser(prefix, details) {
  const user = await seededUser(prefix);
  const admin = token('admin@example.com', 'admin');
  if (details) {
    const r = await apiCall('PATCH', 'admin/users/' + encodeURIComponent(user), details, admin);
    assert.equal(r.status, 200, r.text);
  }
  const made = await apiCall('POST', 'invoices', { user_id: user, period_start: '2027-03-10', period_end: '2027-03-10' }, admin);
  assert.equal(made.status, 201, made.text);
  return { user, inv: made.json, admin };
}

async function openInvoice(user, inv, opts = {}) {
  // a link to the invoice (the token from StreamSpace's localStorage)
  const p = await openPage('/billing/#invoice=' + inv.id, { token: token(user), via: 'localStorage', ...opts });
  const panel = p.page.locator('#invoice-detail');
  await panel.getByRole('heading', { name: 'Invoice ' + inv.invoice_number }).waitFor();
  await panel.locator('table').first().waitFor();
  return { p, panel };
}

async function pdfText(page, button, name) {
  const [dl] = await Promise.all([page.waitForEvent('download'), button.click()]);
  assert.equal(dl.suggestedFilename(), name + '.pdf');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'billing-pdf-')), 'doc.pdf');
  await dl.saveAs(file);
  assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
  return execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
}

// The panel's table row whose first cell is label, its cells joined by " | ".
async function rowText(panel, label) {
  const rows = await panel.locator('tbody tr').evaluateAll((trs) => trs.map((tr) =>
    [...tr.cells].map((c) => c.textContent.trim()).join(' | ')));
  return rows.find((r) => r === label || r.startsWith(label + ' | ')) || 'no row ' + label;
}

test('a partial credit note: credited, amount due, its PDF names its number', async () => {
  const { user, inv, admin } = await invoicedUser('cn');
  const cn = await apiCall('POST', 'admin/invoices/' + inv.id + '/credit-notes',
    { lines: [{ line_no: 2, amount: '0.40' }], reason: 'Memory was mis-metered' }, admin);
  assert.equal(cn.status, 201, cn.text);
  const number = cn.json.credit_note_number;
  assert.match(number, /^CN-2027-\d{6}$/);

  const { p, panel } = await openInvoice(user, inv);
  const { page } = p;
  // the list: the total, and what is still due under it
  const listRow = page.locator('#invoices-body tr', { hasText: inv.invoice_number });
  await listRow.waitFor();
  assert.match(await listRow.textContent(), /\$1\.40\s*\$1\.00 due/);

  assert.match(await rowText(panel, 'Credited by credit notes'), /^Credited by credit notes \| -\$0\.40$/);
  assert.match(await rowText(panel, 'Amount due'), /^Amount due \| \$1\.00$/);
  assert.match(await rowText(panel, 'Total'), /^Total \| \$1\.40$/);
  assert.match(await rowText(panel, number), /\| Memory was mis-metered \| Taken off the amount due \| -\$0\.40 \| PDF$/);
  await assertAccessible(page, 'invoice with a credit note');
  await screenshot(page, 'billing-credit-note');

  const text = await pdfText(page, panel.getByRole('button', { name: 'Download PDF of credit note ' + number }), number);
  assert.ok(text.includes(number), 'the PDF names ' + number);
  assert.ok(text.includes(inv.invoice_number), 'the PDF names the invoice');
  expectClean(p);
  await p.context.close();
});

test('an account with a tax rate: the VAT line, the customer block; an exempt one says so', async () => {
  const { user, inv } = await invoicedUser('vat', { tax_rate_id: 'vat20', billing_name: 'Acme Ltd',
    billing_address: ['1 Main St', 'Leeds'], country: 'GB', tax_id: 'GB999999999' });
  assert.equal(String(inv.tax), '0.28');
  const { p, panel } = await openInvoice(user, inv);
  assert.match(await rowText(panel, 'VAT 20%'), /^VAT 20% \| \$0\.28$/);
  assert.doesNotMatch(await panel.textContent(), /included|Tax exempt/);
  assert.match(await rowText(panel, 'Total'), /^Total \| \$1\.68$/);
  assert.deepEqual(await panel.locator('address.bill-to > *').allTextContents(),
    ['Bill to', 'Acme Ltd', '1 Main St', 'Leeds', 'GB', 'Tax ID GB999999999']);
  await assertAccessible(p.page, 'invoice with tax');
  await screenshot(p.page, 'billing-invoice-tax');
  expectClean(p);
  await p.context.close();

  const ex = await invoicedUser('exempt', { tax_rate_id: 'vat20', tax_exempt: true });
  const q = await openInvoice(ex.user, ex.inv, { width: 375, height: 812 });
  assert.match(await rowText(q.panel, 'Tax exempt'), /^Tax exempt \| \$0\.00$/);
  assert.equal(await q.panel.locator('tr', { hasText: 'VAT' }).count(), 0);
  assert.match(await rowText(q.panel, 'Total'), /^Total \| \$1\.40$/);
  assert.deepEqual(await q.panel.locator('address.bill-to > *').allTextContents(), ['Bill to', ex.user]);
  const overflow = await q.p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, 'page wider than the viewport by ' + overflow + ' px');
  expectClean(q.p);
  await q.p.context.close();
});

test('a downgrade waits for the period end, shown as pending; "Keep current plan" cancels it', async () => {
  const user = uniqueUser('down');
  const made = await apiCall('POST', 'hooks/user-created', { user_id: user, plan_id: 'enterprise' }, token('streamspace', 'service'));
  assert.equal(made.status, 201, made.text);
  const r = await apiCall('PATCH', 'admin/users/' + encodeURIComponent(user), { billing_mode: 'subscription' }, token('admin@example.com', 'admin'));
  assert.equal(r.status, 200, r.text);

  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  const dialog = page.locator('dialog.confirm');
  await page.locator('#plan-body .plan-name', { hasText: 'Enterprise' }).waitFor();
  await page.getByRole('button', { name: 'Change to Professional' }).click();
  assert.match(await dialog.textContent(), /from Enterprise to Professional at the end of the period \(Apr 1, 2027\)/);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#notice', { hasText: 'Your plan changes to Professional on Apr 1, 2027.' }).waitFor();
  const pending = page.locator('#plan-body .pending');
  await pending.waitFor();
  assert.match(await pending.textContent(), /Changes to Professional on Apr 1, 2027/);
  await page.locator('#plan-body .plan-name', { hasText: 'Enterprise' }).waitFor();
  let sub = await apiCall('GET', 'subscription', null, token(user));
  assert.equal(sub.json.pending_plan_id, 'pro');
  assert.equal(sub.json.pending_at, '2027-04-01T00:00:00Z');
  await assertAccessible(page, 'pending downgrade');
  await screenshot(page, 'billing-pending-downgrade');

  // another downgrade (to the free plan) would wait too: dismissed
  await page.getByRole('button', { name: 'Keep current plan' }).waitFor();
  await page.locator('#plan-body .plan-card', { hasText: 'Free Tier' }).getByRole('button').click();
  assert.match(await dialog.textContent(), /at the end of the period/);
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  await page.getByRole('button', { name: 'Keep current plan' }).click();
  assert.match(await dialog.textContent(), /Keep Enterprise\? The change to Professional on Apr 1, 2027 is cancelled/);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#notice', { hasText: 'You keep Enterprise.' }).waitFor();
  await page.locator('#plan-body .plan-name', { hasText: 'Enterprise' }).waitFor();
  await pending.waitFor({ state: 'detached' });
  sub = await apiCall('GET', 'subscription', null, token(user));
  assert.equal(sub.json.pending_plan_id, null);
  assert.equal(sub.json.plan.id, 'enterprise');
  expectClean(p);
  await p.context.close();
});

test('an upgrade of a plan billed here says it applies now with a prorated charge', async () => {
  const user = uniqueUser('up');
  await apiCall('POST', 'hooks/user-created', { user_id: user, plan_id: 'pro' }, token('streamspace', 'service'));
  const r = await apiCall('PATCH', 'admin/users/' + encodeURIComponent(user), { billing_mode: 'subscription' }, token('admin@example.com', 'admin'));
  assert.equal(r.status, 200, r.text);
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  await page.locator('#plan-body .plan-name', { hasText: 'Professional' }).waitFor();
  await page.getByRole('button', { name: 'Upgrade to Enterprise' }).click();
  const dialog = page.locator('dialog.confirm');
  assert.match(await dialog.textContent(), /Enterprise now\? It applies at once; your next invoice carries a prorated charge/);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#notice', { hasText: 'Your plan is now Enterprise.' }).waitFor();
  await page.locator('#plan-body .plan-name', { hasText: 'Enterprise' }).waitFor();
  assert.equal(await page.locator('#plan-body .pending').count(), 0);
  const sub = await apiCall('GET', 'subscription', null, token(user));
  assert.equal(sub.json.plan.id, 'enterprise');
  expectClean(p);
  await p.context.close();
});

test('proration lines are labelled, an inclusive rate says "(included)" (the invoice JSON as docs/billing.md shows it)', async () => {
  const { user, inv } = await invoicedUser('prorate');
  // the upgrade on day 10 of docs/billing.md, and a 20 % inclusive rate,
  // rewritten into the invoice's answer by a route set before the page loads
  const rewrite = (page) => page.route((url) => url.pathname === '/api/plugins/billing/invoices/' + inv.id, async (route) => {
    const resp = await route.fetch();
    const text = (await resp.text())
      .replace(/"lines":\s*\[/, '"lines":[{"line_no":3,"kind":"proration","resource_type":null,"description":"Unused time on Professional after Apr 10","quantity":0.7,"unit":"period","unit_price":-29.99,"amount":-20.99,"currency":"usd"},'
        + '{"line_no":4,"kind":"proration","resource_type":null,"description":"Remaining time on Enterprise from Apr 10","quantity":0.7,"unit":"period","unit_price":99.99,"amount":69.99,"currency":"usd"},')
      .replace(/"taxes":\s*\[\]/, '"taxes":[{"rate_id":"vat20inc","name":"VAT","percent":20,"inclusive":true,"taxable":1.40,"amount":0.23,"currency":"usd"}]');
    await route.fulfill({ response: resp, body: text });
  });
  const p = await openPage('/billing/#invoice=' + inv.id, { token: token(user), via: 'localStorage', beforeGoto: rewrite });
  const { page } = p;
  const panel = page.locator('#invoice-detail');
  await panel.getByRole('heading', { name: 'Invoice ' + inv.invoice_number }).waitFor();
  await panel.locator('table').first().waitFor();
  // the rewritten answer's rows, rendered (under load the panel fills in steps)
  await panel.locator('tbody .badge', { hasText: 'Proration' }).nth(1).waitFor();
  await panel.getByText('VAT 20% (included)').first().waitFor();
  assert.equal(await rowText(panel, 'Proration Unused time on Professional after Apr 10'),
    'Proration Unused time on Professional after Apr 10 | 0.7 | period | -$29.99 | -$20.99');
  assert.match(await rowText(panel, 'Proration Remaining time on Enterprise from Apr 10'), /\| \$69\.99$/);
  assert.equal(await panel.locator('tbody .badge', { hasText: 'Proration' }).count(), 2);
  assert.equal(await rowText(panel, 'VAT 20% (included)'), 'VAT 20% (included) | $0.23');
  await assertAccessible(page, 'proration lines');
  expectClean(p);
  await p.context.close();
});

// -- review fixes: the hash token, ids in API paths, Stripe redirects ----------

test('#token= among the hash parameters: only it leaves; a later #token= is taken and the page reloads with it', async () => {
  const { user, inv } = await invoicedUser('hashtok');
  const tok = token(user);
  const p = await openPage('/billing/#invoice=' + inv.id + '&token=' + tok, { via: 'none' });
  const { page } = p;
  await page.locator('#invoice-detail').getByRole('heading', { name: 'Invoice ' + inv.invoice_number }).waitFor();
  assert.equal(new URL(page.url()).hash, '#invoice=' + inv.id);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('billing-token')), tok);
  expectClean(p);
  await p.context.close();

  // signed out, then a link with the token arrives as a hashchange
  const q = await openPage('/billing/', { via: 'none' });
  await q.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await Promise.all([q.page.waitForEvent('load'),
    q.page.evaluate(([t, id]) => { location.hash = 'invoice=' + id + '&token=' + t; }, [tok, inv.id])]);
  await q.page.locator('#invoice-detail').getByRole('heading', { name: 'Invoice ' + inv.invoice_number }).waitFor();
  assert.equal(new URL(q.page.url()).hash, '#invoice=' + inv.id);
  assert.equal(await q.page.evaluate(() => sessionStorage.getItem('billing-token')), tok);
  assert.ok(q.requests.every((u) => !u.includes(tok)), q.requests.join('\n'));
  expectClean(q, { allowStatus: [401] });
  await q.context.close();
});

test('#invoice=.. (or any id not digits) says the link is bad and asks nothing outside invoices/ID', async () => {
  const user = uniqueUser('badid');
  for (const bad of ['..', '.', '5%2F..', '1 OR 1', '../credits']) {
    const p = await openPage('/billing/#invoice=' + bad, { token: token(user), via: 'localStorage' });
    await p.page.locator('#invoice-detail-body [role=alert]', { hasText: 'Not found: a bad id in this link.' }).waitFor();
    await p.page.waitForLoadState('networkidle');
    const paths = p.requests.map((u) => new URL(u).pathname).filter((x) => x.startsWith('/api/'));
    assert.deepEqual(paths.filter((x) => !/^\/api\/plugins\/billing\/(usage|usage\/days|subscription|plans|payment-methods|invoices|payments|credits)$/.test(x)), [], bad);
    expectClean(p);
    await p.context.close();
  }
});

test('Checkout and the Billing Portal go only to Stripe\'s https hosts or this origin', async () => {
  const user = uniqueUser('redir');
  const p = await openPage('/billing/', { token: token(user) });
  const { page } = p;
  let answer = null;
  await page.route(/\/api\/plugins\/billing\/(create-checkout|billing-portal)$/, (route) => route.fulfill({
    status: 200, contentType: 'application/json', body: JSON.stringify({ url: answer }) }));
  const start = page.url();
  for (const bad of ['https://evil.example/c/pay/cs_1', 'http://checkout.stripe.com/c/pay/cs_1', 'javascript:alert(1)',
    'https://checkout.stripe.com.evil.example/', 'https://checkout.stripe.com:8443/x', '//evil.example/x']) {
    answer = bad;
    await page.getByRole('button', { name: 'Upgrade to Professional' }).click();
    await page.locator('#plan-error [role=alert]', { hasText: 'Unexpected address from Stripe' }).waitFor();
    await page.locator('#plan-error').evaluate((e) => e.replaceChildren());
    await page.getByRole('button', { name: 'Manage payment details' }).click();
    await page.locator('#pm-body [role=alert]', { hasText: 'Unexpected address from Stripe' }).waitFor();
    await page.locator('#pm-body [role=alert]').evaluate((e) => e.remove());
    assert.equal(page.url(), start, bad);
  }
  // Stripe's Billing Portal host: followed
  answer = 'https://billing.stripe.com/p/session/test_1';
  await page.route('https://billing.stripe.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Portal</title>' }));
  await page.getByRole('button', { name: 'Manage payment details' }).click();
  await page.waitForURL(answer);
  assert.deepEqual(p.consoleErrors, []);
  await p.context.close();
});
