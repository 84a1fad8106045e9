// Small DOM helpers shared by the billing pages.  Elements are built with
// h(); data never goes through innerHTML.  Money and quantities are shown
// from the API's decimal text, never recomputed.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'style') Object.assign(el.style, v);  // CSSOM: allowed by the CSP
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Digits after the point of a decimal text ("1.40" → 2, "3" → 0).
function fractionDigits(text) {
  const m = /\.(\d+)/.exec(String(text));
  return m ? m[1].length : 0;
}

function decimalText(v) {
  return typeof v === 'number' ? String(v) : String(v).trim();
}

// money("1.40", "usd") → "$1.40" (in the visitor's locale), exact: the text
// is formatted as a decimal string, with as many fraction digits as it has
// (at least 2).
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === '') return '—';
  const text = decimalText(amount);
  const digits = Math.min(20, Math.max(2, fractionDigits(text)));
  const code = String(currency || 'usd').toUpperCase();
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency', currency: code,
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(text);
  } catch (_) {
    return text + ' ' + code;
  }
}

// quantity("20.5", "core-hours") → "20.5 core-hours" (locale digits, exact).
export function quantity(text, unit) {
  if (text === null || text === undefined || text === '') return '—';
  const t = decimalText(text);
  const digits = Math.min(20, fractionDigits(t));
  let shown;
  try {
    shown = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(t);
  } catch (_) {
    shown = t;
  }
  return unit ? shown + ' ' + unit : shown;
}

function timeElement(iso, options) {
  if (!iso) return h('span', { text: '—' });
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', { text: String(iso) });
  const utc = d.toISOString().replace('.000Z', 'Z');
  return h('time', { datetime: utc, title: utc + ' (UTC)',
                     text: new Intl.DateTimeFormat(undefined, options).format(d) });
}

// An instant in the visitor's locale and time zone; the UTC instant on hover.
export function dateTime(iso) {
  return timeElement(iso, { dateStyle: 'medium', timeStyle: 'short' });
}

// A day: billing days and periods are UTC days, so shown in UTC.
export function date(iso) {
  return timeElement(iso, { dateStyle: 'medium', timeZone: 'UTC' });
}

export function statusBadge(status) {
  const word = String(status || 'unknown');
  return h('span', { class: 'badge status-' + word.replace(/[^a-z0-9_-]/gi, '_'), text: word });
}

// A labelled bar: class warn at >= threshold percent, over above 100; the
// percent and a word as text, so the state is never only a colour.
export function quotaBar(label, percent, thresholdPercent) {
  const p = Number(percent);
  const value = Number.isFinite(p) ? p : 0;
  const threshold = Number.isFinite(Number(thresholdPercent)) && thresholdPercent !== null
    ? Number(thresholdPercent) : 80;
  const state = value > 100 ? 'over' : value >= threshold ? 'warn' : 'ok';
  const shown = (percent === null || percent === undefined ? '0' : decimalText(percent)) + '%';
  const fill = h('div', { class: 'quota-fill' });
  fill.style.width = Math.min(100, Math.max(0, value)) + '%';
  const word = state === 'over' ? 'over limit' : state === 'warn' ? 'near limit' : null;
  return h('div', { class: ['quota', state === 'ok' ? null : state] },
    h('div', { class: 'quota-head' },
      h('span', { class: 'quota-label', text: label }),
      h('span', { class: 'quota-text num' }, shown, word ? ' · ' + word : null)),
    h('div', { class: 'quota-track', role: 'progressbar', 'aria-label': label,
               'aria-valuemin': '0', 'aria-valuemax': '100',
               'aria-valuenow': String(Math.round(Math.min(100, Math.max(0, value)))),
               'aria-valuetext': shown + (word ? ', ' + word : '') }, fill));
}

// Shows an API error in container: 401 says how to sign in, 403 what is not
// allowed (opts.forbidden: what this page needs), others the API's message.
export function showError(container, err, opts = {}) {
  const status = err && err.status;
  let box;
  if (status === 401) {
    box = h('div', { class: 'notice error signin', role: 'alert' },
      h('h2', { text: 'Sign in' }),
      h('p', { text: 'This page needs you to be signed in. Sign in to StreamSpace in this ' +
                     'browser (on this site) and reload this page, or open the link you ' +
                     'were given that ends in #token=….' }),
      err.message ? h('p', { class: 'muted', text: 'The service said: ' + err.message }) : null);
  } else if (status === 403) {
    box = h('div', { class: 'notice error forbidden', role: 'alert' },
      h('h2', { text: 'Not allowed' }),
      h('p', { text: opts.forbidden ||
                     'Your account is not allowed to see or do this.' }),
      err.message ? h('p', { class: 'muted', text: 'The service said: ' + err.message }) : null);
  } else {
    const msg = status === 0 ? 'The billing service could not be reached. Try again.'
      : (err && err.message) || String(err);
    box = h('div', { class: 'notice error', role: 'alert' },
      h('p', { text: msg }),
      err && err.param ? h('p', { class: 'muted', text: 'Field: ' + err.param }) : null);
  }
  if (container) container.replaceChildren(box);
  return box;
}

// A yes/no question in a modal <dialog>; resolves true when confirmed.
export function confirmAction(message, confirmLabel = 'Confirm') {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const ok = h('button', { type: 'button', class: 'primary', text: confirmLabel });
    const dialog = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' },
      h('p', { text: message }),
      h('div', { class: 'actions' }, cancel, ok));
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    ok.addEventListener('click', () => { answer = true; dialog.close(); });
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

let sectionIds = 0;

export function section(title, ...children) {
  const id = 'section-' + ++sectionIds;
  return h('section', { class: 'card', 'aria-labelledby': id },
    h('h2', { id, text: title }), ...children);
}

// table(columns, rows, {caption, empty}): a column is a label (the value is
// row[label], or row[i] for an array row) or {label, key, num, render(row)};
// num columns are right-aligned.
export function table(columns, rows, opts = {}) {
  const cols = columns.map((c, i) => typeof c === 'string' ? { label: c, key: c, i } : { i, ...c });
  const cell = (col, row) => {
    if (col.render) return col.render(row);
    const v = Array.isArray(row) ? row[col.i] : row[col.key ?? col.label];
    return v === null || v === undefined ? '—' : v;
  };
  const head = h('thead', null, h('tr', null, cols.map((c) =>
    h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label }))));
  const body = h('tbody', null);
  if (!rows || rows.length === 0) {
    body.append(h('tr', { class: 'empty' },
      h('td', { colspan: String(cols.length), text: opts.empty || 'Nothing to show.' })));
  } else {
    for (const row of rows) {
      body.append(h('tr', null, cols.map((c) =>
        h('td', { class: c.num ? 'num' : null, 'data-label': c.label }, cell(c, row)))));
    }
  }
  const t = h('table', null, opts.caption ? h('caption', { text: opts.caption }) : null,
    head, body);
  // a wide table scrolls inside its own box on a narrow screen
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region',
                    'aria-label': opts.caption || 'table' }, t);
}

export function loading(container) {
  const el = h('p', { class: 'loading', role: 'status', text: 'Loading…' });
  if (container) container.replaceChildren(el);
  return el;
}
