// Billing & Usage (/billing/): the token's own account. Every section loads
// by itself and shows its own error; the summary comes first.
import { api, claims, getToken } from './api.js';
import { showError } from './ui.js';
import { guard, notify, signedOut } from './billing-common.js';
import { renderSummary, renderUsage, renderSessions, renderQuotas, renderPeriodNav, renderChart } from './billing-usage.js';
import { loadPlan, loadPaymentMethods } from './billing-plan.js';
import { loadInvoices, showInvoice, hideInvoice, loadPayments, loadCredits } from './billing-invoices.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 30000;
let currency = 'usd';

// The address's hash: #from=...&to=... (a past period), #invoice=ID.
function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ''));
}

function setHash(params) {
  const s = params.toString();
  history.pushState(null, '', location.pathname + location.search + (s ? '#' + s : ''));
  route();
}

function period() {
  const p = hashParams();
  return p.get('from') && p.get('to') ? { from: p.get('from'), to: p.get('to') } : null;
}

function goPeriod(p) {
  const q = hashParams();
  q.delete('from'); q.delete('to'); q.delete('invoice');
  if (p) { q.set('from', p.from); q.set('to', p.to); }
  setHash(q);
}

let shownPeriod;
async function loadUsage(withChart) {
  const p = period();
  const current = !p;
  const u = await guard($('summary-body'), () => api('usage', { query: p || {} }), (u) => {
    currency = u.currency || currency;
    renderSummary(u, current);
    window.billingTotalShownAt = performance.now();
    renderPeriodNav(u, current, goPeriod);
    renderUsage(u);
    renderSessions(u, new Date());
    renderQuotas(u);
  });
  if (!u) {
    for (const id of ['usage-body', 'sessions-body', 'quotas-body', 'chart-body']) $(id).replaceChildren();
    return null;
  }
  if (withChart) renderChart(u).catch((err) => showError($('chart-body'), err));
  return u;
}

async function route() {
  const p = period();
  const key = p ? p.from + '/' + p.to : '';
  if (key !== shownPeriod) {
    shownPeriod = key;
    loadUsage(true);
  }
  const inv = hashParams().get('invoice');
  if (inv) showInvoice(inv);
  else hideInvoice();
}

let plans = null;

function reloadAccount() {
  loadUsage(false);
  plans = api('plans').catch((err) => ({ error: err }));
  guard($('plan-body'), () => loadPlan(reloadAccount, currency, plans), () => {});
}

// Invoice links and the panel's Close keep the period in the hash.
let opener = null;
function clicks(ev) {
  const a = ev.target.closest('a[href^="#invoice="]');
  const close = ev.target.closest('[data-close-invoice]');
  if (!a && !close) return;
  ev.preventDefault();
  const q = hashParams();
  if (a) {
    opener = a;
    q.set('invoice', a.getAttribute('href').slice(9));
  } else {
    q.delete('invoice');
  }
  setHash(q);
  if (close && opener && opener.isConnected) opener.focus();
}

// Back from Stripe Checkout: a notice, and the query leaves the address.
function checkoutReturn() {
  const q = new URLSearchParams(location.search);
  const c = q.get('checkout');
  if (!c) return;
  if (c === 'success') notify('Payment received by Stripe. Your new plan applies as soon as Stripe confirms the subscription (usually within a minute).', 'success');
  else notify('Checkout was cancelled; your plan has not changed.', 'info');
  history.replaceState(null, '', location.pathname + location.hash);
}

function start() {
  if (!getToken()) {
    signedOut({ status: 401, message: null });
    return;
  }
  const c = claims();
  if (c) $('who').textContent = 'Signed in as ' + (c.username || c.sub || '') + (c.role && c.role !== 'user' ? ' (' + c.role + ')' : '');
  checkoutReturn();
  route();
  plans = api('plans').catch((err) => ({ error: err }));
  guard($('plan-body'), () => loadPlan(reloadAccount, currency, plans), () => {});
  document.addEventListener('click', clicks);
  guard($('pm-body'), () => loadPaymentMethods(), () => {});
  guard($('invoices-body'), () => loadInvoices(null, false), () => {});
  guard($('payments-body'), () => loadPayments(), () => {});
  guard($('credits-body'), () => loadCredits(), () => {});
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', route);
  setInterval(() => {
    if (!document.hidden && !period()) loadUsage(false);
  }, REFRESH_MS);
}

start();
