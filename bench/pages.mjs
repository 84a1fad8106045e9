// The browser half of bench/pages.py (run by it, not by hand): Debian's
// chromium through the browser tests' playwright-core opens the pages RUNS
// times and prints one JSON line of timings.
//
// Environment: PAGES_ORIGIN, PAGES_USER_TOKEN, PAGES_ADMIN_TOKEN, PAGES_RUNS.
//
// Each time is the page's own performance.now() when the thing is on screen:
// milliseconds since the navigation started (timeOrigin), as the visitor
// sees it.  "cold": a fresh browser context each run (empty cache, as a
// first visit); "warm": reloads in one context (the files revalidated by
// ETag, Cache-Control no-cache).

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(ROOT, 'tests', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const ORIGIN = process.env.PAGES_ORIGIN;
const RUNS = Number(process.env.PAGES_RUNS || 15);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ||
    execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim(),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// In the page, before any of its scripts: note performance.now() the first
// time SELECTOR matches an element with text.
function watch([selector]) {
  const seen = () => {
    const el = document.querySelector(selector);
    if (el && el.textContent.trim() && window.__benchAt === undefined) {
      window.__benchAt = performance.now();
      window.__benchText = el.textContent.trim();
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true,
                                                 characterData: true });
}

async function context(tok) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 },
                                         locale: 'en-US', timezoneId: 'UTC' });
  await ctx.addInitScript(([t]) => {
    localStorage.setItem('streamspace-auth', JSON.stringify({ state: { token: t } }));
  }, [tok]);
  return ctx;
}

const errors = [];
const assetBytes = {};   // URL path → body bytes of the page's own JS and CSS

async function once(page, url, reload = false) {
  if (reload) await page.reload({ waitUntil: 'commit' });
  else await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.__benchAt !== undefined, null, { timeout: 15000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const apiEnd = Math.max(0, ...performance.getEntriesByType('resource')
      .filter((r) => r.name.includes('/api/plugins/') && r.responseEnd <= window.__benchAt)
      .map((r) => r.responseEnd));
    return [window.__benchAt, window.__benchText,
      { html: nav.responseEnd, dom: nav.domContentLoadedEventEnd, api: apiEnd }];
  });
}

async function measure(name, pagePath, tok, selector) {
  const cold = [];
  const warm = [];
  const parts = [];
  let text = '';
  for (let i = 0; i <= RUNS; i++) {
    const ctx = await context(tok);
    await ctx.addInitScript(watch, [selector]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
    page.on('response', async (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/billing/assets/') && r.status() === 200) {
        try { assetBytes[u.pathname] = (await r.body()).length; } catch (_) { /* gone */ }
      }
    });
    const [t, txt, part] = await once(page, ORIGIN + pagePath);
    text = txt;
    if (i > 0) {                  // the first run warms billingd's workers
      cold.push(t);
      parts.push(part);
    }
    if (i === RUNS) {
      for (let j = 0; j < RUNS; j++) warm.push((await once(page, ORIGIN + pagePath, true))[0]);
    }
    await ctx.close();
  }
    const med = (k) => parts.map((p) => p[k]).sort((x, y) => x - y)[Math.floor(parts.length / 2)];
  return { name, cold, warm, text: text.slice(0, 80),
           coldParts: { html: med('html'), dom: med('dom'), api: med('api') } };
}

try {
  const user = await measure('user', '/billing/', process.env.PAGES_USER_TOKEN, '#total-cost');
  const admin = await measure('admin', '/admin/billing/#overview', process.env.PAGES_ADMIN_TOKEN,
    'main table tbody tr');
  console.log(JSON.stringify({ user, admin, assetBytes, errors }));
} finally {
  await browser.close();
}
