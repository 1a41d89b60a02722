// propose.js - a form per proposal kind (docs/api.md, the kinds tables),
// built from the table KINDS below, plus "other": any kind with a JSON
// payload. Submitting posts {kind, payload, expires_in} to
// /api/proposals; the server checks the payload and says what is wrong.
// Prefill from the hash: #/propose?kind=key.rotate&root_key=5.
import { cached, post } from '../api.js';
import { h, section, select, showError } from '../dom.js';
import { t } from '../i18n.js';

const ROLES = ['configurator', 'key_manager', 'supervisor', 'auditor'];
const HSM_ROLES = ['root', 'provincial_business', 'clearing', 'city',
	'standby'];
const CATEGORIES = ['consumption', 'recharge', 'reserved', 'maintenance'];

// Choices loaded from the API: [{value, label}].
const load = {
	users: async () => (await cached('/api/users')).users
	    .filter((u) => u.state === 'active')
	    .map((u) => ({ value: u.name, label: `${u.name} (${u.role})` })),
	institutions: async () => (await cached('/api/institutions'))
	    .institutions.map((i) => ({ value: i.id,
		label: `${i.name} ${i.name_en || ''} ${i.city_code || ''}` })),
	cities: async () => (await cached('/api/institutions')).institutions
	    .filter((i) => i.kind === 'city' && i.city_code)
	    .map((i) => ({ value: i.city_code,
		label: `${i.name} ${i.city_code}` })),
	templates: async () => (await cached('/api/templates')).templates
	    .map((x) => ({ value: x.name, label: `${x.name_zh} ${x.name}` })),
	hsms: async () => (await cached('/api/hsms')).hsms
	    .map((x) => ({ value: x.id, label: `${x.name} (${x.role})` })),
	rootHsms: async () => (await cached('/api/hsms')).hsms
	    .filter((x) => x.role === 'root' && x.state === 'active')
	    .map((x) => ({ value: x.id, label: `${x.name} #${x.id}` })),
	targetHsms: async () => (await cached('/api/hsms')).hsms
	    .filter((x) => x.role !== 'root' && x.state === 'active')
	    .map((x) => ({ value: x.id, label: `${x.name} (${x.role}` +
		(x.city ? `, ${x.city}` : '') + ')' })),
	rootKeys: async () => (await cached('/api/root-keys')).root_keys
	    .map((k) => ({ value: k.id, label: `#${k.id} ${k.template} ` +
		`${k.alg} v${k.version} ${k.index} (${k.state})` })),
	apps: async () => (await cached('/api/maint')).applications
	    .map((a) => ({ value: a.id, label: `#${a.id} ${a.serial} ` +
		`${a.city || ''} (${a.state})` })),
};

const opts = (list, group) => list.map((v) => ({ value: v,
	label: group ? `${t(group + '.' + v, v)} (${v})` : v }));

