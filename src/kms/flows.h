/*
 * flows.h - the KMS's key flows against real HSMs (docs/kms-flows.md):
 * root-key generation in the root HSM, issuance of a root key diversified
 * for a city to a business, city or clearing HSM, and issuance of every
 * key of a city at once.
 *
 * Plaintext keys never leave the HSMs: the root key is generated and
 * stored by A0, diversified and exported under the transport key (TK) by
 * A8, imported under the same TK by A6 at the target. The KMS sees keys
 * under TK only (in locked memory, wiped) and records indexes and KCVs.
 *
 * Every flow is safe to run again after any failure or crash: what is
 * already done is found (in kdb, and in the HSMs by their answers) and
 * reported, never overwritten. A flow never deletes a key in an HSM;
 * deletion belongs to the HSM's management port.
 *
 * Errors as in fleet.h (unreachable, sealed, not authorised, whitelist),
 * plus:
 *   TKM_ERR_INDEX   the planned index already holds a key the KMS did not
 *                   record (why gives its KCV); nothing was written
 *   TKM_ERR_VERIFY  the KCV the target reports differs from the exported
 *                   one (the issued row is marked failed)
 *   TKM_ERR_INPUT   a request the data refuses (no active root key, HSM of
 *                   the wrong role or city, ...)
 * and why (why_len bytes) says what happened and what to do.
 */
#ifndef KMS_FLOWS_H
#define KMS_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "kdb.h"
#include "tkm/err.h"

/* The provincial TK (docs/ceremonies.md): K000/K100 stay free for the
 * ministry's initial TK of the business HSMs. */
#define KMS_TK_DES "K001"
#define KMS_TK_SM4 "K101"

/* Where a flow is; progress callbacks get one of these. */
enum kms_step {
	KMS_STEP_EXPORTED = 1, /* A8 done at the root, A6 not yet sent */
	KMS_STEP_DONE          /* one key finished: rc says how */
};

struct kms_progress {
	enum kms_step step;
	size_t done, total;        /* keys finished, keys planned */
	const char *template_name; /* key_templates.name */
	const char *alg;           /* "DES" or "SM4" */
	unsigned idx;              /* index at the target */
	const char *kcv;           /* KCV as recorded ("" before DONE) */
	int existed;               /* DONE: nothing to do, already issued */
	int rc;                    /* DONE: the key's result */
	const char *why;           /* DONE with rc != TKM_OK: the message */
};

/* A key a flow is recording as done (the in_tx hook below). */
struct kms_recorded {
	int64_t root_key_id;
	int64_t issued_id; /* issuance: the issued_keys row; generation: 0 */
};

struct kms_flow_opts {
	int timeout_ms;     /* per host command; <= 0: KMS_HSM_TIMEOUT_MS */
	const char *tk_des; /* TK reference in every HSM; NULL: KMS_TK_DES */
	const char *tk_sm4; /* NULL: KMS_TK_SM4 */
	/* Called at each step (may be NULL); runs in the caller's thread. */
	void (*progress)(void *arg, const struct kms_progress *p);
	void *arg;
	/*
	 * Called (may be NULL) inside the transaction that makes a key's row
	 * active (a generated root key, an issued copy), so that what it
	 * writes (the key's event) commits with the row or not at all: a
	 * crash leaves neither a row without its event nor an event without
	 * its row. Not TKM_OK rolls the row back (the flow then fails as
	 * when recording fails). It MAY run more than once (kdb_tx retries)
	 * and MUST only write to db.
	 */
	int (*in_tx)(struct kdb *db, void *arg, const struct kms_recorded *r);
	void *tx_arg;
};

/* --- (1) root-key generation -------------------------------------------- */

struct kms_rootgen {
	int64_t root_key_id;
	int64_t version;
	unsigned idx;
	char kcv[KMS_KCV_HEX + 1]; /* as recorded: DES 6H, SM4 16H */
	int existed; /* 1: an active key was there already, nothing done */
};

/*
 * Generate the root key of template (key_templates.id) and alg ("DES",
 * "SM4") in root_hsm (an active HSM of role root) with A0 mode 2 at the
 * planned index (kms_plan_index), and record it active with its KCV.
 *
 * When the template and alg have an active root key, nothing is generated:
 * its KCV is checked in its HSM (BU) and returned with existed = 1. The
 * version is the next free one; its row is written as `planned` before
 * A0, so that a crash between A0 and the record leaves a trace. When the
 * HSM already holds a key at the index (A0 answers 21), that key is not
 * overwritten: TKM_ERR_INDEX, and why gives its KCV.
 */
int kms_flow_generate(struct kdb *db, int64_t root_hsm, int64_t template_id,
    const char *alg, const struct kms_flow_opts *o, struct kms_rootgen *out,
    char *why, size_t why_len) TKM_MUST_CHECK;

/* --- (2) issuance -------------------------------------------------------- */

struct kms_issue {
	int64_t issued_id; /* issued_keys.id; 0 when no row was written */
	unsigned idx;      /* index at the target */
	char kcv[KMS_KCV_HEX + 1];
	int existed;   /* already issued and held: nothing done */
	int recovered; /* the target held the key already (an earlier run
			  stopped before recording it); now recorded */
};

/*
 * Issue root key root_key_id (active) for city_id to target (an active HSM
 * of role provincial_business or city serving that city, or clearing for a
 * template with clearing = 1): A8 at the root HSM derives it with the
 * template's city factor and exports it under the TK; A6 imports it under
 * the TK at the planned index of the target; the KCVs must match.
 *
 * The issued row is written, active, in one transaction only after the
 * target confirmed the import with the matching KCV. A failure before or
 * during A6 (target down, sealed, not authorised) writes no row. A KCV
 * mismatch, or a different key already at the index, marks the row
 * failed and deletes nothing: why says which key is where.
 */
int kms_flow_issue(struct kdb *db, int64_t root_key_id, int64_t city_id,
    int64_t target, const struct kms_flow_opts *o, struct kms_issue *out,
    char *why, size_t why_len) TKM_MUST_CHECK;

/* --- (3) every key of a city --------------------------------------------- */

struct kms_batch {
	size_t total;   /* keys planned */
	size_t issued;  /* newly issued (recovered ones included) */
	size_t existed; /* already issued */
	size_t failed;  /* 0 or 1: the batch stops at the first failure */
	int64_t elapsed_ms;
};

/*
 * Issue the active root key of every template and algorithm (for a
 * clearing HSM: of every template with clearing = 1) for city_id to
 * target, over one connection to the root HSM and one to the target, in
 * template order, DES before SM4. Refuses (TKM_ERR_INPUT, before any host
 * command) when a template lacks an active root key. Stops at the first
 * failure; running it again continues where it stopped.
 */
int kms_flow_issue_city(struct kdb *db, int64_t city_id, int64_t target,
    const struct kms_flow_opts *o, struct kms_batch *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

#endif
