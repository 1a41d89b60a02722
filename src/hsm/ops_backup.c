/*
 * ops_backup.c - key-library backup and restore (spec 加密机备份 and
 * 加密机恢复, role C; docs/backup.md).
 *
 *   backup.create  {lib}                  -> {lib, count, serial, dk_kcv,
 *                                             created, file (base64)}
 *   backup.restore {file, replace?}       -> {lib, count, serial, created,
 *                                             keys: [as keys.list]}
 *
 * The file travels in base64 inside the JSON message; the console writes
 * and reads it (`tkms hsm backup create --lib des --out des.bak`). The
 * work and every check are in backup.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "ident.h"
#include "ops.h"
#include "tkm/b64.h"
#include "tkm/buf.h"

#define W_LIB "lib is one of des, sm4, rsa, sm2"

/* The management thread's own store for one operation. */
static int
store_open(struct hsm_op_ctx *c, const struct hsm_dk **dk,
    struct hsm_keystore **ks, const char **why)
{
	int rc;

	*ks = NULL;
	if ((*dk = atomic_load(&c->st->dk)) == NULL) {
		*why = "the HSM is sealed";
		return TKM_ERR_SEALED;
	}
	if ((rc = hsm_keystore_open(c->st->dir, *dk, ks)) != TKM_OK)
		*why = "cannot open the key store";
	return rc;
}

/* The serial the backup names as its source: "" when there is no admin
 * database (unit tests) or it cannot be read; the backup does not depend
 * on it. */
static void
serial_of(struct hsm_op_ctx *c, char out[HSM_SERIAL_MAX + 1])
{
	out[0] = '\0';
	if (c->admin != NULL && hsm_ident_serial(c->admin, out) != TKM_OK)
		out[0] = '\0';
}

static void
set_header(json_t *result, const struct hsm_libbak_info *info)
{
	json_object_set_new(
	    result, "lib", json_string(hsm_lib_name(info->lib)));
	json_object_set_new(result, "count", json_integer(info->count));
	json_object_set_new(result, "serial", json_string(info->serial));
	json_object_set_new(result, "created", json_integer(info->created));
}

/* backup.create {lib}: every key of one library, as a file for the
 * console to write. */
int
op_backup_create(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_keystore *ks = NULL;
	struct hsm_libbak_info info;
	const struct hsm_dk *dk;
	char serial[HSM_SERIAL_MAX + 1], kcv[17], *b64 = NULL;
	uint8_t *file = NULL;
	size_t len = 0;
	unsigned count = 0;
	const char *peek_why;
	int lib, rc;

	if ((lib = hsm_lib_parse(
		 json_string_value(json_object_get(args, "lib")))) == 0) {
		*why = W_LIB;
		return TKM_ERR_INPUT;
	}
	serial_of(c, serial);
	if ((rc = store_open(c, &dk, &ks, why)) != TKM_OK)
		goto out;
	rc = hsm_libbak_make(ks, dk, lib, 0, serial, &file, &len, &count);
	if (rc == TKM_ERR_VERIFY)
		*why = "a key does not match the KCV the store keeps for it "
		       "(keys.db altered?): no backup made";
	else if (rc != TKM_OK)
		*why = "cannot read the key library";
	if (rc != TKM_OK)
		goto out;
	/* What we just wrote reads back: the header fields for the
	 * answer come from the file itself. */
	if ((rc = hsm_libbak_peek(file, len, &info, &peek_why)) != TKM_OK) {
		*why = "the backup made does not read back";
		rc = TKM_ERR_INTERNAL;
		goto out;
	}
	if ((b64 = malloc(TKM_B64_LEN(len) + 1)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	tkm_b64_encode(file, len, b64);
	tkm_hex_encode(info.dk_kcv, sizeof(info.dk_kcv), kcv);
	set_header(result, &info);
	json_object_set_new(result, "dk_kcv", json_string(kcv));
	json_object_set_new(result, "file", json_string(b64));
out:
	free(b64);
	free(file);
	hsm_keystore_close(ks);
	return rc;
}

static int
list_one(void *arg, const struct hsm_key_info *k)
{
	json_t *o = hsm_key_json(k);

	if (o == NULL || json_array_append_new(arg, o) != 0)
		return TKM_ERR_NOMEM;
	return TKM_OK;
}

/* The file argument, decoded (malloc'ed; ciphertext, no need to wipe). */
static int
arg_file(json_t *args, uint8_t **out, size_t *len, const char **why)
{
	const char *s = json_string_value(json_object_get(args, "file"));
	size_t n, cap;

	*out = NULL;
	*len = 0;
	*why = "file: the backup file, in base64";
	if (s == NULL || (n = strlen(s)) == 0)
		return TKM_ERR_INPUT;
	cap = n / 4 * 3 + 1;
	if ((*out = malloc(cap)) == NULL)
		return TKM_ERR_NOMEM;
	if (tkm_b64_decode(s, n, *out, cap, len) != TKM_OK) {
		free(*out);
		*out = NULL;
		*len = 0;
		return TKM_ERR_INPUT;
	}
	*why = NULL;
	return TKM_OK;
}

/*
 * backup.restore {file, replace?}: the library the file names gets the
 * file's keys, all or nothing. A library that holds keys is refused
 * unless replace is true; then its keys not in the file are deleted.
 */
int
op_backup_restore(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_keystore *ks = NULL;
	struct hsm_libbak_info info;
	const struct hsm_dk *dk;
	json_t *keys = NULL, *r = json_object_get(args, "replace");
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	if (r != NULL && !json_is_boolean(r)) {
		*why = "replace is true or false";
		return TKM_ERR_INPUT;
	}
	if ((rc = arg_file(args, &file, &len, why)) != TKM_OK)
		return rc;
	/* Not a backup at all: say so before touching the store. */
	if ((rc = hsm_libbak_peek(file, len, &info, why)) != TKM_OK)
		goto out;
	if ((keys = json_array()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_open(c, &dk, &ks, why)) != TKM_OK)
		goto out;
	rc = hsm_libbak_restore(
	    ks, dk, file, len, json_is_true(r), list_one, keys, &info, why);
	if (rc != TKM_OK) {
		if (*why == NULL)
			*why = "nothing restored";
		goto out;
	}
	set_header(result, &info);
	json_object_set(result, "keys", keys);
out:
	json_decref(keys);
	free(file);
	hsm_keystore_close(ks);
	return rc;
}
