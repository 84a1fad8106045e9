// Billing & Usage: the plan and the plan list (change, cancel), payment
// methods and the Stripe Billing Portal.
import { api } from './api.js';
import { h, money, date, showError, confirmAction, statusBadge } from './ui.js';
import { fill, grid, note, isZero, notify } from './billing-common.js';

const body = () => document.getElementById('plan-body');

function limits(p) {
  return p.cpu_limit + ' cores · ' + p.memory_limit + ' GB memory · ' + p.storage_limit + ' GB storage';
}

function price(p, cur) {
  return isZero(p.price) ? 'Free' : money(p.price, p.currency || cur) + ' / ' + (p.interval || 'month');
}

// Only to Stripe's Checkout/Portal or this origin.
function away(url) {
  let o = null;
  try { o = new URL(url, location.href).origin; } catch (_) { /* not a URL */ }
  if (![location.origin, 'https://checkout.stripe.com', 'https://billing.stripe.com'].includes(o)) throw new Error('Unexpected address from Stripe: not going there.');
  location.assign(url);
}

const day = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(iso));

// A plan's price per day, to compare plans exactly as the server does (a
// month is 365/12 days): price × 12 for a monthly plan, × 1 for a yearly one,
// in millionths.
function perDay(p) {
  const [i, f = ''] = String(p.price).split('.');
  return BigInt(i + f.padEnd(6, '0').slice(0, 6)) * (p.interval === 'year' ? 1n : 12n);
}

// POST subscription after a confirmation saying what happens; done(answer)
// says what did.
async function change(message, planId, done, reload, btn) {
  if (!await confirmAction(message)) return;
  btn.disabled = true;
  try {
    done(await api('subscription', { method: 'POST', body: { plan_id: planId } }));
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
    away(cs.url);
  } catch (err) {
    btn.disabled = false;
    showError(document.getElementById('plan-error'), err);
  }
}

async function cancel(sub, reload, btn) {
  if (!await confirmAction('Cancel ' + sub.plan.name + '? It stays active until the end of the period (' + day(sub.current_period_end) + '), then ends.')) return;
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

// What a change from the current plan to p does (docs/api.md POST
// subscription): [how, confirmation] with how 'stripe' | 'now' | 'pending'
// | 'checkout' | 'free'.
function plan(sub, p) {
  const cur = sub.plan, end = day(sub.current_period_end);
  const free = isZero(p.price), up = perDay(p) >= perDay(cur);
  if (sub.source === 'stripe' && sub.status !== 'canceled') {
    return free
      ? ['stripe', 'Change to ' + p.name + '? Your ' + cur.name + ' subscription ends at the end of the period (' + end + '), then ' + p.name + ' applies.']
      : ['stripe', 'Change to ' + p.name + ' now? Stripe credits the unused time on ' + cur.name + ' and charges the rest of the period on ' + p.name + ' (prorated) on your next invoice.'];
  }
  if (sub.billing_mode !== 'usage' && !isZero(cur.price)) {
    return up
      ? ['now', 'Upgrade from ' + cur.name + ' to ' + p.name + ' now? It applies at once; your next invoice carries a prorated charge for the rest of the period on ' + p.name + ', less the unused time on ' + cur.name + '.']
      : ['pending', 'Change from ' + cur.name + ' to ' + p.name + ' at the end of the period' + (cur.interval === 'year' ? ' (the end of its yearly cycle)' : ' (' + end + ')') + '? ' + cur.name + ' stays until then, with no proration.'];
  }
  return free ? ['free', 'Change your plan from ' + cur.name + ' to ' + p.name + '? The change applies at once.'] : ['checkout'];
}

function pendingNote(sub, plans, reload) {
  const to = (plans.plans || []).find((p) => p.id === sub.pending_plan_id);
  const name = to ? to.name : sub.pending_plan_id;
  const keep = h('button', { type: 'button' }, 'Keep current plan');
  keep.addEventListener('click', () => change('Keep ' + sub.plan.name + '? The change to ' + name + ' on ' + day(sub.pending_at) + ' is cancelled.',
    sub.plan.id, () => notify('You keep ' + sub.plan.name + '.', 'success'), reload, keep));
  return h('div', { class: 'notice info pending' }, h('p', {}, 'Changes to ' + name + ' on ', date(sub.pending_at), '.'), keep);
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
    sub.pending_plan_id ? pendingNote(sub, plans.error ? {} : plans, reload) : null,
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
    const [how, msg] = isCur ? [] : plan(sub, p);
    const word = isCur ? 'Current plan' : (perDay(p) > perDay(cur) ? 'Upgrade to ' : 'Change to ') + p.name;
    const can = p.purchasable !== false;
    const btn = h('button', { type: 'button', class: isCur ? null : 'primary' }, can ? word : 'Not available to buy here');
    btn.disabled = isCur || !can;
    if (!isCur) {
      btn.addEventListener('click', () => (how === 'checkout' ? toPaid(p, btn) : change(msg, p.id, (r) => notify(r.pending_plan_id
        ? 'Your plan changes to ' + p.name + ' on ' + day(r.pending_at) + '.'
        : how === 'stripe' && isZero(p.price) ? 'Your subscription ends at the end of the period.' : 'Your plan is now ' + p.name + '.', 'success'), reload, btn)));
    }
    return h('li', { class: 'plan-card' + (isCur ? ' is-current' : '') },
      h('h3', { text: p.name }), h('p', { class: 'plan-price', text: price(p, plans.currency || currency) }),
      h('p', { class: 'muted', text: limits(p) }),
      how === 'checkout' ? h('p', { class: 'muted small', text: 'Paid through Stripe Checkout.' }) : null, btn);
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
      away(r.url);
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
