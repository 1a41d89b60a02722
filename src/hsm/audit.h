/*
 * audit.h - the HSM's audit log (DESIGN §5): every management operation and
 * every refused business command, in DIR/audit.db.
 *
 * Records are chained: hash_i = SM3(hash_{i-1} || record_i), and, when the
 * HSM is unsealed, mac_i = HMAC-SM3(K_audit, hash_i) with K_audit derived
 * from DK, so that whoever can write the file cannot recompute a valid
 * chain. Records written while sealed carry no MAC and are reported as
 * such by verify. Thread-safe (internal mutex).
 */
#ifndef HSM_AUDIT_H
#define HSM_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "dk.h"
#include "tkm/err.h"

struct hsm_audit;

int hsm_audit_open(const char *dir, struct hsm_audit **out) TKM_MUST_CHECK;
void hsm_audit_close(struct hsm_audit *au);

/* Append one record. dk may be NULL (sealed). actor e.g. "A1+A2", "C",
 * "127.0.0.1:50000"; op e.g. "keys.delete" or "UB"; result a tkm_err. */
int hsm_audit_append(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor, const char *op, int result,
    const char *detail) TKM_MUST_CHECK;

/*
 * A refused business command (whitelist, IP whitelist, sealed, not
 * authorised), appended from the workers. So that a flood cannot fill the
 * disk or stall the workers on fsync, at most one record per second is
 * written for each (op, result), with detail "refused N times": N counts
 * it and the refusals of that pair suppressed since the pair's previous
 * record. hsm_audit_close() writes what is still suppressed (unmacked:
 * DK may be gone by then). At most 128 pairs are tracked; further pairs
 * share one slot, op "**". actor NULL is "host". op is the command code
 * ("??" if not two printable characters).
 */
int hsm_audit_refusal(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor, const char *op, int result) TKM_MUST_CHECK;

struct hsm_audit_report {
	uint64_t records;
	uint64_t unmacked;  /* written while sealed */
	uint64_t first_bad; /* seq of the first broken record, 0 if none */
	const char *why;    /* what is wrong with it */
};
/* Check the whole chain (and the MACs when dk is given). */
int hsm_audit_verify(struct hsm_audit *au, const struct hsm_dk *dk,
    struct hsm_audit_report *rep) TKM_MUST_CHECK;

struct hsm_audit_rec {
	uint64_t seq;
	int64_t time; /* Unix time of the system clock */
	const char *actor, *op, *detail;
	int result;
	const uint8_t *hash; /* HSM_AUDIT_HASH_LEN bytes, as stored */
	const uint8_t *mac;  /* HSM_AUDIT_HASH_LEN bytes, NULL if unmacked */
};
#define HSM_AUDIT_HASH_LEN 32
/* Seq of the newest record, 0 if none. */
uint64_t hsm_audit_last(struct hsm_audit *au);
/* Records with seq >= from, at most n, oldest first. fn's value other
 * than TKM_OK stops the listing and is returned. fn runs with the log's
 * lock held: it MUST NOT call back into au. r's strings and blobs are
 * valid during the call only. */
int hsm_audit_list(struct hsm_audit *au, uint64_t from, unsigned n,
    int (*fn)(void *arg, const struct hsm_audit_rec *r),
    void *arg) TKM_MUST_CHECK;

/*
 * Zeroise: close the current log as DIR/audit-<seq>.db (kept, for export
 * and verification under the DK it was made with) and start a new
 * DIR/audit.db whose first record (op "audit.continued") names the old
 * file and its last hash. dk is the DK being destroyed (its MAC closes
 * the old log), may be NULL.
 */
int hsm_audit_rotate(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor) TKM_MUST_CHECK;

#endif
