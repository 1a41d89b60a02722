/*
 * test_ops_ident.c - dk.export, dk.restore, mkey.generate, mkey.import,
 * mkey.show and what status says about identity (ops_ident.c), through
 * the op handlers with a session holding the roles (the op table's own
 * role check is test_mgmt.c's; the rows are checked here too).
 *
 * Two HSMs: one made by a ceremony, whose C exports dk.backup; one new and
 * empty, whose A1-A3 restore it with the three component passwords. The
 * second ends with the same DK, its own serial and its own identity.
 */
#include "hsmtest.h"

#include <sys/stat.h>

#include "admin.h"
#include "backup.h"
#include "ident.h"
#include "mgmt.h"
#include "ops.h"
#include "seal.h"
#include "tkm/b64.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define DK_KCV "C8FABC567BA0A5C6" /* of HSMTEST_DK_C1..C3 */
#define PW1    "component pw 1"
#define PW2    "component pw 2"
#define PW3    "component pw 3"
#define SAMPLE_PUB                                                             \
	"09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"     \
	"CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
#define SAMPLE_FP "3D92BED6D685F38B"

#define PWS(p1, p2, p3)                                                        \
	"\"components\":{\"A1\":{\"component_password\":\"" p1 "\"},"          \
	"\"A2\":{\"component_password\":\"" p2 "\"},"                          \
	"\"A3\":{\"component_password\":\"" p3 "\"}}"

struct fx {
	struct hsmtest *t;
	struct hsm_admin *a;
	struct hsm_session s;
	struct hsm_op_ctx c;
};

/* A harness with no DK (as test_ops_dk.c's) and an admin.db. */
static struct fx *
fx_new(int sealed)
{
	struct hsm_listener_cfg *l;
	struct fx *f = calloc(1, sizeof(*f));
	struct hsmtest *t;

	assert_non_null(f);
	if (!sealed) {
		t = hsmtest_new(1);
	} else {
		assert_non_null(t = calloc(1, sizeof(*t)));
		hsmtest_mkdtemp(t->dir);
		hsmtest_remember(t->dir, 1);
		l = &t->cfg.listeners[0];
		snprintf(l->addr, sizeof(l->addr), "127.0.0.1");
		l->hdrlen = 8;
		l->max_frame = TKM_WIRE_DEFAULT_MAX;
		t->cfg.nlisteners = 1;
		t->cfg.workers = 1;
		t->st.cfg = &t->cfg;
		t->st.dir = t->dir;
		atomic_init(&t->st.authorised, 1);
		assert_int_equal(hsm_worker_init(&t->w, &t->st), TKM_OK);
	}
	f->t = t;
	assert_int_equal(hsm_admin_open(t->dir, &f->a), TKM_OK);
	f->c.st = &t->st;
	f->c.admin = f->a;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:4242";
	return f;
}

static void
fx_free(struct fx *f)
{
	if (f == NULL)
		return;
	hsm_admin_close(f->a);
	hsmtest_free(f->t);
	free(f);
}

static int
setup(void **state)
{
	setenv("TKMS_ARGON2_FAST", "1", 1); /* tests only */
	*state = fx_new(1);
	return 0;
}

static int
setup_dk(void **state)
{
	*state = fx_new(0);
	return 0;
}

static int
teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* Run op with args as JSON text; rc, the result in *out (caller decrefs)
 * and the reason in *why. */
static int
run(struct fx *f, hsm_op_fn *fn, const char *args, json_t **out,
    const char **why)
{
	json_error_t e;
	json_t *a = json_loads(args, 0, &e), *r = json_object();
	const char *w = NULL;
	int rc;

	if (a == NULL)
		fail_msg("bad test JSON: %s", e.text);
	assert_non_null(r);
	rc = fn(&f->c, a, r, &w);
	json_decref(a);
	if (why != NULL)
		*why = w;
	if (out != NULL)
		*out = r;
	else
		json_decref(r);
	return rc;
}

