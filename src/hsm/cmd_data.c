/*
 * cmd_data.c - data under derived keys: U1 encrypt/decrypt/MAC, U3 export
 * a derived key by secure messaging, UY translate data between keys
 * (protocol.md §4-§5, layouts in docs/protocol.md).
 *
 * Keys in clear live only in the worker's key slots (keys.h), which the
 * dispatcher wipes after the command; stack copies of keys and of clear
 * data are wiped before return.
 */
#include <stdint.h>
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mac.h"
#include "tkm/mem.h"

#define MAX_DATA    999 /* what a 3N length can say */
#define MAX_FACTORS (TKM_MAX_LEVELS * TKM_FACTOR_LEN)

/* n 1N + n x 16H: derivation factors (DESIGN §3.2) */
struct factors {
	unsigned n;
	uint8_t f[MAX_FACTORS];
};

/* A decimal flag of width digits: not digits or above max is ERR 05. */
static int
read_flag(struct tkm_rd *in, size_t width, unsigned max, unsigned *v)
{
	int rc = tkm_rd_num(in, width, v);

	if (rc == TKM_ERR_INPUT || (rc == TKM_OK && *v > max))
		return TKM_ERR_MODE;
	return rc;
}

/* Algorithm flag 1A: X DES, S SM4. */
static int
read_alg(struct tkm_rd *in, int *alg)
{
	if (in->len == 0)
		return TKM_ERR_TRUNC;
	if (tkm_rd_accept(in, 'X'))
		*alg = TKM_DES;
	else if (tkm_rd_accept(in, 'S'))
		*alg = TKM_SM4;
	else
		return TKM_ERR_MODE;
	return TKM_OK;
}

/* Key type 3A: unknown code ERR 04, not in allowed ERR 28. */
static int
read_type(struct tkm_rd *in, const char *allowed, char type[4])
{
	struct tkm_rd t = *in;
	int rc;

	memset(type, 0, 4);
	if ((rc = tkm_rd_bytes(&t, type, 3)) != TKM_OK)
		return rc;
	if ((rc = hsm_dk_type_check(type)) != TKM_OK)
		return rc; /* not a code of protocol.md §2: ERR 04 */
	if (!hsm_type_allowed(type, allowed))
		return TKM_ERR_TYPE_USE;
	*in = t;
	return TKM_OK;
}

static int
read_factors(struct tkm_rd *in, struct factors *f)
{
	int rc;

	if ((rc = tkm_rd_num(in, 1, &f->n)) != TKM_OK)
		return rc;
	if (f->n > TKM_MAX_LEVELS)
		return TKM_ERR_INPUT;
	return tkm_rd_hex(in, f->f, f->n * TKM_FACTOR_LEN);
}

/* One block of alg as H (IVs). */
static int
read_block(struct tkm_rd *in, int alg, uint8_t iv[TKM_MAX_BLOCK])
{
	return tkm_rd_hex(in, iv, tkm_block_len(alg));
}

/*
 * dst = src derived through the factors (DESIGN §3.2), 16 bytes; with no
 * factor dst is src as it is (any length of its algorithm). dst may be
 * src.
 */
static int
derive_key(
    const struct hsm_key *src, const struct factors *f, struct hsm_key *dst)
{
	uint8_t k[TKM_DERIVED_LEN];
	int rc;

	if (f->n == 0) {
		if (dst != src)
			*dst = *src;
		return TKM_OK;
	}
	rc = tkm_derive(src->alg, src->k, src->len, f->f, f->n, k);
	if (rc == TKM_OK) {
		if (dst != src)
			*dst = *src;
		memcpy(dst->k, k, sizeof(k));
		dst->len = sizeof(k);
	}
	tkm_cleanse(k, sizeof(k));
	return rc;
}

/*
 * The process key (过程密钥) under 8 bytes of process data, in place, as
 * the e-purse session keys are made (DESIGN §3.2): DES 3DES(K, P), a
 * single-DES key; SM4 SM4(K, P || ~P).
 */