// Field: k (payload key), type (text | password | int | select | checks |
// bool | textarea), req, set (goes into payload.set), options / load,
// int (a select whose value is a number), hint, dflt.
const KINDS = {
	'user.create': { role: 'configurator', fields: [
		{ k: 'name', type: 'text', req: true },
		{ k: 'role', type: 'select', req: true,
		    options: () => opts(ROLES, 'role') },
		{ k: 'password', type: 'password', req: true },
	] },
	'user.disable': { role: 'configurator', fields: [
		{ k: 'name', type: 'select', req: true, load: load.users },
	] },
	'institution.update': { role: 'configurator', fields: [
		{ k: 'id', type: 'select', req: true, int: true,
		    load: load.institutions },
		{ k: 'name', type: 'text', set: true },
		{ k: 'name_en', type: 'text', set: true },
		{ k: 'city_code', type: 'text', set: true },
		{ k: 'iin', type: 'text', set: true },
		{ k: 'cert_record', type: 'text', set: true },
		{ k: 'issuer_code', type: 'text', set: true },
	] },
	'hsm.add': { role: 'configurator', fields: [
		{ k: 'name', type: 'text', req: true },
		{ k: 'role', type: 'select', req: true,
		    options: () => opts(HSM_ROLES, 'hsmrole') },
		{ k: 'city', type: 'select', load: load.cities },
		{ k: 'host', type: 'text', req: true, dflt: '127.0.0.1' },
		{ k: 'port', type: 'int', req: true },
		{ k: 'header_len', type: 'int', dflt: '8' },
		{ k: 'mgmt_host', type: 'text' },
		{ k: 'mgmt_port', type: 'int' },
		{ k: 'serial', type: 'text' },
	] },
	'hsm.update': { role: 'configurator', fields: [
		{ k: 'id', type: 'select', req: true, int: true, load: load.hsms },
		{ k: 'host', type: 'text', set: true },
		{ k: 'port', type: 'int', set: true },
		{ k: 'header_len', type: 'int', set: true },
		{ k: 'mgmt_host', type: 'text', set: true },
		{ k: 'mgmt_port', type: 'int', set: true },
		{ k: 'serial', type: 'text', set: true },
		{ k: 'state', type: 'select', set: true,
		    options: () => opts(['active', 'retired'], 'hsmstate') },
	] },
	'template.update': { role: 'key_manager', fields: [
		{ k: 'name', type: 'select', req: true, load: load.templates },
		{ k: 'category', type: 'select', set: true,
		    options: () => opts(CATEGORIES) },
		{ k: 'type_code', type: 'text', set: true },
		{ k: 'factor_rule', type: 'text', set: true },
		{ k: 'clearing', type: 'select', set: true, int: true,
		    options: () => [{ value: 1, label: t('yes') },
			{ value: 0, label: t('no') }] },
	] },
	'key.generate': { role: 'key_manager', fields: [
		{ k: 'hsm', type: 'select', req: true, int: true,
		    load: load.rootHsms },
		{ k: 'templates', type: 'checks', load: load.templates,
		    hint: 'form.templates.hint' },
		{ k: 'algs', type: 'checks', options: () => opts(['DES', 'SM4']),
		    hint: 'form.algs.hint' },
	] },
	'key.issue': { role: 'key_manager', fields: [
		{ k: 'hsm', type: 'select', req: true, int: true,
		    load: load.targetHsms },
		{ k: 'cities', type: 'checks', load: load.cities,
		    hint: 'form.cities.hint' },
		{ k: 'templates', type: 'checks', load: load.templates,
		    hint: 'form.templates.hint' },
	] },
	'key.rotate': { role: 'key_manager', fields: [
		{ k: 'root_key', type: 'select', req: true, int: true,
		    load: load.rootKeys },
	] },
	'key.compromise': { role: 'key_manager', fields: [
		{ k: 'root_key', type: 'select', req: true, int: true,
		    load: load.rootKeys },
		{ k: 'reason', type: 'text', req: true },
	] },
	'key.reissue': { role: 'key_manager', fields: [
		{ k: 'root_key', type: 'select', req: true, int: true,
		    load: load.rootKeys },
	] },
	'key.destroy': { role: 'key_manager', fields: [
		{ k: 'root_key', type: 'select', req: true, int: true,
		    load: load.rootKeys },
	] },
	'maint.licence': { role: 'key_manager', fields: [
		{ k: 'app', type: 'select', req: true, int: true, load: load.apps },
		{ k: 'licences', type: 'textarea', req: true,
		    hint: 'form.licences.hint' },
		{ k: 'enforce', type: 'bool', dflt: true },
		{ k: 'seq', type: 'int' },
		{ k: 'hsm', type: 'select', int: true, load: load.rootHsms },
		{ k: 'key_index', type: 'int' },
	] },
};

// One input for field f; returns {el, read()} where read() gives the
// value for the payload or undefined for "not given".
async function input(f, given) {
	const id = 'f-' + f.k;
	const choices = f.options ? f.options() : f.load ? await f.load() : null;
	const num = (s) => (f.int || f.type === 'int') && s !== '' ? Number(s) :
	    s;
	switch (f.type) {
	case 'select': {
		const s = select(f.k, choices, given ?? '', '—');
		s.id = id;
		if (f.req && given === undefined && choices.length === 1)
			s.value = String(choices[0].value);
		return { el: s, read: () => s.value === '' ? undefined :
		    num(s.value) };
	}
	case 'checks': {
		const want = new Set((given || '').split(',').filter(Boolean));
		const boxes = choices.map((c) => h('input', { type: 'checkbox',
		    name: f.k, value: c.value, checked: want.has(String(c.value)) }));
		const el = h('div', { class: 'checks', id },
		    boxes.map((b, i) => h('label', {}, b, ' ' + choices[i].label)));
		return { el, read: () => {
			const v = boxes.filter((b) => b.checked).map((b) => b.value);
			return v.length ? v : undefined;
		} };
	}
	case 'bool': {
		const b = h('input', { type: 'checkbox', name: f.k, id,
		    checked: given !== undefined ? given === 'true' : !!f.dflt });
		return { el: b, read: () => b.checked };
	}
	case 'textarea': {
		const a = h('textarea', { name: f.k, id, rows: 8, cols: 60,
		    class: 'mono', text: given ?? '' });
		return { el: a, read: () => a.value.trim() === '' ? undefined :
		    a.value };
	}
	default: {
		const i = h('input', { name: f.k, id, value: given ?? f.dflt ?? '',
		    type: f.type === 'password' ? 'password' : f.type === 'int' ?
			'number' : 'text',
		    autocomplete: f.type === 'password' ? 'new-password' : 'off' });
		return { el: i, read: () => i.value.trim() === '' ? undefined :
		    num(i.value.trim()) };
	}
	}
}

