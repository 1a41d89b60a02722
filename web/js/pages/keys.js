// keys.js - root keys (generated in the root HSM) and issued keys (their
// copies at the business, city and clearing HSMs), each with its KCV and
// state; one root key's events, re-issue plan and destruction
// (#/keys?id=N), and the proposals of its life cycle.
import { cached, get, post, query } from '../api.js';
import { actionButton, badge, code, fmtTime, h, kindex, section, select,
	showError, showOk, table } from '../dom.js';
import { t } from '../i18n.js';

const KEY_STATES = ['active', 'pending', 'archived', 'compromised',
	'destroyed'];
const SHOW_MAX = 1000; // rows drawn of an issued-keys answer
const KM = 'key_manager';

function lifecycleLinks(k, ctx) {
	if (ctx.me.role !== KM)
		return null;
	const kinds = { active: ['key.rotate', 'key.compromise'],
		archived: ['key.destroy'],
		compromised: ['key.reissue', 'key.destroy'] }[k.state] || [];
	return h('div', { class: 'actions' }, kinds.map((kind) => h('a', {
	    href: `#/propose?kind=${kind}&root_key=${k.id}`,
	    text: t('kind.' + kind) })));
}

function rootTable(list, ctx) {
	return table([
		{ label: t('id'), get: (k) => h('a', { href: '#/keys?id=' + k.id,
		    text: '#' + k.id }) },
		{ label: t('keys.template'), get: (k) => code(k.template) },
		{ label: t('keys.alg'), get: (k) => k.alg },
		{ label: t('keys.version'), get: (k) => String(k.version), num: true },
		{ label: t('keys.index'), get: (k) => code(k.index) },
		{ label: t('keys.kcv'), get: (k) => h('code', { 'data-t': 'kcv',
		    text: k.kcv }) },
		{ label: t('state'), get: (k) => badge(k.state, 'key') },
		{ label: t('keys.hsm'), get: (k) => k.hsm },
		{ label: t('keys.copies'), get: (k) => String(k.copies), num: true },
		{ label: t('created'), get: (k) => fmtTime(k.created) },
		{ label: t('actions'), get: (k) => lifecycleLinks(k, ctx) },
	], list, { name: 'root-keys', rowAttrs: (k) => ({ 'data-id': k.id,
	    'data-template': k.template, 'data-alg': k.alg }) });
}

function issuedTable(list) {
	return table([
		{ label: t('id'), get: (k) => String(k.id), num: true },
		{ label: t('keys.root_key'), get: (k) => h('a', {
		    href: '#/keys?id=' + k.root_key_id, text: '#' + k.root_key_id }) },
		{ label: t('keys.template'), get: (k) => code(k.template) },
		{ label: t('keys.alg'), get: (k) => k.alg },
		{ label: t('keys.version'), get: (k) => String(k.version), num: true },
		{ label: t('city'), get: (k) => k.city ? `${k.city} ${k.city_code}` :
		    null },
		{ label: t('keys.hsm'), get: (k) => k.hsm },
		{ label: t('keys.index'), get: (k) => code(k.index) },
		{ label: t('keys.kcv'), get: (k) => code(k.kcv) },
		{ label: t('state'), get: (k) => badge(k.state, 'key') },
		{ label: t('changed'), get: (k) => fmtTime(k.changed) },
	], list, { name: 'issued-keys', rowAttrs: (k) => ({ 'data-id': k.id }) });
}

// A filter bar whose values live in the hash (#/keys?state=active&...).
function filters(ctx, defs) {
	const bar = h('form', { class: 'filters' });
	const inputs = defs.map((d) => {
		const s = select(d.k, d.options, ctx.params.get(d.k) ?? '', t('all'));
		bar.append(h('label', {}, d.label + ' ', s));
		return [d.k, s];
	});
	bar.append(h('button', { type: 'submit', text: t('filter') }));
	bar.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const q = {};
		for (const [k, v] of ctx.params)
			q[k] = v;
		for (const [k, s] of inputs)
			q[k] = s.value;
		ctx.go('#/keys' + query(q));
	});
	return bar;
}

