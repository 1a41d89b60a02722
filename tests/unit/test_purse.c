/*
 * test_purse.c - e-purse session keys, MACs and TACs (purse.h).
 *
 * DES load and purchase: the published PBOC e-purse worked example of
 * tests/kat/public.txt. SM4 and the TACs have no published example; their
 * values were computed independently with Debian's python3-botan (as in
 * tests/kat/sym.txt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mac.h"
#include "tkm/purse.h"

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), out, cap, &n), TKM_OK);
	return n;
}

/* A transaction from hex fields (NULL leaves zeros). */
struct txn_hex {
	const char *bal, *amt, *type, *term, *date, *time, *rnd, *sn, *termsn;
};

static void
txn(const struct txn_hex *h, struct tkm_purse_txn *t)
{
	memset(t, 0, sizeof(*t));
	if (h->bal)
		unhex(h->bal, t->balance, 4);
	if (h->amt)
		unhex(h->amt, t->amount, 4);
	if (h->type)
		unhex(h->type, &t->type, 1);
	if (h->term)
		unhex(h->term, t->term, 6);
	if (h->date)
		unhex(h->date, t->date, 4);
	if (h->time)
		unhex(h->time, t->time, 3);
	if (h->rnd)
		unhex(h->rnd, t->rnd, 4);
	if (h->sn)
		unhex(h->sn, t->serial, 2);
	if (h->termsn)
		unhex(h->termsn, t->term_sn, 4);
}

/* public.txt's DES example: load (20111221 214822) and purchase. */
static const struct txn_hex load1 = {"00000000", "00001000", "01",
    "001122334455", "20111221", "214822", "11223344", "0000", NULL};
static const struct txn_hex buy1 = {NULL, "00001000", "06", "001122334455",
    "20120229", "135100", "11223344", "0000", "00000001"};
/* a second transaction (computed values only) */
static const struct txn_hex load2 = {"000186A0", "00002710", "02",
    "123456789012", "20240131", "235959", "A1B2C3D4", "0102", NULL};
static const struct txn_hex buy2 = {NULL, "00002710", "05", "123456789012",
    "20240131", "235959", "A1B2C3D4", "0102", "1234ABCD"};

#define KEY1 "11223344556677888877665544332211"
#define KEY2 "000102030405060708090A0B0C0D0E0F"

static void
check_sk(int alg, int load, const char *key, const struct txn_hex *h,
    const char *want_hex)
{
	uint8_t k[16], want[16], got[16];
	struct tkm_purse_txn t;
	size_t n = 99, w;

	unhex(key, k, sizeof(k));
	w = unhex(want_hex, want, sizeof(want));
	txn(h, &t);
	assert_int_equal(load ? tkm_purse_load_sk(alg, k, &t, got, &n)
			      : tkm_purse_purchase_sk(alg, k, &t, got, &n),
	    TKM_OK);
	assert_int_equal(n, w);
	assert_memory_equal(got, want, w);
}

static void
test_session_keys(void **state)
{
	(void)state;
	/* public.txt purse.seslk / purse.sespk */
	check_sk(TKM_DES, 1, KEY1, &load1, "9B1D924E05595603");
	check_sk(TKM_DES, 0, KEY1, &buy1, "003238ABC57659DD");
	/* computed */
	check_sk(TKM_DES, 1, KEY2, &load2, "4E622DEB9CADF406");
	check_sk(TKM_DES, 0, KEY2, &buy2, "10E1284506761907");
	check_sk(TKM_SM4, 1, KEY1, &load1, "2BA8909BD617FF7DBC1316598E8BEF60");
	check_sk(TKM_SM4, 1, KEY2, &load2, "9800111F6E87E6474006C74C212841B1");
	check_sk(TKM_SM4, 0, KEY1, &buy1, "837A2D7BAD7148114F160172E17BD1E9");
	check_sk(TKM_SM4, 0, KEY2, &buy2, "6028CACF82260D6133787EE04E7F11B2");
}

/* Only the low 2 bytes of the terminal serial enter the purchase key. */
static void
test_sespk_termsn(void **state)
{
	struct txn_hex h = buy2;

	(void)state;
	h.termsn = "0000ABCD";
	check_sk(TKM_DES, 0, KEY2, &h, "10E1284506761907");
	h.termsn = "FFFFABCD";
	check_sk(TKM_SM4, 0, KEY2, &h, "6028CACF82260D6133787EE04E7F11B2");
}

enum { LOAD1, LOAD2, BUY1, BUY2 };

typedef int mac_fn(
    int, const uint8_t *, size_t, const struct tkm_purse_txn *, uint8_t *);

