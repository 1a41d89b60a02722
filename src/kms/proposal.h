/*
 * proposal.h - dual control (DESIGN §6): every change is a proposal {kind,
 * payload} by one user that takes effect only when ANOTHER user of the
 * same role approves it. Nobody approves their own; proposals expire;
 * every step is audited in the same transaction as the change.
 *
 * States: open -> executed (approved and applied), rejected, expired,
 * failed (approved, but applying it failed: nothing of it was kept);
 * a kind with an execute step passes through approved (below).
 *
 * Each kind is one row: who may propose it, prepare (check the payload
 * and turn it into what is stored: a password becomes its hash) and
 * apply (the change, in the approval's transaction). Flows that drive
 * HSMs add rows with kms_kinds_register() and an execute step.
 *
 * Failures return a tkm_err, set *why to a static message and *http to
 * the HTTP status that fits (0: use tkm_err_http()).
 */
#ifndef KMS_PROPOSAL_H
#define KMS_PROPOSAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "kdb.h"
#include "tkm/err.h"

#define KMS_PROPOSAL_TTL     86400       /* default lifetime, seconds */
#define KMS_PROPOSAL_TTL_MAX (7 * 86400) /* the longest one may ask for */
#define KMS_PROPOSAL_LIST    500         /* rows of one listing */
#define KMS_KINDS_MAX        64

struct kms_kind {
	const char *name; /* "user.create" */
	unsigned roles;   /* enum kms_role bits that may propose it */
	/* Check payload (an object) and make *stored, a new object kept as
	 * the proposal's payload. Outside any transaction; MAY read db. */
	int (*prepare)(struct kdb *db, json_t *payload, json_t **stored,
	    const char **why, int *http);
	/* The change, in the approval's transaction (MAY run more than once,
	 * see kdb_tx: database effects only). *result: a new object or
	 * NULL. */
	int (*apply)(struct kdb *db, int64_t now, json_t *stored,
	    json_t **result, const char **why, int *http);
	/* NULL for changes of the database only. Otherwise the approval
	 * commits state "approved" (apply, if any, has run in it), then
	 * execute runs outside any transaction (HSMs, files) and its
	 * outcome makes the proposal "executed" or "failed", with *result
	 * kept either way. */
	int (*execute)(struct kdb *db, int64_t now, int64_t id, json_t *stored,
	    json_t **result, const char **why);
	/* NULL, or the repair of what an execution stopped by a crash left
	 * half-done, run by kms_proposal_recover in the transaction that
	 * marks the proposal failed (database effects only; MAY run more
	 * than once). *note: a new object merged into the result, or NULL. */
	int (*recover)(
	    struct kdb *db, int64_t now, json_t *stored, json_t **note);
};

/* Add rows (not copied: static storage) to the table of kinds.
 * TKM_ERR_INPUT for a name already there, TKM_ERR_SPACE past
 * KMS_KINDS_MAX. Call before serving requests. */
int kms_kinds_register(const struct kms_kind *k, size_t n) TKM_MUST_CHECK;
const struct kms_kind *kms_kind_find(const char *name);

/*
 * A new open proposal by u, expiring ttl seconds from now (0: the
 * default; at most KMS_PROPOSAL_TTL_MAX). The approving role is u's.
 */
int kms_proposal_create(struct kdb *db, int64_t now, int64_t ttl,
    const struct kms_user *u, const char *kind, json_t *payload, int64_t *id,
    const char **why, int *http) TKM_MUST_CHECK;

/*
 * Approve (approve = 1) or reject proposal id as u. Refused: no such
 * proposal (404), not open or expired (409), u proposed it or is of
 * another role (403). An approval applies the kind in the same
 * transaction; if that fails the proposal becomes "failed" with the
 * reason. reason (may be NULL) is kept with a rejection. *out: the
 * proposal afterwards, a new object.
 */
int kms_proposal_decide(struct kdb *db, int64_t now, const struct kms_user *u,
    int64_t id, int approve, const char *reason, json_t **out, const char **why,
    int *http) TKM_MUST_CHECK;

/* Mark open proposals past their time "expired" (audited). On
 * PostgreSQL also runs kms_proposal_recover. */
int kms_proposal_expire(struct kdb *db, int64_t now) TKM_MUST_CHECK;

/*
 * Proposals left "approved" (execution under way) by a tkms-kmsd that
 * stopped while executing them (a crash, a kill) become "failed" with
 * result.error saying they were interrupted (audited proposal.failed by
 * "system"): what their execution did is recorded step by step, and
 * proposing the same change again continues it (docs/kms-flows.md). The
 * server runs this before it serves. On SQLite one daemon owns the
 * database, so every approved proposal found then is interrupted; on
 * PostgreSQL an execution holds an advisory lock on its proposal for its
 * whole run (kms_proposal_decide), which the server's session loses when
 * it dies, so only proposals whose lock is free are taken. A kind's
 * recover step runs in the same transaction. *n: how many.
 */
int kms_proposal_recover(struct kdb *db, int64_t now, size_t *n) TKM_MUST_CHECK;

/* Proposals newest first (state NULL: all), at most KMS_PROPOSAL_LIST;
 * or one (id > 0; TKM_ERR_NO_KEY if none). Secrets in payloads (password
 * hashes) are not shown. */
int kms_proposal_list(
    struct kdb *db, const char *state, int64_t id, json_t **out) TKM_MUST_CHECK;

#endif