async function list(view, ctx) {
	const p = ctx.params;
	view.append(h('h1', { text: t('nav.keys') }));
	const [tpl, hsms, inst] = await Promise.all([cached('/api/templates'),
	    cached('/api/hsms'), cached('/api/institutions')]);
	const states = KEY_STATES.map((s) => ({ value: s, label: t('key.' + s) }));
	const rootBar = filters(ctx, [
		{ k: 'state', label: t('state'), options: states },
		{ k: 'template', label: t('keys.template'),
		    options: tpl.templates.map((x) => ({ value: x.name,
			label: x.name })) },
		{ k: 'alg', label: t('keys.alg'), options: ['DES', 'SM4'].map(
		    (a) => ({ value: a, label: a })) },
	]);
	const roots = await get('/api/root-keys' + query({ state: p.get('state'),
	    template: p.get('template'), alg: p.get('alg') }));
	const head = h('div', { class: 'actions' });
	if (ctx.me.role === KM)
		head.append(h('a', { href: '#/propose?kind=key.generate',
		    text: t('keys.generate') }));
	view.append(section(t('keys.root'), head, rootBar,
	    rootTable(roots.root_keys, ctx)));

	const issuedBar = filters(ctx, [
		{ k: 'icity', label: t('city'), options: inst.institutions
		    .filter((i) => i.kind === 'city').map((i) => ({
			value: i.city_code, label: `${i.name} ${i.city_code}` })) },
		{ k: 'ihsm', label: t('keys.hsm'), options: hsms.hsms.map((x) => ({
		    value: x.id, label: x.name })) },
		{ k: 'istate', label: t('state'), options: states },
	]);
	const issued = await get('/api/issued-keys' + query({
	    city: p.get('icity'), hsm: p.get('ihsm'), state: p.get('istate') }));
	const rows = issued.issued_keys;
	view.append(section(t('keys.issued'), issuedBar,
	    rows.length > SHOW_MAX ? h('p', { class: 'muted',
		text: t('keys.more', { n: SHOW_MAX }) }) : null,
	    issuedTable(rows.slice(0, SHOW_MAX))));
}

function destruction(d, id, ctx, title) {
	const s = section(title || t('keys.destruction'), h('p', { text:
	    t('keys.destruction.pending', { p: d.pending, d: d.destroyed }) }),
	table([
		{ label: t('keys.hsm'), get: (k) => k.hsm },
		{ label: t('keys.alg'), get: (k) => k.alg },
		{ label: t('keys.index'), get: (k) => code(kindex(k.idx)) },
		{ label: t('keys.kcv'), get: (k) => code(k.kcv) },
		{ label: t('state'), get: (k) => badge(k.state, 'key') },
		{ label: t('keys.command'), get: (k) => code(k.command) },
		{ label: t('keys.why'), get: (k) => k.why },
	], d.keys, { name: 'destruction' }));
	if (d.pending > 0 && [KM, 'supervisor'].includes(ctx.me.role))
		s.append(actionButton(t('keys.confirm_destroy'), async () => {
			const r = await post(`/api/root-keys/${id}/confirm-destroy`);
			const bad = r.keys.filter((k) => k.ok === false);
			await ctx.reload();
			if (bad.length)
				showError(new Error(bad.map((k) => `${k.hsm}: ${k.why}`)
				    .join('; ')));
			else
				showOk(t('keys.destruction.pending', { p: r.pending,
				    d: r.destroyed }));
		}, { 'data-t': 'confirm-destroy' }));
	return s;
}

async function detail(view, ctx, id) {
	const k = await get('/api/root-keys/' + id);
	view.append(h('p', {}, h('a', { href: '#/keys', text: t('keys.back') })),
	    h('h1', { text: `#${k.id} ${k.template} ${k.alg} v${k.version}` }));
	view.append(section(null, rootTable([k], ctx), h('div', {
	    class: 'actions' }, h('span', { text: t('keys.records') + ':' }),
	['generation', 'distribution', 'compromise', 'destruction'].map((r) =>
		h('a', { href: `#/records?root_key=${k.id}&kind=${r}`,
		    text: t('rec.kind.' + r) })))));
	view.append(section(t('keys.events'), table([
		{ label: t('time'), get: (e) => fmtTime(e.time) },
		{ label: t('keys.event.kind'), get: (e) => e.kind },
		{ label: t('keys.event.actor'), get: (e) => e.actor },
		{ label: t('keys.event.proposal'), get: (e) => e.proposal_id ?
		    h('a', { href: '#/proposals?state=all', text: '#' +
			e.proposal_id }) : null },
		{ label: t('keys.event.reason'), get: (e) => e.reason },
	], k.events || [], { name: 'events' })));
	const [plan, destr] = await Promise.allSettled([
		get(`/api/root-keys/${id}/plan`),
		get(`/api/root-keys/${id}/destruction`)]);
	if (plan.status === 'fulfilled') {
		const p = plan.value;
		view.append(section(t('keys.plan'), h('p', { text: t('keys.plan.next',
		    { v: p.next_version, idx: kindex(p.next_idx) }) }), table([
			{ label: t('city'), get: (c) => c.city ?
			    `${c.city} ${c.city_code}` : null },
			{ label: t('keys.hsm'), get: (c) => c.hsm },
			{ label: t('keys.alg'), get: (c) => c.alg },
			{ label: t('keys.index'), get: (c) => code(kindex(c.idx)) },
			{ label: t('keys.kcv'), get: (c) => code(c.kcv) },
			{ label: t('state'), get: (c) => badge(c.state, 'key') },
			{ label: t('keys.new_idx'), get: (c) => code(kindex(c.new_idx)) },
		], p.copies || [], { name: 'plan' })));
	} else {
		showError(plan.reason);
	}
	if (destr.status === 'fulfilled') {
		if (destr.value.keys.length)
			view.append(destruction(destr.value, id, ctx));
	} else {
		showError(destr.reason);
	}
}

export async function render(view, ctx) {
	const id = ctx.params.get('id');
	if (id && /^\d+$/.test(id))
		await detail(view, ctx, id);
	else
		await list(view, ctx);
}
