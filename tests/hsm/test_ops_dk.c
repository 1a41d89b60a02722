/*
 * test_ops_dk.c - the device-key ceremony, seal modes, quorum unseal and
 * the transport key (ops_dk.c), through the op handlers with a session
 * holding the roles (the op table's own role check is test_mgmt.c's).
 * A worker started sealed serves DK commands once the ceremony is done;
 * a TK made of components imports and exports keys with A6/A8.
 */
#include "hsmtest.h"

#include <sys/stat.h>

#include "mgmt.h"
#include "ops.h"
#include "seal.h"
#include "tkm/crypto.h"

#define DK_KCV "C8FABC567BA0A5C6" /* of HSMTEST_DK_C1..C3 */
#define PW1    "component pw 1"
#define PW2    "component pw 2"
#define PW3    "component pw 3"
#define TKC1   "0123456789ABCDEFFEDCBA9876543210"
#define TKC2   "89ABCDEF01234567F0E1D2C3B4A59687"
#define TKC3   "FEDCBA98765432100011223344556677"
#define K2     "0123456789ABCDEF0123456789ABCDEF"

/* A harness like hsmtest_new() but sealed: no DK, the worker without a
 * store. */
struct fx {
	struct hsmtest *t;
	struct hsm_session s;
	struct hsm_op_ctx c;
};

static struct hsmtest *
sealed_harness(void)
{
	struct hsm_listener_cfg *l;
	struct hsmtest *t = calloc(1, sizeof(*t));

	assert_non_null(t);
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
	assert_null(t->w.ks);
	return t;
}

static void
fx_ctx(struct fx *f)
{
	memset(&f->c, 0, sizeof(f->c));
	f->c.st = &f->t->st;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:4242";
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = sealed_harness();
	fx_ctx(f);
	*state = f;
	return 0;
}

/* Unsealed with the test DK (hsmtest_new), for the TK tests. */
static int
setup_dk(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(1);
	fx_ctx(f);
	f->s.roles = HSM_ROLE_C;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hsmtest_free(f->t);
	free(f);
	return 0;
}

/* Run op with args given as JSON text; rc, and the result in *out (caller
 * decrefs) or the reason in *why. */
static int
run(struct fx *f, hsm_op_fn *fn, const char *args, json_t **out,
    const char **why)
{
	json_error_t e;
	json_t *a = json_loads(args, 0, &e), *r = json_object();
	const char *w = NULL;
	int rc;

	assert_non_null(a);
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

/* The expected "kcv" and "kcv16" of a component or key. */
static void
expect_kcv(json_t *r, int alg, const char *keyhex)
{
	uint8_t k[16], kcv[8];
	char hex[17];
	size_t n;

	assert_int_equal(
	    tkm_hex_decode(keyhex, strlen(keyhex), k, sizeof(k), &n), TKM_OK);
	assert_int_equal(tkm_kcv(alg, k, n, kcv), TKM_OK);
	tkm_hex_encode(kcv, sizeof(kcv), hex);
	assert_string_equal(get(r, "kcv16"), hex);
	hex[6] = '\0';
	assert_string_equal(get(r, "kcv"), hex);
}

static void
component(struct fx *f, const char *role, const char *hex, const char *pw)
{
	char args[256];
	json_t *r;
	const char *why;

	snprintf(args, sizeof(args),
	    "{\"role\": \"%s\", \"component\": \"%s\", "
	    "\"component_password\": \"%s\"}",
	    role, hex, pw);
	if (run(f, op_dk_component, args, &r, &why) != TKM_OK)
		fail_msg("dk.component %s: %s", role, why);
	assert_string_equal(get(r, "role"), role);
	expect_kcv(r, TKM_SM4, hex);
	assert_null(json_object_get(r, "component")); /* not generated */
	json_decref(r);
}

/* The ceremony with the test components; returns the combine result. */
static json_t *
ceremony(struct fx *f)
{
	json_t *r;
	const char *why;

	f->s.roles = HSM_ROLES_A;
	component(f, "A1", HSMTEST_DK_C1, PW1);
	component(f, "A2", HSMTEST_DK_C2, PW2);
	component(f, "A3", HSMTEST_DK_C3, PW3);
	if (run(f, op_dk_combine, "{}", &r, &why) != TKM_OK)
		fail_msg("dk.combine: %s", why);
	return r;
}

static int
exists(struct fx *f, const char *name)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", f->t->dir, name);
	return stat(path, &sb) == 0;
}

