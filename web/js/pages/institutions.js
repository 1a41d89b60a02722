// institutions.js - the authority, the operator and the 21 cities of
// appendix 1; configurators propose changes (institution.update).
import { get } from '../api.js';
import { code, h, section, table } from '../dom.js';
import { t } from '../i18n.js';

export async function render(view, ctx) {
	view.append(h('h1', { text: t('inst.title') }));
	const r = await get('/api/institutions');
	const cols = [
		{ label: t('inst.kind'), get: (i) => t('inst.' + i.kind, i.kind) },
		{ label: t('name'), get: (i) => i.name },
		{ label: t('inst.name_en'), get: (i) => i.name_en },
		{ label: t('inst.city_code'), get: (i) => code(i.city_code) },
		{ label: t('inst.iin'), get: (i) => code(i.iin) },
		{ label: t('inst.cert_record'), get: (i) => code(i.cert_record) },
		{ label: t('inst.issuer_code'), get: (i) => code(i.issuer_code) },
	];
	if (ctx.me.role === 'configurator')
		cols.push({ label: t('actions'), get: (i) => h('a', {
		    href: '#/propose?kind=institution.update&id=' + i.id,
		    text: t('inst.change') }) });
	view.append(section(null, table(cols, r.institutions, {
	    name: 'institutions', rowAttrs: (i) => ({ 'data-id': i.id }) })));
}
