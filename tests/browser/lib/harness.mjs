// The browser tests' helpers: tokens and API calls against the stack that
// tests/browser/run.py started, data seeding through the service hooks and
// the jobs endpoint, and pages in Debian's chromium driven by playwright-core.
//
// Environment (set by run.py): BILLING_ORIGIN, BILLING_JWT_SECRET,
// BILLING_TEST_NOW, STRIPE_STANDIN_URL, BILLING_ARTIFACTS.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through tests/browser/run.py`);
  return v;
}

export const ORIGIN = process.env.BILLING_ORIGIN || 'http://127.0.0.1:8080';
export const API = ORIGIN + '/api/plugins/billing/';
export const NOW = process.env.BILLING_TEST_NOW || '2027-03-15T12:00:00Z';
export const NOW_SECONDS = Math.floor(Date.parse(NOW) / 1000);
export const STANDIN = process.env.STRIPE_STANDIN_URL || '';
export const ARTIFACTS = process.env.BILLING_ARTIFACTS ||
  path.join(path.dirname(path.dirname(new URL(import.meta.url).pathname)), 'artifacts');

// -- tokens and the API ---------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// An HS256 token valid at the stack's fixed clock (BILLING_TEST_NOW) for a day.
export function token(sub, role = 'user', extra = {}) {
  const header = { alg: 'HS256', typ: 'JWT' };
  const claims = { sub, iat: NOW_SECONDS, exp: NOW_SECONDS + 86400, ...extra };
  if (role !== null) claims.role = role;
  const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', env('BILLING_JWT_SECRET')).update(input).digest();
  return input + '.' + b64url(sig);
}

export const adminToken = () => token('admin@example.com', 'admin');
export const operatorToken = () => token('operator@example.com', 'operator');
export const serviceToken = () => token('platform', 'service');

