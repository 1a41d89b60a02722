/*
 * ops_mot.c - the ministry's initial transport keys (the spec's
 * 导入交通运输部密钥, step 2; DESIGN §3.1; docs/mot.md).
 *
 * tk.initial (C, needs DK) stores the two transport keys the ministry's
 * procedure publishes, plaintext 11...11 (16 bytes), as type 000: a
 * double-length DES TK at K000 of the DES library and an SM4 TK at K100
 * of the SM4 library (args may name other indexes). The ministry's client
 * then imports the keys of its key mother card under them with A6 on a
 * business port (step 3), and the security admin deletes both with
 * keys.delete (step 4).
 *
 * Why a key in clear is acceptable here: this is not a secret. The value
 * is fixed and published by the ministry's procedure so that its mother
 * card can be read by any approved HSM; what protects the keys on the
 * card is the card itself and the ceremony (both admins present, the IP
 * whitelist, the authorised state), and the TKs live only for the
 * duration of the import: step 4 deletes them. The handler still keeps
 * the value in locked memory and wipes it, like any key.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "keystore.h"
#include "ops.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/motcard.h"

#define TK_TYPE   "000" /* protocol.md §2: KEK/ZMK/TK */
#define TK_LEN    TKM_MOTCARD_KEY_LEN
#define TK_LABEL  "ministry initial TK (delete after import)"
#define KCV_SHOWN 3 /* DESIGN §3.2: displays show 6 hex digits */

struct initial {
	int alg, lib;
	unsigned index;
	const char *arg; /* its argument name */
	const char *taken;
	uint8_t kcv[TKM_KCV_LEN];
};

/* An optional index argument: "000".."FFF" or "K000".."KFFF"; def when
 * absent. */
static int
arg_index(json_t *args, const char *name, unsigned def, unsigned *index,
    const char **why)
{
	json_t *v = json_object_get(args, name);
	const char *s;
	struct tkm_rd rd;
	uint32_t n;

	*index = def;
	if (v == NULL)
		return TKM_OK;
	*why = "des_index and sm4_index must be 000..FFF (or K000..KFFF)";
	if ((s = json_string_value(v)) == NULL)
		return TKM_ERR_INPUT;
	if (s[0] == 'K')
		s++;
	rd = tkm_rd_of(s, strlen(s));
	if (tkm_rd_hexnum(&rd, 3, &n) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return TKM_ERR_INPUT;
	*index = (unsigned)n;
	*why = NULL;
	return TKM_OK;
}

/* Both indexes must be free before either key is written. */
static int
index_free(struct hsm_keystore *ks, const struct initial *t, const char **why)
{
	int rc = hsm_keystore_get(ks, t->lib, t->index, NULL, NULL, 0, NULL);

	if (rc == TKM_ERR_NO_KEY)
		return TKM_OK;
	if (rc == TKM_OK) {
		*why = t->taken;
		return TKM_ERR_INDEX;
	}
	return rc;
}

static int
store(struct hsm_keystore *ks, struct initial *t, uint8_t *key)
{
	struct hsm_key_info info;
	int rc;

	tkm_mot_tk(key);
	/* DES: odd parity, as every DES key in the store (tk.combine, A6).
	 * DES ignores the parity bits, so 10...10 is the same key as the
	 * published 11...11: same encryption, same KCV. */
	if (t->alg == TKM_DES)
		tkm_des_parity_set(key, TK_LEN);
	if ((rc = tkm_kcv(t->alg, key, TK_LEN, t->kcv)) != TKM_OK)
		return rc;
	memset(&info, 0, sizeof(info));
	info.lib = t->lib;
	info.index = t->index;
	memcpy(info.type, TK_TYPE, sizeof(TK_TYPE));
	memcpy(info.kcv, t->kcv, TKM_KCV_LEN);
	snprintf(info.label, sizeof(info.label), "%s", TK_LABEL);
	return hsm_keystore_insert(ks, &info, key, TK_LEN);
}

/* Both keys in one transaction: never one TK without the other. */
static int
store_both(struct hsm_keystore *ks, struct initial t[2], const char **why)
{
	uint8_t *key;
	int rc;

	if ((key = tkm_secure_alloc(TK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_keystore_begin(ks)) != TKM_OK)
		goto out;
	if ((rc = store(ks, &t[0], key)) != TKM_OK ||
	    (rc = store(ks, &t[1], key)) != TKM_OK) {
		hsm_keystore_rollback(ks);
		if (rc == TKM_ERR_INDEX) /* taken since index_free() */
			*why = "an index was taken meanwhile: try again";
		goto out;
	}
	rc = hsm_keystore_commit(ks);
out:
	tkm_secure_free(key, TK_LEN);
	return rc;
}

static json_t *
describe(const struct initial *t)
{
	char ref[8], hex[2 * TKM_KCV_LEN + 1];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	snprintf(ref, sizeof(ref), "K%03X", t->index);
	json_object_set_new(o, "index", json_string(ref));
	json_object_set_new(o, "type", json_string(TK_TYPE));
	tkm_hex_encode(t->kcv, TKM_KCV_LEN, hex);
	json_object_set_new(o, "kcv16", json_string(hex));
	hex[2 * KCV_SHOWN] = '\0';
	json_object_set_new(o, "kcv", json_string(hex));
	return o;
}

int
op_tk_initial(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	struct hsm_keystore *ks = NULL;
	struct initial t[2] = {
	    {TKM_DES, HSM_LIB_DES, 0, "des_index",
		"the DES library's index holds a key: delete it first "
		"(keys.delete) or give des_index"},
	    {TKM_SM4, HSM_LIB_SM4, 0, "sm4_index",
		"the SM4 library's index holds a key: delete it first "
		"(keys.delete) or give sm4_index"},
	};
	int rc;

	if (dk == NULL) /* the op table says so too (HSM_OP_DK) */
		return TKM_ERR_SEALED;
	if ((rc = arg_index(args, t[0].arg, TKM_MOT_TK_DES_INDEX, &t[0].index,
		 why)) != TKM_OK ||
	    (rc = arg_index(args, t[1].arg, TKM_MOT_TK_SM4_INDEX, &t[1].index,
		 why)) != TKM_OK)
		return rc;
	if ((rc = hsm_keystore_open(c->st->dir, dk, &ks)) != TKM_OK ||
	    (rc = index_free(ks, &t[0], why)) != TKM_OK ||
	    (rc = index_free(ks, &t[1], why)) != TKM_OK ||
	    (rc = store_both(ks, t, why)) != TKM_OK)
		goto out;
	json_object_set_new(result, "des", describe(&t[0]));
	json_object_set_new(result, "sm4", describe(&t[1]));
out:
	hsm_keystore_close(ks);
	return rc;
}
