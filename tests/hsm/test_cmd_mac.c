/*
 * test_cmd_mac.c - UB through the real dispatcher (docs/protocol.md).
 *
 * The e-purse answers are the project's vectors: the published PBOC load
 * and purchase MAC1/MAC2 examples (tests/kat/public.txt) and the TACs of
 * tests/kat/sym.txt; SM4 and the other schemes are checked against libtkm
 * (purse.h, derive.h, mac.h), which those vectors pin.
 */
#include "hsmtest.h"

#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mac.h"
#include "tkm/purse.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* tests/kat/public.txt, purse.*: DLK = DPK, rnd 11223344, serial 0000 */
#define DLK     "11223344556677888877665544332211"
#define PD_LOAD "1122334400008000" /* rnd || online SN || 8000 */
#define PD_BUY  "1122334400000001" /* rnd || offline SN || term SN low */
#define MAC1_IN "000000000000100001001122334455"
#define MAC1    "2988AE5A"
#define MAC2_IN                                                                \
	"0000100001001122334455"                                               \
	"20111221214822"
#define MAC2 "3A845BF0"
#define BUY1_IN                                                                \
	"0000100006001122334455"                                               \
	"20120229135100"
#define BUY1 "F15CAB75"
/* tests/kat/sym.txt, purse.load.tac / purse.purchase.tac (DTK = DLK) */
#define LTAC_IN                                                                \
	"00001000"                                                             \
	"0000"                                                                 \
	"00001000"                                                             \
	"01"                                                                   \
	"001122334455"                                                         \
	"20111221"                                                             \
	"214822"
#define LTAC     "FF5C1389"
#define LTAC_SM4 "C3A2A77C"
#define PTAC_IN                                                                \
	"00001000"                                                             \
	"06"                                                                   \
	"001122334455"                                                         \
	"00000001"                                                             \
	"20120229"                                                             \
	"135100"
#define PTAC     "F5B221C9"
#define PTAC_SM4 "7D5C75D7"
#define K2       "0123456789ABCDEFFEDCBA9876543210"
#define CITY     "5810FF0000000000"
#define CARD     "0000000012345678"
#define IV0      "0000000000000000"
#define IV0S     "00000000000000000000000000000000"

static void
put(struct hsmtest *t, int alg, unsigned index, const char *type,
    const char *keyhex)
{
	struct hsm_cmd_ctx c = hsmtest_ctx(t);
	struct hsm_key key;

	memset(&key, 0, sizeof(key));
	key.alg = alg;
	key.len = hsmtest_unhex(keyhex, key.k, sizeof(key.k));
	memcpy(key.type, type, HSM_TYPE_LEN + 1);
	assert_int_equal(hsm_key_store(&c, &key, index, "test"), TKM_OK);
}

static const char *
lmk(struct hsmtest *t, int alg, const char *type, const char *keyhex)
{
	uint8_t k[24], ct[24];
	size_t n = hsmtest_unhex(keyhex, k, sizeof(k));
	char *s = hsmtest_strbuf();

	/* Keys under DK have odd parity (A0/A6/NE set it, the DK unwrap
	 * checks it); the purse vectors' keys do not, and DES ignores it. */
	if (alg == TKM_DES)
		tkm_des_parity_set(k, n);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, alg, type, k, n, ct), TKM_OK);
	snprintf(s, 2400, "%s%s",
	    alg == TKM_SM4 ? "S"
	    : n == 16      ? "X"
	    : n == 24      ? "Y"
			   : "",
	    hsmtest_hex(ct, n));
	return s;
}

/* One UB request. deriv is "n" + factors; pd NULL omits process data;
 * mac NULL omits the MAC. */
struct ub {
	const char *alg; /* "X" or "S" */
	unsigned mode, scheme;
	const char *type, *key, *deriv, *pd;
	unsigned pad;
	const char *iv, *data, *maclen, *mac;
};

