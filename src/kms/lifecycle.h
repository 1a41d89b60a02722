/*
 * lifecycle.h - what happens to a root key after generation
 * (docs/kms-lifecycle.md): rotation to a new version, compromise, and
 * destruction in every HSM that holds it, with the events the records
 * (records.h) are made from.
 *
 * States (root_keys.state, issued_keys.state, docs/kms-schema.md):
 *   active --rotate--> archived --destroy--> destroyed
 *   active|archived --compromise--> compromised --destroy--> destroyed
 * A version is destroyed only by an explicit destroy, never by rotation.
 *
 * Destruction. The host protocol cannot delete a key (A0 and A6 refuse an
 * occupied index; deletion is keys.delete on the HSM's management port,
 * which only the HSM's security administrator, role C with card and
 * password, may run). The KMS holds no such credentials, by design: so
 * destruction has two steps. kms_lc_destroy_request writes one
 * `destroy_pending` row per HSM and index (table key_destructions) and
 * lists the `tkms hsm keys delete` commands to run; kms_lc_destroy_confirm
 * asks each HSM with BU and marks a key destroyed only when the HSM
 * answers ERR 12 (no key there). Rows are never deleted: records stay.
 *
 * Every call takes who did it: actor (the user names as the server puts
 * them, not NULL) and proposal_id (0: none), written to key_events.
 *
 * Errors as in flows.h; why (why_len bytes) says what to do.
 *   TKM_ERR_INPUT   a state that does not allow the step (destroying an
 *                   active key, rotating a compromised one, ...)
 */
#ifndef KMS_LIFECYCLE_H
#define KMS_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"
#include "kdb.h"
#include "tkm/err.h"

/*
 * Record an event for a root key (kinds of key_events: generated, issued,
 * rotated, compromised, reissued, destroy_requested, destroyed). The
 * kinds call it from kms_flow_opts.in_tx, inside the transaction that makes
 * the root key or copy active, so that no row is ever without its event
 * and the records say who; the lifecycle calls below write their own.
 */
int kms_lc_note(struct kdb *db, int64_t root_key_id, const char *kind,
    const char *actor, int64_t proposal_id, const char *reason) TKM_MUST_CHECK;

/* --- rotation ------------------------------------------------------------ */

struct kms_rotation {
	int64_t old_id, new_id;
	int64_t new_version;
	unsigned new_idx;
	char new_kcv[KMS_KCV_HEX + 1];
	size_t archived_copies; /* issued copies of the old version archived */
	int existed;            /* the rotation was done already */
};

/*
 * Rotate root key root_key_id: generate the next version in the same root
 * HSM at kms_plan_index(base, version) (A0 through kms_flow_generate),
 * then mark the old version and its live issued copies `archived` (they
 * stay in the HSMs: cards personalised under them still transact). The
 * old version MUST be active, or archived with no newer active version (a
 * rotation that stopped: it continues). When A0 fails the old version
 * stays active. Refuses, before any host command, when the new version's
 * slot still holds an undestroyed older version (destroy it first).
 * Issued copies of the new version: kms_lc_reissue.
 */
int kms_lc_rotate(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, const struct kms_flow_opts *o,
    struct kms_rotation *out, char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * Undo what a rotation of root_key_id stopped by a crash left: the old
 * version archived and none active (between archiving it and recording the
 * new one). It becomes active again (changed now), as a rotation that
 * failed leaves it, so issuance of it goes on until the rotation is
 * proposed again. Nothing is done when a version of the template and
 * algorithm is active, or the key has its `rotated` event (the rotation
 * was recorded: its successor may have been compromised since, which a
 * PostgreSQL peer's later sweep must not undo). *restored: 1 if done.
 * Database effects only: the key.rotate kind's recover step.
 */
int kms_lc_rotate_recover(struct kdb *db, int64_t root_key_id, int64_t now,
    int *restored) TKM_MUST_CHECK;

/* --- what a root key reached --------------------------------------------- */

/* One issued copy of a root key, and where its replacement goes. */
struct kms_lc_copy {
	int64_t issued_id;
	int64_t city_id, hsm_id;
	char city[128];
	char hsm[128];
	char hsm_role[24];
	char alg[4];
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1];
	char state[16];
	unsigned new_idx; /* the same target, next version */
};

struct kms_lc_plan {
	int64_t root_key_id;
	char template_name[64];
	char alg[4];
	int64_t version;
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1];
	char state[16];
	char root_hsm[128];
	int64_t next_version;       /* of the replacement */
	unsigned next_idx;          /* in the root HSM */
	struct kms_lc_copy *copies; /* malloc'ed; by city, then HSM */
	size_t ncopies;
};

