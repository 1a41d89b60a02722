/*
 * cmd_emv.c - EMV / PBOC 2.0 application cryptograms (KW) and
 * GlobalPlatform SCP02 session keys (G1), protocol.md §4.
 *
 * Every key here is double-length 3DES. Keys in clear live only in the
 * worker's key slots (keys.h), which the dispatcher wipes after the
 * command; the one stack copy (derivation) is wiped before return.
 */
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"

/* KW modes (protocol.md §4) */
enum {
	KW_VERIFY = 0,       /* verify the ARQC */
	KW_VERIFY_ARPC1 = 1, /* verify, then ARPC method 1 */
	KW_ARPC1 = 2,        /* ARPC method 1 only */
	KW_VERIFY_ARPC2 = 3, /* verify, then ARPC method 2 */
	KW_ARPC2 = 4         /* ARPC method 2 only */
};
/* KW schemes: how the session key comes from the ICC master key */
enum {
	KW_TREE_A = 0, /* EMV2000 tree, ICC MK by option A */
	KW_TREE_B = 1, /* EMV2000 tree, ICC MK by option B */
	KW_CSK = 2,    /* EMV common session key */
	KW_PBOC = 9    /* PBOC 2.0 ATC session key */
};

#define KW_MAX_PANB 11 /* PAN || PSN, 19 + 2 digits, as BCD */
#define KW_MAX_DATA 255
#define KW_MAX_PROP 8 /* proprietary authentication data, EMV 8.2.2 */
#define KW_IV_LEN   16
#define KW_ATC_LEN  2
#define KW_AC_LEN   8
#define KW_ARC_LEN  2
#define KW_CSU_LEN  4
#define KW_MK_TYPE  "109" /* MK-AC */

struct kw_req {
	unsigned mode, scheme;
	uint8_t iv[KW_IV_LEN];
	unsigned n;
	const uint8_t *factors; /* n * 8 bytes */
	char pan[2 * KW_MAX_PANB + 1];
	char psn[3];
	unsigned b, h; /* EMV2000 tree branch factor and height */
	const uint8_t *atc;
	const uint8_t *data;
	size_t dlen;
	const uint8_t *arqc;
	const uint8_t *arc;
	const uint8_t *csu;
	const uint8_t *prop;
	size_t plen;
};

/* A 1N flag: a non-digit or a value above max is a bad flag (ERR 05). */
static int
read_flag(struct tkm_rd *in, unsigned max, unsigned *v)
{
	int rc = tkm_rd_num(in, 1, v);

	if (rc == TKM_ERR_INPUT || (rc == TKM_OK && *v > max))
		return TKM_ERR_MODE;
	return rc;
}

static int
kw_verifies(unsigned mode)
{
	return mode == KW_VERIFY || mode == KW_VERIFY_ARPC1 ||
	       mode == KW_VERIFY_ARPC2;
}

static int
is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
	       (c >= 'a' && c <= 'f');
}

/*
 * IV-AC, 16 bytes. protocol.md writes it as H; payShield's KW sends it
 * binary (16B). 32 hex digits are read as H, anything else as 16B: a
 * binary IV is almost never 32 hex digits in a row.
 */
static int
kw_read_iv(struct tkm_rd *in, uint8_t iv[KW_IV_LEN])
{
	size_t i;

	for (i = 0; i < 2 * KW_IV_LEN && i < in->len; i++)
		if (!is_hex(in->p[i]))
			return tkm_rd_bytes(in, iv, KW_IV_LEN);
	return tkm_rd_hex(in, iv, KW_IV_LEN);
}

/* BCD bytes to digits; a nibble above 9 is TKM_ERR_INPUT. */
static int
unpack_bcd(const uint8_t *p, size_t n, char *out)
{
	size_t i;
	uint8_t d;

	for (i = 0; i < 2 * n; i++) {
		d = (uint8_t)(i % 2 ? p[i / 2] & 0x0F : p[i / 2] >> 4);
		if (d > 9)
			return TKM_ERR_INPUT;
		out[i] = (char)('0' + d);
	}
	out[2 * n] = '\0';
	return TKM_OK;
}

/* The last two digits of digits[0..n) are the PSN, the rest the PAN. */
static int
split_pan(struct kw_req *r, const char *digits, size_t n)
{
	if (n < 3 || n - 2 >= sizeof(r->pan))
		return TKM_ERR_INPUT;
	memcpy(r->pan, digits, n - 2);
	r->pan[n - 2] = '\0';
	memcpy(r->psn, digits + n - 2, 2);
	r->psn[2] = '\0';
	return TKM_OK;
}

