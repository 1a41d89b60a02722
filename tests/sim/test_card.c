/*
 * test_card.c - the JT/T 978 user card emulator (src/sim/card.h).
 *
 * Known answers: VEC_* of simtest.h, computed by tests/sim/vectors.py with
 * python3-cryptography from the definitions, independently of libtkm (the
 * library's purse, MAC and EMV functions are pinned by their own KATs in
 * tests/kat/). Each test runs for a DES and an SM4 card.
 */
#include <stdlib.h>
#include <unistd.h>

#include "simtest.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/purse.h"

#define SELECT    "00A4040008A000000632010105"
#define V(alg, n) ((alg) == TKM_DES ? VEC_DES_##n : VEC_SM4_##n)

static int des = TKM_DES, sm4 = TKM_SM4;

struct fx {
	int alg;
	struct simtest_rng rng;
	struct sim_card *c;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->alg = *(int *)*state;
	f->c = simtest_card(f->alg, &f->rng);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	sim_card_free(f->c);
	free(f);
	return 0;
}

/* The card's state file (the "no state change" checks compare it). */
static void
snap(const struct sim_card *c, char *out)
{
	size_t n = 0;

	assert_int_equal(sim_card_write(c, out, SIM_FILE_MAX - 1, &n), TKM_OK);
	out[n] = '\0';
}

static void
personalise(struct fx *f)
{
	simtest_personalise(f->c, &f->rng, f->alg);
}

/* ---- the host side, with libtkm's purse functions (the HSM's maths) --- */

struct host_txn {
	uint32_t amount;
	const char *rnd, *date, *time;
	uint8_t ki;
};

/* INITIALIZE FOR LOAD, MAC1 checked as the host does; the transaction
 * (balance = old one) into t and the session key into sk. */
static void
host_init_load(struct fx *f, const struct host_txn *h, struct tkm_purse_txn *t,
    uint8_t sk[16], size_t *sklen)
{
	char cmd[80], out[HEXBUF];
	uint8_t r[16], dlk[16], mac1[4];

	simtest_rng_set(&f->rng, h->rnd);
	snprintf(cmd, sizeof(cmd), "805000020B%02X%08lX%s10", h->ki,
	    (unsigned long)h->amount, T_TERM);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	unhex_n(out, r, 16);
	memset(t, 0, sizeof(*t));
	memcpy(t->balance, r, 4);
	sim_put_be32(t->amount, h->amount);
	t->type = 0x02;
	unhex_n(T_TERM, t->term, 6);
	memcpy(t->serial, r + 4, 2);
	memcpy(t->rnd, r + 8, 4);
	unhex_n(h->date, t->date, 4);
	unhex_n(h->time, t->time, 3);
	assert_int_equal(r[6], h->ki);
	assert_int_equal(r[7], sim_alg_id(f->alg));
	simtest_card_key(f->alg, T_BK_LOAD, dlk);
	assert_int_equal(tkm_purse_load_sk(f->alg, dlk, t, sk, sklen), TKM_OK);
	assert_int_equal(
	    tkm_purse_load_mac1(f->alg, sk, *sklen, t, mac1), TKM_OK);
	assert_memory_equal(mac1, r + 12, 4);
}

/* A whole load; the TAC is checked as the clearing checks it. */
static void
host_load(struct fx *f, uint32_t amount, const char *rnd)
{
	struct host_txn h = {amount, rnd, "20240301", "101010", 1};
	struct tkm_purse_txn t;
	uint8_t sk[16], mac2[4], dtk[16], tac[4];
	char cmd[80], mhex[9], out[HEXBUF];
	size_t sklen = 0;
	uint32_t bal = sim_card_balance(f->c);

	host_init_load(f, &h, &t, sk, &sklen);
	assert_int_equal(
	    tkm_purse_load_mac2(f->alg, sk, sklen, &t, mac2), TKM_OK);
	tkm_hex_encode(mac2, 4, mhex);
	snprintf(cmd, sizeof(cmd), "805200000B%s%s%s04", h.date, h.time, mhex);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	sim_put_be32(t.balance, bal + amount);
	simtest_card_key(f->alg, T_BK_TAC, dtk);
	assert_int_equal(tkm_purse_load_tac(f->alg, dtk, &t, tac), TKM_OK);
	tkm_hex_encode(tac, 4, mhex);
	assert_string_equal(out, mhex);
	assert_int_equal(sim_card_balance(f->c), bal + amount);
}

/* INITIALIZE FOR PURCHASE and MAC1 as the PSAM makes it; the DEBIT command
 * into cmd. */
static unsigned
host_init_purchase(struct fx *f, uint32_t amount, const char *rnd,
    const char *termsn, struct tkm_purse_txn *t, uint8_t sk[16], size_t *sklen,
    char *cmd, size_t cap)
{
	char c[80], out[HEXBUF], mhex[9];
	uint8_t r[15], dpk[16], mac1[4];
	unsigned sw;

	simtest_rng_set(&f->rng, rnd);
	snprintf(c, sizeof(c), "805001020B01%08lX%s0F", (unsigned long)amount,
	    T_TERM);
	if ((sw = card_tx(f->c, c, out)) != SIM_SW_OK)
		return sw;
	unhex_n(out, r, 15);
	memset(t, 0, sizeof(*t));
	sim_put_be32(t->amount, amount);
	t->type = 0x06;
	unhex_n(T_TERM, t->term, 6);
	memcpy(t->serial, r + 4, 2);
	memcpy(t->rnd, r + 11, 4);
	unhex_n(termsn, t->term_sn, 4);
	unhex_n("20240302", t->date, 4);
	unhex_n("111111", t->time, 3);
	simtest_card_key(f->alg, T_BK_PURCH, dpk);
	assert_int_equal(
	    tkm_purse_purchase_sk(f->alg, dpk, t, sk, sklen), TKM_OK);
	assert_int_equal(
	    tkm_purse_purchase_mac1(f->alg, sk, *sklen, t, mac1), TKM_OK);
	tkm_hex_encode(mac1, 4, mhex);
	snprintf(cmd, cap, "805401000F%s20240302111111%s08", termsn, mhex);
	return SIM_SW_OK;
}

