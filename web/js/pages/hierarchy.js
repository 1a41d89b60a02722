// hierarchy.js - the key hierarchy as an inline SVG drawn here (no
// library): root keys (left) → the cities they were issued for → the
// HSMs holding the copies (right). Nodes and edges are coloured by key
// state (an edge by the most urgent state of the copies it stands for);
// HSM nodes by health. Clicking a root key shows only its copies.
import { cached, get } from '../api.js';
import { h, section, select, svg } from '../dom.js';
import { t } from '../i18n.js';

export const COLOURS = {
	active: '#217a3c',
	pending: '#a06000',
	archived: '#6b7280',
	compromised: '#b3261e',
	destroyed: '#222222',
};
const HEALTH = { ok: '#217a3c', sealed: '#b3261e', unreachable: '#b3261e',
	error: '#b3261e', unknown: '#a06000' };
const CITY = '#1d4e89';
// Which state an edge shows when its copies differ: the one that needs
// attention first.
const URGENCY = ['compromised', 'pending', 'active', 'archived', 'destroyed'];

const ROW = 26;
const NODE_H = 20;
const TOP = 34;
const COLS = { root: { x: 10, w: 300 }, city: { x: 390, w: 170 },
	hsm: { x: 640, w: 250 } };
const WIDTH = 900;

function urgent(states) {
	for (const s of URGENCY)
		if (states.has(s))
			return s;
	return [...states][0];
}

function node(kind, id, i, label, colour, tip, state) {
	const c = COLS[kind];
	const y = TOP + i * ROW;
	const g = svg('g', { class: 'node', 'data-kind': kind, 'data-id': id,
	    'data-state': state, transform: `translate(${c.x},${y})` },
	svg('title', { text: tip || label }),
	svg('rect', { width: c.w, height: NODE_H, fill: colour,
	    'fill-opacity': 0.12, stroke: colour }),
	svg('text', { x: 6, y: 14, text: label }));
	return { g, y: y + NODE_H / 2 };
}

function edge(x1, y1, x2, y2, colour, attrs) {
	const mx = (x1 + x2) / 2;
	return svg('path', Object.assign({ d: `M${x1},${y1} C${mx},${y1} ` +
	    `${mx},${y2} ${x2},${y2}`, stroke: colour }, attrs));
}

// The picture of roots (root keys), issued (their copies), hsms and the
// cities in appendix order.
export function picture(roots, issued, hsms, cityOrder, onPick) {
	const rootIds = new Set(roots.map((k) => k.id));
	const copies = issued.filter((k) => rootIds.has(k.root_key_id));
	const cityCodes = [...new Set(copies.map((k) => k.city_code))]
	    .sort((a, b) => (cityOrder.get(a) ?? 99) - (cityOrder.get(b) ?? 99));
	const hsmIds = [...new Set(copies.map((k) => k.hsm_id))].sort((a, b) =>
	    a - b);
	const hsmById = new Map(hsms.map((x) => [x.id, x]));
	const rows = Math.max(roots.length, cityCodes.length, hsmIds.length, 1);
	const s = svg('svg', { class: 'tree', 'data-t': 'hierarchy',
	    width: WIDTH, height: TOP + rows * ROW + 10,
	    viewBox: `0 0 ${WIDTH} ${TOP + rows * ROW + 10}`, role: 'img',
	    'aria-label': t('tree.title') });
	for (const [kind, key] of [['root', 'tree.roots'], ['city', 'tree.cities'],
	    ['hsm', 'tree.hsms']])
		s.append(svg('text', { class: 'col', x: COLS[kind].x, y: 18,
		    text: t(key) }));
	const edges = svg('g', { class: 'edges' });
	const nodes = svg('g', { class: 'nodes' });
	s.append(edges, nodes);

	const rootY = new Map();
	roots.forEach((k, i) => {
		const n = node('root', k.id, i, `${k.template} ${k.alg} ` +
		    `v${k.version} ${k.index} ${k.kcv}`, COLOURS[k.state] || '#555',
		`#${k.id} ${k.template} ${k.alg} v${k.version}: ` +
		    t('key.' + k.state, k.state), k.state);
		n.g.addEventListener('click', () => onPick(k.id));
		nodes.append(n.g);
		rootY.set(k.id, n.y);
	});
	const cityY = new Map();
	cityCodes.forEach((code, i) => {
		const any = copies.find((k) => k.city_code === code);
		const n = node('city', code, i, `${any.city || ''} ${code}`, CITY);
		nodes.append(n.g);
		cityY.set(code, n.y);
	});
	const hsmY = new Map();
	hsmIds.forEach((id, i) => {
		const x = hsmById.get(id) || { name: '#' + id, role: '?' };
		const n = node('hsm', id, i, `${x.name} (${t('hsmrole.' + x.role,
		    x.role)})`, HEALTH[x.health] || '#555', `${x.name}: ` +
		    t('health.' + x.health, x.health || '?'), x.health);
		nodes.append(n.g);
		hsmY.set(id, n.y);
	});

	// Edges: one per (root key, city) and per (city, HSM).
	const group = (keyOf) => {
		const m = new Map();
		for (const k of copies) {
			const key = keyOf(k);
			if (!m.has(key))
				m.set(key, { k, states: new Set(), n: 0 });
			const e = m.get(key);
			e.states.add(k.state);
			e.n++;
		}
		return m;
	};
	const rx = COLS.root.x + COLS.root.w;
	for (const e of group((k) => k.root_key_id + '|' + k.city_code).values()) {
		const st = urgent(e.states);
		const p = edge(rx, rootY.get(e.k.root_key_id), COLS.city.x,
		    cityY.get(e.k.city_code), COLOURS[st] || '#555', {
			'data-kind': 'root-city', 'data-state': st,
			'data-count': e.n });
		p.append(svg('title', { text: t('tree.keys', { n: e.n }) }));
		edges.append(p);
	}
	const cx = COLS.city.x + COLS.city.w;
	for (const e of group((k) => k.city_code + '|' + k.hsm_id).values()) {
		const st = urgent(e.states);
		const p = edge(cx, cityY.get(e.k.city_code), COLS.hsm.x,
		    hsmY.get(e.k.hsm_id), COLOURS[st] || '#555', {
			'data-kind': 'city-hsm', 'data-state': st,
			'data-count': e.n });
		p.append(svg('title', { text: t('tree.keys', { n: e.n }) }));
		edges.append(p);
	}
	return s;
}

