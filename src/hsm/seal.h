/*
 * seal.h - the device key at rest (docs/seal.md).
 *
 * Two files may hold DK, never in clear:
 *   DIR/dk.backup  the three components, each under a key derived with
 *                  Argon2id from its holder's component password: DK
 *                  opens only with all three passwords (quorum unseal,
 *                  restore);
 *   DIR/dk.sealed  DK under DIR/machine.key (seal local), so that an
 *                  unattended restart unseals itself. Whoever reads both
 *                  files has DK: the local seal protects against a copy of
 *                  the key store alone, not against root on the machine.
 * Every file is written to a temporary name, synced and renamed.
 */
#ifndef HSM_SEAL_H
#define HSM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dk.h"
#include "tkm/err.h"

#define HSM_SEAL_BACKUP  "dk.backup"
#define HSM_SEAL_SEALED  "dk.sealed"
#define HSM_SEAL_MACHINE "machine.key"

#define HSM_BACKUP_REC_LEN 96
/* dk.backup: magic (8), KCV of DK (8), the three records. */
#define HSM_BACKUP_LEN (16 + HSM_DK_PARTS * HSM_BACKUP_REC_LEN)

/*
 * One component of dk.backup, made when its holder enters it (so that the
 * password need not be kept until the combine). Layout (seal.c):
 *   OFFSET SIZE FIELD
 *   0      1    part, 1..3 (A1..A3)
 *   1      3    zero
 *   4      4    Argon2id t_cost, big-endian
 *   8      4    Argon2id m_cost in KiB, big-endian
 *   12     4    Argon2id parallelism, big-endian
 *   16     16   salt, random
 *   32     16   IV, random
 *   48     16   SM4-CTR(K_enc, IV, component)
 *   64     32   HMAC-SM3(K_mac, bytes 0..63)
 */
struct hsm_backup_rec {
	uint8_t b[HSM_BACKUP_REC_LEN];
};

/*
 * Seal component c of part (1..3) under password (HSM_PASSWORD_MIN..
 * HSM_PASSWORD_MAX characters, TKM_ERR_INPUT otherwise). The Argon2id cost
 * is 64 MiB, 3 passes; TKMS_ARGON2_FAST=1 in the environment makes it
 * 64 KiB, 1 pass, FOR TESTS ONLY (the cost is stored in the record, so a
 * file made that way stays weak).
 */
int hsm_backup_seal(unsigned part, const uint8_t c[HSM_DK_LEN],
    const char *password, struct hsm_backup_rec *out) TKM_MUST_CHECK;

/* Write DIR/dk.backup: magic, the KCV of DK, the records of parts 1, 2, 3
 * (rec[0..2]). */
int hsm_backup_write(const char *dir, const uint8_t kcv[8],
    const struct hsm_backup_rec rec[HSM_DK_PARTS]) TKM_MUST_CHECK;

/*
 * Open DIR/dk.backup with the three passwords (passwords[i] for part
 * i + 1) into dk (16 bytes, the caller's locked memory): TKM_ERR_NO_KEY if
 * there is no backup, TKM_ERR_VERIFY if a password is wrong or the file
 * was altered (*bad_part is then the part, 1..3, or 0 when the combined
 * KCV or the file's framing is wrong), TKM_ERR_IO.
 */
int hsm_backup_open(const char *dir, const char *const passwords[HSM_DK_PARTS],
    uint8_t dk[HSM_DK_LEN], unsigned *bad_part) TKM_MUST_CHECK;

/*
 * The same for a dk.backup held in memory (f, len bytes: the file a
 * restore brings from another HSM). A len other than HSM_BACKUP_LEN or a
 * wrong magic is TKM_ERR_VERIFY with *bad_part 0.
 */
int hsm_backup_open_buf(const uint8_t *f, size_t len,
    const char *const passwords[HSM_DK_PARTS], uint8_t dk[HSM_DK_LEN],
    unsigned *bad_part) TKM_MUST_CHECK;

/* The records of parts 1, 2, 3 of a dk.backup that opened (to write it
 * again with hsm_backup_write, which gives the same bytes). */
void hsm_backup_recs(
    const uint8_t f[HSM_BACKUP_LEN], struct hsm_backup_rec rec[HSM_DK_PARTS]);

/*
 * Read DIR/dk.backup as it is (it leaves the HSM for removable media):
 * TKM_ERR_NO_KEY if there is none, TKM_ERR_VERIFY if it is not a backup
 * of the DK whose KCV is kcv (length, magic or KCV field wrong; the
 * records are not checked: that takes the passwords), TKM_ERR_IO.
 */
int hsm_backup_read(const char *dir, const uint8_t kcv[8],
    uint8_t f[HSM_BACKUP_LEN]) TKM_MUST_CHECK;

/* Write a new DIR/machine.key (32 random bytes, 0600) and DIR/dk.sealed
 * holding dk under it. */
int hsm_seal_local_write(
    const char *dir, const uint8_t dk[HSM_DK_LEN]) TKM_MUST_CHECK;
/* Read DK from DIR/dk.sealed with DIR/machine.key: TKM_ERR_NO_KEY if there
 * is no dk.sealed, TKM_ERR_VERIFY for a wrong machine key or an altered
 * file, TKM_ERR_IO. */
int hsm_seal_local_read(const char *dir, uint8_t dk[HSM_DK_LEN]) TKM_MUST_CHECK;

/* 1 if DIR/dk.backup or DIR/dk.sealed exists: a device key was made. */
int hsm_seal_exists(const char *dir);

/* DK as struct hsm_dk (from the combined key, not its components). */
int hsm_seal_dk_new(
    const uint8_t dk[HSM_DK_LEN], struct hsm_dk **out) TKM_MUST_CHECK;

/*
 * At start, per mode (config `seal`): local reads dk.sealed; quorum and
 * dev load nothing. *out is the DK or NULL (sealed); *msg says what
 * happened, for the log. TKM_OK unless the local seal exists but does not
 * open (the HSM then starts sealed all the same).
 */
int hsm_seal_start(const char *dir, int mode, struct hsm_dk **out,
    const char **msg) TKM_MUST_CHECK;

/* "local", "quorum", "dev". */
const char *hsm_seal_mode_name(int mode);

#endif
