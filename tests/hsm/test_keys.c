/*
 * test_keys.c - key references to keys (keys.h): every form of
 * protocol.md §2 and every error, type checks, storing, and the per-worker
 * cache of asymmetric keys.
 */
#include "hsmtest.h"

#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

struct fix {
	struct hsmtest *t;
	struct hsm_cmd_ctx c;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(1);
	f->c = hsmtest_ctx(f->t);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsmtest_free(f->t);
	free(f);
	return 0;
}

static struct hsm_key
mkkey(int alg, const char *type, size_t len, uint8_t seed)
{
	struct hsm_key k;
	size_t i;

	memset(&k, 0, sizeof(k));
	k.alg = alg;
	snprintf(k.type, sizeof(k.type), "%s", type);
	k.len = len;
	for (i = 0; i < len; i++)
		k.k[i] = (uint8_t)(seed + 13 * i);
	if (alg == TKM_DES)
		tkm_des_parity_set(k.k, len);
	return k;
}

/* Read ref (a C string) and check what is left of it afterwards. */
static int
read_ref(struct fix *f, const char *ref, int alg, const char *type,
    struct hsm_key *slot, size_t *left)
{
	struct tkm_rd rd = tkm_rd_of(ref, strlen(ref));
	int rc;

	rc = hsm_key_read(&f->c, &rd, alg, type, slot);
	*left = rd.len;
	return rc;
}

/* --- K+3H ------------------------------------------------------------------
 */

static void
test_read_index(void **state)
{
	struct fix *f = *state;
	struct hsm_key des = mkkey(TKM_DES, "001", 16, 1);
	struct hsm_key sm4 = mkkey(TKM_SM4, "001", 16, 2);
	struct hsm_key *s = hsm_slot(&f->c, 0);
	size_t left;

	assert_int_equal(hsm_key_store(&f->c, &des, 0x1A, "zpk"), TKM_OK);
	assert_int_equal(hsm_key_store(&f->c, &sm4, 0x1A, NULL), TKM_OK);
	/* The algorithm chooses the library (protocol.md §2). */
	assert_int_equal(
	    read_ref(f, "K01A;rest", TKM_DES, "001", s, &left), TKM_OK);
	assert_int_equal(left, 5);
	assert_int_equal(s->alg, TKM_DES);
	assert_string_equal(s->type, "001");
	assert_int_equal(s->len, 16);
	assert_memory_equal(s->k, des.k, 16);
	assert_int_equal(read_ref(f, "K01a", TKM_SM4, "001", s, &left), TKM_OK);
	assert_int_equal(left, 0);
	assert_int_equal(s->alg, TKM_SM4);
	assert_memory_equal(s->k, sm4.k, 16);
}