/* A whole purchase; TAC and MAC2 checked. */
static void
host_purchase(struct fx *f, uint32_t amount, const char *rnd)
{
	struct tkm_purse_txn t;
	uint8_t sk[16], dtk[16], want[8];
	char cmd[80], out[HEXBUF], whex[17];
	size_t sklen = 0;
	uint32_t bal = sim_card_balance(f->c);

	assert_int_equal(host_init_purchase(f, amount, rnd, "0000ABCD", &t, sk,
			     &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	simtest_card_key(f->alg, T_BK_TAC, dtk);
	assert_int_equal(tkm_purse_purchase_tac(f->alg, dtk, &t, want), TKM_OK);
	assert_int_equal(
	    tkm_purse_purchase_mac2(f->alg, sk, sklen, &t, want + 4), TKM_OK);
	tkm_hex_encode(want, 8, whex);
	assert_string_equal(out, whex);
	assert_int_equal(sim_card_balance(f->c), bal - amount);
}

/* ---- key writing -------------------------------------------------------- */

static void
test_write_key_kat(void **state)
{
	struct fx *f = *state;
	uint8_t tk[16], k[16], rnd[4], apdu[64];
	char out[HEXBUF], hex[HEXBUF];
	size_t n = 0;

	unhex_n(T_TK, tk, 16);
	unhex_n("C1C2C3C4", rnd, 4);
	simtest_card_key(f->alg, T_BK_LOAD, k);
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	simtest_rng_set(&f->rng, "C1C2C3C4");
	assert_int_equal(card_tx(f->c, "0084000004", out), SIM_SW_OK);
	assert_string_equal(out, "C1C2C3C4");
	/* what U3 makes (mode 1, scheme 1) is the independent vector */
	assert_int_equal(sim_sm_wrap_key(f->alg, tk, rnd, 4, SIM_KEY_LOAD, 1, k,
			     apdu, sizeof(apdu), &n),
	    TKM_OK);
	tkm_hex_encode(apdu, n, hex);
	assert_string_equal(hex, V(f->alg, WRITE_LOAD));
	assert_false(sim_card_has_key(f->c, SIM_KEY_LOAD, 1));
	assert_int_equal(card_tx(f->c, V(f->alg, WRITE_LOAD), NULL), SIM_SW_OK);
	assert_true(sim_card_has_key(f->c, SIM_KEY_LOAD, 1));
	/* the challenge is used up: a replay is refused */
	assert_int_equal(
	    card_tx(f->c, V(f->alg, WRITE_LOAD), NULL), SIM_SW_CONDITIONS);
}

/* 84D4 with a given clear text (len byte, pad) and a correct MAC. */
static unsigned
write_raw(struct fx *f, const uint8_t p[16], uint8_t p1, uint8_t p2,
    const uint8_t *pt, size_t ptlen, int bad_mac)
{
	uint8_t apdu[64], iv[16] = {0x11, 0x22, 0x33, 0x44}, full[16];
	uint8_t resp[SIM_APDU_MAX_RESP];
	size_t n = 0, m = 0;

	simtest_rng_set(&f->rng, "11223344");
	assert_int_equal(card_tx(f->c, "0084000004", NULL), SIM_SW_OK);
	apdu[0] = 0x84;
	apdu[1] = 0xD4;
	apdu[2] = p1;
	apdu[3] = p2;
	apdu[4] = (uint8_t)(ptlen + 4);
	assert_int_equal(tkm_cipher(f->alg, TKM_ECB, TKM_ENCRYPT, p, 16, NULL,
			     pt, ptlen, apdu + 5),
	    TKM_OK);
	assert_int_equal(tkm_mac(TKM_MAC_PBOC, f->alg, p, 16, iv, apdu,
			     5 + ptlen, TKM_PAD_80, full, &m),
	    TKM_OK);
	memcpy(apdu + 5 + ptlen, full, 4);
	apdu[5 + ptlen + 3] ^= (uint8_t)bad_mac;
	assert_int_equal(
	    sim_card_apdu(f->c, apdu, 9 + ptlen, resp, sizeof(resp), &n),
	    TKM_OK);
	return simtest_resp(resp, n, NULL);
}

static void
test_write_key_refused(void **state)
{
	struct fx *f = *state;
	size_t ctlen = sim_sm_ct_len(f->alg);
	uint8_t tk[16], pt[32] = {16}, k[16], enc[16];
	char before[SIM_FILE_MAX], after[SIM_FILE_MAX], cmd[128];

	unhex_n(T_TK, tk, 16);
	memset(pt + 1, 0x42, 16);
	pt[17] = 0x80;
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	snap(f->c, before);
	/* wrong MAC: 6988, nothing written */
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 1, pt, ctlen, 1), SIM_SW_SM_MAC);
	snap(f->c, after);
	assert_string_equal(before, after);
	/* clear text not len=16 || key || 80 00..: 6A80 */
	pt[0] = 8;
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 1, pt, ctlen, 0), SIM_SW_BAD_DATA);
	pt[0] = 16;
	pt[17] = 0x81;
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 1, pt, ctlen, 0), SIM_SW_BAD_DATA);
	pt[17] = 0x80;
	pt[ctlen - 1] = 1;
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 1, pt, ctlen, 0), SIM_SW_BAD_DATA);
	pt[ctlen - 1] = 0;
	/* the other algorithm's length: 6700 */
	simtest_rng_set(&f->rng, "11223344");
	assert_int_equal(card_tx(f->c, "0084000004", NULL), SIM_SW_OK);
	assert_int_equal(card_tx(f->c,
			     simtest_zeros(cmd, sizeof(cmd), "84D40301",
				 f->alg == TKM_DES ? 36 : 28),
			     NULL),
	    SIM_SW_WRONG_LENGTH);
	/* a key the card has not: 6A86 */
	assert_int_equal(
	    write_raw(f, tk, 0x10, 1, pt, ctlen, 0), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 4, pt, ctlen, 0), SIM_SW_WRONG_P1P2);
	snap(f->c, after);
	assert_string_equal(before, after);
	/* without a challenge: 6985 */
	simtest_zeros(cmd, sizeof(cmd), "84D40301", ctlen + 4);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
	/* plain 80D4 is not a command of the card */
	cmd[1] = '0';
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CLA);
	/* the right one works, under the SM-ENC key once that is written */
	assert_int_equal(
	    write_raw(f, tk, SIM_KEY_LOAD, 1, pt, ctlen, 0), SIM_SW_OK);
	simtest_card_key(f->alg, T_BK_ENC, enc);
	assert_int_equal(simtest_write_key(
			     f->c, &f->rng, f->alg, tk, SIM_KEY_SM_ENC, 1, enc),
	    SIM_SW_OK);
	simtest_card_key(f->alg, T_BK_LOAD, k);
	assert_int_equal(
	    simtest_write_key(f->c, &f->rng, f->alg, tk, SIM_KEY_LOAD, 1, k),
	    SIM_SW_SM_MAC);
	assert_int_equal(
	    simtest_write_key(f->c, &f->rng, f->alg, enc, SIM_KEY_LOAD, 1, k),
	    SIM_SW_OK);
}

