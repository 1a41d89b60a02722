/*
 * test_zeroise.c - DK retirement (worker.c: hazard slots, generations,
 * kicks) and the zeroise operation (ops_zeroise.c, docs/zeroise.md).
 *
 * The retirement tests need nothing but the workers and the key store.
 * The zeroise tests run a whole life through the management core
 * (hsm_mgmt_handle): enrolment, a real card login of A1-A3, the DK
 * ceremony, keys stored and used (the asymmetric cache filled), zeroise,
 * and a second initialisation with another DK in the same process.
 */
#include "hsmtest.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "admin.h"
#include "audit.h"
#include "ident.h"
#include "keystore.h"
#include "mgmt.h"
#include "ops.h"
#include "seal.h"
#include "tkm/crypto.h"
#include "tkm/sm2.h"

#define K2       "0123456789ABCDEFFEDCBA9876543210"
#define K2KCV    "08D7B4FB629D0885"
#define PASSWORD "correct horse 1"
#define MSG      "message digest"
/* EW, SM2 with SM3, default ID, MSG, the key at index 01. */
#define EW01 "EW200700000014" MSG ";01"

/* Another DK than hsmtest.h's, for the second initialisation. */
static const char *const dk1[HSM_DK_PARTS] = {
    HSMTEST_DK_C1, HSMTEST_DK_C2, HSMTEST_DK_C3};
static const char *const dk2[HSM_DK_PARTS] = {
    "00112233445566778899AABBCCDDEEFF", "FFEEDDCCBBAA99887766554433221100",
    "0F1E2D3C4B5A69788796A5B4C3D2E1F0"};

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static struct hsm_dk *
dk_of(const char *const hex[HSM_DK_PARTS])
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *dk = NULL;
	size_t i;

	for (i = 0; i < HSM_DK_PARTS; i++)
		assert_int_equal(
		    hsmtest_unhex(hex[i], c[i], HSM_DK_LEN), HSM_DK_LEN);
	assert_int_equal(hsm_dk_new(c, &dk), TKM_OK);
	return dk;
}

static void
put(struct hsmtest *t, unsigned index, const char *keyhex)
{
	struct hsm_cmd_ctx c = hsmtest_ctx(t);
	struct hsm_key key;

	/* A DK command opens the worker's store (after an unseal, the
	 * dispatcher does it at the first one). */
	assert_memory_equal(hsmtest_cmd(t, "BU008KFFF", NULL), "BV12", 4);
	memset(&key, 0, sizeof(key));
	key.alg = TKM_DES;
	key.len = hsmtest_unhex(keyhex, key.k, sizeof(key.k));
	memcpy(key.type, "008", HSM_TYPE_LEN + 1);
	assert_int_equal(hsm_key_store(&c, &key, index, "test"), TKM_OK);
}

