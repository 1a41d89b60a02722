/*
 * cmd_asym.c - asymmetric host commands (protocol.md §4-§5; layouts,
 * defaults and error codes in docs/protocol.md): EI generate a key pair,
 * EJ public key, EH export private key components, EK load a private key,
 * EP private decrypt, ER public encrypt, EW sign, EY verify, GM digest.
 *
 * The algorithm is named in two ways on the wire: 1A (R RSA, S SM2) in the
 * commands about key pairs (EI EJ EH EK), 2N (01 RSA, 07 SM2) in the
 * commands about data (EP ER EW EY). Inside, both become the key library
 * (HSM_LIB_RSA, HSM_LIB_SM2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ident.h"
#include "keys.h"
#include "keystore.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mem.h"
#include "tkm/rsa.h"
#include "tkm/sm2.h"

#define ALG2_RSA 1 /* 2N algorithm ids */
#define ALG2_SM2 7
#define LEN4_MAX 9999 /* what a 4N length can say */
#define SM2_BITS 256

/* Types that may protect an exported private key: a transport key, or the
 * card's secure-messaging encryption key (written to a card, derived by
 * the card factor). */
#define EH_PROT_TYPES "000,309"

/* A key of either algorithm. Keys read by reference belong to the worker's
 * cache (keys.h); generated keys and public keys from the message are ours
 * (owned) and freed by asym_release. */
struct asym {
	int lib;
	struct tkm_sm2 *sm2;
	struct tkm_rsa *rsa;
	int owned;
};

static void
asym_release(struct asym *k)
{
	if (k->owned) {
		tkm_sm2_free(k->sm2);
		tkm_rsa_free(k->rsa);
	}
	memset(k, 0, sizeof(*k));
}

/* --- fields --------------------------------------------------------------- */

/* 1A algorithm: R or S. */
static int
read_alg1(struct tkm_rd *in, int *lib)
{
	uint8_t a;
	int rc;

	*lib = 0;
	if ((rc = tkm_rd_bytes(in, &a, 1)) != TKM_OK)
		return rc;
	if (a == 'R')
		*lib = HSM_LIB_RSA;
	else if (a == 'S')
		*lib = HSM_LIB_SM2;
	else
		return TKM_ERR_MODE;
	return TKM_OK;
}

/* A 2N identifier (algorithm, hash, padding, mode): anything but digits is
 * an unknown identifier (05); a short field is truncated input (15). */
static int
read_id(struct tkm_rd *in, unsigned *v)
{
	int rc = tkm_rd_num(in, 2, v);

	return rc == TKM_ERR_INPUT ? TKM_ERR_MODE : rc;
}

/* 2N algorithm: 01 or 07. */
static int
read_alg2(struct tkm_rd *in, int *lib)
{
	unsigned v;
	int rc;

	*lib = 0;
	if ((rc = read_id(in, &v)) != TKM_OK)
		return rc;
	if (v == ALG2_RSA)
		*lib = HSM_LIB_RSA;
	else if (v == ALG2_SM2)
		*lib = HSM_LIB_SM2;
	else
		return TKM_ERR_MODE;
	return TKM_OK;
}

/* RSA padding 2N: 00 none (raw), 01 PKCS#1 v1.5. */
static int
read_rsa_pad(struct tkm_rd *in, int *pad)
{
	unsigned v;
	int rc;

	*pad = 0;
	if ((rc = read_id(in, &v)) != TKM_OK)
		return rc;
	if (v != TKM_RSA_RAW && v != TKM_RSA_PKCS1)
		return TKM_ERR_MODE;
	*pad = (int)v;
	return TKM_OK;
}

/* Hash 2N, the ids of GM (crypto.h). */
static int
read_hash(struct tkm_rd *in, int *hash)
{
	unsigned v;
	int rc;

	*hash = 0;
	if ((rc = read_id(in, &v)) != TKM_OK)
		return rc;
	if (tkm_hash_len((int)v) == 0)
		return TKM_ERR_MODE;
	*hash = (int)v;
	return TKM_OK;
}

/* len (width N) + that many bytes, viewed in place. */
static int
read_lv(struct tkm_rd *in, size_t width, const uint8_t **p, size_t *len)
{
	unsigned n;
	int rc;

	*p = NULL;
	*len = 0;
	if ((rc = tkm_rd_num(in, width, &n)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_view(in, p, n)) != TKM_OK)
		return rc;
	*len = n;
	return TKM_OK;
}

/* The `;` before a key index. */
static int
read_delim(struct tkm_rd *in)
{
	if (in->len == 0)
		return TKM_ERR_TRUNC;
	return tkm_rd_accept(in, ';') ? TKM_OK : TKM_ERR_INPUT;
}

/* SM2 user ID, 4N + B. An empty ID means the default ID of GM/T 0009
 * (NULL for sm2.h). */
