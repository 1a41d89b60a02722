/*
 * backup.h - library backups (加密机备份/恢复, DESIGN §5; docs/backup.md):
 * one file per key library, encrypted and authenticated under keys derived
 * from DK, so that it opens only in an HSM holding the same DK (the HSM it
 * came from, one restored from its dk.backup, or a city HSM cloned from
 * it).
 *
 * The whole file is checked (MAC over every byte, header included) before
 * anything is decrypted or written: a tampered, truncated or extended file
 * is refused and changes nothing.
 */
#ifndef HSM_BACKUP_H
#define HSM_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "dk.h"
#include "keystore.h"
#include "tkm/err.h"

#define HSM_SERIAL_MAX 16 /* HSM serial number, ASCII */

/*
 * Make a backup of library lib from ks: every live key, or only the key
 * at index only when only != 0 (the maintenance key pair's backup).
 * serial names the source HSM (at most HSM_SERIAL_MAX characters). *out is
 * malloc'ed (the file is ciphertext: no need to wipe), *outlen its size;
 * *count the keys in it.
 */
int hsm_libbak_make(struct hsm_keystore *ks, const struct hsm_dk *dk, int lib,
    unsigned only, const char *serial, uint8_t **out, size_t *outlen,
    unsigned *count) TKM_MUST_CHECK;

/* What a backup's header says (readable before the MAC is checked, so
 * NOT to be trusted until hsm_libbak_restore() accepted the file). */
struct hsm_libbak_info {
	int lib;
	unsigned count;
	int64_t created;
	uint8_t dk_kcv[8];
	char serial[HSM_SERIAL_MAX + 1];
};

/* Parse the header only: TKM_ERR_INPUT (with *why) if it is not a backup
 * file of a known version. */
int hsm_libbak_peek(const uint8_t *file, size_t len,
    struct hsm_libbak_info *info, const char **why) TKM_MUST_CHECK;

/*
 * Restore a backup into ks: check the DK KCV (TKM_ERR_SEALED, "made under
 * another device key"), the MAC (TKM_ERR_VERIFY), every record; then in
 * one transaction write every key at its index. If the library holds keys
 * and replace is 0: TKM_ERR_INDEX and nothing written; with replace the
 * library's keys are all replaced (keys not in the backup are deleted).
 * fn, if not NULL, is called for each restored key (after the commit).
 * *why says what was wrong, for the console.
 */
int hsm_libbak_restore(struct hsm_keystore *ks, const struct hsm_dk *dk,
    const uint8_t *file, size_t len, int replace,
    int (*fn)(void *arg, const struct hsm_key_info *info), void *arg,
    struct hsm_libbak_info *info, const char **why) TKM_MUST_CHECK;

#endif
