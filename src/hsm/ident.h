/*
 * ident.h - who the HSM is, and whom it trusts for maintenance (DESIGN
 * §3.1, §5, §7):
 *   serial       its serial number (16 characters "TKMS" + 12 hex digits),
 *                made at first start and kept for the machine's life
 *                (across zeroise);
 *   identity     an SM2 key pair made when DK first becomes available,
 *                private key wrapped under DK (hsm_dk_wrap, lib 0, index
 *                98, type "IDK"); signs audit checkpoints and maintenance
 *                requests. Never cloned: a city HSM restored from another
 *                HSM's backups makes its own;
 *   maintenance  the public key of the maintenance key pair (加密机维保
 *   public key   密钥对), imported by A1+A2+A3 (business and city HSMs);
 *                kept wrapped under DK too (index 97, type "MPK") so that
 *                whoever can write admin.db cannot swap it.
 * All kept in admin.db's settings. Thread-safe through struct hsm_admin.
 */
#ifndef HSM_IDENT_H
#define HSM_IDENT_H

#include <stdint.h>

#include "backup.h"
#include "dk.h"
#include "tkm/err.h"
#include "tkm/sm2.h"

struct hsm_admin;

/* The label mkey.generate gives the maintenance key pair in the SM2
 * library: EW signs with that key only in the authorised state
 * (cmd_asym.c), so that reaching the root HSM's business port is not
 * enough to sign a licence update. */
#define HSM_MKEY_LABEL "maintenance key pair"

/* The serial; made (random) and stored on first call. */
int hsm_ident_serial(
    struct hsm_admin *a, char out[HSM_SERIAL_MAX + 1]) TKM_MUST_CHECK;

/* The identity key pair (a new tkm_sm2 with private key; the caller frees
 * it); made and stored on first call under this DK. TKM_ERR_VERIFY if the
 * stored one does not open under dk. */
int hsm_ident_key(struct hsm_admin *a, const struct hsm_dk *dk,
    struct tkm_sm2 **out) TKM_MUST_CHECK;
/* Its public key (x || y), same rules. */
int hsm_ident_pub(struct hsm_admin *a, const struct hsm_dk *dk,
    uint8_t pub[TKM_SM2_PUB_LEN]) TKM_MUST_CHECK;

/* The maintenance public key: set (replacing any) / get (TKM_ERR_NO_KEY
 * if none was imported; TKM_ERR_VERIFY if the stored value was altered). */
int hsm_mkey_set(struct hsm_admin *a, const struct hsm_dk *dk,
    const uint8_t pub[TKM_SM2_PUB_LEN]) TKM_MUST_CHECK;
int hsm_mkey_get(struct hsm_admin *a, const struct hsm_dk *dk,
    uint8_t pub[TKM_SM2_PUB_LEN]) TKM_MUST_CHECK;

/* Forget the identity key and the maintenance public key (zeroise); the
 * serial stays. */
int hsm_ident_forget(struct hsm_admin *a) TKM_MUST_CHECK;

/* Fingerprint of a public key as shown to people: the first 8 bytes of
 * SM3(x || y) in hex (16 characters + NUL). */
void hsm_pub_fingerprint(const uint8_t pub[TKM_SM2_PUB_LEN], char out[17]);

#endif