function kindChoices(role) {
	const mine = Object.keys(KINDS).filter((k) => KINDS[k].role === role);
	return mine.map((k) => ({ value: k, label: `${t('kind.' + k)} (${k})` }))
	    .concat([{ value: 'other', label: t('kind.other') }]);
}

async function buildForm(kind, params) {
	const form = h('form', { class: 'grid', 'data-t': 'propose',
	    'data-kind': kind });
	const readers = [];
	if (kind === 'other') {
		const k = h('input', { name: 'kind', id: 'f-kind',
		    value: params.get('other') || '' });
		const p = h('textarea', { name: 'payload', id: 'f-payload',
		    rows: 10, cols: 60, class: 'mono', text: '{}' });
		form.append(h('label', { for: 'f-kind', text: t('form.kind') }), k,
		    h('label', { for: 'f-payload', text: t('form.payload') }), p);
		readers.push(() => {
			let payload;
			try {
				payload = JSON.parse(p.value);
			} catch {
				payload = null;
			}
			if (!payload || typeof payload !== 'object' ||
			    Array.isArray(payload))
				throw new Error(t('form.badjson'));
			return { kind: k.value.trim(), payload };
		});
	} else {
		let setShown = false;
		const fields = [];
		for (const f of KINDS[kind].fields) {
			if (f.set && !setShown) {
				form.append(h('div', { class: 'wide muted',
				    text: t('form.set') }));
				setShown = true;
			}
			const { el, read } = await input(f, params.get(f.k) ??
			    undefined);
			const label = t('f.' + f.k, f.k) + (f.req ? ' *' : '');
			form.append(h('label', { for: 'f-' + f.k, text: label }), el);
			if (f.hint)
				form.append(h('div', { class: 'hint', text: t(f.hint) }));
			fields.push({ f, read });
		}
		readers.push(() => {
			const payload = {};
			const set = {};
			for (const { f, read } of fields) {
				const v = read();
				if (v === undefined) {
					if (f.req)
						throw new Error(t('form.required',
						    { f: t('f.' + f.k, f.k) }));
					continue;
				}
				(f.set ? set : payload)[f.k] = v;
			}
			if (KINDS[kind].fields.some((f) => f.set))
				payload.set = set;
			return { kind, payload };
		});
	}
	const exp = h('input', { name: 'expires_in', id: 'f-expires_in',
	    type: 'number', min: 1 });
	form.append(h('label', { for: 'f-expires_in', text: t('form.expires_in') }),
	    exp, h('div', { class: 'hint', text: t('form.expires_in.hint') }),
	    h('span'), h('div', {}, h('button', { type: 'submit',
		class: 'primary', text: t('submit') })));
	return { form, read: () => {
		const body = readers[0]();
		if (exp.value !== '')
			body.expires_in = Number(exp.value);
		return body;
	} };
}

export async function render(view, ctx) {
	const kinds = kindChoices(ctx.me.role);
	const asked = ctx.params.get('kind');
	const kind = asked && (KINDS[asked] || asked === 'other') ? asked :
	    kinds[0].value;
	const pick = select('kind', KINDS[asked] && !kinds.some((k) =>
	    k.value === asked) ? kinds.concat([{ value: asked,
		label: `${t('kind.' + asked)} (${asked})` }]) : kinds, kind);
	pick.id = 'f-kindpick';
	pick.addEventListener('change', () => ctx.go('#/propose?kind=' +
	    encodeURIComponent(pick.value)));
	view.append(h('h1', { text: t('prop.new') }),
	    h('div', { class: 'filters' }, h('label', { for: 'f-kindpick',
		text: t('form.kind') }), pick));
	const { form, read } = await buildForm(kind, ctx.params);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const button = form.querySelector('button[type=submit]');
		button.disabled = true;
		try {
			const p = await post('/api/proposals', read());
			ctx.go('#/proposals?state=open', t('prop.created',
			    { id: p.id }));
		} catch (e) {
			showError(e);
		} finally {
			button.disabled = false;
		}
	});
	view.append(section(t('kind.' + kind, kind), form));
}

