// dashboard.js - the key manager's morning: the HSM fleet (health, seal,
// authorised state, last NC), the proposals waiting for *my* decision
// (open, my role, not mine), and the licences of the maintenance
// applications that are nearly used up or about to end.
import { get, post } from '../api.js';
import { actionButton, badge, code, fmtTime, h, section, showError, showOk,
	table } from '../dom.js';
import { t } from '../i18n.js';
import { afterDecision, proposalTable } from './proposals.js';

// A licence is "near exhaustion" with at most LOW_SHARE of its uses left
// (or at most LOW_ABS), "near expiry" when it ends within SOON_DAYS.
export const LOW_SHARE = 0.1;
export const LOW_ABS = 10;
export const SOON_DAYS = 30;

// A licence's end as Unix seconds: counters carry Unix seconds or the
// request file's UTC time / date text.
export function untilSeconds(u) {
	if (typeof u === 'number')
		return u;
	if (typeof u === 'string' && u !== '') {
		const ms = Date.parse(u);
		return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
	}
	return null;
}

// Why a counter needs attention: [] when it does not.
export function licenceWarnings(c, now) {
	const why = [];
	const left = Number(c.count);
	const used = Number(c.used) || 0;
	if (Number.isFinite(left) && left <= Math.max(LOW_ABS,
	    LOW_SHARE * (left + used)))
		why.push('low');
	const end = untilSeconds(c.until);
	if (end !== null && end <= now)
		why.push('expired');
	else if (end !== null && end - now <= SOON_DAYS * 86400)
		why.push('expiry');
	return why;
}

export function seal(hsm) {
	if (hsm.health === 'sealed')
		return badge('sealed', 'seal');
	if (hsm.health === 'ok')
		return badge('unsealed', 'seal');
	return null;
}

// The authorised state as the HSM's management port last told the KMS
// (docs/api.md, H "authorised"); null when not known.
export function authorised(hsm) {
	if (typeof hsm.authorised !== 'boolean')
		return null;
	return h('span', { class: 'badge ' + (hsm.authorised ? 'ok' : 'warn'),
	    text: t(hsm.authorised ? 'auth.yes' : 'auth.no') });
}

export function checkButton(hsm, ctx) {
	if (!['configurator', 'key_manager', 'supervisor'].includes(ctx.me.role))
		return null;
	return actionButton(t('hsm.check'), async () => {
		const r = await post(`/api/hsms/${hsm.id}/check`);
		const text = t('hsm.checked', { name: hsm.name,
		    health: t('health.' + r.health, r.health), ms: r.latency_ms });
		await ctx.reload();
		if (r.ok)
			showOk(text);
		else
			showError(new Error(r.message ? `${text}: ${r.message}` : text));
	}, { 'data-t': 'check' });
}

function fleet(hsms, ctx) {
	return table([
		{ label: t('name'), get: (x) => x.name },
		{ label: t('hsm.role'), get: (x) => t('hsmrole.' + x.role, x.role) },
		{ label: t('city'), get: (x) => x.city },
		{ label: t('hsm.health'), get: (x) => badge(x.health, 'health') },
		{ label: t('hsm.seal'), get: seal },
		{ label: t('hsm.authorised'), get: authorised },
		{ label: t('hsm.last_nc'), get: (x) => fmtTime(x.last_nc) },
		{ label: t('hsm.dk_kcv'), get: (x) => code(x.dk_kcv) },
		{ label: t('state'), get: (x) => badge(x.state, 'hsmstate') },
		{ label: t('actions'), get: (x) => checkButton(x, ctx) },
	], hsms, { name: 'fleet', rowAttrs: (x) => ({ 'data-id': x.id,
	    'data-name': x.name }) });
}

function licences(apps) {
	const now = Math.floor(Date.now() / 1000);
	const newest = new Map(); // serial -> its newest application
	for (const a of apps)
		if (!newest.has(a.serial))
			newest.set(a.serial, a);
	const rows = [];
	for (const a of newest.values())
		for (const c of a.counters || []) {
			const why = licenceWarnings(c, now);
			if (why.length)
				rows.push({ a, c, why });
		}
	if (rows.length === 0)
		return h('p', { class: 'muted', 'data-t': 'licences-none',
		    text: t('dash.licences.none') });
	return table([
		{ label: t('maint.app'), get: (r) => h('a', { href: '#/maint?id=' +
		    r.a.id, text: `#${r.a.id} ${r.a.serial}` }) },
		{ label: t('city'), get: (r) => r.a.city },
		{ label: t('maint.cmd'), get: (r) => r.c.cmd },
		{ label: t('maint.key'), get: (r) => r.c.key },
		{ label: t('maint.lib'), get: (r) => r.c.lib },
		{ label: t('maint.count'), get: (r) => String(r.c.count), num: true },
		{ label: t('maint.used'), get: (r) => String(r.c.used), num: true },
		{ label: t('maint.until'), get: (r) => typeof r.c.until === 'number' ?
		    fmtTime(r.c.until) : r.c.until },
		{ label: t('maint.why'), get: (r) => r.why.map((w) =>
		    h('span', { class: 'badge ' + (w === 'low' ? 'warn' : 'bad'),
			text: t('maint.why.' + w) })) },
	], rows, { name: 'licences' });
}

function unavailable(reason) {
	const e = reason || {};
	return h('p', { class: 'msg error', text: t('dash.unavailable', {
	    msg: e.status ? `${e.status} ${e.message}` : String(e.message) }) });
}

function card(label, value, name) {
	return h('div', { class: 'card', 'data-card': name },
	    h('div', { class: 'n', text: value }), h('div', { class: 'muted',
		text: label }));
}

export async function render(view, ctx) {
	view.append(h('h1', { text: t('dash.title') }));
	const [hs, ps, ms, ks] = await Promise.allSettled([get('/api/hsms'),
	    get('/api/proposals?state=open'), get('/api/maint'),
	    get('/api/root-keys?state=active')]);
	const me = ctx.me;
	const mine = ps.status === 'fulfilled' ? ps.value.proposals.filter((p) =>
	    p.state === 'open' && p.role === me.role && p.proposer !== me.name) :
	    [];
	const cards = h('div', { class: 'cards' });
	if (ps.status === 'fulfilled')
		cards.append(card(t('dash.open'), String(ps.value.proposals.length),
		    'open'), card(t('dash.mine'), String(mine.length), 'mine'));
	if (hs.status === 'fulfilled') {
		const ok = hs.value.hsms.filter((x) => x.health === 'ok').length;
		cards.append(card(t('dash.hsms.ok'),
		    `${ok} / ${hs.value.hsms.length}`, 'hsms'));
	}
	if (ks.status === 'fulfilled')
		cards.append(card(t('dash.rootkeys'),
		    String(ks.value.root_keys.length), 'rootkeys'));
	view.append(cards);

	view.append(section(t('dash.mine'), ps.status === 'fulfilled' ?
	    (mine.length ? proposalTable(mine, ctx, afterDecision(ctx), 'mine') :
		h('p', { class: 'muted', 'data-t': 'mine-none',
		    text: t('dash.mine.none') })) : unavailable(ps.reason)));
	view.append(section(t('dash.fleet'), hs.status === 'fulfilled' ?
	    fleet(hs.value.hsms, ctx) : unavailable(hs.reason)));
	view.append(section(t('dash.licences'),
	    h('p', { class: 'muted', text: t('dash.licences.rule') }),
	    ms.status === 'fulfilled' ? licences(ms.value.applications) :
		unavailable(ms.reason)));
}
