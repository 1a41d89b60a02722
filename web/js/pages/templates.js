// templates.js - the 23 card key types of appendix 2; key managers
// propose changes (template.update).
import { get } from '../api.js';
import { code, h, kindex, section, table } from '../dom.js';
import { t } from '../i18n.js';

export async function render(view, ctx) {
	view.append(h('h1', { text: t('nav.templates') }));
	const r = await get('/api/templates');
	const cols = [
		{ label: t('tpl.seq'), get: (x) => String(x.seq), num: true },
		{ label: t('tpl.name'), get: (x) => h('code', { text: x.name,
		    title: x.description }) },
		{ label: t('tpl.name_zh'), get: (x) => x.name_zh },
		{ label: t('tpl.category'), get: (x) => x.category },
		{ label: t('tpl.type_code'), get: (x) => code(x.type_code) },
		{ label: t('tpl.des_index'), get: (x) => code(kindex(x.des_index)) },
		{ label: t('tpl.sm4_index'), get: (x) => code(kindex(x.sm4_index)) },
		{ label: t('tpl.factor_rule'), get: (x) => code(x.factor_rule) },
		{ label: t('tpl.clearing'), get: (x) => x.clearing ? t('yes') :
		    t('no') },
	];
	if (ctx.me.role === 'key_manager')
		cols.push({ label: t('actions'), get: (x) => h('a', {
		    href: '#/propose?kind=template.update&name=' +
			encodeURIComponent(x.name), text: t('tpl.change') }) });
	view.append(section(null, table(cols, r.templates, { name: 'templates',
	    rowAttrs: (x) => ({ 'data-name': x.name }) })));
}