static int
read_sm2_id(struct tkm_rd *in, const uint8_t **id, size_t *len)
{
	int rc = read_lv(in, 4, id, len);

	if (rc == TKM_OK && *len == 0)
		*id = NULL;
	return rc;
}

/* --- keys ----------------------------------------------------------------- */

/* A key reference: index 01..20 or 99 with a DK-protected blob. A blob
 * that does not unwrap is a bad key (74), not a failed verification: EY's
 * 01 must mean only that the signature is wrong. */
static int
key_read(struct hsm_cmd_ctx *c, struct tkm_rd *in, int lib, struct asym *k)
{
	int rc;

	memset(k, 0, sizeof(*k));
	k->lib = lib;
	if (lib == HSM_LIB_SM2)
		rc = hsm_sm2_read(c, in, &k->sm2);
	else
		rc = hsm_rsa_read(c, in, &k->rsa);
	return rc == TKM_ERR_VERIFY ? TKM_ERR_ASYM_KEY : rc;
}

/* A public key in clear: SM2 X || Y (64 B, or 65 B with the 04 prefix),
 * RSA DER RSAPublicKey. Nothing given: public key absent (85). */
static int
pub_parse(int lib, const uint8_t *p, size_t len, struct asym *k)
{
	int rc;

	memset(k, 0, sizeof(*k));
	k->lib = lib;
	k->owned = 1;
	if (len == 0)
		return TKM_ERR_NO_PUBKEY;
	if (lib == HSM_LIB_RSA) {
		rc = tkm_rsa_from_der(p, len, 0, &k->rsa);
		return rc == TKM_OK ? rc : TKM_ERR_ASYM_KEY;
	}
	if (len == TKM_SM2_PUB_LEN + 1 && p[0] == 0x04) {
		p++;
		len--;
	}
	if (len != TKM_SM2_PUB_LEN)
		return TKM_ERR_ASYM_KEY;
	rc = tkm_sm2_from_pub(p, &k->sm2);
	return rc == TKM_OK ? rc : TKM_ERR_ASYM_KEY;
}

/* Public key as EI and EJ return it: SM2 X || Y, RSA DER RSAPublicKey. */
static int
pub_write(const struct asym *k, struct tkm_wr *out)
{
	uint8_t der[TKM_RSA_MAX_LEN + 64];
	uint8_t xy[TKM_SM2_PUB_LEN];
	size_t len;
	int rc;

	if (k->lib == HSM_LIB_SM2) {
		if ((rc = tkm_sm2_pub(k->sm2, xy)) != TKM_OK)
			return rc;
		tkm_wr_bytes(out, xy, sizeof(xy));
		return TKM_OK;
	}
	if ((rc = tkm_rsa_to_der(k->rsa, 0, der, sizeof(der), &len)) != TKM_OK)
		return rc;
	tkm_wr_bytes(out, der, len);
	return TKM_OK;
}

/* The secret the key store keeps: SM2 d, RSA DER RSAPrivateKey. buf holds
 * HSM_MAX_SECRET bytes. */
static int
secret_export(const struct asym *k, uint8_t *buf, size_t *len)
{
	*len = 0;
	if (k->lib == HSM_LIB_SM2) {
		*len = TKM_SM2_PRIV_LEN;
		return tkm_sm2_priv(k->sm2, buf);
	}
	return tkm_rsa_to_der(k->rsa, 1, buf, HSM_MAX_SECRET, len);
}

/* keystore.h: SM2 first 8 bytes of SM3(X || Y); RSA of SHA-256(N). */
static int
key_kcv(const struct asym *k, uint8_t kcv[8])
{
	uint8_t v[TKM_RSA_MAX_LEN], h[TKM_MAX_HASH];
	size_t len;
	int rc;

	if (k->lib == HSM_LIB_SM2) {
		if ((rc = tkm_sm2_pub(k->sm2, v)) == TKM_OK)
			rc = tkm_hash(TKM_SM3, v, TKM_SM2_PUB_LEN, h);
	} else {
		rc = tkm_rsa_component(k->rsa, TKM_RSA_N, v, sizeof(v), &len);
		if (rc == TKM_OK)
			rc = tkm_hash(TKM_SHA256, v, len, h);
	}
	if (rc == TKM_OK)
		memcpy(kcv, h, 8);
	return rc;
}

