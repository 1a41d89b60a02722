/*
 * test_cmd_keys.c - A0, A6, A8 and NE through the real dispatcher
 * (docs/protocol.md). Keys under DK are opened with the test DK
 * (hsm_dk_lmk_decrypt), keys under TK with tkm_cipher, derived keys
 * recomputed with tkm_derive, KCVs with tkm_kcv; so every answer is
 * checked against libtkm, which its own KATs pin.
 */
#include "hsmtest.h"

#include "tkm/crypto.h"
#include "tkm/derive.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define K2    "0123456789ABCDEFFEDCBA9876543210"
#define K2KCV "08D7B4FB629D0885"
#define TK1   "11111111111111111111111111111111" /* DESIGN §3.1 initial TK */
#define TK2   "0123456789ABCDEF0123456789ABCDEF"
#define CITY  "5810FF0000000000" /* Guangzhou city factor, CJ/T 333 §3.14 */
#define CARD  "0000000012345678"

static size_t
unhex(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t n;

	assert_int_equal(tkm_hex_decode(s, len, out, cap, &n), TKM_OK);
	return n;
}

static const char *
kcv(int alg, const uint8_t *k, size_t n)
{
	uint8_t v[TKM_KCV_LEN];

	assert_int_equal(tkm_kcv(alg, k, n, v), TKM_OK);
	return hsmtest_hex(v, sizeof(v));
}

static const char *
kcvh(int alg, const char *keyhex)
{
	uint8_t k[24];

	return kcv(alg, k, unhex(keyhex, strlen(keyhex), k, sizeof(k)));
}

/* Lower-case copy (H fields accept either case). */
static const char *
lower(const char *in)
{
	char *s = hsmtest_strbuf();
	size_t i;

	for (i = 0; in[i] != '\0' && i < 511; i++)
		s[i] =
		    (in[i] >= 'A' && in[i] <= 'F') ? (char)(in[i] + 32) : in[i];
	s[i] = '\0';
	return s;
}

static const char *
prefix(int alg, size_t n)
{
	return alg == TKM_SM4 ? "S" : n == 16 ? "X" : n == 24 ? "Y" : "";
}

/* A clear key under the test DK, as a key reference. */
static const char *
lmk(struct hsmtest *t, int alg, const char *type, const char *keyhex)
{
	uint8_t k[24], ct[24];
	size_t n = unhex(keyhex, strlen(keyhex), k, sizeof(k));
	char *s = hsmtest_strbuf();

	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, alg, type, k, n, ct), TKM_OK);
	snprintf(s, 512, "%s%s", prefix(alg, n), hsmtest_hex(ct, n));
	return s;
}

/* A clear key under a clear TK (ECB), as the other HSM would send it. */
static const char *
under_tk(int alg, const char *tkhex, const char *keyhex)
{
	uint8_t tk[24], k[24], ct[24];
	size_t tn = unhex(tkhex, strlen(tkhex), tk, sizeof(tk));
	size_t n = unhex(keyhex, strlen(keyhex), k, sizeof(k));
	char *s = hsmtest_strbuf();

	assert_int_equal(
	    tkm_cipher(alg, TKM_ECB, TKM_ENCRYPT, tk, tn, NULL, k, n, ct),
	    TKM_OK);
	snprintf(s, 512, "%s%s", prefix(alg, n), hsmtest_hex(ct, n));
	return s;
}

/* Parse a key reference at *p (16H, X/Y/S+hex) and open it with the test
 * DK for (alg, type); advances *p. Returns the key length. */
static size_t
open_lmk(
    struct hsmtest *t, const char **p, int alg, const char *type, uint8_t *key)
{
	uint8_t ct[24];
	size_t n;
	char c = **p;

	n = c == 'Y' ? 24 : (c == 'X' || c == 'S') ? 16 : 8;
	if (n != 8 || c == 'Z')
		(*p)++;
	assert_int_equal(unhex(*p, 2 * n, ct, sizeof(ct)), n);
	*p += 2 * n;
	assert_int_equal(
	    hsm_dk_lmk_decrypt(t->st.dk, alg, type, ct, n, key), TKM_OK);
	return n;
}

