/*
 * keys.c - key references to keys in locked slots, and the per-worker
 * cache of asymmetric key objects.
 *
 * A cached object is used again only while the store holds the same
 * version of its index; versions never repeat for an index (keystore.c
 * keeps a tombstone on delete), so one indexed SELECT per use is enough
 * to notice a replaced or deleted key.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define NCACHE (HSM_ASYM_MAX_INDEX + 1) /* by index; 0 unused */

struct asym_cache {
	void *obj[NCACHE];
	unsigned version[NCACHE];
	void *msg[HSM_KEY_SLOTS]; /* index 99 objects, freed after a command */
};

struct hsm_keys {
	struct hsm_key *slots; /* HSM_KEY_SLOTS, locked */
	uint8_t *buf;          /* HSM_MAX_SECRET, locked: asymmetric secrets */
	struct asym_cache sm2, rsa;
};

/* What differs between SM2 and RSA keys. */
struct asym_ops {
	int lib;
	const char *type; /* type code of a message blob */
	int (*load)(const uint8_t *secret, size_t len, void **obj);
	void (*release)(void *obj);
};

static int
sm2_load(const uint8_t *secret, size_t len, void **obj)
{
	struct tkm_sm2 *k = NULL;
	int rc;

	*obj = NULL;
	if (len != TKM_SM2_PRIV_LEN)
		return TKM_ERR_ASYM_KEY;
	rc = tkm_sm2_from_priv(secret, &k);
	*obj = k;
	return rc;
}

static void
sm2_release(void *obj)
{
	tkm_sm2_free(obj);
}

static int
rsa_load(const uint8_t *secret, size_t len, void **obj)
{
	struct tkm_rsa *k = NULL;
	int rc;

	rc = tkm_rsa_from_der(secret, len, 1, &k);
	*obj = k;
	return rc;
}

static void
rsa_release(void *obj)
{
	tkm_rsa_free(obj);
}

static const struct asym_ops sm2_ops = {
    HSM_LIB_SM2, "SM2", sm2_load, sm2_release};
static const struct asym_ops rsa_ops = {
    HSM_LIB_RSA, "RSA", rsa_load, rsa_release};

static void
cache_drop_msgs(struct asym_cache *ac, const struct asym_ops *ops)
{
	size_t i;

	for (i = 0; i < HSM_KEY_SLOTS; i++) {
		ops->release(ac->msg[i]);
		ac->msg[i] = NULL;
	}
}

static void
cache_free(struct asym_cache *ac, const struct asym_ops *ops)
{
	size_t i;

	cache_drop_msgs(ac, ops);
	for (i = 0; i < NCACHE; i++) {
		ops->release(ac->obj[i]);
		ac->obj[i] = NULL;
	}
}

int
hsm_keys_new(struct hsm_keys **out)
{
	struct hsm_keys *k;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return TKM_ERR_NOMEM;
	k->slots = tkm_secure_alloc(HSM_KEY_SLOTS * sizeof(struct hsm_key));
	k->buf = tkm_secure_alloc(HSM_MAX_SECRET);
	if (k->slots == NULL || k->buf == NULL) {
		hsm_keys_free(k);
		return TKM_ERR_NOMEM;
	}
	*out = k;
	return TKM_OK;
}

void
hsm_keys_free(struct hsm_keys *keys)
{
	if (keys == NULL)
		return;
	cache_free(&keys->sm2, &sm2_ops);
	cache_free(&keys->rsa, &rsa_ops);
	tkm_secure_free(keys->slots, HSM_KEY_SLOTS * sizeof(struct hsm_key));
	tkm_secure_free(keys->buf, HSM_MAX_SECRET);
	free(keys);
}

void
hsm_keys_wipe(struct hsm_keys *keys)
{
	if (keys == NULL)
		return;
	tkm_cleanse(keys->slots, HSM_KEY_SLOTS * sizeof(struct hsm_key));
	cache_drop_msgs(&keys->sm2, &sm2_ops);
	cache_drop_msgs(&keys->rsa, &rsa_ops);
}