/*
 * PAN for the ICC master key.
 *   schemes 0, 2, 9: 8B, the option-A block Y (16 BCD digits, the
 *                    rightmost of PAN || PSN);
 *   scheme 1:        2N length in bytes (2..11), PAN || PSN as BCD, ';'.
 *                    A leading 0 or a trailing F nibble pads an odd
 *                    number of digits.
 */
static int
kw_read_pan(struct tkm_rd *in, struct kw_req *r)
{
	char d[2 * KW_MAX_PANB + 1];
	const uint8_t *p;
	struct tkm_rd t = *in;
	unsigned len;
	size_t n, off = 0;
	int rc;

	if (r->scheme != KW_TREE_B) {
		if ((rc = tkm_rd_view(&t, &p, 8)) != TKM_OK ||
		    (rc = unpack_bcd(p, 8, d)) != TKM_OK ||
		    (rc = split_pan(r, d, 16)) != TKM_OK)
			return rc;
		*in = t;
		return TKM_OK;
	}
	if ((rc = tkm_rd_num(&t, 2, &len)) != TKM_OK)
		return rc;
	if (len < 2 || len > KW_MAX_PANB)
		return TKM_ERR_DATA_LEN;
	if ((rc = tkm_rd_view(&t, &p, len)) != TKM_OK)
		return rc;
	if (!tkm_rd_accept(&t, ';'))
		return t.len ? TKM_ERR_INPUT : TKM_ERR_TRUNC;
	n = 2 * len;
	if ((p[len - 1] & 0x0F) == 0x0F) {
		/* trailing F pad: check the rest as digits */
		if ((rc = unpack_bcd(p, len - 1, d)) != TKM_OK)
			return rc;
		if ((p[len - 1] >> 4) > 9)
			return TKM_ERR_INPUT;
		d[n - 2] = (char)('0' + (p[len - 1] >> 4));
		d[n - 1] = '\0';
		n--;
	} else if ((rc = unpack_bcd(p, len, d)) != TKM_OK) {
		return rc;
	} else if (d[0] == '0') {
		/* a leading pad: option B pads X the same way again */
		off = 1;
		n--;
	}
	if ((rc = split_pan(r, d + off, n)) != TKM_OK)
		return rc;
	*in = t;
	return TKM_OK;
}

/* B/H 1A (payShield KW): 0 = branch factor 2, height 16; 1 = 4 and 8. */
static int
kw_read_bh(struct tkm_rd *in, struct kw_req *r)
{
	unsigned v;
	int rc;

	if ((rc = read_flag(in, 1, &v)) != TKM_OK)
		return rc;
	r->b = v == 0 ? 2 : 4;
	r->h = v == 0 ? 16 : 8;
	return TKM_OK;
}

/* [len 2H | data B | ;] for the verifying modes */
static int
kw_read_data(struct tkm_rd *in, struct kw_req *r)
{
	uint32_t len;
	int rc;

	if ((rc = tkm_rd_hexnum(in, 2, &len)) != TKM_OK)
		return rc;
	if (len == 0)
		return TKM_ERR_DATA_LEN;
	if ((rc = tkm_rd_view(in, &r->data, len)) != TKM_OK)
		return rc;
	r->dlen = len;
	if (!tkm_rd_accept(in, ';'))
		return in->len ? TKM_ERR_INPUT : TKM_ERR_TRUNC;
	return TKM_OK;
}

/* The ARPC inputs: ARC 2A (method 1) or CSU 4B, len 4N, data (method 2). */
static int
kw_read_arpc(struct tkm_rd *in, struct kw_req *r)
{
	unsigned len;
	int rc;

	if (r->mode == KW_VERIFY_ARPC1 || r->mode == KW_ARPC1)
		return tkm_rd_view(in, &r->arc, KW_ARC_LEN);
	if (r->mode != KW_VERIFY_ARPC2 && r->mode != KW_ARPC2)
		return TKM_OK;
	if ((rc = tkm_rd_view(in, &r->csu, KW_CSU_LEN)) != TKM_OK ||
	    (rc = tkm_rd_num(in, 4, &len)) != TKM_OK)
		return rc;
	if (len > KW_MAX_PROP)
		return TKM_ERR_DATA_LEN;
	r->plen = len;
	return tkm_rd_view(in, &r->prop, len);
}