/* Same for a key under a clear TK. */
static size_t
open_tk(const char **p, int alg, const char *tkhex, uint8_t *key)
{
	uint8_t tk[24], ct[24];
	size_t tn = unhex(tkhex, strlen(tkhex), tk, sizeof(tk)), n;
	char c = **p;

	n = c == 'Y' ? 24 : (c == 'X' || c == 'S') ? 16 : 8;
	if (n != 8)
		(*p)++;
	assert_int_equal(unhex(*p, 2 * n, ct, sizeof(ct)), n);
	*p += 2 * n;
	assert_int_equal(
	    tkm_cipher(alg, TKM_ECB, TKM_DECRYPT, tk, tn, NULL, ct, n, key),
	    TKM_OK);
	return n;
}

static void
put(struct hsmtest *t, int alg, unsigned index, const char *type,
    const char *keyhex)
{
	struct hsm_cmd_ctx c = hsmtest_ctx(t);
	struct hsm_key key;

	memset(&key, 0, sizeof(key));
	key.alg = alg;
	key.len = unhex(keyhex, strlen(keyhex), key.k, sizeof(key.k));
	memcpy(key.type, type, HSM_TYPE_LEN + 1);
	assert_int_equal(hsm_key_store(&c, &key, index, "test"), TKM_OK);
}

static const char *
cat(const char *a, const char *b)
{
	char *s = hsmtest_strbuf();

	snprintf(s, 512, "%s%s", a, b);
	return s;
}

static const char *
cat3(const char *a, const char *b, const char *c)
{
	return cat(cat(a, b), c);
}

static void
expect(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* The response fields after "XX00", or a failure. */
static const char *
ok(struct hsmtest *t, const char *req, const char *rsp)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strncmp(got, rsp, 2) != 0 || strncmp(got + 2, "00", 2) != 0)
		fail_msg("%s: got %s", req, got);
	return got + 4;
}

/* A harness with TKs (type 000): DES TK1 at K000, SM4 TK1 at K100 (the
 * initial TKs of DESIGN §3.1), DES TK2 at K001, a single-DES 000 at K002,
 * a ZAK (008) K2 at DES K010 and SM4 K010, a 003 at K011. */
static struct hsmtest *
setup(int authorised)
{
	struct hsmtest *t = hsmtest_new(authorised);

	put(t, TKM_DES, 0x000, "000", TK1);
	put(t, TKM_SM4, 0x100, "000", TK1);
	put(t, TKM_DES, 0x001, "000", TK2);
	put(t, TKM_DES, 0x002, "000", "0123456789ABCDEF");
	put(t, TKM_DES, 0x010, "008", K2);
	put(t, TKM_SM4, 0x010, "008", K2);
	put(t, TKM_DES, 0x011, "003", K2);
	return t;
}

/* --- A0 ---------------------------------------------------------------- */

/* Check `key under DK | [key under TK] | KCV`; return the key length. */
static size_t
check_generated(struct hsmtest *t, const char *r, int alg, const char *type,
    const char *tkhex, size_t want_len)
{
	uint8_t key[24], key2[24];
	size_t n;

	n = open_lmk(t, &r, alg, type, key);
	assert_int_equal(n, want_len);
	if (alg == TKM_DES)
		assert_true(tkm_des_parity_ok(key, n));
	if (tkhex != NULL) {
		assert_int_equal(open_tk(&r, alg, tkhex, key2), n);
		assert_memory_equal(key, key2, n);
	}
	assert_string_equal(r, kcv(alg, key, n));
	return n;
}