/* Forget DK as a restart would (the files stay). */
static void
restart(struct fx *f)
{
	hsm_worker_cleanup(&f->t->w);
	hsm_dk_free(atomic_exchange(&f->t->st.dk, NULL));
	assert_int_equal(hsm_worker_init(&f->t->w, &f->t->st), TKM_OK);
}

/* --- the ceremony -------------------------------------------------------- */

static void
test_known_kcv(void **state)
{
	struct fx *f = *state;
	struct hsm_keystore *ks = NULL;
	struct hsm_dk *other = NULL;
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN] = {{1}};
	json_t *r = ceremony(f);

	assert_string_equal(get(r, "kcv16"), DK_KCV);
	assert_string_equal(get(r, "kcv"), "C8FABC");
	assert_string_equal(get(r, "seal"), "local");
	json_decref(r);
	assert_non_null(atomic_load(&f->t->st.dk));
	assert_true(exists(f, HSM_SEAL_BACKUP));
	assert_true(exists(f, HSM_SEAL_SEALED));
	assert_true(exists(f, HSM_SEAL_MACHINE));
	/* keys.db now belongs to this DK */
	assert_int_equal(hsm_dk_new(c, &other), TKM_OK);
	assert_int_equal(
	    hsm_keystore_open(f->t->dir, other, &ks), TKM_ERR_SEALED);
	hsm_dk_free(other);
	assert_int_equal(
	    hsm_keystore_open(f->t->dir, atomic_load(&f->t->st.dk), &ks),
	    TKM_OK);
	hsm_keystore_close(ks);
}

static void
test_generated(void **state)
{
	struct fx *f = *state;
	static const char *const roles[] = {"A1", "A2", "A3"};
	uint8_t dk[HSM_DK_LEN] = {0}, c[HSM_DK_LEN], kcv[8];
	char hex[17], args[160];
	const char *why;
	json_t *r;
	size_t i, j, n;

	f->s.roles = HSM_ROLES_A;
	for (i = 0; i < 3; i++) {
		snprintf(args, sizeof(args),
		    "{\"role\": \"%s\", \"generate\": true, "
		    "\"component_password\": \"%s\"}",
		    roles[i], PW1);
		assert_int_equal(
		    run(f, op_dk_component, args, &r, &why), TKM_OK);
		assert_non_null(get(r, "component"));
		assert_int_equal(strlen(get(r, "component")), 32);
		expect_kcv(r, TKM_SM4, get(r, "component"));
		assert_int_equal(
		    tkm_hex_decode(get(r, "component"), 32, c, sizeof(c), &n),
		    TKM_OK);
		for (j = 0; j < HSM_DK_LEN; j++)
			dk[j] ^= c[j];
		json_decref(r);
	}
	assert_int_equal(run(f, op_dk_combine, "{}", &r, &why), TKM_OK);
	assert_int_equal(tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, kcv), TKM_OK);
	tkm_hex_encode(kcv, sizeof(kcv), hex);
	assert_string_equal(get(r, "kcv16"), hex);
	json_decref(r);
}

