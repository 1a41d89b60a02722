// proposals.js - dual control: the proposals, who proposed each and who
// may decide it, approve / reject / withdraw. The buttons are offered to
// the users of the proposal's role; the server decides (a self-approval
// is refused with 403 and its message is shown).
import { get, post, query } from '../api.js';
import { badge, code, fmtTime, h, jsonText, pre, section, select,
	showError, showOk, table } from '../dom.js';
import { t } from '../i18n.js';

const STATES = ['open', 'executed', 'approved', 'failed', 'rejected',
	'withdrawn', 'expired'];
const POLL_MS = 1000;
const POLL_MAX = 900; // 15 minutes of an executing proposal

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Approval of a kind that drives HSMs may answer "approved" (execution
// under way): follow it until it ends.
async function settle(p) {
	for (let i = 0; p.state === 'approved' && i < POLL_MAX; i++) {
		showOk(t('prop.running', { id: p.id }), 'info');
		await sleep(POLL_MS);
		p = await get('/api/proposals/' + p.id);
	}
	return p;
}

function report(p) {
	const text = t('prop.done', { id: p.id, state: t('prop.' + p.state,
	    p.state) });
	if (p.state === 'failed') {
		const why = p.result && p.result.error ? p.result.error : '';
		showError(new Error(why ? `${text}: ${why}` : text));
		return false;
	}
	showOk(text);
	return true;
}

function summary(payload) {
	const s = jsonText(payload || {});
	return s.length > 120 ? s.slice(0, 117) + '…' : s;
}

// The root keys a key.generate made, with their KCVs.
function generated(result) {
	if (!result || !Array.isArray(result.keys) || result.keys.length === 0 ||
	    typeof result.keys[0] !== 'object')
		return null;
	return table([
		{ label: t('keys.template'), get: (k) => k.template },
		{ label: t('keys.alg'), get: (k) => k.alg },
		{ label: t('keys.version'), get: (k) => k.version, num: true },
		{ label: t('keys.kcv'), get: (k) => code(k.kcv) },
		{ label: t('prop.existed'), get: (k) => k.existed ? t('yes') :
		    t('no') },
	], result.keys, { name: 'generated' });
}

function details(p) {
	const d = h('details', {}, h('summary', { text: t('details') }),
	    h('div', { class: 'muted', text: t('prop.payload') }), pre(p.payload));
	if (p.result !== null && p.result !== undefined) {
		d.append(h('div', { class: 'muted', text: t('prop.result') }));
		const keys = p.kind === 'key.generate' ? generated(p.result) : null;
		if (keys)
			d.append(keys);
		d.append(pre(p.result));
	}
	return d;
}

function decide(p, ctx, done) {
	const me = ctx.me;
	if (p.state !== 'open' || p.role !== me.role)
		return null;
	const own = p.proposer === me.name;
	const reason = h('input', { name: 'reason', maxlength: 500, size: 14,
	    placeholder: t('prop.reason') });
	const run = async (b, path, body) => {
		b.disabled = true;
		try {
			let r = await post(`/api/proposals/${p.id}/${path}`, body);
			r = await settle(r);
			done(r);
		} catch (e) {
			showError(e);
		} finally {
			b.disabled = false;
		}
	};
	const approve = h('button', { type: 'button', class: 'primary',
	    'data-t': 'approve', title: own ? t('prop.own') : null,
	    text: t('prop.approve') });
	approve.addEventListener('click', () => run(approve, 'approve'));
	const reject = h('button', { type: 'button', class: 'danger',
	    'data-t': 'reject', text: own ? t('prop.withdraw') : t('prop.reject') });
	reject.addEventListener('click', () => run(reject, 'reject',
	    reason.value ? { reason: reason.value } : undefined));
	return h('div', { class: 'actions' }, approve, reason, reject);
}

function mayApprove(p) {
	if (p.state !== 'open')
		return p.approver || null;
	return t('prop.may.text', { role: t('role.' + p.role, p.role),
	    who: p.proposer });
}

// The table of proposals; done(P) after a decision (the caller reloads).
export function proposalTable(list, ctx, done, name = 'proposals') {
	return table([
		{ label: '#', get: (p) => String(p.id), num: true },
		{ label: t('prop.kind'), get: (p) => h('span', {},
		    h('div', { text: t('kind.' + p.kind, p.kind) }),
		    h('code', { class: 'muted', text: p.kind })) },
		// An open proposal shows all of its payload: an approver
		// approves what they read, never a summary of it.
		{ label: t('prop.payload'), get: (p) => p.state === 'open' ?
		    pre(p.payload) :
		    h('div', {}, code(summary(p.payload)), details(p)) },
		{ label: t('prop.proposer'), get: (p) => p.proposer },
		{ label: t('prop.may'), get: mayApprove },
		{ label: t('state'), get: (p) => h('div', {},
		    badge(p.state, 'prop'),
		    p.state === 'failed' && p.result && p.result.error ?
			h('div', { class: 'muted', text: p.result.error }) : null) },
		{ label: t('created'), get: (p) => fmtTime(p.created) },
		{ label: t('prop.expires'), get: (p) => p.state === 'open' ?
		    fmtTime(p.expires) : fmtTime(p.decided) },
		{ label: t('actions'), get: (p) => decide(p, ctx, done) },
	], list, { name, rowAttrs: (p) => ({ 'data-id': p.id,
	    'data-kind': p.kind, 'data-state': p.state }) });
}

// After a decision: report it and draw the page again (keeping the
// message).
export function afterDecision(ctx) {
	return async (p) => {
		const ok = report(p);
		const keep = document.getElementById('flash').firstChild;
		await ctx.reload();
		if (keep)
			document.getElementById('flash').replaceChildren(keep);
		return ok;
	};
}

export async function render(view, ctx) {
	const state = ctx.params.get('state') ?? 'open';
	const filter = select('state', STATES.map((s) => ({ value: s,
	    label: t('prop.' + s) })), state, t('all'));
	filter.addEventListener('change', () =>
		ctx.go('#/proposals' + query({ state: filter.value || 'all' })));
	const bar = h('div', { class: 'filters' },
	    h('label', {}, t('state') + ' ', filter));
	if (['configurator', 'key_manager'].includes(ctx.me.role))
		bar.append(h('a', { href: '#/propose', text: t('prop.new') }));
	view.append(h('h1', { text: t('prop.title') }), bar);
	const r = await get('/api/proposals' + query({
	    state: state === 'all' ? '' : state }));
	view.append(section(null, proposalTable(r.proposals, ctx,
	    afterDecision(ctx))));
}