// A call to the API (path relative to /api/plugins/billing/) → {status, json, text, headers}.
export async function apiCall(method, apiPath, body, tok) {
  const headers = {};
  if (tok) headers.Authorization = 'Bearer ' + tok;
  if (body !== undefined && body !== null) headers['Content-Type'] = 'application/json';
  const resp = await fetch(API + apiPath.replace(/^\/+/, ''), {
    method, headers,
    body: body === undefined || body === null ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  return { status: resp.status, json, text, headers: resp.headers };
}

async function expectOk(what, r, statuses = [200, 201]) {
  assert.ok(statuses.includes(r.status), `${what}: ${r.status} ${r.text.slice(0, 500)}`);
  return r.json;
}

let users = 0;

// A user id no other test uses (the stack's database lives for one run).
export function uniqueUser(prefix = 'user') {
  users += 1;
  return `${prefix}-${users}-${randomBytes(3).toString('hex')}@example.com`;
}

// The account (hooks/user-created) and a session of it (hooks/session-created,
// then session-terminated when `end` is given), as the platform reports them.
// Instants are RFC 3339; metered usage needs runJob('calculate-usage').
export async function seedSession(user, { sessionId, cores = 2, memoryGb = 4, storageGb = 0,
                                          start, end } = {}) {
  const svc = serviceToken();
  await expectOk('hooks/user-created', await apiCall('POST', 'hooks/user-created',
    { user_id: user, email: user.includes('@') ? user : user + '@example.com' }, svc));
  const sid = sessionId || 'sess-' + randomBytes(4).toString('hex');
  const body = { session_id: sid, user_id: user, cpu_cores: cores, memory_gb: memoryGb,
                 storage_gb: storageGb };
  if (start) body.started_at = start;
  const created = await expectOk('hooks/session-created',
    await apiCall('POST', 'hooks/session-created', body, svc));
  if (end) {
    await expectOk('hooks/session-terminated', await apiCall('POST', 'hooks/session-terminated',
      { session_id: sid, ended_at: end }, svc));
  }
  return { sessionId: sid, session: created };
}

// POST jobs/NAME as admin (calculate-usage, check-quotas, generate-invoices,
// dispatch-events) → the run.
export async function runJob(name, body) {
  return expectOk('jobs/' + name, await apiCall('POST', 'jobs/' + name, body ?? {}, adminToken()));
}

// The Stripe stand-in's controls (/_standin/...): e.g. standin('GET', 'objects/checkout_sessions').
export async function standin(method, control, body) {
  if (!STANDIN) throw new Error('STRIPE_STANDIN_URL is not set');
  const resp = await fetch(STANDIN + '/_standin/' + control.replace(/^\/+/, ''), {
    method, headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return resp.json();
}

// -- the browser ----------------------------------------------------------

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
let browserPromise = null;

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch (_) {
    throw new Error('chromium is not on PATH (apt-get install chromium)');
  }
}

export function browser() {
  if (!browserPromise) {
    browserPromise = chromium.launch({ executablePath: chromiumPath(), headless: true,
                                       args: CHROMIUM_ARGS });
  }
  return browserPromise;
}

export async function closeBrowser() {
  if (!browserPromise) return;
  const b = await browserPromise;
  browserPromise = null;
  await b.close();
}

function isForeign(url) {
  if (/^(data|blob|about|chrome-error):/.test(url)) return false;
  try {
    return new URL(url).origin !== ORIGIN;
  } catch (_) {
    return true;
  }
}

// Opens ORIGIN + pagePath in a fresh context (own storage) of the shared
// chromium, locale en-US, time zone UTC.  via: 'hash' (#token=, the default
// with a token), 'localStorage' (StreamSpace's streamspace-auth, set before
// any script runs) or 'none'.  → {browser, context, page, consoleErrors,
// foreignRequests, requests (every URL requested, iframes included),
// responses ({url, status})}.
export async function openPage(pagePath, { token: tok, via, width = 1280, height = 900,
                                           waitUntil = 'load', beforeGoto } = {}) {
  const b = await browser();
  const context = await b.newContext({ viewport: { width, height }, locale: 'en-US',
                                       timezoneId: 'UTC', acceptDownloads: true });
  const mode = via || (tok ? 'hash' : 'none');
  if (mode === 'localStorage') {
    await context.addInitScript(([t]) => {
      if (location.origin !== 'null') {
        localStorage.setItem('streamspace-auth', JSON.stringify({ state: { token: t } }));
      }
    }, [tok]);
  }
  const page = await context.newPage();
  const p = { browser: b, context, page, consoleErrors: [], foreignRequests: [], requests: [],
              responses: [] };
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = (msg.location() && msg.location().url) || '';
    // the browser's own favicon probe is not the page's doing
    if (/\/favicon\.ico$/.test(where)) return;
    p.consoleErrors.push(msg.text() + (where ? ' (' + where + ')' : ''));
  });
  page.on('pageerror', (err) => p.consoleErrors.push('uncaught: ' + (err.stack || err.message)));
  context.on('request', (req) => {
    p.requests.push(req.url());
    if (isForeign(req.url())) p.foreignRequests.push(req.url());
  });
  context.on('response', (resp) => p.responses.push({ url: resp.url(), status: resp.status() }));
  const url = ORIGIN + pagePath + (mode === 'hash' && tok ? '#token=' + encodeURIComponent(tok) : '');
  // e.g. page.route(...): in place before the page makes its first request
  if (beforeGoto) await beforeGoto(page);
  await page.goto(url, { waitUntil });
  return p;
}

// No console error (but "Failed to load resource" for the statuses in
// allowStatus, e.g. the 401 a signed-out page expects) and no request to
// another origin.
export function expectClean(p, { allowStatus = [] } = {}) {
  const errors = p.consoleErrors.filter((e) => !allowStatus.some((s) =>
    e.includes(`the server responded with a status of ${s}`)));
  assert.deepEqual(errors, [], 'console errors');
  assert.deepEqual(p.foreignRequests, [], 'requests to another origin');
}

let axeSource = null;

// axe-core's serious and critical violations of the page (its main frame),
// injected through page.evaluate so the page's CSP stays on.
export async function checkA11y(page, { exclude = [] } = {}) {
  if (!axeSource) axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const result = await page.evaluate(async (excl) => {
    const context = excl.length ? { exclude: excl.map((s) => [s]) } : document;
    // eslint-disable-next-line no-undef
    return axe.run(context, { iframes: false, resultTypes: ['violations'] });
  }, exclude);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

// A full-page PNG under BILLING_ARTIFACTS (kept); → its path.
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