static void
expect(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* EI for an SM2 key pair at index 01: its public key. */
static struct tkm_sm2 *
ei01(struct hsmtest *t)
{
	struct tkm_sm2 *k = NULL;
	const char *r;
	size_t n;

	r = hsmtest_cmd(t, "EIS00256;01", &n);
	if (memcmp(r, "EJ00", 4) != 0)
		fail_msg("EI: got %.4s", r);
	assert_true(n > 4 + TKM_SM2_PUB_LEN);
	assert_int_equal(tkm_sm2_from_pub((const uint8_t *)r + 4, &k), TKM_OK);
	return k;
}

/* EW with the key at index 01: TKM_OK if the signature verifies under
 * pub. */
static int
ew01_verifies(struct hsmtest *t, struct tkm_sm2 *pub)
{
	const char *r;
	size_t n;

	r = hsmtest_cmd(t, EW01, &n);
	if (memcmp(r, "EX00", 4) != 0)
		fail_msg("EW: got %.4s", r);
	assert_int_equal(n, 8 + TKM_SM2_SIG_LEN);
	assert_memory_equal(r + 4, "0064", 4);
	return tkm_sm2_verify(
	    pub, NULL, 0, MSG, strlen(MSG), (const uint8_t *)r + 8);
}

static int
exists(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0;
}

/* --- retirement ----------------------------------------------------------
 */

struct holder {
	struct hsm_worker *w;
	atomic_int entered, left;
	uint8_t kcv[8];
};

/* A command that holds DK for a while. */
static void *
hold(void *arg)
{
	struct holder *h = arg;
	struct hsm_dk *dk = hsm_worker_enter(h->w);

	atomic_store(&h->entered, 1);
	sleep_ms(200);
	hsm_dk_kcv(dk, h->kcv); /* freed already? ASan would say */
	atomic_store(&h->left, 1);
	hsm_worker_leave(h->w);
	return NULL;
}

static void
test_retire_waits_for_commands(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	struct holder h;
	struct hsm_worker w2;
	struct hsm_dk *dk = atomic_load(&t->st.dk), *old = NULL;
	unsigned long gen = atomic_load(&t->st.dk_gen);
	uint8_t kcv[8];
	pthread_t th;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(hsm_worker_init(&w2, &t->st), TKM_OK);
	h.w = &w2;
	assert_int_equal(pthread_create(&th, NULL, hold, &h), 0);
	while (!atomic_load(&h.entered))
		sleep_ms(1);
	assert_int_equal(hsm_dk_retire(&t->st, &old), TKM_OK);
	/* Not before the command that held DK was done with it. */
	assert_true(atomic_load(&h.left));
	assert_ptr_equal(old, dk);
	assert_null(atomic_load(&t->st.dk));
	assert_int_equal(atomic_load(&t->st.dk_gen), gen + 1);
	pthread_join(th, NULL);
	hsm_dk_kcv(old, kcv);
	assert_memory_equal(kcv, h.kcv, sizeof(kcv));
	hsm_dk_free(old);
	/* Sealed: NC says so, DK commands answer 13. */
	expect(t, "NC", "ND000000000000000000" HSM_FIRMWARE);
	expect(t, "BU008K001", "BV13");
	/* Retiring a sealed HSM's DK: nothing to hand over. */
	assert_int_equal(hsm_dk_retire(&t->st, &old), TKM_OK);
	assert_null(old);
	hsm_worker_cleanup(&w2);
	hsm_worker_cleanup(&w2); /* again: a no-op */
	hsmtest_free(t);
}

/* A kick that syncs the worker at once (it is idle, on this thread). */
static void
kick_now(void *arg)
{
	hsm_worker_sync(arg);
}

static void
test_retire_kick_drops_store(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	struct hsm_dk *old = NULL;

	(void)state;
	put(t, 1, K2);
	expect(t, "BU008K001", "BV00" K2KCV);
	assert_non_null(t->w.ks);
	hsm_worker_set_kick(&t->w, kick_now, &t->w);
	assert_int_equal(hsm_dk_retire(&t->st, &old), TKM_OK);
	/* Closed by the kick, not at the next command. */
	assert_null(t->w.ks);
	assert_int_equal(t->w.gen, atomic_load(&t->st.dk_gen));
	/* The same DK again (as an unseal would publish it): the worker
	 * reopens its store. */
	atomic_store(&t->st.dk, old);
	expect(t, "BU008K001", "BV00" K2KCV);
	hsmtest_free(t);
}

/* Remove keys.db as a wipe would leave it: no key, no pinned KCV. */
static void
drop_store(const char *dir)
{
	static const char *const names[] = {
	    "keys.db", "keys.db-wal", "keys.db-shm"};
	char path[256];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
}

/*
 * After a retirement and a new DK, a worker must not serve from what it
 * cached under the old one: a new key at the same index starts at version
 * 1 again, which is exactly what the old cached object was.
 */
static void
test_retire_new_dk_flushes_caches(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	struct tkm_sm2 *pub1, *pub2;
	struct hsm_dk *old = NULL, *none = NULL, *fresh = dk_of(dk2);
	uint8_t kcv[8];
	char want[64];

	(void)state;
	put(t, 1, K2);
	pub1 = ei01(t);
	assert_int_equal(ew01_verifies(t, pub1), TKM_OK); /* now cached */
	assert_int_equal(hsm_dk_retire(&t->st, &old), TKM_OK);
	expect(t, "BU008K001", "BV13");
	{
		const char *r = hsmtest_cmd(t, EW01, NULL);

		assert_memory_equal(r, "EX13", 4);
	}
	hsm_dk_free(old);
	drop_store(t->dir);
	/* A new DK, published as dk.combine does. */
	assert_true(atomic_compare_exchange_strong(&t->st.dk, &none, fresh));
	hsm_dk_kcv(fresh, kcv);
	snprintf(
	    want, sizeof(want), "ND00%s%s", hsmtest_hex(kcv, 8), HSM_FIRMWARE);
	expect(t, "NC", want);
	expect(t, "BU008K001", "BV12"); /* a new, empty store */
	put(t, 1, K2);
	expect(t, "BU008K001", "BV00" K2KCV);
	pub2 = ei01(t);
	assert_int_equal(ew01_verifies(t, pub2), TKM_OK);
	assert_int_equal(ew01_verifies(t, pub1), TKM_ERR_VERIFY);
	tkm_sm2_free(pub1);
	tkm_sm2_free(pub2);
	hsmtest_free(t);
}

/* --- stress: workers hammering while DK comes and goes -------------------
 */

#define HAMMERS 3
#define ROUNDS  25

struct hammer {
	struct hsmtest *t;
	struct hsm_worker w;
	atomic_int *stop;
	atomic_int kicked;
	struct tkm_sm2 *pub;
	const char *nc_kcv; /* "ND00" KCV firmware */
	unsigned long n, ok, sealed, bad;
	char what[128];
	uint8_t req[256];
	uint8_t resp[1024];
};

static void
kick_flag(void *arg)
{
	struct hammer *h = arg;

	atomic_store(&h->kicked, 1);
}

/* One command through the dispatcher; the answer after the header. */
static const char *
hsend(struct hammer *h, const char *cmd, size_t *n)
{
	const size_t hl = sizeof(HSMTEST_HDR) - 1;
	struct tkm_wr out;

	memcpy(h->req, HSMTEST_HDR, hl);
	memcpy(h->req + hl, cmd, strlen(cmd));
	tkm_wr_init(&out, h->resp, sizeof(h->resp) - 1);
	hsm_dispatch(
	    &h->w, &h->t->cfg.listeners[0], h->req, hl + strlen(cmd), &out);
	h->resp[out.len] = '\0';
	*n = out.len >= 2 + hl ? out.len - 2 - hl : 0;
	return (const char *)h->resp + 2 + hl;
}

static void
judge(struct hammer *h, const char *cmd, const char *r, size_t n, int good)
{
	h->n++;
	if (n >= 4 && memcmp(r + 2, "13", 2) == 0)
		h->sealed++;
	else if (good)
		h->ok++;
	else if (h->bad++ == 0)
		snprintf(h->what, sizeof(h->what), "%.2s: %.*s", cmd,
		    (int)(n < 40 ? n : 40), r);
}

static void *
hammer(void *arg)
{
	static const char sealed_nc[] = "ND000000000000000000" HSM_FIRMWARE;
	struct hammer *h = arg;
	const char *r;
	size_t n;
	unsigned i;

	for (i = 0; !atomic_load(h->stop); i++) {
		if (atomic_exchange(&h->kicked, 0))
			hsm_worker_sync(&h->w);
		switch (i % 3) {
		case 0:
			r = hsend(h, "NC", &n);
			/* NC never answers 13: sealed is a KCV of zeros. */
			if (strcmp(r, sealed_nc) == 0)
				h->sealed++, h->n++;
			else
				judge(h, "NC", r, n, strcmp(r, h->nc_kcv) == 0);
			break;
		case 1:
			r = hsend(h, "BU008K001", &n);
			judge(h, "BU", r, n, strcmp(r, "BV00" K2KCV) == 0);
			break;
		default:
			r = hsend(h, EW01, &n);
			judge(h, "EW", r, n,
			    n == 8 + TKM_SM2_SIG_LEN &&
				memcmp(r, "EX000064", 8) == 0 &&
				tkm_sm2_verify(h->pub, NULL, 0, MSG,
				    strlen(MSG),
				    (const uint8_t *)r + 8) == TKM_OK);
		}
	}
	return NULL;
}

struct zeroiser {
	struct hsm_state *st;
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	int rc; /* first failure */
};

/* Retire DK and publish a new object with the same value (the store
 * keeps its keys), again and again. */
static void *
zeroiser(void *arg)
{
	struct zeroiser *z = arg;
	struct hsm_dk *old, *dk, *none;
	int i, rc;

	for (i = 0; i < ROUNDS && z->rc == TKM_OK; i++) {
		sleep_ms(3);
		if ((rc = hsm_dk_retire(z->st, &old)) != TKM_OK || old == NULL)
			z->rc = rc != TKM_OK ? rc : TKM_ERR_INTERNAL;
		sleep_ms(1);
		hsm_dk_free(old);
		dk = NULL;
		if ((rc = hsm_dk_new(z->c, &dk)) != TKM_OK) {
			z->rc = rc;
			break;
		}
		none = NULL;
		if (!atomic_compare_exchange_strong(&z->st->dk, &none, dk)) {
			hsm_dk_free(dk);
			z->rc = TKM_ERR_INTERNAL;
		}
	}
	return NULL;
}

static void
test_retire_stress(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	struct hammer *h = calloc(HAMMERS, sizeof(*h));
	pthread_t th[HAMMERS], zt;
	struct zeroiser z;
	atomic_int stop;
	struct tkm_sm2 *pub;
	uint8_t kcv[8];
	char nc[64];
	size_t i;

	(void)state;
	assert_non_null(h);
	put(t, 1, K2);
	pub = ei01(t);
	hsm_dk_kcv(t->st.dk, kcv);
	snprintf(nc, sizeof(nc), "ND00%s%s", hsmtest_hex(kcv, 8), HSM_FIRMWARE);
	memset(&z, 0, sizeof(z));
	z.st = &t->st;
	for (i = 0; i < HSM_DK_PARTS; i++)
		(void)hsmtest_unhex(dk1[i], z.c[i], HSM_DK_LEN);
	atomic_init(&stop, 0);
	for (i = 0; i < HAMMERS; i++) {
		uint8_t xy[TKM_SM2_PUB_LEN];

		h[i].t = t;
		h[i].stop = &stop;
		h[i].nc_kcv = nc;
		atomic_init(&h[i].kicked, 0);
		/* Its own object: OpenSSL's are not shared between threads
		 * here. */
		assert_int_equal(tkm_sm2_pub(pub, xy), TKM_OK);
		assert_int_equal(tkm_sm2_from_pub(xy, &h[i].pub), TKM_OK);
		assert_int_equal(hsm_worker_init(&h[i].w, &t->st), TKM_OK);
		hsm_worker_set_kick(&h[i].w, kick_flag, &h[i]);
	}
	for (i = 0; i < HAMMERS; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, hammer, &h[i]), 0);
	assert_int_equal(pthread_create(&zt, NULL, zeroiser, &z), 0);
	pthread_join(zt, NULL);
	sleep_ms(20); /* some commands with the last DK */
	atomic_store(&stop, 1);
	for (i = 0; i < HAMMERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(z.rc, TKM_OK);
	for (i = 0; i < HAMMERS; i++) {
		if (h[i].bad != 0)
			fail_msg("hammer %zu: %lu bad answers of %lu, first %s",
			    i, h[i].bad, h[i].n, h[i].what);
		/* Both states were seen, or the test proved nothing. */
		assert_true(h[i].ok > 0);
		assert_true(h[i].sealed > 0);
		hsm_worker_cleanup(&h[i].w);
		tkm_sm2_free(h[i].pub);
	}
	/* The harness's own worker (no kick) catches up at its command. */
	expect(t, "BU008K001", "BV00" K2KCV);
	assert_int_equal(ew01_verifies(t, pub), TKM_OK);
	tkm_sm2_free(pub);
	free(h);
	hsmtest_free(t);
}

/* --- zeroise ------------------------------------------------------------- */

struct fx {
	struct hsmtest *t;
	struct hsm_worker w2; /* a second worker on the same state */
	struct hsm_op_ctx c;
	struct tkm_sm2 *card[3]; /* A1..A3 */
	char token[64];
};

/* hsmtest_new() without DK (a factory-new HSM), seal local, with an
 * admin database and an audit log. */
static int
setup(void **state)
{
	struct hsm_listener_cfg *l;
	struct fx *f = calloc(1, sizeof(*f));
	struct hsmtest *t = calloc(1, sizeof(*t));

	assert_non_null(f);
	assert_non_null(t);
	hsmtest_mkdtemp(t->dir);
	hsmtest_remember(t->dir, 1);
	l = &t->cfg.listeners[0];
	snprintf(l->addr, sizeof(l->addr), "127.0.0.1");
	l->hdrlen = 8;
	l->max_frame = TKM_WIRE_DEFAULT_MAX;
	t->cfg.nlisteners = 1;
	t->cfg.workers = 1;
	t->cfg.seal = HSM_SEAL_LOCAL;
	t->st.cfg = &t->cfg;
	t->st.dir = t->dir;
	atomic_init(&t->st.authorised, 1);
	assert_int_equal(hsm_admin_open(t->dir, &t->st.admin), TKM_OK);
	assert_int_equal(hsm_audit_open(t->dir, &t->st.audit), TKM_OK);
	assert_int_equal(hsm_worker_init(&t->w, &t->st), TKM_OK);
	assert_int_equal(hsm_worker_init(&f->w2, &t->st), TKM_OK);
	f->t = t;
	f->c.st = &t->st;
	f->c.admin = t->st.admin;
	f->c.audit = t->st.audit;
	f->c.peer = "127.0.0.1:4242";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	size_t i;

	hsm_worker_cleanup(&f->w2);
	hsm_worker_cleanup(&f->t->w);
	hsm_state_cleanup(&f->t->st);
	hsm_audit_close(f->t->st.audit);
	f->t->st.audit = NULL;
	hsm_admin_close(f->t->st.admin);
	f->t->st.admin = NULL;
	for (i = 0; i < 3; i++)
		tkm_sm2_free(f->card[i]);
	hsmtest_free(f->t); /* frees st.dk, removes the directory */
	free(f);
	return 0;
}

/* Run a request; the response (caller decrefs). */
static json_t *
call(struct fx *f, json_t *req)
{
	json_t *resp;

	assert_non_null(req);
	resp = hsm_mgmt_handle(&f->c, req);
	json_decref(req);
	assert_non_null(resp);
	return resp;
}

static json_t *
ok(struct fx *f, json_t *req)
{
	json_t *resp = call(f, req);

	if (!json_is_true(json_object_get(resp, "ok")))
		fail_msg("%s: %s",
		    json_string_value(json_object_get(resp, "code")),
		    json_string_value(json_object_get(resp, "error")));
	return resp;
}

static json_t *
result(json_t *resp)
{
	return json_object_get(resp, "result");
}

static const char *
str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* A session op with args; the response. */
static json_t *
op(struct fx *f, const char *name, json_t *args)
{
	return call(
	    f, json_pack("{s:s, s:s, s:o}", "op", name, "session", f->token,
		   "args", args != NULL ? args : json_object()));
}

/* login.challenge then login of role i (0..2) into f->token. */
static void
login(struct fx *f, unsigned i)
{
	const char *role = hsm_role_name(HSM_ROLE_A1 << i);
	uint8_t chal[64], sig[TKM_SM2_SIG_LEN];
	char hex[2 * TKM_SM2_SIG_LEN + 1];
	json_t *req, *r;
	size_t n;

	req = json_pack(
	    "{s:s, s:{s:s}}", "op", "login.challenge", "args", "role", role);
	if (f->token[0] != '\0')
		json_object_set_new(req, "session", json_string(f->token));
	r = ok(f, req);
	assert_int_equal(tkm_hex_decode(str(result(r), "challenge"), 64, chal,
			     sizeof(chal), &n),
	    TKM_OK);
	snprintf(f->token, sizeof(f->token), "%s", str(r, "session"));
	json_decref(r);
	assert_int_equal(
	    tkm_sm2_sign(f->card[i], (const uint8_t *)TKM_SM2_DEFAULT_ID,
		TKM_SM2_DEFAULT_ID_LEN, chal, n, sig),
	    TKM_OK);
	tkm_hex_encode(sig, sizeof(sig), hex);
	json_decref(ok(f, json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "op",
			      "login", "session", f->token, "args", "role",
			      role, "signature", hex, "password", PASSWORD)));
}