static const struct mac_kat {
	int alg, which;
	const char *sk;
	const struct txn_hex *t;
	const char *out;
} mac_kats[] = {
    /* public.txt purse.load.mac1/mac2, purse.purchase.mac1/mac2 */
    {TKM_DES, LOAD1, "9B1D924E05595603", &load1, "2988AE5A"},
    {TKM_DES, LOAD2, "9B1D924E05595603", &load1, "3A845BF0"},
    {TKM_DES, BUY1, "003238ABC57659DD", &buy1, "F15CAB75"},
    {TKM_DES, BUY2, "003238ABC57659DD", &buy1, "56988A13"},
    /* computed */
    {TKM_SM4, LOAD1, "2BA8909BD617FF7DBC1316598E8BEF60", &load1, "69165F86"},
    {TKM_SM4, LOAD2, "2BA8909BD617FF7DBC1316598E8BEF60", &load1, "101F0997"},
    {TKM_SM4, LOAD1, "9800111F6E87E6474006C74C212841B1", &load2, "7350DB8F"},
    {TKM_SM4, LOAD2, "9800111F6E87E6474006C74C212841B1", &load2, "DF509E0A"},
    {TKM_SM4, BUY1, "837A2D7BAD7148114F160172E17BD1E9", &buy1, "9BAFBCAC"},
    {TKM_SM4, BUY2, "837A2D7BAD7148114F160172E17BD1E9", &buy1, "B05BF7F7"},
    {TKM_SM4, BUY1, "6028CACF82260D6133787EE04E7F11B2", &buy2, "88C04AEB"},
    {TKM_SM4, BUY2, "6028CACF82260D6133787EE04E7F11B2", &buy2, "ADBADBE2"},
};

static mac_fn *const mac_fns[] = {tkm_purse_load_mac1, tkm_purse_load_mac2,
    tkm_purse_purchase_mac1, tkm_purse_purchase_mac2};

static void
test_macs(void **state)
{
	uint8_t sk[16], want[4], got[4];
	struct tkm_purse_txn t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(mac_kats) / sizeof(mac_kats[0]); i++) {
		n = unhex(mac_kats[i].sk, sk, sizeof(sk));
		unhex(mac_kats[i].out, want, sizeof(want));
		txn(mac_kats[i].t, &t);
		assert_int_equal(
		    mac_fns[mac_kats[i].which](mac_kats[i].alg, sk, n, &t, got),
		    TKM_OK);
		assert_memory_equal(got, want, 4);
	}
}

/* Each MAC reads its own fields only: a field outside its input does not
 * change it, one inside does. */
static void
test_mac_fields(void **state)
{
	uint8_t sk[8], a[4], b[4];
	struct tkm_purse_txn t, u;

	(void)state;
	unhex("9B1D924E05595603", sk, sizeof(sk));
	txn(&load1, &t);
	u = t;
	u.date[0] ^= 1; /* not in load MAC1 */
	u.rnd[0] ^= 1;
	assert_int_equal(tkm_purse_load_mac1(TKM_DES, sk, 8, &t, a), TKM_OK);
	assert_int_equal(tkm_purse_load_mac1(TKM_DES, sk, 8, &u, b), TKM_OK);
	assert_memory_equal(a, b, 4);
	u.balance[3] ^= 1; /* in load MAC1 */
	assert_int_equal(tkm_purse_load_mac1(TKM_DES, sk, 8, &u, b), TKM_OK);
	assert_memory_not_equal(a, b, 4);
	u = t;
	u.balance[0] ^= 1; /* not in load MAC2 */
	assert_int_equal(tkm_purse_load_mac2(TKM_DES, sk, 8, &t, a), TKM_OK);
	assert_int_equal(tkm_purse_load_mac2(TKM_DES, sk, 8, &u, b), TKM_OK);
	assert_memory_equal(a, b, 4);
	u.time[2] ^= 1;
	assert_int_equal(tkm_purse_load_mac2(TKM_DES, sk, 8, &u, b), TKM_OK);
	assert_memory_not_equal(a, b, 4);
	u = t;
	u.type ^= 1; /* purchase MAC2 covers the amount only */
	assert_int_equal(
	    tkm_purse_purchase_mac2(TKM_DES, sk, 8, &t, a), TKM_OK);
	assert_int_equal(
	    tkm_purse_purchase_mac2(TKM_DES, sk, 8, &u, b), TKM_OK);
	assert_memory_equal(a, b, 4);
}

static const struct tac_kat {
	int alg, load;
	const char *dtk;
	const struct txn_hex *t;
	const char *bal, *out; /* bal: the new balance of a load */
} tac_kats[] = {
    {TKM_DES, 1, KEY1, &load1, "00001000", "FF5C1389"},
    {TKM_DES, 1, KEY2, &load2, "00029810", "66DB649A"},
    {TKM_DES, 0, KEY1, &buy1, NULL, "F5B221C9"},
    {TKM_DES, 0, KEY2, &buy2, NULL, "D9F84BD7"},
    {TKM_SM4, 1, KEY1, &load1, "00001000", "C3A2A77C"},
    {TKM_SM4, 1, KEY2, &load2, "00029810", "0726D7EE"},
    {TKM_SM4, 0, KEY1, &buy1, NULL, "7D5C75D7"},
    {TKM_SM4, 0, KEY2, &buy2, NULL, "5C68296A"},
};

