/*
 * keystore.h - the HSM's key libraries in SQLite (docs/keystore.md).
 *
 * Libraries: DES and SM4 (index 000..FFF), RSA and SM2 (01..20). Every
 * secret is stored wrapped by hsm_dk_wrap() bound to (library, index, type,
 * algorithm); it is in clear only in the caller's buffer, which SHOULD be
 * locked memory, and only while a command uses it.
 *
 * One struct hsm_keystore per thread (each has its own SQLite connection);
 * the database runs in WAL mode with synchronous=FULL, and every write is
 * committed before the function returns, so a response sent after it
 * never acknowledges a key a crash could lose.
 */
#ifndef HSM_KEYSTORE_H
#define HSM_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "dk.h"
#include "tkm/err.h"

enum hsm_lib {
	HSM_LIB_DES = 1,
	HSM_LIB_SM4 = 2,
	HSM_LIB_RSA = 3,
	HSM_LIB_SM2 = 4
};
/* "des", "sm4", "rsa", "sm2" (any case) <-> enum hsm_lib; 0 / NULL if
 * unknown. */
int hsm_lib_parse(const char *name);
const char *hsm_lib_name(int lib);

#define HSM_SYM_MAX_INDEX  0xFFF
#define HSM_ASYM_MAX_INDEX 20

struct hsm_key_info {
	int lib;
	unsigned index;
	char type[HSM_TYPE_LEN + 1]; /* key type code */
	char usage[8];               /* e.g. "0".."3" for key pairs, "" */
	uint8_t kcv[8];              /* symmetric: KCV; SM2: first 8 bytes of
					SM3(public key); RSA: of SHA-256(N) */
	char label[65];
	int64_t created;  /* Unix time */
	unsigned version; /* 1 on first write, +1 on each replace */
	size_t len;       /* secret length */
};

struct hsm_keystore;

/* Open (creating if needed) DIR/keys.db. The store remembers DK's KCV on
 * first open and refuses another DK (TKM_ERR_SEALED). dk is borrowed and
 * MUST outlive the store. */
int hsm_keystore_open(const char *dir, const struct hsm_dk *dk,
    struct hsm_keystore **out) TKM_MUST_CHECK;
void hsm_keystore_close(struct hsm_keystore *ks);

/* Insert or replace; info->created and info->version are set here. */
int hsm_keystore_put(struct hsm_keystore *ks, struct hsm_key_info *info,
    const uint8_t *secret, size_t len) TKM_MUST_CHECK;
/* The same, but an index that holds a key is refused (TKM_ERR_INDEX) in
 * the same statement, so two writers cannot both claim it. Business
 * commands use this: replacing a key deletes one, which only the
 * management plane may do (protocol.md §5). */
int hsm_keystore_insert(struct hsm_keystore *ks, struct hsm_key_info *info,
    const uint8_t *secret, size_t len) TKM_MUST_CHECK;
/* TKM_ERR_NO_KEY if empty, TKM_ERR_INDEX if out of range; secret may be
 * NULL to read the attributes only. */
int hsm_keystore_get(struct hsm_keystore *ks, int lib, unsigned index,
    struct hsm_key_info *info, uint8_t *secret, size_t cap,
    size_t *len) TKM_MUST_CHECK;
int hsm_keystore_delete(
    struct hsm_keystore *ks, int lib, unsigned index) TKM_MUST_CHECK;
/* Calls fn for every key of lib (0 = all) in index order; stops early and
 * returns fn's value when it is not TKM_OK. */
int hsm_keystore_list(struct hsm_keystore *ks, int lib,
    int (*fn)(void *arg, const struct hsm_key_info *info),
    void *arg) TKM_MUST_CHECK;

/*
 * Zeroise: delete every key, tombstone and the pinned DK KCV from
 * DIR/keys.db with SQLite's secure_delete (freed pages overwritten),
 * VACUUM and truncate the WAL, so that no record survives in the file.
 * Other connections (the workers') may stay open; they see an empty store
 * and MUST NOT be used with the old DK afterwards.
 */
int hsm_keystore_wipe(const char *dir) TKM_MUST_CHECK;

/* Several writes as one transaction (a restore): begin, then put/insert/
 * delete, then commit; rollback undoes everything since begin. */
int hsm_keystore_begin(struct hsm_keystore *ks) TKM_MUST_CHECK;
int hsm_keystore_commit(struct hsm_keystore *ks) TKM_MUST_CHECK;
void hsm_keystore_rollback(struct hsm_keystore *ks);

#endif