static void
test_read_index_errors(void **state)
{
	static const uint8_t zero[sizeof(struct hsm_key)];
	struct fix *f = *state;
	struct hsm_key des = mkkey(TKM_DES, "003", 8, 3);
	struct hsm_key *s = hsm_slot(&f->c, 1);
	struct hsm_key_info info;
	uint8_t long_secret[32] = {1};
	size_t left;

	assert_int_equal(hsm_key_store(&f->c, &des, 0xFFF, ""), TKM_OK);
	/* Another type: refused, nothing consumed, slot clear. */
	assert_int_equal(
	    read_ref(f, "KFFF", TKM_DES, "008", s, &left), TKM_ERR_TYPE_USE);
	assert_int_equal(left, 4);
	assert_memory_equal(s, zero, sizeof(zero));
	/* Nothing there, or in the other library. */
	assert_int_equal(
	    read_ref(f, "K000", TKM_DES, "003", s, &left), TKM_ERR_NO_KEY);
	assert_int_equal(left, 4);
	assert_int_equal(
	    read_ref(f, "KFFF", TKM_SM4, "003", s, &left), TKM_ERR_NO_KEY);
	/* Records no A0/A6 writes in a symmetric library: too long, or of a
	 * length the algorithm refuses. */
	memset(&info, 0, sizeof(info));
	info.lib = HSM_LIB_DES;
	info.index = 5;
	memcpy(info.type, "000", 4);
	assert_int_equal(
	    hsm_keystore_put(hsmtest_worker(f->t)->ks, &info, long_secret, 32),
	    TKM_OK);
	assert_int_equal(
	    read_ref(f, "K005", TKM_DES, "000", s, &left), TKM_ERR_TYPE_USE);
	info.lib = HSM_LIB_SM4;
	assert_int_equal(
	    hsm_keystore_put(hsmtest_worker(f->t)->ks, &info, long_secret, 24),
	    TKM_OK);
	assert_int_equal(
	    read_ref(f, "K005", TKM_SM4, "000", s, &left), TKM_ERR_TYPE_USE);
	assert_memory_equal(s, zero, sizeof(zero));
	/* Malformed references. */
	assert_int_equal(
	    read_ref(f, "K0G0", TKM_DES, "003", s, &left), TKM_ERR_HEX);
	assert_int_equal(left, 4);
	assert_int_equal(
	    read_ref(f, "K00", TKM_DES, "003", s, &left), TKM_ERR_TRUNC);
	assert_int_equal(
	    read_ref(f, "", TKM_DES, "003", s, &left), TKM_ERR_TRUNC);
	/* Unknown type code or algorithm, whatever the reference. */
	assert_int_equal(
	    read_ref(f, "KFFF", TKM_DES, "004", s, &left), TKM_ERR_KEY_TYPE);
	assert_int_equal(
	    read_ref(f, "KFFF", TKM_DES, "SM2", s, &left), TKM_ERR_KEY_TYPE);
	assert_int_equal(read_ref(f, "KFFF", 3, "003", s, &left), TKM_ERR_MODE);
	assert_int_equal(left, 4);
}

/* --- keys under DK -----------------------------------------------------------
 */

static void
test_lmk_forms(void **state)
{
	static const struct {
		int alg;
		size_t len;
		const char *prefix; /* "" for 16H */
	} cases[] = {
	    {TKM_DES, 8, ""},
	    {TKM_DES, 16, "X"},
	    {TKM_DES, 24, "Y"},
	    {TKM_SM4, 16, "S"},
	};
	struct fix *f = *state;
	struct hsm_key k, *s = hsm_slot(&f->c, 2);
	char buf[64];
	struct tkm_wr w;
	size_t i, left, pl;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = mkkey(cases[i].alg, "00A", cases[i].len, (uint8_t)(7 + i));
		tkm_wr_init(&w, buf, sizeof(buf) - 1);
		hsm_key_write_lmk(&f->c, &k, &w);
		assert_int_equal(tkm_wr_error(&w), TKM_OK);
		pl = strlen(cases[i].prefix);
		assert_int_equal(w.len, pl + 2 * cases[i].len);
		assert_memory_equal(buf, cases[i].prefix, pl);
		buf[w.len] = '\0';
		assert_int_equal(
		    read_ref(f, buf, cases[i].alg, "00A", s, &left), TKM_OK);
		assert_int_equal(left, 0);
		assert_int_equal(s->len, cases[i].len);
		assert_int_equal(s->alg, cases[i].alg);
		assert_string_equal(s->type, "00A");
		assert_memory_equal(s->k, k.k, k.len);
	}
}

static void
test_lmk_errors(void **state)
{
	struct fix *f = *state;
	struct hsm_key k = mkkey(TKM_DES, "000", 16, 9),
		       *s = hsm_slot(&f->c, 3);
	char x[40], sm4[40];
	struct tkm_wr w;
	size_t left;

	tkm_wr_init(&w, x, sizeof(x) - 1);
	hsm_key_write_lmk(&f->c, &k, &w);
	x[w.len] = '\0';
	k.alg = TKM_SM4;
	tkm_wr_init(&w, sm4, sizeof(sm4) - 1);
	hsm_key_write_lmk(&f->c, &k, &w);
	sm4[w.len] = '\0';
	/* The scheme must fit the algorithm. */
	assert_int_equal(
	    read_ref(f, x, TKM_SM4, "000", s, &left), TKM_ERR_SCHEME);
	assert_int_equal(left, 33);
	assert_int_equal(
	    read_ref(f, sm4, TKM_DES, "000", s, &left), TKM_ERR_SCHEME);
	assert_int_equal(
	    read_ref(f, "0123456789ABCDEF", TKM_SM4, "000", s, &left),
	    TKM_ERR_SCHEME);
	assert_int_equal(read_ref(f, "U0123456789ABCDEF0123456789ABCDEF",
			     TKM_DES, "000", s, &left),
	    TKM_ERR_SCHEME);
	/* Under another type the cryptogram is another (parity-less) key. */
	assert_int_equal(
	    read_ref(f, x, TKM_DES, "001", s, &left), TKM_ERR_PARITY);
	assert_int_equal(left, 33);
	assert_int_equal(s->len, 0);
	/* Truncated, bad hex. */
	assert_int_equal(
	    read_ref(f, "X0123", TKM_DES, "000", s, &left), TKM_ERR_TRUNC);
	assert_int_equal(left, 5);
	x[5] = 'Z';
	assert_int_equal(read_ref(f, x, TKM_DES, "000", s, &left), TKM_ERR_HEX);
}

