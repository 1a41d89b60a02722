/*
 * simtest.h - helpers of the emulator tests: hex, a scripted random
 * source, APDU exchange by hex strings, and the scenario of
 * tests/sim/vectors.py (keys, ASN, terminal), whose VEC_* known answers
 * were computed by that script with python3-cryptography, independently of
 * libtkm.
 */
#ifndef SIMTEST_H
#define SIMTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "apdu.h"
#include "card.h"
#include "psam.h"
#include "sm.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"

/* The scenario of vectors.py */
#define T_ASN      "3104581000001234"
#define T_TK       "11111111111111111111111111111111"
#define T_BK_LOAD  "000102030405060708090A0B0C0D0E0F"
#define T_BK_PURCH "101112131415161718191A1B1C1D1E1F"
#define T_BK_TAC   "202122232425262728292A2B2C2D2E2F"
#define T_BK_EXT   "303132333435363738393A3B3C3D3E3F"
#define T_BK_AC    "404142434445464748494A4B4C4D4E4F"
#define T_BK_ENC   "505152535455565758595A5B5C5D5E5F"
#define T_TERM     "112233445566"
#define T_CDOL1    "00000000271000000000000001560000000000015624013100C1C2C3C4"

/* Output of `/usr/bin/python3 tests/sim/vectors.py` */
#define VEC_DES_WRITE_LOAD                                                     \
	"84D403011C14FE49CBBDFD432C4E5E3739825FE8CDEBE3A5150346E9DF3B0AA511"
#define VEC_DES_INIT_LOAD "0000000000000100A1A2A3A4A2889AC8"
#define VEC_DES_LOAD_MAC2 "B0D5FED3"
#define VEC_DES_LOAD_TAC  "B3DF8F8B"
#define VEC_DES_INIT_BUY  "0000271000000000000100B1B2B3B4"
#define VEC_DES_PSAM_INIT                                                      \
	"B1B2B3B40000000005DC062024020108300001003104581000001234"
#define VEC_DES_PSAM_MAC1 "00000001A991ED0C"
#define VEC_DES_DEBIT     "45D651B3322B944B"
#define VEC_DES_ARQC      "4DB259EB2232CE86"
#define VEC_DES_ARPC      "5604DCE54FA099B9"
#define VEC_SM4_WRITE_LOAD                                                     \
	"84D403012476C95EFCC3D09E5D75DCB25E1C871D5618A64D8D42CAE486D6A51D2144" \
	"24720B24E9E5C9"
#define VEC_SM4_INIT_LOAD "0000000000000104A1A2A3A4EF7BA8EB"
#define VEC_SM4_LOAD_MAC2 "57E7C9DE"
#define VEC_SM4_LOAD_TAC  "5401A18F"
#define VEC_SM4_INIT_BUY  "0000271000000000000104B1B2B3B4"
#define VEC_SM4_PSAM_INIT                                                      \
	"B1B2B3B40000000005DC062024020108300001043104581000001234"
#define VEC_SM4_PSAM_MAC1 "00000001CC2C8B16"
#define VEC_SM4_DEBIT     "9D6228FD8503E2D8"

#define HEXBUF (2 * SIM_APDU_MAX_RESP + 1)

static inline size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), out, cap, &n), TKM_OK);
	return n;
}

static inline void
unhex_n(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(unhex(hex, out, n), n);
}

/* hdr || Lc || Lc zero bytes, as hex into buf (cap bytes). */
static inline const char *
simtest_zeros(char *buf, size_t cap, const char *hdr, size_t lc)
{
	size_t n = (size_t)snprintf(buf, cap, "%s%02X", hdr, (unsigned)lc);

	assert_true(n + 2 * lc < cap);
	memset(buf + n, '0', 2 * lc);
	buf[n + 2 * lc] = '\0';
	return buf;
}

/* A random source that returns scripted bytes, then fails. */
struct simtest_rng {
	uint8_t b[64];
	size_t len, pos;
};

static inline int
simtest_rng(void *ctx, uint8_t *out, size_t n)
{
	struct simtest_rng *r = ctx;

	if (n > r->len - r->pos)
		return TKM_ERR_INTERNAL;
	memcpy(out, r->b + r->pos, n);
	r->pos += n;
	return TKM_OK;
}

static inline void
simtest_rng_set(struct simtest_rng *r, const char *hex)
{
	r->len = unhex(hex, r->b, sizeof(r->b));
	r->pos = 0;
}