static const char *
get(json_t *r, const char *name)
{
	return json_string_value(json_object_get(r, name));
}

static const char *
get2(json_t *r, const char *obj, const char *name)
{
	return json_string_value(
	    json_object_get(json_object_get(r, obj), name));
}

static void
component(struct fx *f, const char *role, const char *hex, const char *pw)
{
	char args[256];
	const char *why;

	snprintf(args, sizeof(args),
	    "{\"role\": \"%s\", \"component\": \"%s\", "
	    "\"component_password\": \"%s\"}",
	    role, hex, pw);
	if (run(f, op_dk_component, args, NULL, &why) != TKM_OK)
		fail_msg("dk.component %s: %s", role, why);
}

static void
ceremony(struct fx *f)
{
	const char *why;

	f->s.roles = HSM_ROLES_A;
	component(f, "A1", HSMTEST_DK_C1, PW1);
	component(f, "A2", HSMTEST_DK_C2, PW2);
	component(f, "A3", HSMTEST_DK_C3, PW3);
	if (run(f, op_dk_combine, "{}", NULL, &why) != TKM_OK)
		fail_msg("dk.combine: %s", why);
}

static int
exists(struct fx *f, const char *name)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", f->t->dir, name);
	return stat(path, &sb) == 0;
}

static size_t
read_all(struct fx *f, const char *name, uint8_t *buf, size_t cap)
{
	char path[128];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->t->dir, name);
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

/* dk.export by C: the base64 text of the file (caller frees). */
static char *export(struct fx *f)
{
	const char *why;
	json_t *r;
	char *b64;

	f->s.roles = HSM_ROLE_C;
	if (run(f, op_dk_export, "{}", &r, &why) != TKM_OK)
		fail_msg("dk.export: %s", why);
	assert_string_equal(get(r, "dk_kcv"), DK_KCV);
	assert_non_null(b64 = strdup(get(r, "file")));
	json_decref(r);
	return b64;
}

static int
restore(struct fx *f, const char *b64, const char *pws, json_t **out,
    const char **why)
{
	size_t cap = strlen(b64) + strlen(pws) + 32;
	char *args = malloc(cap);
	int rc;

	assert_non_null(args);
	snprintf(args, cap, "{\"file\":\"%s\",%s}", b64, pws);
	f->s.roles = HSM_ROLES_A;
	rc = run(f, op_dk_restore, args, out, why);
	free(args);
	return rc;
}

static json_t *
status(struct fx *f)
{
	json_t *r;

	assert_int_equal(run(f, op_status, "{}", &r, NULL), TKM_OK);
	return r;
}

/* --- the op rows ------------------------------------------------------------
 */

static void
test_rows(void **state)
{
	static const struct {
		const char *name;
		unsigned need, flags;
	} rows[] = {
	    {"dk.export", HSM_ROLE_C, HSM_OP_DK},
	    {"dk.restore", HSM_ROLES_A, 0},
	    {"mkey.generate", HSM_ROLES_A, HSM_OP_DK},
	    {"mkey.import", HSM_ROLES_A, HSM_OP_DK},
	    {"mkey.show", HSM_ROLES_ALL, HSM_OP_ANY | HSM_OP_DK},
	};
	const struct hsm_op *op;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_non_null(op = hsm_op_find(rows[i].name));
		assert_int_equal(op->need, rows[i].need);
		assert_int_equal(op->flags, rows[i].flags);
	}
}

/* --- status ------------------------------------------------------------------
 */

