/*
 * cmd_mac.c - UB, MAC and TAC generate/verify with derived or session keys
 * (protocol.md §4; wire layout in docs/protocol.md).
 *
 *   scheme 0  MAC under the derived key, PBOC rule (3DES retail / SM4)
 *   scheme 1  session key = E(derived, process data) (DES, 8 bytes) or
 *             SM4(derived, S || ~S); single-DES / SM4 CBC-MAC (the
 *             e-purse load and purchase MACs, JT/T 978)
 *   scheme 2  TAC: DES key L xor R of the derived key, SM4 the derived key
 *   scheme 3  session key = derive(derived, process data), double length;
 *             MAC by the PBOC rule
 * All composed from libtkm (derive.h, mac.h, purse.h); nothing new here.
 */
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"

/* MAC and TAC keys; never a TK (000) nor a PIN or data key (DESIGN §7:
 * load and TAC keys are MK-type keys of the card system). */
#define UB_TYPES "003,008,109,209,509"
#define UB_MAX   999 /* len 3N */
#define PD_LEN   8   /* process data, 16H */

enum { UB_GEN = 0, UB_EITHER = 1, UB_VERIFY = 2 };

struct ub_req {
	int alg;
	unsigned mode, scheme;
	char type[HSM_TYPE_LEN + 1];
	unsigned n;
	uint8_t factors[TKM_MAX_LEVELS * TKM_FACTOR_LEN];
	int has_pd;
	uint8_t pd[PD_LEN];
	int pad;
	uint8_t iv[TKM_MAX_BLOCK];
	unsigned len;
	uint8_t data[UB_MAX];
	unsigned maclen;
	int verify;
	uint8_t mac[8];
};

/* Skip n bytes of a copy of the reader. */
static int
skip(struct tkm_rd *r, size_t n)
{
	return tkm_rd_bytes(r, NULL, n);
}

/*
 * Does the tail (from the process data or the pad flag on) fit the
 * message's length? It reads the len and MAC len fields where the layout
 * puts them and compares the total with what is left; the full parse then
 * checks every field.
 */
static int
tail_fits(struct tkm_rd r, const struct ub_req *u, int with_pd)
{
	size_t ivhex = 2 * tkm_block_len(u->alg);
	unsigned len, maclen;

	if (skip(&r, (with_pd ? 2 * PD_LEN : 0) + 1 + ivhex) != TKM_OK ||
	    tkm_rd_num(&r, 3, &len) != TKM_OK || skip(&r, 2 * len) != TKM_OK ||
	    tkm_rd_num(&r, 2, &maclen) != TKM_OK)
		return 0;
	if (r.len == 0)
		return u->mode != UB_VERIFY;
	return r.len == 2 * (size_t)maclen && u->mode != UB_GEN;
}

