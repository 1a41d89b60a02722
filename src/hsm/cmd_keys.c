/*
 * cmd_keys.c - key-management commands of the KMS (protocol.md §5): A0
 * generate, A6 import under TK, A8 export (optionally derived) under TK,
 * NE generate as components. The dispatcher has checked DK and the
 * authorised state (cmd_table.c). Wire layouts: docs/protocol.md.
 *
 * One algorithm per command: the scheme flags (Z/X/Y DES, S SM4) choose it,
 * and with it the library a K+3H reference reads and the TK's algorithm.
 * A scheme flag describes one key exactly (Z 8-byte DES, X 16, Y 24,
 * S 16-byte SM4); a flag that does not fit its key is ERR 26.
 *
 * Keys under TK are plain ECB under the TK, no variant: they travel to
 * HSMs of other makes (protocol.md §2 variants are for keys under DK).
 */
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mem.h"

#define TK_TYPE "000" /* protocol.md §2: KEK/ZMK/TK */
#define NE_MIN  TKM_MIN_PARTS
#define NE_MAX  TKM_MAX_PARTS

/* A scheme flag to the algorithm and length of the key it describes. */
static int
scheme_key(uint8_t s, int *alg, size_t *len)
{
	switch (s) {
	case 'Z':
		*alg = TKM_DES, *len = 8;
		return TKM_OK;
	case 'X':
		*alg = TKM_DES, *len = 16;
		return TKM_OK;
	case 'Y':
		*alg = TKM_DES, *len = 24;
		return TKM_OK;
	case 'S':
		*alg = TKM_SM4, *len = 16;
		return TKM_OK;
	default:
		*alg = 0, *len = 0;
		return TKM_ERR_SCHEME;
	}
}

static int
read_scheme(struct tkm_rd *in, uint8_t *s, int *alg, size_t *len)
{
	int rc;

	if ((rc = tkm_rd_bytes(in, s, 1)) != TKM_OK)
		return rc;
	return scheme_key(*s, alg, len);
}

/* Does scheme s describe key exactly? */
static int
scheme_fits(uint8_t s, const struct hsm_key *key)
{
	int alg;
	size_t len;

	if (scheme_key(s, &alg, &len) != TKM_OK)
		return TKM_ERR_SCHEME;
	return alg == key->alg && len == key->len ? TKM_OK : TKM_ERR_SCHEME;
}

/* Key type 3A: one of the codes of protocol.md §2 (ERR 04). */
static int
read_type(struct tkm_rd *in, char type[HSM_TYPE_LEN + 1])
{
	int rc;

	memset(type, 0, HSM_TYPE_LEN + 1);
	if ((rc = tkm_rd_bytes(in, type, HSM_TYPE_LEN)) != TKM_OK)
		return rc;
	return hsm_dk_type_check(type);
}

/* Flag 1A of A6/A8: only T (key under TK) exists. */
static int
read_flag_t(struct tkm_rd *in)
{
	uint8_t f;
	int rc;

	if ((rc = tkm_rd_bytes(in, &f, 1)) != TKM_OK)
		return rc;
	return f == 'T' ? TKM_OK : TKM_ERR_MODE;
}

/* Skip a key reference, leaving *field on exactly its bytes, so that it
 * can be loaded once the command's algorithm is known. */
static int
skip_keyref(struct tkm_rd *in, struct tkm_rd *field, struct tkm_keyref *ref)
{
	int rc;

	*field = *in;
	if ((rc = tkm_keyref_parse(in, ref)) != TKM_OK)
		return rc;
	field->len = (size_t)(in->p - field->p);
	return TKM_OK;
}

/* A store target, K+3H (000-FFF). */
static int
read_index(struct tkm_rd *in, unsigned *index)
{
	uint32_t v;
	int rc;

	*index = 0;
	if (!tkm_rd_accept(in, 'K'))
		return in->len == 0 ? TKM_ERR_TRUNC : TKM_ERR_INPUT;
	if ((rc = tkm_rd_hexnum(in, 3, &v)) != TKM_OK)
		return rc;
	*index = v;
	return TKM_OK;
}

/* Load a TK (type 000) of alg. A single-DES TK would protect double- and
 * triple-length keys with 56 bits: refused (ERR 02). */
