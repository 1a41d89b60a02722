/*
 * ops_ident.c - the device key's backup leaving the HSM and coming back
 * (dk.export, dk.restore: the spec's 加密机初始化 step 2.2 and 加密机恢复
 * 设备密钥恢复), the maintenance key pair (加密机维保密钥对: mkey.generate
 * in the root HSM, mkey.import in business and city HSMs, mkey.show) and
 * what status tells about the HSM's identity. docs/seal.md,
 * docs/identity.md, docs/management.md.
 *
 * dk.restore takes a DK the way dk.combine does (ops_dk.h): the same
 * checks, the same files, the same publication. The HSM that restores
 * keeps its own serial and makes its own identity key: a DK backup clones
 * keys, never who the HSM is.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "backup.h"
#include "ident.h"
#include "keystore.h"
#include "ops.h"
#include "ops_dk.h"
#include "seal.h"
#include "tkm/b64.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define MKEY_INDEX_DEFAULT HSM_ASYM_MAX_INDEX
#define MKEY_LABEL         HSM_MKEY_LABEL
#define MKEY_USAGE         '0'   /* EI's usage digit: it signs licences */
#define MKEY_TYPE          "SM2" /* the type code of SM2 key pairs */
#define PUB_HEX            (2 * TKM_SM2_PUB_LEN)

static const char *
arg_str(json_t *args, const char *name)
{
	return json_string_value(json_object_get(args, name));
}

static void
set_hex(json_t *result, const char *name, const uint8_t *p, size_t n)
{
	char hex[PUB_HEX + 1];

	if (2 * n >= sizeof(hex))
		return;
	tkm_hex_encode(p, n, hex);
	json_object_set_new(result, name, json_string(hex));
}

/* {"public": X || Y in hex, "fingerprint"} (public left out when
 * with_pub is 0). */
static json_t *
pub_json(const uint8_t pub[TKM_SM2_PUB_LEN], int with_pub)
{
	json_t *o = json_object();
	char fp[17];

	if (o == NULL)
		return NULL;
	if (with_pub)
		set_hex(o, "public", pub, TKM_SM2_PUB_LEN);
	hsm_pub_fingerprint(pub, fp);
	json_object_set_new(o, "fingerprint", json_string(fp));
	return o;
}

/* Every op here but status needs admin.db (the daemon always has it). */
static int
need_admin(struct hsm_op_ctx *c, const char **why)
{
	if (c->admin != NULL)
		return TKM_OK;
	*why = "no admin database";
	return TKM_ERR_INTERNAL;
}

/* --- status ----------------------------------------------------------------
 */

void
hsm_ident_status(struct hsm_op_ctx *c, json_t *result)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	char serial[HSM_SERIAL_MAX + 1];
	uint8_t pub[TKM_SM2_PUB_LEN];
	json_t *o;

	/* status is what a console shows when something is wrong: whatever
	 * fails here is left out, never fails the op. */
	if (c->admin == NULL)
		return;
	if (hsm_ident_serial(c->admin, serial) == TKM_OK)
		json_object_set_new(result, "serial", json_string(serial));
	if (dk == NULL)
		return;
	if (hsm_ident_pub(c->admin, dk, pub) == TKM_OK &&
	    (o = pub_json(pub, 1)) != NULL)
		json_object_set_new(result, "identity", o);
	if (hsm_mkey_get(c->admin, dk, pub) == TKM_OK &&
	    (o = pub_json(pub, 0)) != NULL)
		json_object_set_new(result, "mkey", o);
}

/* --- dk.export -------------------------------------------------------------
 */