void
hsm_keys_flush(struct hsm_keys *keys)
{
	if (keys == NULL)
		return;
	hsm_keys_wipe(keys);
	tkm_cleanse(keys->buf, HSM_MAX_SECRET);
	cache_free(&keys->sm2, &sm2_ops);
	cache_free(&keys->rsa, &rsa_ops);
	memset(keys->sm2.version, 0, sizeof(keys->sm2.version));
	memset(keys->rsa.version, 0, sizeof(keys->rsa.version));
}

struct hsm_key *
hsm_slot(struct hsm_cmd_ctx *c, unsigned i)
{
	assert(i < HSM_KEY_SLOTS);
	if (i >= HSM_KEY_SLOTS)
		return NULL;
	return &c->w->keys->slots[i];
}

int
hsm_type_allowed(const char *type, const char *list)
{
	const char *p = list, *e;

	if (type == NULL || list == NULL || strlen(type) != HSM_TYPE_LEN)
		return 0;
	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) == HSM_TYPE_LEN &&
		    memcmp(p, type, HSM_TYPE_LEN) == 0)
			return 1;
		if (*e == '\0')
			return 0;
		p = e + 1;
	}
}

static int
sym_lib(int alg)
{
	return alg == TKM_DES ? HSM_LIB_DES : HSM_LIB_SM4;
}

/* Remember a stored key the command read, once, for the maintenance
 * licences the dispatcher counts (cmd.h). Keys under DK and index 99 blobs
 * are not stored keys: nobody can list them. */
static void
note_used(struct hsm_cmd_ctx *c, int lib, unsigned index)
{
	size_t i;

	for (i = 0; i < c->nused; i++)
		if (c->used[i].lib == lib && c->used[i].index == index)
			return;
	if (c->nused == HSM_LIC_KEYS) {
		c->over = 1;
		return;
	}
	c->used[c->nused].lib = lib;
	c->used[c->nused].index = index;
	c->nused++;
}

/* K+3H: the stored key must have the type asked for and fit alg. */
static int
read_stored(struct hsm_cmd_ctx *c, unsigned index, int alg, const char *type,
    struct hsm_key *slot)
{
	struct hsm_key_info info;
	size_t len;
	int rc;

	if (c->w->ks == NULL)
		return TKM_ERR_SEALED;
	rc = hsm_keystore_get(c->w->ks, sym_lib(alg), index, &info, slot->k,
	    sizeof(slot->k), &len);
	if (rc == TKM_ERR_SPACE)
		return TKM_ERR_TYPE_USE; /* no DES or SM4 key is that long */
	if (rc != TKM_OK)
		return rc;
	if (strcmp(info.type, type) != 0 || tkm_key_len_ok(alg, len) != TKM_OK)
		return TKM_ERR_TYPE_USE;
	slot->len = len;
	note_used(c, sym_lib(alg), index);
	return TKM_OK;
}

/* 16H, X/Y/S: a cryptogram under the wire key of (alg, type). */
static int
read_lmk(struct hsm_cmd_ctx *c, const struct tkm_keyref *ref, int alg,
    const char *type, struct hsm_key *slot)
{
	int fits;

	if (alg == TKM_SM4)
		fits = ref->scheme == 'S';
	else
		fits = ref->scheme == 'Z' || ref->scheme == 'X' ||
		       ref->scheme == 'Y';
	if (!fits)
		return TKM_ERR_SCHEME;
	if (c->w->dk == NULL)
		return TKM_ERR_SEALED;
	slot->len = ref->bloblen;
	return hsm_dk_lmk_decrypt(
	    c->w->dk, alg, type, ref->blob, ref->bloblen, slot->k);
}

