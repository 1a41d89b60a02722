/*
 * audit.c - the chained audit log in DIR/audit.db (audit.h, DESIGN §5).
 *
 * Each record's hash covers the previous hash and every field, each
 * variable field preceded by its length, so that no two different records
 * hash alike:
 *   OFFSET    SIZE  FIELD
 *   0         32    hash of the previous record (zeros before seq 1)
 *   32        8     seq, big-endian
 *   40        8     time, big-endian two's complement
 *   48        4     length a of actor, big-endian
 *   52        a     actor (UTF-8, no NUL)
 *   52+a      4     length o of op
 *   56+a      o     op
 *   56+a+o    4     result, big-endian two's complement
 *   60+a+o    4     length d of detail
 *   64+a+o    d     detail
 * hash = SM3 of that; mac = HMAC-SM3(K_audit, hash), K_audit =
 * KBKDF-HMAC-SM3(DK, "tkms audit") (hsm_dk_derive).
 *
 * Seqs are consecutive from 1: a gap is a deleted record. Truncating the
 * newest records leaves a valid chain; only the signed checkpoints planned
 * in DESIGN §5 will catch that.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h"
#include "db.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define DB_NAME     "audit.db"
#define HLEN        HSM_AUDIT_HASH_LEN
#define FIELD_MAX   4096 /* actor, op, detail: longer is cut */
#define RATE_SLOTS  128  /* distinct (op, result) pairs rate-limited */
#define AUDIT_LABEL "tkms audit"

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS records ("
				 " seq INTEGER PRIMARY KEY,"
				 " time INTEGER NOT NULL,"
				 " actor TEXT NOT NULL,"
				 " op TEXT NOT NULL,"
				 " result INTEGER NOT NULL,"
				 " detail TEXT NOT NULL,"
				 " hash BLOB NOT NULL,"
				 " mac BLOB)";

/* One rate-limited (op, result) pair of refused commands. */
struct rate {
	char op[3];
	int result;
	int64_t last;        /* second of the last record written */
	uint64_t suppressed; /* refusals not written since */
	char actor[64];      /* of the last one suppressed */
};

struct hsm_audit {
	sqlite3 *db;
	pthread_mutex_t mu;
	uint64_t seq;                      /* of the newest record, 0 if none */
	uint8_t hash[HLEN];                /* its hash */
	struct rate rates[RATE_SLOTS + 1]; /* + one for overflow */
	size_t nrates;
};

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The record hash of the layout above. */
static int
rec_hash(
    const uint8_t prev[HLEN], const struct hsm_audit_rec *r, uint8_t out[HLEN])
{
	uint8_t seq[8], tm[8], la[4], lo[4], res[4], ld[4];
	size_t na = strlen(r->actor), no = strlen(r->op),
	       nd = strlen(r->detail);
	const void *parts[] = {
	    prev, seq, tm, la, r->actor, lo, r->op, res, ld, r->detail};
	const size_t lens[] = {HLEN, 8, 8, 4, na, 4, no, 4, 4, nd};

	put_be(seq, r->seq, 8);
	put_be(tm, (uint64_t)r->time, 8);
	put_be(la, na, 4);
	put_be(lo, no, 4);
	put_be(res, (uint32_t)r->result, 4);
	put_be(ld, nd, 4);
	return tkm_hashv(TKM_SM3, parts, lens, 10, out);
}

static int
rec_mac(const struct hsm_dk *dk, const uint8_t hash[HLEN], uint8_t out[HLEN])
{
	uint8_t k[HLEN];
	int rc;

	if ((rc = hsm_dk_derive(dk, AUDIT_LABEL, k, sizeof(k))) != TKM_OK)
		goto out;
	rc = tkm_hmac(TKM_SM3, k, sizeof(k), hash, HLEN, out);
out:
	tkm_cleanse(k, sizeof(k));
	return rc;
}

/* The newest record's seq and hash, where the next append continues. */
static int
load_tail(struct hsm_audit *au)
{
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO, st;

	if (sqlite3_prepare_v2(au->db,
		"SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", -1,
		&s, NULL) != SQLITE_OK)
		return TKM_ERR_IO;
	st = sqlite3_step(s);
	if (st == SQLITE_DONE) {
		rc = TKM_OK;
	} else if (st == SQLITE_ROW && sqlite3_column_bytes(s, 1) == HLEN) {
		au->seq = (uint64_t)sqlite3_column_int64(s, 0);
		memcpy(au->hash, sqlite3_column_blob(s, 1), HLEN);
		rc = TKM_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

int
hsm_audit_open(const char *dir, struct hsm_audit **out)
{
	struct hsm_audit *au;
	int rc;

	*out = NULL;
	if ((au = calloc(1, sizeof(*au))) == NULL)
		return TKM_ERR_NOMEM;
	if (pthread_mutex_init(&au->mu, NULL) != 0) {
		free(au);
		return TKM_ERR_NOMEM;
	}
	if ((rc = hsm_db_open(dir, DB_NAME, &au->db)) != TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	if (hsm_db_exec(au->db, schema_sql) != TKM_OK ||
	    (rc = load_tail(au)) != TKM_OK)
		goto out;
	*out = au;
	au = NULL;
	rc = TKM_OK;
out:
	hsm_audit_close(au);
	return rc;
}

/* A field as stored: NULL becomes "", and at most FIELD_MAX bytes. */
static const char *
field(const char *s, char *buf, size_t cap)
{
	if (s == NULL)
		return "";
	if (strlen(s) < cap)
		return s;
	memcpy(buf, s, cap - 1); /* truncation is the point here */
	buf[cap - 1] = '\0';
	return buf;
}

/* Insert r (seq, time and fields set) with its hash and MAC. Locked. */
static int
insert(struct hsm_audit *au, const struct hsm_dk *dk, struct hsm_audit_rec *r)
{
	uint8_t hash[HLEN], mac[HLEN];
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = rec_hash(au->hash, r, hash)) != TKM_OK ||
	    (dk != NULL && (rc = rec_mac(dk, hash, mac)) != TKM_OK))
		return rc;
	rc = TKM_ERR_IO;
	if (sqlite3_prepare_v2(au->db,
		"INSERT INTO records (seq, time, actor, op, result, detail,"
		" hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &s, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_bind_int64(s, 1, (sqlite3_int64)r->seq) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, r->time) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, r->actor, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 4, r->op, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 5, r->result) != SQLITE_OK ||
	    sqlite3_bind_text(s, 6, r->detail, -1, SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_bind_blob(s, 7, hash, HLEN, SQLITE_STATIC) != SQLITE_OK ||
	    (dk != NULL ? sqlite3_bind_blob(s, 8, mac, HLEN, SQLITE_STATIC)
			: sqlite3_bind_null(s, 8)) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE)
		goto out;
	au->seq = r->seq;
	memcpy(au->hash, hash, HLEN);
	rc = TKM_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Append with the lock held. */
static int
append_locked(struct hsm_audit *au, const struct hsm_dk *dk, const char *actor,
    const char *op, int result, const char *detail)
{
	char b1[FIELD_MAX], b2[FIELD_MAX], b3[FIELD_MAX];
	struct hsm_audit_rec r = {0};

	r.seq = au->seq + 1;
	r.time = (int64_t)time(NULL);
	r.actor = field(actor, b1, sizeof(b1));
	r.op = field(op, b2, sizeof(b2));
	r.detail = field(detail, b3, sizeof(b3));
	r.result = result;
	return insert(au, dk, &r);
}

int
hsm_audit_append(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor, const char *op, int result, const char *detail)
{
	int rc;

	if (au == NULL)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&au->mu);
	rc = append_locked(au, dk, actor, op, result, detail);
	pthread_mutex_unlock(&au->mu);
	return rc;
}

/* --- refused commands, rate-limited ------------------------------------ */

/* The slot of (op, result); the last slot takes every pair past
 * RATE_SLOTS, so the table is bounded whatever a client sends. */
static struct rate *
rate_slot(struct hsm_audit *au, const char *op, int result)
{
	struct rate *r;
	size_t i;

	for (i = 0; i < au->nrates; i++) {
		r = &au->rates[i];
		if (r->result == result && strcmp(r->op, op) == 0)
			return r;
	}
	if (au->nrates == RATE_SLOTS) {
		r = &au->rates[RATE_SLOTS];
		snprintf(r->op, sizeof(r->op), "**");
		r->result = result; /* the latest of the pairs it takes */
		return r;
	}
	r = &au->rates[au->nrates++];
	snprintf(r->op, sizeof(r->op), "%s", op);
	r->result = result;
	r->last = INT64_MIN;
	return r;
}

/* Write a slot's record for count refusals: this one (if any) and those
 * suppressed since the slot's last record. */
static int
rate_write(struct hsm_audit *au, const struct hsm_dk *dk, struct rate *r,
    const char *actor, uint64_t count, int64_t now)
{
	char detail[64];
	int rc;

	snprintf(detail, sizeof(detail), "refused %llu times",
	    (unsigned long long)count);
	rc = append_locked(au, dk, actor, r->op, r->result, detail);
	if (rc == TKM_OK) {
		r->last = now;
		r->suppressed = 0;
	}
	return rc;
}

/* "A0" stays "A0"; anything not two printable characters is "??". */
static void
op_code(const char *op, char out[3])
{
	if (op != NULL && strlen(op) == 2 && op[0] > ' ' && op[0] < 0x7F &&
	    op[1] > ' ' && op[1] < 0x7F)
		snprintf(out, 3, "%s", op);
	else
		snprintf(out, 3, "??");
}

int
hsm_audit_refusal(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor, const char *op, int result)
{
	int64_t now = (int64_t)time(NULL);
	struct rate *r;
	char code[3];
	int rc = TKM_OK;

	if (au == NULL)
		return TKM_ERR_INPUT;
	op_code(op, code);
	if (actor == NULL)
		actor = "host";
	pthread_mutex_lock(&au->mu);
	r = rate_slot(au, code, result);
	if (now > r->last) {
		rc = rate_write(au, dk, r, actor, r->suppressed + 1, now);
	} else {
		r->suppressed++;
		snprintf(r->actor, sizeof(r->actor), "%s", actor);
	}
	pthread_mutex_unlock(&au->mu);
	return rc;
}

/* At close, what was suppressed since the last records is written too
 * (without MAC: DK may already be gone). */
static void
rate_flush(struct hsm_audit *au)
{
	size_t i;

	for (i = 0; i <= RATE_SLOTS; i++)
		if (au->rates[i].suppressed > 0)
			(void)rate_write(au, NULL, &au->rates[i],
			    au->rates[i].actor, au->rates[i].suppressed,
			    (int64_t)time(NULL));
}

void
hsm_audit_close(struct hsm_audit *au)
{
	if (au == NULL)
		return;
	if (au->db != NULL) {
		rate_flush(au);
		sqlite3_close(au->db);
	}
	pthread_mutex_destroy(&au->mu);
	free(au);
}

/* --- reading ------------------------------------------------------------ */

/* Row of "SELECT seq, time, actor, op, result, detail, hash, mac" into r;
 * TKM_ERR_VERIFY if a column has the wrong kind or size. */
static int
row(sqlite3_stmt *s, struct hsm_audit_rec *r)
{
	const unsigned char *t;
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < 6; i++)
		if (sqlite3_column_type(s, i) == SQLITE_NULL)
			return TKM_ERR_VERIFY;
	r->seq = (uint64_t)sqlite3_column_int64(s, 0);
	r->time = sqlite3_column_int64(s, 1);
	r->actor = (t = sqlite3_column_text(s, 2)) ? (const char *)t : "";
	r->op = (t = sqlite3_column_text(s, 3)) ? (const char *)t : "";
	r->result = sqlite3_column_int(s, 4);
	r->detail = (t = sqlite3_column_text(s, 5)) ? (const char *)t : "";
	if (sqlite3_column_bytes(s, 6) != HLEN)
		return TKM_ERR_VERIFY;
	r->hash = sqlite3_column_blob(s, 6);
	if (sqlite3_column_type(s, 7) != SQLITE_NULL) {
		if (sqlite3_column_bytes(s, 7) != HLEN)
			return TKM_ERR_VERIFY;
		r->mac = sqlite3_column_blob(s, 7);
	}
	return TKM_OK;
}

#define SELECT_SQL                                                             \
	"SELECT seq, time, actor, op, result, detail, hash, mac FROM "         \
	"records"

uint64_t
hsm_audit_last(struct hsm_audit *au)
{
	uint64_t seq;

	if (au == NULL)
		return 0;
	pthread_mutex_lock(&au->mu);
	seq = au->seq;
	pthread_mutex_unlock(&au->mu);
	return seq;
}

int
hsm_audit_list(struct hsm_audit *au, uint64_t from, unsigned n,
    int (*fn)(void *arg, const struct hsm_audit_rec *r), void *arg)
{
	struct hsm_audit_rec r;
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO, st;

	if (au == NULL || from > INT64_MAX)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&au->mu);
	if (sqlite3_prepare_v2(au->db,
		SELECT_SQL " WHERE seq >= ? ORDER BY seq LIMIT ?", -1, &s,
		NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 1, (sqlite3_int64)from) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, n) != SQLITE_OK)
		goto out;
	while ((st = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = row(s, &r)) != TKM_OK || (rc = fn(arg, &r)) != TKM_OK)
			goto out;
	}
	rc = st == SQLITE_DONE ? TKM_OK : TKM_ERR_IO;
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&au->mu);
	return rc;
}

