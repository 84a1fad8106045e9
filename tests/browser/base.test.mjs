// The shared base of the pages: security headers, the shared modules
// (api.js: exact decimals, tokens; ui.js: money), tokens, 401/403, the widget.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ORIGIN, apiCall, closeBrowser, expectClean, openPage, screenshot, token, uniqueUser,
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
