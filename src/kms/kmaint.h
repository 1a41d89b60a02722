/*
 * kmaint.h - maintenance applications in the KMS (DESIGN §7; docs/api.md
 * "Maintenance applications", docs/maintenance.md "Through the KMS").
 *
 * A city HSM's request file (维保信息申请电子文件) is imported; a key
 * manager proposes its licences (kind maint.licence), another approves;
 * the root HSM signs the update with the maintenance key (msign.h) and
 * the update file (维保信息更新电子文件) is exported for `tkms maint
 * apply` at the city. One row of maint_apps per request (kms-schema.md).
 *
 * States of an application:
 *   imported  the request is in; waiting for licences (a maint.licence
 *             proposal may be open: "open_proposal")
 *   licensed  a maint.licence proposal was approved and is being signed
 *             at the root HSM ("proposal_id")
 *   signed    the update is signed and stored; it can be exported
 *   exported  the update was exported (it may be exported again)
 * The state changes only when a proposal is approved, never when one is
 * made: a rejected, withdrawn or expired proposal leaves the application
 * imported and usable. An approval whose execution fails (root HSM
 * unreachable, not authorised, ...) puts it back to imported; should the
 * KMS stop in the middle, an application whose proposal ended "failed"
 * (or any state but approved/executed) is read as imported.
 *
 * Errors: TKM_OK or a negative enum tkm_err, why (why_len bytes) a
 * message and *http the HTTP status that fits (0: tkm_err_http()).
 */
#ifndef KMS_KMAINT_H
#define KMS_KMAINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kdb.h"
#include "proposal.h"
#include "tkm/err.h"
#include "tkm/sm2.h"

#define KMS_MAINT_LIST 500 /* applications in one listing, newest first */

/*
 * Import a request file (text, len bytes; at most TKM_MAINT_FILE_MAX):
 * parsed, its signature checked with the identity key it names; with
 * identity (NULL: none) that key must be this one. Its issuer code must
 * be a city's (404 otherwise); an HSM of the fleet with its serial is
 * linked (and must serve that city, 409). Refused (409): a nonce imported
 * before, and a serial whose first imported request named another
 * identity key. The row and the audit record (maint.import, by actor)
 * are written in one transaction. *id: the new application.
 */
int kms_maint_import(struct kdb *db, int64_t now, const char *actor,
    const char *text, size_t len, const uint8_t *identity, int64_t *id,
    char *why, size_t why_len, int *http) TKM_MUST_CHECK;

/* Applications newest first (state NULL: all; else the state as read),
 * at most KMS_MAINT_LIST: *out = [A...]; or one (id > 0) with its request
 * file as "request": *out = A (TKM_ERR_NO_KEY if none). docs/api.md has
 * the fields of A. */
int kms_maint_list(struct kdb *db, const char *state, int64_t id, json_t **out,
    char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * The signed update of application id: *out = {"id", "serial", "seq",
 * "update"}; a signed application becomes exported. 409 before it is
 * signed. Audited (maint.export, by actor) in the same transaction.
 */
int kms_maint_export(struct kdb *db, int64_t now, const char *actor, int64_t id,
    json_t **out, char *why, size_t why_len, int *http) TKM_MUST_CHECK;

/* The proposal kind maint.licence (key managers); register it with
 * kms_kinds_register(). */
extern const struct kms_kind kms_maint_kind_licence;

#endif