/*
 * The request after the MK-AC (protocol.md §4 KW):
 *   [IV-AC] | n 1N + n*8B | PAN | [B/H 1A] | ATC 2B | [len 2H | data B | ;]
 *   | ARQC 8B | [ARC 2A] | [CSU 4B | len 4N | prop. data B]
 */
static int
kw_read_rest(struct tkm_rd *in, struct kw_req *r)
{
	int tree = r->scheme == KW_TREE_A || r->scheme == KW_TREE_B;
	int rc;

	if (tree && (rc = kw_read_iv(in, r->iv)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_num(in, 1, &r->n)) != TKM_OK)
		return rc;
	if (r->n > TKM_MAX_LEVELS)
		return TKM_ERR_INPUT;
	if ((rc = tkm_rd_view(in, &r->factors, r->n * TKM_FACTOR_LEN)) !=
		TKM_OK ||
	    (rc = kw_read_pan(in, r)) != TKM_OK)
		return rc;
	if (tree && (rc = kw_read_bh(in, r)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_view(in, &r->atc, KW_ATC_LEN)) != TKM_OK)
		return rc;
	if (kw_verifies(r->mode) && (rc = kw_read_data(in, r)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_view(in, &r->arqc, KW_AC_LEN)) != TKM_OK ||
	    (rc = kw_read_arpc(in, r)) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

/*
 * Session key into sk->k: issuer MK = MK-AC derived through the factors
 * (DESIGN §3.2), ICC MK by option A or B (EMV 4.3 Book 2 A1.4), then the
 * scheme's session key. EMV keys get odd parity, as EMV asks (the tree
 * uses the ICC MK as data, so it matters there); PBOC keeps the raw result
 * as its published examples do (DES ignores parity as a key).
 */
static int
kw_session_key(const struct kw_req *r, const struct hsm_key *mkac,
    struct hsm_key *imk, struct hsm_key *icc, struct hsm_key *sk)
{
	uint8_t rr[8] = {0};
	int parity = r->scheme != KW_PBOC;
	int rc;

	/* tkm_derive refuses single-length keys, and a 24-byte MK-AC that
	 * is not derived (the ICC MK needs a 16-byte issuer key) */
	if ((rc = tkm_derive(TKM_DES, mkac->k, mkac->len, r->factors, r->n,
		 imk->k)) != TKM_OK)
		return rc;
	if (r->scheme == KW_TREE_B)
		rc = tkm_emv_icc_mk_b(imk->k, r->pan, r->psn, parity, icc->k);
	else
		rc = tkm_emv_icc_mk_a(imk->k, r->pan, r->psn, parity, icc->k);
	if (rc != TKM_OK)
		return rc;
	switch (r->scheme) {
	case KW_TREE_A:
	case KW_TREE_B:
		return tkm_emv2000_sk(icc->k, r->iv, r->b, r->h, r->atc, sk->k);
	case KW_CSK:
		/* EMV 4.3 Book 2 A1.3.1, for AC: R = ATC || 00*6 */
		memcpy(rr, r->atc, KW_ATC_LEN);
		return tkm_emv_csk(icc->k, rr, 1, sk->k);
	default:
		return tkm_pboc_sk(icc->k, r->atc, sk->k);
	}
}

/* ARQC check (ISO 9797-1 alg 3, pad 80: DESIGN §3.2), then the ARPC. */
static int
kw_answer(const struct kw_req *r, const uint8_t sk[16], struct tkm_wr *out)
{
	uint8_t ac[KW_AC_LEN], arpc[8];
	int rc = TKM_OK;

	if (kw_verifies(r->mode)) {
		rc = tkm_emv_ac(sk, r->data, r->dlen, TKM_PAD_80, ac);
		if (rc == TKM_OK && !tkm_ct_eq(ac, r->arqc, KW_AC_LEN))
			rc = TKM_ERR_VERIFY;
	}
	if (rc != TKM_OK || r->mode == KW_VERIFY)
		goto out;
	if (r->arc != NULL) {
		rc = tkm_emv_arpc1(sk, r->arqc, r->arc, arpc);
		tkm_wr_bytes(out, arpc, 8);
	} else {
		rc = tkm_emv_arpc2(sk, r->arqc, r->csu, r->prop, r->plen, arpc);
		tkm_wr_bytes(out, arpc, 4);
	}
out:
	tkm_cleanse(ac, sizeof(ac));
	tkm_cleanse(arpc, sizeof(arpc));
	return rc;
}

/*
 * KW: verify an ARQC and/or make an ARPC. KX00 [ARPC 8B or 4B], KX01 on a
 * failed verification. The table row is RAW: binary fields end the frame.
 */
int
cmd_kw(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *mkac = hsm_slot(c, 0), *imk = hsm_slot(c, 1);
	struct hsm_key *icc = hsm_slot(c, 2), *sk = hsm_slot(c, 3);
	struct kw_req r;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = read_flag(in, KW_ARPC2, &r.mode)) != TKM_OK ||
	    (rc = read_flag(in, KW_PBOC, &r.scheme)) != TKM_OK)
		goto out;
	if (r.scheme > KW_CSK && r.scheme != KW_PBOC) {
		rc = TKM_ERR_MODE;
		goto out;
	}
	if ((rc = hsm_key_read(c, in, TKM_DES, KW_MK_TYPE, mkac)) != TKM_OK ||
	    (rc = kw_read_rest(in, &r)) != TKM_OK ||
	    (rc = kw_session_key(&r, mkac, imk, icc, sk)) != TKM_OK)
		goto out;
	rc = kw_answer(&r, sk->k, out);
out:
	/* the PAN is card data: do not leave it on the stack */
	tkm_cleanse(&r, sizeof(r));
	return rc;
}

