// The shared base of the pages: security headers, the shared modules
// (api.js: exact decimals, tokens; ui.js: money), tokens, 401/403, the widget.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, describe, test } from 'node:test';
import {
  ORIGIN, apiCall, browser, checkA11y, closeBrowser, expectClean, openPage, runJob, screenshot,
  seedSession, token, uniqueUser,
} from './lib/harness.mjs';

after(closeBrowser);

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
  "frame-ancestors 'none'";

async function head(path) {
  const r = await fetch(ORIGIN + path, { redirect: 'manual' });
  await r.arrayBuffer();
  return r;
}

function assertSecurityHeaders(r, path, csp = CSP) {
  assert.equal(r.headers.get('content-security-policy'), csp, path);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
}

describe('nginx serves the shared assets', () => {
  test('assets and Chart.js: 200, JavaScript/CSS types, the security headers', async () => {
    for (const [path, type] of [['/billing/assets/api.js', 'text/javascript'],
                                ['/billing/assets/ui.js', 'text/javascript'],
                                ['/billing/assets/app.css', 'text/css'],
                                ['/billing/vendor/chart.js', 'text/javascript']]) {
      const r = await head(path);
      assert.equal(r.status, 200, path);
      assert.ok(r.headers.get('content-type').startsWith(type), path);
      assertSecurityHeaders(r, path);
    }
  });

  test('/billing and /admin/billing redirect (relative) to the slash', async () => {
    for (const path of ['/billing', '/admin/billing']) {
      const r = await head(path);
      assert.equal(r.status, 301, path);
      assert.equal(r.headers.get('location'), path + '/');
      assertSecurityHeaders(r, path);
    }
  });

  test('an unknown file under /billing/ is 404 with the headers', async () => {
    const r = await head('/billing/assets/nope.js');
    assert.equal(r.status, 404);
    assertSecurityHeaders(r, 'nope');
  });
});

describe('the shared modules in the browser', () => {
  test('api.js keeps non-integer numbers as their exact text; ui.js formats it', async () => {
    const p = await openPage('/billing/assets/app.css');
    const got = await p.page.evaluate(async () => {
      const { parseJson } = await import('/billing/assets/api.js');
      const { money, quantity } = await import('/billing/assets/ui.js');
      const v = parseJson('{"a": 1.40, "b": 3, "c": [0.10, -2.500000, 1e3], "d": 0.000001}');
      return { v, m: [money(v.a, 'usd'), money(v.c[1], 'usd'), money(v.b, 'usd'),
                      money('12345.678901', 'eur'), money(null, 'usd')],
               q: quantity('20.50', 'core-hours') };
    });
    assert.deepEqual(got.v, { a: '1.40', b: 3, c: ['0.10', '-2.500000', '1e3'], d: '0.000001' });
    assert.deepEqual(got.m, ['$1.40', '-$2.500000', '$3.00', '€12,345.678901', '—']);
    assert.equal(got.q, '20.50 core-hours');
    expectClean(p);
  });

  test('api() sends the token in the header, drops empty query values, throws ApiError', async () => {
    const user = uniqueUser('apijs');
    const tok = token(user);
    const p = await openPage('/billing/assets/app.css', { token: tok, via: 'localStorage' });
    const got = await p.page.evaluate(async () => {
      const { api, apiUrl, getToken, claims, ApiError } = await import('/billing/assets/api.js');
      const usage = await api('usage', { query: { from: '', to: null } });
      let err = null;
      try { await api('admin/users'); } catch (e) { err = { ok: e instanceof ApiError, status: e.status, code: e.code }; }
      return { user: usage.user_id, total: usage.total_cost, sub: claims().sub,
               has: !!getToken(), url: apiUrl('usage', { a: '', b: undefined, c: 0, d: 'x y' }), err };
    });
    assert.equal(got.user, user);
    assert.equal(got.sub, user);
    assert.equal(typeof got.total, 'string');
    assert.equal(got.url, '/api/plugins/billing/usage?c=0&d=x+y');
    assert.deepEqual(got.err, { ok: true, status: 403, code: 'forbidden' });
    assert.ok(p.requests.every((u) => !u.includes(tok)), 'the token is in no URL');
    expectClean(p, { allowStatus: [403] });
    await screenshot(p.page, 'base-assets');
  });
});

// -- tokens, 401, 403 ---------------------------------------------------------

async function seeded(prefix) {
  const user = uniqueUser(prefix);
  await seedSession(user, { sessionId: prefix + '-done', cores: 2, memoryGb: 4,
                            start: '2027-03-10T00:00:00Z', end: '2027-03-10T10:00:00Z' });
  await runJob('calculate-usage');
  await seedSession(user, { sessionId: prefix + '-live', cores: 1, memoryGb: 2,
                            start: '2027-03-15T11:55:00Z' });
  return user;
}

