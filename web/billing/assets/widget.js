// The Current Usage widget (/billing/widget): this period's cost, the live
// sessions with what they have cost so far, the quota bars; refreshed every
// 30 seconds.  GET usage is the only call.
import { api } from './api.js';
import { date, h, money, quotaBar, showError } from './ui.js';

export const REFRESH_MS = 30000;

const content = document.getElementById('widget-content');
const updated = document.getElementById('widget-updated');
let timer = null;

const QUOTAS = [['cpu', 'CPU'], ['memory', 'Memory'], ['storage', 'Storage']];

function costBlock(u) {
  const estimated = u.estimated_total_cost ?? u.total_cost;
  return h('div', { class: 'widget-cost' },
    h('span', { class: 'label', text: 'This period so far' }),
    h('span', { class: 'value', id: 'widget-total', text: money(estimated, u.currency) }),
    h('span', { class: 'detail' },
      'since ', date(u.period && u.period.from), ' · metered ',
      money(u.total_cost, u.currency), ', running ', money(u.pending_cost, u.currency)));
}

function sessionsBlock(u) {
  const sessions = u.active_sessions || [];
  const list = sessions.length === 0
    ? h('p', { class: 'muted', text: 'No live sessions.' })
    : h('ul', { class: 'widget-sessions' }, sessions.map((s) =>
      h('li', { 'data-session': s.session_id },
        h('span', { class: 'session-name' },
          h('span', { title: s.session_id, text: s.session_id }),
          h('span', { class: 'session-size' },
            `${s.cpu_cores} CPU · ${s.memory_gb} GB`,
            s.state && s.state !== 'running' ? ' · ' + s.state : null,
            s.stale ? ' · no heartbeat' : null)),
        h('span', { class: 'num', text: money(s.accrued_cost, u.currency) }))));
  return h('section', { 'aria-labelledby': 'widget-sessions-title' },
    h('h2', { id: 'widget-sessions-title', text: `Live sessions (${sessions.length})` }), list);
}

function quotasBlock(u) {
  const threshold = Number.isInteger(u.alert_threshold) ? u.alert_threshold : 80;
  const quota = u.quota || {};
  const bars = QUOTAS.filter(([key]) => quota[key]).map(([key, label]) => {
    const q = quota[key];
    if (!q.limit || q.percent === null || q.percent === undefined) {
      return h('p', { class: 'quota muted', text: `${label}: no limit` });
    }
    return quotaBar(`${label} (${q.in_use} of ${q.limit})`, q.percent, threshold);
  });
  return h('section', { 'aria-labelledby': 'widget-quota-title' },
    h('h2', { id: 'widget-quota-title',
              text: u.plan && u.plan.name ? `Quota · ${u.plan.name}` : 'Quota' }),
    bars.length ? bars : h('p', { class: 'muted', text: 'No plan limits.' }));
}

function render(u) {
  content.replaceChildren(costBlock(u), sessionsBlock(u), quotasBlock(u));
  const now = new Date();
  const t = h('time', { datetime: now.toISOString(),
                        text: new Intl.DateTimeFormat(undefined, { timeStyle: 'short' }).format(now) });
  updated.replaceChildren('Updated ', t);
}

export async function refresh() {
  try {
    render(await api('usage'));
  } catch (err) {
    showError(content, err, {
      forbidden: 'Your account may not see billing usage.',
    });
    updated.replaceChildren();
    // signed out or not allowed: asking again will not help
    if (err.status === 401 || err.status === 403) stop();
  }
}

function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

refresh();
timer = setInterval(() => {
  if (document.visibilityState !== 'hidden') refresh();
}, REFRESH_MS);