static void
test_a0_ok(void **state)
{
	static const struct {
		const char *scheme;
		int alg;
		size_t len;
	} s[] = {{"Z", TKM_DES, 8}, {"X", TKM_DES, 16}, {"Y", TKM_DES, 24},
	    {"S", TKM_SM4, 16}};
	struct hsmtest *t = setup(1);
	const char *r, *r2;
	char kcv1[17];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(s); i++) {
		/* Mode 0: under DK only. */
		r = ok(t, cat3("A00008", s[i].scheme, ""), "A1");
		check_generated(t, r, s[i].alg, "008", NULL, s[i].len);
		/* Mode 1: also under TK, by index (DES K000, SM4 K100). */
		r = ok(t,
		    cat3("A01109", s[i].scheme,
			cat(s[i].alg == TKM_SM4 ? "K100" : "K000",
			    s[i].scheme)),
		    "A1");
		check_generated(t, r, s[i].alg, "109", TK1, s[i].len);
	}
	/* Mode 1 with the TK as a cryptogram under DK. */
	r = ok(t, cat3("A01003X", lmk(t, TKM_DES, "000", TK2), "X"), "A1");
	check_generated(t, r, TKM_DES, "003", TK2, 16);
	r = ok(t, cat3("A01003S", lmk(t, TKM_SM4, "000", TK2), "S"), "A1");
	check_generated(t, r, TKM_SM4, "003", TK2, 16);
	/* Mode 2: stored; BU reads the same KCV; the index is then taken. */
	r = ok(t, "A02509XK020", "A1");
	check_generated(t, r, TKM_DES, "509", NULL, 16);
	snprintf(kcv1, sizeof(kcv1), "%s", r + 33);
	expect(t, "BU509K020", cat("BV00", kcv1));
	expect(t, "A02509XK020", "A121");
	r2 = ok(t, "A02509SK020", "A1"); /* the SM4 library is separate */
	check_generated(t, r2, TKM_SM4, "509", NULL, 16);
	expect(t, "BU509K020S", cat("BV00", r2 + 33));
	/* Two keys differ. */
	r = ok(t, "A00008X", "A1");
	snprintf(kcv1, sizeof(kcv1), "%s", r + 33);
	r = ok(t, "A00008X", "A1");
	assert_string_not_equal(kcv1, r + 33);
	hsmtest_free(t);
}

static void
test_a0_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"A03008X", "A105"},       /* mode 3 */
	    {"A0A008X", "A115"},       /* mode not a digit */
	    {"A000ZZX", "A104"},       /* unknown type code */
	    {"A00008Q", "A126"},       /* unknown scheme */
	    {"A00008", "A115"},        /* no scheme */
	    {"A0", "A115"},            /* nothing */
	    {"A00008XK000", "A115"},   /* mode 0 with a store index */
	    {"A01008XK000S", "A126"},  /* TK scheme differs */
	    {"A01008XK000", "A115"},   /* no TK scheme */
	    {"A01008XK010X", "A128"},  /* K010 is a ZAK, not a TK */
	    {"A01008XK0F0X", "A112"},  /* no TK there */
	    {"A01008XK002X", "A102"},  /* single-DES TK refused */
	    {"A01008SK000S", "A112"},  /* K000 empty in the SM4 library */
	    {"A01008XK000XK", "A115"}, /* trailing */
	    {"A02008X", "A115"},       /* mode 2 without index */
	    {"A02008XK02", "A115"},    /* short index */
	    {"A02008XK02G", "A115"},   /* index not hex */
	    {"A02008X0020", "A115"},   /* index without K */
	    {"A02008XK0200", "A115"},  /* trailing */
	    {"A02008XK000", "A121"},   /* occupied (the TK) */
	};
	struct hsmtest *t = setup(1), *u = setup(0);
	struct hsm_dk *dk;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		expect(t, cases[i].req, cases[i].want);
	/* A TK cryptogram of another algorithm or type. */
	expect(t, cat3("A01008X", lmk(t, TKM_SM4, "000", TK2), "X"), "A126");
	expect(t, cat3("A01008X", lmk(t, TKM_DES, "008", TK2), "X"), "A110");
	/* Not authorised, sealed. */
	expect(u, "A00008X", "A117");
	expect(u, "A02008XK020", "A117");
	dk = t->st.dk;
	t->st.dk = NULL;
	expect(t, "A00008X", "A113");
	t->st.dk = dk;
	/* Nothing was stored by the failed requests. */
	expect(t, "BU008K020", "BV12");
	expect(u, "BU008K020", "BV12");
	hsmtest_free(t);
	hsmtest_free(u);
}