static void
test_status(void **state)
{
	struct fx *f = *state;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char serial[HSM_SERIAL_MAX + 1], fp[17];
	const char *why;
	json_t *r;

	/* sealed: the serial only */
	r = status(f);
	assert_int_equal(strlen(get(r, "serial")), HSM_SERIAL_MAX);
	assert_int_equal(hsm_ident_serial(f->a, serial), TKM_OK);
	assert_string_equal(get(r, "serial"), serial);
	assert_null(json_object_get(r, "identity"));
	assert_null(json_object_get(r, "mkey"));
	json_decref(r);
	/* unsealed: the identity; an mkey once imported */
	ceremony(f);
	r = status(f);
	assert_string_equal(get(r, "serial"), serial);
	assert_int_equal(
	    hsm_ident_pub(f->a, atomic_load(&f->t->st.dk), pub), TKM_OK);
	hsm_pub_fingerprint(pub, fp);
	assert_string_equal(
	    get2(r, "identity", "public"), hsmtest_hex(pub, sizeof(pub)));
	assert_string_equal(get2(r, "identity", "fingerprint"), fp);
	assert_null(json_object_get(r, "mkey"));
	json_decref(r);
	assert_int_equal(run(f, op_mkey_import,
			     "{\"public\":\"" SAMPLE_PUB "\"}", NULL, &why),
	    TKM_OK);
	r = status(f);
	assert_string_equal(get2(r, "mkey", "fingerprint"), SAMPLE_FP);
	assert_null(json_object_get(json_object_get(r, "mkey"), "public"));
	json_decref(r);
	/* an altered identity leaves it out, status still answers */
	assert_int_equal(hsm_admin_set(f->a, "identity", "00"), TKM_OK);
	r = status(f);
	assert_null(json_object_get(r, "identity"));
	assert_string_equal(get(r, "serial"), serial);
	assert_false(json_is_true(json_object_get(r, "sealed")));
	json_decref(r);
	/* no admin.db (tests): nothing added, nothing fails */
	f->c.admin = NULL;
	r = status(f);
	assert_null(json_object_get(r, "serial"));
	assert_null(json_object_get(r, "identity"));
	json_decref(r);
}

/* --- dk.export
 * ---------------------------------------------------------------- */

static void
test_export(void **state)
{
	struct fx *f = *state;
	uint8_t file[512], dec[512];
	size_t n, m;
	const char *why;
	char *b64;
	FILE *fp;
	char path[128];

	f->s.roles = HSM_ROLE_C;
	assert_int_equal(
	    run(f, op_dk_export, "{}", NULL, &why), TKM_ERR_SEALED);
	ceremony(f);
	b64 = export(f);
	n = read_all(f, HSM_SEAL_BACKUP, file, sizeof(file));
	assert_int_equal(n, HSM_BACKUP_LEN);
	assert_int_equal(
	    tkm_b64_decode(b64, strlen(b64), dec, sizeof(dec), &m), TKM_OK);
	assert_int_equal(m, n);
	assert_memory_equal(dec, file, n);
	free(b64);
	/* a dk.backup of another DK in the directory is not exported */
	file[8] ^= 1;
	snprintf(path, sizeof(path), "%s/%s", f->t->dir, HSM_SEAL_BACKUP);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(file, 1, n, fp), n);
	fclose(fp);
	assert_int_equal(
	    run(f, op_dk_export, "{}", NULL, &why), TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "not a backup of this device key"));
}

/* DK from --dev-components: no dk.backup to export. */
static void
test_export_dev(void **state)
{
	struct fx *f = *state;
	const char *why;

	f->s.roles = HSM_ROLE_C;
	assert_int_equal(
	    run(f, op_dk_export, "{}", NULL, &why), TKM_ERR_NO_KEY);
	assert_non_null(strstr(why, "no dk.backup"));
}

/* --- dk.restore
 * --------------------------------------------------------------- */

