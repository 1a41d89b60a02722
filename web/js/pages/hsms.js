// hsms.js - the HSMs the KMS drives: endpoints, serial, DK KCV, health
// (NC now with "check"), and the proposals that change them.
import { get } from '../api.js';
import { badge, code, fmtTime, h, section, table } from '../dom.js';
import { t } from '../i18n.js';
import { authorised, checkButton, seal } from './dashboard.js';

function endpoint(host, port) {
	return host ? code(`${host}:${port}`) : null;
}

function actions(x, ctx) {
	const a = h('div', { class: 'actions' }, checkButton(x, ctx));
	if (ctx.me.role === 'configurator')
		a.append(h('a', { href: '#/propose?kind=hsm.update&id=' + x.id,
		    text: t('hsm.change') }));
	if (ctx.me.role === 'key_manager' && x.role !== 'root')
		a.append(h('a', { href: '#/propose?kind=key.issue&hsm=' + x.id,
		    text: t('hsm.issue') }));
	return a;
}

export async function render(view, ctx) {
	view.append(h('h1', { text: t('nav.hsms') }));
	if (ctx.me.role === 'configurator')
		view.append(h('div', { class: 'filters' }, h('a', {
		    href: '#/propose?kind=hsm.add', text: t('hsm.add') })));
	const r = await get('/api/hsms');
	view.append(section(null, table([
		{ label: t('id'), get: (x) => String(x.id), num: true },
		{ label: t('name'), get: (x) => x.name },
		{ label: t('hsm.role'), get: (x) => t('hsmrole.' + x.role, x.role) },
		{ label: t('city'), get: (x) => x.city ? `${x.city} ${x.city_code}` :
		    null },
		{ label: t('hsm.endpoint'), get: (x) => endpoint(x.host, x.port) },
		{ label: t('hsm.header_len'), get: (x) => String(x.header_len),
		    num: true },
		{ label: t('hsm.mgmt'), get: (x) => endpoint(x.mgmt_host,
		    x.mgmt_port) },
		{ label: t('hsm.serial'), get: (x) => code(x.serial) },
		{ label: t('hsm.dk_kcv'), get: (x) => code(x.dk_kcv) },
		{ label: t('hsm.health'), get: (x) => badge(x.health, 'health') },
		{ label: t('hsm.seal'), get: seal },
		{ label: t('hsm.authorised'), get: authorised },
		{ label: t('hsm.last_nc'), get: (x) => fmtTime(x.last_nc) },
		{ label: t('state'), get: (x) => badge(x.state, 'hsmstate') },
		{ label: t('actions'), get: (x) => actions(x, ctx) },
	], r.hsms, { name: 'hsms', rowAttrs: (x) => ({ 'data-id': x.id,
	    'data-name': x.name }) })));
}