static void
test_bad_args_and_roles(void **state)
{
	static const struct {
		unsigned roles;
		const char *args;
		int rc;
	} cases[] = {
	    /* the role entered must be logged in */
	    {HSM_ROLE_A1,
		"{\"role\":\"A2\",\"component\":\"" HSMTEST_DK_C2
		"\",\"component_password\":\"" PW2 "\"}",
		TKM_ERR_PERMISSION},
	    {HSM_ROLE_C,
		"{\"role\":\"C\",\"component\":\"" HSMTEST_DK_C2
		"\",\"component_password\":\"" PW2 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1 | HSM_ROLE_A2,
		"{\"component\":\"" HSMTEST_DK_C2
		"\",\"component_password\":\"" PW2 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A4\",\"component\":\"" HSMTEST_DK_C2
		"\",\"component_password\":\"" PW2 "\"}",
		TKM_ERR_INPUT},
	    /* password */
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component\":\"" HSMTEST_DK_C1
		"\",\"component_password\":\"1234567\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component\":\"" HSMTEST_DK_C1 "\"}",
		TKM_ERR_INPUT},
	    /* component */
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component_password\":\"" PW1 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"generate\":true,\"component\":"
		"\"" HSMTEST_DK_C1 "\",\"component_password\":\"" PW1 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"generate\":1,\"component_password\":\"" PW1
		"\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component\":\"0123\","
		"\"component_password\":\"" PW1 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component\":"
		"\"0123456789ABCDEFFEDCBA987654321G\","
		"\"component_password\":\"" PW1 "\"}",
		TKM_ERR_INPUT},
	    {HSM_ROLE_A1,
		"{\"role\":\"A1\",\"component\":7,"
		"\"component_password\":\"" PW1 "\"}",
		TKM_ERR_INPUT},
	};
	struct fx *f = *state;
	const char *why;
	size_t i;
	json_t *r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->s.roles = cases[i].roles;
		why = NULL;
		if (run(f, op_dk_component, cases[i].args, NULL, &why) !=
		    cases[i].rc)
			fail_msg("case %zu: %s", i, why ? why : "(ok)");
		assert_non_null(why);
	}
	/* The session's only A role is the default. */
	f->s.roles = HSM_ROLE_A2 | HSM_ROLE_C;
	assert_int_equal(run(f, op_dk_component,
			     "{\"component\":\"" HSMTEST_DK_C2
			     "\",\"component_password\":\"" PW2 "\"}",
			     &r, &why),
	    TKM_OK);
	assert_string_equal(get(r, "role"), "A2");
	json_decref(r);
	/* Combine with A1 and A3 missing; the pending A2 stays. */
	f->s.roles = HSM_ROLES_A;
	assert_int_equal(
	    run(f, op_dk_combine, "{}", NULL, &why), TKM_ERR_INPUT);
	component(f, "A1", "00000000000000000000000000000000", PW1);
	component(f, "A1", HSMTEST_DK_C1, PW1); /* again: the last counts */
	assert_int_equal(
	    run(f, op_dk_combine, "{}", NULL, &why), TKM_ERR_INPUT);
	component(f, "A3", HSMTEST_DK_C3, PW3);
	assert_int_equal(run(f, op_dk_combine, "{}", &r, &why), TKM_OK);
	assert_string_equal(get(r, "kcv16"), DK_KCV);
	json_decref(r);
	/* Nothing waits any more. */
	restart(f);
	assert_int_equal(
	    run(f, op_unseal,
		"{\"components\":{\"A1\":{\"component_password\":"
		"\"" PW1 "\"},\"A2\":{\"component_password\":\"" PW2
		"\"},\"A3\":{\"component_password\":\"" PW3 "\"}}}",
		NULL, &why),
	    TKM_OK);
}

