/*
 * audit.h - the HSM's audit log (DESIGN §5): every management operation and
 * every refused business command, in DIR/audit.db.
 *
 * Records are chained: hash_i = SM3(hash_{i-1} || record_i), and, when the
 * HSM is unsealed, mac_i = HMAC-SM3(K_audit, hash_i) with K_audit derived
 * from DK, so that whoever can write the file cannot recompute a valid
 * chain. Records written while sealed carry no MAC and are reported as
 * such by verify. Signed checkpoints (below, docs/audit.md) show where
 * the log ended, so that cutting off the newest records is found too.
 * Thread-safe (internal mutexes).
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
 * "127.0.0.1:50000"; op e.g. "keys.delete" or "UB"; result a tkm_err.
 * With dk, the append may make an automatic checkpoint (below) and so
 * call the signer: the same rule as for hsm_audit_rotate() applies, and
 * to hsm_audit_refusal(). */
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
	uint64_t unmacked;    /* written while sealed */
	uint64_t first_bad;   /* seq of the first broken or missing record, 0
				 if none or the fault is in a checkpoint */
	const char *why;      /* the first fault, NULL if none; may point
				 into msg */
	int ok;               /* no fault at all */
	uint64_t checkpoints; /* checkpoint lines checked */
	int keys_checked;     /* their key compared with the signer's */
	char msg[256];
};
/*
 * Check the whole chain (and the MACs when dk is given), then every
 * checkpoint in DIR/audit.checkpoints and in checkpoint, if not NULL
 * (one line, or several such as a copy of that file; docs/audit.md): signed by
 * the signer's public key (when dk and a signer are there to give it; else by
 * the key the line names, and keys_checked is 0), of this HSM's serial, and
 * naming a record the log holds with that very hash. Only the first fault is
 * reported. rep->why may point into rep itself: do not copy the struct.
 */
int hsm_audit_verify(struct hsm_audit *au, const struct hsm_dk *dk,
    struct hsm_audit_report *rep) TKM_MUST_CHECK;
int hsm_audit_verify_with(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *checkpoint, struct hsm_audit_report *rep) TKM_MUST_CHECK;

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

/* --- signed checkpoints (docs/audit.md) ---------------------------------
 *
 * A checkpoint is one line of text naming the newest record's seq and
 * hash, signed with SM2 by the HSM identity key:
 *   TKMS-AUDIT-CHECKPOINT 1 serial=S seq=N hash=H time=T key=K sig=G
 * Each is appended to DIR/audit.checkpoints (0600, O_APPEND, fsynced), a
 * file meant to be shipped off the machine as it grows; a copy kept
 * elsewhere later shows whether the newest records were cut off.
 */
#define HSM_AUDIT_CHECKPOINT_EVERY 1000 /* records, while unsealed */
#define HSM_AUDIT_CP_MAX           512  /* a line, with its NUL */
#define HSM_AUDIT_SERIAL_MAX       16   /* = HSM_SERIAL_MAX (backup.h) */

struct tkm_sm2;

/*
 * Who signs: the log knows nothing of admin.db or the identity (ident.h);
 * these give it what it needs. They run without the log's lock held, may
 * block (they read admin.db) and MUST be thread-safe (any thread that
 * appends may call them). Each returns TKM_OK or a cause.
 */
struct hsm_audit_signer {
	void *arg;
	/* The HSM's serial: 1..HSM_AUDIT_SERIAL_MAX characters [0-9A-Za-z]. */
	int (*serial)(void *arg, char out[HSM_AUDIT_SERIAL_MAX + 1]);
	/* The identity key pair under dk: a new object the log frees. */
	int (*key)(void *arg, const struct hsm_dk *dk, struct tkm_sm2 **out);
	/* Its public key X || Y under dk (for verify). */
	int (*pub)(void *arg, const struct hsm_dk *dk, uint8_t pub[64]);
};

/* Install (copied) or, with NULL, remove the signer. Until one is
 * installed no checkpoint is made. */
void hsm_audit_set_signer(
    struct hsm_audit *au, const struct hsm_audit_signer *s);

/*
 * Automatic checkpoints: an append under a DK that brings the log to a
 * multiple of HSM_AUDIT_CHECKPOINT_EVERY records (or past one, when the
 * records at the multiple were written sealed) makes one after releasing
 * the log's lock. If it fails, the log gets a record saying so (op
 * "audit.checkpoint", actor "hsm").
 */

/* A checkpoint of the newest record now, appended to audit.checkpoints:
 * the line (NUL-terminated) in line and its seq in *seq. TKM_ERR_SEALED
 * without dk, TKM_ERR_NO_KEY without a signer, else what the signer or
 * the file answered. */
int hsm_audit_checkpoint(struct hsm_audit *au, const struct hsm_dk *dk,
    char line[HSM_AUDIT_CP_MAX], uint64_t *seq) TKM_MUST_CHECK;

/*
 * Zeroise: close the current log as DIR/audit-<N>.db, N its last seq,
 * (kept, for export and verification under the DK it was made with), its
 * checkpoints as DIR/audit-<N>.checkpoints, and start a new DIR/audit.db
 * whose first record, seq N+1, op "audit.continued", names the old file
 * and its last hash. Before that, the old log gets a last record (op
 * "audit.closed", MACed under dk) and, with dk and a signer, a last
 * checkpoint. dk is the DK being destroyed (may be NULL); the new log's
 * first record has no MAC (the next DK is not known yet). A crash half
 * way leaves the old log or the new one in place (docs/audit.md). An
 * error before the old log was renamed leaves it open and in use; one
 * after (TKM_ERR_IO) leaves the new log open, or none if it would not
 * open (appends then fail). MUST NOT be called with a lock held that the
 * signer takes.
 */
int hsm_audit_rotate(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor) TKM_MUST_CHECK;

/* ops_audit.c: install the signer of a running HSM, its identity and
 * serial (ident.h) in a's admin.db. */
struct hsm_admin;
void hsm_audit_use_ident(struct hsm_audit *au, struct hsm_admin *a);

#endif