/* ---- load and purchase -------------------------------------------------- */

static void
test_load_kat(void **state)
{
	struct fx *f = *state;
	char cmd[80], out[HEXBUF];
	uint8_t dtk[16], tac[4];
	struct tkm_purse_txn t;

	personalise(f);
	simtest_rng_set(&f->rng, "A1A2A3A4");
	assert_int_equal(
	    card_tx(f->c, "805000020B0100002710" T_TERM "10", out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, INIT_LOAD));
	snprintf(cmd, sizeof(cmd), "805200000B20240131120000%s04",
	    V(f->alg, LOAD_MAC2));
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, LOAD_TAC));
	assert_int_equal(sim_card_balance(f->c), 10000);
	assert_int_equal(sim_card_online_sn(f->c), 1);
	assert_int_equal(sim_card_offline_sn(f->c), 0);
	/* the clearing's check: tkm_purse_load_tac under the card TAC key */
	memset(&t, 0, sizeof(t));
	unhex_n("00002710", t.balance, 4);
	unhex_n("00002710", t.amount, 4);
	t.type = 2;
	unhex_n(T_TERM, t.term, 6);
	unhex_n("20240131", t.date, 4);
	unhex_n("120000", t.time, 3);
	simtest_card_key(f->alg, T_BK_TAC, dtk);
	assert_int_equal(tkm_purse_load_tac(f->alg, dtk, &t, tac), TKM_OK);
	tkm_hex_encode(tac, 4, cmd);
	assert_string_equal(cmd, V(f->alg, LOAD_TAC));
	assert_int_equal(card_tx(f->c, "805C000204", out), SIM_SW_OK);
	assert_string_equal(out, "00002710");
}

static void
test_purchase_kat(void **state)
{
	struct fx *f = *state;
	char cmd[80], out[HEXBUF];
	uint8_t dtk[16], tac[4];
	struct tkm_purse_txn t;

	personalise(f);
	host_load(f, 10000, "01020304");
	simtest_rng_set(&f->rng, "B1B2B3B4");
	assert_int_equal(
	    card_tx(f->c, "805001020B01000005DC" T_TERM "0F", out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, INIT_BUY));
	/* MAC1 as the PSAM makes it (the vector's PSAM answer) */
	snprintf(cmd, sizeof(cmd), "805401000F0000000120240201083000%s08",
	    V(f->alg, PSAM_MAC1) + 8);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, DEBIT));
	assert_int_equal(sim_card_balance(f->c), 10000 - 1500);
	assert_int_equal(sim_card_offline_sn(f->c), 1);
	assert_int_equal(sim_card_online_sn(f->c), 1);
	/* the TAC the clearing verifies */
	memset(&t, 0, sizeof(t));
	unhex_n("000005DC", t.amount, 4);
	t.type = 6;
	unhex_n(T_TERM, t.term, 6);
	unhex_n("00000001", t.term_sn, 4);
	unhex_n("20240201", t.date, 4);
	unhex_n("083000", t.time, 3);
	simtest_card_key(f->alg, T_BK_TAC, dtk);
	assert_int_equal(tkm_purse_purchase_tac(f->alg, dtk, &t, tac), TKM_OK);
	tkm_hex_encode(tac, 4, cmd);
	assert_memory_equal(cmd, V(f->alg, DEBIT), 8);
}

static void
test_wrong_mac2(void **state)
{
	struct fx *f = *state;
	struct host_txn h = {500, "0A0B0C0D", "20240301", "101010", 1};
	char before[SIM_FILE_MAX], after[SIM_FILE_MAX], cmd[80], mhex[9];
	struct tkm_purse_txn t;
	uint8_t sk[16], mac2[4];
	size_t sklen = 0;

	personalise(f);
	host_load(f, 700, "01020304");
	snap(f->c, before);
	host_init_load(f, &h, &t, sk, &sklen);
	assert_int_equal(
	    tkm_purse_load_mac2(f->alg, sk, sklen, &t, mac2), TKM_OK);
	mac2[0] ^= 0x01;
	tkm_hex_encode(mac2, 4, mhex);
	snprintf(cmd, sizeof(cmd), "805200000B%s%s%s04", h.date, h.time, mhex);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_MAC_INVALID);
	snap(f->c, after);
	assert_string_equal(before, after); /* session over, nothing else */
	assert_int_equal(sim_card_balance(f->c), 700);
	assert_int_equal(sim_card_online_sn(f->c), 1);
	/* the right MAC2 now: the transaction is over */
	mac2[0] ^= 0x01;
	tkm_hex_encode(mac2, 4, mhex);
	snprintf(cmd, sizeof(cmd), "805200000B%s%s%s04", h.date, h.time, mhex);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
	/* a MAC2 over another date is wrong too */
	host_init_load(f, &h, &t, sk, &sklen);
	snprintf(cmd, sizeof(cmd), "805200000B20240302%s%s04", h.time, mhex);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_MAC_INVALID);
	host_load(f, 500, "0A0B0C0E");
	assert_int_equal(sim_card_balance(f->c), 1200);
	assert_int_equal(sim_card_online_sn(f->c), 2);
}