static void
test_double_combine(void **state)
{
	struct fx *f = *state;
	const char *why;

	json_decref(ceremony(f));
	assert_int_equal(
	    run(f, op_dk_combine, "{}", NULL, &why), TKM_ERR_PERMISSION);
	assert_non_null(strstr(why, "zeroise"));
	assert_int_equal(run(f, op_dk_component,
			     "{\"role\":\"A1\",\"generate\":true,"
			     "\"component_password\":\"" PW1 "\"}",
			     NULL, &why),
	    TKM_ERR_PERMISSION);
	/* Sealed after a restart, the files still say a DK exists. */
	restart(f);
	assert_null(atomic_load(&f->t->st.dk));
	assert_int_equal(run(f, op_dk_component,
			     "{\"role\":\"A1\",\"generate\":true,"
			     "\"component_password\":\"" PW1 "\"}",
			     NULL, &why),
	    TKM_ERR_PERMISSION);
	assert_int_equal(
	    run(f, op_dk_combine, "{}", NULL, &why), TKM_ERR_PERMISSION);
}

/* tk.* need DK: the op table says so, and the handler checks it too. */
static void
test_tk_sealed(void **state)
{
	struct fx *f = *state;
	const char *why;

	f->s.roles = HSM_ROLE_C;
	assert_int_equal(run(f, op_tk_combine,
			     "{\"alg\":\"des\",\"index\":\"000\"}", NULL, &why),
	    TKM_ERR_SEALED);
}

/* --- seal modes ---------------------------------------------------------- */

static void
test_local_restart(void **state)
{
	struct fx *f = *state;
	struct hsm_dk *dk = NULL;
	const char *msg;
	uint8_t kcv[8], key[32];
	char hex[17], path[128];
	FILE *fp;

	json_decref(ceremony(f));
	restart(f);
	assert_int_equal(
	    hsm_seal_start(f->t->dir, HSM_SEAL_LOCAL, &dk, &msg), TKM_OK);
	assert_non_null(dk);
	hsm_dk_kcv(dk, kcv);
	tkm_hex_encode(kcv, sizeof(kcv), hex);
	assert_string_equal(hex, DK_KCV);
	hsm_dk_free(dk);
	/* a wrong machine key: sealed with an error */
	snprintf(path, sizeof(path), "%s/%s", f->t->dir, HSM_SEAL_MACHINE);
	memset(key, 0xA5, sizeof(key));
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(key, 1, sizeof(key), fp), sizeof(key));
	fclose(fp);
	assert_int_equal(hsm_seal_start(f->t->dir, HSM_SEAL_LOCAL, &dk, &msg),
	    TKM_ERR_VERIFY);
	assert_null(dk);
}

#define UNSEAL(p1, p2, p3)                                                     \
	"{\"components\":{\"A1\":{\"component_password\":\"" p1 "\"},"         \
	"\"A2\":{\"component_password\":\"" p2 "\"},"                          \
	"\"A3\":{\"component_password\":\"" p3 "\"}}}"

static void
test_quorum(void **state)
{
	struct fx *f = *state;
	struct hsm_dk *dk = NULL;
	const char *why;
	json_t *r;

	f->t->cfg.seal = HSM_SEAL_QUORUM;
	r = ceremony(f);
	assert_string_equal(get(r, "seal"), "quorum");
	json_decref(r);
	assert_true(exists(f, HSM_SEAL_BACKUP));
	assert_false(exists(f, HSM_SEAL_SEALED));
	assert_false(exists(f, HSM_SEAL_MACHINE));
	assert_int_equal(run(f, op_unseal, UNSEAL(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_PERMISSION); /* already unsealed */
	restart(f);
	assert_int_equal(
	    hsm_seal_start(f->t->dir, HSM_SEAL_QUORUM, &dk, &why), TKM_OK);
	assert_null(dk);
	/* wrong passwords, missing ones */
	assert_int_equal(
	    run(f, op_unseal, UNSEAL(PW1, PW2, "wrong pw 3"), NULL, &why),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "A3"));
	assert_int_equal(run(f, op_unseal, UNSEAL(PW2, PW1, PW3), NULL, &why),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "A1"));
	assert_int_equal(run(f, op_unseal,
			     "{\"components\":{\"A1\":{\"component_password\":"
			     "\"" PW1 "\"}}}",
			     NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_unseal, "{}", NULL, &why), TKM_ERR_INPUT);
	assert_null(atomic_load(&f->t->st.dk));
	/* right ones */
	assert_int_equal(
	    run(f, op_unseal, UNSEAL(PW1, PW2, PW3), &r, &why), TKM_OK);
	assert_string_equal(get(r, "kcv16"), DK_KCV);
	assert_null(json_object_get(r, "resealed")); /* quorum: no file */
	json_decref(r);
	assert_non_null(atomic_load(&f->t->st.dk));
	assert_false(exists(f, HSM_SEAL_SEALED));
}