/*
 * A factory-new HSM made ready: A1-A3 enrol themselves (new cards), log in
 * on one session and make DK from comps.
 */
static void
initialise(struct fx *f, const char *const comps[HSM_DK_PARTS])
{
	uint8_t pub[TKM_SM2_PUB_LEN];
	char pw[32];
	unsigned i;
	json_t *r;

	f->token[0] = '\0';
	for (i = 0; i < 3; i++) {
		tkm_sm2_free(f->card[i]);
		f->card[i] = NULL;
		assert_int_equal(tkm_sm2_generate(&f->card[i]), TKM_OK);
		assert_int_equal(tkm_sm2_pub(f->card[i], pub), TKM_OK);
		json_decref(ok(f,
		    json_pack("{s:s, s:{s:s, s:s, s:s}}", "op", "enrol", "args",
			"role", hsm_role_name(HSM_ROLE_A1 << i), "pub",
			hsmtest_hex(pub, sizeof(pub)), "password", PASSWORD)));
	}
	for (i = 0; i < 3; i++)
		login(f, i);
	for (i = 0; i < 3; i++) {
		snprintf(pw, sizeof(pw), "component pw %u", i + 1);
		r = op(f, "dk.component",
		    json_pack("{s:s, s:s, s:s}", "role",
			hsm_role_name(HSM_ROLE_A1 << i), "component", comps[i],
			"component_password", pw));
		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
	}
	r = op(f, "dk.combine", NULL);
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("dk.combine: %s", str(r, "error"));
	json_decref(r);
	assert_non_null(atomic_load(&f->t->st.dk));
}

