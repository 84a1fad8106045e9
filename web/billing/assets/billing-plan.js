// Billing & Usage: the plan and the plan list (change, cancel), payment
// methods and the Stripe Billing Portal.
import { api } from './api.js';
import { h, money, date, showError, confirmAction, statusBadge } from './ui.js';
import { fill, grid, note, isZero, cmpDecimal, notify } from './billing-common.js';

const body = () => document.getElementById('plan-body');

function limits(p) {
  return p.cpu_limit + ' cores · ' + p.memory_limit + ' GB memory · ' + p.storage_limit + ' GB storage';
}

function price(p, cur) {
  return isZero(p.price) ? 'Free' : money(p.price, p.currency || cur) + ' / ' + (p.interval || 'month');
}

// A free plan: at once, after a confirmation naming the change.
async function toFree(cur, p, reload, btn) {
  if (!await confirmAction('Change your plan from ' + cur.name + ' to ' + p.name + '? The change applies at once.')) return;
  btn.disabled = true;
  try {
    await api('subscription', { method: 'POST', body: { plan_id: p.id } });
    notify('Your plan is now ' + p.name + '.', 'success');
    reload();
  } catch (err) {
    btn.disabled = false;
    showError(document.getElementById('plan-error'), err);
  }
}

// A paid plan: Stripe Checkout, back to this page with a notice.
async function toPaid(p, btn) {
  btn.disabled = true;
  const back = location.origin + location.pathname;
  try {
    const cs = await api('create-checkout', { method: 'POST', body: {
      plan_id: p.id,
      success_url: back + '?checkout=success&session_id={CHECKOUT_SESSION_ID}',
      cancel_url: back + '?checkout=cancelled' } });
    location.assign(cs.url);
  } catch (err) {
    btn.disabled = false;
    showError(document.getElementById('plan-error'), err);
  }
}

async function cancel(sub, reload, btn) {
  const end = new Date(sub.current_period_end).toLocaleDateString();
  if (!await confirmAction('Cancel ' + sub.plan.name + '? It stays active until the end of the period (' + end + '), then ends.')) return;
  btn.disabled = true;
  try {
    await api('subscription', { method: 'POST', body: { cancel: true } });
    notify('Your subscription ends at the end of the period.', 'success');
    reload();
  } catch (err) {
    btn.disabled = false;
    showError(document.getElementById('plan-error'), err);
  }
}

export async function loadPlan(reload, currency, plansP) {
  const [sub, plans] = await Promise.all([api('subscription'), plansP]);
  const cur = sub.plan;
  const status = h('p', {}, 'Status: ', statusBadge(sub.status),
    sub.cancel_at_period_end ? h('span', {}, ' — ends on ', date(sub.current_period_end)) : null);
  const parts = [
    h('div', { class: 'current-plan' },
      h('p', { class: 'plan-name' }, h('strong', { text: cur.name }), ' — ' + price(cur, currency)),
      h('p', { class: 'muted', text: limits(cur) }), status,
      h('p', { class: 'muted' }, 'Period: ', date(sub.current_period_start), ' to ', date(sub.current_period_end))),
    h('div', { id: 'plan-error' }),
  ];
  if (sub.source === 'stripe' && !sub.cancel_at_period_end && sub.status !== 'canceled') {
    const b = h('button', { type: 'button', class: 'danger' }, 'Cancel at period end');
    b.addEventListener('click', () => cancel(sub, reload, b));
    parts.push(h('p', {}, b));
  }
  if (plans.error) {
    parts.push(h('div', { class: 'plans-error' }));
    fill(body(), ...parts);
    showError(body().lastChild, plans.error);
    return;
  }
  const list = (plans.plans || []).map((p) => {
    const isCur = p.current ?? p.id === cur.id;
    const free = isZero(p.price);
    const word = isCur ? 'Current plan' : (cmpDecimal(p.price, cur.price) > 0 ? 'Upgrade to ' : 'Change to ') + p.name;
    const can = p.purchasable !== false;
    const btn = h('button', { type: 'button', class: isCur ? null : 'primary' }, can ? word : 'Not available to buy here');
    btn.disabled = isCur || !can;
    if (!isCur) btn.addEventListener('click', () => (free ? toFree(cur, p, reload, btn) : toPaid(p, btn)));
    return h('li', { class: 'plan-card' + (isCur ? ' is-current' : '') },
      h('h3', { text: p.name }), h('p', { class: 'plan-price', text: price(p, plans.currency || currency) }),
      h('p', { class: 'muted', text: limits(p) }),
      free || isCur ? null : h('p', { class: 'muted small', text: 'Paid through Stripe Checkout.' }), btn);
  });
  parts.push(h('h3', { text: 'Plans' }), h('ul', { class: 'plan-list' }, ...list));
  fill(body(), ...parts);
}

export async function loadPaymentMethods() {
  const box = document.getElementById('pm-body');
  const portal = h('button', { type: 'button' }, 'Manage payment details');
  const portalErr = h('div');
  portal.addEventListener('click', async () => {
    portal.disabled = true;
    try {
      const r = await api('billing-portal', { method: 'POST', body: { return_url: location.origin + location.pathname } });
      location.assign(r.url);
    } catch (err) {
      portal.disabled = false;
      if (err.status === 409) fill(portalErr, note('There are no payment details to manage yet: they are made when you first buy a paid plan.'));
      else showError(portalErr, err);
    }
  });
  let list;
  try {
    const r = await api('payment-methods');
    const pms = r.payment_methods || [];
    list = pms.length
      ? grid([{ label: 'Type' }, { label: 'Card' }, { label: 'Expires' }], pms.map((m) => [
        m.type, m.card ? m.card.brand + ' ending ' + m.card.last4 : '—',
        m.card ? String(m.card.exp_month).padStart(2, '0') + '/' + m.card.exp_year : '—']), 'Payment methods')
      : note('No payment method on file. Paid plans ask for one at checkout.');
  } catch (err) {
    if (err.status === 503) {
      list = note('Card payments are not available: ' + err.message + '.');
      portal.disabled = true;
    } else {
      list = h('div');
      showError(list, err);
    }
  }
  fill(box, list, h('p', {}, portal), portalErr);
}