static int
process_key(struct hsm_key *key, const uint8_t p[TKM_FACTOR_LEN])
{
	uint8_t k[TKM_DERIVED_LEN];
	int rc;

	if (key->alg == TKM_DES)
		rc = tkm_encrypt_block(TKM_DES, key->k, key->len, p, k);
	else
		rc = tkm_derive(TKM_SM4, key->k, key->len, p, 1, k);
	if (rc == TKM_OK) {
		key->len = key->alg == TKM_DES ? 8 : 16;
		memcpy(key->k, k, key->len);
	}
	tkm_cleanse(k, sizeof(k));
	return rc;
}

/* Append the padding of pad to buf[0..len) (room for one more block);
 * the padded length, or 0 if the data does not allow the padding. */
static size_t
pad_data(uint8_t *buf, size_t len, int pad, size_t bs)
{
	size_t n = tkm_pad_len(pad, len, bs);

	if (n > len) {
		memset(buf + len, 0, n - len);
		if (pad == TKM_PAD_80 || pad == TKM_PAD_80_IF_NEEDED)
			buf[len] = 0x80;
	}
	return n;
}

/* Length of buf without its 80 00.. padding (in the last block), or
 * SIZE_MAX when there is none. */
static size_t
unpad_80(const uint8_t *buf, size_t len, size_t bs)
{
	size_t i = len;

	while (i > 0 && len - i < bs && buf[i - 1] == 0x00)
		i--;
	if (i == 0 || len - i >= bs || buf[i - 1] != 0x80)
		return SIZE_MAX;
	return i - 1;
}

/* ---- U1 ---------------------------------------------------------------- */

enum { OP_ENC, OP_DEC, OP_MAC };

/* U1 modes 0-7 (protocol.md §4): what each does and which key types it
 * accepts: data master keys (509) always, data encryption keys (00A) for
 * the ciphers, MAC keys (008) for the MACs. */
static const struct u1_mode {
	int op;
	int single;  /* single DES under the left half (DES only) */
	int process; /* under the process key */
	const char *types;
} u1_modes[] = {
    {OP_ENC, 0, 0, "509,00A"}, /* 0 encrypt */
    {OP_DEC, 0, 0, "509,00A"}, /* 1 decrypt */
    {OP_MAC, 1, 0, "509,008"}, /* 2 single-DES MAC */
    {OP_MAC, 0, 0, "509,008"}, /* 3 3DES (SM4) MAC */
    {OP_ENC, 1, 0, "509,00A"}, /* 4 single-DES encrypt */
    {OP_DEC, 1, 0, "509,00A"}, /* 5 single-DES decrypt */
    {OP_ENC, 0, 1, "509,00A"}, /* 6 encrypt under the process key */
    {OP_DEC, 0, 1, "509,00A"}, /* 7 decrypt under the process key */
};
/* U1 pad 00/01/02 */
static const int u1_pads[] = {TKM_PAD_NONE, TKM_PAD_80, TKM_PAD_ZERO};

struct u1_req {
	int alg;
	unsigned mode, scheme, pad;
	struct factors f;
	uint8_t proc[TKM_FACTOR_LEN];
	uint8_t iv[TKM_MAX_BLOCK];
	unsigned len;
	uint8_t data[MAX_DATA + TKM_MAX_BLOCK]; /* room for padding */
};

/*
 * alg 1A | mode 1N | scheme 2N | key type 3A | key | n 1N + n*16H |
 * [modes 6-7: process data 16H] | pad 2N | [CBC: IV] | len 3N | data H
 */
static int
u1_read(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct u1_req *r,
    struct hsm_key *key)
{
	const struct u1_mode *m;
	char type[4];
	int rc;