static void
serial_of(struct fx *f, char out[HSM_SERIAL_MAX + 1])
{
	assert_int_equal(hsm_ident_serial(f->c.admin, out), TKM_OK);
	assert_true(strlen(out) > 0);
}

/* The whole of a file, for scanning (NULL, 0 if there is none). */
static uint8_t *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[256];
	uint8_t *p;
	FILE *fp;
	long n;

	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static int
contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	size_t i;

	for (i = 0; m > 0 && i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* What the store held, to look for in its files afterwards. */
struct traces {
	uint8_t blob[8][HSM_MAX_SECRET + HSM_WRAP_OVERHEAD];
	size_t bloblen[8];
	size_t nblobs;
	uint8_t secret[2][64];
	size_t secretlen[2];
};

static void
collect(struct fx *f, struct traces *tr)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	struct hsm_key_info info;
	size_t n;

	memset(tr, 0, sizeof(*tr));
	snprintf(path, sizeof(path), "%s/keys.db", f->t->dir);
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
		"SELECT blob FROM keys WHERE blob IS NOT NULL", -1, &s, NULL),
	    SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW && tr->nblobs < 8) {
		n = (size_t)sqlite3_column_bytes(s, 0);
		assert_true(n > 0 && n <= sizeof(tr->blob[0]));
		memcpy(tr->blob[tr->nblobs], sqlite3_column_blob(s, 0), n);
		tr->bloblen[tr->nblobs++] = n;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_int_equal(tr->nblobs, 2);
	/* The secrets in clear, through the worker's store. */
	assert_int_equal(
	    hsm_keystore_get(f->t->w.ks, HSM_LIB_DES, 1, &info, tr->secret[0],
		sizeof(tr->secret[0]), &tr->secretlen[0]),
	    TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(f->t->w.ks, HSM_LIB_SM2, 1, &info, tr->secret[1],
		sizeof(tr->secret[1]), &tr->secretlen[1]),
	    TKM_OK);
}