/* Store k at index of its library (EI with an index, EK). */
static int
key_store(struct hsm_cmd_ctx *c, const struct asym *k, unsigned index,
    char usage, const char *label)
{
	struct hsm_key_info info;
	uint8_t *secret;
	size_t len = 0;
	int rc;

	memset(&info, 0, sizeof(info));
	if ((secret = tkm_secure_alloc(HSM_MAX_SECRET)) == NULL)
		return TKM_ERR_NOMEM;
	info.lib = k->lib;
	info.index = index;
	/* the type code of a key pair names its algorithm, as in keys.c */
	memcpy(info.type, k->lib == HSM_LIB_SM2 ? "SM2" : "RSA", 4);
	info.usage[0] = usage;
	snprintf(info.label, sizeof(info.label), "%s", label);
	if ((rc = key_kcv(k, info.kcv)) != TKM_OK ||
	    (rc = secret_export(k, secret, &len)) != TKM_OK)
		goto out;
	rc = hsm_keystore_insert(c->w->ks, &info, secret, len);
out:
	tkm_secure_free(secret, HSM_MAX_SECRET);
	return rc;
}

/* `priv len 4N | priv blob`: the private key under DK for a message. */
static int
blob_write(struct hsm_cmd_ctx *c, const struct asym *k, struct tkm_wr *out)
{
	uint8_t *secret;
	size_t len = 0;
	int rc;

	if ((secret = tkm_secure_alloc(HSM_MAX_SECRET)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = secret_export(k, secret, &len)) == TKM_OK)
		rc = hsm_asym_blob(c, k->lib, secret, len, out);
	tkm_secure_free(secret, HSM_MAX_SECRET);
	return rc;
}

/* `; index 2N` after EI: 01..20 store there, 99 or no field do not store
 * (index 0). */
static int
read_store_index(struct tkm_rd *in, unsigned *index)
{
	unsigned v;
	int rc;

	*index = 0;
	if (!tkm_rd_accept(in, ';'))
		return TKM_OK;
	if ((rc = tkm_rd_num(in, 2, &v)) != TKM_OK)
		return rc == TKM_ERR_INPUT ? TKM_ERR_INDEX : rc;
	if (v == TKM_ASYM_IN_MSG)
		return TKM_OK;
	if (v < 1 || v > HSM_ASYM_MAX_INDEX)
		return TKM_ERR_INDEX;
	*index = v;
	return TKM_OK;
}

/* --- EI: generate a key pair ---------------------------------------------- */

struct ei_req {
	int lib;
	char usage;
	unsigned bits;
	uint8_t e[8]; /* RSA public exponent, big-endian; elen 0: 65537 */
	size_t elen;
	unsigned index; /* 0: do not store */
};

/* RSA: `encoding 2N | [exp len 4N | exp B]`; both may be left out. */
static int
ei_read_rsa(struct tkm_rd *in, struct ei_req *r)
{
	const uint8_t *e;
	unsigned enc;
	int rc;

	if (in->len == 0 || in->p[0] == ';')
		return TKM_OK;
	if ((rc = read_id(in, &enc)) != TKM_OK)
		return rc;
	if (enc != 1)
		return TKM_ERR_MODE; /* only 01 DER */
	if (in->len == 0 || in->p[0] == ';')
		return TKM_OK;
	if ((rc = read_lv(in, 4, &e, &r->elen)) != TKM_OK)
		return rc;
	if (r->elen > sizeof(r->e))
		return TKM_ERR_ASYM_KEY;
	memcpy(r->e, e, r->elen);
	return TKM_OK;
}