static void
test_sealed(void **state)
{
	struct fix *f = *state;
	struct hsm_state st;
	struct hsm_worker w;
	struct hsm_cmd_ctx c;
	struct hsm_key k = mkkey(TKM_DES, "000", 16, 9), *s;
	struct tkm_rd rd = tkm_rd_of("K000", 4);
	char buf[40];
	struct tkm_wr wr;

	memset(&st, 0, sizeof(st));
	st.cfg = f->t->st.cfg;
	st.dir = f->t->st.dir;
	atomic_init(&st.authorised, 1);
	assert_int_equal(hsm_worker_init(&w, &st), TKM_OK);
	assert_null(w.ks);
	c = f->c;
	c.w = &w;
	s = hsm_slot(&c, 0);
	assert_int_equal(
	    hsm_key_read(&c, &rd, TKM_DES, "000", s), TKM_ERR_SEALED);
	rd = tkm_rd_of("X0123456789ABCDEF0123456789ABCDEF", 33);
	assert_int_equal(
	    hsm_key_read(&c, &rd, TKM_DES, "000", s), TKM_ERR_SEALED);
	assert_int_equal(hsm_key_store(&c, &k, 1, ""), TKM_ERR_SEALED);
	tkm_wr_init(&wr, buf, sizeof(buf));
	hsm_key_write_lmk(&c, &k, &wr);
	assert_int_equal(tkm_wr_error(&wr), TKM_ERR_SEALED);
	rd = tkm_rd_of("01", 2);
	{
		struct tkm_sm2 *sm2;

		assert_int_equal(hsm_sm2_read(&c, &rd, &sm2), TKM_ERR_SEALED);
		assert_null(sm2);
	}
	hsm_worker_cleanup(&w);
}

/* --- storing
 * ------------------------------------------------------------------ */