/* No trace of the old keys in any file of the store. */
static void
no_traces(struct fx *f, const struct traces *tr)
{
	static const char *const names[] = {
	    "keys.db", "keys.db-wal", "keys.db-shm"};
	uint8_t *p;
	size_t i, j, n;

	for (i = 0; i < 3; i++) {
		if ((p = slurp(f->t->dir, names[i], &n)) == NULL)
			continue;
		for (j = 0; j < tr->nblobs; j++)
			if (contains(p, n, tr->blob[j], tr->bloblen[j]))
				fail_msg("%s still holds wrapped key %zu",
				    names[i], j);
		for (j = 0; j < 2; j++)
			if (contains(p, n, tr->secret[j], tr->secretlen[j]))
				fail_msg(
				    "%s still holds secret %zu", names[i], j);
		free(p);
	}
}

static int
key_rows(struct fx *f)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = 0;

	snprintf(path, sizeof(path), "%s/keys.db", f->t->dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return 0;
	}
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM keys", -1, &s, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return n;
}

/* A BU on the second worker, through its own dispatch. */
static void
expect_w2(struct fx *f, const char *req, const char *want)
{
	struct hsmtest *t = f->t;
	struct hsm_worker keep = t->w;

	/* hsmtest_cmd() drives t->w: borrow it for w2 and put it back. */
	t->w = f->w2;
	expect(t, req, want);
	f->w2 = t->w;
	t->w = keep;
}

