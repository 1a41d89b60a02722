/*
 * audit.c - the chained audit log in DIR/audit.db (audit.h, DESIGN §5,
 * docs/audit.md).
 *
 * Each record's hash covers the previous hash and every field, each
 * variable field preceded by its length, so that no two different records
 * hash alike:
 *   OFFSET    SIZE  FIELD
 *   0         32    hash of the previous record (zeros before the first)
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
 * Seqs are consecutive from 1 (or, after a rotation, from the first
 * record "audit.continued"): a gap is a deleted record. Truncating the
 * newest records leaves a valid chain; the signed checkpoints in
 * DIR/audit.checkpoints, and copies of them kept elsewhere, catch that.
 *
 * Locks: mu guards the database and the tail; cp_mu the checkpoints file.
 * When both are taken, mu first. Signing (the signer reads admin.db, SM2
 * is a millisecond) happens with neither held, except the last checkpoint
 * of a rotation, which must not let a record in after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h"
#include "db.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/sm2.h"

#define DB_NAME      "audit.db"
#define DB_NEW       "audit.db.new" /* the next log, during a rotation */
#define CP_NAME      "audit.checkpoints"
#define CP_MAGIC     "TKMS-AUDIT-CHECKPOINT 1 "
#define OP_CONTINUED "audit.continued"
#define OP_CLOSED    "audit.closed"
#define HLEN         HSM_AUDIT_HASH_LEN
#define FIELD_MAX    4096 /* actor, op, detail: longer is cut */
#define RATE_SLOTS   128  /* distinct (op, result) pairs rate-limited */
#define AUDIT_LABEL  "tkms audit"
#define EVERY        HSM_AUDIT_CHECKPOINT_EVERY

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
	sqlite3 *db; /* NULL only if a rotation could not reopen the log */
	char *dir;
	pthread_mutex_t mu;
	uint64_t seq;       /* of the newest record, 0 if none */
	uint8_t hash[HLEN]; /* its hash */
	uint64_t cp_next;   /* seq from which an automatic checkpoint is due */
	unsigned gen;       /* rotations: a checkpoint made before one is
			       not written into the next log's file */
	struct hsm_audit_signer signer;
	pthread_mutex_t cp_mu;             /* DIR/audit.checkpoints */
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

	au->seq = 0;
	memset(au->hash, 0, HLEN);
	if (sqlite3_prepare_v2(au->db,
		"SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", -1,
		&s, NULL) != SQLITE_OK)
		return hsm_db_fail(au->db);
	st = sqlite3_step(s);
	if (st == SQLITE_DONE) {
		rc = TKM_OK;
	} else if (st == SQLITE_ROW && sqlite3_column_bytes(s, 1) == HLEN) {
		au->seq = (uint64_t)sqlite3_column_int64(s, 0);
		memcpy(au->hash, sqlite3_column_blob(s, 1), HLEN);
		rc = TKM_OK;
	} else if (st == SQLITE_ROW) {
		hsm_db_note("audit.db: corrupt (the newest record's hash is "
			    "not %d bytes)",
		    HLEN);
	} else {
		rc = hsm_db_fail(au->db);
	}
	sqlite3_finalize(s);
	/* Automatic checkpoints at multiples of EVERY. */
	au->cp_next = au->seq - au->seq % EVERY + EVERY;
	return rc;
}

/* --- files ---------------------------------------------------------------- */

/* DIR/name into out (cap bytes); TKM_ERR_INPUT if it does not fit. */
static int
path_of(const char *dir, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? TKM_ERR_INPUT : TKM_OK;
}

/* 1 if DIR/name exists, 0 if not, TKM_ERR_IO if that cannot be told. */
static int
exists(const char *dir, const char *name, off_t *size)
{
	char path[4096];
	struct stat sb;

	if (path_of(dir, name, path, sizeof(path)) != TKM_OK)
		return TKM_ERR_IO;
	if (lstat(path, &sb) == 0) {
		if (size != NULL)
			*size = sb.st_size;
		return 1;
	}
	return errno == ENOENT ? 0 : TKM_ERR_IO;
}

/* rename DIR/from to DIR/to; a missing from is fine when may_miss. */
static int
rename_in(const char *dir, const char *from, const char *to, int may_miss)
{
	char a[4096], b[4096];

	if (path_of(dir, from, a, sizeof(a)) != TKM_OK ||
	    path_of(dir, to, b, sizeof(b)) != TKM_OK)
		return TKM_ERR_INPUT;
	if (rename(a, b) == 0 || (may_miss && errno == ENOENT))
		return TKM_OK;
	return TKM_ERR_IO;
}

static int
unlink_in(const char *dir, const char *name)
{
	char path[4096];

	if (path_of(dir, name, path, sizeof(path)) != TKM_OK)
		return TKM_ERR_INPUT;
	return unlink(path) == 0 || errno == ENOENT ? TKM_OK : TKM_ERR_IO;
}

/* So that renames and new files in dir survive a crash. */
static int
sync_dir(const char *dir)
{
	int fd, rc = TKM_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return TKM_ERR_IO;
	if (fsync(fd) != 0)
		rc = TKM_ERR_IO;
	close(fd);
	return rc;
}