/* --- A6 ---------------------------------------------------------------- */

/* Check `A700 | key under DK | KCV` against the clear key. */
static void
check_imported(struct hsmtest *t, const char *r, int alg, const char *type,
    const char *keyhex)
{
	uint8_t want[24], key[24];
	size_t n = unhex(keyhex, strlen(keyhex), want, sizeof(want));

	assert_int_equal(open_lmk(t, &r, alg, type, key), n);
	if (alg == TKM_DES) /* parity is set on import */
		tkm_des_parity_set(want, n);
	assert_memory_equal(key, want, n);
	assert_string_equal(r, kcv(alg, want, n));
}

static void
test_a6_ok(void **state)
{
	/* Derived keys carry no parity (DESIGN §3.2): one such key. */
	static const char *const des_keys[] = {"0123456789ABCDEF", K2,
	    "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567",
	    "00112233445566778899AABBCCDDEEFF"};
	static const char *const sch[] = {"Z", "X", "Y", "X"};
	struct hsmtest *t = setup(1);
	const char *r;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(des_keys); i++) {
		r = ok(t,
		    cat3("A6T008K000", under_tk(TKM_DES, TK1, des_keys[i]),
			sch[i]),
		    "A7");
		check_imported(t, r, TKM_DES, "008", des_keys[i]);
		assert_string_equal(
		    r + strlen(r) - 16, kcvh(TKM_DES, des_keys[i]));
	}
	r = ok(t, cat3("A6T209K100", under_tk(TKM_SM4, TK1, K2), "S"), "A7");
	check_imported(t, r, TKM_SM4, "209", K2);
	/* TK as a cryptogram under DK. */
	r = ok(t,
	    cat3(cat("A6T109", lmk(t, TKM_DES, "000", TK2)),
		under_tk(TKM_DES, TK2, K2), "X"),
	    "A7");
	check_imported(t, r, TKM_DES, "109", K2);
	/* Store at an index; BU agrees; lower-case hex accepted. */
	r = ok(t,
	    cat3("A6T008K000", lower(under_tk(TKM_DES, TK1, K2)), "XK030"),
	    "A7");
	assert_string_equal(r + 33, K2KCV);
	expect(t, "BU008K030", "BV00" K2KCV);
	r = ok(
	    t, cat3("A6T008K100", under_tk(TKM_SM4, TK1, K2), "SK030"), "A7");
	expect(t, "BU008K030S", cat("BV00", kcvh(TKM_SM4, K2)));
	hsmtest_free(t);
}