static void
test_store(void **state)
{
	struct fix *f = *state;
	struct hsm_key k = mkkey(TKM_SM4, "109", 16, 4);
	struct hsm_key_info info;
	uint8_t kcv[8];
	char label[80];

	assert_int_equal(hsm_key_store(&f->c, &k, 0x200, "mk-ac"), TKM_OK);
	assert_int_equal(hsm_keystore_get(hsmtest_worker(f->t)->ks, HSM_LIB_SM4,
			     0x200, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(tkm_kcv(TKM_SM4, k.k, 16, kcv), TKM_OK);
	assert_memory_equal(info.kcv, kcv, 8);
	assert_string_equal(info.type, "109");
	assert_string_equal(info.label, "mk-ac");
	assert_string_equal(info.usage, "");
	/* a business command never replaces a key (protocol.md §5) */
	assert_int_equal(
	    hsm_key_store(&f->c, &k, 0x200, "other"), TKM_ERR_INDEX);
	assert_int_equal(hsm_keystore_get(hsmtest_worker(f->t)->ks, HSM_LIB_SM4,
			     0x200, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 1);
	assert_string_equal(info.label, "mk-ac");
	/* after a delete the index is free again and versions go on */
	assert_int_equal(
	    hsm_keystore_delete(hsmtest_worker(f->t)->ks, HSM_LIB_SM4, 0x200),
	    TKM_OK);
	assert_int_equal(hsm_key_store(&f->c, &k, 0x200, "mk-ac"), TKM_OK);
	assert_int_equal(hsm_keystore_get(hsmtest_worker(f->t)->ks, HSM_LIB_SM4,
			     0x200, &info, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(info.version, 2);

	assert_int_equal(hsm_key_store(&f->c, &k, 0x1000, ""), TKM_ERR_INDEX);
	memset(label, 'l', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(hsm_key_store(&f->c, &k, 1, label), TKM_ERR_INPUT);
	label[65] = '\0';
	assert_int_equal(hsm_key_store(&f->c, &k, 1, label), TKM_ERR_INPUT);
	label[64] = '\0'; /* 64 characters: the longest label */
	assert_int_equal(hsm_key_store(&f->c, &k, 1, label), TKM_OK);
	memcpy(k.type, "007", 4);
	assert_int_equal(hsm_key_store(&f->c, &k, 1, ""), TKM_ERR_KEY_TYPE);
}

static void
test_type_allowed(void **state)
{
	static const struct {
		const char *type, *list;
		int want;
	} cases[] = {
	    {"003", "003", 1},
	    {"003", "003,008", 1},
	    {"008", "003,008", 1},
	    {"00A", "000,001,00A", 1},
	    {"001", "003,008", 0},
	    {"003", "", 0},
	    {"003", "0030,008", 0},
	    {"003", "03,008", 0},
	    {"03", "03,008", 0},
	    {"003", "008,", 0},
	    {"", ",", 0},
	    {"0033", "003", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(hsm_type_allowed(cases[i].type, cases[i].list),
		    cases[i].want);
	assert_int_equal(hsm_type_allowed(NULL, "003"), 0);
	assert_int_equal(hsm_type_allowed("003", NULL), 0);
}

static void
test_wipe(void **state)
{
	static const uint8_t zero[sizeof(struct hsm_key)];
	struct fix *f = *state;
	unsigned i;

	for (i = 0; i < HSM_KEY_SLOTS; i++)
		*hsm_slot(&f->c, i) = mkkey(TKM_DES, "000", 24, (uint8_t)i);
	hsm_keys_wipe(hsmtest_worker(f->t)->keys);
	for (i = 0; i < HSM_KEY_SLOTS; i++)
		assert_memory_equal(hsm_slot(&f->c, i), zero, sizeof(zero));
}

/* --- asymmetric keys
 * ------------------------------------------------------------ */

static void
sm2_put(struct fix *f, unsigned index, struct tkm_sm2 *k)
{
	struct hsm_key_info info;
	uint8_t d[32];

	memset(&info, 0, sizeof(info));
	info.lib = HSM_LIB_SM2;
	info.index = index;
	memcpy(info.type, "SM2", 4);
	memcpy(info.usage, "0", 2);
	assert_int_equal(tkm_sm2_priv(k, d), TKM_OK);
	assert_int_equal(
	    hsm_keystore_put(hsmtest_worker(f->t)->ks, &info, d, 32), TKM_OK);
	tkm_cleanse(d, sizeof(d));
}

static struct tkm_sm2 *
sm2_ref(struct fix *f, const char *ref, size_t len, int want)
{
	struct tkm_rd rd = tkm_rd_of(ref, len);
	struct tkm_sm2 *k = (void *)1;

	assert_int_equal(hsm_sm2_read(&f->c, &rd, &k), want);
	if (want != TKM_OK) {
		assert_null(k);
		assert_int_equal(rd.len, len);
	} else {
		assert_non_null(k);
		assert_int_equal(rd.len, 0);
	}
	return k;
}

static void
assert_same_pub(struct tkm_sm2 *a, struct tkm_sm2 *b)
{
	uint8_t pa[64], pb[64];

	assert_int_equal(tkm_sm2_pub(a, pa), TKM_OK);
	assert_int_equal(tkm_sm2_pub(b, pb), TKM_OK);
	assert_memory_equal(pa, pb, 64);
}

static void
test_sm2_index_cache(void **state)
{
	struct fix *f = *state;
	struct tkm_sm2 *a, *b, *got, *again;

	assert_int_equal(tkm_sm2_generate(&a), TKM_OK);
	assert_int_equal(tkm_sm2_generate(&b), TKM_OK);
	sm2_ref(f, "05", 2, TKM_ERR_NO_KEY);
	sm2_put(f, 5, a);
	got = sm2_ref(f, "05", 2, TKM_OK);
	assert_true(tkm_sm2_has_priv(got));
	assert_same_pub(got, a);
	/* Same version: the cached object. */
	again = sm2_ref(f, "05", 2, TKM_OK);
	assert_ptr_equal(again, got);
	hsm_keys_wipe(hsmtest_worker(f->t)->keys);
	assert_ptr_equal(sm2_ref(f, "05", 2, TKM_OK), got);
	/* Replaced: the new key. */
	sm2_put(f, 5, b);
	got = sm2_ref(f, "05", 2, TKM_OK);
	assert_same_pub(got, b);
	/* Deleted, then stored again with the first key: not the stale
	 * cache entry, even though it is the index's first key again. */
	assert_int_equal(
	    hsm_keystore_delete(hsmtest_worker(f->t)->ks, HSM_LIB_SM2, 5),
	    TKM_OK);
	sm2_ref(f, "05", 2, TKM_ERR_NO_KEY);
	sm2_put(f, 5, a);
	assert_same_pub(sm2_ref(f, "05", 2, TKM_OK), a);
	/* The SM2 and RSA libraries are separate. */
	{
		struct tkm_rd rd = tkm_rd_of("05", 2);
		struct tkm_rsa *r;

		assert_int_equal(hsm_rsa_read(&f->c, &rd, &r), TKM_ERR_NO_KEY);
	}
	tkm_sm2_free(a);
	tkm_sm2_free(b);
}

static void
test_asym_index_errors(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info info;
	uint8_t junk[31] = {1};

	sm2_ref(f, "00", 2, TKM_ERR_INDEX);
	sm2_ref(f, "21", 2, TKM_ERR_INDEX);
	sm2_ref(f, "98", 2, TKM_ERR_INDEX);
	sm2_ref(f, "x1", 2, TKM_ERR_INDEX);
	sm2_ref(f, "1", 1, TKM_ERR_TRUNC);
	sm2_ref(f, "99", 2, TKM_ERR_TRUNC);
	sm2_ref(f, "990000", 6, TKM_ERR_ASYM_KEY);
	sm2_ref(f, "990010abc", 9, TKM_ERR_TRUNC);
	/* A stored record that is no SM2 private key. */
	memset(&info, 0, sizeof(info));
	info.lib = HSM_LIB_SM2;
	info.index = 7;
	memcpy(info.type, "SM2", 4);
	assert_int_equal(hsm_keystore_put(hsmtest_worker(f->t)->ks, &info, junk,
			     sizeof(junk)),
	    TKM_OK);
	sm2_ref(f, "07", 2, TKM_ERR_ASYM_KEY);
}

/* Index 99: the blob hsm_asym_blob writes reads back, bound to its kind. */
static void
test_asym_blob(void **state)
{
	struct fix *f = *state;
	struct tkm_sm2 *k, *got;
	struct tkm_rsa *r, *rgot;
	static char msg[8000];
	struct tkm_rd rd;
	struct tkm_wr w;
	uint8_t d[32], der[2400];
	size_t derlen, n;

	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_int_equal(tkm_sm2_priv(k, d), TKM_OK);
	tkm_wr_init(&w, msg, sizeof(msg));
	tkm_wr_str(&w, "99");
	assert_int_equal(hsm_asym_blob(&f->c, HSM_LIB_SM2, d, 32, &w), TKM_OK);
	assert_int_equal(w.len, 2 + 4 + 32 + HSM_WRAP_OVERHEAD);
	assert_memory_equal(msg, "990081", 6);
	n = w.len;
	got = sm2_ref(f, msg, n, TKM_OK);
	assert_same_pub(got, k);
	assert_true(tkm_sm2_has_priv(got));
	/* Two in one command are two objects. */
	assert_ptr_not_equal(sm2_ref(f, msg, n, TKM_OK), got);
	/* As an RSA key: refused (the blob is bound to its kind). */
	rd = tkm_rd_of(msg, n);
	assert_int_equal(hsm_rsa_read(&f->c, &rd, &r), TKM_ERR_ASYM_KEY);
	assert_int_equal(rd.len, n);
	/* Tampered. */
	msg[n - 1] ^= 1;
	sm2_ref(f, msg, n, TKM_ERR_ASYM_KEY);
	msg[n - 1] ^= 1;
	/* Many in one command: the message slots are bounded. */
	for (;;) {
		rd = tkm_rd_of(msg, n);
		if (hsm_sm2_read(&f->c, &rd, &got) != TKM_OK)
			break;
	}
	hsm_keys_wipe(hsmtest_worker(f->t)->keys);
	sm2_ref(f, msg, n, TKM_OK);

	/* RSA: the private key DER. */
	assert_int_equal(tkm_rsa_generate(1024, NULL, 0, &r), TKM_OK);
	assert_int_equal(
	    tkm_rsa_to_der(r, 1, der, sizeof(der), &derlen), TKM_OK);
	tkm_wr_init(&w, msg, sizeof(msg));
	tkm_wr_str(&w, "99");
	assert_int_equal(
	    hsm_asym_blob(&f->c, HSM_LIB_RSA, der, derlen, &w), TKM_OK);
	rd = tkm_rd_of(msg, w.len);
	assert_int_equal(hsm_rsa_read(&f->c, &rd, &rgot), TKM_OK);
	assert_int_equal(rd.len, 0);
	assert_int_equal(tkm_rsa_bits(rgot), 1024);
	assert_true(tkm_rsa_has_priv(rgot));
	/* Bad arguments. */
	tkm_wr_init(&w, msg, sizeof(msg));
	assert_int_equal(
	    hsm_asym_blob(&f->c, HSM_LIB_DES, d, 32, &w), TKM_ERR_INTERNAL);
	assert_int_equal(
	    hsm_asym_blob(&f->c, HSM_LIB_SM2, d, 0, &w), TKM_ERR_ASYM_KEY);
	assert_int_equal(tkm_wr_error(&w), TKM_ERR_ASYM_KEY);
	tkm_cleanse(d, sizeof(d));
	tkm_cleanse(der, sizeof(der));
	tkm_sm2_free(k);
	tkm_rsa_free(r);
}

static void
test_rsa_index(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info info;
	struct tkm_rsa *r, *got;
	struct tkm_rd rd;
	uint8_t der[2400];
	size_t derlen;

	assert_int_equal(tkm_rsa_generate(1024, NULL, 0, &r), TKM_OK);
	assert_int_equal(
	    tkm_rsa_to_der(r, 1, der, sizeof(der), &derlen), TKM_OK);
	memset(&info, 0, sizeof(info));
	info.lib = HSM_LIB_RSA;
	info.index = 20;
	memcpy(info.type, "RSA", 4);
	assert_int_equal(
	    hsm_keystore_put(hsmtest_worker(f->t)->ks, &info, der, derlen),
	    TKM_OK);
	rd = tkm_rd_of("20;", 3);
	assert_int_equal(hsm_rsa_read(&f->c, &rd, &got), TKM_OK);
	assert_int_equal(rd.len, 1);
	assert_int_equal(tkm_rsa_bits(got), 1024);
	rd = tkm_rd_of("20", 2);
	{
		struct tkm_rsa *again;

		assert_int_equal(hsm_rsa_read(&f->c, &rd, &again), TKM_OK);
		assert_ptr_equal(again, got);
	}
	tkm_cleanse(der, sizeof(der));
	tkm_rsa_free(r);
}

/* --- the harness itself (hsmtest.h) ------------------------------------------
 */

static void
test_harness(void **state)
{
	struct fix *f = *state;
	struct hsmtest *t;
	const char *r;
	size_t n;

	r = hsmtest_cmd(f->t, "XX", &n);
	assert_string_equal(r, "XY60");
	assert_int_equal(n, 4);
	r = hsmtest_cmdn(f->t, "ZZ\0\x19T1", 6, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(r, "Z[60\x19T1", 7);
	t = hsmtest_new(0);
	assert_string_equal(hsmtest_cmd(t, "A00000S", NULL), "A117");
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_read_index_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lmk_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lmk_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store, setup, teardown),
	    cmocka_unit_test(test_type_allowed),
	    cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_sm2_index_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_asym_index_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_asym_blob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsa_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_harness, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
