/*
 * test_ops_mot.c - tk.initial, the ministry's initial transport keys
 * (ops_mot.c, docs/mot.md), through the handler with a session holding C,
 * and the keys of a mother card imported under them with A6.
 *
 * Known values, computed independently of libtkm:
 *   KCV of 11...11 as double DES: 3DES-EDE2(1111...11, 0^8) =
 *     82E13665B4624DF5 (python3-cryptography 38 TripleDES, Botan 2.19
 *     BlockCipher("TripleDES") and `openssl enc -des-ede -nopad` agree);
 *   KCV of 11...11 as SM4: SM4(1111...11, 0^16) = F8D06870B9EA321E
 *     E96A1D3B0E2FA5B5, first 8 bytes (python3-cryptography SM4 and
 *     Botan BlockCipher("SM4") agree);
 *   K = 0123456789ABCDEFFEDCBA9876543210 under 11...11: DES
 *     8A5AE1F81AB8F2DD697C55FAAC85ABC0, KCV 08D7B4FB629D0885; SM4
 *     AE41DD070671087654201D2116482E65, KCV 2677F46B09C122CC
 *     (python3-cryptography, ECB), as in tests/unit/test_motcard.c.
 */
#include "hsmtest.h"

#include "mgmt.h"
#include "ops.h"
#include "tkm/motcard.h"

#define KCV_DES "82E13665B4624DF5"
#define KCV_SM4 "F8D06870B9EA321E"
#define CT_D    "8A5AE1F81AB8F2DD697C55FAAC85ABC0"
#define KCV_D   "08D7B4FB629D0885"
#define CT_S    "AE41DD070671087654201D2116482E65"
#define KCV_S   "2677F46B09C122CC"

struct fx {
	struct hsmtest *t;
	struct hsm_session s;
	struct hsm_op_ctx c;
	const char *why;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(1);
	f->s.roles = HSM_ROLE_C;
	f->c.st = &f->t->st;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:4242";
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

/* Run op with args (JSON text), expecting rc want; the result (caller
 * decrefs). A refusal must say why, except for a sealed HSM. */
static json_t *
run(struct fx *f, hsm_op_fn *op, const char *args, int want)
{
	json_t *a = json_loads(args, 0, NULL), *r = json_object();
	int rc;

	assert_non_null(a);
	assert_non_null(r);
	f->why = NULL;
	rc = op(&f->c, a, r, &f->why);
	if (rc != want)
		fail_msg("%s: rc %d (%s), want %d", args, rc,
		    f->why != NULL ? f->why : "-", want);
	if (want != TKM_OK && want != TKM_ERR_SEALED)
		assert_non_null(f->why);
	json_decref(a);
	return r;
}

static void
run0(struct fx *f, hsm_op_fn *op, const char *args, int want)
{
	json_decref(run(f, op, args, want));
}

static const char *
sub(json_t *r, const char *obj, const char *name)
{
	const char *s =
	    json_string_value(json_object_get(json_object_get(r, obj), name));

	assert_non_null(s);
	return s;
}

static void
test_row(void **state)
{
	const struct hsm_op *op = hsm_op_find("tk.initial");

	(void)state;
	assert_non_null(op);
	assert_ptr_equal(op->fn, op_tk_initial);
	assert_int_equal(op->need, HSM_ROLE_C);
	assert_true(op->flags & HSM_OP_DK);
	assert_false(op->flags & HSM_OP_PUBLIC);
}

/* The documented TKs with their known KCVs, and keys imported under
 * them. */
static void
test_initial(void **state)
{
	struct fx *f = *state;
	json_t *r;

	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
	r = run(f, op_tk_initial, "{}", TKM_OK);
	assert_string_equal(sub(r, "des", "index"), "K000");
	assert_string_equal(sub(r, "des", "type"), "000");
	assert_string_equal(sub(r, "des", "kcv16"), KCV_DES);
	assert_string_equal(sub(r, "des", "kcv"), "82E136");
	assert_string_equal(sub(r, "sm4", "index"), "K100");
	assert_string_equal(sub(r, "sm4", "type"), "000");
	assert_string_equal(sub(r, "sm4", "kcv16"), KCV_SM4);
	assert_string_equal(sub(r, "sm4", "kcv"), "F8D068");
	json_decref(r);
	/* stored as type 000 in the DES and the SM4 library */
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000K000", NULL), "BV00" KCV_DES);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000K100S", NULL), "BV00" KCV_SM4);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K100", NULL), "BV12");
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000S", NULL), "BV12");
	assert_string_equal(hsmtest_cmd(f->t, "BU109K000", NULL), "BV28");
	/* a mother card's keys import under them (A6 as `tkms mot import`
	 * sends it: first without storing, then stored) */
	assert_true(strncmp(hsmtest_cmd(f->t, "A6T109K000X" CT_D "X", NULL),
			"A700", 4) == 0);
	assert_string_equal(
	    hsmtest_cmd(f->t, "A6T109K000X" CT_D "X", NULL) + 4 + 33, KCV_D);
	assert_string_equal(
	    hsmtest_cmd(f->t, "A6T109K000X" CT_D "XK200", NULL) + 4 + 33,
	    KCV_D);
	assert_string_equal(
	    hsmtest_cmd(f->t, "A6T209K100S" CT_S "SK201", NULL) + 4 + 33,
	    KCV_S);
	assert_string_equal(hsmtest_cmd(f->t, "BU109K200", NULL), "BV00" KCV_D);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU209K201S", NULL), "BV00" KCV_S);
	/* step 4: the TKs deleted, nothing more imports */
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": \"000\"}",
	    TKM_OK);
	run0(f, op_keys_delete, "{\"lib\": \"sm4\", \"index\": \"100\"}",
	    TKM_OK);
	assert_string_equal(
	    hsmtest_cmd(f->t, "A6T109K000X" CT_D "XK202", NULL), "A712");
	assert_string_equal(
	    hsmtest_cmd(f->t, "A6T209K100S" CT_S "SK203", NULL), "A712");
	/* the imported keys stay */
	assert_string_equal(hsmtest_cmd(f->t, "BU109K200", NULL), "BV00" KCV_D);
}