int
op_dk_export(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	uint8_t f[HSM_BACKUP_LEN], kcv[8];
	char b64[TKM_B64_LEN(HSM_BACKUP_LEN) + 1];
	int rc;

	(void)args;
	if (dk == NULL) /* the op table says so too (HSM_OP_DK) */
		return TKM_ERR_SEALED;
	hsm_dk_kcv(dk, kcv);
	rc = hsm_backup_read(c->st->dir, kcv, f);
	if (rc == TKM_ERR_NO_KEY)
		*why = "no dk.backup: this device key was not made by a "
		       "ceremony (dev components)";
	else if (rc == TKM_ERR_VERIFY)
		*why = "dk.backup is not a backup of this device key "
		       "(replaced or altered file)";
	else if (rc != TKM_OK)
		*why = "cannot read dk.backup";
	if (rc != TKM_OK)
		return rc;
	/* The file is the three components under their holders' passwords:
	 * fit for removable media as it is. */
	tkm_b64_encode(f, sizeof(f), b64);
	json_object_set_new(result, "file", json_string(b64));
	set_hex(result, "dk_kcv", kcv, sizeof(kcv));
	return TKM_OK;
}

/* --- dk.restore ------------------------------------------------------------
 */

/* args.file: base64 of exactly one dk.backup. */
static int
arg_backup(json_t *args, uint8_t f[HSM_BACKUP_LEN], const char **why)
{
	const char *s = arg_str(args, "file");
	uint8_t buf[HSM_BACKUP_LEN + 3];
	size_t n;

	if (s == NULL ||
	    tkm_b64_decode(s, strlen(s), buf, sizeof(buf), &n) != TKM_OK ||
	    n != HSM_BACKUP_LEN) {
		*why = "file must be a dk.backup in base64 (304 bytes)";
		return TKM_ERR_INPUT;
	}
	memcpy(f, buf, HSM_BACKUP_LEN);
	return TKM_OK;
}