describe('tokens', () => {
  test('#token= moves to sessionStorage, leaves the address bar, and is in no request URL', async () => {
    const user = await seeded('hash');
    const tok = token(user);
    const p = await openPage('/billing/widget', { token: tok, via: 'hash', width: 300, height: 600 });
    await p.page.locator('#widget-total').waitFor();
    assert.equal(new URL(p.page.url()).hash, '');
    assert.ok(!p.page.url().includes(tok));
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('billing-token')), tok);
    assert.equal(await p.page.evaluate(() => localStorage.getItem('streamspace-auth')), null);
    assert.ok(p.requests.some((u) => u.endsWith('/api/plugins/billing/usage')));
    assert.ok(p.requests.every((u) => !u.includes(tok) && !u.includes('token=')),
              p.requests.join('\n'));
    expectClean(p);
  });

  test("StreamSpace's localStorage token is used (JSON state.token)", async () => {
    const user = await seeded('ls');
    const p = await openPage('/billing/widget', { token: token(user), via: 'localStorage',
                                                  width: 300 });
    await p.page.locator('#widget-total').waitFor();
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('billing-token')), null);
    expectClean(p);
  });

  test('no token: the sign-in message (401)', async () => {
    const p = await openPage('/billing/widget', { via: 'none', width: 300 });
    const box = p.page.locator('.notice.signin');
    await box.waitFor();
    assert.match(await box.innerText(), /Sign in/);
    assert.match(await box.innerText(), /#token=/);
    expectClean(p, { allowStatus: [401] });
    await screenshot(p.page, 'widget-401');
  });

  test('a user token on /admin/billing/: the 403 message (when the admin page exists)', async (t) => {
    const r = await head('/admin/billing/');
    if (r.status !== 200) return t.skip('web/admin/billing/index.html is not there yet');
    const p = await openPage('/admin/billing/', { token: token(uniqueUser('notadmin')) });
    const box = p.page.locator('.notice.forbidden');
    await box.waitFor({ timeout: 10000 });
    assert.match(await box.innerText(), /Not allowed/);
    await screenshot(p.page, 'admin-403');
  });
});

// -- headers on every page ------------------------------------------------------

describe('the security headers', () => {
  test('on /billing/, /admin/billing/ (frame-ancestors none) and the widget (from config)', async () => {
    for (const path of ['/billing/', '/admin/billing/']) {
      const r = await head(path);
      if (r.status === 404) continue;  // that page's branch is not merged here
      assertSecurityHeaders(r, path);
    }
    const r = await head('/billing/widget');
    assert.equal(r.status, 200);
    const frame = process.env.BILLING_WIDGET_FRAME_ORIGIN;
    let publicOrigin = ORIGIN;
    assertSecurityHeaders(r, '/billing/widget',
      CSP.replace("frame-ancestors 'none'", `frame-ancestors 'self' ${publicOrigin} ${frame}`));
  });
});

// -- the widget -------------------------------------------------------------------