/*
 * Close a log connection with everything in the database file itself: a
 * WAL checkpoint that must not be refused (another connection, e.g. an
 * sqlite3 shell, holding the file makes it fail), close, and the -wal and
 * -shm files, empty by then, removed. Only then may the file be renamed
 * apart from them. db is closed whatever the outcome.
 */
static int
close_flushed(sqlite3 *db, const char *dir, const char *name)
{
	char wal[256], shm[256];
	sqlite3_stmt *s = NULL;
	off_t size = 0;
	int rc = TKM_ERR_IO, e;

	if (sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s,
		NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0)
		rc = TKM_OK;
	sqlite3_finalize(s);
	if (sqlite3_close(db) != SQLITE_OK)
		rc = TKM_ERR_IO;
	snprintf(wal, sizeof(wal), "%s-wal", name);
	snprintf(shm, sizeof(shm), "%s-shm", name);
	if ((e = exists(dir, wal, &size)) < 0 || (e == 1 && size != 0))
		rc = TKM_ERR_IO; /* records still in the WAL: keep it */
	if (rc == TKM_OK &&
	    (unlink_in(dir, wal) != TKM_OK || unlink_in(dir, shm) != TKM_OK))
		rc = TKM_ERR_IO;
	return rc;
}

/* Open DIR/name as a log (schema created if missing). */
static int
open_log(const char *dir, const char *name, sqlite3 **out)
{
	int rc;

	if ((rc = hsm_db_open(dir, name, out)) != TKM_OK)
		return rc;
	if ((rc = hsm_db_exec(*out, schema_sql)) != TKM_OK) {
		sqlite3_close(*out);
		*out = NULL;
		return rc;
	}
	return TKM_OK;
}

/* Seq of the first record of the log DIR/name, 0 if none. */
static uint64_t
first_seq(const char *dir, const char *name)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	uint64_t seq = 0;

	if (open_log(dir, name, &db) != TKM_OK)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT min(seq) FROM records", -1, &s,
		NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		seq = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	(void)close_flushed(db, dir, name);
	return seq;
}

/*
 * The rename that ends a rotation, once DIR/audit.db is archived as
 * audit-<last>.db: the checkpoints follow it, and audit.db.new, holding
 * the next log's first record, becomes audit.db.
 */
static int
finish_rotation(const char *dir, uint64_t last)
{
	char cp[64];
	int rc;

	snprintf(
	    cp, sizeof(cp), "audit-%llu.checkpoints", (unsigned long long)last);
	rc = rename_in(dir, CP_NAME, cp, 1);
	if (rename_in(dir, DB_NEW, DB_NAME, 0) != TKM_OK)
		rc = TKM_ERR_IO;
	if (sync_dir(dir) != TKM_OK)
		rc = TKM_ERR_IO;
	return rc;
}

/*
 * At open, what a crash in hsm_audit_rotate() left: audit.db.new beside
 * audit.db is a rotation that had not archived the old log yet (it stays
 * the log; the half-made next one goes); audit.db.new alone is one that
 * had (it is finished). The last seq of the archived log is one before
 * the next log's first.
 */
static int
recover(const char *dir)
{
	int db, nw;
	uint64_t first;

	if ((nw = exists(dir, DB_NEW, NULL)) <= 0)
		return nw;
	if ((db = exists(dir, DB_NAME, NULL)) < 0)
		return TKM_ERR_IO;
	if (db == 1) {
		if (unlink_in(dir, DB_NEW) != TKM_OK ||
		    unlink_in(dir, DB_NEW "-wal") != TKM_OK ||
		    unlink_in(dir, DB_NEW "-shm") != TKM_OK)
			return TKM_ERR_IO;
		return sync_dir(dir);
	}
	if ((first = first_seq(dir, DB_NEW)) < 2)
		return TKM_ERR_IO; /* not a next log: leave it to people */
	return finish_rotation(dir, first - 1);
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
	if (pthread_mutex_init(&au->cp_mu, NULL) != 0) {
		pthread_mutex_destroy(&au->mu);
		free(au);
		return TKM_ERR_NOMEM;
	}
	rc = TKM_ERR_NOMEM;
	if ((au->dir = strdup(dir)) == NULL)
		goto out;
	if ((rc = recover(dir)) != TKM_OK ||
	    (rc = open_log(dir, DB_NAME, &au->db)) != TKM_OK ||
	    (rc = load_tail(au)) != TKM_OK)
		goto out;
	*out = au;
	au = NULL;
	rc = TKM_OK;
out:
	hsm_audit_close(au);
	return rc;
}

/* --- appending ------------------------------------------------------------ */

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

/* Insert r (seq, time and fields set) after prev into db, with its MAC
 * under dk if given; its hash in hash. */
