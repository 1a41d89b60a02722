'use strict';
// console.test.js - the web console (web/, docs/console.md) end to end in
// headless Chromium (Debian's /usr/bin/chromium driven by playwright-core,
// pinned in package-lock.json).
//
// tests/web/fixture.py starts a root HSM and the Guangzhou business HSM
// (sharing a TK) and tkms-kmsd serving the console. Through the API: the
// two bootstrap configurators create two key managers and a supervisor
// and add the two HSMs. Then in the browser:
//   - the language switch changes the UI text and is remembered;
//   - key manager kma logs in, sees the fleet (health, last NC) on the
//     dashboard, proposes root key generation (two templates, DES and
//     SM4) with the form, and is refused approving it: the server's 403
//     message is shown;
//   - kma logs out, kmb logs in, finds the proposal waiting for them on
//     the dashboard and approves it; the root keys and KCVs the Keys page
//     shows equal the API's answer and the generation's result;
//   - kmb proposes issuing them to the business HSM, kma approves; the
//     hierarchy picture shows root keys -> Guangzhou -> gz-business;
//   - every page of a key manager and of the supervisor opens without an
//     error, and the form of every kind of both proposing roles; a
//     request file the server refuses shows its 400 message;
//   - the generation record opens in a frame (blob URL) with the KCVs;
//   - the supervisor verifies the audit chain.
// Throughout: no request leaves 127.0.0.1:PORT (others are aborted and
// fail the test), no page error, no console error but the failed
// requests the server refused (a CSP violation would be one).
// Screenshots: $TKMS_BUILD/web-artifacts/*.png.
//
// Run: TKMS_BUILD=build/debug TKMS_SOURCE=. node tests/web/console.test.js

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