static void
test_zeroise_wrong_confirm(void **state)
{
	struct fx *f = *state;
	char serial[HSM_SERIAL_MAX + 1];
	json_t *r;

	initialise(f, dk1);
	serial_of(f, serial);
	put(f->t, 1, K2);
	expect(f->t, "BU008K001", "BV00" K2KCV);
	r = op(f, "zeroise", json_pack("{s:s}", "confirm", "TKMS000000000000"));
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(r, "code"), "15");
	assert_non_null(strstr(str(r, "error"), "nothing was destroyed"));
	json_decref(r);
	r = op(f, "zeroise", NULL); /* no confirm at all */
	assert_string_equal(str(r, "code"), "15");
	json_decref(r);
	/* Nothing changed: DK, keys, files, enrolments, the session. */
	assert_non_null(atomic_load(&f->t->st.dk));
	expect(f->t, "BU008K001", "BV00" K2KCV);
	expect_w2(f, "BU008K001", "BV00" K2KCV);
	assert_true(exists(f->t->dir, HSM_SEAL_BACKUP));
	assert_true(exists(f->t->dir, HSM_SEAL_SEALED));
	assert_true(exists(f->t->dir, HSM_SEAL_MACHINE));
	assert_int_equal(hsm_admin_enrolled(f->c.admin), HSM_ROLES_A);
	r = op(f, "status", NULL);
	assert_false(json_is_true(json_object_get(result(r), "sealed")));
	assert_int_equal(
	    json_array_size(json_object_get(result(r), "roles")), 3);
	json_decref(r);
}

