// Billing Management (/admin/billing/): asks the server whether this token
// may see the page, then shows the section the hash names.
import { api, claims } from './api.js';
import { h, showError } from './ui.js';
import { route, role, canWrite, hashOf } from './admin-util.js';
import { overview } from './admin-accounts.js';
import { account } from './admin-account.js';
import { invoices } from './admin-invoices.js';
import { invoice } from './admin-invoice.js';
import { reports } from './admin-reports.js';
import { jobs, events } from './admin-ops.js';

const VIEWS = [
	['overview', 'Accounts', overview],
	['invoices', 'Invoices', invoices],
	['reports', 'Usage report', reports],
	['jobs', 'Jobs', jobs],
	['events', 'Events', events],
];
const main = document.getElementById('main');
const nav = document.getElementById('tabs');
let shown = null;

function render() {
	const { view, params } = route();
	const entry = VIEWS.find(v => v[0] === view);
	const one = { account: ['overview', account, 'Account'], invoice: ['invoices', invoice, 'Invoice'] }[view];
	const tab = one ? one[0] : (entry ? view : 'overview');
	for (const a of nav.querySelectorAll('a')) {
		if (a.dataset.view === tab) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
	main.replaceChildren();
	(one ? one[1] : (entry || VIEWS[0])[2])(main, params);
	const title = one ? one[2] : (entry || VIEWS[0])[1];
	document.title = `${title} · Billing Management`;
	// a new section takes the focus, as a new page would; a changed filter keeps it
	if (shown !== null && shown !== view) main.focus();
	shown = view;
}

function denied(err) {
	showError(main, err, { forbidden: 'Billing Management is for billing admins (role admin, or ' +
		`operator to read). This token's role (${role()}) may not see it, so nothing is shown.` });
	main.append(h('p', {}, 'Your own usage and invoices are on ',
		h('a', { href: '/billing/' }, 'Billing & Usage'), '.'));
}

async function boot() {
	try {
		// one account: the cheapest admin read, so the sections wait ~ms
		await api('admin/users', { query: { limit: 1 } });
	} catch (e) {
		if (e.status === 403) return denied(e);
		if (e.status === 401) { main.replaceChildren(); showError(main, e); return; }
		// anything else: the page opens and the overview shows the error
	}
	const c = claims() || {};
	document.getElementById('who').textContent =
		`Signed in as ${c.sub || c.username || 'unknown'} (${role()}${canWrite() ? '' : ', read-only'})`;
	nav.replaceChildren(...VIEWS.map(([v, label]) =>
		h('a', { href: hashOf(v, []), 'data-view': v }, label)));
	nav.hidden = false;
	addEventListener('hashchange', render);
	render();
}

boot();
