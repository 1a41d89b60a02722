/*
 * kinds_keys.h - the proposal kinds of the HSMs and the key flows
 * (docs/api.md "HSMs", "Keys"), registered by api_keys.c, and the JSON
 * shapes that both the kinds' results and the routes of api_keys.c use
 * (a root key R, a re-issue plan, a destruction).
 *
 *   hsm.add, hsm.update        database only: applied in the approval's
 *                              transaction
 *   key.generate, key.issue,   executed after the approval committed:
 *   key.rotate, key.compromise, host commands, and lifecycle steps that run
 *   key.reissue, key.destroy   transactions of their own; each writes key
 *                              events with "proposer+approver" and the
 *                              proposal id
 *
 * A failed execution keeps what was done before the failure in its result
 * beside "error" (a sentence naming the HSM and what to do). Proposing
 * the same kind again continues: the flows find what is done.
 */
#ifndef KMS_KINDS_KEYS_H
#define KMS_KINDS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kdb.h"
#include "lifecycle.h"
#include "proposal.h"

extern const struct kms_kind kms_kinds_keys[];
extern const size_t kms_kinds_keys_n;

/* Root keys as R (docs/api.md "Keys"): append " WHERE ..." / " ORDER BY
 * ..." to KMS_KEYS_ROOT_SQL and build each row with kms_keys_root_row
 * (NULL: out of memory). */
#define KMS_KEYS_ROOT_SQL                                                      \
	"SELECT k.id, t.name, k.template_id, k.alg, k.version,"                \
	" COALESCE(k.hsm_id, 0), h.name, k.idx, k.kcv, k.state, k.created,"    \
	" k.changed, (SELECT COUNT(*) FROM issued_keys i"                      \
	" WHERE i.root_key_id = k.id AND i.state IN ('pending', 'active',"     \
	" 'archived', 'compromised'))"                                         \
	" FROM root_keys k JOIN key_templates t ON t.id = k.template_id"       \
	" LEFT JOIN hsms h ON h.id = k.hsm_id"
json_t *kms_keys_root_row(struct kdb_rows *r);

/* R of root key id; TKM_ERR_NO_KEY when there is none. */
int kms_keys_root_json(struct kdb *db, int64_t id, json_t **out) TKM_MUST_CHECK;

/* A plan (kms_lc_plan) as GET /api/root-keys/{id}/plan answers it. */
int kms_keys_plan_json(
    struct kdb *db, const struct kms_lc_plan *p, json_t **out) TKM_MUST_CHECK;

/* A destruction as GET /api/root-keys/{id}/destruction answers it;
 * confirm adds per key "ok" and "why", and "root_destroyed". NULL: out of
 * memory. */
json_t *kms_keys_destroy_json(
    int64_t root_key_id, const struct kms_lc_destroy *d, int confirm);

/* An index as the HSM writes it: K2A0. */
void kms_keys_index(unsigned idx, char out[8]);

#endif
