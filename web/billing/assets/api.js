// The one place that talks to the billing API: the visitor's token, fetch
// with it, JSON read with exact decimals, errors as ApiError.
//
// Money is never computed here: every JSON number that is not an integer
// literal ("1.40", "0.050000", "1e3") stays its exact source text (a string);
// integer literals stay numbers.

export const API_BASE = '/api/plugins/billing/';
const SESSION_KEY = 'billing-token';
const STREAMSPACE_KEY = 'streamspace-auth';

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message || code || 'request failed');
    this.name = 'ApiError';
    this.status = status;
    this.code = code || (status === 0 ? 'network_error' : 'error');
    this.param = param || null;
  }
}

// #token=... (at import or on hashchange) moves to sessionStorage and only it
// leaves the address and history ("#a?u=b&token=T" → "#a?u=b"); a new one later reloads.
function takeHashToken(ev) {
  const raw = location.hash.slice(1), q = raw.indexOf('?') + 1;
  const parts = raw.slice(q).split('&'), rest = parts.filter((p) => !/^token(=|$)/.test(p));
  if (rest.length === parts.length) return;
  const tok = new URLSearchParams(raw.slice(q)).get('token');
  let was = null;
  try { was = sessionStorage.getItem(SESSION_KEY); if (tok) sessionStorage.setItem(SESSION_KEY, tok); } catch (_) { /* off */ }
  const hash = rest.length ? raw.slice(0, q) + rest.join('&') : q ? raw.slice(0, q - 1) : '';
  history.replaceState(history.state, '', location.pathname + location.search + (hash ? '#' + hash : ''));
  if (ev && tok && tok !== was) location.reload();
}
takeHashToken();
addEventListener('hashchange', takeHashToken);

// An id as one encoded path segment: digits if numeric; never "", ".", "..".
export function pathId(id, numeric) {
  const s = String(id ?? '');
  if (numeric ? !/^\d+$/.test(s) : /^\.{0,2}$/.test(s)) throw new ApiError(404, 'bad_link', 'Not found: a bad id in this link.');
  return encodeURIComponent(s);
}

export function getToken() {
  try {
    const raw = localStorage.getItem(STREAMSPACE_KEY);
    if (raw) {
      const tok = JSON.parse(raw)?.state?.token;
      if (typeof tok === 'string' && tok) return tok;
    }
  } catch (_) { /* not JSON, or storage off: fall through */ }
  try {
    const tok = sessionStorage.getItem(SESSION_KEY);
    if (tok) return tok;
  } catch (_) { /* storage off */ }
  return null;
}

// The token's payload, decoded without verification: only to show who and
// which role; the API decides what is allowed.
export function claims() {
  const tok = getToken();
  if (!tok) return null;
  const part = tok.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - b64.length % 4) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) {
    return null;
  }
}

const INTEGER = /^-?\d+$/;

// JSON.parse keeping non-integer numbers as their source text.
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === 'number' && context && typeof context.source === 'string' &&
        !INTEGER.test(context.source)) {
      return context.source;
    }
    return value;
  });
}

export function apiUrl(path, query) {
  const url = new URL(API_BASE + String(path).replace(/^\/+/, ''), location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === null || v === undefined || v === '') continue;
    url.searchParams.set(k, String(v));
  }
  return url.pathname + url.search;
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  const tok = getToken();
  if (tok) headers.set('Authorization', 'Bearer ' + tok);
  return headers;
}

async function send(path, { method = 'GET', query, body, accept } = {}) {
  const headers = authHeaders({ Accept: accept || 'application/json' });
  const init = { method, headers, credentials: 'omit', cache: 'no-store',
                 referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers.set('Content-Type', 'application/json');
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(apiUrl(path, query), init);
  } catch (err) {
    throw new ApiError(0, 'network_error', 'The billing service could not be reached.');
  }
  if (!resp.ok) throw await errorOf(resp);
  return resp;
}

async function errorOf(resp) {
  let code = null, message = null, param = null;
  try {
    const e = parseJson(await resp.text())?.error;
    if (e) ({ code, message, param } = e);
  } catch (_) { /* not JSON (e.g. nginx's own page) */ }
  return new ApiError(resp.status, code, message || resp.statusText || 'HTTP ' + resp.status,
                      param);
}

// api(path, {method, query, body}) → the parsed JSON body (null when empty).
export async function api(path, opts = {}) {
  const resp = await send(path, opts);
  const text = await resp.text();
  if (!text) return null;
  try {
    return parseJson(text);
  } catch (_) {
    throw new ApiError(resp.status, 'bad_response', 'The answer was not JSON.');
  }
}

// Fetches a file (a PDF, a CSV) with the token and saves it through a blob:
// URL; the token never goes into a URL.
export async function download(path, query, filename) {
  const resp = await send(path, { query, accept: '*/*' });
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename || '';
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}
