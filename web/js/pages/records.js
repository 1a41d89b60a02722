// records.js - the work forms (工作表格: generation, distribution,
// destruction, compromise of one root key) as the server writes them:
// the HTML document shown in a frame from a blob URL (the page's CSP
// applies to it: no script of it runs), printed from there or opened in
// a window of its own; the Markdown form as a download.
import { cached, get, post } from '../api.js';
import { download, h, section, select, showError, showOk } from '../dom.js';
import { t } from '../i18n.js';

const KINDS = ['generation', 'distribution', 'destruction', 'compromise'];
let url = null; // the blob URL shown now
let shownSm3 = null; // the SM3 of the record shown now

function setUrl(u) {
	if (url)
		URL.revokeObjectURL(url);
	url = u;
}

async function fetchRecord(kind, id, format) {
	return get(`/api/records/${encodeURIComponent(kind)}/${id}?format=` +
	    format);
}

export async function render(view, ctx) {
	setUrl(null);
	view.append(h('h1', { text: t('rec.title') }));
	const roots = (await cached('/api/root-keys')).root_keys;
	const keySel = select('root_key', roots.map((k) => ({ value: k.id,
	    label: `#${k.id} ${k.template} ${k.alg} v${k.version} (${t('key.' +
		k.state, k.state)})` })), ctx.params.get('root_key') ?? '',
	t('rec.pick'));
	keySel.id = 'f-root_key';
	const kindSel = select('kind', KINDS.map((k) => ({ value: k,
	    label: t('rec.kind.' + k) })), ctx.params.get('kind') ?? KINDS[0]);
	kindSel.id = 'f-kind';
	const frame = h('iframe', { class: 'record', title: t('rec.title'),
	    sandbox: 'allow-same-origin allow-modals', 'data-t': 'record' });
	const show = h('button', { type: 'submit', class: 'primary',
	    'data-t': 'show', text: t('rec.open') });
	const print = h('button', { type: 'button', 'data-t': 'print',
	    text: t('rec.print'), disabled: true });
	const win = h('button', { type: 'button', 'data-t': 'window',
	    text: t('rec.window'), disabled: true });
	const md = h('button', { type: 'button', 'data-t': 'markdown',
	    text: t('rec.md') });
	// The supervisor's sign-off (the server refuses anyone else).
	const sign = h('button', { type: 'button', 'data-t': 'sign',
	    text: t('rec.sign'), disabled: true,
	    hidden: ctx.me.role !== 'supervisor' });
	const signoffs = h('p', { class: 'muted', 'data-t': 'signoffs' });
	const form = h('form', { class: 'filters' },
	    h('label', { for: 'f-root_key', text: t('keys.root_key') }), keySel,
	    h('label', { for: 'f-kind', text: t('rec.kind') }), kindSel,
	    show, print, win, md, sign);
	view.append(section(null, form), signoffs, frame);

	const load = async () => {
		if (!keySel.value)
			throw new Error(t('rec.pick'));
		const r = await fetchRecord(kindSel.value, keySel.value, 'html');
		setUrl(URL.createObjectURL(new Blob([r.document],
		    { type: 'text/html;charset=utf-8' })));
		const loaded = new Promise((res) => frame.addEventListener('load',
		    res, { once: true }));
		frame.src = url;
		await loaded;
		print.disabled = win.disabled = sign.disabled = false;
		shownSm3 = r.sm3; // a sign-off covers what is shown
		const so = r.sign_offs ?? [];
		signoffs.textContent = t('rec.signoffs', { n: so.length,
		    cur: so.filter((x) => x.current).length });
	};
	sign.addEventListener('click', async () => {
		try {
			const r = await post(`/api/records/${encodeURIComponent(
			    kindSel.value)}/${keySel.value}/sign`, { sm3: shownSm3 });
			await load();
			showOk(t('rec.signed', { sm3: r.sm3.slice(0, 16) }));
		} catch (e) {
			showError(e);
		}
	});
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		load().catch(showError);
	});
	print.addEventListener('click', () => frame.contentWindow.print());
	win.addEventListener('click', () => window.open(url, '_blank'));
	md.addEventListener('click', async () => {
		try {
			if (!keySel.value)
				throw new Error(t('rec.pick'));
			const r = await fetchRecord(kindSel.value, keySel.value, 'md');
			download(`${r.kind}-${r.root_key_id}.md`, r.document,
			    'text/markdown;charset=utf-8');
		} catch (e) {
			showError(e);
		}
	});
	if (keySel.value && ctx.params.get('kind'))
		await load().catch(showError);
}