int
hsm_key_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd, int alg,
    const char *type, struct hsm_key *slot)
{
	struct tkm_keyref ref;
	struct tkm_rd r = *rd;
	int rc;

	tkm_cleanse(slot, sizeof(*slot));
	if (alg != TKM_DES && alg != TKM_SM4)
		return TKM_ERR_MODE;
	if ((rc = hsm_dk_type_check(type)) != TKM_OK)
		return rc;
	if ((rc = tkm_keyref_parse(&r, &ref)) != TKM_OK)
		goto out;
	if (ref.kind == TKM_KREF_INDEX)
		rc = read_stored(c, ref.index, alg, type, slot);
	else
		rc = read_lmk(c, &ref, alg, type, slot);
	if (rc != TKM_OK)
		goto out;
	slot->alg = alg;
	memcpy(slot->type, type, HSM_TYPE_LEN + 1);
	*rd = r;
out:
	tkm_cleanse(&ref, sizeof(ref));
	if (rc != TKM_OK)
		tkm_cleanse(slot, sizeof(*slot));
	return rc;
}

void
hsm_key_write_lmk(
    struct hsm_cmd_ctx *c, const struct hsm_key *key, struct tkm_wr *out)
{
	uint8_t ct[TKM_MAX_KEY];
	int rc;

	if (c->w->dk == NULL)
		rc = TKM_ERR_SEALED;
	else
		rc = hsm_dk_lmk_encrypt(
		    c->w->dk, key->alg, key->type, key->k, key->len, ct);
	if (rc != TKM_OK) {
		if (out->err == TKM_OK)
			out->err = rc;
		return;
	}
	if (key->alg == TKM_SM4)
		tkm_wr_str(out, "S");
	else if (key->len == 16)
		tkm_wr_str(out, "X");
	else if (key->len == 24)
		tkm_wr_str(out, "Y");
	tkm_wr_hex(out, ct, key->len);
}

int
hsm_key_store(struct hsm_cmd_ctx *c, const struct hsm_key *key, unsigned index,
    const char *label)
{
	struct hsm_key_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	if (c->w->ks == NULL)
		return TKM_ERR_SEALED;
	if ((rc = hsm_dk_type_check(key->type)) != TKM_OK)
		return rc;
	if (key->alg != TKM_DES && key->alg != TKM_SM4)
		return TKM_ERR_MODE;
	if (label == NULL)
		label = "";
	if (strlen(label) >= sizeof(info.label))
		return TKM_ERR_INPUT;
	info.lib = sym_lib(key->alg);
	info.index = index;
	memcpy(info.type, key->type, HSM_TYPE_LEN + 1);
	memcpy(info.label, label, strlen(label) + 1);
	if ((rc = tkm_kcv(key->alg, key->k, key->len, info.kcv)) != TKM_OK)
		return rc;
	return hsm_keystore_insert(c->w->ks, &info, key->k, key->len);
}

/* The wrap context of an asymmetric key carried in a message. */
static void
msg_ctx(const struct asym_ops *ops, struct hsm_wrap_ctx *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->lib = 0;
	wc->index = TKM_ASYM_IN_MSG;
	memcpy(wc->type, ops->type, HSM_TYPE_LEN + 1);
	wc->alg = (uint8_t)ops->lib;
}

static int
read_msg(struct hsm_cmd_ctx *c, const struct tkm_asymref *ref,
    const struct asym_ops *ops, struct asym_cache *ac, void **out)
{
	struct hsm_keys *keys = c->w->keys;
	struct hsm_wrap_ctx wc;
	size_t i, len = 0;
	int rc;

	if (c->w->dk == NULL)
		return TKM_ERR_SEALED;
	for (i = 0; i < HSM_KEY_SLOTS && ac->msg[i] != NULL; i++)
		;
	if (i == HSM_KEY_SLOTS)
		return TKM_ERR_INTERNAL; /* a handler reads at most a few */
	msg_ctx(ops, &wc);
	if (ref->bloblen > HSM_MAX_SECRET + HSM_WRAP_OVERHEAD)
		return TKM_ERR_ASYM_KEY;
	rc = hsm_dk_unwrap(
	    c->w->dk, &wc, ref->blob, ref->bloblen, keys->buf, &len);
	if (rc == TKM_OK)
		rc = ops->load(keys->buf, len, &ac->msg[i]);
	tkm_cleanse(keys->buf, len);
	if (rc != TKM_OK)
		return rc == TKM_ERR_VERIFY ? TKM_ERR_ASYM_KEY : rc;
	*out = ac->msg[i];
	return TKM_OK;
}