static int
insert(sqlite3 *db, const struct hsm_dk *dk, const uint8_t prev[HLEN],
    const struct hsm_audit_rec *r, uint8_t hash[HLEN])
{
	uint8_t mac[HLEN];
	sqlite3_stmt *s = NULL;
	int rc;

	if (db == NULL)
		return TKM_ERR_IO;
	if ((rc = rec_hash(prev, r, hash)) != TKM_OK ||
	    (dk != NULL && (rc = rec_mac(dk, hash, mac)) != TKM_OK))
		return rc;
	rc = TKM_ERR_IO;
	if (sqlite3_prepare_v2(db,
		"INSERT INTO records (seq, time, actor, op, result, detail,"
		" hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &s, NULL) != SQLITE_OK) {
		rc = hsm_db_fail(db);
		goto out;
	}
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
	    sqlite3_step(s) != SQLITE_DONE) {
		rc = hsm_db_fail(db); /* nothing appended: seq unchanged */
		goto out;
	}
	rc = TKM_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Append record seq to db after prev; its hash in hash. */
static int
append_to(sqlite3 *db, const struct hsm_dk *dk, const uint8_t prev[HLEN],
    uint64_t seq, const char *actor, const char *op, int result,
    const char *detail, uint8_t hash[HLEN])
{
	char b1[FIELD_MAX], b2[FIELD_MAX], b3[FIELD_MAX];
	struct hsm_audit_rec r = {0};

	r.seq = seq;
	r.time = (int64_t)time(NULL);
	r.actor = field(actor, b1, sizeof(b1));
	r.op = field(op, b2, sizeof(b2));
	r.detail = field(detail, b3, sizeof(b3));
	r.result = result;
	return insert(db, dk, prev, &r, hash);
}

/* Append with the lock held. */
static int
append_locked(struct hsm_audit *au, const struct hsm_dk *dk, const char *actor,
    const char *op, int result, const char *detail)
{
	uint8_t hash[HLEN];
	int rc;

	rc = append_to(
	    au->db, dk, au->hash, au->seq + 1, actor, op, result, detail, hash);
	if (rc == TKM_OK) {
		au->seq++;
		memcpy(au->hash, hash, HLEN);
	}
	return rc;
}

/* An automatic checkpoint noted under the lock, made after it. */
struct due {
	int yes;
	uint64_t seq;
	uint8_t hash[HLEN];
	unsigned gen;
	struct hsm_audit_signer sg;
};

static void
due_locked(struct hsm_audit *au, const struct hsm_dk *dk, struct due *d)
{
	d->yes = 0;
	if (dk == NULL || au->signer.key == NULL || au->seq < au->cp_next)
		return;
	d->yes = 1;
	d->seq = au->seq;
	memcpy(d->hash, au->hash, HLEN);
	d->gen = au->gen;
	d->sg = au->signer;
	au->cp_next = au->seq - au->seq % EVERY + EVERY;
}

static void auto_checkpoint(
    struct hsm_audit *au, const struct hsm_dk *dk, const struct due *d);

int
hsm_audit_append(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *actor, const char *op, int result, const char *detail)
{
	struct due d;
	int rc;

	if (au == NULL)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&au->mu);
	rc = append_locked(au, dk, actor, op, result, detail);
	due_locked(au, dk, &d);
	pthread_mutex_unlock(&au->mu);
	if (d.yes)
		auto_checkpoint(au, dk, &d);
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
	struct due d;
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
	due_locked(au, dk, &d);
	pthread_mutex_unlock(&au->mu);
	if (d.yes)
		auto_checkpoint(au, dk, &d);
	return rc;
}

/* What was suppressed since the last records is written too: at close
 * (without MAC: DK may already be gone) and before a rotation. Locked. */
static void
rate_flush(struct hsm_audit *au, const struct hsm_dk *dk)
{
	size_t i;

	for (i = 0; i <= RATE_SLOTS; i++)
		if (au->rates[i].suppressed > 0)
			(void)rate_write(au, dk, &au->rates[i],
			    au->rates[i].actor, au->rates[i].suppressed,
			    (int64_t)time(NULL));
}

void
hsm_audit_close(struct hsm_audit *au)
{
	if (au == NULL)
		return;
	if (au->db != NULL) {
		rate_flush(au, NULL);
		sqlite3_close(au->db);
	}
	free(au->dir);
	pthread_mutex_destroy(&au->cp_mu);
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
	if (au->db == NULL ||
	    sqlite3_prepare_v2(au->db,
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

/* --- checkpoints --------------------------------------------------------- */

/*
 * The line (docs/audit.md), fields in this order, one space apart:
 *   TKMS-AUDIT-CHECKPOINT 1   format and version
 *   serial=S                  the HSM's serial, 1..16 of [0-9A-Za-z]
 *   seq=N                     the record, decimal
 *   hash=H                    its hash, 64 hex digits
 *   time=T                    when signed, Unix time, decimal
 *   key=K                     the signer's public key X || Y, 128 hex
 *   sig=G                     SM2 signature r || s, 128 hex, with the
 *                             default ID (GB/T 32918.2 §6.1, GM/T 0009)
 *                             over every byte before " sig="
 */
struct cp {
	char serial[HSM_AUDIT_SERIAL_MAX + 1];
	uint64_t seq;
	int64_t time;
	uint8_t hash[HLEN];
	uint8_t key[TKM_SM2_PUB_LEN];
	uint8_t sig[TKM_SM2_SIG_LEN];
	size_t signed_len; /* bytes before " sig=" */
};

static int
serial_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > HSM_AUDIT_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= 'a' && s[i] <= 'z')))
			return 0;
	return 1;
}