const BUILD = process.env.TKMS_BUILD;
const SOURCE = process.env.TKMS_SOURCE || path.resolve(__dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const STEP_MS = 120000; // one wait for the page (HSM work included)
const TEMPLATES = ['tac', 'load_01'];

if (!BUILD) {
	console.error('console.test.js: TKMS_BUILD is not set');
	process.exit(2);
}
// What scripts/setup.sh installs: say so rather than a stack trace.
if (!fs.existsSync(CHROMIUM)) {
	console.error(`console.test.js: no ${CHROMIUM}: apt-get install chromium`);
	process.exit(2);
}
let chromium;
try {
	({ chromium } = require('playwright-core'));
} catch {
	console.error('console.test.js: no playwright-core: npm ci --prefix ' +
	    'tests/web (scripts/setup.sh --deps-only)');
	process.exit(2);
}
const ART = path.resolve(BUILD, 'web-artifacts');

function log(...a) {
	console.log('[web]', ...a);
}

// --- the processes ----------------------------------------------------------

function startFixture() {
	const proc = spawn('/usr/bin/python3', [path.join(__dirname, 'fixture.py')],
	    { env: Object.assign({}, process.env, { TKMS_BUILD: BUILD,
		TKMS_SOURCE: SOURCE }), stdio: ['pipe', 'pipe', 'inherit'] });
	const exited = new Promise((res) => proc.on('exit', (code, sig) =>
		res(sig ? 128 : code)));
	const first = new Promise((res, rej) => {
		const rl = readline.createInterface({ input: proc.stdout });
		rl.once('line', (line) => res(JSON.parse(line)));
		exited.then((code) => rej(new Error('fixture.py exited ' + code)));
	});
	return { proc, exited, first };
}

// --- the API, as the CLI uses it --------------------------------------------

function client(base) {
	async function call(method, p, body, token) {
		const headers = {};
		if (token)
			headers.Authorization = 'Bearer ' + token;
		const r = await fetch(base + p, { method, headers,
		    body: body === undefined ? undefined : JSON.stringify(body) });
		return { status: r.status, data: await r.json() };
	}
	async function ok(method, p, body, token, want = 200) {
		const r = await call(method, p, body, token);
		assert.equal(r.status, want, `${method} ${p}: ` +
		    JSON.stringify(r.data));
		return r.data;
	}
	async function login(name, pw) {
		return (await ok('POST', '/api/login', { name, password: pw }))
		    .token;
	}
	// A proposal by a, approved by b: the executed proposal.
	async function dual(a, b, kind, payload) {
		const p = await ok('POST', '/api/proposals', { kind, payload }, a,
		    201);
		const r = await ok('POST', `/api/proposals/${p.id}/approve`,
		    undefined, b);
		assert.equal(r.state, 'executed', JSON.stringify(r));
		return r;
	}
	return { call, ok, login, dual };
}

// A key index as the HSM writes it: 776 -> K308.
function kIndex(n) {
	return 'K' + n.toString(16).toUpperCase().padStart(3, '0');
}

// --- the browser ------------------------------------------------------------

async function main() {
	const t0 = Date.now();
	fs.mkdirSync(ART, { recursive: true });
	for (const f of fs.readdirSync(ART))
		if (f.endsWith('.png'))
			fs.unlinkSync(path.join(ART, f));
	const fx = startFixture();
	let browser = null;
	let failed = false;
	try {
		const env = await fx.first;
		await run(env, (b) => {
			browser = b;
		});
	} catch (e) {
		failed = true;
		console.error(e && e.stack ? e.stack : e);
	} finally {
		if (browser)
			await browser.close().catch(() => {});
		fx.proc.stdin.end();
		const code = await fx.exited;
		if (code !== 0) {
			console.error('fixture.py (daemons) ended with ' + code);
			failed = true;
		}
	}
	log(`${failed ? 'FAILED' : 'passed'} in ${((Date.now() - t0) / 1000)
	    .toFixed(1)} s; screenshots in ${ART}`);
	process.exit(failed ? 1 : 0);
}

async function run(env, keepBrowser) {
	const base = env.url;
	const origin = new URL(base).origin;
	const api = client(base);
	const pw = Object.assign({}, env.pw, { kma: 'kma-password-1',
	    kmb: 'kmb-password-2', sup: 'sup-password-3' });

	// Users and HSMs through the API.
	const ca = await api.login('ca', pw.ca);
	const cb = await api.login('cb', pw.cb);
	for (const [name, role] of [['kma', 'key_manager'],
	    ['kmb', 'key_manager'], ['sup', 'supervisor']])
		await api.dual(ca, cb, 'user.create', { name, role,
		    password: pw[name] });
	const hsmId = {};
	for (const [name, role, city] of [['root', 'root', undefined],
	    ['gz-business', 'provincial_business', '5810']]) {
		const h = env.hsms[name];
		const r = await api.dual(ca, cb, 'hsm.add', { name, role, city,
		    host: '127.0.0.1', port: h.port, header_len: 8,
		    mgmt_host: '127.0.0.1', mgmt_port: h.mport });
		hsmId[name] = r.result.id;
		const c = await api.ok('POST', `/api/hsms/${r.result.id}/check`,
		    undefined, ca);
		assert.equal(c.ok, true, JSON.stringify(c));
	}
	log('users and HSMs ready');

	const browser = await chromium.launch({ executablePath: CHROMIUM,
	    args: ['--headless', '--no-sandbox',
		'--disable-background-networking'] });
	keepBrowser(browser);
	const context = await browser.newContext({
	    viewport: { width: 1280, height: 860 } });
	context.setDefaultTimeout(STEP_MS);

	// Nothing leaves the KMS's origin: anything else is aborted and
	// fails the test.
	const offsite = [];
	await context.route('**/*', (route) => {
		const u = route.request().url();
		if (u.startsWith(origin + '/'))
			return route.continue();
		offsite.push(u);
		return route.abort();
	});
	const requests = [];
	context.on('request', (r) => requests.push(r.url()));

	const page = await context.newPage();
	const consoleErrors = [];
	const pageErrors = [];
	page.on('console', (m) => {
		if (m.type() === 'error')
			consoleErrors.push({ text: m.text(), url: m.location().url });
	});
	page.on('pageerror', (e) => pageErrors.push(e.message));

	const shot = async (name) => page.screenshot({ path: path.join(ART,
	    name + '.png'), fullPage: true });
	const ready = (name) => page.waitForSelector(
	    `[data-page="${name}"][data-ready]`);
	const nav = async (name) => {
		await page.click(`#nav a[data-nav="${name}"]`);
		await ready(name);
	};
	const flash = async (kind, re) => {
		const loc = page.locator(`#flash [data-t="${kind}"]`)
		    .filter({ hasText: re });
		await loc.waitFor();
		return loc.textContent();
	};
	const login = async (name) => {
		await ready('login');
		await page.fill('#login-name', name);
		await page.fill('#login-password', pw[name]);
		await page.click('form[data-t=login] button[type=submit]');
		await ready('dashboard');
	};
	const logout = async () => {
		await page.click('#top button[data-t=logout]');
		await ready('login');
		assert.equal(await page.evaluate(() =>
			sessionStorage.getItem('tkms.token')), null);
	};

	// 1. The language switch, remembered across a reload.
	await page.goto(base + '/');
	await ready('login');
	const h1 = () => page.textContent('main h1');
	assert.equal(await h1(), '登录');
	await page.click('#top button[data-t=lang]');
	assert.equal(await h1(), 'Log in');
	assert.equal(await page.evaluate(() => localStorage.getItem('tkms.lang')),
	    'en');
	await page.reload();
	await ready('login');
	assert.equal(await h1(), 'Log in');
	assert.equal(await page.getAttribute('html', 'lang'), 'en');

	// 2. kma: the dashboard's fleet.
	await login('kma');
	assert.equal(await page.evaluate(() => document.cookie), '');
	const fleet = page.locator('table[data-t=fleet] tbody tr');
	assert.equal(await fleet.count(), 2);
	for (const name of ['root', 'gz-business']) {
		const row = page.locator(`table[data-t=fleet] tr[data-name="${name}"]`);
		assert.equal(await row.locator('[data-state=ok]').first()
		    .textContent(), 'ok');
		assert.match(await row.textContent(), /\d{4}-\d\d-\d\d \d\d:\d\d/);
	}
	const navText = () => page.textContent('#nav a[data-nav=proposals]');
	assert.equal(await navText(), 'Proposals');
	await page.click('#top button[data-t=lang]');
	await ready('dashboard');
	assert.equal(await navText(), '提案审批');
	assert.equal(await h1(), '概览');
	await page.click('#top button[data-t=lang]');
	await ready('dashboard');
	assert.equal(await navText(), 'Proposals');
	await shot('01-dashboard');

	// 3. kma proposes key.generate with the form.
	await nav('propose');
	await page.selectOption('#f-kindpick', 'key.generate');
	await page.waitForSelector('form[data-kind="key.generate"]');
	assert.equal(await page.inputValue('#f-hsm'), String(hsmId.root));
	for (const tpl of TEMPLATES)
		await page.check(`#f-templates input[value="${tpl}"]`);
	await page.click('form[data-t=propose] button[type=submit]');
	const created = await flash('ok', /Proposal #\d+/);
	const genId = Number(/#(\d+)/.exec(created)[1]);
	await ready('proposals');
	const genRow = page.locator(`table[data-t=proposals] tr[data-id="${genId}"]`);
	assert.match(await genRow.textContent(), /key\.generate.*kma/s);
	await shot('02-proposed');

	// 4. kma may not approve it: the server's 403 and its message.
	const [refusal] = await Promise.all([
		page.waitForResponse((r) => r.url().endsWith(
		    `/api/proposals/${genId}/approve`)),
		genRow.locator('button[data-t=approve]').click(),
	]);
	assert.equal(refusal.status(), 403);
	const refusedMsg = (await refusal.json()).message;
	assert.match(refusedMsg, /another user of your role must approve/);
	const shown = await flash('error', refusedMsg);
	assert.ok(shown.startsWith('403 forbidden: '), shown);
	// The failed requests the page may log (url -> status).
	const allowedErrors = new Map([[refusal.url(), 403]]);
	await shot('03-self-approval-refused');

	// 5. kmb approves it from the dashboard.
	await logout();
	await login('kmb');
	const mine = page.locator(`table[data-t=mine] tr[data-id="${genId}"]`);
	assert.match(await mine.textContent(), /kma/);
	await mine.locator('button[data-t=approve]').click();
	await flash('ok', `Proposal #${genId}: executed`);
	await shot('04-approved');

	// 6. The root keys and KCVs on the Keys page equal the API's.
	const kmb = await api.login('kmb', pw.kmb);
	const gen = await api.ok('GET', `/api/proposals/${genId}`, undefined, kmb);
	const fromApi = (await api.ok('GET', '/api/root-keys', undefined, kmb))
	    .root_keys.map((k) => `${k.id} ${k.template} ${k.alg} ${k.kcv}`)
	    .sort();
	assert.equal(fromApi.length, TEMPLATES.length * 2);
	assert.deepEqual(gen.result.keys.map((k) =>
		`${k.root_key_id} ${k.template} ${k.alg} ${k.kcv}`).sort(), fromApi);
	await nav('keys');
	const shownKeys = await page.$$eval('table[data-t=root-keys] tbody tr',
	    (rows) => rows.map((r) => `${r.dataset.id} ${r.dataset.template} ` +
		`${r.dataset.alg} ${r.querySelector('[data-t=kcv]').textContent}`));
	assert.deepEqual(shownKeys.sort(), fromApi);
	await shot('05-keys');

	// 7. kmb proposes issuing them to gz-business; kma approves.
	await nav('propose');
	await page.selectOption('#f-kindpick', 'key.issue');
	await page.waitForSelector('form[data-kind="key.issue"]');
	assert.equal(await page.inputValue('#f-hsm'), String(hsmId['gz-business']));
	for (const tpl of TEMPLATES)
		await page.check(`#f-templates input[value="${tpl}"]`);
	await page.click('form[data-t=propose] button[type=submit]');
	const issueId = Number(/#(\d+)/.exec(await flash('ok', /Proposal #\d+/))[1]);
	await logout();
	await login('kma');
	await page.locator(`table[data-t=mine] tr[data-id="${issueId}"] ` +
	    'button[data-t=approve]').click();
	await flash('ok', `Proposal #${issueId}: executed`);

	// 8. The hierarchy: 4 root keys -> Guangzhou -> gz-business.
	await nav('hierarchy');
	const pic = page.locator('svg[data-t=hierarchy]');
	const count = (sel) => pic.locator(sel).count();
	assert.equal(await count('g[data-kind=root]'), TEMPLATES.length * 2);
	assert.equal(await count('g[data-kind=city]'), 1);
	assert.match(await pic.locator('g[data-kind=city]').textContent(), /5810/);
	assert.equal(await count('g[data-kind=hsm]'), 1);
	assert.match(await pic.locator('g[data-kind=hsm]').textContent(),
	    /gz-business/);
	assert.equal(await count('path[data-kind=root-city][data-state=active]'),
	    TEMPLATES.length * 2);
	assert.equal(await pic.locator('path[data-kind=city-hsm]')
	    .getAttribute('data-count'), String(TEMPLATES.length * 2));
	const issued = (await api.ok('GET', '/api/issued-keys', undefined, kmb))
	    .issued_keys;
	assert.equal(issued.length, TEMPLATES.length * 2);
	await shot('06-hierarchy');
	await pic.locator('g[data-kind=root]').first().click();
	assert.equal(await count('g[data-kind=root]'), 1);
	assert.equal(await count('path[data-kind=root-city]'), 1);

	// 9. The other pages of a key manager: no error on any; an HSM checked
	// now; a root key's events; the form of every kind; a request file
	// the server refuses (its 400 message shown).
	const noError = async (name) => assert.equal(await page.locator(
	    '#flash [data-t=error]').count(), 0, 'error shown on ' + name);
	const everyForm = async (who) => {
		await nav('propose');
		const kinds = await page.$$eval('#f-kindpick option', (os) =>
			os.map((o) => o.value));
		assert.ok(kinds.length >= 5, who + ': ' + kinds);
		for (const kind of kinds) {
			await page.goto(`${base}/#/propose?kind=${kind}`);
			await page.waitForSelector(`form[data-kind="${kind}"]`);
			await noError(`${who}: ${kind}`);
		}
		return kinds;
	};
	await nav('hsms');
	assert.equal(await page.locator('table[data-t=hsms] tbody tr').count(), 2);
	await page.click('table[data-t=hsms] tr[data-name=root] ' +
	    'button[data-t=check]');
	await flash('ok', /^root: ok, \d+ ms$/);
	await nav('templates');
	assert.equal(await page.locator('table[data-t=templates] tbody tr')
	    .count(), 23);
	assert.equal(await page.textContent('table[data-t=templates] ' +
	    'tr[data-name=tac] td:nth-child(6)'), kIndex(gen.result.keys.find(
	    (k) => k.template === 'tac' && k.alg === 'DES').idx));
	await noError('templates');
	await nav('institutions');
	assert.equal(await page.locator('table[data-t=institutions] tbody tr')
	    .count(), 23);
	await noError('institutions');
	const first = gen.result.keys[0];
	await page.goto(`${base}/#/keys?id=${first.root_key_id}`);
	await ready('keys');
	const events = await page.locator('table[data-t=events] tbody')
	    .textContent();
	assert.match(events, /generated.*kma\+kmb/s);
	assert.match(events, /issued/);
	await noError('root key');
	await everyForm('kma');
	await nav('maint');
	await page.setInputFiles('#f-request', { name: 'request.txt',
	    mimeType: 'text/plain', buffer: Buffer.from('not a request\n') });
	const [bad] = await Promise.all([
		page.waitForResponse((r) => r.url().endsWith('/api/maint') &&
		    r.request().method() === 'POST'),
		page.click('form[data-t=import] button[type=submit]'),
	]);
	assert.equal(bad.status(), 400);
	await flash('error', '400 bad_request: ' + (await bad.json()).message);
	allowedErrors.set(bad.url(), 400);

	// 10. The generation record of the first key, in a frame.
	await page.goto(`${base}/#/records?root_key=${first.root_key_id}` +
	    '&kind=generation');
	await ready('records');
	const doc = page.frameLocator('iframe[data-t=record]');
	await doc.locator('body').filter({ hasText: first.kcv }).waitFor();
	assert.ok(await page.isEnabled('button[data-t=print]'));
	await shot('07-record');

	// 11. The supervisor: every page of the navigation; the audit chain
	// verified.
	await logout();
	await login('sup');
	const pages = await page.$$eval('#nav a', (as) => as.map((a) =>
		a.dataset.nav));
	assert.ok(pages.includes('users') && !pages.includes('propose'), pages);
	for (const name of pages) {
		await nav(name);
		await noError(name);
	}
	assert.ok(await page.locator('table[data-t=users] tbody tr').count() >= 5);
	// The supervisor signs the generation record off; it then counts one
	// sign-off of its current text, and the document shows it.
	await page.goto(`${base}/#/records?root_key=${first.root_key_id}` +
	    '&kind=generation');
	await ready('records');
	await page.locator('iframe[data-t=record]').waitFor();
	await page.waitForFunction(() =>
		!document.querySelector('button[data-t=sign]').disabled);
	await page.click('button[data-t=sign]');
	await flash('ok', /Signed off: SM3 [0-9A-F]{16}/);
	await page.locator('p[data-t=signoffs]', { hasText:
	    '1 sign-off(s), 1 of the current text' }).waitFor();
	await page.frameLocator('iframe[data-t=record]').locator('body')
	    .filter({ hasText: '电子签核 SM3' }).waitFor();
	await nav('audit');
	assert.ok(await page.locator('table[data-t=audit] tbody tr').count() > 10);
	await page.click('button[data-t=verify]');
	await flash('ok', /The chain is intact: \d+ records/);
	await shot('08-audit');
	await logout();

	// 12. A configurator's forms.
	await login('ca');
	assert.ok((await everyForm('ca')).includes('hsm.add'));
	await logout();

	// Throughout.
	assert.deepEqual(offsite, [], 'requests that left the KMS');
	for (const u of requests)
		assert.ok(u.startsWith(origin + '/') || u.startsWith('blob:' +
		    origin + '/'), 'request to ' + u);
	assert.deepEqual(pageErrors, [], 'page errors');
	const unexpected = consoleErrors.filter((e) => !(allowedErrors.has(e.url) &&
	    e.text.includes(`status of ${allowedErrors.get(e.url)} `)));
	assert.deepEqual(unexpected, [], 'console errors');
	log(`${requests.length} requests, all to ${origin}`);
}

main();