static void
test_wrong_mac1(void **state)
{
	struct fx *f = *state;
	char before[SIM_FILE_MAX], after[SIM_FILE_MAX], cmd[80];
	struct tkm_purse_txn t;
	uint8_t sk[16];
	size_t sklen = 0;

	personalise(f);
	host_load(f, 1000, "01020304");
	snap(f->c, before);
	assert_int_equal(host_init_purchase(f, 300, "11111111", "00000007", &t,
			     sk, &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	cmd[strlen(cmd) - 3] ^= 0x01; /* a hex digit of MAC1 */
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_MAC_INVALID);
	snap(f->c, after);
	assert_string_equal(before, after);
	/* MAC1 right but for another terminal SN (the session key differs) */
	assert_int_equal(host_init_purchase(f, 300, "11111112", "00000007", &t,
			     sk, &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	memcpy(cmd + 10, "00000008", 8);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_MAC_INVALID);
	assert_int_equal(sim_card_balance(f->c), 1000);
	assert_int_equal(sim_card_offline_sn(f->c), 0);
	/* DEBIT without INITIALIZE */
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
}

static void
test_insufficient_balance(void **state)
{
	struct fx *f = *state;
	char before[SIM_FILE_MAX], after[SIM_FILE_MAX];

	personalise(f);
	simtest_rng_set(&f->rng, "01010101");
	assert_int_equal(
	    card_tx(f->c, "805001020B0100000001" T_TERM "0F", NULL),
	    SIM_SW_BALANCE);
	host_load(f, 10000, "01020304");
	snap(f->c, before);
	assert_int_equal(
	    card_tx(f->c, "805001020B0100002711" T_TERM "0F", NULL),
	    SIM_SW_BALANCE);
	snap(f->c, after);
	assert_string_equal(before, after);
	host_purchase(f, 10000, "02020202"); /* all of it */
	assert_int_equal(sim_card_balance(f->c), 0);
}

static void
test_serials(void **state)
{
	struct fx *f = *state;
	char out[HEXBUF];
	unsigned i;

	personalise(f);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sim_card_online_sn(f->c), i);
		host_load(f, 100 + i, "01020304");
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(sim_card_offline_sn(f->c), i);
		host_purchase(f, 10 + i, "05060708");
	}
	assert_int_equal(sim_card_online_sn(f->c), 3);
	assert_int_equal(sim_card_offline_sn(f->c), 4);
	assert_int_equal(sim_card_balance(f->c), 303 - 46);
	/* INITIALIZE reports the serial it will use */
	simtest_rng_set(&f->rng, "01020304");
	assert_int_equal(
	    card_tx(f->c, "805000020B0100000001" T_TERM "10", out), SIM_SW_OK);
	assert_memory_equal(out + 8, "0003", 4);
	simtest_rng_set(&f->rng, "01020304");
	assert_int_equal(
	    card_tx(f->c, "805001020B0100000001" T_TERM "0F", out), SIM_SW_OK);
	assert_memory_equal(out + 8, "0004", 4);
}