/* Response data as hex into out (HEXBUF bytes, may be NULL); the SW. */
static inline unsigned
simtest_resp(const uint8_t *resp, size_t n, char *out)
{
	assert_true(n >= 2 && n <= SIM_APDU_MAX_RESP);
	if (out != NULL)
		tkm_hex_encode(resp, n - 2, out);
	return sim_sw(resp, n);
}

static inline unsigned
card_tx(struct sim_card *c, const char *hex, char *out)
{
	uint8_t cmd[SIM_APDU_MAX_CMD], resp[SIM_APDU_MAX_RESP];
	size_t n = 0, len = unhex(hex, cmd, sizeof(cmd));

	assert_int_equal(
	    sim_card_apdu(c, cmd, len, resp, sizeof(resp), &n), TKM_OK);
	return simtest_resp(resp, n, out);
}

static inline unsigned
psam_tx(struct sim_psam *s, const char *hex, char *out)
{
	uint8_t cmd[SIM_APDU_MAX_CMD], resp[SIM_APDU_MAX_RESP];
	size_t n = 0, len = unhex(hex, cmd, sizeof(cmd));

	assert_int_equal(
	    sim_psam_apdu(s, cmd, len, resp, sizeof(resp), &n), TKM_OK);
	return simtest_resp(resp, n, out);
}

/* The card key of a business key: diversified once by the ASN. */
static inline void
simtest_card_key(int alg, const char *bk_hex, uint8_t out[16])
{
	uint8_t bk[16], asn[8];

	unhex_n(bk_hex, bk, 16);
	unhex_n(T_ASN, asn, 8);
	assert_int_equal(tkm_derive(alg, bk, 16, asn, 1, out), TKM_OK);
}

/* A blank card of the scenario with rng. */
static inline struct sim_card *
simtest_card(int alg, struct simtest_rng *rng)
{
	struct sim_card_params p = {.alg = alg};
	struct sim_card *c = NULL;

	unhex_n(T_ASN, p.asn, SIM_ASN_LEN);
	unhex_n(T_TK, p.tk, SIM_KEY_LEN);
	assert_int_equal(sim_card_new(&p, &c), TKM_OK);
	sim_card_set_rng(c, simtest_rng, rng);
	return c;
}

/* Write one key by 84D4 under protection key p (GET CHALLENGE first). */
static inline unsigned
simtest_write_key(struct sim_card *c, struct simtest_rng *rng, int alg,
    const uint8_t p[16], unsigned usage, unsigned index, const uint8_t key[16])
{
	uint8_t rnd[4] = {0x5A, 0x5B, (uint8_t)usage, (uint8_t)index};
	uint8_t apdu[64], resp[SIM_APDU_MAX_RESP];
	char hex[HEXBUF];
	size_t n = 0;

	tkm_hex_encode(rnd, 4, hex);
	simtest_rng_set(rng, hex);
	assert_int_equal(card_tx(c, "0084000004", NULL), SIM_SW_OK);
	assert_int_equal(sim_sm_wrap_key(alg, p, rnd, 4, (uint8_t)usage,
			     (uint8_t)index, key, apdu, sizeof(apdu), &n),
	    TKM_OK);
	assert_int_equal(
	    sim_card_apdu(c, apdu, n, resp, sizeof(resp), &n), TKM_OK);
	return simtest_resp(resp, n, NULL);
}

/*
 * Personalise the scenario's card by 84D4: load_01, purchase_01, tac,
 * ext_auth_01, ecash_ac (DES), and last ecash_enc, which replaces the
 * transport key.
 */
static inline void
simtest_personalise(struct sim_card *c, struct simtest_rng *rng, int alg)
{
	static const struct {
		unsigned usage, index;
		const char *bk;
	} keys[] = {
	    {SIM_KEY_LOAD, 1, T_BK_LOAD},
	    {SIM_KEY_PURCHASE, 1, T_BK_PURCH},
	    {SIM_KEY_TAC, 1, T_BK_TAC},
	    {SIM_KEY_EXT_AUTH, 1, T_BK_EXT},
	    {SIM_KEY_AC, 1, T_BK_AC},
	    {SIM_KEY_SM_ENC, 1, T_BK_ENC},
	};
	uint8_t tk[16], k[16];
	size_t i;

	unhex_n(T_TK, tk, 16);
	assert_int_equal(
	    card_tx(c, "00A4040008A000000632010105", NULL), SIM_SW_OK);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].usage == SIM_KEY_AC && alg != TKM_DES)
			continue;
		simtest_card_key(alg, keys[i].bk, k);
		assert_int_equal(simtest_write_key(c, rng, alg, tk,
				     keys[i].usage, keys[i].index, k),
		    SIM_SW_OK);
	}
}

#endif