	if ((rc = read_alg(in, &r->alg)) != TKM_OK ||
	    (rc = read_flag(in, 1, 7, &r->mode)) != TKM_OK ||
	    (rc = read_flag(in, 2, 2, &r->scheme)) != TKM_OK)
		return rc;
	m = &u1_modes[r->mode];
	if (r->scheme == 0 || (m->single && r->alg != TKM_DES))
		return TKM_ERR_MODE;
	if ((rc = read_type(in, m->types, type)) != TKM_OK ||
	    (rc = hsm_key_read(c, in, r->alg, type, key)) != TKM_OK ||
	    (rc = read_factors(in, &r->f)) != TKM_OK)
		return rc;
	if (m->process &&
	    (rc = tkm_rd_hex(in, r->proc, sizeof(r->proc))) != TKM_OK)
		return rc;
	if ((rc = read_flag(in, 2, 2, &r->pad)) != TKM_OK)
		return rc;
	if (r->scheme == 2 && (rc = read_block(in, r->alg, r->iv)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_num(in, 3, &r->len)) != TKM_OK ||
	    (rc = tkm_rd_hex(in, r->data, r->len)) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

/* Run the mode over r->data; result into res, its length into *n. */
static int
u1_run(struct u1_req *r, const struct hsm_key *k, uint8_t *res, size_t *n)
{
	const struct u1_mode *m = &u1_modes[r->mode];
	size_t bs = tkm_block_len(r->alg), klen = m->single ? 8 : k->len;
	const uint8_t *iv = r->scheme == 2 ? r->iv : NULL;
	int cm = r->scheme == 2 ? TKM_CBC : TKM_ECB, pad = u1_pads[r->pad];
	int rc;

	*n = 0;
	if (m->op == OP_MAC)
		return tkm_mac(TKM_MAC_PBOC, r->alg, k->k, klen, iv, r->data,
		    r->len, pad, res, n);
	if (m->op == OP_ENC) {
		if ((*n = pad_data(r->data, r->len, pad, bs)) == 0)
			return TKM_ERR_DATA_LEN;
		return tkm_cipher(
		    r->alg, cm, TKM_ENCRYPT, k->k, klen, iv, r->data, *n, res);
	}
	if (r->len == 0 || r->len % bs != 0)
		return TKM_ERR_DATA_LEN;
	rc = tkm_cipher(
	    r->alg, cm, TKM_DECRYPT, k->k, klen, iv, r->data, r->len, res);
	*n = r->len;
	/* force-80 padding comes off again; zero padding cannot */
	if (rc == TKM_OK && pad == TKM_PAD_80 &&
	    (*n = unpad_80(res, r->len, bs)) == SIZE_MAX) {
		*n = 0;
		rc = TKM_ERR_INPUT;
	}
	return rc;
}

/*
 * U1: encrypt, decrypt or MAC data under a derived key.
 * Response: len 3N | result H (a MAC is the whole last block: 8 bytes
 * DES, 16 SM4; PBOC takes its leftmost 4).
 */
int
cmd_u1(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0), *dk = hsm_slot(c, 1);
	uint8_t res[MAX_DATA + TKM_MAX_BLOCK];
	struct u1_req r;
	size_t n = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = u1_read(c, in, &r, key)) != TKM_OK ||
	    (rc = derive_key(key, &r.f, dk)) != TKM_OK)
		goto out;
	if (u1_modes[r.mode].process &&
	    (rc = process_key(dk, r.proc)) != TKM_OK)
		goto out;
	if ((rc = u1_run(&r, dk, res, &n)) != TKM_OK)
		goto out;
	if (n > MAX_DATA) {
		rc = TKM_ERR_DATA_LEN;
		goto out;
	}
	tkm_wr_num(out, n, 3);
	tkm_wr_hex(out, res, n);
	rc = tkm_wr_error(out);
out:
	tkm_cleanse(&r, sizeof(r));
	tkm_cleanse(res, sizeof(res));
	return rc;
}

/* ---- U3 ---------------------------------------------------------------- */