static void
test_prove(void **state)
{
	struct fx *f = *state;
	char out[HEXBUF], debit[HEXBUF], cmd[80];
	struct tkm_purse_txn t;
	uint8_t sk[16];
	size_t sklen = 0;

	personalise(f);
	assert_int_equal(
	    card_tx(f->c, "805A0002020000", NULL), SIM_SW_NO_PROOF);
	host_load(f, 1000, "01020304");
	assert_int_equal(card_tx(f->c, "805A000202000008", out), SIM_SW_OK);
	assert_int_equal(strlen(out), 16);
	assert_int_equal(host_init_purchase(f, 5, "0F0F0F0F", "00000009", &t,
			     sk, &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	assert_int_equal(card_tx(f->c, cmd, debit), SIM_SW_OK);
	/* MAC2 || TAC of the purchase with offline SN 0 */
	assert_int_equal(card_tx(f->c, "805A000602000008", out), SIM_SW_OK);
	assert_memory_equal(out, debit + 8, 8);
	assert_memory_equal(out + 8, debit, 8);
	assert_int_equal(
	    card_tx(f->c, "805A0006020001", NULL), SIM_SW_NO_PROOF);
	assert_int_equal(card_tx(f->c, "805A0002020000", NULL),
	    SIM_SW_NO_PROOF); /* the last one is a purchase */
	assert_int_equal(
	    card_tx(f->c, "805A0005020000", NULL), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    card_tx(f->c, "805A00060100", NULL), SIM_SW_WRONG_LENGTH);
}

static void
test_max_balance_and_keys(void **state)
{
	struct fx *f = *state;
	struct sim_card_params p = {.alg = f->alg, .max_balance = 1000};
	struct sim_card *c = NULL;
	uint8_t k[16];

	personalise(f);
	host_load(f, SIM_CARD_MAX_BALANCE, "01020304");
	simtest_rng_set(&f->rng, "01020304");
	assert_int_equal(
	    card_tx(f->c, "805000020B0100000001" T_TERM "10", NULL),
	    SIM_SW_CONDITIONS);
	/* key indexes the card has not */
	assert_int_equal(
	    card_tx(f->c, "805000020B0200000001" T_TERM "10", NULL),
	    SIM_SW_KEY_INDEX);
	assert_int_equal(
	    card_tx(f->c, "805000020B0400000001" T_TERM "10", NULL),
	    SIM_SW_KEY_INDEX);
	assert_int_equal(
	    card_tx(f->c, "805001020B0300000001" T_TERM "0F", NULL),
	    SIM_SW_KEY_INDEX);
	/* a card with a load key but no TAC key */
	assert_int_equal(sim_card_new(&p, &c), TKM_OK);
	simtest_card_key(f->alg, T_BK_LOAD, k);
	assert_int_equal(sim_card_set_key(c, SIM_KEY_LOAD, 1, k), TKM_OK);
	assert_int_equal(
	    sim_card_set_key(c, SIM_KEY_LOAD, 4, k), TKM_ERR_INDEX);
	sim_card_set_rng(c, simtest_rng, &f->rng);
	assert_int_equal(card_tx(c, SELECT, NULL), SIM_SW_OK);
	assert_int_equal(card_tx(c, "805000020B0100000001" T_TERM "10", NULL),
	    SIM_SW_NO_KEY);
	sim_card_free(c);
	p.max_balance = SIM_CARD_BALANCE_LIMIT + 1;
	assert_int_equal(sim_card_new(&p, &c), TKM_ERR_INPUT);
	p.max_balance = 0;
	p.alg = 3;
	assert_int_equal(sim_card_new(&p, &c), TKM_ERR_MODE);
	assert_null(c);
}

/* ---- authentication and EMV ---------------------------------------------- */

static void
ext_auth_cmd(struct fx *f, const char *rnd, int good, char *cmd, size_t cap)
{
	uint8_t blk[16] = {0}, k[16], enc[16];
	size_t bs = tkm_block_len(f->alg);
	char hex[33];

	simtest_rng_set(&f->rng, rnd);
	assert_int_equal(card_tx(f->c, "0084000008", NULL), SIM_SW_OK);
	unhex_n(rnd, blk, 8);
	simtest_card_key(f->alg, T_BK_EXT, k);
	assert_int_equal(tkm_encrypt_block(f->alg, k, 16, blk, enc), TKM_OK);
	enc[0] ^= (uint8_t)!good;
	tkm_hex_encode(enc, bs, hex);
	snprintf(cmd, cap, "00820001%02X%s", (unsigned)bs, hex);
}

static void
test_external_auth(void **state)
{
	struct fx *f = *state;
	uint8_t enc[16], k[16];
	char cmd[80];
	unsigned i;

	personalise(f);
	assert_int_equal(sim_card_auth(f->c), 0);
	ext_auth_cmd(f, "0102030405060708", 1, cmd, sizeof(cmd));
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_OK);
	assert_int_equal(sim_card_auth(f->c), 1);
	/* the challenge was used up */
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
	for (i = 3; i > 0; i--) {
		ext_auth_cmd(f, "1112131415161718", 0, cmd, sizeof(cmd));
		assert_int_equal(
		    card_tx(f->c, cmd, NULL), SIM_SW_TRIES_LEFT | (i - 1));
	}
	ext_auth_cmd(f, "2122232425262728", 1, cmd, sizeof(cmd));
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_AUTH_BLOCKED);
	/* writing the key again unblocks it */
	simtest_card_key(f->alg, T_BK_ENC, enc);
	simtest_card_key(f->alg, T_BK_EXT, k);
	assert_int_equal(simtest_write_key(f->c, &f->rng, f->alg, enc,
			     SIM_KEY_EXT_AUTH, 1, k),
	    SIM_SW_OK);
	ext_auth_cmd(f, "3132333435363738", 1, cmd, sizeof(cmd));
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_OK);
	/* key 2 absent, key 4 none, wrong length */
	cmd[7] = '2';
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_NO_KEY);
	cmd[7] = '4';
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    card_tx(f->c,
		f->alg == TKM_DES ? "008200011000000000000000000000000000000000"
				  : "00820001080000000000000000",
		NULL),
	    SIM_SW_WRONG_LENGTH);
	/* SELECT forgets the authentication */
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	assert_int_equal(sim_card_auth(f->c), 0);
}

static void
test_generate_ac(void **state)
{
	struct fx *f = *state;
	uint8_t k[16], sk[16], arqc[8], arpc[8], csu[4] = {0, 0x12, 0, 0};
	char out[HEXBUF], cmd[160], hex[17];

	personalise(f);
	if (f->alg != TKM_DES) {
		assert_int_equal(
		    card_tx(f->c, "80AE80000100", NULL), SIM_SW_NOT_SUPPORTED);
		return;
	}
	assert_int_equal(card_tx(f->c, "0082000008" VEC_DES_ARPC, NULL),
	    SIM_SW_CONDITIONS); /* no ARQC yet */
	assert_int_equal(
	    card_tx(f->c, "80AE80001D" T_CDOL1 "00", out), SIM_SW_OK);
	assert_string_equal(out, "800B800001" VEC_DES_ARQC);
	assert_int_equal(sim_card_atc(f->c), 1);
	assert_int_equal(
	    card_tx(f->c, "008200000A" VEC_DES_ARPC "3030", NULL), SIM_SW_OK);
	/* once per ARQC */
	assert_int_equal(card_tx(f->c, "008200000A" VEC_DES_ARPC "3030", NULL),
	    SIM_SW_CONDITIONS);
	/* a wrong ARPC */
	assert_int_equal(card_tx(f->c, "80AE80001D" T_CDOL1, out), SIM_SW_OK);
	assert_memory_equal(out, "800B800002", 10);
	assert_int_equal(card_tx(f->c, "008200000A" VEC_DES_ARPC "3030", NULL),
	    SIM_SW_VERIFY_FAILED);
	/* method 2: ARPC 4 || CSU 4 */
	assert_int_equal(card_tx(f->c, "80AE80001D" T_CDOL1, out), SIM_SW_OK);
	unhex_n(out + 10, arqc, 8);
	simtest_card_key(TKM_DES, T_BK_AC, k);
	assert_int_equal(tkm_pboc_sk(k, (const uint8_t[]){0, 3}, sk), TKM_OK);
	assert_int_equal(tkm_emv_arpc2(sk, arqc, csu, NULL, 0, arpc), TKM_OK);
	tkm_hex_encode(arpc, 4, hex);
	snprintf(cmd, sizeof(cmd), "0082000008%s00120000", hex);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_OK);
	/* a TC is no ARQC */
	assert_int_equal(card_tx(f->c, "80AE40001D" T_CDOL1, out), SIM_SW_OK);
	assert_memory_equal(out, "800B400004", 10);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
	assert_int_equal(
	    card_tx(f->c, "80AE90000100", NULL), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    card_tx(f->c, "80AE8000010005", NULL), SIM_SW_WRONG_LE | 13);
	assert_int_equal(sim_card_atc(f->c), 4);
}

