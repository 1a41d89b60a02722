// app.js - the console's shell: header (user, language, log out), the
// navigation, hash routes (#/page?param=value) and the login page. Every
// page is a module with render(view, ctx) in js/pages/.
import { api, dropCache, session, setOnExpired } from './api.js';
import { clearFlash, h, showError, showOk } from './dom.js';
import { lang, setLang, t } from './i18n.js';
import * as audit from './pages/audit.js';
import * as dashboard from './pages/dashboard.js';
import * as hierarchy from './pages/hierarchy.js';
import * as hsms from './pages/hsms.js';
import * as institutions from './pages/institutions.js';
import * as keys from './pages/keys.js';
import * as maint from './pages/maint.js';
import * as proposals from './pages/proposals.js';
import * as propose from './pages/propose.js';
import * as records from './pages/records.js';
import * as templates from './pages/templates.js';
import * as users from './pages/users.js';

// roles: whom the navigation offers the page to. A hint only: the server
// decides what each role may read or do.
const ROUTES = [
	{ path: 'dashboard', mod: dashboard },
	{ path: 'proposals', mod: proposals },
	{ path: 'propose', mod: propose, roles: ['configurator', 'key_manager'] },
	{ path: 'keys', mod: keys },
	{ path: 'hierarchy', mod: hierarchy },
	{ path: 'hsms', mod: hsms },
	{ path: 'templates', mod: templates },
	{ path: 'institutions', mod: institutions },
	{ path: 'maint', mod: maint },
	{ path: 'records', mod: records },
	{ path: 'audit', mod: audit, roles: ['supervisor', 'auditor'] },
	{ path: 'users', mod: users,
	    roles: ['configurator', 'supervisor', 'auditor'] },
];

const $ = (id) => document.getElementById(id);
let pendingFlash = null; // shown after the next page is drawn
let renderSeq = 0;

function parseHash() {
	const raw = location.hash.replace(/^#\/?/, '');
	const q = raw.indexOf('?');
	const path = q < 0 ? raw : raw.slice(0, q);
	const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
	return { path: path || 'dashboard', params };
}

// Go to a page; text (optional) is shown there as a success message.
function go(hash, text) {
	pendingFlash = text || null;
	if (location.hash === hash)
		render();
	else
		location.hash = hash;
}

function header(me) {
	const top = $('top');
	const langBtn = h('button', { type: 'button', 'data-t': 'lang',
	    title: t('lang.label'), text: t('lang.switch') });
	langBtn.addEventListener('click', () => {
		setLang(lang() === 'en' ? 'zh' : 'en');
		clearFlash();
		render();
	});
	const parts = [h('span', { class: 'brand', text: t('app.title') })];
	if (me) {
		parts.push(h('span', { 'data-t': 'me', text: t('me', {
		    name: me.name, role: t('role.' + me.role, me.role) }) }));
	}
	parts.push(langBtn);
	if (me) {
		const out = h('button', { type: 'button', 'data-t': 'logout',
		    text: t('logout') });
		out.addEventListener('click', logout);
		parts.push(out);
	}
	top.replaceChildren(...parts);
	document.title = t('app.title');
}

function nav(me, current) {
	const links = ROUTES.filter((r) => !r.roles || r.roles.includes(me.role))
	    .map((r) => h('a', { href: '#/' + r.path, 'data-nav': r.path,
		class: r === current ? 'current' : null,
		text: t('nav.' + r.path) }));
	$('nav').replaceChildren(...links);
}

function loginPage(note) {
	$('nav').replaceChildren();
	const name = h('input', { name: 'name', id: 'login-name',
	    autocomplete: 'username', required: true, maxlength: 64 });
	const pw = h('input', { name: 'password', id: 'login-password',
	    type: 'password', autocomplete: 'current-password', required: true });
	const form = h('form', { class: 'grid', 'data-t': 'login' },
	    h('label', { for: 'login-name', text: t('login.name') }), name,
	    h('label', { for: 'login-password', text: t('login.password') }), pw,
	    h('span'), h('div', {}, h('button', { type: 'submit',
		class: 'primary', text: t('login.submit') })));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		try {
			const r = await api('POST', '/api/login',
			    { name: name.value, password: pw.value });
			pw.value = '';
			session.set(r.token, r.user);
			dropCache();
			clearFlash();
			go('#/dashboard');
		} catch (e) {
			showError(e);
		}
	});
	$('main').replaceChildren(h('section', { class: 'login panel',
	    'data-page': 'login', 'data-ready': '1' },
	    h('h1', { text: t('login.title') }), form));
	if (note)
		showOk(note, 'info');
	name.focus();
}

async function logout() {
	try {
		await api('POST', '/api/logout');
	} catch {
		// The session is gone either way.
	}
	session.clear();
	dropCache();
	history.replaceState(null, '', location.pathname);
	header(null);
	loginPage(t('logout.done'));
}

async function render() {
	const seq = ++renderSeq;
	const me = session.token ? session.user : null;
	dropCache(); // lists are cached for one page only
	header(me);
	if (!me) {
		loginPage();
		return;
	}
	const { path, params } = parseHash();
	const route = ROUTES.find((r) => r.path === path);
	nav(me, route);
	if (pendingFlash) {
		showOk(pendingFlash);
		pendingFlash = null;
	} else {
		clearFlash();
	}
	const view = h('div', { 'data-page': path });
	$('main').replaceChildren(view);
	if (!route) {
		view.append(h('p', { text: t('page.unknown') }));
		view.dataset.ready = '1';
		return;
	}
	const ctx = { me, params, go, reload: render,
	    current: () => seq === renderSeq };
	try {
		await route.mod.render(view, ctx);
	} catch (e) {
		if (seq === renderSeq && session.token)
			showError(e);
	}
	view.dataset.ready = '1';
}

setOnExpired(() => {
	dropCache();
	header(null);
	loginPage(t('login.expired'));
});

async function start() {
	setLang(lang());
	window.addEventListener('hashchange', () => render());
	if (session.token) {
		// The stored user may be stale (disabled, another login).
		try {
			const me = await api('GET', '/api/me');
			session.set(session.token, me);
		} catch {
			if (!session.token)
				return; // expired: the login page is up
		}
	}
	render();
}

start();