/* An occupied index is refused, and then neither key is written. */
static void
test_occupied(void **state)
{
	struct fx *f = *state;

	run0(f, op_tk_initial, "{}", TKM_OK);
	run0(f, op_tk_initial, "{}", TKM_ERR_INDEX);
	assert_non_null(strstr(f->why, "keys.delete"));
	/* DES free, SM4 taken: the DES TK is not written either */
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": \"000\"}",
	    TKM_OK);
	run0(f, op_tk_initial, "{}", TKM_ERR_INDEX);
	assert_non_null(strstr(f->why, "SM4"));
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
	/* SM4 free, DES taken (by another key) */
	run0(f, op_keys_delete, "{\"lib\": \"sm4\", \"index\": \"100\"}",
	    TKM_OK);
	assert_true(
	    strncmp(hsmtest_cmd(f->t, "A02109XK000", NULL), "A100", 4) == 0);
	run0(f, op_tk_initial, "{}", TKM_ERR_INDEX);
	assert_non_null(strstr(f->why, "DES"));
	assert_string_equal(hsmtest_cmd(f->t, "BU000K100S", NULL), "BV12");
	/* elsewhere, by argument */
	run0(f, op_tk_initial, "{\"des_index\": \"K001\"}", TKM_OK);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000K001", NULL), "BV00" KCV_DES);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000K100S", NULL), "BV00" KCV_SM4);
}

static void
test_indexes(void **state)
{
	struct fx *f = *state;
	json_t *r;

	r = run(f, op_tk_initial,
	    "{\"des_index\": \"0A0\", \"sm4_index\": \"KFFF\"}", TKM_OK);
	assert_string_equal(sub(r, "des", "index"), "K0A0");
	assert_string_equal(sub(r, "sm4", "index"), "KFFF");
	json_decref(r);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000K0A0", NULL), "BV00" KCV_DES);
	assert_string_equal(
	    hsmtest_cmd(f->t, "BU000KFFFS", NULL), "BV00" KCV_SM4);
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
	/* lower-case hex is the same index */
	run0(f, op_tk_initial, "{\"des_index\": \"0a0\", \"sm4_index\": \"0\"}",
	    TKM_ERR_INPUT);
	run0(f, op_tk_initial, "{\"des_index\": \"0a0\"}", TKM_ERR_INDEX);
}

static void
test_bad_args(void **state)
{
	static const char *const bad[] = {
	    "{\"des_index\": 5}",
	    "{\"des_index\": \"1000\"}",
	    "{\"des_index\": \"K0G0\"}",
	    "{\"des_index\": \"\"}",
	    "{\"des_index\": \"K\"}",
	    "{\"des_index\": \"KK000\"}",
	    "{\"des_index\": \"00\"}",
	    "{\"des_index\": \" 000\"}",
	    "{\"sm4_index\": null}",
	    "{\"sm4_index\": \"10\"}",
	    "{\"sm4_index\": [\"100\"]}",
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run0(f, op_tk_initial, bad[i], TKM_ERR_INPUT);
		assert_non_null(strstr(f->why, "000..FFF"));
	}
	/* nothing was stored */
	assert_string_equal(hsmtest_cmd(f->t, "BU000K000", NULL), "BV12");
	assert_string_equal(hsmtest_cmd(f->t, "BU000K100S", NULL), "BV12");
}

static void
test_sealed(void **state)
{
	struct fx *f = *state;

	hsm_worker_cleanup(&f->t->w);
	hsm_dk_free(atomic_exchange(&f->t->st.dk, NULL));
	assert_int_equal(hsm_worker_init(&f->t->w, &f->t->st), TKM_OK);
	run0(f, op_tk_initial, "{}", TKM_ERR_SEALED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_row),
	    cmocka_unit_test_setup_teardown(test_initial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_occupied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