static void
test_restore(void **state)
{
	struct fx *f = *state, *g = fx_new(1);
	uint8_t file[512], file2[512];
	const char *why;
	json_t *r, *s1, *s2;
	char *b64;
	size_t n;

	ceremony(f);
	b64 = export(f);
	n = read_all(f, HSM_SEAL_BACKUP, file, sizeof(file));
	s1 = status(f);

	/* g: new and empty; A1-A3 restore with the three passwords */
	assert_int_equal(restore(g, b64, PWS(PW1, PW2, PW3), &r, &why), TKM_OK);
	assert_string_equal(get(r, "dk_kcv"), DK_KCV);
	assert_string_equal(get(r, "kcv16"), DK_KCV);
	assert_string_equal(get(r, "seal"), "local");
	assert_non_null(atomic_load(&g->t->st.dk));
	s2 = status(g);
	assert_false(json_is_true(json_object_get(s2, "sealed")));
	assert_string_equal(get(s2, "dk_kcv"), DK_KCV);
	/* its own serial and identity */
	assert_string_equal(get(r, "serial"), get(s2, "serial"));
	assert_string_not_equal(get(s1, "serial"), get(s2, "serial"));
	assert_non_null(get2(s2, "identity", "fingerprint"));
	assert_string_not_equal(get2(s1, "identity", "fingerprint"),
	    get2(s2, "identity", "fingerprint"));
	json_decref(r);
	json_decref(s1);
	json_decref(s2);
	/* the same dk.backup, a local seal, a key store under DK */
	assert_int_equal(read_all(g, HSM_SEAL_BACKUP, file2, sizeof(file2)), n);
	assert_memory_equal(file, file2, n);
	assert_true(exists(g, HSM_SEAL_SEALED));
	assert_true(exists(g, HSM_SEAL_MACHINE));
	assert_true(exists(g, "keys.db"));
	/* the workers serve DK commands */
	assert_string_equal(hsmtest_cmd(g->t, "BU000K000", NULL), "BV12");
	/* once only */
	assert_int_equal(restore(g, b64, PWS(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_PERMISSION);
	/* a restart unseals itself from dk.sealed */
	{
		struct hsm_dk *dk = NULL;
		uint8_t kcv[8];

		assert_int_equal(
		    hsm_seal_start(g->t->dir, HSM_SEAL_LOCAL, &dk, &why),
		    TKM_OK);
		assert_non_null(dk);
		hsm_dk_kcv(dk, kcv);
		assert_string_equal(hsmtest_hex(kcv, 8), DK_KCV);
		hsm_dk_free(dk);
	}
	/* and f, which has a DK, refuses one */
	assert_int_equal(restore(f, b64, PWS(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_PERMISSION);
	free(b64);
	fx_free(g);
}

/* Nothing is written by a restore that is refused. */
static void
expect_untouched(struct fx *g)
{
	assert_null(atomic_load(&g->t->st.dk));
	assert_false(exists(g, HSM_SEAL_BACKUP));
	assert_false(exists(g, HSM_SEAL_SEALED));
	assert_false(exists(g, HSM_SEAL_MACHINE));
	assert_false(exists(g, "keys.db"));
}

static void
test_restore_refused(void **state)
{
	static const struct {
		const char *pws;
		int rc;
		const char *why;
	} bad_pw[] = {
	    {PWS("wrong pw 1", PW2, PW3), TKM_ERR_VERIFY, "A1's"},
	    {PWS(PW1, "wrong pw 2", PW3), TKM_ERR_VERIFY, "A2's"},
	    {PWS(PW1, PW2, "wrong pw 3"), TKM_ERR_VERIFY, "A3's"},
	    {PWS(PW2, PW1, PW3), TKM_ERR_VERIFY, "A1's"},
	    {PWS(PW1, PW2, "short"), TKM_ERR_VERIFY, "A3's"},
	    {"\"components\":{\"A1\":{\"component_password\":\"" PW1 "\"}}",
		TKM_ERR_INPUT, "components"},
	    {"\"x\":1", TKM_ERR_INPUT, "components"},
	};
	/* bytes to flip: magic, the KCV, A1's part byte, A2's salt, A3's
	 * ciphertext, A3's tag */
	static const size_t flips[] = {0, 8, 16, 112 + 20, 208 + 50, 303};
	struct fx *f = *state, *g = fx_new(1);
	uint8_t file[HSM_BACKUP_LEN];
	char b64[TKM_B64_LEN(HSM_BACKUP_LEN + 3) + 1];
	const char *why;
	size_t i, m;
	char *good;

	ceremony(f);
	good = export(f);
	assert_int_equal(
	    tkm_b64_decode(good, strlen(good), file, sizeof(file), &m), TKM_OK);
	for (i = 0; i < sizeof(bad_pw) / sizeof(bad_pw[0]); i++) {
		why = NULL;
		if (restore(g, good, bad_pw[i].pws, NULL, &why) != bad_pw[i].rc)
			fail_msg("password case %zu: %s", i, why ? why : "ok");
		assert_non_null(why);
		assert_non_null(strstr(why, bad_pw[i].why));
		expect_untouched(g);
	}
	/* tampered files */
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		file[flips[i]] ^= 0x04;
		tkm_b64_encode(file, sizeof(file), b64);
		why = NULL;
		if (restore(g, b64, PWS(PW1, PW2, PW3), NULL, &why) !=
		    TKM_ERR_VERIFY)
			fail_msg("flip at %zu: %s", flips[i], why ? why : "ok");
		assert_non_null(strstr(why, "altered"));
		expect_untouched(g);
		file[flips[i]] ^= 0x04;
	}
	/* not a dk.backup: cut, lengthened, not base64, absent */
	tkm_b64_encode(file, sizeof(file) - 1, b64);
	assert_int_equal(
	    restore(g, b64, PWS(PW1, PW2, PW3), NULL, &why), TKM_ERR_INPUT);
	{
		uint8_t longer[HSM_BACKUP_LEN + 3] = {0};

		memcpy(longer, file, sizeof(file));
		tkm_b64_encode(longer, sizeof(longer), b64);
		assert_int_equal(
		    restore(g, b64, PWS(PW1, PW2, PW3), NULL, &why),
		    TKM_ERR_INPUT);
	}
	assert_int_equal(
	    restore(g, "not base64!", PWS(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_INPUT);
	g->s.roles = HSM_ROLES_A;
	assert_int_equal(
	    run(g, op_dk_restore, "{" PWS(PW1, PW2, PW3) "}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "dk.backup"));
	expect_untouched(g);
	/* and the good one still goes in */
	assert_int_equal(
	    restore(g, good, PWS(PW1, PW2, PW3), NULL, &why), TKM_OK);
	free(good);
	fx_free(g);
}

/* seal quorum: dk.backup only; the next start stays sealed. */
static void
test_restore_quorum(void **state)
{
	struct fx *f = *state, *g = fx_new(1);
	struct hsm_dk *dk = NULL;
	const char *why;
	json_t *r;
	char *b64;

	ceremony(f);
	b64 = export(f);
	g->t->cfg.seal = HSM_SEAL_QUORUM;
	assert_int_equal(restore(g, b64, PWS(PW1, PW2, PW3), &r, &why), TKM_OK);
	assert_string_equal(get(r, "seal"), "quorum");
	json_decref(r);
	assert_true(exists(g, HSM_SEAL_BACKUP));
	assert_false(exists(g, HSM_SEAL_SEALED));
	assert_int_equal(
	    hsm_seal_start(g->t->dir, HSM_SEAL_QUORUM, &dk, &why), TKM_OK);
	assert_null(dk);
	free(b64);
	fx_free(g);
}

/* --- maintenance key pair
 * ----------------------------------------------------- */

static void
test_mkey_generate(void **state)
{
	struct fx *f = *state;
	struct hsm_keystore *ks = NULL;
	struct hsm_key_info info;
	struct hsm_libbak_info bi;
	struct tkm_sm2 *k = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN], d[TKM_SM2_PRIV_LEN], got[TKM_SM2_PUB_LEN];
	uint8_t *file;
	char serial[HSM_SERIAL_MAX + 1], fp[17];
	const char *why, *b64;
	size_t n, len;
	json_t *r, *s;

	f->s.roles = HSM_ROLES_A;
	assert_int_equal(
	    run(f, op_mkey_show, "{}", NULL, &why), TKM_ERR_NO_KEY);
	assert_string_equal(why, "no maintenance public key: mkey import");
	/* bad index */
	assert_int_equal(run(f, op_mkey_generate, "{\"index\":0}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_mkey_generate, "{\"index\":21}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_mkey_generate, "{\"index\":\"20\"}", NULL, &why),
	    TKM_ERR_INPUT);

	assert_int_equal(run(f, op_mkey_generate, "{}", &r, &why), TKM_OK);
	assert_int_equal(json_integer_value(json_object_get(r, "index")), 20);
	assert_int_equal(
	    hsmtest_unhex(get(r, "public"), pub, sizeof(pub)), TKM_SM2_PUB_LEN);
	hsm_pub_fingerprint(pub, fp);
	assert_string_equal(get(r, "fingerprint"), fp);
	/* stored at 20 of the SM2 library as EI stores a pair */
	assert_int_equal(
	    hsm_keystore_open(f->t->dir, atomic_load(&f->t->st.dk), &ks),
	    TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(ks, HSM_LIB_SM2, 20, &info, d, sizeof(d), &len),
	    TKM_OK);
	assert_int_equal(len, sizeof(d));
	assert_string_equal(info.type, "SM2");
	assert_string_equal(info.usage, "0");
	assert_string_equal(info.label, "maintenance key pair");
	assert_string_equal(hsmtest_hex(info.kcv, 8), fp);
	assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, got), TKM_OK);
	assert_memory_equal(got, pub, sizeof(pub));
	tkm_sm2_free(k);
	tkm_cleanse(d, sizeof(d));
	/* the backup of that one pair, made by this HSM */
	b64 = get(r, "file");
	assert_non_null(b64);
	assert_non_null(file = malloc(strlen(b64)));
	assert_int_equal(
	    tkm_b64_decode(b64, strlen(b64), file, strlen(b64), &n), TKM_OK);
	assert_int_equal(hsm_libbak_peek(file, n, &bi, &why), TKM_OK);
	assert_int_equal(bi.lib, HSM_LIB_SM2);
	assert_int_equal(bi.count, 1);
	assert_int_equal(hsm_ident_serial(f->a, serial), TKM_OK);
	assert_string_equal(bi.serial, serial);
	assert_string_equal(hsmtest_hex(bi.dk_kcv, 8), DK_KCV);
	free(file);
	/* and this HSM's maintenance public key */
	assert_int_equal(run(f, op_mkey_show, "{}", &s, &why), TKM_OK);
	assert_string_equal(get(s, "public"), get(r, "public"));
	assert_string_equal(get(s, "fingerprint"), fp);
	json_decref(s);
	json_decref(r);
	/* the index is taken now */
	assert_int_equal(run(f, op_mkey_generate, "{\"index\":20}", NULL, &why),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "holds a key"));
	/* another index: a new pair, the new maintenance key */
	assert_int_equal(
	    run(f, op_mkey_generate, "{\"index\":3}", &r, &why), TKM_OK);
	assert_int_equal(json_integer_value(json_object_get(r, "index")), 3);
	assert_int_equal(run(f, op_mkey_show, "{}", &s, &why), TKM_OK);
	assert_string_equal(get(s, "fingerprint"), get(r, "fingerprint"));
	assert_string_not_equal(get(s, "fingerprint"), fp);
	json_decref(s);
	json_decref(r);
	assert_int_equal(
	    hsm_keystore_get(ks, HSM_LIB_SM2, 3, &info, NULL, 0, NULL), TKM_OK);
	hsm_keystore_close(ks);
}

static void
test_mkey_import(void **state)
{
	static const struct {
		const char *args;
		int rc;
	} bad[] = {
	    {"{}", TKM_ERR_INPUT},
	    {"{\"public\":7}", TKM_ERR_INPUT},
	    {"{\"public\":\"0123\"}", TKM_ERR_INPUT},
	    {"{\"public\":\"05" SAMPLE_PUB "\"}", TKM_ERR_INPUT},
	    {"{\"public\":\"" SAMPLE_PUB "00\"}", TKM_ERR_INPUT},
	    {"{\"public\":\"G" SAMPLE_PUB "\"}", TKM_ERR_INPUT},
	    /* the last bit of Y flipped: not on the curve */
	    {"{\"public\":\"09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC07"
	     "6BB08FF356F35020CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E08"
	     "4A6632F6072DA9AD12\"}",
		TKM_ERR_ASYM_KEY},
	};
	struct fx *f = *state;
	const char *why;
	json_t *r;
	size_t i;

	f->s.roles = HSM_ROLES_A;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (run(f, op_mkey_import, bad[i].args, NULL, &why) !=
		    bad[i].rc)
			fail_msg("case %zu: %s", i, why ? why : "ok");
		assert_non_null(why);
	}
	assert_int_equal(
	    run(f, op_mkey_show, "{}", NULL, &why), TKM_ERR_NO_KEY);
	assert_int_equal(run(f, op_mkey_import,
			     "{\"public\":\"04" SAMPLE_PUB "\"}", &r, &why),
	    TKM_OK);
	assert_string_equal(get(r, "fingerprint"), SAMPLE_FP);
	json_decref(r);
	/* any role may look */
	f->s.roles = HSM_ROLE_D;
	assert_int_equal(run(f, op_mkey_show, "{}", &r, &why), TKM_OK);
	assert_string_equal(get(r, "public"), SAMPLE_PUB);
	assert_string_equal(get(r, "fingerprint"), SAMPLE_FP);
	json_decref(r);
	/* admin.db edited: refused, and says so */
	{
		char v[512];

		assert_int_equal(
		    hsm_admin_get(f->a, "mkey", v, sizeof(v)), TKM_OK);
		v[100] = v[100] == 'A' ? 'B' : 'A';
		assert_int_equal(hsm_admin_set(f->a, "mkey", v), TKM_OK);
	}
	assert_int_equal(
	    run(f, op_mkey_show, "{}", NULL, &why), TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "altered"));
	/* importing again repairs it */
	f->s.roles = HSM_ROLES_A;
	assert_int_equal(run(f, op_mkey_import,
			     "{\"public\":\"" SAMPLE_PUB "\"}", NULL, &why),
	    TKM_OK);
	assert_int_equal(run(f, op_mkey_show, "{}", NULL, &why), TKM_OK);
}

/* Sealed: the handlers refuse too (the table says HSM_OP_DK). */
static void
test_mkey_sealed(void **state)
{
	struct fx *f = *state;
	const char *why;

	f->s.roles = HSM_ROLES_A;
	assert_int_equal(
	    run(f, op_mkey_generate, "{}", NULL, &why), TKM_ERR_SEALED);
	assert_int_equal(run(f, op_mkey_import,
			     "{\"public\":\"" SAMPLE_PUB "\"}", NULL, &why),
	    TKM_ERR_SEALED);
	assert_int_equal(
	    run(f, op_mkey_show, "{}", NULL, &why), TKM_ERR_SEALED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_export_dev, setup_dk, teardown),
	    cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_restore_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_restore_quorum, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_mkey_generate, setup_dk, teardown),
	    cmocka_unit_test_setup_teardown(
		test_mkey_import, setup_dk, teardown),
	    cmocka_unit_test_setup_teardown(test_mkey_sealed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
