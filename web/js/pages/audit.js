// audit.js - the SM3-chained audit (supervisors and auditors): rows page
// by page, and the chain verified by the server.
import { get, query } from '../api.js';
import { actionButton, code, fmtTime, h, jsonText, section, showError,
	showOk, table } from '../dom.js';
import { t } from '../i18n.js';

const LIMIT = 100;

export async function render(view, ctx) {
	const from = Math.max(1, parseInt(ctx.params.get('from') || '1', 10) || 1);
	const limit = Math.min(1000, Math.max(1,
	    parseInt(ctx.params.get('limit') || String(LIMIT), 10) || LIMIT));
	view.append(h('h1', { text: t('audit.title') }));
	const fromIn = h('input', { type: 'number', name: 'from', min: 1,
	    value: from, size: 8 });
	const limitIn = h('input', { type: 'number', name: 'limit', min: 1,
	    max: 1000, value: limit, size: 6 });
	const form = h('form', { class: 'filters' },
	    h('label', {}, t('audit.from') + ' ', fromIn),
	    h('label', {}, t('audit.limit') + ' ', limitIn),
	    h('button', { type: 'submit', text: t('audit.show') }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		ctx.go('#/audit' + query({ from: fromIn.value,
		    limit: limitIn.value }));
	});
	const verify = actionButton(t('audit.verify'), async () => {
		const r = await get('/api/audit/verify');
		if (r.ok)
			showOk(t('audit.ok', { n: r.records }));
		else
			showError(new Error(t('audit.bad', { seq: r.first_bad,
			    n: r.records, why: r.why })));
	}, { 'data-t': 'verify', class: 'primary' });
	view.append(h('div', { class: 'actions' }, verify), form);
	const r = await get('/api/audit' + query({ from, limit }));
	const pager = h('div', { class: 'actions' });
	if (from > 1)
		pager.append(h('a', { href: '#/audit' + query({
		    from: Math.max(1, from - limit), limit }),
		text: t('audit.prev') }));
	if (r.records.length === limit)
		pager.append(h('a', { href: '#/audit' + query({
		    from: r.records[r.records.length - 1].seq + 1, limit }),
		text: t('audit.next') }));
	view.append(section(null, table([
		{ label: t('audit.seq'), get: (x) => String(x.seq), num: true },
		{ label: t('time'), get: (x) => fmtTime(x.time) },
		{ label: t('audit.actor'), get: (x) => x.actor },
		{ label: t('audit.action'), get: (x) => code(x.action) },
		{ label: t('audit.detail'), get: (x) => code(jsonText(x.detail)) },
		{ label: t('audit.hash'), get: (x) => h('code', { title: x.hash,
		    text: String(x.hash).slice(0, 16) + '…' }) },
	], r.records, { name: 'audit', rowAttrs: (x) => ({ 'data-seq': x.seq }) }),
	pager));
}