static int
load_tk(
    struct hsm_cmd_ctx *c, struct tkm_rd *field, int alg, struct hsm_key *tk)
{
	int rc;

	if ((rc = hsm_key_read(c, field, alg, TK_TYPE, tk)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_end(field)) != TKM_OK)
		return rc;
	return tk->len == 8 ? TKM_ERR_KEY_LEN : TKM_OK;
}

static void
write_prefix(struct tkm_wr *out, const struct hsm_key *key)
{
	if (key->alg == TKM_SM4)
		tkm_wr_str(out, "S");
	else if (key->len == 16)
		tkm_wr_str(out, "X");
	else if (key->len == 24)
		tkm_wr_str(out, "Y");
	/* single DES: 16H without a prefix (protocol.md §2) */
}

/* key under TK: scheme prefix and ECB(TK, key) in hex. */
static int
write_under_tk(
    const struct hsm_key *tk, const struct hsm_key *key, struct tkm_wr *out)
{
	uint8_t ct[TKM_MAX_KEY];
	int rc;

	rc = tkm_cipher(tk->alg, TKM_ECB, TKM_ENCRYPT, tk->k, tk->len, NULL,
	    key->k, key->len, ct);
	if (rc == TKM_OK) {
		write_prefix(out, key);
		tkm_wr_hex(out, ct, key->len);
	}
	tkm_cleanse(ct, sizeof(ct));
	return rc;
}

static int
write_kcv(const struct hsm_key *key, struct tkm_wr *out)
{
	uint8_t kcv[TKM_KCV_LEN];
	int rc;

	if ((rc = tkm_kcv(key->alg, key->k, key->len, kcv)) == TKM_OK)
		tkm_wr_hex(out, kcv, sizeof(kcv));
	return rc;
}

/* A fresh random key; DES keys get odd parity (Racal importers check). */
static int
generate(struct hsm_key *key, int alg, size_t len, const char *type)
{
	int rc;

	key->alg = alg;
	key->len = len;
	memcpy(key->type, type, HSM_TYPE_LEN + 1);
	if ((rc = tkm_random(key->k, len)) != TKM_OK)
		return rc;
	if (alg == TKM_DES)
		tkm_des_parity_set(key->k, len);
	return TKM_OK;
}

/*
 * Store key at index. An occupied index is refused (ERR 21): replacing a
 * key deletes the old one, and deletion belongs to the management port
 * (protocol.md §5), never to a business port.
 */
static int
store(struct hsm_cmd_ctx *c, const struct hsm_key *key, unsigned index)
{
	return hsm_key_store(c, key, index, "");
}

/*
 * A0: `A0 | mode 1N | key type 3A | scheme 1A | [mode 1: TK ref | TK
 * scheme 1A] | [mode 2: K+3H]` -> `A100 | key under DK | [mode 1: key under
 * TK] | KCV 16H`. Mode 0 only returns the key under DK, mode 1 also under
 * TK, mode 2 also stores it.
 */