static void
test_a6_errors(void **state)
{
	struct hsmtest *t = setup(1), *u = setup(0);
	char x[40], s[40];

	(void)state;
	/* Own copies: the rotating buffers are reused below. */
	snprintf(x, sizeof(x), "%s", under_tk(TKM_DES, TK1, K2));
	snprintf(s, sizeof(s), "%s", under_tk(TKM_SM4, TK1, K2));
	expect(t, cat3("A6X008K000", x, "X"), "A705");      /* flag */
	expect(t, cat3("A6T0Z8K000", x, "X"), "A704");      /* type */
	expect(t, cat3("A6T008K000", x, "S"), "A726");      /* scheme differs */
	expect(t, cat3("A6T008K000", x, "Y"), "A726");      /* length differs */
	expect(t, cat3("A6T008K000", x, "Q"), "A726");      /* unknown scheme */
	expect(t, "A6T008K000K010X", "A726");               /* an index */
	expect(t, cat3("A6T008K010", x, "X"), "A728");      /* ZAK as TK */
	expect(t, cat3("A6T008K0AB", x, "X"), "A712");      /* no TK */
	expect(t, cat3("A6T008K002", x, "X"), "A702");      /* single-DES TK */
	expect(t, cat3("A6T008K000", s, "S"), "A712");      /* SM4 K000 empty */
	expect(t, cat3("A6T008K000", x, "XK010"), "A721");  /* occupied */
	expect(t, cat3("A6T008K000", x, "XK01"), "A715");   /* short index */
	expect(t, cat3("A6T008K000", x, "XK0100"), "A715"); /* trailing */
	expect(t, cat3("A6T008K000", x, "XZ010"), "A715");  /* not K */
	expect(t, cat("A6T008K000", x), "A715");            /* no scheme */
	expect(t, "A6T008K000X0123", "A715");               /* truncated */
	expect(t,
	    "A6T008K000X0123456789ABCDEF0123456789ABCDEG"
	    "X",
	    "A715"); /* bad hex */
	expect(t, "A6T", "A715");
	/* An SM4 TK cryptogram for a DES key. */
	expect(t, cat3(cat("A6T008", lmk(t, TKM_SM4, "000", TK2)), x, "X"),
	    "A726");
	expect(u, cat3("A6T008K000", x, "X"), "A717"); /* not authorised */
	/* Nothing stored by failures. */
	expect(t, "BU008K031", "BV12");
	hsmtest_free(t);
	hsmtest_free(u);
}

/* --- A8 ---------------------------------------------------------------- */

/* Check `A900 | key under TK | KCV` against want (parity set for DES). */
static void
check_exported(
    const char *r, int alg, const char *tkhex, const uint8_t *want, size_t n)
{
	uint8_t key[24], w[24];

	memcpy(w, want, n);
	if (alg == TKM_DES)
		tkm_des_parity_set(w, n);
	assert_int_equal(open_tk(&r, alg, tkhex, key), n);
	assert_memory_equal(key, w, n);
	assert_string_equal(r, kcv(alg, want, n));
}

static void
derived(int alg, const char *mkhex, const char *factors, uint8_t out[16])
{
	uint8_t mk[24], f[40];
	size_t mn = unhex(mkhex, strlen(mkhex), mk, sizeof(mk));
	size_t fn = unhex(factors, strlen(factors), f, sizeof(f));

	assert_int_equal(tkm_derive(alg, mk, mn, f, fn / 8, out), TKM_OK);
}

static void
test_a8_ok(void **state)
{
	struct hsmtest *t = setup(1);
	uint8_t k2[16], d[16], d24[24];
	const char *r;

	(void)state;
	unhex(K2, 32, k2, sizeof(k2));
	/* Plain export, without and with an explicit n = 0. */
	r = ok(t, "A8T008K000K010X", "A9");
	check_exported(r, TKM_DES, TK1, k2, 16);
	assert_string_equal(r + 33, K2KCV);
	r = ok(t, "A8T008K000K0100X", "A9");
	check_exported(r, TKM_DES, TK1, k2, 16);
	/* Derived by the city factor, then by city and card factor. */
	derived(TKM_DES, K2, CITY, d);
	r = ok(t, "A8T008K000K0101" CITY "X", "A9");
	check_exported(r, TKM_DES, TK1, d, 16);
	derived(TKM_DES, K2, CITY CARD, d);
	r = ok(t, "A8T008K001K0102" CITY CARD "X", "A9");
	check_exported(r, TKM_DES, TK2, d, 16);
	/* SM4 from the SM4 library, under the SM4 TK. */
	derived(TKM_SM4, K2, CITY, d);
	r = ok(t, "A8T008K100K0101" CITY "S", "A9");
	check_exported(r, TKM_SM4, TK1, d, 16);
	/* Key and TK as cryptograms under DK. */
	r = ok(t,
	    cat3(cat("A8T109", lmk(t, TKM_DES, "000", TK2)),
		lmk(t, TKM_DES, "109", K2), "1" CITY "X"),
	    "A9");
	derived(TKM_DES, K2, CITY, d);
	check_exported(r, TKM_DES, TK2, d, 16);
	/* A 3-key DES key derives to 16 bytes. */
	put(t, TKM_DES, 0x012, "008",
	    "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567");
	derived(TKM_DES, "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567",
	    CITY, d);
	r = ok(t, "A8T008K000K0121" CITY "X", "A9");
	check_exported(r, TKM_DES, TK1, d, 16);
	r = ok(t, "A8T008K000K012Y", "A9");
	unhex("0123456789ABCDEFFEDCBA987654321089ABCDEF01234567", 48, d24,
	    sizeof(d24));
	check_exported(r, TKM_DES, TK1, d24, 24);
	hsmtest_free(t);
}