static void
test_unseal_tampered(void **state)
{
	struct fx *f = *state;
	char path[128];
	uint8_t buf[512];
	const char *why;
	size_t n;
	FILE *fp;

	f->t->cfg.seal = HSM_SEAL_QUORUM;
	assert_int_equal(run(f, op_unseal, UNSEAL(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_NO_KEY);
	json_decref(ceremony(f));
	restart(f);
	snprintf(path, sizeof(path), "%s/%s", f->t->dir, HSM_SEAL_BACKUP);
	assert_non_null(fp = fopen(path, "r+b"));
	n = fread(buf, 1, sizeof(buf), fp);
	buf[8] ^= 0x40; /* the KCV of DK */
	rewind(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
	assert_int_equal(run(f, op_unseal, UNSEAL(PW1, PW2, PW3), NULL, &why),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "altered"));
	assert_null(atomic_load(&f->t->st.dk));
}

/* seal local with a lost machine key: the quorum unseal makes it anew. */
static void
test_local_reseal(void **state)
{
	struct fx *f = *state;
	struct hsm_dk *dk = NULL;
	const char *why;
	char path[128];
	json_t *r;

	json_decref(ceremony(f));
	restart(f);
	snprintf(path, sizeof(path), "%s/%s", f->t->dir, HSM_SEAL_MACHINE);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(hsm_seal_start(f->t->dir, HSM_SEAL_LOCAL, &dk, &why),
	    TKM_ERR_VERIFY);
	assert_int_equal(
	    run(f, op_unseal, UNSEAL(PW1, PW2, PW3), &r, &why), TKM_OK);
	assert_true(json_is_true(json_object_get(r, "resealed")));
	json_decref(r);
	assert_int_equal(
	    hsm_seal_start(f->t->dir, HSM_SEAL_LOCAL, &dk, &why), TKM_OK);
	assert_non_null(dk);
	hsm_dk_free(dk);
}

/* A worker started sealed opens its store at the first DK command after
 * the ceremony. */
static void
test_worker_after_unseal(void **state)
{
	struct fx *f = *state;
	const char *why;

	f->t->cfg.seal = HSM_SEAL_QUORUM;
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV13");
	assert_memory_equal(hsmtest_cmd(f->t, "NC", NULL), "ND00", 4);
	json_decref(ceremony(f));
	assert_null(f->t->w.ks);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
	assert_non_null(f->t->w.ks);
	/* and after a restart and a quorum unseal */
	restart(f);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV13");
	f->s.roles = HSM_ROLES_A;
	assert_int_equal(
	    run(f, op_unseal, UNSEAL(PW1, PW2, PW3), NULL, &why), TKM_OK);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
}

/* --- transport key ------------------------------------------------------- */

static void
tk_component(struct fx *f, const char *alg, const char *hex, int entered)
{
	char args[160];
	const char *why;
	json_t *r;

	snprintf(args, sizeof(args), "{\"alg\":\"%s\",\"component\":\"%s\"}",
	    alg, hex);
	if (run(f, op_tk_component, args, &r, &why) != TKM_OK)
		fail_msg("tk.component: %s", why);
	expect_kcv(r, strcmp(alg, "des") == 0 ? TKM_DES : TKM_SM4, hex);
	assert_int_equal(
	    json_integer_value(json_object_get(r, "entered")), entered);
	assert_null(json_object_get(r, "component"));
	json_decref(r);
}

/* TK = C1 ^ C2 ^ C3 (DES: odd parity), as hex. */
static void
tk_clear(int alg, char out[33])
{
	const uint8_t *p[3];
	uint8_t c[3][16], k[16];
	size_t i, n;

	assert_int_equal(tkm_hex_decode(TKC1, 32, c[0], 16, &n), TKM_OK);
	assert_int_equal(tkm_hex_decode(TKC2, 32, c[1], 16, &n), TKM_OK);
	assert_int_equal(tkm_hex_decode(TKC3, 32, c[2], 16, &n), TKM_OK);
	for (i = 0; i < 3; i++)
		p[i] = c[i];
	assert_int_equal(tkm_components_combine(alg, 16, p, 3, k), TKM_OK);
	tkm_hex_encode(k, 16, out);
}

/* K2 under the clear TK, with its scheme letter. */
static void
under(int alg, const char *tkhex, char out[34])
{
	uint8_t tk[16], k[16], ct[16];
	size_t n;

	assert_int_equal(tkm_hex_decode(tkhex, 32, tk, 16, &n), TKM_OK);
	assert_int_equal(tkm_hex_decode(K2, 32, k, 16, &n), TKM_OK);
	assert_int_equal(
	    tkm_cipher(alg, TKM_ECB, TKM_ENCRYPT, tk, 16, NULL, k, 16, ct),
	    TKM_OK);
	out[0] = alg == TKM_DES ? 'X' : 'S';
	tkm_hex_encode(ct, 16, out + 1);
}

static void
tk_make(struct fx *f, const char *alg, const char *index)
{
	char args[64];
	const char *why;
	json_t *r;
	char tk[33];

	tk_component(f, alg, TKC1, 1);
	tk_component(f, alg, TKC2, 2);
	tk_component(f, alg, TKC3, 3);
	snprintf(args, sizeof(args), "{\"alg\":\"%s\",\"index\":\"%s\"}", alg,
	    index);
	if (run(f, op_tk_combine, args, &r, &why) != TKM_OK)
		fail_msg("tk.combine: %s", why);
	tk_clear(strcmp(alg, "des") == 0 ? TKM_DES : TKM_SM4, tk);
	expect_kcv(r, strcmp(alg, "des") == 0 ? TKM_DES : TKM_SM4, tk);
	assert_string_equal(get(r, "type"), "000");
	json_decref(r);
}

static void
test_tk_import_export(void **state)
{
	struct fx *f = *state;
	char tk[33], ct[34], req[96], kcv[17];
	uint8_t k[16], v[8];
	const char *resp;
	size_t n;

	tk_make(f, "des", "K000");
	tk_make(f, "sm4", "100");
	assert_int_equal(tkm_hex_decode(K2, 32, k, 16, &n), TKM_OK);
	/* A6 under the DES TK at K000: stores K2 at K030 */
	tk_clear(TKM_DES, tk);
	under(TKM_DES, tk, ct);
	snprintf(req, sizeof(req), "A6T008K000%sXK030", ct);
	resp = hsmtest_cmd(f->t, req, NULL);
	assert_memory_equal(resp, "A700", 4);
	assert_int_equal(tkm_kcv(TKM_DES, k, 16, v), TKM_OK);
	tkm_hex_encode(v, 8, kcv);
	assert_string_equal(resp + strlen(resp) - 16, kcv);
	/* A8 exports it back under the same TK */
	resp = hsmtest_cmd(f->t, "A8T008K000K030X", NULL);
	assert_memory_equal(resp, "A900", 4);
	assert_memory_equal(resp + 4, ct, 33);
	/* the SM4 TK at K100 */
	tk_clear(TKM_SM4, tk);
	under(TKM_SM4, tk, ct);
	snprintf(req, sizeof(req), "A6T008K100%sSK030", ct);
	resp = hsmtest_cmd(f->t, req, NULL);
	assert_memory_equal(resp, "A700", 4);
	assert_int_equal(tkm_kcv(TKM_SM4, k, 16, v), TKM_OK);
	tkm_hex_encode(v, 8, kcv);
	assert_string_equal(resp + strlen(resp) - 16, kcv);
}

static void
test_tk_errors(void **state)
{
	struct fx *f = *state;
	char tk[33], want[21];
	uint8_t k[16], v[8];
	const char *why;
	json_t *r;
	size_t n;

	assert_int_equal(
	    run(f, op_tk_component, "{\"component\":\"" TKC1 "\"}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_tk_component,
		"{\"alg\":\"aes\",\"component\":\"" TKC1 "\"}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_tk_component, "{\"alg\":\"des\"}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_tk_combine,
			     "{\"alg\":\"des\",\"index\":\"000\"}", NULL, &why),
	    TKM_ERR_INPUT); /* nothing entered */
	/* generated: shown once */
	assert_int_equal(run(f, op_tk_component,
			     "{\"alg\":\"des\",\"generate\":true}", &r, &why),
	    TKM_OK);
	assert_int_equal(strlen(get(r, "component")), 32);
	expect_kcv(r, TKM_DES, get(r, "component"));
	json_decref(r);
	/* the other alg while DES components wait */
	assert_int_equal(
	    run(f, op_tk_component,
		"{\"alg\":\"sm4\",\"component\":\"" TKC1 "\"}", NULL, &why),
	    TKM_ERR_INPUT);
	tk_component(f, "des", TKC2, 2);
	assert_int_equal(run(f, op_tk_combine,
			     "{\"alg\":\"des\",\"index\":\"001\"}", NULL, &why),
	    TKM_ERR_INPUT); /* two of three */
	tk_component(f, "des", TKC3, 3);
	assert_int_equal(
	    run(f, op_tk_component,
		"{\"alg\":\"des\",\"component\":\"" TKC1 "\"}", NULL, &why),
	    TKM_ERR_INPUT); /* a fourth */
	/* bad index; index taken: the components stay for another one */
	assert_int_equal(
	    run(f, op_tk_combine, "{\"alg\":\"des\",\"index\":\"1000\"}", NULL,
		&why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_tk_combine, "{\"alg\":\"des\",\"index\":\"K0G0\"}", NULL,
		&why),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_tk_combine,
			     "{\"alg\":\"sm4\",\"index\":\"001\"}", NULL, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_tk_combine,
			     "{\"alg\":\"des\",\"index\":\"K001\"}", &r, &why),
	    TKM_OK);
	assert_string_equal(get(r, "index"), "K001");
	json_decref(r);
	tk_make(f, "des", "K002");
	tk_component(f, "des", TKC1, 1);
	tk_component(f, "des", TKC2, 2);
	tk_component(f, "des", TKC3, 3);
	assert_int_equal(
	    run(f, op_tk_combine, "{\"alg\":\"des\",\"index\":\"K002\"}", NULL,
		&why),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "keys.delete"));
	assert_int_equal(
	    run(f, op_tk_combine, "{\"alg\":\"des\",\"index\":\"K003\"}", NULL,
		&why),
	    TKM_OK);
	/* the stored TK is type 000 with its KCV */
	tk_clear(TKM_DES, tk);
	assert_int_equal(tkm_hex_decode(tk, 32, k, sizeof(k), &n), TKM_OK);
	assert_int_equal(tkm_kcv(TKM_DES, k, 16, v), TKM_OK);
	memcpy(want, "BV00", 4);
	tkm_hex_encode(v, sizeof(v), want + 4);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K003", NULL), want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_known_kcv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generated, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_bad_args_and_roles, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_double_combine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tk_sealed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_local_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quorum, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_unseal_tampered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_reseal, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_worker_after_unseal, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_tk_import_export, setup_dk, teardown),
	    cmocka_unit_test_setup_teardown(test_tk_errors, setup_dk, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