/* Consume the literal lit or fail. */
static int
rd_lit(struct tkm_rd *rd, const char *lit)
{
	const uint8_t *p;
	size_t n = strlen(lit);

	if (tkm_rd_view(rd, &p, n) != TKM_OK || memcmp(p, lit, n) != 0)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

/* Decimal digits up to the next space (consumed), at most 2^63 - 1. */
static int
rd_dec(struct tkm_rd *rd, uint64_t *out)
{
	struct tkm_rd f;
	uint64_t v = 0;
	size_t i;

	if (tkm_rd_until(rd, ' ', &f) != TKM_OK || f.len == 0 || f.len > 19)
		return TKM_ERR_INPUT;
	for (i = 0; i < f.len; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return TKM_ERR_INPUT;
		v = v * 10 + (uint64_t)(f.p[i] - '0');
	}
	if (v > INT64_MAX)
		return TKM_ERR_INPUT;
	*out = v;
	return TKM_OK;
}

static int
cp_parse(const char *s, size_t len, struct cp *c)
{
	struct tkm_rd rd = tkm_rd_of(s, len), f;
	uint64_t t;

	memset(c, 0, sizeof(*c));
	if (rd_lit(&rd, CP_MAGIC "serial=") != TKM_OK ||
	    tkm_rd_until(&rd, ' ', &f) != TKM_OK ||
	    !serial_ok((const char *)f.p, f.len))
		return TKM_ERR_INPUT;
	memcpy(c->serial, f.p, f.len);
	if (rd_lit(&rd, "seq=") != TKM_OK || rd_dec(&rd, &c->seq) != TKM_OK ||
	    rd_lit(&rd, "hash=") != TKM_OK ||
	    tkm_rd_hex(&rd, c->hash, HLEN) != TKM_OK ||
	    rd_lit(&rd, " time=") != TKM_OK || rd_dec(&rd, &t) != TKM_OK ||
	    rd_lit(&rd, "key=") != TKM_OK ||
	    tkm_rd_hex(&rd, c->key, sizeof(c->key)) != TKM_OK)
		return TKM_ERR_INPUT;
	c->time = (int64_t)t;
	c->signed_len = len - rd.len;
	if (rd_lit(&rd, " sig=") != TKM_OK ||
	    tkm_rd_hex(&rd, c->sig, sizeof(c->sig)) != TKM_OK ||
	    tkm_rd_end(&rd) != TKM_OK)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

/* The line for (seq, hash) now, signed by key. */
static int
cp_sign(struct tkm_sm2 *key, const char *serial, uint64_t seq,
    const uint8_t hash[HLEN], char line[HSM_AUDIT_CP_MAX])
{
	uint8_t pub[TKM_SM2_PUB_LEN], sig[TKM_SM2_SIG_LEN];
	char hh[2 * HLEN + 1], kh[2 * TKM_SM2_PUB_LEN + 1],
	    sh[2 * TKM_SM2_SIG_LEN + 1];
	size_t n;
	int rc, k;

	line[0] = '\0';
	if (!serial_ok(serial, strlen(serial)))
		return TKM_ERR_INPUT;
	if ((rc = tkm_sm2_pub(key, pub)) != TKM_OK)
		return rc;
	tkm_hex_encode(hash, HLEN, hh);
	tkm_hex_encode(pub, sizeof(pub), kh);
	k = snprintf(line, HSM_AUDIT_CP_MAX,
	    CP_MAGIC "serial=%s seq=%llu hash=%s time=%lld key=%s", serial,
	    (unsigned long long)seq, hh, (long long)time(NULL), kh);
	if (k < 0 || (size_t)k + 5 + sizeof(sh) > HSM_AUDIT_CP_MAX)
		return TKM_ERR_INTERNAL;
	n = (size_t)k;
	if ((rc = tkm_sm2_sign(key, NULL, 0, line, n, sig)) != TKM_OK) {
		line[0] = '\0';
		return rc;
	}
	tkm_hex_encode(sig, sizeof(sig), sh);
	snprintf(line + n, HSM_AUDIT_CP_MAX - n, " sig=%s", sh);
	return TKM_OK;
}

/* Append line to DIR/audit.checkpoints, unless a rotation came between
 * (gen): it then belongs to the archived log, whose last checkpoint the
 * rotation wrote. */
static int
cp_write(struct hsm_audit *au, unsigned gen, const char *line)
{
	char path[4096], buf[HSM_AUDIT_CP_MAX + 1];
	struct stat sb;
	size_t n = strlen(line), off = 0;
	ssize_t w;
	int fd, rc = TKM_OK, created = 0;

	if (n >= HSM_AUDIT_CP_MAX ||
	    path_of(au->dir, CP_NAME, path, sizeof(path)) != TKM_OK)
		return TKM_ERR_INPUT;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	pthread_mutex_lock(&au->cp_mu);
	if (gen != au->gen)
		goto out;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path,
		    O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC |
			O_NOFOLLOW,
		    0600);
		created = 1;
	}
	if (fd < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		rc = TKM_ERR_IO;
		goto out;
	}
	/* One write: a reader (verify, or a shipper tailing the file) sees
	 * whole lines. */
	while (off < n && (w = write(fd, buf + off, n - off)) > 0)
		off += (size_t)w;
	if (off != n || fsync(fd) != 0) {
		/* No half line for the next checkpoint to follow: verify
		 * would report it as a malformed (tampered-looking) line. */
		if (ftruncate(fd, sb.st_size) == 0)
			(void)fsync(fd);
		rc = TKM_ERR_IO;
	}
	close(fd);
	if (rc == TKM_OK && created)
		rc = sync_dir(au->dir);
out:
	pthread_mutex_unlock(&au->cp_mu);
	return rc;
}