describe('the Current Usage widget', () => {
  test('shows the cost, live sessions with accrued cost and quota bars at 300 px; axe clean', async () => {
    const user = await seeded('widget');
    const p = await openPage('/billing/widget', { token: token(user), width: 300, height: 600 });
    await p.page.locator('#widget-total').waitFor();
    const usage = (await apiCall('GET', 'usage', null, token(user))).json;
    // 2 cores x 10 h x 0.05 + 4 GB x 10 h x 0.01 = 1.40 metered
    assert.equal(usage.total_cost, 1.4);
    const text = await p.page.locator('main').innerText();
    assert.match(text, /\$1\.40/);
    assert.match(text, /Live sessions \(1\)/);
    assert.match(text, /widget-live/);
    const li = p.page.locator('li[data-session="widget-live"] .num');
    assert.match(await li.innerText(), /^\$\d+\.\d{2,}$/);
    assert.equal(await p.page.locator('[role=progressbar]').count(), 3);
    // no horizontal scrolling at 300 px
    assert.ok(await p.page.evaluate(() => document.documentElement.scrollWidth <= 300));
    assert.deepEqual(await checkA11y(p.page), []);
    expectClean(p);
    await screenshot(p.page, 'widget');
  });

  test('a 375 px phone: nothing wider than the screen, the sign-in page too', async () => {
    const user = await seeded('narrow');
    for (const [tok, name] of [[token(user), 'widget-375'], [null, 'widget-401-375']]) {
      const p = await openPage('/billing/widget', { token: tok, via: tok ? 'hash' : 'none',
                                                    width: 375, height: 740 });
      await p.page.locator(tok ? '#widget-total' : '.notice.signin').waitFor();
      assert.ok(await p.page.evaluate(() => document.documentElement.scrollWidth <= 375));
      expectClean(p, { allowStatus: tok ? [] : [401] });
      await screenshot(p.page, name);
    }
  });

  test('a quota at the alert threshold is in the warning colour, with a word', async () => {
    const user = uniqueUser('warn');
    // the free plan allows 2 cores: 2 running cores are 100 %, 1 is 50 %
    await seedSession(user, { sessionId: 'warn-live', cores: 2, memoryGb: 1,
                              start: '2027-03-15T11:55:00Z' });
    const p = await openPage('/billing/widget', { token: token(user), width: 300 });
    await p.page.locator('#widget-total').waitFor();
    const cpu = p.page.locator('.quota', { hasText: 'CPU' });
    assert.match(await cpu.getAttribute('class'), /\bwarn\b/);
    assert.match(await cpu.innerText(), /100(\.00)?%.*near limit/s);
    const memory = p.page.locator('.quota', { hasText: 'Memory' });
    assert.doesNotMatch(await memory.getAttribute('class'), /\bwarn\b|\bover\b/);
    expectClean(p);
  });

  test('refreshes every 30 seconds', async () => {
    const user = await seeded('refresh');
    const b = await browser();
    const context = await b.newContext({ viewport: { width: 300, height: 600 } });
    // the page's time stands still but for runFor: a loaded machine must not
    // let 30 real seconds fire the refresh by themselves
    await context.clock.install();
    await context.clock.pauseAt(Date.now() + 1000);
    const page = await context.newPage();
    const usageCalls = [];
    page.on('request', (r) => { if (r.url().endsWith('/usage')) usageCalls.push(r.url()); });
    await page.goto(ORIGIN + '/billing/widget#token=' + token(user));
    await page.locator('#widget-total').waitFor();
    assert.equal(usageCalls.length, 1);
    await context.clock.runFor(29000);
    assert.equal(usageCalls.length, 1);
    await context.clock.runFor(2000);
    for (let i = 0; i < 100 && usageCalls.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await page.locator('#widget-total').waitFor();
    assert.equal(usageCalls.length, 2);
    await context.close();
  });

  test('embedded in an iframe of a same-origin page and of a configured origin; refused elsewhere', async () => {
    const user = await seeded('iframe');
    const tok = token(user);
    const hostPage = (title) => `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
      `<title>${title}</title><link rel="icon" href="data:,"></head><body><h1>${title}</h1>` +
      `<iframe title="Current usage" src="${ORIGIN}/billing/widget#token=${tok}" ` +
      `width="300" height="520"></iframe></body></html>`;
    // the other origins' pages come from real loopback servers (a page the
    // browser fulfils itself has no address, and Chromium's local network
    // access rules would keep it from framing a loopback page)
    const serve = (port) => new Promise((resolve) => {
      const srv = createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(hostPage('StreamSpace'));
      });
      srv.listen(port, '127.0.0.1', () => resolve(srv));
    });
    const configured = new URL(process.env.BILLING_WIDGET_FRAME_ORIGIN);
    const servers = [await serve(Number(configured.port)), await serve(0)];
    const other = 'http://127.0.0.1:' + servers[1].address().port;
    try {
      const p = await openPage('/billing/assets/app.css', { width: 800 });
      // the same-origin host page: nginx has none, the browser fulfils it
      await p.context.route(ORIGIN + '/_frame-host/', (route) => route.fulfill({
        status: 200, contentType: 'text/html', body: hostPage('Same origin'),
      }));
      for (const [origin, allowed] of [[ORIGIN, true], [configured.origin, true],
                                       [other, false]]) {
        await p.page.goto(origin + '/_frame-host/');
        const frame = p.page.frameLocator('iframe');
        if (allowed) {
          await frame.locator('#widget-total').waitFor({ timeout: 10000 });
          assert.match(await frame.locator('main').innerText(), /\$1\.40/, origin);
          await screenshot(p.page, origin === ORIGIN ? 'widget-in-iframe' : 'widget-in-iframe-configured');
        } else {
          await p.page.waitForTimeout(1000);
          assert.equal(await frame.locator('#widget-total').count(), 0,
                       'a page of an origin not in widgetFrameAncestors framed the widget');
        }
      }
      assert.ok(p.requests.every((u) => !u.includes('/api/') || !u.includes(tok)));
    } finally {
      for (const srv of servers) srv.close();
    }
  });
});

describe('the nginx snippet', () => {
  test('every location with add_header says to repeat HSTS (a server-level header is not inherited)', () => {
    const conf = readFileSync(new URL('../../nginx/streamspace-billing-web.conf', import.meta.url), 'utf8');
    assert.match(conf, /repeat your HSTS header here/);
    const blocks = conf.split(/^location /m).slice(1);
    assert.ok(blocks.length >= 6);
    for (const b of blocks.filter((x) => /^\s+add_header /m.test(x))) {
      assert.match(b, /^ {4}# add_header Strict-Transport-Security "max-age=\d+" always;$/m, b.split('\n')[0]);
    }
  });
});