static void
test_tacs(void **state)
{
	uint8_t dtk[16], want[4], got[4];
	struct tkm_purse_txn t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tac_kats) / sizeof(tac_kats[0]); i++) {
		unhex(tac_kats[i].dtk, dtk, sizeof(dtk));
		unhex(tac_kats[i].out, want, sizeof(want));
		txn(tac_kats[i].t, &t);
		if (tac_kats[i].bal != NULL)
			unhex(tac_kats[i].bal, t.balance, 4);
		assert_int_equal(
		    tac_kats[i].load
			? tkm_purse_load_tac(tac_kats[i].alg, dtk, &t, got)
			: tkm_purse_purchase_tac(tac_kats[i].alg, dtk, &t, got),
		    TKM_OK);
		assert_memory_equal(got, want, 4);
	}
}

/* The TAC key, and the TAC as a PBOC MAC under it (UB scheme 2). */
static void
test_tac_key(void **state)
{
	uint8_t dtk[16], key[16], want[16], mac[16], tac[4];
	struct tkm_purse_txn t;
	size_t kl = 99, n;
	uint8_t msg[22];

	(void)state;
	unhex(KEY1, dtk, sizeof(dtk));
	assert_int_equal(tkm_purse_tac_key(TKM_DES, dtk, key, &kl), TKM_OK);
	assert_int_equal(kl, 8);
	unhex("9955551111555599", want, 8);
	assert_memory_equal(key, want, 8);
	assert_int_equal(tkm_purse_tac_key(TKM_SM4, dtk, key, &kl), TKM_OK);
	assert_int_equal(kl, 16);
	assert_memory_equal(key, dtk, 16);

	txn(&buy1, &t);
	memcpy(msg, t.amount, 4);
	msg[4] = t.type;
	memcpy(msg + 5, t.term, 6);
	memcpy(msg + 11, t.term_sn, 4);
	memcpy(msg + 15, t.date, 4);
	memcpy(msg + 19, t.time, 3);
	assert_int_equal(tkm_purse_tac_key(TKM_DES, dtk, key, &kl), TKM_OK);
	assert_int_equal(tkm_mac(TKM_MAC_PBOC, TKM_DES, key, kl, NULL, msg,
			     sizeof(msg), TKM_PAD_80, mac, &n),
	    TKM_OK);
	assert_int_equal(tkm_purse_purchase_tac(TKM_DES, dtk, &t, tac), TKM_OK);
	assert_memory_equal(tac, mac, 4);
	assert_int_equal(tkm_purse_tac_key(3, dtk, key, &kl), TKM_ERR_MODE);
	assert_int_equal(kl, 0);
	assert_int_equal(
	    tkm_purse_tac_key(TKM_DES, NULL, key, &kl), TKM_ERR_INPUT);
}

static void
test_errors(void **state)
{
	uint8_t k[16] = {0}, out[16], z[4] = {0};
	struct tkm_purse_txn t;
	size_t n = 99;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(tkm_purse_load_sk(0, k, &t, out, &n), TKM_ERR_MODE);
	assert_int_equal(n, 0);
	assert_int_equal(
	    tkm_purse_purchase_sk(3, k, &t, out, &n), TKM_ERR_MODE);
	assert_int_equal(
	    tkm_purse_load_sk(TKM_DES, NULL, &t, out, &n), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_load_sk(TKM_DES, k, NULL, out, &n), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_load_sk(TKM_DES, k, &t, NULL, &n), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_load_sk(TKM_DES, k, &t, out, NULL), TKM_ERR_INPUT);
	/* session keys: 8 bytes DES, 16 SM4 */
	memset(out, 0xA5, sizeof(out));
	assert_int_equal(
	    tkm_purse_load_mac1(TKM_DES, k, 16, &t, out), TKM_ERR_KEY_LEN);
	assert_memory_equal(out, z, 4);
	assert_int_equal(
	    tkm_purse_load_mac2(TKM_SM4, k, 8, &t, out), TKM_ERR_KEY_LEN);
	assert_int_equal(
	    tkm_purse_purchase_mac1(9, k, 8, &t, out), TKM_ERR_MODE);
	assert_int_equal(
	    tkm_purse_purchase_mac2(TKM_DES, NULL, 8, &t, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_purchase_mac2(TKM_DES, k, 8, NULL, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_purchase_mac2(TKM_DES, k, 8, &t, NULL), TKM_ERR_INPUT);
	memset(out, 0xA5, sizeof(out));
	assert_int_equal(tkm_purse_load_tac(0, k, &t, out), TKM_ERR_MODE);
	assert_memory_equal(out, z, 4);
	assert_int_equal(
	    tkm_purse_purchase_tac(TKM_SM4, NULL, &t, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_purchase_tac(TKM_SM4, k, NULL, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_purse_purchase_tac(TKM_SM4, k, &t, NULL), TKM_ERR_INPUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_keys),
	    cmocka_unit_test(test_sespk_termsn),
	    cmocka_unit_test(test_macs),
	    cmocka_unit_test(test_mac_fields),
	    cmocka_unit_test(test_tacs),
	    cmocka_unit_test(test_tac_key),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