/* Sign (seq, hash) with the signer's key under dk and keep it. */
static int
cp_make(struct hsm_audit *au, const struct hsm_dk *dk,
    const struct hsm_audit_signer *sg, uint64_t seq, const uint8_t hash[HLEN],
    unsigned gen, char line[HSM_AUDIT_CP_MAX])
{
	char serial[HSM_AUDIT_SERIAL_MAX + 1] = "";
	struct tkm_sm2 *key = NULL;
	int rc;

	line[0] = '\0';
	if ((rc = sg->serial(sg->arg, serial)) != TKM_OK ||
	    (rc = sg->key(sg->arg, dk, &key)) != TKM_OK)
		goto out;
	serial[HSM_AUDIT_SERIAL_MAX] = '\0';
	if ((rc = cp_sign(key, serial, seq, hash, line)) == TKM_OK)
		rc = cp_write(au, gen, line);
out:
	tkm_sm2_free(key);
	return rc;
}

static void
auto_checkpoint(
    struct hsm_audit *au, const struct hsm_dk *dk, const struct due *d)
{
	char line[HSM_AUDIT_CP_MAX], detail[96];
	int rc;

	if ((rc = cp_make(au, dk, &d->sg, d->seq, d->hash, d->gen, line)) ==
	    TKM_OK)
		return;
	/* Said in the log itself, so that a missing checkpoint is not
	 * silent; the next is due EVERY records on. */
	snprintf(detail, sizeof(detail),
	    "automatic checkpoint of record %llu failed",
	    (unsigned long long)d->seq);
	if (hsm_audit_append(au, dk, "hsm", "audit.checkpoint", rc, detail) !=
	    TKM_OK)
		return; /* nothing more to be done */
}

void
hsm_audit_set_signer(struct hsm_audit *au, const struct hsm_audit_signer *s)
{
	if (au == NULL)
		return;
	pthread_mutex_lock(&au->mu);
	if (s != NULL && s->serial != NULL && s->key != NULL)
		au->signer = *s;
	else
		memset(&au->signer, 0, sizeof(au->signer));
	pthread_mutex_unlock(&au->mu);
}

int
hsm_audit_checkpoint(struct hsm_audit *au, const struct hsm_dk *dk,
    char line[HSM_AUDIT_CP_MAX], uint64_t *seq)
{
	struct hsm_audit_signer sg;
	uint8_t hash[HLEN];
	unsigned gen;

	line[0] = '\0';
	*seq = 0;
	if (au == NULL)
		return TKM_ERR_INPUT;
	if (dk == NULL)
		return TKM_ERR_SEALED;
	pthread_mutex_lock(&au->mu);
	sg = au->signer;
	*seq = au->seq;
	memcpy(hash, au->hash, HLEN);
	gen = au->gen;
	pthread_mutex_unlock(&au->mu);
	if (sg.key == NULL)
		return TKM_ERR_NO_KEY;
	return cp_make(au, dk, &sg, *seq, hash, gen, line);
}

/* --- verification ------------------------------------------------------- */

struct check {
	const struct hsm_dk *dk;
	struct hsm_audit_report *rep;
	uint8_t prev[HLEN];
	uint64_t next; /* seq expected */
	uint64_t last; /* seq of the newest record seen, 0 if none */
};

static void
bad(struct hsm_audit_report *rep, uint64_t seq, const char *why)
{
	if (rep->why == NULL) {
		rep->first_bad = seq;
		rep->why = why;
	}
}