/* ---- SELECT, files, malformed commands ------------------------------------
 */

static void
test_select(void **state)
{
	struct fx *f = *state;
	char out[HEXBUF];

	assert_int_equal(card_tx(f->c, "805C000204", NULL), SIM_SW_CONDITIONS);
	assert_int_equal(card_tx(f->c, SELECT, out), SIM_SW_OK);
	assert_string_equal(out, "6F2D8408A000000632010105A5219F0C1E"
				 "00000000000000000201" /* issuer, type */
				 "0000" T_ASN "2000010120991231"
				 "0000");
	assert_int_equal(card_tx(f->c, "805C000204", out), SIM_SW_OK);
	assert_string_equal(out, "00000000");
	assert_int_equal(card_tx(f->c, "00B0950000", out), SIM_SW_OK);
	assert_int_equal(strlen(out), 60);
	assert_int_equal(card_tx(f->c, "00B0950C08", out), SIM_SW_OK);
	assert_string_equal(out, T_ASN);
	assert_int_equal(
	    card_tx(f->c, "00B0951E00", NULL), SIM_SW_WRONG_OFFSET);
	assert_int_equal(
	    card_tx(f->c, "00B0951C04", NULL), SIM_SW_WRONG_LE | 2);
	assert_int_equal(card_tx(f->c, "00B0960000", NULL), SIM_SW_NOT_FOUND);
	assert_int_equal(card_tx(f->c, "00A40000023F00", NULL), SIM_SW_OK);
	assert_int_equal(card_tx(f->c, "805C000204", NULL), SIM_SW_CONDITIONS);
	assert_int_equal(card_tx(f->c, "00A4000002100100", out), SIM_SW_OK);
	assert_int_equal(strlen(out), 2 * 47);
	assert_int_equal(
	    card_tx(f->c, "00A4000002100200", NULL), SIM_SW_NOT_FOUND);
	assert_int_equal(card_tx(f->c, "00A4040008A000000632010106", NULL),
	    SIM_SW_NOT_FOUND);
	assert_int_equal(
	    card_tx(f->c, "00A40400051122334455", NULL), SIM_SW_NOT_FOUND);
	assert_int_equal(
	    card_tx(f->c, "00A4020002100100", NULL), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    card_tx(f->c, "00A40000031001FF", NULL), SIM_SW_WRONG_LENGTH);
}

static const struct {
	const char *apdu;
	unsigned sw;
} bad_apdus[] = {
    {"", SIM_SW_WRONG_LENGTH},
    {"00", SIM_SW_WRONG_LENGTH},
    {"00A404", SIM_SW_WRONG_LENGTH},
    {"00A40400", SIM_SW_WRONG_LENGTH},                 /* no AID */
    {"00A4040008A0000006320101", SIM_SW_WRONG_LENGTH}, /* Lc > data */
    {"00A4040008A000000632010105AABB", SIM_SW_WRONG_LENGTH},
    {"00A4040100", SIM_SW_WRONG_P1P2},
    {"FFA4040008A000000632010105", SIM_SW_CLA},
    {"80FF000000", SIM_SW_INS},
    {"00CA9F3600", SIM_SW_INS},
    {"005C000204", SIM_SW_CLA}, /* GET BALANCE is CLA 80 */
    {"845400000F", SIM_SW_CLA},
    {"805C000104", SIM_SW_WRONG_P1P2},
    {"805C010204", SIM_SW_WRONG_P1P2},
    {"805C000205", SIM_SW_WRONG_LE | 4},
    {"805C00020100", SIM_SW_WRONG_LENGTH},
    {"805000020A0100002710112233445510", SIM_SW_WRONG_LENGTH},
    {"805000030B010000271011223344556610", SIM_SW_WRONG_P1P2},
    {"805000020B010000271011223344556611", SIM_SW_WRONG_LE | 16},
    {"805000020B01000027101122334455", SIM_SW_WRONG_LENGTH},
    {"805001010B0100002710112233445566", SIM_SW_WRONG_P1P2},
    {"805001020B01000027101122334455660E", SIM_SW_WRONG_LE | 15},
    {"805200000A2024013112000001020304", SIM_SW_WRONG_LENGTH},
    {"805201000B2024013112000001020304", SIM_SW_WRONG_P1P2},
    {"805401000E000000012024020108300001020304", SIM_SW_WRONG_LENGTH},
    {"805400000F00000001202402010830000102030408", SIM_SW_WRONG_P1P2},
    {"0084000003", SIM_SW_WRONG_LENGTH},
    {"00840000", SIM_SW_WRONG_LENGTH},
    {"0084000104", SIM_SW_WRONG_P1P2},
    {"0082000107", SIM_SW_WRONG_LENGTH},
    {"00820100080000000000000000", SIM_SW_WRONG_P1P2},
    {"80AE800000", SIM_SW_WRONG_LENGTH},
    {"80AE8001020000", SIM_SW_WRONG_P1P2},
    {"84D403011B", SIM_SW_WRONG_LENGTH},
    {"00B095000100", SIM_SW_WRONG_LENGTH},
};