/* SCP02 session keys in G2 order, with the type each is written under:
 * S-ENC and DEK encrypt (ZEK 00A), C-MAC and R-MAC authenticate (ZAK 008). */
static const struct {
	unsigned constant;
	const char *type;
} g1_keys[] = {
    {TKM_SCP02_ENC, "00A"},
    {TKM_SCP02_CMAC, "008"},
    {TKM_SCP02_RMAC, "008"},
    {TKM_SCP02_DEK, "00A"},
};
/* Card static keys come from secure-messaging master keys. */
#define G1_TYPES "209,309"

static int
read_type(struct tkm_rd *in, const char *allowed, char type[4])
{
	int rc;

	memset(type, 0, 4);
	if ((rc = tkm_rd_bytes(in, type, 3)) != TKM_OK)
		return rc;
	if ((rc = hsm_dk_type_check(type)) != TKM_OK)
		return rc; /* not a code of protocol.md §2: ERR 04 */
	return hsm_type_allowed(type, allowed) ? TKM_OK : TKM_ERR_TYPE_USE;
}

/*
 * G1 request:
 *   flag 1N (0 derive the card key first, 1 session keys only)
 *   key type 3A | key | [flag 0: derivation data 16H] | counter 4H
 * Response: S-ENC | C-MAC | R-MAC | DEK, each X+32H under DK.
 */
int
cmd_g1(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0), *card = hsm_slot(c, 1);
	struct hsm_key *sk = hsm_slot(c, 2);
	uint8_t d[TKM_FACTOR_LEN], seq[2];
	unsigned flag;
	char type[4];
	size_t i;
	int rc;

	if ((rc = read_flag(in, 1, &flag)) != TKM_OK)
		return rc;
	if ((rc = read_type(in, G1_TYPES, type)) != TKM_OK ||
	    (rc = hsm_key_read(c, in, TKM_DES, type, key)) != TKM_OK)
		return rc;
	if (flag == 0 && (rc = tkm_rd_hex(in, d, sizeof(d))) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_hex(in, seq, sizeof(seq))) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	*card = *key;
	if (flag == 0 && (rc = tkm_derive(TKM_DES, key->k, key->len, d, 1,
			      card->k)) != TKM_OK)
		return rc;
	if (flag == 0)
		card->len = TKM_DERIVED_LEN;
	if (card->len != 16)
		return TKM_ERR_KEY_LEN; /* SCP02 keys are double length */
	for (i = 0; i < sizeof(g1_keys) / sizeof(g1_keys[0]); i++) {
		sk->alg = TKM_DES;
		sk->len = 16;
		memcpy(sk->type, g1_keys[i].type, sizeof(sk->type));
		rc = tkm_scp02_sk(card->k, g1_keys[i].constant, seq, sk->k);
		if (rc != TKM_OK)
			return rc;
		/* a cryptogram under DK carries odd parity (dk.h); DES
		 * ignores the parity bits, so the key works the same */
		tkm_des_parity_set(sk->k, sk->len);
		hsm_key_write_lmk(c, sk, out);
	}
	return tkm_wr_error(out);
}
