// users.js - the users and their roles (configurators, supervisors and
// auditors may read them); configurators propose user.create and
// user.disable.
import { get } from '../api.js';
import { badge, fmtTime, h, section, table } from '../dom.js';
import { t } from '../i18n.js';

export async function render(view, ctx) {
	view.append(h('h1', { text: t('users.title') }));
	const conf = ctx.me.role === 'configurator';
	if (conf)
		view.append(h('div', { class: 'filters' }, h('a', {
		    href: '#/propose?kind=user.create', text: t('users.new') })));
	const r = await get('/api/users');
	const cols = [
		{ label: t('id'), get: (u) => String(u.id), num: true },
		{ label: t('name'), get: (u) => u.name },
		{ label: t('role'), get: (u) => t('role.' + u.role, u.role) },
		{ label: t('state'), get: (u) => badge(u.state, 'user') },
		{ label: t('users.failures'), get: (u) => String(u.failures),
		    num: true },
		{ label: t('users.locked'), get: (u) => u.locked ? t('yes') :
		    t('no') },
		{ label: t('created'), get: (u) => fmtTime(u.created) },
	];
	if (conf)
		cols.push({ label: t('actions'), get: (u) => u.state === 'active' ?
		    h('a', { href: '#/propose?kind=user.disable&name=' +
			encodeURIComponent(u.name), text: t('users.disable') }) :
		    null });
	view.append(section(null, table(cols, r.users, { name: 'users',
	    rowAttrs: (u) => ({ 'data-name': u.name }) })));
}