/* The first record of an audit database file with op, and its detail. */
static int
audit_has(
    const char *dir, const char *file, const char *op_name, const char *detail)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	int found = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(db,
		"SELECT count(*) FROM records WHERE op = ?1 AND"
		" (?2 IS NULL OR detail = ?2)",
		-1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, op_name, -1, SQLITE_STATIC);
		if (detail != NULL)
			sqlite3_bind_text(s, 2, detail, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			found = sqlite3_column_int(s, 0) > 0;
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return found;
}

static void
test_zeroise(void **state)
{
	struct fx *f = *state;
	char serial[HSM_SERIAL_MAX + 1], serial2[HSM_SERIAL_MAX + 1];
	char token[64], kcv1[17];
	struct tkm_sm2 *pub1, *pub2;
	struct traces tr;
	json_t *r, *res;
	uint8_t kcv[8];

	initialise(f, dk1);
	serial_of(f, serial);
	hsm_dk_kcv(atomic_load(&f->t->st.dk), kcv);
	snprintf(kcv1, sizeof(kcv1), "%s", hsmtest_hex(kcv, 8));
	/* Keys stored and used: both workers' stores open, the asymmetric
	 * cache filled, run-time settings made. */
	put(f->t, 1, K2);
	expect(f->t, "BU008K001", "BV00" K2KCV);
	expect_w2(f, "BU008K001", "BV00" K2KCV);
	pub1 = ei01(f->t);
	assert_int_equal(ew01_verifies(f->t, pub1), TKM_OK);
	assert_non_null(f->t->w.ks);
	assert_non_null(f->w2.ks);
	atomic_store(&f->t->st.authorised, 0);
	atomic_store(&f->t->st.authorised_until, (long long)time(NULL) + 600);
	atomic_store(&f->t->st.time_offset, 3600);
	assert_int_equal(
	    hsm_admin_set(f->c.admin, "time_offset", "3600"), TKM_OK);
	collect(f, &tr);
	snprintf(token, sizeof(token), "%s", f->token);

	r = op(f, "zeroise", json_pack("{s:s}", "confirm", serial));
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("zeroise: %s %s", str(r, "code"), str(r, "error"));
	res = result(r);
	assert_true(json_is_true(json_object_get(res, "zeroised")));
	assert_string_equal(str(res, "serial"), serial);
	assert_non_null(str(res, "audit_archive"));
	assert_true(exists(f->t->dir, str(res, "audit_archive")));
	assert_true(audit_has(
	    f->t->dir, str(res, "audit_archive"), "zeroise", "started"));
	assert_true(audit_has(f->t->dir, "audit.db", "audit.continued", NULL));
	/* Delivered, without a session: every session ended. */
	assert_null(json_object_get(r, "session"));
	json_decref(r);
	r = op(f, "keys.list", NULL);
	assert_string_equal(str(r, "code"), "29");
	json_decref(r);

	/* Sealed, for every worker. */
	assert_null(atomic_load(&f->t->st.dk));
	expect(f->t, "BU008K001", "BV13");
	expect(f->t, "NC", "ND000000000000000000" HSM_FIRMWARE);
	expect_w2(f, "BU008K001", "BV13");
	assert_null(f->t->w.ks);
	assert_null(f->w2.ks);
	/* Nothing of the keys or of DK is left. */
	assert_int_equal(key_rows(f), 0);
	no_traces(f, &tr);
	assert_false(exists(f->t->dir, HSM_SEAL_BACKUP));
	assert_false(exists(f->t->dir, HSM_SEAL_SEALED));
	assert_false(exists(f->t->dir, HSM_SEAL_MACHINE));
	/* Factory state, serial kept. */
	assert_int_equal(hsm_admin_enrolled(f->c.admin), 0);
	{
		char v[32];

		assert_int_equal(
		    hsm_admin_get(f->c.admin, "time_offset", v, sizeof(v)),
		    TKM_ERR_NO_KEY);
	}
	assert_int_equal(atomic_load(&f->t->st.time_offset), 0);
	assert_false(hsm_authorised(&f->t->st));
	serial_of(f, serial2);
	assert_string_equal(serial2, serial);
	f->token[0] = '\0';
	r = call(f, json_pack("{s:s}", "op", "status"));
	res = result(r);
	assert_true(json_is_true(json_object_get(res, "sealed")));
	assert_int_equal(json_array_size(json_object_get(res, "enrolled")), 0);
	assert_false(json_is_true(json_object_get(res, "initialised")));
	json_decref(r);

	/* A new life with another DK, in the same process. */
	initialise(f, dk2);
	hsm_dk_kcv(atomic_load(&f->t->st.dk), kcv);
	assert_string_not_equal(hsmtest_hex(kcv, 8), kcv1);
	atomic_store(&f->t->st.authorised, 1);
	expect(f->t, "BU008K001", "BV12"); /* the store is empty */
	put(f->t, 1, K2);
	expect(f->t, "BU008K001", "BV00" K2KCV);
	expect_w2(f, "BU008K001", "BV00" K2KCV);
	/* Index 01 again at version 1: the cached old key is not used. */
	pub2 = ei01(f->t);
	assert_int_equal(ew01_verifies(f->t, pub2), TKM_OK);
	assert_int_equal(ew01_verifies(f->t, pub1), TKM_ERR_VERIFY);
	tkm_sm2_free(pub1);
	tkm_sm2_free(pub2);
}

/* A sealed HSM (quorum mode after a restart) can be zeroised too. */
static void
test_zeroise_sealed(void **state)
{
	struct fx *f = *state;
	char serial[HSM_SERIAL_MAX + 1];
	struct hsm_dk *old = NULL;
	json_t *r;

	initialise(f, dk1);
	serial_of(f, serial);
	assert_int_equal(hsm_dk_retire(&f->t->st, &old), TKM_OK);
	hsm_dk_free(old);
	r = op(f, "zeroise", json_pack("{s:s}", "confirm", serial));
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("zeroise: %s %s", str(r, "code"), str(r, "error"));
	json_decref(r);
	assert_false(exists(f->t->dir, HSM_SEAL_BACKUP));
	assert_int_equal(hsm_admin_enrolled(f->c.admin), 0);
	initialise(f, dk2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retire_waits_for_commands),
	    cmocka_unit_test(test_retire_kick_drops_store),
	    cmocka_unit_test(test_retire_new_dk_flushes_caches),
	    cmocka_unit_test(test_retire_stress),
	    cmocka_unit_test_setup_teardown(
		test_zeroise_wrong_confirm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zeroise, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_zeroise_sealed, setup, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1); /* tests only */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