/* --- verification ------------------------------------------------------- */

struct check {
	const struct hsm_dk *dk;
	struct hsm_audit_report *rep;
	uint8_t prev[HLEN];
	uint64_t next; /* seq expected */
};

static void
bad(struct check *k, uint64_t seq, const char *why)
{
	if (k->rep->first_bad == 0) {
		k->rep->first_bad = seq;
		k->rep->why = why;
	}
}

/* One record against the chain so far; the chain then continues from the
 * stored hash, so that only the first fault is reported. */
static int
check_rec(struct check *k, const struct hsm_audit_rec *r)
{
	uint8_t h[HLEN], m[HLEN];
	int rc;

	k->rep->records++;
	if (r->mac == NULL)
		k->rep->unmacked++;
	if (r->seq != k->next)
		bad(k, r->seq,
		    r->seq > k->next ? "gap before this record "
				       "(deleted records)"
				     : "seq out of order");
	if ((rc = rec_hash(k->prev, r, h)) != TKM_OK)
		return rc;
	if (!tkm_ct_eq(h, r->hash, HLEN))
		bad(k, r->seq,
		    "hash mismatch (record edited, reordered or "
		    "the one before it removed)");
	else if (r->mac != NULL && k->dk != NULL) {
		if ((rc = rec_mac(k->dk, h, m)) != TKM_OK)
			return rc;
		if (!tkm_ct_eq(m, r->mac, HLEN))
			bad(k, r->seq,
			    "MAC mismatch (rewritten without the "
			    "device key, or another device key)");
	}
	memcpy(k->prev, r->hash, HLEN);
	k->next = r->seq + 1;
	return TKM_OK;
}