int
op_dk_restore(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_backup_rec rec[HSM_DK_PARTS];
	struct hsm_dk *hdk = NULL;
	struct tkm_sm2 *idk = NULL;
	const char *pw[HSM_DK_PARTS];
	char serial[HSM_SERIAL_MAX + 1];
	uint8_t f[HSM_BACKUP_LEN], kcv[8], *dk;
	unsigned bad_part;
	int rc;

	/* Only into an HSM without a device key: over one, it would
	 * orphan every key under the old DK. */
	if ((rc = hsm_dk_absent(c, why)) != TKM_OK ||
	    (rc = need_admin(c, why)) != TKM_OK ||
	    (rc = arg_backup(args, f, why)) != TKM_OK ||
	    (rc = hsm_dk_unseal_passwords(args, pw, why)) != TKM_OK)
		return rc;
	if ((dk = tkm_secure_alloc(HSM_DK_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_backup_open_buf(f, sizeof(f), pw, dk, &bad_part)) !=
	    TKM_OK) {
		*why = hsm_dk_unseal_why(rc, bad_part);
		goto out;
	}
	hsm_backup_recs(f, rec);
	if ((rc = hsm_seal_dk_new(dk, &hdk)) != TKM_OK ||
	    (rc = hsm_dk_keystore_check(c, hdk, why)) != TKM_OK)
		goto out;
	/* Identity before the files: once dk.backup is written the HSM
	 * has a DK, and a failure after that would leave it without an
	 * identity of its own. */
	if ((rc = hsm_ident_serial(c->admin, serial)) != TKM_OK ||
	    (rc = hsm_ident_key(c->admin, hdk, &idk)) != TKM_OK) {
		*why = "cannot make this HSM's identity (admin.db)";
		goto out;
	}
	if ((rc = hsm_dk_store(c, dk, rec, why)) != TKM_OK)
		goto out;
	hsm_dk_kcv(hdk, kcv);
	hsm_dk_publish(c, &hdk, result);
	set_hex(result, "dk_kcv", kcv, sizeof(kcv));
	json_object_set_new(result, "serial", json_string(serial));
	json_object_set_new(
	    result, "seal", json_string(hsm_seal_mode_name(c->st->cfg->seal)));
out:
	tkm_sm2_free(idk);
	hsm_dk_free(hdk);
	tkm_cleanse(rec, sizeof(rec));
	tkm_secure_free(dk, HSM_DK_LEN);
	return rc;
}

/* --- mkey.generate ---------------------------------------------------------
 */

/* args.index: 1..20, default 20. */
static int
arg_mkey_index(json_t *args, unsigned *index, const char **why)
{
	json_t *v = json_object_get(args, "index");
	json_int_t i;

	*index = MKEY_INDEX_DEFAULT;
	if (v == NULL)
		return TKM_OK;
	i = json_integer_value(v);
	if (!json_is_integer(v) || i < 1 || i > HSM_ASYM_MAX_INDEX) {
		*why = "index must be 1..20 (of the SM2 library)";
		return TKM_ERR_INPUT;
	}
	*index = (unsigned)i;
	return TKM_OK;
}

/* The key pair as EI stores one (cmd_asym.c): type SM2, usage, KCV = the
 * first 8 bytes of SM3(X || Y), d wrapped by the store. */
static int
mkey_store(struct hsm_keystore *ks, unsigned index, struct tkm_sm2 *k,
    const uint8_t pub[TKM_SM2_PUB_LEN], const char **why)
{
	struct hsm_key_info info;
	uint8_t *d, h[TKM_MAX_HASH];
	int rc;

	memset(&info, 0, sizeof(info));
	info.lib = HSM_LIB_SM2;
	info.index = index;
	memcpy(info.type, MKEY_TYPE, sizeof(MKEY_TYPE));
	info.usage[0] = MKEY_USAGE;
	memcpy(info.label, MKEY_LABEL, sizeof(MKEY_LABEL));
	if ((rc = tkm_hash(TKM_SM3, pub, TKM_SM2_PUB_LEN, h)) != TKM_OK)
		return rc;
	memcpy(info.kcv, h, sizeof(info.kcv));
	if ((d = tkm_secure_alloc(TKM_SM2_PRIV_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = tkm_sm2_priv(k, d)) == TKM_OK)
		rc = hsm_keystore_insert(ks, &info, d, TKM_SM2_PRIV_LEN);
	if (rc == TKM_ERR_INDEX)
		*why = "that index of the SM2 library holds a key: choose "
		       "another (index) or delete it first (keys.delete)";
	tkm_secure_free(d, TKM_SM2_PRIV_LEN);
	return rc;
}

/* Store the pair and make its backup in one transaction: a pair whose
 * backup could not be made is not kept (the spec keeps the two
 * together: 生成加密机维保密钥对，备份于移动硬盘). */
static int
mkey_store_backup(struct hsm_keystore *ks, const struct hsm_dk *dk,
    unsigned index, struct tkm_sm2 *k, const uint8_t pub[TKM_SM2_PUB_LEN],
    const char *serial, uint8_t **file, size_t *flen, const char **why)
{
	unsigned count = 0;
	int rc;

	if ((rc = hsm_keystore_begin(ks)) != TKM_OK)
		return rc;
	if ((rc = mkey_store(ks, index, k, pub, why)) != TKM_OK)
		goto out;
	rc = hsm_libbak_make(
	    ks, dk, HSM_LIB_SM2, index, serial, file, flen, &count);
	if (rc == TKM_OK && count != 1)
		rc = TKM_ERR_INTERNAL;
	if (rc != TKM_OK) {
		*why = "cannot make the backup of the key pair: nothing "
		       "stored";
		goto out;
	}
	rc = hsm_keystore_commit(ks);
out:
	if (rc != TKM_OK) {
		hsm_keystore_rollback(ks);
		free(*file);
		*file = NULL;
		*flen = 0;
	}
	return rc;
}

int
op_mkey_generate(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	struct hsm_keystore *ks = NULL;
	struct tkm_sm2 *k = NULL;
	char serial[HSM_SERIAL_MAX + 1], fp[17], *b64 = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN], *file = NULL;
	size_t flen = 0;
	unsigned index;
	int rc;

	if (dk == NULL)
		return TKM_ERR_SEALED;
	if ((rc = need_admin(c, why)) != TKM_OK ||
	    (rc = arg_mkey_index(args, &index, why)) != TKM_OK)
		return rc;
	if ((rc = hsm_ident_serial(c->admin, serial)) != TKM_OK ||
	    (rc = hsm_keystore_open(c->st->dir, dk, &ks)) != TKM_OK ||
	    (rc = tkm_sm2_generate(&k)) != TKM_OK ||
	    (rc = tkm_sm2_pub(k, pub)) != TKM_OK ||
	    (rc = mkey_store_backup(
		 ks, dk, index, k, pub, serial, &file, &flen, why)) != TKM_OK)
		goto out;
	if ((rc = hsm_mkey_set(c->admin, dk, pub)) != TKM_OK) {
		*why = "the key pair is stored but is not this HSM's "
		       "maintenance public key yet: run mkey.import with "
		       "its public key";
		goto out;
	}
	if ((b64 = malloc(TKM_B64_LEN(flen) + 1)) == NULL) {
		/* Stored, its one-key backup not delivered: the SM2
		 * library's backup holds it as well. */
		*why = "the key pair is stored but its backup could not be "
		       "sent: back it up with backup.create lib sm2";
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	tkm_b64_encode(file, flen, b64);
	hsm_pub_fingerprint(pub, fp);
	json_object_set_new(result, "index", json_integer(index));
	set_hex(result, "public", pub, sizeof(pub));
	json_object_set_new(result, "fingerprint", json_string(fp));
	json_object_set_new(result, "file", json_string(b64));
out:
	free(b64);
	free(file);
	tkm_sm2_free(k);
	hsm_keystore_close(ks);
	return rc;
}

/* --- mkey.import, mkey.show ------------------------------------------------
 */

/* args.public: 128 hex digits X || Y, or 130 starting with 04. */
static int
arg_pub(json_t *args, uint8_t pub[TKM_SM2_PUB_LEN], const char **why)
{
	const char *s = arg_str(args, "public");
	size_t len = s != NULL ? strlen(s) : 0, n;

	if (len == PUB_HEX + 2 && s[0] == '0' && s[1] == '4') {
		s += 2;
		len -= 2;
	}
	if (len != PUB_HEX ||
	    tkm_hex_decode(s, len, pub, TKM_SM2_PUB_LEN, &n) != TKM_OK) {
		*why = "public must be 128 hex digits (X || Y), or 130 "
		       "starting with 04";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

int
op_mkey_import(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	struct tkm_sm2 *k = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char fp[17];
	int rc;

	if (dk == NULL)
		return TKM_ERR_SEALED;
	if ((rc = need_admin(c, why)) != TKM_OK ||
	    (rc = arg_pub(args, pub, why)) != TKM_OK)
		return rc;
	if ((rc = tkm_sm2_from_pub(pub, &k)) != TKM_OK) {
		*why = "public is not a point of the SM2 curve";
		return rc;
	}
	tkm_sm2_free(k);
	if ((rc = hsm_mkey_set(c->admin, dk, pub)) != TKM_OK) {
		*why = "cannot store the maintenance public key (admin.db)";
		return rc;
	}
	/* The fingerprint is for the A roles to compare with the root
	 * HSM's (mkey.show there) before they leave. */
	hsm_pub_fingerprint(pub, fp);
	json_object_set_new(result, "fingerprint", json_string(fp));
	return TKM_OK;
}

int
op_mkey_show(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	uint8_t pub[TKM_SM2_PUB_LEN];
	char fp[17];
	int rc;

	(void)args;
	if (dk == NULL)
		return TKM_ERR_SEALED;
	if ((rc = need_admin(c, why)) != TKM_OK)
		return rc;
	rc = hsm_mkey_get(c->admin, dk, pub);
	if (rc == TKM_ERR_NO_KEY)
		*why = "no maintenance public key: mkey import";
	else if (rc == TKM_ERR_VERIFY)
		*why = "the maintenance public key in admin.db was altered: "
		       "mkey import it again";
	if (rc != TKM_OK)
		return rc;
	hsm_pub_fingerprint(pub, fp);
	set_hex(result, "public", pub, sizeof(pub));
	json_object_set_new(result, "fingerprint", json_string(fp));
	return TKM_OK;
}