enum { U3_CBC_80 = 0, U3_ECB_LEN = 1, U3_ECB_FILL = 2 };
enum { U3_PROT_TK = 0, U3_PROT_SMC = 1 };

#define U3_MAX_FILL 256
/* len(1) || key || 80 00.., or key || fill */
#define U3_MAX_CLEAR (1 + TKM_MAX_KEY + U3_MAX_FILL + TKM_MAX_BLOCK)
/* The key to export: card master keys, diversified for the card. */
#define U3_TYPES "109,209,309,509"

struct u3_req {
	int alg;
	unsigned mode, scheme, ptype;
	struct factors f, pf;
	int process;
	uint8_t proc[TKM_FACTOR_LEN];
	uint8_t iv[TKM_MAX_BLOCK], ivmac[TKM_MAX_BLOCK];
	uint32_t flen, mflen, off;
	uint8_t fill[U3_MAX_FILL], mfill[U3_MAX_FILL];
};

/* len 4H + that many bytes as H */
static int
read_fill(struct tkm_rd *in, uint8_t *buf, uint32_t *len)
{
	struct tkm_rd t = *in;
	int rc;

	if ((rc = tkm_rd_hexnum(&t, 4, len)) != TKM_OK)
		return rc;
	if (*len > U3_MAX_FILL)
		return TKM_ERR_DATA_LEN;
	if ((rc = tkm_rd_hex(&t, buf, *len)) != TKM_OK)
		return rc;
	*in = t;
	return TKM_OK;
}

/* process flag 1A: N, or Y + process data 16H */
static int
u3_read_process(struct tkm_rd *in, struct u3_req *r)
{
	if (tkm_rd_accept(in, 'N'))
		return TKM_OK;
	if (!tkm_rd_accept(in, 'Y'))
		return in->len ? TKM_ERR_MODE : TKM_ERR_TRUNC;
	r->process = 1;
	return tkm_rd_hex(in, r->proc, sizeof(r->proc));
}

/* The protection key: TK (000) or a key derived from MK-SMC (309). */
static int
u3_read_prot(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct u3_req *r,
    struct hsm_key *prot)
{
	int rc;

	if ((rc = read_flag(in, 1, 1, &r->ptype)) != TKM_OK)
		return rc;
	/* a TK protects keys in transit, it does not compute MACs (§2) */
	if (r->ptype == U3_PROT_TK && r->mode == 1)
		return TKM_ERR_TYPE_USE;
	if ((rc = hsm_key_read(c, in, r->alg,
		 r->ptype == U3_PROT_TK ? "000" : "309", prot)) != TKM_OK)
		return rc;
	if (r->ptype == U3_PROT_SMC &&
	    (rc = read_factors(in, &r->pf)) != TKM_OK)
		return rc;
	return u3_read_process(in, r);
}

/*
 * alg 1A | mode 1A | scheme 1N | key type 3A | key | n 1N + n*16H |
 * prot. type 1N | prot. key | [type 1: n 1N + n*16H] | process 1A [16H] |
 * [scheme 0: IV] | [scheme 2: fill len 4H + fill H] |
 * [mode 1: IV-MAC | MAC-fill len 4H | MAC-fill H | offset 4H]
 */
static int
u3_read(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct u3_req *r,
    struct hsm_key *key, struct hsm_key *prot)
{
	char type[4];
	int rc;