function legend() {
	return h('div', { class: 'legend' }, Object.entries(COLOURS).map(
	    ([state, colour]) => {
		const sw = h('span', { class: 'swatch' });
		sw.style.background = colour;
		return h('span', {}, sw, t('key.' + state));
	}));
}

export async function render(view, ctx) {
	view.append(h('h1', { text: t('tree.title') }));
	const p = ctx.params;
	const [tpl, hsms, inst, roots, issued] = await Promise.all([
		cached('/api/templates'), get('/api/hsms'), cached('/api/institutions'),
		get('/api/root-keys'), get('/api/issued-keys')]);
	const tplSel = select('template', tpl.templates.map((x) => ({
	    value: x.name, label: x.name })), p.get('template') ?? '', t('all'));
	const algSel = select('alg', ['DES', 'SM4'].map((a) => ({ value: a,
	    label: a })), p.get('alg') ?? '', t('all'));
	const stateSel = select('state', Object.keys(COLOURS).map((s) => ({
	    value: s, label: t('key.' + s) })), p.get('state') ?? '', t('all'));
	const apply = () => {
		const q = new URLSearchParams();
		for (const [k, s] of [['template', tplSel], ['alg', algSel],
		    ['state', stateSel]])
			if (s.value)
				q.set(k, s.value);
		ctx.go('#/hierarchy' + (q.toString() ? '?' + q : ''));
	};
	for (const s of [tplSel, algSel, stateSel])
		s.addEventListener('change', apply);
	view.append(h('div', { class: 'filters' },
	    h('label', {}, t('keys.template') + ' ', tplSel),
	    h('label', {}, t('keys.alg') + ' ', algSel),
	    h('label', {}, t('state') + ' ', stateSel)));

	const cityOrder = new Map(inst.institutions.filter((i) => i.city_code)
	    .map((i, n) => [i.city_code, n]));
	const shown = roots.root_keys.filter((k) =>
		(!tplSel.value || k.template === tplSel.value) &&
	    (!algSel.value || k.alg === algSel.value) &&
	    (!stateSel.value || k.state === stateSel.value));
	const panel = section(null);
	view.append(h('p', { class: 'muted', text: t('tree.hint') }), legend(),
	    panel);
	let picked = null;
	const draw = () => {
		const list = picked === null ? shown : shown.filter((k) =>
			k.id === picked);
		const pic = picture(list, issued.issued_keys, hsms.hsms, cityOrder,
		    (id) => {
			picked = picked === id ? null : id;
			draw();
		});
		const note = list.length === 0 ? t('tree.none') :
		    issued.issued_keys.some((k) => list.some((r) =>
			r.id === k.root_key_id)) ? null : t('tree.noissued');
		panel.replaceChildren(note ? h('p', { class: 'muted',
		    'data-t': 'tree-note', text: note }) : '', pic);
	};
	draw();
}
