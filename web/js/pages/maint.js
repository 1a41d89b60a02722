// maint.js - maintenance applications (docs/maintenance.md): import a city
// HSM's request file, propose its licences (maint.licence, approved by a
// second key manager, signed by the root HSM), export the signed update
// file for `tkms maint apply` at the city.
import { get, post, query } from '../api.js';
import { actionButton, badge, code, download, fmtTime, h, pre, section,
	showError, showOk, table } from '../dom.js';
import { t } from '../i18n.js';

const KM = 'key_manager';
const REQUEST_MAX = 60000; // the API takes bodies up to 64 KiB

// A counter's end as a licence line writes it.
function untilText(u) {
	if (typeof u === 'number')
		return new Date(u * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
	return u ? String(u) : '';
}

// The application's counters as licence lines: a start for the form.
function licenceDraft(a) {
	return (a.counters || []).map((c) => [c.cmd, c.key, c.lib, c.count,
	    untilText(c.until)].join(' ')).join('\n');
}

function actions(a, ctx) {
	const box = h('div', { class: 'actions' }, h('a', {
	    href: '#/maint?id=' + a.id, text: t('details') }));
	if (ctx.me.role === KM && ['imported', 'rejected', 'signed',
	    'exported'].includes(a.state))
		box.append(h('a', { href: '#/propose' + query({
		    kind: 'maint.licence', app: a.id, licences: licenceDraft(a) }),
		text: t('maint.propose') }));
	if ([KM, 'supervisor'].includes(ctx.me.role) &&
	    ['signed', 'exported'].includes(a.state))
		box.append(actionButton(t('maint.export'), async () => {
			const r = await post(`/api/maint/${a.id}/export`, {});
			const file = `update-${r.serial}-${r.seq}.txt`;
			download(file, r.update);
			await ctx.reload();
			showOk(t('maint.exported', { file }));
		}, { 'data-t': 'export' }));
	return box;
}

function importForm(ctx) {
	const file = h('input', { type: 'file', name: 'request', id: 'f-request',
	    accept: '.txt,text/plain' });
	const form = h('form', { class: 'actions', 'data-t': 'import' }, file,
	    h('button', { type: 'submit', class: 'primary',
		text: t('maint.import.do') }));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const f = file.files[0];
		if (!f) {
			showError(new Error(t('maint.nofile')));
			return;
		}
		try {
			if (f.size > REQUEST_MAX)
				throw new Error(`${f.name}: ${f.size} bytes`);
			const a = await post('/api/maint', { request: await f.text() });
			ctx.go('#/maint?id=' + a.id, t('maint.import.done',
			    { id: a.id, serial: a.serial }));
		} catch (e) {
			showError(e);
		}
	});
	return section(t('maint.import'), form);
}

function counters(list) {
	return table([
		{ label: t('maint.cmd'), get: (c) => c.cmd },
		{ label: t('maint.key'), get: (c) => c.key },
		{ label: t('maint.lib'), get: (c) => c.lib },
		{ label: t('maint.count'), get: (c) => String(c.count), num: true },
		{ label: t('maint.used'), get: (c) => String(c.used), num: true },
		{ label: t('maint.until'), get: (c) => typeof c.until === 'number' ?
		    fmtTime(c.until) : c.until },
	], list || [], { name: 'counters' });
}

async function detail(view, ctx, id) {
	const a = await get('/api/maint/' + id);
	view.append(h('p', {}, h('a', { href: '#/maint', text: '← ' +
	    t('maint.title') })), h('h1', { text: `${t('maint.app')} #${a.id} ` +
	    a.serial }));
	const facts = [
		[t('state'), badge(a.state, 'maint')],
		[t('maint.serial'), code(a.serial)],
		[t('maint.issuer'), code(a.issuer_code)],
		[t('keys.hsm'), a.hsm],
		[t('city'), a.city],
		[t('maint.identity'), code(a.identity)],
		[t('maint.seq'), a.seq === null || a.seq === undefined ? null :
		    String(a.seq)],
		['last_seq', String(a.last_seq)],
		[t('maint.enforce'), a.enforce === undefined || a.enforce === null ?
		    null : a.enforce ? t('yes') : t('no')],
		[t('keys.event.proposal'), a.proposal_id ? '#' + a.proposal_id :
		    null],
		[t('created'), fmtTime(a.created)],
		[t('changed'), fmtTime(a.changed)],
	];
	view.append(section(null, table([
		{ label: t('name'), get: (r) => r[0] },
		{ label: '', get: (r) => r[1] },
	], facts, { name: 'app' }), actions(a, ctx)));
	view.append(section(t('maint.counters'), counters(a.counters)));
	if (a.licences)
		view.append(section(t('maint.licences'), pre(a.licences)));
	if (a.form)
		view.append(section(t('maint.form'), table([
			{ label: t('name'), get: (r) => code(r[0]) },
			{ label: '', get: (r) => String(r[1]) },
		], Object.entries(a.form), { name: 'form' })));
}

export async function render(view, ctx) {
	const id = ctx.params.get('id');
	if (id && /^\d+$/.test(id)) {
		await detail(view, ctx, id);
		return;
	}
	view.append(h('h1', { text: t('maint.title') }));
	if (ctx.me.role === KM)
		view.append(importForm(ctx));
	const r = await get('/api/maint');
	view.append(section(null, table([
		{ label: t('id'), get: (a) => String(a.id), num: true },
		{ label: t('maint.serial'), get: (a) => code(a.serial) },
		{ label: t('city'), get: (a) => a.city },
		{ label: t('keys.hsm'), get: (a) => a.hsm },
		{ label: t('state'), get: (a) => badge(a.state, 'maint') },
		{ label: t('maint.seq'), get: (a) => a.seq === null ||
		    a.seq === undefined ? null : String(a.seq), num: true },
		{ label: t('changed'), get: (a) => fmtTime(a.changed) },
		{ label: t('actions'), get: (a) => actions(a, ctx) },
	], r.applications, { name: 'applications', rowAttrs: (a) => ({
	    'data-id': a.id }) })));
}