/* As bad(), the message formatted into rep->msg. */
static void __attribute__((format(printf, 3, 4)))
badf(struct hsm_audit_report *rep, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (rep->why != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
	va_end(ap);
	bad(rep, seq, rep->msg);
}

/* One record against the chain so far; the chain then continues from the
 * stored hash, so that only the first fault is reported. */
static int
check_rec(struct check *k, const struct hsm_audit_rec *r)
{
	uint8_t h[HLEN], m[HLEN];
	int rc;

	/* A log begun by a rotation starts after the archived one. */
	if (++k->rep->records == 1 && strcmp(r->op, OP_CONTINUED) == 0)
		k->next = r->seq;
	if (r->mac == NULL)
		k->rep->unmacked++;
	if (r->seq != k->next)
		bad(k->rep, r->seq,
		    r->seq > k->next ? "gap before this record "
				       "(deleted records)"
				     : "seq out of order");
	if ((rc = rec_hash(k->prev, r, h)) != TKM_OK)
		return rc;
	if (!tkm_ct_eq(h, r->hash, HLEN))
		bad(k->rep, r->seq,
		    "hash mismatch (record edited, reordered or "
		    "the one before it removed)");
	else if (r->mac != NULL && k->dk != NULL) {
		if ((rc = rec_mac(k->dk, h, m)) != TKM_OK)
			return rc;
		if (!tkm_ct_eq(m, r->mac, HLEN))
			bad(k->rep, r->seq,
			    "MAC mismatch (rewritten without the "
			    "device key, or another device key)");
	}
	memcpy(k->prev, r->hash, HLEN);
	k->next = r->seq + 1;
	return TKM_OK;
}

/* The whole chain. Locked. */
static int
check_chain(struct hsm_audit *au, struct check *k)
{
	struct hsm_audit_rec r;
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO, st;

	if (au->db == NULL ||
	    sqlite3_prepare_v2(
		au->db, SELECT_SQL " ORDER BY seq", -1, &s, NULL) != SQLITE_OK)
		goto out;
	while ((st = sqlite3_step(s)) == SQLITE_ROW) {
		k->last = (uint64_t)sqlite3_column_int64(s, 0);
		if (row(s, &r) != TKM_OK) {
			bad(k->rep, k->last,
			    "malformed record (NULL field or bad hash/MAC "
			    "length)");
			k->rep->records++;
			continue;
		}
		if ((rc = check_rec(k, &r)) != TKM_OK)
			goto out;
	}
	rc = st == SQLITE_DONE ? TKM_OK : TKM_ERR_IO;
out:
	sqlite3_finalize(s);
	return rc;
}

/* The stored hash of record seq: 1 found, 0 not, TKM_ERR_IO. Locked. */
static int
stored_hash(struct hsm_audit *au, uint64_t seq, uint8_t out[HLEN])
{
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO, st;

	if (sqlite3_prepare_v2(au->db, "SELECT hash FROM records WHERE seq = ?",
		-1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq) != SQLITE_OK)
		goto out;
	if ((st = sqlite3_step(s)) == SQLITE_ROW) {
		rc = 0;
		if (sqlite3_column_bytes(s, 0) == HLEN) {
			memcpy(out, sqlite3_column_blob(s, 0), HLEN);
			rc = 1;
		}
	} else if (st == SQLITE_DONE) {
		rc = 0;
	}
out:
	sqlite3_finalize(s);
	return rc;
}

/* What checkpoints are checked against: the identity's public key and
 * the serial, each if known. */
struct trust {
	int has_pub, has_serial;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char serial[HSM_AUDIT_SERIAL_MAX + 1];
};

/* Fingerprint as people see it (ident.h): SM3(X || Y)'s first 8 bytes. */
static void
fingerprint(const uint8_t pub[TKM_SM2_PUB_LEN], char out[17])
{
	uint8_t h[32];

	if (tkm_hash(TKM_SM3, pub, TKM_SM2_PUB_LEN, h) != TKM_OK)
		memset(h, 0, sizeof(h));
	tkm_hex_encode(h, 8, out);
}

/* One checkpoint line (no line end) against the log, whose newest record
 * is last; where says which ("" for the one given). Locked. */
static int
check_cp(struct hsm_audit *au, const struct trust *t, const char *line,
    size_t len, uint64_t last, const char *where, struct hsm_audit_report *rep)
{
	struct tkm_sm2 *k = NULL;
	uint8_t h[HLEN];
	char fp[17], when[32];
	struct tm tm;
	time_t tt;
	struct cp c;
	int rc = TKM_OK, found;

	rep->checkpoints++;
	if (cp_parse(line, len, &c) != TKM_OK) {
		badf(rep, 0, "malformed checkpoint%s", where);
		return TKM_OK;
	}
	if (t->has_pub && !tkm_ct_eq(c.key, t->pub, sizeof(t->pub))) {
		fingerprint(c.key, fp);
		badf(rep, 0,
		    "checkpoint signed by another key (%s), not this HSM's "
		    "identity%s",
		    fp, where);
		return TKM_OK;
	}
	if (tkm_sm2_from_pub(c.key, &k) != TKM_OK ||
	    tkm_sm2_verify(k, NULL, 0, line, c.signed_len, c.sig) != TKM_OK) {
		badf(rep, 0,
		    "checkpoint signature invalid (altered or forged)%s",
		    where);
		goto out;
	}
	if (t->has_serial && strcmp(c.serial, t->serial) != 0) {
		badf(rep, 0, "checkpoint of another HSM (serial %s)%s",
		    c.serial, where);
		goto out;
	}
	if (c.seq == 0)
		goto out; /* of an empty log */
	tt = (time_t)c.time;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)c.time);
	if (c.seq > last) {
		badf(rep, last + 1,
		    "log truncated: checkpoint of %s names record %llu, the "
		    "log "
		    "ends at %llu%s",
		    when, (unsigned long long)c.seq, (unsigned long long)last,
		    where);
		goto out;
	}
	if ((found = stored_hash(au, c.seq, h)) < 0) {
		rc = found;
		goto out;
	}
	if (found == 0)
		badf(rep, c.seq,
		    "record %llu, named by the checkpoint of %s, is missing%s",
		    (unsigned long long)c.seq, when, where);
	else if (!tkm_ct_eq(h, c.hash, HLEN))
		badf(rep, c.seq,
		    "record %llu differs from the checkpoint of %s%s",
		    (unsigned long long)c.seq, when, where);
