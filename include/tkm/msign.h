/*
 * msign.h - signing a maintenance update at the root HSM (DESIGN §7,
 * docs/maintenance.md): the one place that speaks EJ and EW for it, used
 * by `tkms maint sign` (src/cli/cmd_maint.c) and by the KMS's
 * maint.licence proposals (src/kms/kmaint.c).
 *
 * The maintenance private key never leaves the root HSM: EW signs the
 * signed part of the update over the business port with the SM2 pair at
 * an index (20 by default, where `mkey generate` puts it), and the
 * signature is checked here with the pair's public key (EJ) before it is
 * appended, so that a wrong key or a faulty HSM never yields a file.
 * EW with the maintenance key pair needs the root in the authorised state
 * (ERR 17 otherwise: its security admin runs `tkms hsm auth open`).
 *
 * Errors: TKM_OK or a negative enum tkm_err, and why (why_len bytes, may
 * be NULL) a sentence for an operator, without any prefix:
 *   TKM_ERR_IO, TKM_ERR_TIMEOUT, TKM_ERR_CLOSED  the exchange with the
 *          HSM failed (any other client failure is reported as
 *          TKM_ERR_IO); why is the client's text (tkm_strerror)
 *   the cause of the HSM's ERR (the first enum tkm_err with that wire
 *          code: 12 TKM_ERR_NO_KEY, 13 TKM_ERR_SEALED, 17
 *          TKM_ERR_NOT_AUTH, 68 TKM_ERR_WHITELIST, ...) when it refused
 *   TKM_ERR_INPUT     an answer of the wrong form
 *   TKM_ERR_ASYM_KEY  the key at the index is not an SM2 key pair
 *   TKM_ERR_DATA_LEN  the signed part is longer than EW takes
 *                     (TKM_MAINT_SIGNED_MAX)
 *   TKM_ERR_VERIFY    the HSM's signature does not verify with pub
 *   TKM_ERR_SPACE     the file buffer cannot take the sig line
 */
#ifndef TKM_MSIGN_H
#define TKM_MSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "err.h"
#include "sm2.h"

#define TKM_MAINT_KEY_INDEX 20 /* where mkey generate puts the pair */
#define TKM_MAINT_FP_HEX    16 /* fingerprint: 8 bytes as hex */

/* The first 8 bytes of SM3(X || Y) as 16 upper-case hex digits and a NUL:
 * how HSMs show a public key (tkms hsm status, mkey show). */
void tkm_maint_fingerprint(
    const uint8_t pub[TKM_SM2_PUB_LEN], char out[TKM_MAINT_FP_HEX + 1]);

/* EJ: the public key X || Y of the SM2 key pair at key_index (1..20) of
 * the root HSM behind c. */
int tkm_maint_root_pub(struct tkm_client *c, unsigned key_index,
    uint8_t pub[TKM_SM2_PUB_LEN], char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * EW: have the root HSM sign file[0..*len) (the signed part of an update,
 * tkm_maint_update_write) with the pair at key_index (SM3, default user
 * ID), check the signature with pub (from tkm_maint_root_pub) and append
 * the sig line: *len grows, file stays NUL-terminated when it fits cap.
 * On failure file[0..*len) is unchanged.
 */
int tkm_maint_root_sign(struct tkm_client *c, unsigned key_index,
    const uint8_t pub[TKM_SM2_PUB_LEN], char *file, size_t cap, size_t *len,
    char *why, size_t why_len) TKM_MUST_CHECK;

#endif