int
hsm_audit_verify(
    struct hsm_audit *au, const struct hsm_dk *dk, struct hsm_audit_report *rep)
{
	struct check k = {dk, rep, {0}, 1};
	struct hsm_audit_rec r;
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO, st;

	memset(rep, 0, sizeof(*rep));
	if (au == NULL)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&au->mu);
	if (sqlite3_prepare_v2(
		au->db, SELECT_SQL " ORDER BY seq", -1, &s, NULL) != SQLITE_OK)
		goto out;
	while ((st = sqlite3_step(s)) == SQLITE_ROW) {
		if (row(s, &r) != TKM_OK) {
			bad(&k, (uint64_t)sqlite3_column_int64(s, 0),
			    "malformed record (NULL field or bad hash/MAC "
			    "length)");
			rep->records++;
			continue;
		}
		if ((rc = check_rec(&k, &r)) != TKM_OK)
			goto out;
	}
	rc = st == SQLITE_DONE ? TKM_OK : TKM_ERR_IO;
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&au->mu);
	return rc;
}

int
hsm_audit_rotate(
    struct hsm_audit *au, const struct hsm_dk *dk, const char *actor)
{
	(void)au; /* stub: being written */
	(void)dk;
	(void)actor;
	return TKM_ERR_INTERNAL;
}
