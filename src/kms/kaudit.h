/*
 * kaudit.h - the KMS audit: every change, login and decision as a row of
 * the audit table (docs/kms-schema.md), hash-chained like the HSM's log
 * (src/hsm/audit.c) so that an edited, inserted or deleted row breaks the
 * chain that kms_audit_verify() recomputes.
 *
 * The chain is SM3 only: the KMS holds no key to MAC it with, so whoever
 * can write the database can also rebuild a valid chain. It catches
 * edits made by hand or by a bug, and a copy of the newest hash kept
 * elsewhere catches the rest.
 */
#ifndef KMS_KAUDIT_H
#define KMS_KAUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kdb.h"
#include "tkm/err.h"

#define KMS_AUDIT_HASH_LEN  32
#define KMS_AUDIT_FIELD_MAX 4096 /* actor and action; detail 64 KiB */
#define KMS_AUDIT_LIST_MAX  1000 /* rows of one kms_audit_list() */

/*
 * Append one row: actor (a user name, "bootstrap", "system"), action
 * ("login", "proposal.approve", ...), detail a JSON object (NULL is {}),
 * not stolen. Inside an open transaction (kdb_begin, kdb_tx) the row is
 * part of it, so a change and its audit row commit together; outside one
 * it runs in a kdb_tx of its own. Seq and hash continue the newest row,
 * which the write lock (SQLite) or SERIALIZABLE (PostgreSQL) keeps
 * consistent between concurrent kmsd.
 */
int kms_audit_append(struct kdb *db, int64_t now, const char *actor,
    const char *action, json_t *detail) TKM_MUST_CHECK;

struct kms_audit_report {
	int64_t records;
	int64_t first_bad; /* seq of the first broken or missing row, 0 */
	int ok;
	char why[128]; /* the first fault, "" if none */
};
/* Walk the whole chain from seq 1. TKM_OK even when rep->ok is 0: the
 * return value says only whether the database could be read. */
int kms_audit_verify(
    struct kdb *db, struct kms_audit_report *rep) TKM_MUST_CHECK;

/* Rows with seq >= from, at most limit (<= KMS_AUDIT_LIST_MAX), oldest
 * first, as a new JSON array of {seq, time, actor, action, detail,
 * hash}. */
int kms_audit_list(
    struct kdb *db, int64_t from, int64_t limit, json_t **out) TKM_MUST_CHECK;

#endif
