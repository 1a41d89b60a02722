// dom.js - building the page. Everything the server sends reaches the DOM
// as text (textContent, text nodes, attribute values), never as markup:
// there is no innerHTML in the console.
import { t, lang } from './i18n.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
	let value;
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k === 'class')
			el.setAttribute('class', v);
		else if (k === 'text')
			el.textContent = v;
		else if (k === 'value')
			value = v; // after the children (a select's options)
		else if (k === 'checked' || k === 'disabled' || k === 'selected')
			el[k] = true;
		else if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2), v);
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat(Infinity)) {
		if (c === undefined || c === null || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	if (value !== undefined)
		el.value = String(value);
	return el;
}

// h('td', {class: 'num', text: n}) or h('p', {}, 'text', child, ...)
export function h(tag, attrs, ...children) {
	return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
	return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

// A table: cols [{label, get(row) -> Node | string | number, num}].
export function table(cols, rows, opts = {}) {
	const head = h('tr', {}, cols.map((c) => h('th', { text: c.label })));
	const body = h('tbody');
	for (const row of rows) {
		const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(row) : {});
		for (const c of cols) {
			const v = c.get(row);
			tr.append(h('td', { class: c.num ? 'num' : null },
			    v === null || v === undefined ? '—' : v));
		}
		body.append(tr);
	}
	if (rows.length === 0)
		body.append(h('tr', {}, h('td', { colspan: cols.length,
		    class: 'muted', text: opts.empty || t('none') })));
	return h('table', { 'data-t': opts.name }, h('thead', {}, head), body);
}

// A coloured state word: the class is the raw state, the text translated.
export function badge(state, group) {
	if (state === null || state === undefined)
		return h('span', { class: 'muted', text: '—' });
	return h('span', { class: 'badge ' + state, 'data-state': state,
	    text: t(group + '.' + state, state) });
}

const pad = (n) => String(n).padStart(2, '0');

// Unix seconds as local "YYYY-MM-DD HH:MM:SS".
export function fmtTime(s) {
	if (s === null || s === undefined || s === 0)
		return null;
	const d = new Date(s * 1000);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
	    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Compact JSON of a server object, as text.
export function jsonText(v, indent) {
	return JSON.stringify(v, null, indent ? 2 : 0);
}

export function pre(v) {
	return h('pre', { class: 'mono', text: typeof v === 'string' ? v :
	    jsonText(v, true) });
}

export function code(v) {
	return h('code', { text: v === null || v === undefined ? '—' : String(v) });
}

// The message area under the navigation (#flash).
const flashBox = () => document.getElementById('flash');

// An error from the API (ApiError) or anything else, shown as the server
// worded it: "403 forbidden: you proposed this: ...".
export function showError(err) {
	const box = flashBox();
	const text = err && err.status ?
	    `${err.status} ${err.code || ''}: ${err.message}` :
	    String(err && err.message ? err.message : err);
	box.replaceChildren(h('div', { class: 'msg error', 'data-t': 'error',
	    text }));
	box.scrollIntoView({ block: 'nearest' });
}

export function showOk(text, kind = 'ok') {
	flashBox().replaceChildren(h('div', { class: 'msg ' + kind,
	    'data-t': kind, text }));
}

export function clearFlash() {
	flashBox().replaceChildren();
}

// Text offered as a file download (a blob URL, revoked after the click).
export function download(name, text, type = 'text/plain;charset=utf-8') {
	const url = URL.createObjectURL(new Blob([text], { type }));
	const a = h('a', { href: url, download: name });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// A button whose async action disables it while running and reports
// failures in the message area.
export function actionButton(label, fn, attrs = {}) {
	const b = h('button', Object.assign({ type: 'button', text: label },
	    attrs));
	b.addEventListener('click', async () => {
		b.disabled = true;
		try {
			await fn(b);
		} catch (e) {
			showError(e);
		} finally {
			b.disabled = false;
		}
	});
	return b;
}

// A <select> of [{value, label}] with an optional empty first entry.
export function select(name, options, value, emptyLabel) {
	const s = h('select', { name });
	if (emptyLabel !== undefined)
		s.append(h('option', { value: '', text: emptyLabel }));
	for (const o of options)
		s.append(h('option', { value: o.value, text: o.label }));
	if (value !== undefined && value !== null)
		s.value = String(value);
	return s;
}

// A key index as the HSM writes it: 776 -> "K308".
export function kindex(n) {
	return typeof n === 'number' ? 'K' + n.toString(16).toUpperCase()
	    .padStart(3, '0') : n;
}

export function section(title, ...children) {
	return h('section', { class: 'panel' }, title ? h('h2', { text: title }) :
	    null, children);
}

// Compare for sorting with the UI language's collation.
export function collate(a, b) {
	return String(a).localeCompare(String(b), lang() === 'en' ? 'en' :
	    'zh-CN');
}