static const char *
ub(const struct ub *u)
{
	char *s = hsmtest_strbuf();

	snprintf(s, 2400, "UB%s%u%u%s%s%s%s%u%s%03zu%s%s%s", u->alg, u->mode,
	    u->scheme, u->type, u->key, u->deriv, u->pd ? u->pd : "", u->pad,
	    u->iv, strlen(u->data) / 2, u->data, u->maclen,
	    u->mac ? u->mac : "");
	return s;
}

static const char *
cat_ub(const char *a, const char *b, const char *c)
{
	char *s = hsmtest_strbuf();

	snprintf(s, 2400, "%s%s%s", a, b, c);
	return s;
}

/* Lower-case copy (H fields accept either case; the X/S prefix stays). */
static const char *
lower(const char *in)
{
	char *s = hsmtest_strbuf();
	size_t i;

	for (i = 0; in[i] != '\0' && i < 2399; i++)
		s[i] =
		    (in[i] >= 'A' && in[i] <= 'F') ? (char)(in[i] + 32) : in[i];
	s[i] = '\0';
	return s;
}

static void
expect(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* Generate (mode 0 and mode 1), then verify (mode 2 and mode 1) the
 * expected MAC, and see a changed MAC refused. */
static void
check(struct hsmtest *t, struct ub u, const char *want)
{
	char bad[17];

	u.mac = NULL;
	u.mode = 0;
	expect(t, ub(&u), want);
	u.mode = 1;
	expect(t, ub(&u), want);
	u.mac = want + 4;
	u.mode = 2;
	expect(t, ub(&u), "UC00");
	u.mode = 1;
	expect(t, ub(&u), "UC00");
	snprintf(bad, sizeof(bad), "%s", want + 4);
	bad[0] = bad[0] == '0' ? '1' : '0';
	u.mac = bad;
	expect(t, ub(&u), "UC01");
	u.mode = 2;
	expect(t, ub(&u), "UC01");
}

static const char *
uc(const char *mac)
{
	char *s = hsmtest_strbuf();

	snprintf(s, 2400, "UC00%s", mac);
	return s;
}

/* The key types UB accepts (docs/protocol.md): stored K2/DLK under each
 * at K001 (DES) and K001 (SM4); a single-DES and a 3-key DES key. */
static struct hsmtest *
setup(int authorised)
{
	static const char *const types[] = {"003", "008", "109", "209", "509"};
	struct hsmtest *t = hsmtest_new(authorised);
	size_t i;

	put(t, TKM_DES, 0x001, "109", DLK);
	put(t, TKM_SM4, 0x001, "109", DLK);
	for (i = 0; i < NELEM(types); i++) {
		put(t, TKM_DES, 0x010 + (unsigned)i, types[i], K2);
		put(t, TKM_SM4, 0x010 + (unsigned)i, types[i], K2);
	}
	put(t, TKM_DES, 0x020, "109", "0123456789ABCDEF");
	put(t, TKM_DES, 0x021, "109",
	    "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567");
	put(t, TKM_DES, 0x030, "000", K2);
	put(t, TKM_DES, 0x031, "001", K2);
	return t;
}

/* --- vectors ----------------------------------------------------------- */

static void
test_ub_purse_des(void **state)
{
	struct hsmtest *t = setup(0); /* UB needs no authorised state */
	struct ub u = {"X", 0, 1, "109", "K001", "0", PD_LOAD, 0, IV0, MAC1_IN,
	    "04", NULL};

	(void)state;
	check(t, u, uc(MAC1));
	u.data = MAC2_IN;
	check(t, u, uc(MAC2));
	u.pd = PD_BUY;
	u.data = BUY1_IN;
	check(t, u, uc(BUY1));
	/* TACs, scheme 2, with and without process data (old clients). */
	u.scheme = 2;
	u.data = LTAC_IN;
	u.pd = "0000000000000000";
	check(t, u, uc(LTAC));
	u.pd = NULL;
	check(t, u, uc(LTAC));
	u.data = PTAC_IN;
	check(t, u, uc(PTAC));
	/* The key as a cryptogram under DK; lower-case hex. */
	u.key = lmk(t, TKM_DES, "109", DLK);
	check(t, u, uc(PTAC));
	expect(t,
	    "UBX22109K00100" IV0 "022" PTAC_IN "04"
	    "f5b221c9",
	    "UC00");
	expect(t,
	    cat_ub("UBX12109", lower(lmk(t, TKM_DES, "109", DLK)),
		"00" IV0 "022" PTAC_IN "04"
		"f5b221c9"),
	    "UC00");
	hsmtest_free(t);
}

static void
test_ub_purse_sm4(void **state)
{
	struct hsmtest *t = setup(0);
	struct ub u = {
	    "S", 0, 2, "109", "K001", "0", NULL, 0, IV0S, LTAC_IN, "04", NULL};
	struct tkm_purse_txn txn;
	uint8_t dlk[16], sk[16], mac[4];
	size_t sklen;

	(void)state;
	check(t, u, uc(LTAC_SM4));
	u.data = PTAC_IN;
	check(t, u, uc(PTAC_SM4));
	/* Load MAC1 with the SM4 session key SM4(DLK, S || ~S). */
	memset(&txn, 0, sizeof(txn));
	hsmtest_unhex(DLK, dlk, sizeof(dlk));
	hsmtest_unhex("11223344", txn.rnd, 4);
	hsmtest_unhex("00001000", txn.amount, 4);
	txn.type = 1;
	hsmtest_unhex("001122334455", txn.term, 6);
	assert_int_equal(
	    tkm_purse_load_sk(TKM_SM4, dlk, &txn, sk, &sklen), TKM_OK);
	assert_int_equal(
	    tkm_purse_load_mac1(TKM_SM4, sk, sklen, &txn, mac), TKM_OK);
	u.scheme = 1;
	u.pd = PD_LOAD;
	u.data = MAC1_IN;
	check(t, u, uc(hsmtest_hex(mac, 4)));
	u.key = lmk(t, TKM_SM4, "109", DLK);
	check(t, u, uc(hsmtest_hex(mac, 4)));
	hsmtest_free(t);
}

/* --- schemes and options against libtkm -------------------------------- */

/* MAC by libtkm: derive by factors, then the scheme's key and MAC. */
static const char *
mac_of(int alg, const char *keyhex, const char *factors, unsigned scheme,
    const char *pdhex, int pad, const char *ivhex, const char *datahex,
    size_t maclen)
{
	uint8_t mk[24], f[40], d[24], k[24], pd[8], iv[16], data[999], m[16];
	size_t mn = hsmtest_unhex(keyhex, mk, sizeof(mk));
	size_t fn = hsmtest_unhex(factors, f, sizeof(f)) / 8, dn = 16, kn = 16,
	       ml;
	size_t len = hsmtest_unhex(datahex, data, sizeof(data));
	int ma = TKM_MAC_PBOC;

	hsmtest_unhex(ivhex, iv, sizeof(iv));
	if (fn > 0)
		assert_int_equal(tkm_derive(alg, mk, mn, f, fn, d), TKM_OK);
	else
		memcpy(d, mk, dn = mn);
	if (pdhex != NULL)
		hsmtest_unhex(pdhex, pd, sizeof(pd));
	if (scheme == 0) {
		memcpy(k, d, kn = dn);
	} else if (scheme == 3 || (scheme == 1 && alg == TKM_SM4)) {
		assert_int_equal(tkm_derive(alg, d, dn, pd, 1, k), TKM_OK);
	} else if (scheme == 1) {
		assert_int_equal(tkm_encrypt_block(TKM_DES, d, dn, pd, k), 0);
		kn = 8;
	} else {
		assert_int_equal(tkm_purse_tac_key(alg, d, k, &kn), TKM_OK);
	}
	assert_int_equal(
	    tkm_mac(ma, alg, k, kn, iv, data, len, pad, m, &ml), TKM_OK);
	return uc(hsmtest_hex(m, maclen));
}

static void
test_ub_schemes(void **state)
{
	static const char *const data[] = {"", "00", "0011223344556677",
	    "00112233445566778899AABBCCDDEEFF",
	    "4E6F77206973207468652074696D"
	    "6520666F7220616C6C20"};
	static const struct {
		const char *deriv, *factors;
	} dv[] = {{"0", ""}, {"1" CITY, CITY}, {"2" CITY CARD, CITY CARD}};
	struct hsmtest *t = setup(0);
	struct ub u = {
	    "X", 0, 0, "008", "K011", "0", PD_LOAD, 0, IV0, "", "04", NULL};
	unsigned scheme, pad;
	size_t i, j, a;
	const char *want;

	(void)state;
	for (a = 0; a < 2; a++) {
		u.alg = a ? "S" : "X";
		u.iv =
		    a ? "000102030405060708090A0B0C0D0E0F" : "0102030405060708";
		for (scheme = 0; scheme < 4; scheme++)
			for (pad = 0; pad < 2; pad++)
				for (i = 0; i < NELEM(data); i++)
					for (j = 0; j < NELEM(dv); j++) {
						u.scheme = scheme;
						u.pad = pad;
						u.data = data[i];
						u.deriv = dv[j].deriv;
						u.maclen =
						    (i + j) % 2 ? "08" : "04";
						want = mac_of(
						    a ? TKM_SM4 : TKM_DES, K2,
						    dv[j].factors, scheme,
						    PD_LOAD,
						    pad ? TKM_PAD_80_IF_NEEDED
							: TKM_PAD_80,
						    u.iv, data[i],
						    (i + j) % 2 ? 8 : 4);
						check(t, u, want);
					}
	}
	hsmtest_free(t);
}

static void
test_ub_keys(void **state)
{
	static const char *const types[] = {"003", "008", "109", "209", "509"};
	struct hsmtest *t = setup(0);
	struct ub u = {"X", 0, 0, "003", "K010", "1" CITY, NULL, 0, IV0,
	    "0011223344556677", "04", NULL};
	char ref[8];
	size_t i;

	(void)state;
	/* Every allowed type, both libraries, by index and cryptogram. */
	for (i = 0; i < NELEM(types); i++) {
		snprintf(ref, sizeof(ref), "K%03zX", 0x10 + i);
		u.type = types[i];
		u.key = ref;
		u.alg = "X";
		u.iv = IV0;
		check(t, u,
		    mac_of(TKM_DES, K2, CITY, 0, NULL, TKM_PAD_80, IV0, u.data,
			4));
		u.key = lmk(t, TKM_DES, types[i], K2);
		check(t, u,
		    mac_of(TKM_DES, K2, CITY, 0, NULL, TKM_PAD_80, IV0, u.data,
			4));
		u.key = ref;
		u.alg = "S";
		u.iv = IV0S;
		check(t, u,
		    mac_of(TKM_SM4, K2, CITY, 0, NULL, TKM_PAD_80, IV0S, u.data,
			4));
	}
	/* Single-DES key, no derivation: single-DES MAC (PBOC rule); a
	 * 3-key DES key: retail MAC; both derive to 16 bytes. */
	u.type = "109";
	u.alg = "X";
	u.iv = IV0;
	u.deriv = "0";
	u.key = "K020";
	check(t, u,
	    mac_of(TKM_DES, "0123456789ABCDEF", "", 0, NULL, TKM_PAD_80, IV0,
		u.data, 4));
	u.key = lmk(t, TKM_DES, "109", "0123456789ABCDEF");
	check(t, u,
	    mac_of(TKM_DES, "0123456789ABCDEF", "", 0, NULL, TKM_PAD_80, IV0,
		u.data, 4));
	u.key = "K021";
	check(t, u,
	    mac_of(TKM_DES, "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567",
		"", 0, NULL, TKM_PAD_80, IV0, u.data, 4));
	u.deriv = "1" CITY;
	check(t, u,
	    mac_of(TKM_DES, "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567",
		CITY, 0, NULL, TKM_PAD_80, IV0, u.data, 4));
	hsmtest_free(t);
}

/* --- errors ------------------------------------------------------------ */

static void
test_ub_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    /* head */
	    {"UB", "UC15"},
	    {"UBQ01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC05"},
	    {"UBX31109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC05"},
	    {"UBXA1109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC15"},
	    {"UBX04109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC05"},
	    {"UBX01ZZZK0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC04"},
	    {"UBX01000K0300" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC28"},
	    {"UBX01001K0310" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC28"},
	    {"UBX0100AK0310" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC28"},
	    {"UBX01309K0310" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC28"},
	    /* key */
	    {"UBX01008K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC28"},
	    {"UBX01109K0FF0" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC12"},
	    {"UBS01109K0200" PD_LOAD "0" IV0S "015" MAC1_IN "04", "UC12"},
	    {"UBX01109Q0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC26"},
	    {"UBX01109K00", "UC15"},
	    /* derivation */
	    {"UBX01109K0016" CITY CITY CITY CITY CITY CITY PD_LOAD "0" IV0
	     "015" MAC1_IN "04",
		"UC15"},
	    {"UBX01109K0011"
	     "5810FF00000000G0" PD_LOAD "0" IV0 "015" MAC1_IN "04",
		"UC15"},
	    {"UBX01109K001A" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC15"},
	    /* process data, pad, IV, data */
	    {"UBX01109K0010"
	     "0" IV0 "015" MAC1_IN "04",
		"UC15"},
	    {"UBX01109K0010"
	     "11223344000080G0"
	     "0" IV0 "015" MAC1_IN "04",
		"UC15"},
	    {"UBX01109K0010" PD_LOAD "2" IV0 "015" MAC1_IN "04", "UC05"},
	    {"UBX01109K0010" PD_LOAD "0"
	     "000000000000000G"
	     "015" MAC1_IN "04",
		"UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "016" MAC1_IN "04", "UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "0", "UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015"
	     "00000000000010000100112233445G"
	     "04",
		"UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "01A" MAC1_IN "04", "UC15"},
	    /* MAC length and MAC */
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "05", "UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "16", "UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN, "UC15"},
	    {"UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04" MAC1, "UC15"},
	    {"UBX21109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC15"},
	    {"UBX21109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04"
	     "2988AE5",
		"UC15"},
	    {"UBX21109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04"
	     "2988AE5G",
		"UC15"},
	    {"UBX11109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04"
	     "2988AE5A0",
		"UC15"},
	    {"UBX21109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04"
	     "2988AE5B",
		"UC01"},
	    /* key lengths the scheme cannot use */
	    {"UBX02109K0200"
	     "0" IV0 "008"
	     "0011223344556677"
	     "04",
		"UC02"},
	    {"UBX02109K0210"
	     "0" IV0 "008"
	     "0011223344556677"
	     "04",
		"UC02"},
	    {"UBX03109K0200" PD_LOAD "0" IV0 "008"
	     "0011223344556677"
	     "04",
		"UC02"},
	    {"UBX00109K0201" CITY "0" IV0 "008"
	     "0011223344556677"
	     "04",
		"UC02"},
	};
	struct hsmtest *t = setup(0);
	struct hsm_dk *dk;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		expect(t, cases[i].req, cases[i].want);
	/* An SM4 cryptogram where DES is asked for, and the reverse. */
	expect(t,
	    cat_ub("UBX01109", lmk(t, TKM_SM4, "109", DLK),
		"0" PD_LOAD "0" IV0 "015" MAC1_IN "04"),
	    "UC26");
	expect(t,
	    cat_ub("UBS01109", lmk(t, TKM_DES, "109", DLK),
		"0" PD_LOAD "0" IV0S "015" MAC1_IN "04"),
	    "UC26");
	/* A SM4 request with a DES-sized IV. */
	expect(t, "UBS01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC15");
	/* Sealed. */
	dk = t->st.dk;
	t->st.dk = NULL;
	expect(t, "UBX01109K0010" PD_LOAD "0" IV0 "015" MAC1_IN "04", "UC13");
	t->st.dk = dk;
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ub_purse_des),
	    cmocka_unit_test(test_ub_purse_sm4),
	    cmocka_unit_test(test_ub_schemes),
	    cmocka_unit_test(test_ub_keys),
	    cmocka_unit_test(test_ub_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