static int
ei_read(struct tkm_rd *in, struct ei_req *r)
{
	uint8_t u;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = read_alg1(in, &r->lib)) != TKM_OK ||
	    (rc = tkm_rd_bytes(in, &u, 1)) != TKM_OK)
		return rc;
	if (u < '0' || u > '3')
		return TKM_ERR_MODE;
	r->usage = (char)u;
	if ((rc = tkm_rd_num(in, 4, &r->bits)) != TKM_OK)
		return rc;
	if (r->lib == HSM_LIB_SM2 && r->bits != SM2_BITS)
		return TKM_ERR_KEY_LEN;
	if (r->lib == HSM_LIB_RSA &&
	    (r->bits < TKM_RSA_MIN_BITS || r->bits > TKM_RSA_MAX_BITS ||
		r->bits % 8 != 0))
		return TKM_ERR_KEY_LEN;
	if (r->lib == HSM_LIB_RSA && (rc = ei_read_rsa(in, r)) != TKM_OK)
		return rc;
	if ((rc = read_store_index(in, &r->index)) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

int
cmd_ei(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct ei_req r;
	struct asym k = {0};
	int rc;

	if ((rc = ei_read(in, &r)) != TKM_OK)
		goto out;
	/* Storing replaces the pair at that index, which is key management
	 * (EK's job, protocol.md §5): only in the authorised state. */
	if (r.index != 0 && !atomic_load(&c->w->st->authorised)) {
		rc = TKM_ERR_NOT_AUTH;
		goto out;
	}
	k.lib = r.lib;
	k.owned = 1;
	if (r.lib == HSM_LIB_SM2)
		rc = tkm_sm2_generate(&k.sm2);
	else
		rc = tkm_rsa_generate(
		    r.bits, r.elen > 0 ? r.e : NULL, r.elen, &k.rsa);
	if (rc != TKM_OK)
		goto out;
	if (r.index != 0 &&
	    (rc = key_store(c, &k, r.index, r.usage, "EI")) != TKM_OK)
		goto out;
	if ((rc = pub_write(&k, out)) == TKM_OK)
		rc = blob_write(c, &k, out);
out:
	asym_release(&k);
	return rc;
}

/* --- EJ: public key of a private key -------------------------------------- */

int
cmd_ej(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct asym k = {0};
	unsigned enc;
	int lib, rc;

	if ((rc = read_alg1(in, &lib)) != TKM_OK ||
	    (rc = key_read(c, in, lib, &k)) != TKM_OK)
		goto out;
	/* RSA encoding: 01 DER, or left out */
	if (lib == HSM_LIB_RSA && in->len > 0) {
		if ((rc = read_id(in, &enc)) != TKM_OK)
			goto out;
		if (enc != 1) {
			rc = TKM_ERR_MODE;
			goto out;
		}
	}
	if ((rc = tkm_rd_end(in)) == TKM_OK)
		rc = pub_write(&k, out);
out:
	asym_release(&k);
	return rc;
}

/* --- EH: export the private key's components ------------------------------ */

struct eh_req {
	int mode; /* TKM_ECB or TKM_CBC */
	int alg;  /* protection key: TKM_DES or TKM_SM4 */
	int pad;  /* 1: always append 80 00.. */
	size_t klen;
	uint8_t key[TKM_MAX_KEY]; /* the derived protection key */
	uint8_t iv[TKM_MAX_BLOCK];
};

/* Protection key type 3A: a known type (04) that may protect keys (28). */
static int
eh_read_type(struct tkm_rd *in, char type[HSM_TYPE_LEN + 1])
{
	int rc;

	memset(type, 0, HSM_TYPE_LEN + 1);
	if ((rc = tkm_rd_bytes(in, type, HSM_TYPE_LEN)) != TKM_OK)
		return rc;
	if (hsm_dk_type_check(type) != TKM_OK)
		return TKM_ERR_KEY_TYPE;
	if (!hsm_type_allowed(type, EH_PROT_TYPES))
		return TKM_ERR_TYPE_USE;
	return TKM_OK;
}

/* Protection key and its scheme flag. The flag follows the key but says
 * which library a K+3H index names, so look past the key first. */
static int
eh_read_key(struct hsm_cmd_ctx *c, struct tkm_rd *in, const char *type,
    struct eh_req *r, struct hsm_key *slot)
{
	struct tkm_keyref ref;
	struct tkm_rd ahead = *in;
	uint8_t scheme;
	int rc;

	rc = tkm_keyref_parse(&ahead, &ref);
	tkm_cleanse(&ref, sizeof(ref));
	if (rc != TKM_OK)
		return rc;
	if ((rc = tkm_rd_bytes(&ahead, &scheme, 1)) != TKM_OK)
		return rc;
	if (scheme == 'X')
		r->alg = TKM_DES;
	else if (scheme == 'S')
		r->alg = TKM_SM4;
	else
		return TKM_ERR_SCHEME;
	if ((rc = hsm_key_read(c, in, r->alg, type, slot)) != TKM_OK)
		return rc;
	return tkm_rd_bytes(in, NULL, 1);
}

/* n 1N + n x 16H factors, then the derived key into r->key. */
static int
eh_derive(struct tkm_rd *in, const struct hsm_key *mk, struct eh_req *r)
{
	uint8_t f[TKM_MAX_LEVELS * TKM_FACTOR_LEN];
	unsigned n, i;
	int rc;

	if ((rc = tkm_rd_num(in, 1, &n)) != TKM_OK)
		return rc;
	if (n > TKM_MAX_LEVELS)
		return TKM_ERR_INPUT;
	for (i = 0; i < n; i++)
		if ((rc = tkm_rd_hex(
			 in, f + i * TKM_FACTOR_LEN, TKM_FACTOR_LEN)) != TKM_OK)
			return rc;
	if (n == 0) {
		/* no derivation: the key itself, of any length */
		memcpy(r->key, mk->k, mk->len);
		r->klen = mk->len;
		return TKM_OK;
	}
	r->klen = TKM_DERIVED_LEN;
	return tkm_derive(r->alg, mk->k, mk->len, f, n, r->key);
}

static int
eh_read(
    struct hsm_cmd_ctx *c, struct tkm_rd *in, struct eh_req *r, struct asym *k)
{
	struct hsm_key *mk = hsm_slot(c, 0);
	char type[HSM_TYPE_LEN + 1];
	unsigned v;
	int lib, rc;

	memset(r, 0, sizeof(*r));
	if ((rc = read_id(in, &v)) != TKM_OK)
		return rc;
	if (v > 1)
		return TKM_ERR_MODE;
	r->mode = v == 0 ? TKM_ECB : TKM_CBC;
	if ((rc = eh_read_type(in, type)) != TKM_OK ||
	    (rc = eh_read_key(c, in, type, r, mk)) != TKM_OK ||
	    (rc = eh_derive(in, mk, r)) != TKM_OK ||
	    (rc = read_alg1(in, &lib)) != TKM_OK ||
	    (rc = key_read(c, in, lib, k)) != TKM_OK ||
	    (rc = read_id(in, &v)) != TKM_OK)
		return rc;
	if (v > 1)
		return TKM_ERR_MODE;
	r->pad = (int)v;
	if (r->mode == TKM_CBC &&
	    (rc = tkm_rd_hex(in, r->iv, tkm_block_len(r->alg))) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

/* One component: pad, encrypt, write `len 4N | B`. */
static int
eh_put(const struct eh_req *r, const uint8_t *p, size_t n, struct tkm_wr *out)
{
	uint8_t buf[TKM_RSA_MAX_LEN + TKM_MAX_BLOCK];
	size_t bl = tkm_block_len(r->alg), len = n;
	int rc;

	if (n > TKM_RSA_MAX_LEN)
		return TKM_ERR_INTERNAL;
	memcpy(buf, p, n);
	if (r->pad) {
		buf[len++] = 0x80;
		while (len % bl != 0)
			buf[len++] = 0;
	}
	if (len == 0 || len % bl != 0) {
		rc = TKM_ERR_DATA_LEN; /* pad 00 and not whole blocks */
		goto out;
	}
	rc = tkm_cipher(r->alg, r->mode, TKM_ENCRYPT, r->key, r->klen,
	    r->mode == TKM_CBC ? r->iv : NULL, buf, len, buf);
	if (rc == TKM_OK) {
		tkm_wr_num(out, len, 4);
		tkm_wr_bytes(out, buf, len);
	}
out:
	tkm_cleanse(buf, sizeof(buf));
	return rc;
}

/* SM2: X Y D, 32 bytes each. */
static int
eh_sm2(const struct eh_req *r, struct tkm_sm2 *k, struct tkm_wr *out)
{
	uint8_t xy[TKM_SM2_PUB_LEN], d[TKM_SM2_PRIV_LEN];
	int rc;

	if ((rc = tkm_sm2_pub(k, xy)) != TKM_OK ||
	    (rc = tkm_sm2_priv(k, d)) != TKM_OK)
		goto out;
	tkm_wr_num(out, SM2_BITS, 4);
	if ((rc = eh_put(r, xy, 32, out)) != TKM_OK ||
	    (rc = eh_put(r, xy + 32, 32, out)) != TKM_OK)
		goto out;
	rc = eh_put(r, d, sizeof(d), out);
out:
	tkm_cleanse(d, sizeof(d));
	return rc;
}

/* RSA: M E D P Q DP DQ QINV. M and D take the modulus length, the CRT
 * parts half of it, left-padded with zeros, so that a component's length
 * depends on the key size only (cards load CRT parts of fixed length and
 * a short one would leak its leading zeros); E as it is. */
static int
eh_rsa(const struct eh_req *r, struct tkm_rsa *k, struct tkm_wr *out)
{
	static const int parts[] = {TKM_RSA_N, TKM_RSA_E, TKM_RSA_D, TKM_RSA_P,
	    TKM_RSA_Q, TKM_RSA_DP, TKM_RSA_DQ, TKM_RSA_QINV};
	uint8_t v[TKM_RSA_MAX_LEN], fixed[TKM_RSA_MAX_LEN];
	size_t nlen = (tkm_rsa_bits(k) + 7) / 8, width, len, i;
	int rc = TKM_OK;

	tkm_wr_num(out, tkm_rsa_bits(k), 4);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		rc = tkm_rsa_component(k, parts[i], v, sizeof(v), &len);
		if (rc != TKM_OK)
			break;
		if (parts[i] == TKM_RSA_N || parts[i] == TKM_RSA_D)
			width = nlen;
		else if (parts[i] == TKM_RSA_E)
			width = len;
		else
			width = (nlen + 1) / 2;
		if (len > width)
			width = len;
		memset(fixed, 0, width - len);
		memcpy(fixed + width - len, v, len);
		if ((rc = eh_put(r, fixed, width, out)) != TKM_OK)
			break;
	}
	tkm_cleanse(v, sizeof(v));
	tkm_cleanse(fixed, sizeof(fixed));
	return rc;
}

int
cmd_eh(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct eh_req r;
	struct asym k = {0};
	int rc;

	if ((rc = eh_read(c, in, &r, &k)) != TKM_OK)
		goto out;
	if (k.lib == HSM_LIB_SM2)
		rc = eh_sm2(&r, k.sm2, out);
	else
		rc = eh_rsa(&r, k.rsa, out);
out:
	tkm_cleanse(&r, sizeof(r));
	asym_release(&k);
	return rc;
}

/* --- EK: load a private key at an index ----------------------------------- */

/* EK's `len 4N | blob` has no 99 in front: hand keys.h the reference it
 * reads, then consume what it used. */
static int
blob_read(struct hsm_cmd_ctx *c, struct tkm_rd *in, int lib, struct asym *k)
{
	struct tkm_rd ref;
	uint8_t *buf;
	int rc;

	memset(k, 0, sizeof(*k));
	if ((buf = malloc(in->len + 2)) == NULL)
		return TKM_ERR_NOMEM;
	buf[0] = '9';
	buf[1] = '9';
	memcpy(buf + 2, in->p, in->len);
	ref = tkm_rd_of(buf, in->len + 2);
	rc = key_read(c, &ref, lib, k);
	if (rc == TKM_OK)
		rc = tkm_rd_bytes(in, NULL, in->len - ref.len);
	free(buf);
	return rc;
}

/*
 * EK | alg 1A | index 2N (01..20) | len 4N | blob B. The blob is what EI
 * returns (the key pair under DK for a message), so a key generated with
 * index 99 can be stored later, or in another HSM sharing DK.
 */
int
cmd_ek(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct asym k = {0};
	unsigned index;
	int lib, rc;

	(void)out;
	if ((rc = read_alg1(in, &lib)) != TKM_OK)
		goto out;
	if ((rc = tkm_rd_num(in, 2, &index)) != TKM_OK) {
		rc = rc == TKM_ERR_INPUT ? TKM_ERR_INDEX : rc;
		goto out;
	}
	if (index < 1 || index > HSM_ASYM_MAX_INDEX) {
		rc = TKM_ERR_INDEX;
		goto out;
	}
	if ((rc = blob_read(c, in, lib, &k)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		goto out;
	rc = key_store(c, &k, index, '\0', "EK");
out:
	asym_release(&k);
	return rc;
}

/* --- EP / ER: decrypt / encrypt ------------------------------------------- */

struct crypt_req {
	int lib;
	int pad; /* RSA */
	const uint8_t *data;
	size_t len;
};

static int
crypt_read(struct tkm_rd *in, struct crypt_req *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = read_alg2(in, &r->lib)) != TKM_OK)
		return rc;
	if (r->lib == HSM_LIB_RSA && (rc = read_rsa_pad(in, &r->pad)) != TKM_OK)
		return rc;
	if ((rc = read_lv(in, 4, &r->data, &r->len)) != TKM_OK)
		return rc;
	return read_delim(in);
}

/*
 * Every failure of the private operation itself answers 01, whatever its
 * cause (RSA: value not below N, PKCS#1 padding; SM2: C1 not on the curve,
 * C3 mismatch), so that EP tells a client no more than "did not decrypt"
 * (Bleichenbacher, CRYPTO '98). Only the length, which is public, is
 * checked before and answered 80.
 */
static int
ep_decrypt(
    const struct crypt_req *r, struct asym *k, uint8_t *pt, size_t *ptlen)
{
	int rc;

	if (k->lib == HSM_LIB_RSA) {
		if (r->len != (tkm_rsa_bits(k->rsa) + 7) / 8)
			return TKM_ERR_DATA_LEN;
		rc =
		    tkm_rsa_decrypt(k->rsa, r->pad, r->data, r->len, pt, ptlen);
	} else {
		if (r->len <= TKM_SM2_ENC_OVERHEAD)
			return TKM_ERR_DATA_LEN;
		rc = tkm_sm2_decrypt(k->sm2, r->data, r->len, pt, ptlen);
	}
	return rc == TKM_OK ? rc : TKM_ERR_VERIFY;
}

int
cmd_ep(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct crypt_req r;
	struct asym k = {0};
	uint8_t *pt = NULL;
	size_t cap = 0, ptlen = 0;
	int rc;

	if ((rc = crypt_read(in, &r)) != TKM_OK ||
	    (rc = key_read(c, in, r.lib, &k)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		goto out;
	cap = r.len > 0 ? r.len : 1;
	if ((pt = malloc(cap)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = ep_decrypt(&r, &k, pt, &ptlen)) != TKM_OK)
		goto out;
	tkm_wr_num(out, ptlen, 4);
	tkm_wr_bytes(out, pt, ptlen);
out:
	if (pt != NULL) {
		tkm_cleanse(pt, cap);
		free(pt);
	}
	asym_release(&k);
	return rc;
}

/* ER's key: index 01..20, or 99 with the public key in clear to the end of
 * the message (no length: protocol.md §4 ER). */
static int
er_key(struct hsm_cmd_ctx *c, struct tkm_rd *in, int lib, struct asym *k)
{
	const uint8_t *p;
	size_t n;
	int rc;

	if (in->len >= 2 && in->p[0] == '9' && in->p[1] == '9') {
		n = in->len - 2;
		if ((rc = tkm_rd_bytes(in, NULL, 2)) != TKM_OK ||
		    (rc = tkm_rd_view(in, &p, n)) != TKM_OK)
			return rc;
		return pub_parse(lib, p, n, k);
	}
	if ((rc = key_read(c, in, lib, k)) != TKM_OK)
		return rc;
	return tkm_rd_end(in);
}

static int
er_encrypt(
    const struct crypt_req *r, struct asym *k, uint8_t *ct, size_t *ctlen)
{
	if (k->lib == HSM_LIB_RSA)
		return tkm_rsa_encrypt(
		    k->rsa, r->pad, r->data, r->len, ct, ctlen);
	/* the ciphertext's length must fit its 4N field */
	if (r->len > LEN4_MAX - TKM_SM2_ENC_OVERHEAD)
		return TKM_ERR_DATA_LEN;
	return tkm_sm2_encrypt(k->sm2, r->data, r->len, ct, ctlen);
}

int
cmd_er(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct crypt_req r;
	struct asym k = {0};
	uint8_t *ct = NULL;
	size_t cap, ctlen = 0;
	int rc;

	if ((rc = crypt_read(in, &r)) != TKM_OK ||
	    (rc = er_key(c, in, r.lib, &k)) != TKM_OK)
		goto out;
	cap = r.len + TKM_SM2_ENC_OVERHEAD + TKM_RSA_MAX_LEN;
	if ((ct = malloc(cap)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = er_encrypt(&r, &k, ct, &ctlen)) != TKM_OK)
		goto out;
	tkm_wr_num(out, ctlen, 4);
	tkm_wr_bytes(out, ct, ctlen);
out:
	free(ct);
	asym_release(&k);
	return rc;
}

/* --- EW / EY: sign / verify ----------------------------------------------- */

struct sig_req {
	int hash;
	int lib;
	const uint8_t *id; /* SM2; NULL: default ID */
	size_t idlen;
	const uint8_t *sig; /* EY */
	size_t siglen;
	const uint8_t *data;
	size_t len;
};

/* `hash 2N | alg 2N | [SM2: id len 4N | id B]`; SM2 signs SM3 only. */
static int
sig_read_head(struct tkm_rd *in, struct sig_req *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = read_hash(in, &r->hash)) != TKM_OK ||
	    (rc = read_alg2(in, &r->lib)) != TKM_OK)
		return rc;
	if (r->lib != HSM_LIB_SM2)
		return r->hash == TKM_SM3 ? TKM_ERR_MODE : TKM_OK;
	if (r->hash != TKM_SM3)
		return TKM_ERR_MODE;
	return read_sm2_id(in, &r->id, &r->idlen);
}

/*
 * The maintenance key pair (ident.h) signs licence updates: with it, EW
 * needs the authorised state that the security admin opens for the
 * signing (spec 配置加密机维保信息 step 3: 加密机安全管理员 ... 进行登录验证).
 * in is at the key reference; nothing is consumed.
 */
static int
ew_key_allowed(struct hsm_cmd_ctx *c, struct tkm_rd in, int lib)
{
	struct hsm_key_info info;
	struct tkm_asymref ref;

	if (lib != HSM_LIB_SM2 || tkm_asymref_parse(&in, &ref) != TKM_OK ||
	    ref.blob != NULL || c->w->ks == NULL)
		return TKM_OK; /* key_read() reports what is wrong */
	if (hsm_keystore_get(c->w->ks, HSM_LIB_SM2, ref.index, &info, NULL, 0,
		NULL) != TKM_OK ||
	    strcmp(info.label, HSM_MKEY_LABEL) != 0)
		return TKM_OK;
	return hsm_authorised(c->w->st) ? TKM_OK : TKM_ERR_NOT_AUTH;
}

int
cmd_ew(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	uint8_t sig[TKM_RSA_MAX_LEN];
	struct sig_req r;
	struct asym k = {0};
	size_t siglen = 0;
	int rc;

	if ((rc = sig_read_head(in, &r)) != TKM_OK ||
	    (rc = read_lv(in, 4, &r.data, &r.len)) != TKM_OK ||
	    (rc = read_delim(in)) != TKM_OK ||
	    (rc = ew_key_allowed(c, *in, r.lib)) != TKM_OK ||
	    (rc = key_read(c, in, r.lib, &k)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		goto out;
	if (k.lib == HSM_LIB_SM2) {
		rc = tkm_sm2_sign(k.sm2, r.id, r.idlen, r.data, r.len, sig);
		siglen = TKM_SM2_SIG_LEN;
	} else {
		rc = tkm_rsa_sign(k.rsa, r.hash, r.data, r.len, sig, &siglen);
	}
	if (rc != TKM_OK)
		goto out;
	tkm_wr_num(out, siglen, 4);
	tkm_wr_bytes(out, sig, siglen);
out:
	asym_release(&k);
	return rc;
}

/*
 * EY's key: index 01..20, or 99 with len 4N and either the key pair's
 * DK-protected blob or a public key in clear (SM2 X || Y, RSA DER), told
 * apart by their first byte and length: a blob starts with its version
 * (01) and is longer than 64 bytes, a DER key starts with 30.
 */
static int
ey_key(struct hsm_cmd_ctx *c, struct tkm_rd *in, int lib, struct asym *k)
{
	struct tkm_asymref ref;
	struct tkm_rd ahead = *in;
	int rc, pub;

	if ((rc = tkm_asymref_parse(&ahead, &ref)) != TKM_OK)
		return rc;
	if (ref.index != TKM_ASYM_IN_MSG)
		return key_read(c, in, lib, k);
	if (lib == HSM_LIB_SM2)
		pub = ref.bloblen == TKM_SM2_PUB_LEN ||
		      (ref.bloblen == TKM_SM2_PUB_LEN + 1 && ref.blob[0] == 4);
	else
		pub = ref.blob[0] == 0x30;
	if (!pub)
		return key_read(c, in, lib, k);
	*in = ahead;
	return pub_parse(lib, ref.blob, ref.bloblen, k);
}

/* SM2 signatures: r || s (64 B) or DER; a malformed one does not verify. */
static int
ey_verify(const struct sig_req *r, struct asym *k)
{
	uint8_t rs[TKM_SM2_SIG_LEN];

	if (k->lib == HSM_LIB_RSA)
		return tkm_rsa_verify(
		    k->rsa, r->hash, r->data, r->len, r->sig, r->siglen);
	if (r->siglen == TKM_SM2_SIG_LEN)
		memcpy(rs, r->sig, sizeof(rs));
	else if (tkm_sm2_sig_from_der(r->sig, r->siglen, rs) != TKM_OK)
		return TKM_ERR_VERIFY;
	return tkm_sm2_verify(k->sm2, r->id, r->idlen, r->data, r->len, rs);
}

int
cmd_ey(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct sig_req r;
	struct asym k = {0};
	int rc;

	(void)out;
	if ((rc = sig_read_head(in, &r)) != TKM_OK ||
	    (rc = read_lv(in, 4, &r.sig, &r.siglen)) != TKM_OK ||
	    (rc = read_lv(in, 4, &r.data, &r.len)) != TKM_OK ||
	    (rc = read_delim(in)) != TKM_OK ||
	    (rc = ey_key(c, in, r.lib, &k)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		goto out;
	rc = ey_verify(&r, &k);
out:
	asym_release(&k);
	return rc;
}

/* --- GM: digest ----------------------------------------------------------- */

/* SM3(Z_A || M) with Z_A from the ID and public key that follow M. */
static int
gm_sm3_za(struct tkm_rd *in, const uint8_t *m, size_t mlen, uint8_t *h)
{
	const uint8_t *id, *pk;
	size_t idlen, pklen;
	uint8_t za[TKM_SM2_ZA_LEN];
	struct asym k = {0};
	const void *parts[2];
	size_t lens[2];
	int rc;

	if ((rc = read_sm2_id(in, &id, &idlen)) != TKM_OK ||
	    (rc = read_lv(in, 4, &pk, &pklen)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK ||
	    (rc = pub_parse(HSM_LIB_SM2, pk, pklen, &k)) != TKM_OK ||
	    (rc = tkm_sm2_za(k.sm2, id, idlen, za)) != TKM_OK)
		goto out;
	parts[0] = za;
	lens[0] = sizeof(za);
	parts[1] = m;
	lens[1] = mlen;
	rc = tkm_hashv(TKM_SM3, parts, lens, 2, h);
out:
	asym_release(&k);
	return rc;
}

int
cmd_gm(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	uint8_t h[TKM_MAX_HASH];
	const uint8_t *m;
	size_t mlen;
	int hash, rc;

	(void)c;
	if ((rc = read_hash(in, &hash)) != TKM_OK ||
	    (rc = read_lv(in, 5, &m, &mlen)) != TKM_OK)
		return rc;
	if (hash == TKM_SM3 && in->len > 0)
		rc = gm_sm3_za(in, m, mlen, h);
	else if ((rc = tkm_rd_end(in)) == TKM_OK)
		rc = tkm_hash(hash, m, mlen, h);
	if (rc == TKM_OK)
		tkm_wr_bytes(out, h, tkm_hash_len(hash));
	return rc;
}