/* a small deterministic generator for the random APDUs */
static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
test_malformed(void **state)
{
	struct fx *f = *state;
	static const char *const good[] = {SELECT, "805C000204", "0084000008",
	    "805000020B0100000001" T_TERM "10", "805A000602000008",
	    "80AE80001D" T_CDOL1 "00"};
	uint8_t cmd[SIM_APDU_MAX_CMD + 8], resp[SIM_APDU_MAX_RESP];
	char before[SIM_FILE_MAX], after[SIM_FILE_MAX];
	uint32_t seed = 0x12345678;
	size_t i, j, n, len;

	personalise(f);
	host_load(f, 1000, "01020304");
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	snap(f->c, before);
	for (i = 0; i < sizeof(bad_apdus) / sizeof(bad_apdus[0]); i++) {
		if (card_tx(f->c, bad_apdus[i].apdu, NULL) != bad_apdus[i].sw)
			fail_msg("%s", bad_apdus[i].apdu);
	}
	snap(f->c, after);
	assert_string_equal(before, after);
	/* every truncation and extension of good commands */
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = unhex(good[i], cmd, sizeof(cmd));
		for (j = 0; j <= len + 2; j++) {
			cmd[len] = 0x00;
			cmd[len + 1] = 0x55;
			simtest_rng_set(&f->rng, "0102030405060708");
			assert_int_equal(
			    sim_card_apdu(f->c, cmd, j, resp, sizeof(resp), &n),
			    TKM_OK);
			assert_true(n >= 2 && n <= SIM_APDU_MAX_RESP);
		}
	}
	/* random commands of every length, with the card's CLA/INS bytes */
	for (i = 0; i < 20000; i++) {
		len = xorshift(&seed) % (SIM_APDU_MAX_CMD + 4);
		for (j = 0; j < len; j++)
			cmd[j] = (uint8_t)xorshift(&seed);
		if (len > 1 && i % 2)
			cmd[0] = (uint8_t[]){0x00, 0x80, 0x84}[i % 3];
		if (len > 4 && i % 3 == 0)
			cmd[4] = (uint8_t)(len - 5 - (i % 2));
		simtest_rng_set(&f->rng, "0102030405060708");
		assert_int_equal(
		    sim_card_apdu(f->c, cmd, len, resp, sizeof(resp), &n),
		    TKM_OK);
		assert_true(n >= 2 && n <= SIM_APDU_MAX_RESP);
		assert_true(sim_card_balance(f->c) <= SIM_CARD_MAX_BALANCE);
	}
	/* the API's own bad arguments */
	assert_int_equal(
	    sim_card_apdu(f->c, cmd, 5, resp, 257, &n), TKM_ERR_SPACE);
	assert_int_equal(
	    sim_card_apdu(NULL, cmd, 5, resp, sizeof(resp), &n), TKM_ERR_INPUT);
	assert_int_equal(sim_card_apdu(f->c, NULL, 5, resp, sizeof(resp), &n),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    sim_card_apdu(f->c, cmd, 5, NULL, sizeof(resp), &n), TKM_ERR_INPUT);
}

/* ---- state file -------------------------------------------------------- */

