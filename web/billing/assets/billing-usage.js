// Billing & Usage: the summary, usage per resource, the cost-per-day chart,
// live sessions and quota bars, all from GET usage.
import { api } from './api.js';
import { h, money, quantity, dateTime, quotaBar } from './ui.js';
import { fill, grid, note, isZero } from './billing-common.js';

const utcDay = new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' });
const utcShort = new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', month: 'short', day: 'numeric' });

// "Mar 1, 2027 – Mar 31, 2027" for [from, to) in UTC days.
export function periodLabel(p) {
  const to = new Date(Date.parse(p.to) - 1);
  return utcDay.format(new Date(p.from)) + ' – ' + utcDay.format(to);
}

function card(label, value, ...extra) {
  return h('div', { class: 'figure' }, h('span', { class: 'label', text: label }),
    h('span', { class: 'value' }, value), ...extra);
}

export function renderSummary(u, current) {
  const cur = u.currency;
  const pending = current && !isZero(u.pending_cost)
    ? h('p', { class: 'muted' }, 'plus ' + money(u.pending_cost, cur) + ' not yet metered (estimate ' +
        money(u.estimated_total_cost, cur) + ')')
    : null;
  const plan = u.plan || {};
  fill(document.getElementById('summary-body'),
    card(current ? 'Current period' : 'Period', periodLabel(u.period)),
    card(current ? 'Cost so far' : 'Cost', h('span', { id: 'total-cost', class: 'num' }, money(u.total_cost, cur)), pending),
    card('Credits balance', h('span', { class: 'num' }, money(u.credits_balance, cur))),
    card('Plan', plan.name || plan.id || '—',
      plan.price !== undefined ? h('p', { class: 'muted', text: (isZero(plan.price) ? 'Free' : money(plan.price, cur) + ' / ' + (plan.interval || 'month')) + ' · billed by ' + u.billing_mode }) : null));
}

export function renderUsage(u) {
  const rows = (u.items || []).map((it) => [
    it.resource_type, quantity(it.quantity, it.unit), money(it.unit_price, u.currency),
    money(it.total_cost, u.currency)]);
  rows.push([h('strong', { text: 'Total' }), '', '', h('strong', { text: money(u.total_cost, u.currency) })]);
  fill(document.getElementById('usage-body'),
    grid([{ label: 'Resource' }, { label: 'Quantity', num: true },
      { label: 'Unit price', num: true }, { label: 'Cost', num: true }], rows,
    'Cost per resource, ' + periodLabel(u.period)),
    u.items && u.items.length ? null : note('No metered usage in this period.'));
}

export function renderSessions(u, updated) {
  const s = u.active_sessions || [];
  const rows = s.map((x) => [
    x.session_id,
    x.stale ? 'stale (no heartbeat)' : x.state,
    dateTime(x.started_at),
    x.cpu_cores + ' CPU · ' + x.memory_gb + ' GB' + (isZero(x.storage_gb) ? '' : ' · ' + x.storage_gb + ' GB disk'),
    money(x.accrued_cost, u.currency)]);
  fill(document.getElementById('sessions-body'),
    s.length ? grid([{ label: 'Session' }, { label: 'State' }, { label: 'Started' }, { label: 'Size' },
      { label: 'Accrued cost', num: true }], rows, 'Sessions running now') : note('No live sessions.'),
    h('p', { class: 'muted small' }, 'Updated ', updated.toLocaleTimeString(), '; refreshed every 30 seconds.'));
}

// The warning colour from GET usage's alert_threshold (config alertThreshold).
export function renderQuotas(u) {
  const threshold = u.alert_threshold;
  const q = u.quota || {};
  const names = { cpu: 'CPU cores', memory: 'Memory (GB)', storage: 'Storage (GB)' };
  const bars = Object.keys(names).filter((k) => q[k]).map((k) => {
    const x = q[k];
    return quotaBar(names[k] + ': ' + x.in_use + ' of ' + x.limit, x.percent ?? 0, threshold);
  });
  fill(document.getElementById('quotas-body'), ...bars,
    note('Warning colour from ' + threshold + ' % of the plan\'s limit.'));
}

// Period navigation: previous/next billing period, back to the current one.
function shiftMonths(iso, n) {
  const d = new Date(iso);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, d.getUTCDate())).toISOString().replace('.000Z', 'Z');
}

export function renderPeriodNav(u, current, go) {
  const p = u.period;
  const prev = h('button', { type: 'button', on: { click: () => go({ from: shiftMonths(p.from, -1), to: p.from }) } }, '← Previous period');
  const next = h('button', { type: 'button', on: { click: () => go({ from: p.to, to: shiftMonths(p.to, 1) }) } }, 'Next period →');
  const now = h('button', { type: 'button', on: { click: () => go(null) } }, 'Current period');
  next.disabled = current;
  now.disabled = current;
  fill(document.getElementById('period-nav'), prev,
    h('span', { class: 'period-label', 'aria-live': 'polite' }, periodLabel(p)), next, now);
}

// The cost per day: one GET usage/days for the period shown (every day of
// it, zero days included). Values are plotted with Number(text); the text is
// what is shown.
async function perDay(u) {
  const d = await api('usage/days', { query: { from: u.period.from, to: u.period.to } });
  return d.days.map((x) => ({ day: x.day, cost: x.total_cost }));
}

let chart = null;

// Chart.js loads async (the numbers never wait for it): its load or error.
function chartLoaded() {
  const el = document.getElementById('chartjs');
  return new Promise((resolve) => {
    if (!el) return resolve();
    el.addEventListener('load', resolve, { once: true });
    el.addEventListener('error', resolve, { once: true });
    setTimeout(resolve, 10000);
  });
}

export async function renderChart(u) {
  const box = document.getElementById('chart-body');
  box.setAttribute('aria-busy', 'true');
  const days = await perDay(u);
  const label = (d) => utcShort.format(new Date(d.day + 'T00:00:00Z'));
  const canvas = h('canvas', { role: 'img', 'aria-label': 'Bar chart of the cost per day, ' + periodLabel(u.period) + '; the same figures are in the table below.' });
  const table = h('details', { class: 'chart-table' }, h('summary', {}, 'Cost per day as a table'),
    grid([{ label: 'Day' }, { label: 'Cost', num: true }], days.map((d) => [label(d), money(d.cost, u.currency)]), 'Cost per day'));
  fill(box, h('div', { class: 'chart-box' }, canvas), table);
  if (chart) chart.destroy();
  chart = null;
  if (typeof window.Chart !== 'function') await chartLoaded();
  if (typeof window.Chart !== 'function') {
    box.prepend(note('The chart could not be loaded; the figures are in the table.'));
    return;
  }
  const color = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb';
  chart = new window.Chart(canvas, {
    type: 'bar',
    data: { labels: days.map(label), datasets: [{ label: 'Cost (' + u.currency.toUpperCase() + ')', data: days.map((d) => Number(d.cost)), backgroundColor: color }] },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false },
        tooltip: { callbacks: { label: (c) => money(days[c.dataIndex].cost, u.currency) } } },
      scales: { y: { beginAtZero: true } },
    },
  });
}