	if ((rc = read_alg(in, &r->alg)) != TKM_OK ||
	    (rc = read_flag(in, 1, 1, &r->mode)) != TKM_OK ||
	    (rc = read_flag(in, 1, 2, &r->scheme)) != TKM_OK ||
	    (rc = read_type(in, U3_TYPES, type)) != TKM_OK ||
	    (rc = hsm_key_read(c, in, r->alg, type, key)) != TKM_OK ||
	    (rc = read_factors(in, &r->f)) != TKM_OK ||
	    (rc = u3_read_prot(c, in, r, prot)) != TKM_OK)
		return rc;
	if (r->scheme == U3_CBC_80 &&
	    (rc = read_block(in, r->alg, r->iv)) != TKM_OK)
		return rc;
	if (r->scheme == U3_ECB_FILL &&
	    (rc = read_fill(in, r->fill, &r->flen)) != TKM_OK)
		return rc;
	if (r->mode == 1) {
		if ((rc = read_block(in, r->alg, r->ivmac)) != TKM_OK ||
		    (rc = read_fill(in, r->mfill, &r->mflen)) != TKM_OK ||
		    (rc = tkm_rd_hexnum(in, 4, &r->off)) != TKM_OK)
			return rc;
		if (r->off > r->mflen)
			return TKM_ERR_INPUT;
	}
	return tkm_rd_end(in);
}

/*
 * The clear block for scheme (protocol.md §4 U3) into pt, its length into
 * *n: 0 key || 80 00..; 1 len(1) || key || 80 00.. (PBOC); 2 key || fill,
 * which must be whole blocks.
 */
static int
u3_clear(
    const struct u3_req *r, const struct hsm_key *k, uint8_t *pt, size_t *n)
{
	size_t bs = tkm_block_len(r->alg), len = 0;

	if (r->scheme == U3_ECB_LEN)
		pt[len++] = (uint8_t)k->len;
	memcpy(pt + len, k->k, k->len);
	len += k->len;
	if (r->scheme == U3_ECB_FILL) {
		memcpy(pt + len, r->fill, r->flen);
		len += r->flen;
		*n = tkm_pad_len(TKM_PAD_NONE, len, bs);
	} else {
		*n = pad_data(pt, len, TKM_PAD_80, bs);
	}
	return *n == 0 ? TKM_ERR_DATA_LEN : TKM_OK;
}

/* MAC over MAC-fill with the ciphertext inserted at offset (PBOC MAC, pad
 * 80, IV-MAC), leftmost 8 bytes as 16H. */
static int
u3_mac(const struct u3_req *r, const struct hsm_key *p, const uint8_t *ct,
    size_t n, struct tkm_wr *out)
{
	uint8_t m[U3_MAX_FILL + U3_MAX_CLEAR];
	uint8_t mac[TKM_MAX_BLOCK];
	size_t len = 0, mlen = 0;
	int rc;

	memcpy(m, r->mfill, r->off);
	len = r->off;
	memcpy(m + len, ct, n);
	len += n;
	memcpy(m + len, r->mfill + r->off, r->mflen - r->off);
	len += r->mflen - r->off;
	rc = tkm_mac(TKM_MAC_PBOC, r->alg, p->k, p->len, r->ivmac, m, len,
	    TKM_PAD_80, mac, &mlen);
	if (rc == TKM_OK)
		tkm_wr_hex(out, mac, 8);
	tkm_cleanse(mac, sizeof(mac));
	return rc;
}

/*
 * U3: export a derived key under a protection key, optionally with the
 * card's secure-messaging MAC. Response: [MAC 16H] | len 4N | ciphertext H.
 * The MAC is computed with the protection key, as the card checks it
 * (PBOC key writing, 84D4: one card key encrypts and MACs).
 */
int
cmd_u3(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0), *ek = hsm_slot(c, 1);
	struct hsm_key *prot = hsm_slot(c, 2), *pk = hsm_slot(c, 3);
	uint8_t pt[U3_MAX_CLEAR], ct[U3_MAX_CLEAR];
	struct u3_req r;
	size_t n = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = u3_read(c, in, &r, key, prot)) != TKM_OK ||
	    (rc = derive_key(key, &r.f, ek)) != TKM_OK ||
	    (rc = derive_key(prot, &r.pf, pk)) != TKM_OK)
		goto out;
	if (r.process && (rc = process_key(pk, r.proc)) != TKM_OK)
		goto out;
	if ((rc = u3_clear(&r, ek, pt, &n)) != TKM_OK ||
	    (rc = tkm_cipher(r.alg, r.scheme == U3_CBC_80 ? TKM_CBC : TKM_ECB,
		 TKM_ENCRYPT, pk->k, pk->len, r.iv, pt, n, ct)) != TKM_OK)
		goto out;
	if (r.mode == 1 && (rc = u3_mac(&r, pk, ct, n, out)) != TKM_OK)
		goto out;
	tkm_wr_num(out, n, 4);
	tkm_wr_hex(out, ct, n);
	rc = tkm_wr_error(out);
