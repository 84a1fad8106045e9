// The README's screenshots (docs/screenshots/*.png) of a running dev stack
// (scripts/run, or `python3 scripts/stack.py serve`), as the demo user and
// the admin.  Starts nothing: run it through scripts/screenshots.
//
// Environment: BILLING_BASE_URL (…/api/plugins/billing) and
// BILLING_JWT_SECRET, as var/dev.env holds them; SCREENSHOTS_DIR (default
// docs/screenshots).  Not a test (the runner picks up *.test.mjs only).

import { createHmac, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const base = process.env.BILLING_BASE_URL;
const secret = process.env.BILLING_JWT_SECRET;
if (!base || !secret) {
  console.error('screenshots: BILLING_BASE_URL and BILLING_JWT_SECRET are needed (var/dev.env)');
  process.exit(2);
}
const ORIGIN = new URL(base).origin;
const OUT = path.resolve(process.env.SCREENSHOTS_DIR || path.join(ROOT, 'docs', 'screenshots'));
const DEMO = process.env.BILLING_DEMO_USER || 'demo';

const b64url = (b) => Buffer.from(b).toString('base64url');
// HS256 on the real clock; the dev config names users by `username`, then `sub`.
function token(claims) {
  const now = Math.floor(Date.now() / 1000);
  const input = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' +
    b64url(JSON.stringify({ iat: now, exp: now + 3600, ...claims }));
  return input + '.' + b64url(createHmac('sha256', secret).update(input).digest());
}
const userTok = token({ sub: randomUUID(), username: DEMO, role: 'user', jti: randomUUID() });
const adminTok = token({ sub: 'admin@example.com', role: 'admin' });

const chromiumPath = process.env.CHROMIUM ||
  execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({
  executablePath: chromiumPath, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars'],
});

const problems = [];

// Opens PAGEPATH as TOK in a fresh context, waits for READY (a function of
// the page), then writes NAME.png (full page unless fullPage is false).
async function shot(name, pagePath, tok, ready, { width = 1280, height = 800,
                                                  fullPage = true } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US',
                                             timezoneId: 'UTC', deviceScaleFactor: 1,
                                             colorScheme: 'light' });
  const page = await context.newPage();
  // A failed load is judged by its response below; other console errors count.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) {
      problems.push(`${name}: ${m.text()}`);
    }
  });
  // the browser's favicon probe, and Stripe's 503 on a dev stack without
  // Stripe (the page says "Stripe is not configured") are expected
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (r.status() < 400 || u.pathname === '/favicon.ico' ||
        (r.status() === 503 && /\/(payment-methods|billing-portal)$/.test(u.pathname))) return;
    problems.push(`${name}: ${r.status()} ${u.pathname}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  // signed in as StreamSpace's UI on the same origin would be
  await context.addInitScript(([t]) => {
    localStorage.setItem('streamspace-auth', JSON.stringify({ state: { token: t } }));
  }, [tok]);
  await page.goto(ORIGIN + pagePath);
  await ready(page);
  await page.evaluate(() => document.fonts.ready);
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(800);                 // Chart.js's animation
  const file = path.join(OUT, name + '.png');
  await page.screenshot({ path: file, fullPage });
  console.log('wrote ' + path.relative(process.cwd(), file));
  await context.close();
}

const userReady = async (page) => {
  await page.locator('#total-cost').waitFor();
  await page.locator('#chart-body canvas').waitFor();
  await page.locator('#invoices-body table, #invoices-body p').first().waitFor();
};

mkdirSync(OUT, { recursive: true });
try {
  await shot('billing', '/billing/', userTok, userReady);
  await shot('billing-375', '/billing/', userTok, userReady, { width: 375, height: 812 });
  await shot('admin-billing', '/admin/billing/#overview', adminTok, async (page) => {
    await page.locator('.figures').getByText('Outstanding').waitFor();
    await page.locator('table').filter({ hasText: 'Period cost' }).locator('tbody tr')
      .first().waitFor();
  });
  await shot('admin-account', `/admin/billing/#account?u=${encodeURIComponent(DEMO)}`, adminTok,
    async (page) => {
      await page.getByRole('heading', { name: `Account ${DEMO}` }).waitFor();
      await page.locator('table').filter({ hasText: 'Remaining' }).waitFor();
    });
  await shot('widget', '/billing/widget', userTok, async (page) => {
    await page.locator('#widget-total').waitFor();
  }, { width: 300, height: 420 });
} finally {
  await browser.close();
}
if (problems.length) {
  console.error('screenshots: the pages reported errors:\n  ' + problems.join('\n  '));
  process.exit(1);
}