static void
test_a8_roundtrip(void **state)
{
	struct hsmtest *t = setup(1);
	char cg[40], kcv8[17];
	const char *r;

	(void)state;
	r = ok(t, "A8T008K000K0101" CITY "X", "A9");
	assert_int_equal(strlen(r), 33 + 16);
	snprintf(cg, sizeof(cg), "%.33s", r);
	snprintf(kcv8, sizeof(kcv8), "%s", r + 33);
	r = ok(t, cat3("A6T008K000", cg, "XK040"), "A7");
	assert_string_equal(r + 33, kcv8);
	expect(t, "BU008K040", cat("BV00", kcv8));
	/* SM4 likewise. */
	r = ok(t, "A8T008K100K0101" CITY "S", "A9");
	snprintf(cg, sizeof(cg), "%.33s", r);
	snprintf(kcv8, sizeof(kcv8), "%s", r + 33);
	r = ok(t, cat3("A6T008K100", cg, "SK040"), "A7");
	assert_string_equal(r + 33, kcv8);
	expect(t, "BU008K040S", cat("BV00", kcv8));
	hsmtest_free(t);
}

static void
test_a8_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"A8X008K000K010X", "A905"},          /* flag */
	    {"A8T00ZK000K010X", "A904"},          /* type code */
	    {"A8T008K000K010Y", "A926"},          /* scheme: length */
	    {"A8T008K000K010Z", "A926"},          /* scheme: length */
	    {"A8T008K000K0101" CITY "Y", "A926"}, /* derived is X */
	    {"A8T008K000K010Q", "A926"},          /* unknown scheme */
	    {"A8T008K000K0106" CITY CITY CITY CITY CITY CITY "X", "A915"},
	    {"A8T008K000K0102" CITY "X", "A915"}, /* one factor short */
	    {"A8T008K000K0101"
	     "5810FF000000000G"
	     "X",
		"A915"},
	    {"A8T008K000K010", "A915"},    /* no scheme */
	    {"A8T008K000K010XX", "A915"},  /* n not a digit */
	    {"A8T008K000K0100XX", "A915"}, /* trailing */
	    {"A8T008K011K010X", "A928"},   /* TAK as TK */
	    {"A8T008K010K010X", "A928"},   /* ZAK as TK */
	    {"A8T003K000K010X", "A928"},   /* key stored as 008 */
	    {"A8T008K000K0FFX", "A912"},   /* no key */
	    {"A8T008K0FEK010X", "A912"},   /* no TK */
	    {"A8T008K002K010X", "A902"},   /* single-DES TK */
	    {"A8T008K000K010S", "A912"},   /* SM4 K000 empty */
	    {"A8T008K100K010X", "A912"},   /* DES K100 empty */
	    {"A8T", "A915"},
	};
	struct hsmtest *t = setup(1), *u = setup(0);
	uint8_t k1[8];
	const char *r;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		expect(t, cases[i].req, cases[i].want);
	/* Derivation needs a 16- or 24-byte key. */
	put(t, TKM_DES, 0x013, "008", "0123456789ABCDEF");
	expect(t, "A8T008K000K0131" CITY "X", "A902");
	r = ok(t, "A8T008K000K013Z", "A9");
	unhex("0123456789ABCDEF", 16, k1, sizeof(k1));
	check_exported(r, TKM_DES, TK1, k1, 8);
	/* Mixed algorithms. */
	expect(t, cat3("A8T008K000", lmk(t, TKM_SM4, "008", K2), "X"), "A926");
	expect(u, "A8T008K000K010X", "A917");
	hsmtest_free(t);
	hsmtest_free(u);
}