out:
	tkm_cleanse(&r, sizeof(r));
	tkm_cleanse(pt, sizeof(pt));
	return rc;
}

/* ---- UY ---------------------------------------------------------------- */

/* Data keys on both sides: data master keys and data encryption keys. */
#define UY_TYPES "509,00A"

/* type 3A | key | n 1N + n*16H, derived into slot */
static int
uy_read_key(
    struct hsm_cmd_ctx *c, struct tkm_rd *in, int alg, struct hsm_key *slot)
{
	struct factors f;
	char type[4];
	int rc;

	memset(&f, 0, sizeof(f));
	if ((rc = read_type(in, UY_TYPES, type)) != TKM_OK ||
	    (rc = hsm_key_read(c, in, alg, type, slot)) != TKM_OK ||
	    (rc = read_factors(in, &f)) != TKM_OK)
		return rc;
	return derive_key(slot, &f, slot);
}

/*
 * UY: decrypt data under one key and encrypt it under another, the clear
 * data never leaving the HSM.
 *   alg 1A | src type 3A | src key | src n 1N + n*16H | dst type 3A |
 *   dst key | dst n 1N + n*16H | scheme 2N (01 ECB, 02 CBC) |
 *   [CBC: src IV | dst IV] | len 3N | data H (whole blocks)
 * Response: UZ00 | len 3N | data H.
 */
int
cmd_uy(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *src = hsm_slot(c, 0), *dst = hsm_slot(c, 1);
	uint8_t buf[MAX_DATA], siv[TKM_MAX_BLOCK] = {0};
	uint8_t div[TKM_MAX_BLOCK] = {0};
	unsigned scheme, len = 0;
	int alg, cm, rc;

	if ((rc = read_alg(in, &alg)) != TKM_OK ||
	    (rc = uy_read_key(c, in, alg, src)) != TKM_OK ||
	    (rc = uy_read_key(c, in, alg, dst)) != TKM_OK ||
	    (rc = read_flag(in, 2, 2, &scheme)) != TKM_OK)
		goto out;
	if (scheme == 0) {
		rc = TKM_ERR_MODE;
		goto out;
	}
	cm = scheme == 2 ? TKM_CBC : TKM_ECB;
	if (cm == TKM_CBC && ((rc = read_block(in, alg, siv)) != TKM_OK ||
				 (rc = read_block(in, alg, div)) != TKM_OK))
		goto out;
	if ((rc = tkm_rd_num(in, 3, &len)) != TKM_OK ||
	    (rc = tkm_rd_hex(in, buf, len)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		goto out;
	if (len == 0 || len % tkm_block_len(alg) != 0) {
		rc = TKM_ERR_DATA_LEN;
		goto out;
	}
	if ((rc = tkm_cipher(alg, cm, TKM_DECRYPT, src->k, src->len, siv, buf,
		 len, buf)) != TKM_OK ||
	    (rc = tkm_cipher(alg, cm, TKM_ENCRYPT, dst->k, dst->len, div, buf,
		 len, buf)) != TKM_OK)
		goto out;
	tkm_wr_num(out, len, 3);
	tkm_wr_hex(out, buf, len);
	rc = tkm_wr_error(out);
out:
	tkm_cleanse(buf, sizeof(buf));
	return rc;
}
