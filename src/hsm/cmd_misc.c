/*
 * cmd_misc.c - NC diagnostics, TE random, BU key check value
 * (protocol.md §4, §5; wire layouts in docs/protocol.md).
 */
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define TE_MAX 2048 /* protocol.md §4: 1-2048 bytes */

/*
 * NC: `NC` -> `ND00 | DK KCV 16H | firmware 9A`. NC needs no DK so that a
 * monitor can tell a sealed HSM from a dead one: sealed, the KCV is sixteen
 * zeros (no key has an all-zero KCV by chance that a client would rely on).
 */
int
cmd_nc(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	uint8_t kcv[TKM_KCV_LEN] = {0};
	int rc;

	if ((rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if (c->w->dk != NULL)
		hsm_dk_kcv(c->w->dk, kcv);
	tkm_wr_hex(out, kcv, sizeof(kcv));
	tkm_wr_str(out, HSM_FIRMWARE);
	return tkm_wr_error(out);
}

/* TE: `TE | len 4N` -> `TF00 | random 2*len H`. */
int
cmd_te(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	uint8_t rnd[TE_MAX];
	unsigned n;
	int rc;

	(void)c;
	if ((rc = tkm_rd_num(in, 4, &n)) != TKM_OK ||
	    (rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if (n < 1 || n > TE_MAX)
		return TKM_ERR_DATA_LEN;
	/* Random bytes may become keys or challenges: wipe them. */
	if ((rc = tkm_random(rnd, n)) == TKM_OK) {
		tkm_wr_hex(out, rnd, n);
		rc = tkm_wr_error(out);
	}
	tkm_cleanse(rnd, n);
	return rc;
}

/*
 * BU: `BU | key type 3A | key | [alg 1A]` -> `BV00 | KCV 16H`.
 * A cryptogram names its algorithm by its scheme; a K+3H index needs a
 * library, which protocol.md leaves open for BU: the optional trailing
 * flag says X (DES library, the default, as in the Racal family) or S (SM4
 * library). A flag that contradicts a cryptogram's scheme is refused by
 * hsm_key_read (ERR 26).
 */
int
cmd_bu(struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out)
{
	struct hsm_key *key = hsm_slot(c, 0);
	struct tkm_rd keyfield;
	struct tkm_keyref ref;
	char type[HSM_TYPE_LEN + 1] = {0};
	uint8_t kcv[TKM_KCV_LEN];
	int alg = TKM_DES;
	int rc;

	if ((rc = tkm_rd_bytes(in, type, HSM_TYPE_LEN)) != TKM_OK)
		return rc;
	if ((rc = hsm_dk_type_check(type)) != TKM_OK)
		return rc;
	/* Find the end of the key field to see whether a flag follows. */
	keyfield = *in;
	if ((rc = tkm_keyref_parse(in, &ref)) != TKM_OK)
		return rc;
	keyfield.len = (size_t)(in->p - keyfield.p);
	if (ref.kind == TKM_KREF_LMK && ref.scheme == 'S')
		alg = TKM_SM4;
	if (tkm_rd_accept(in, 'S'))
		alg = TKM_SM4;
	else if (tkm_rd_accept(in, 'X'))
		alg = TKM_DES;
	else if (in->len == 1)
		return TKM_ERR_MODE;
	if ((rc = tkm_rd_end(in)) != TKM_OK)
		return rc;
	if ((rc = hsm_key_read(c, &keyfield, alg, type, key)) != TKM_OK)
		return rc;
	if ((rc = tkm_kcv(key->alg, key->k, key->len, kcv)) != TKM_OK)
		return rc;
	tkm_wr_hex(out, kcv, sizeof(kcv));
	return tkm_wr_error(out);
}
