// api.js - the console's only way to the server: the same HTTP/JSON API as
// `tkms kms` (docs/api.md), same origin, the session token as a bearer
// token kept in sessionStorage (gone with the tab; never a cookie).

const TOKEN = 'tkms.token';
const USER = 'tkms.user';

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

export const session = {
	get token() {
		return sessionStorage.getItem(TOKEN);
	},
	get user() {
		try {
			return JSON.parse(sessionStorage.getItem(USER) || 'null');
		} catch {
			return null;
		}
	},
	set(token, user) {
		sessionStorage.setItem(TOKEN, token);
		sessionStorage.setItem(USER, JSON.stringify(user));
	},
	clear() {
		sessionStorage.removeItem(TOKEN);
		sessionStorage.removeItem(USER);
	},
};

// Called when the server says the session is over (401 on a request that
// carried a token): the app shows the login page.
let onExpired = () => {};
export function setOnExpired(fn) {
	onExpired = fn;
}

export async function api(method, path, body) {
	const headers = { Accept: 'application/json' };
	const token = session.token;
	if (token)
		headers.Authorization = 'Bearer ' + token;
	const init = { method, headers, cache: 'no-store', credentials: 'omit',
	    redirect: 'error' };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let r;
	try {
		r = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, 'network', 'the KMS does not answer: ' +
		    e.message);
	}
	let data = null;
	try {
		data = await r.json();
	} catch {
		data = null;
	}
	if (!r.ok) {
		const err = new ApiError(r.status, data && data.error,
		    data && data.message ? data.message : r.statusText);
		if (r.status === 401 && token) {
			session.clear();
			onExpired(err);
		}
		throw err;
	}
	return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);

// "?a=1&b=x" of the non-empty entries of obj.
export function query(obj) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(obj))
		if (v !== undefined && v !== null && v !== '')
			q.set(k, String(v));
	const s = q.toString();
	return s ? '?' + s : '';
}

// The lists a page's forms choose from, fetched once per page (app.js
// drops them whenever a page is drawn).
const cache = new Map();
export async function cached(path) {
	if (!cache.has(path))
		cache.set(path, get(path).catch((e) => {
			cache.delete(path);
			throw e;
		}));
	return cache.get(path);
}
export function dropCache() {
	cache.clear();
}