out:
	tkm_sm2_free(k);
	return rc;
}

/* Every line of DIR/audit.checkpoints. Locked (mu; cp_mu taken here). */
static int
check_file(struct hsm_audit *au, const struct trust *t, uint64_t last,
    struct hsm_audit_report *rep)
{
	char path[4096], buf[HSM_AUDIT_CP_MAX + 2], where[64];
	unsigned long lineno = 0;
	size_t n;
	FILE *fp;
	int rc = TKM_OK, c, whole;

	if (path_of(au->dir, CP_NAME, path, sizeof(path)) != TKM_OK)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&au->cp_mu);
	if ((fp = fopen(path, "re")) == NULL) {
		rc = errno == ENOENT ? TKM_OK : TKM_ERR_IO;
		goto out;
	}
	while (rc == TKM_OK && fgets(buf, sizeof(buf), fp) != NULL) {
		lineno++;
		n = strlen(buf);
		whole = n > 0 && buf[n - 1] == '\n';
		if (!whole && n == sizeof(buf) - 1) {
			/* Longer than any checkpoint: skip the rest. */
			while ((c = getc(fp)) != EOF && c != '\n')
				;
			n = 0;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
				    buf[n - 1] == ' '))
			n--;
		if (n == 0 && whole)
			continue; /* a blank line */
		snprintf(
		    where, sizeof(where), " (%s line %lu)", CP_NAME, lineno);
		rc = check_cp(au, t, buf, n, last, where, rep);
	}
	if (ferror(fp))
		rc = TKM_ERR_IO;
	fclose(fp);
out:
	pthread_mutex_unlock(&au->cp_mu);
	return rc;
}

/* Length of the line at s, without its line end and trailing blanks;
 * *next is where the next line starts. */
static size_t
line_at(const char *s, const char **next)
{
	const char *e = strchr(s, '\n');
	size_t n;

	if (e == NULL)
		e = s + strlen(s);
	*next = *e == '\n' ? e + 1 : e;
	n = (size_t)(e - s);
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	return n;
}

/* The checkpoint text given: one line, or several (a copy of
 * audit.checkpoints kept elsewhere), blank lines skipped. Locked. */
static int
check_given(struct hsm_audit *au, const struct trust *t, const char *text,
    uint64_t last, struct hsm_audit_report *rep)
{
	char where[64] = "";
	const char *p, *next;
	unsigned long lineno = 0, lines = 0;
	size_t n;
	int rc = TKM_OK;

	for (p = text; *p != '\0'; p = next)
		lines += line_at(p, &next) > 0;
	for (p = text; rc == TKM_OK && *p != '\0'; p = next) {
		lineno++;
		if ((n = line_at(p, &next)) == 0)
			continue;
		if (lines > 1)
			snprintf(where, sizeof(where),
			    " (line %lu of those given)", lineno);
		rc = check_cp(au, t, p, n, last, where, rep);
	}
	return rc;
}

int
hsm_audit_verify_with(struct hsm_audit *au, const struct hsm_dk *dk,
    const char *checkpoint, struct hsm_audit_report *rep)
{
	struct check k = {dk, rep, {0}, 1, 0};
	struct hsm_audit_signer sg;
	struct trust t;
	int rc;

	memset(rep, 0, sizeof(*rep));
	memset(&t, 0, sizeof(t));
	if (au == NULL)
		return TKM_ERR_INPUT;
	/* The signer reads admin.db: asked before the log is locked. */
	pthread_mutex_lock(&au->mu);
	sg = au->signer;
	pthread_mutex_unlock(&au->mu);
	if (sg.serial != NULL && sg.serial(sg.arg, t.serial) == TKM_OK) {
		t.serial[HSM_AUDIT_SERIAL_MAX] = '\0';
		t.has_serial = 1;
	}
	if (dk != NULL && sg.pub != NULL && sg.pub(sg.arg, dk, t.pub) == TKM_OK)
		t.has_pub = 1;
	rep->keys_checked = t.has_pub;
	pthread_mutex_lock(&au->mu);
	if ((rc = check_chain(au, &k)) != TKM_OK)
		goto out;
	if (checkpoint != NULL &&
	    (rc = check_given(au, &t, checkpoint, k.last, rep)) != TKM_OK)
		goto out;
	rc = check_file(au, &t, k.last, rep);
out:
	pthread_mutex_unlock(&au->mu);
	rep->ok = rc == TKM_OK && rep->why == NULL;
	return rc;
}