/* --- NE ---------------------------------------------------------------- */

/* Check NE's answer: parts x (component | KCV), key under DK, KCV. */
static void
check_ne(struct hsmtest *t, const char *r, int alg, const char *type, size_t n,
    unsigned parts)
{
	uint8_t acc[24] = {0}, c[24], key[24];
	unsigned i;
	size_t j;

	for (i = 0; i < parts; i++) {
		assert_int_equal(unhex(r, 2 * n, c, sizeof(c)), n);
		r += 2 * n;
		if (alg == TKM_DES)
			assert_true(tkm_des_parity_ok(c, n));
		assert_memory_equal(r, kcv(alg, c, n), 16);
		r += 16;
		for (j = 0; j < n; j++)
			acc[j] ^= c[j];
	}
	if (alg == TKM_DES)
		tkm_des_parity_set(acc, n);
	assert_int_equal(open_lmk(t, &r, alg, type, key), n);
	assert_memory_equal(key, acc, n);
	assert_string_equal(r, kcv(alg, acc, n));
}

static void
test_ne_ok(void **state)
{
	struct hsmtest *t = setup(1);
	const char *r;

	(void)state;
	check_ne(t, ok(t, "NE000X3", "NF"), TKM_DES, "000", 16, 3);
	check_ne(t, ok(t, "NE000X2", "NF"), TKM_DES, "000", 16, 2);
	check_ne(t, ok(t, "NE000Z2", "NF"), TKM_DES, "000", 8, 2);
	check_ne(t, ok(t, "NE008Y9", "NF"), TKM_DES, "008", 24, 9);
	check_ne(t, ok(t, "NE000S3", "NF"), TKM_SM4, "000", 16, 3);
	/* Stored: the TK then works for A8. */
	r = ok(t, "NE000X3K0A0", "NF");
	check_ne(t, r, TKM_DES, "000", 16, 3);
	expect(t, "BU000K0A0", cat("BV00", r + strlen(r) - 16));
	r = ok(t, "A8T008K0A0K010X", "A9");
	r = ok(t, "NE000S2K0A0", "NF");
	expect(t, "BU000K0A0S", cat("BV00", r + strlen(r) - 16));
	hsmtest_free(t);
}

static void
test_ne_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"NE000X1", "NF15"},                      /* one part is no split */
	    {"NE000X0", "NF15"}, {"NE000XA", "NF15"}, /* parts not a digit */
	    {"NE000X", "NF15"},                       /* no parts */
	    {"NE000Q3", "NF26"},                      /* scheme */
	    {"NE0Z0X3", "NF04"},                      /* type code */
	    {"NE00", "NF15"}, {"NE000X3K01", "NF15"}, /* short index */
	    {"NE000X3K0100", "NF15"},                 /* trailing */
	    {"NE000X3L010", "NF15"},                  /* not K */
	    {"NE000X3K000", "NF21"},                  /* occupied */
	    {"NE000S3K100", "NF21"},                  /* occupied (SM4) */
	};
	struct hsmtest *t = setup(1), *u = setup(0);
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		expect(t, cases[i].req, cases[i].want);
	expect(u, "NE000X3", "NF17");
	expect(t, "BU000K0A1", "BV12");
	hsmtest_free(t);
	hsmtest_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a0_ok),
	    cmocka_unit_test(test_a0_errors),
	    cmocka_unit_test(test_a6_ok),
	    cmocka_unit_test(test_a6_errors),
	    cmocka_unit_test(test_a8_ok),
	    cmocka_unit_test(test_a8_roundtrip),
	    cmocka_unit_test(test_a8_errors),
	    cmocka_unit_test(test_ne_ok),
	    cmocka_unit_test(test_ne_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
