/*
 * ops_dk.h - steps of the device-key operations (ops_dk.c) that the
 * restore of a DK backup (ops_ident.c) takes the same way: a DK comes to
 * the HSM through one path, whether from a ceremony, an unseal or a
 * restore.
 */
#ifndef HSM_OPS_DK_H
#define HSM_OPS_DK_H

#include "ops.h"
#include "seal.h"

/* TKM_OK if the HSM has no device key yet (none loaded, no dk.backup or
 * dk.sealed in DIR); TKM_ERR_PERMISSION with *why otherwise. */
int hsm_dk_absent(struct hsm_op_ctx *c, const char **why) TKM_MUST_CHECK;

/* Open and close the key store with dk: the store pins DK's KCV on first
 * open and refuses another DK (TKM_ERR_SEALED with *why). */
int hsm_dk_keystore_check(struct hsm_op_ctx *c, const struct hsm_dk *dk,
    const char **why) TKM_MUST_CHECK;

/* Write dk.backup (magic, KCV of dk, rec[0..2]) and, with seal local,
 * machine.key and dk.sealed; if the local seal cannot be written,
 * dk.backup is removed again (no half-made device key). */
int hsm_dk_store(struct hsm_op_ctx *c, const uint8_t *dk,
    const struct hsm_backup_rec rec[HSM_DK_PARTS],
    const char **why) TKM_MUST_CHECK;

/* Make *dk the HSM's (the workers see it at their next command) and put
 * its "kcv" and "kcv16" in result; *dk becomes NULL when it was taken
 * (the caller frees what is left). */
void hsm_dk_publish(struct hsm_op_ctx *c, struct hsm_dk **dk, json_t *result);

/* args.components.A<i>.component_password, i = 1..3 (borrowed from
 * args); TKM_ERR_INPUT with *why if one is missing. */
int hsm_dk_unseal_passwords(json_t *args, const char *pw[HSM_DK_PARTS],
    const char **why) TKM_MUST_CHECK;

/* The message for a failed hsm_backup_open*(): names the role whose
 * password did not open its record. */
const char *hsm_dk_unseal_why(int rc, unsigned bad_part);

#endif
