/*
 * records.h - the spec's work forms (工作表格: 密钥生成表格 and the
 * distribution, destruction and compromise records) made from the KMS
 * tables (root_keys, issued_keys, key_events, key_destructions,
 * proposals, users) and rendered as Markdown or as one self-contained
 * printable HTML page (inline style, no external resource). Every value
 * taken from the database is escaped for the format: a name cannot add
 * markup, a table cell or a line (docs/kms-lifecycle.md).
 *
 * Each form names the key (template, algorithm, version, root HSM, index,
 * KCV, state), who did what and when (key_events, with the proposal's
 * proposer and approver), the keys concerned in a table, and blank
 * signature lines for the operator, the reviewer and the supervisor.
 * Times are printed in UTC, so the same data gives the same document.
 *
 * Errors: TKM_ERR_INPUT no such root key; TKM_ERR_SPACE a buffer sink
 * too small (the buffer holds a truncated, NUL-terminated text);
 * TKM_ERR_IO a FILE sink failed; kdb failures. why says which.
 */
#ifndef KMS_RECORDS_H
#define KMS_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kdb.h"
#include "tkm/err.h"

enum kms_rec_fmt { KMS_REC_MD = 1, KMS_REC_HTML = 2 };

/* Where a record goes: a FILE, or a caller's buffer of cap bytes (always
 * NUL-terminated; len counts what was written). */
struct kms_sink {
	FILE *f;
	char *buf;
	size_t cap, len;
	int full; /* the buffer overflowed */
};

void kms_sink_file(struct kms_sink *s, FILE *f);
void kms_sink_buf(struct kms_sink *s, char *buf, size_t cap);

struct kms_rec_opts {
	enum kms_rec_fmt fmt;
	int64_t printed; /* Unix time shown as "printed"; 0: not shown */
	int signoffs;    /* 1: the supervisors' sign-offs in the signature
			    table (kms_rec_sign), each marked when the
			    record changed after it */
};

/* 密钥生成记录: the root key and who generated it. */
int kms_rec_generation(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* 密钥分发记录: every issued copy of the root key (city, HSM, index, KCV,
 * state, time) and who issued them. */
int kms_rec_distribution(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* 密钥销毁记录: the keys to delete in each HSM, requested and confirmed
 * (key_destructions), and who asked. */
int kms_rec_destruction(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* 密钥泄露记录: who reported it, the reason, everything derived from the
 * key and the re-issue plan (lifecycle.h kms_lc_plan). */
int kms_rec_compromise(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* --- by kind, and the supervisor's sign-off --------------------------------
 */

#define KMS_REC_MAX     (8u << 20) /* bytes of one rendered record */
#define KMS_REC_SM3_HEX 64

/* The title of a kind ("generation", "distribution", "destruction",
 * "compromise"), NULL for another word. */
const char *kms_rec_title(const char *kind);

/* The record of kind into *doc (malloc'ed, NUL-terminated). TKM_ERR_INPUT
 * for an unknown kind or root key. */
int kms_rec_render(struct kdb *db, const char *kind, int64_t root_key_id,
    const struct kms_rec_opts *o, char **doc, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* SM3 of the record as a supervisor signs it: Markdown, no printed
 * time, no sign-offs; the same data gives the same digest. */
int kms_rec_digest(struct kdb *db, const char *kind, int64_t root_key_id,
    char hex[KMS_REC_SM3_HEX + 1], char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * The supervisor (密钥监督员) user_id signs off the record: in one
 * transaction its digest now is compared with expect (the SM3 the
 * supervisor read, from the record's answer; NULL: not compared) and
 * kept in a row of table records, for good. TKM_ERR_VERIFY when the
 * record changed since it was read; TKM_ERR_INPUT for a second sign-off
 * of the same content by the same user. *id is the row, hex the digest.
 */
int kms_rec_sign(struct kdb *db, int64_t now, const char *kind,
    int64_t root_key_id, int64_t user_id, const char *expect, int64_t *id,
    char hex[KMS_REC_SM3_HEX + 1], char *why, size_t why_len) TKM_MUST_CHECK;

#endif