int
cmd_a0(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0), *tk = hsm_slot(c, 1);
	char type[HSM_TYPE_LEN + 1];
	struct tkm_rd tkfield = {NULL, 0};
	struct tkm_keyref ref;
	unsigned mode, index = 0;
	uint8_t s, tks;
	size_t len;
	int alg, rc;

	if ((rc = tkm_rd_num(in, 1, &mode)) != TKM_OK)
		return rc;
	if (mode > 2)
		return TKM_ERR_MODE;
	if ((rc = read_type(in, type)) != TKM_OK ||
	    (rc = read_scheme(in, &s, &alg, &len)) != TKM_OK)
		return rc;
	if (mode == 1) {
		if ((rc = skip_keyref(in, &tkfield, &ref)) != TKM_OK ||
		    (rc = tkm_rd_bytes(in, &tks, 1)) != TKM_OK)
			return rc;
		/* The TK scheme describes the same key: it must agree. */
		if (tks != s)
			return TKM_ERR_SCHEME;
	}
	if (mode == 2 && (rc = read_index(in, &index)) != TKM_OK)
		return rc;
	if ((rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if (mode == 1 && (rc = load_tk(c, &tkfield, alg, tk)) != TKM_OK)
		return rc;

	if ((rc = generate(key, alg, len, type)) != TKM_OK)
		return rc;
	hsm_key_write_lmk(c, key, out);
	if (mode == 1 && (rc = write_under_tk(tk, key, out)) != TKM_OK)
		return rc;
	if ((rc = write_kcv(key, out)) != TKM_OK ||
	    (rc = tkm_wr_error(out)) != TKM_OK)
		return rc;
	/* Last, so that a stored key is always an answered one. */
	return mode == 2 ? store(c, key, index) : TKM_OK;
}

/*
 * A6: `A6 | flag 1A (T) | key type 3A | TK ref | key under TK (16H, X+32H,
 * Y+48H, S+32H) | scheme 1A | [K+3H]` -> `A700 | key under DK | KCV 16H`.
 * The key under TK names the algorithm (and so the TK's library); the
 * scheme flag for the key under DK must describe the same key.
 */
int
cmd_a6(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *tk = hsm_slot(c, 0), *key = hsm_slot(c, 1);
	char type[HSM_TYPE_LEN + 1];
	struct tkm_keyref tkref, kut;
	struct tkm_rd tkfield;
	unsigned index = 0;
	int alg, store_it = 0, rc;
	uint8_t s;
	size_t len;

	if ((rc = read_flag_t(in)) != TKM_OK ||
	    (rc = read_type(in, type)) != TKM_OK ||
	    (rc = skip_keyref(in, &tkfield, &tkref)) != TKM_OK ||
	    (rc = tkm_keyref_parse(in, &kut)) != TKM_OK)
		return rc;
	if (kut.kind != TKM_KREF_LMK)
		return TKM_ERR_SCHEME; /* a key under TK, not an index */
	if ((rc = tkm_rd_bytes(in, &s, 1)) != TKM_OK)
		return rc;
	if (s != (uint8_t)kut.scheme)
		return TKM_ERR_SCHEME;
	if (in->len > 0) {
		if ((rc = read_index(in, &index)) != TKM_OK)
			return rc;
		store_it = 1;
	}
	if ((rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if ((rc = scheme_key(s, &alg, &len)) != TKM_OK ||
	    (rc = load_tk(c, &tkfield, alg, tk)) != TKM_OK)
		return rc;

	key->alg = alg;
	key->len = len;
	memcpy(key->type, type, sizeof(type));
	rc = tkm_cipher(alg, TKM_ECB, TKM_DECRYPT, tk->k, tk->len, NULL,
	    kut.blob, len, key->k);
	if (rc != TKM_OK)
		return rc;
	/* Derived keys travel without parity (DESIGN §3.2); DES ignores the
	 * parity bits, so setting them changes neither use nor KCV, and keeps
	 * the key readable under DK (hsm_dk_lmk_decrypt checks parity). */
	if (alg == TKM_DES)
		tkm_des_parity_set(key->k, len);
	hsm_key_write_lmk(c, key, out);
	if ((rc = write_kcv(key, out)) != TKM_OK ||
	    (rc = tkm_wr_error(out)) != TKM_OK)
		return rc;
	return store_it ? store(c, key, index) : TKM_OK;
}

/*
 * A8: `A8 | flag 1A (T) | key type 3A | TK ref | key (K+3H or under DK) |
 * [n 1N + n*16H] | scheme 1A` -> `A900 | key under TK | KCV 16H`. The
 * scheme (the last byte) chooses the algorithm; it describes the exported
 * key, i.e. the derived key (X or S) when n > 0. The KCV is the exported
 * key's, for the importer to compare.
 */
int
cmd_a8(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *tk = hsm_slot(c, 0), *key = hsm_slot(c, 1);
	struct hsm_key *exp = hsm_slot(c, 2);
	uint8_t factors[TKM_MAX_LEVELS * TKM_FACTOR_LEN];
	char type[HSM_TYPE_LEN + 1];
	struct tkm_rd tkfield, keyfield;
	struct tkm_keyref ref;
	unsigned n = 0;
	uint8_t s;
	size_t len;
	int alg, rc;

	if ((rc = read_flag_t(in)) != TKM_OK ||
	    (rc = read_type(in, type)) != TKM_OK ||
	    (rc = skip_keyref(in, &tkfield, &ref)) != TKM_OK ||
	    (rc = skip_keyref(in, &keyfield, &ref)) != TKM_OK)
		return rc;
	/* Derivation is optional: without it only the scheme is left. */
	if (in->len > 1) {
		if ((rc = tkm_rd_num(in, 1, &n)) != TKM_OK)
			return rc;
		if (n > TKM_MAX_LEVELS)
			return TKM_ERR_INPUT;
		if ((rc = tkm_rd_hex(in, factors, n * TKM_FACTOR_LEN)) !=
		    TKM_OK)
			return rc;
	}
	if ((rc = read_scheme(in, &s, &alg, &len)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if ((rc = load_tk(c, &tkfield, alg, tk)) != TKM_OK ||
	    (rc = hsm_key_read(c, &keyfield, alg, type, key)) != TKM_OK ||
	    (rc = tkm_rd_end(&keyfield)) != TKM_OK)
		return rc;

	*exp = *key;
	if (n > 0) {
		exp->len = TKM_DERIVED_LEN;
		rc = tkm_derive(alg, key->k, key->len, factors, n, exp->k);
		if (rc != TKM_OK)
			return rc;
	}
	if ((rc = scheme_fits(s, exp)) != TKM_OK)
		return rc;
	/* Racal-family importers check DES parity; DES ignores it, so the
	 * KCV is that of the derived key either way. */
	if (alg == TKM_DES)
		tkm_des_parity_set(exp->k, exp->len);
	if ((rc = write_under_tk(tk, exp, out)) != TKM_OK ||
	    (rc = write_kcv(exp, out)) != TKM_OK)
		return rc;
	return tkm_wr_error(out);
}

/* One component of NE: clear component in hex, then its KCV. */
static int
ne_part(struct hsm_key *acc, struct hsm_key *part, struct tkm_wr *out)
{
	size_t i;
	int rc;

	*part = *acc;
	if ((rc = tkm_component_random(acc->alg, acc->len, part->k)) != TKM_OK)
		return rc;
	tkm_wr_hex(out, part->k, part->len);
	if ((rc = write_kcv(part, out)) != TKM_OK)
		return rc;
	for (i = 0; i < acc->len; i++)
		acc->k[i] ^= part->k[i];
	return TKM_OK;
}

/*
 * NE: `NE | key type 3A | scheme 1A | parts 1N (2-9) | [K+3H]` ->
 * `NF00 | parts * (component H | KCV 16H) | key under DK | KCV 16H`.
 * The key is the XOR of the components (DES: then odd parity). Clear
 * components leave the HSM here by design: this is the key ceremony's
 * print-out, allowed in the authorised state only (cmd_table.c).
 */
int
cmd_ne(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0), *part = hsm_slot(c, 1);
	char type[HSM_TYPE_LEN + 1];
	unsigned parts, i, index = 0;
	int alg, store_it = 0, rc;
	uint8_t s;
	size_t len;

	if ((rc = read_type(in, type)) != TKM_OK ||
	    (rc = read_scheme(in, &s, &alg, &len)) != TKM_OK ||
	    (rc = tkm_rd_num(in, 1, &parts)) != TKM_OK)
		return rc;
	if (parts < NE_MIN || parts > NE_MAX)
		return TKM_ERR_INPUT;
	if (in->len > 0) {
		if ((rc = read_index(in, &index)) != TKM_OK)
			return rc;
		store_it = 1;
	}
	if ((rc = tkm_rd_end(in)) != TKM_OK)
		return rc;

	key->alg = alg;
	key->len = len;
	memcpy(key->type, type, sizeof(type));
	memset(key->k, 0, sizeof(key->k));
	for (i = 0; i < parts; i++)
		if ((rc = ne_part(key, part, out)) != TKM_OK)
			return rc;
	if (alg == TKM_DES)
		tkm_des_parity_set(key->k, len);
	hsm_key_write_lmk(c, key, out);
	if ((rc = write_kcv(key, out)) != TKM_OK ||
	    (rc = tkm_wr_error(out)) != TKM_OK)
		return rc;
	return store_it ? store(c, key, index) : TKM_OK;
}