/* pad 1N | IV | len 3N | data | MAC len 2N | [MAC] */
static int
read_tail(struct tkm_rd *in, struct ub_req *u)
{
	unsigned pad;
	int rc;

	if ((rc = tkm_rd_num(in, 1, &pad)) != TKM_OK)
		return rc;
	if (pad > 1)
		return TKM_ERR_MODE;
	u->pad = pad == 0 ? TKM_PAD_80 : TKM_PAD_80_IF_NEEDED;
	if ((rc = tkm_rd_hex(in, u->iv, tkm_block_len(u->alg))) != TKM_OK ||
	    (rc = tkm_rd_num(in, 3, &u->len)) != TKM_OK ||
	    (rc = tkm_rd_hex(in, u->data, u->len)) != TKM_OK ||
	    (rc = tkm_rd_num(in, 2, &u->maclen)) != TKM_OK)
		return rc;
	if (u->maclen != 4 && u->maclen != 8)
		return TKM_ERR_INPUT;
	/* Mode 1 verifies when a MAC follows (clients differ). */
	u->verify = u->mode == UB_VERIFY || (u->mode == UB_EITHER && in->len);
	if (u->verify && (rc = tkm_rd_hex(in, u->mac, u->maclen)) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

/* Everything after the key reference. */
static int
read_rest(struct tkm_rd *in, struct ub_req *u)
{
	int rc;

	if ((rc = tkm_rd_num(in, 1, &u->n)) != TKM_OK)
		return rc;
	if (u->n > TKM_MAX_LEVELS)
		return TKM_ERR_INPUT;
	if ((rc = tkm_rd_hex(in, u->factors, u->n * TKM_FACTOR_LEN)) != TKM_OK)
		return rc;
	/* Schemes 1 and 3 need process data; an older client omits it for
	 * 0 and 2, which do not use it: decide by the total length, and
	 * prefer the ministry client's layout when both would fit. */
	u->has_pd = u->scheme == 1 || u->scheme == 3 || tail_fits(*in, u, 1) ||
		    !tail_fits(*in, u, 0);
	if (u->has_pd && (rc = tkm_rd_hex(in, u->pd, PD_LEN)) != TKM_OK)
		return rc;
	return read_tail(in, u);
}

/* alg 1A | mode 1N | scheme 1N | key type 3A */
static int
read_head(struct tkm_rd *in, struct ub_req *u)
{
	uint8_t a;
	int rc;

	if ((rc = tkm_rd_bytes(in, &a, 1)) != TKM_OK)
		return rc;
	if (a != 'X' && a != 'S')
		return TKM_ERR_MODE;
	u->alg = a == 'X' ? TKM_DES : TKM_SM4;
	if ((rc = tkm_rd_num(in, 1, &u->mode)) != TKM_OK)
		return rc;
	if (u->mode > UB_VERIFY)
		return TKM_ERR_MODE;
	if ((rc = tkm_rd_num(in, 1, &u->scheme)) != TKM_OK)
		return rc;
	if (u->scheme > 3)
		return TKM_ERR_MODE;
	if ((rc = tkm_rd_bytes(in, u->type, HSM_TYPE_LEN)) != TKM_OK ||
	    (rc = hsm_dk_type_check(u->type)) != TKM_OK)
		return rc;
	return hsm_type_allowed(u->type, UB_TYPES) ? TKM_OK : TKM_ERR_TYPE_USE;
}

/* The MAC key of the scheme, from the derived key dk, into mk. */
static int
mac_key(const struct ub_req *u, const struct hsm_key *dk, struct hsm_key *mk,
    int *mac_alg)
{
	*mk = *dk;
	*mac_alg = TKM_MAC_PBOC;
	switch (u->scheme) {
	case 0:
		return TKM_OK;
	case 1:
		if (u->alg == TKM_SM4)
			return tkm_derive(
			    TKM_SM4, dk->k, dk->len, u->pd, 1, mk->k);
		/* DES: 8-byte session key, single-DES MAC (PBOC rule). */
		mk->len = 8;
		return tkm_encrypt_block(TKM_DES, dk->k, dk->len, u->pd, mk->k);
	case 2:
		if (dk->len != TKM_DERIVED_LEN)
			return TKM_ERR_KEY_LEN;
		return tkm_purse_tac_key(u->alg, dk->k, mk->k, &mk->len);
	default:
		mk->len = TKM_DERIVED_LEN;
		return tkm_derive(u->alg, dk->k, dk->len, u->pd, 1, mk->k);
	}
}

/* Derive (n levels), make the scheme's MAC key, MAC the data: one block
 * into mac. dk and mk are key slots. */
static int
compute(const struct ub_req *u, const struct hsm_key *key, struct hsm_key *dk,
    struct hsm_key *mk, uint8_t mac[TKM_MAX_BLOCK])
{
	size_t maclen;
	int mac_alg, rc;

	*dk = *key;
	if (u->n > 0) {
		dk->len = TKM_DERIVED_LEN;
		rc = tkm_derive(
		    u->alg, key->k, key->len, u->factors, u->n, dk->k);
		if (rc != TKM_OK)
			return rc;
	}
	if ((rc = mac_key(u, dk, mk, &mac_alg)) != TKM_OK)
		return rc;
	return tkm_mac(mac_alg, u->alg, mk->k, mk->len, u->iv, u->data, u->len,
	    u->pad, mac, &maclen);
}

/*
 * UB: `UB | alg 1A | mode 1N | scheme 1N | key type 3A | key | n 1N +
 * n*16H | [process data 16H] | pad 1N | IV | len 3N | data | MAC len 2N |
 * [MAC]` -> `UC00 | MAC` when generating, `UC00` (or ERR 01) when
 * verifying.
 */
int
cmd_ub(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0);
	uint8_t mac[TKM_MAX_BLOCK] = {0};
	struct ub_req u;
	int rc;

	memset(&u, 0, sizeof(u));
	if ((rc = read_head(in, &u)) != TKM_OK ||
	    (rc = hsm_key_read(c, in, u.alg, u.type, key)) != TKM_OK ||
	    (rc = read_rest(in, &u)) != TKM_OK)
		goto out;
	rc = compute(&u, key, hsm_slot(c, 1), hsm_slot(c, 2), mac);
	if (rc != TKM_OK)
		goto out;
	if (!u.verify)
		tkm_wr_hex(out, mac, u.maclen);
	else if (!tkm_ct_eq(mac, u.mac, u.maclen))
		rc = TKM_ERR_VERIFY;
	if (rc == TKM_OK)
		rc = tkm_wr_error(out);
out:
	/* The full MAC block is more than the client gets to see. */
	tkm_cleanse(mac, sizeof(mac));
	return rc;
}