static void
test_save_load(void **state)
{
	struct fx *f = *state;
	char a[SIM_FILE_MAX], b[SIM_FILE_MAX], cmd[80], path[64];
	struct sim_card *c2 = NULL;
	struct sim_file_err err;
	struct tkm_purse_txn t;
	uint8_t sk[16];
	size_t sklen = 0;
	int fd;

	personalise(f);
	host_load(f, 1000, "01020304");
	assert_int_equal(host_init_purchase(f, 200, "0F0F0F0F", "00000002", &t,
			     sk, &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	snap(f->c, a);
	assert_int_equal(sim_card_parse(a, strlen(a), &c2, &err), TKM_OK);
	snap(c2, b);
	assert_string_equal(a, b);
	sim_card_free(c2);
	c2 = NULL;
	/* through a file, and the purchase goes on in the loaded card */
	snprintf(path, sizeof(path), "/tmp/simcard.XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	assert_int_equal(sim_card_save(f->c, path), TKM_OK);
	assert_int_equal(sim_card_load(path, &c2, &err), TKM_OK);
	unlink(path);
	assert_int_equal(card_tx(c2, cmd, NULL), SIM_SW_OK);
	assert_int_equal(sim_card_balance(c2), 800);
	assert_int_equal(sim_card_offline_sn(c2), 1);
	/* a power cycle ends the transaction */
	assert_int_equal(host_init_purchase(f, 200, "0F0F0F0F", "00000002", &t,
			     sk, &sklen, cmd, sizeof(cmd)),
	    SIM_SW_OK);
	sim_card_reset(f->c);
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	assert_int_equal(card_tx(f->c, cmd, NULL), SIM_SW_CONDITIONS);
	sim_card_free(c2);
	assert_int_equal(
	    sim_card_load("/nonexistent/card", &c2, &err), TKM_ERR_IO);
	assert_null(c2);
	assert_int_equal(err.line, 0);
	assert_non_null(err.why);
}

/* A valid file with one line replaced: what the parser says, and on which
 * line (delta: lines after the first replaced one). */
static const struct {
	const char *from, *to;
	int rc;
	size_t delta;
} bad_files[] = {
    {"TKMS-SIMCARD 1\n", "TKMS-SIMCARD 2\n", TKM_ERR_INPUT, 0},
    {"TKMS-SIMCARD 1\n", "TKMS-MOTCARD 1\n", TKM_ERR_INPUT, 0},
    {"alg ", "alg  ", TKM_ERR_INPUT, 0},
    {"asn 3104581000001234", "asn 3104581000001234FF", TKM_ERR_INPUT, 0},
    {"asn 3104581000001234", "asn 310458100000123g", TKM_ERR_HEX, 0},
    {"asn 3104581000001234", "asn 3104581000001a34", TKM_ERR_HEX, 0},
    {"max-balance 100000\n", "max-balance 0\n", TKM_ERR_INPUT, 0},
    {"max-balance 100000\n", "max-balance 2147483648\n", TKM_ERR_INPUT, 0},
    {"balance 1000\n", "balance 01000\n", TKM_ERR_INPUT, 0},
    {"balance 1000\n", "balance 100001\n", TKM_ERR_INPUT, 0},
    {"balance 1000\n", "balance 99999999999\n", TKM_ERR_INPUT, 0},
    {"balance 1000\n", "", TKM_ERR_INPUT, 0},
    {"online-sn 1\n", "online-sn 65536\n", TKM_ERR_INPUT, 0},
    {"online-sn 1\n", "online-sn -1\n", TKM_ERR_INPUT, 0},
    {"online-sn 1\n", "online-sn 1\r\n", TKM_ERR_INPUT, 0},
    {"online-sn 1\n", "online-sn\t1\n", TKM_ERR_INPUT, 0},
    {"online-sn 1\n", "online-sn 1 \n", TKM_ERR_INPUT, 0},
    {"key load_01 ", "key load_04 ", TKM_ERR_INPUT, 0},
    {"key load_01 ", "key purchase_01 ", TKM_ERR_INPUT, 0}, /* twice */
    {"key load_01 ", "key load_01 00", TKM_ERR_INPUT, 0},
    {"key tac ", "key tac 00 ", TKM_ERR_INPUT, 0},
    {"ext-auth-tries 3 3 3\n", "ext-auth-tries 3 3 4\n", TKM_ERR_INPUT, 0},
    {"ext-auth-tries 3 3 3\n", "ext-auth-tries 3 3\n", TKM_ERR_INPUT, 0},
    {"last load 0 ", "last lode 0 ", TKM_ERR_INPUT, 0},
    {"selected 1\n", "selected 2\n", TKM_ERR_INPUT, 0},
    {"challenge -\n", "challenge 010203\n", TKM_ERR_INPUT, 0},
    {"auth 0\n", "auth 8\n", TKM_ERR_INPUT, 0},
    {"session -\n", "session load 1 5\n", TKM_ERR_INPUT, 0},
    {"session -\n", "session pay 1 5 112233445566 01020304\n", TKM_ERR_INPUT,
	0},
    {"arqc -\n", "arqc 1 00\n", TKM_ERR_INPUT, 0},
    {"end\n", "end", TKM_ERR_TRUNC, 0},
    {"end\n", "", TKM_ERR_TRUNC, 0},
    {"end\n", "end\nend\n", TKM_ERR_TRAILING, 1},
    {"end\n", "end\n\n", TKM_ERR_TRAILING, 1},
};

static size_t
line_of(const char *s, const char *at)
{
	size_t n = 1;

	for (; s < at; s++)
		n += *s == '\n';
	return n;
}

static void
test_bad_files(void **state)
{
	struct fx *f = *state;
	char good[SIM_FILE_MAX], bad[SIM_FILE_MAX + 2];
	struct sim_card *c2 = NULL;
	struct sim_file_err err;
	const char *at;
	size_t i, pre, line;
	int rc;

	personalise(f);
	host_load(f, 1000, "01020304");
	assert_int_equal(card_tx(f->c, SELECT, NULL), SIM_SW_OK);
	snap(f->c, good);
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		assert_non_null(at = strstr(good, bad_files[i].from));
		pre = (size_t)(at - good);
		line = line_of(good, at) + bad_files[i].delta;
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)pre, good,
		    bad_files[i].to, at + strlen(bad_files[i].from));
		rc = sim_card_parse(bad, strlen(bad), &c2, &err);
		if (rc != bad_files[i].rc || err.line != line)
			fail_msg("%s -> %s: rc %d line %zu (%s)",
			    bad_files[i].from, bad_files[i].to, rc, err.line,
			    err.why ? err.why : "");
		assert_null(c2);
		assert_non_null(err.why);
	}
	assert_int_equal(sim_card_parse("", 0, &c2, &err), TKM_ERR_TRUNC);
	assert_int_equal(err.line, 1);
	memset(bad, 'x', SIM_FILE_MAX + 1);
	assert_int_equal(
	    sim_card_parse(bad, SIM_FILE_MAX + 1, &c2, &err), TKM_ERR_DATA_LEN);
	memset(bad, 'k', 300);
	assert_int_equal(
	    sim_card_parse(bad, 300, &c2, &err), TKM_ERR_INPUT); /* magic */
	assert_int_equal(sim_card_parse(good, strlen(good), &c2, NULL), TKM_OK);
	sim_card_free(c2);
}

static void
test_key_names(void **state)
{
	uint8_t u = 0, i = 0;

	(void)state;
	assert_int_equal(sim_card_key_by_name("load_02", &u, &i), TKM_OK);
	assert_int_equal(u, SIM_KEY_LOAD);
	assert_int_equal(i, 2);
	assert_int_equal(sim_card_key_by_name("ecash_enc", &u, &i), TKM_OK);
	assert_int_equal(u, SIM_KEY_SM_ENC);
	assert_int_equal(
	    sim_card_key_by_name("load_04", &u, &i), TKM_ERR_INPUT);
	assert_string_equal(
	    sim_card_key_name(SIM_KEY_EXT_MANAGE, 2), "ext_manage_02");
	assert_null(sim_card_key_name(SIM_KEY_TAC, 2));
}

#define BOTH(fn)                                                               \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &des),   \
	    cmocka_unit_test_prestate_setup_teardown(                          \
		fn, setup, teardown, &sm4)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_write_key_kat),
	    BOTH(test_write_key_refused),
	    BOTH(test_load_kat),
	    BOTH(test_purchase_kat),
	    BOTH(test_wrong_mac2),
	    BOTH(test_wrong_mac1),
	    BOTH(test_insufficient_balance),
	    BOTH(test_serials),
	    BOTH(test_prove),
	    BOTH(test_max_balance_and_keys),
	    BOTH(test_external_auth),
	    BOTH(test_generate_ac),
	    BOTH(test_select),
	    BOTH(test_malformed),
	    BOTH(test_save_load),
	    BOTH(test_bad_files),
	    cmocka_unit_test(test_key_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