/*
 * Everything derived from root_key_id: its issued copies (every state but
 * failed and destroyed), per city and HSM, each with the index the next
 * version takes at that HSM: the re-issue plan. Release with
 * kms_lc_plan_free.
 */
int kms_lc_plan(struct kdb *db, int64_t root_key_id, struct kms_lc_plan *out,
    char *why, size_t why_len) TKM_MUST_CHECK;
void kms_lc_plan_free(struct kms_lc_plan *p);

/* --- compromise ---------------------------------------------------------- */

/*
 * Mark root key root_key_id (active or archived) and all its live issued
 * copies `compromised`, in one transaction, with reason (not NULL, not
 * empty) in the event, and fill plan as kms_lc_plan. Nothing is sent to
 * an HSM: the keys stay until destroyed (kms_lc_destroy_request), the
 * replacement is generated (kms_flow_generate) and re-issued
 * (kms_lc_reissue) by their own approved proposals. Again on a
 * compromised key: the plan, nothing changed.
 */
int kms_lc_compromise(struct kdb *db, int64_t root_key_id, const char *actor,
    int64_t proposal_id, const char *reason, struct kms_lc_plan *plan,
    char *why, size_t why_len) TKM_MUST_CHECK;

/* --- re-issue ------------------------------------------------------------ */

struct kms_reissue {
	int64_t new_root_id;
	size_t total, issued, existed;
};

/*
 * Issue the active root key of the same template and algorithm as
 * old_root_id (archived or compromised) to every (city, HSM) the old one
 * was issued to (kms_flow_issue each; idempotent), in plan order. Stops
 * at the first failure; run again to continue.
 */
int kms_lc_reissue(struct kdb *db, int64_t old_root_id, const char *actor,
    int64_t proposal_id, const struct kms_flow_opts *o, struct kms_reissue *out,
    char *why, size_t why_len) TKM_MUST_CHECK;

/* --- destruction --------------------------------------------------------- */

#define KMS_LC_CMD 512 /* one command line, with the NUL */

/* One key to delete in one HSM (a key_destructions row). */
struct kms_lc_kill {
	int64_t id;
	int64_t issued_id; /* 0: the root key in the root HSM */
	int64_t hsm_id;
	char hsm[128];
	char alg[4];
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1];
	char state[16];           /* destroy_pending, destroyed */
	char command[KMS_LC_CMD]; /* for the HSM's security admin */
	int rc; /* confirm: TKM_OK gone, else why it is still pending */
	char why[256];
};

struct kms_lc_destroy {
	struct kms_lc_kill *keys; /* malloc'ed */
	size_t n;
	size_t pending, destroyed;
	int root_destroyed; /* the root key row is `destroyed` */
};

/*
 * Ask for root key root_key_id (archived or compromised; never active:
 * rotate or mark compromised first) to be destroyed: one
 * `destroy_pending` row for it in its root HSM and one per live issued
 * copy, each with the command its HSM's security admin runs:
 *   tkms hsm keys delete --lib des|sm4 --index III --host H --port P
 * (the HSM's management endpoint; placeholders when none is recorded).
 * Again: the same rows. Release out with kms_lc_destroy_free.
 */
int kms_lc_destroy_request(struct kdb *db, int64_t root_key_id,
    const char *actor, int64_t proposal_id, struct kms_lc_destroy *out,
    char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * Check every pending row with BU at its HSM: ERR 12 marks it (and its
 * issued copy) destroyed; the recorded KCV still there leaves it pending
 * ("not deleted yet"); another key there (another KCV or type) leaves it
 * pending with TKM_ERR_VERIFY in the row; an unreachable HSM likewise.
 * When no row is pending the root key becomes `destroyed`. Returns TKM_OK
 * once every row was asked (out->root_destroyed says whether all are
 * gone; each row's rc and why say why one is not), an error only for a
 * state that has nothing to confirm or a database failure.
 */
int kms_lc_destroy_confirm(struct kdb *db, int64_t root_key_id,
    const char *actor, int64_t proposal_id, const struct kms_flow_opts *o,
    struct kms_lc_destroy *out, char *why, size_t why_len) TKM_MUST_CHECK;
void kms_lc_destroy_free(struct kms_lc_destroy *d);

#endif