static int
read_index(struct hsm_cmd_ctx *c, unsigned index, const struct asym_ops *ops,
    struct asym_cache *ac, void **out)
{
	struct hsm_keys *keys = c->w->keys;
	struct hsm_key_info info;
	void *obj = NULL;
	size_t len = 0;
	int rc;

	if (c->w->ks == NULL)
		return TKM_ERR_SEALED;
	rc = hsm_keystore_get(c->w->ks, ops->lib, index, &info, NULL, 0, NULL);
	if (rc != TKM_OK)
		goto out;
	if (ac->obj[index] != NULL && ac->version[index] == info.version) {
		*out = ac->obj[index];
		note_used(c, ops->lib, index);
		return TKM_OK;
	}
	/* Attributes and secret again in one read, so that the version we
	 * remember is the one of the secret we load. */
	rc = hsm_keystore_get(
	    c->w->ks, ops->lib, index, &info, keys->buf, HSM_MAX_SECRET, &len);
	if (rc == TKM_OK)
		rc = ops->load(keys->buf, len, &obj);
	tkm_cleanse(keys->buf, len);
	if (rc != TKM_OK)
		goto out;
	ops->release(ac->obj[index]);
	ac->obj[index] = obj;
	ac->version[index] = info.version;
	*out = obj;
	note_used(c, ops->lib, index);
	return TKM_OK;
out:
	if (rc == TKM_ERR_NO_KEY) {
		ops->release(ac->obj[index]);
		ac->obj[index] = NULL;
	}
	return rc == TKM_ERR_VERIFY ? TKM_ERR_ASYM_KEY : rc;
}

static int
asym_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd, const struct asym_ops *ops,
    struct asym_cache *ac, void **out)
{
	struct tkm_asymref ref;
	struct tkm_rd r = *rd;
	int rc;

	*out = NULL;
	if ((rc = tkm_asymref_parse(&r, &ref)) != TKM_OK)
		return rc;
	if (ref.index == TKM_ASYM_IN_MSG)
		rc = read_msg(c, &ref, ops, ac, out);
	else
		rc = read_index(c, ref.index, ops, ac, out);
	if (rc == TKM_OK)
		*rd = r;
	return rc;
}

int
hsm_sm2_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd, struct tkm_sm2 **out)
{
	void *obj;
	int rc;

	rc = asym_read(c, rd, &sm2_ops, &c->w->keys->sm2, &obj);
	*out = obj;
	return rc;
}

int
hsm_rsa_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd, struct tkm_rsa **out)
{
	void *obj;
	int rc;

	rc = asym_read(c, rd, &rsa_ops, &c->w->keys->rsa, &obj);
	*out = obj;
	return rc;
}

int
hsm_asym_blob(struct hsm_cmd_ctx *c, int lib, const uint8_t *secret, size_t len,
    struct tkm_wr *out)
{
	const struct asym_ops *ops;
	struct hsm_wrap_ctx wc;
	uint8_t blob[HSM_MAX_SECRET + HSM_WRAP_OVERHEAD];
	size_t bloblen = 0;
	int rc;

	if (lib == HSM_LIB_SM2)
		ops = &sm2_ops;
	else if (lib == HSM_LIB_RSA)
		ops = &rsa_ops;
	else
		return TKM_ERR_INTERNAL;
	if (c->w->dk == NULL)
		rc = TKM_ERR_SEALED;
	else if (len == 0 || len > HSM_MAX_SECRET)
		rc = TKM_ERR_ASYM_KEY;
	else {
		msg_ctx(ops, &wc);
		rc = hsm_dk_wrap(c->w->dk, &wc, secret, len, blob, &bloblen);
	}
	if (rc != TKM_OK) {
		if (out->err == TKM_OK)
			out->err = rc;
		return rc;
	}
	tkm_wr_num(out, bloblen, 4);
	tkm_wr_bytes(out, blob, bloblen);
	return tkm_wr_error(out);
}