int
hsm_audit_verify(
    struct hsm_audit *au, const struct hsm_dk *dk, struct hsm_audit_report *rep)
{
	return hsm_audit_verify_with(au, dk, NULL, rep);
}

/* --- rotation ------------------------------------------------------------ */

/* DIR/audit.db.new: the next log, its first record seq last+1 naming the
 * archived one. No MAC: the next DK is not known yet. */
static int
make_next(const char *dir, uint64_t last, const uint8_t lhash[HLEN],
    const char *actor)
{
	static const uint8_t zero[HLEN];
	char detail[160], hex[2 * HLEN + 1];
	uint8_t h[HLEN];
	sqlite3 *db = NULL;
	int rc;

	if (unlink_in(dir, DB_NEW) != TKM_OK ||
	    unlink_in(dir, DB_NEW "-wal") != TKM_OK ||
	    unlink_in(dir, DB_NEW "-shm") != TKM_OK)
		return TKM_ERR_IO;
	if ((rc = open_log(dir, DB_NEW, &db)) != TKM_OK)
		return rc;
	tkm_hex_encode(lhash, HLEN, hex);
	snprintf(detail, sizeof(detail),
	    "continues audit-%llu.db, whose last record has hash %s",
	    (unsigned long long)last, hex);
	rc = append_to(
	    db, NULL, zero, last + 1, actor, OP_CONTINUED, TKM_OK, detail, h);
	if (close_flushed(db, dir, DB_NEW) != TKM_OK)
		rc = TKM_ERR_IO;
	if (rc != TKM_OK)
		(void)unlink_in(dir, DB_NEW);
	return rc;
}

int
hsm_audit_rotate(
    struct hsm_audit *au, const struct hsm_dk *dk, const char *actor)
{
	char serial[HSM_AUDIT_SERIAL_MAX + 1] = "", line[HSM_AUDIT_CP_MAX];
	char detail[64], name[64];
	struct hsm_audit_signer sg;
	struct tkm_sm2 *key = NULL;
	uint8_t lhash[HLEN];
	uint64_t last;
	int rc;

	if (au == NULL)
		return TKM_ERR_INPUT;
	/* The key first: the signer may not be called with mu held. */
	pthread_mutex_lock(&au->mu);
	sg = au->signer;
	pthread_mutex_unlock(&au->mu);
	if (dk != NULL && sg.key != NULL &&
	    (sg.serial(sg.arg, serial) != TKM_OK ||
		sg.key(sg.arg, dk, &key) != TKM_OK)) {
		tkm_sm2_free(key);
		key = NULL; /* no last checkpoint, said in the last record */
	}
	serial[HSM_AUDIT_SERIAL_MAX] = '\0';
	pthread_mutex_lock(&au->mu);
	if (au->db == NULL) {
		rc = TKM_ERR_IO;
		goto out;
	}
	rate_flush(au, dk);
	snprintf(detail, sizeof(detail), "archived as audit-%llu.db%s",
	    (unsigned long long)au->seq + 1,
	    key != NULL || dk == NULL || sg.key == NULL
		? ""
		: ", no last checkpoint");
	if ((rc = append_locked(au, dk, actor, OP_CLOSED, TKM_OK, detail)) !=
	    TKM_OK)
		goto out;
	last = au->seq;
	memcpy(lhash, au->hash, HLEN);
	if (key != NULL &&
	    ((rc = cp_sign(key, serial, last, lhash, line)) != TKM_OK ||
		(rc = cp_write(au, au->gen, line)) != TKM_OK))
		goto out;
	if ((rc = make_next(au->dir, last, lhash, actor)) != TKM_OK)
		goto out;
	/* From here the old log is closed; until the rename below an error
	 * reopens it (the next log is dropped). */
	rc = close_flushed(au->db, au->dir, DB_NAME);
	au->db = NULL;
	snprintf(name, sizeof(name), "audit-%llu.db", (unsigned long long)last);
	pthread_mutex_lock(&au->cp_mu);
	if (rc == TKM_OK) {
		if (exists(au->dir, name, NULL) != 0)
			rc = TKM_ERR_IO; /* never overwrite an archive */
		else
			rc = rename_in(au->dir, DB_NAME, name, 0);
	}
	if (rc == TKM_OK) {
		/* The commit point: a crash now is finished at open. */
		rc = finish_rotation(au->dir, last);
		au->gen++;
	} else {
		(void)unlink_in(au->dir, DB_NEW);
	}
	pthread_mutex_unlock(&au->cp_mu);
	if (open_log(au->dir, DB_NAME, &au->db) != TKM_OK ||
	    load_tail(au) != TKM_OK)
		rc = TKM_ERR_IO;
out:
	pthread_mutex_unlock(&au->mu);
	tkm_sm2_free(key);
	return rc;
}
