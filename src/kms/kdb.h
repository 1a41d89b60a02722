/*
 * kdb.h - the KMS database: one small API over SQLite (the embedded
 * default) and PostgreSQL (several tkms-kmsd sharing one database).
 * docs/kms-schema.md describes the schema, the migrations and the mapping
 * of types between the two.
 *
 * A struct kdb is one connection and MUST be used by one thread at a time;
 * threads that run concurrently open one each. Every statement is written
 * once, in the common subset of both SQL dialects, with parameters $1, $2,
 * ... (rewritten to ?1, ?2, ... for SQLite).
 *
 * Errors: every fallible call returns TKM_OK or a negative enum tkm_err:
 *   TKM_ERR_INPUT     a constraint refused the row (kdb_fail() says which
 *                     kind: KDB_FAIL_UNIQUE is "exists", KDB_FAIL_CONSTRAINT
 *                     a NOT NULL, CHECK or FOREIGN KEY)
 *   TKM_ERR_IO        anything else the database reported (kdb_fail() is
 *                     KDB_FAIL_RETRY for a serialization failure, deadlock
 *                     or busy timeout, KDB_FAIL_SCHEMA for a database that
 *                     this code cannot use, KDB_FAIL_STORAGE for a file
 *                     that cannot be written or read as it is: disk full,
 *                     read-only, corrupt, I/O error; KDB_FAIL_OTHER
 *                     otherwise)
 *   TKM_ERR_NO_KEY    kdb_int1() found no row
 *   TKM_ERR_INTERNAL  misuse: a parameter count that does not match the
 *                     statement, a transaction begun twice, ...
 *   TKM_ERR_NOMEM     allocation failed
 * and kdb_errmsg() keeps the database's own text until the next call.
 * On PostgreSQL a failed statement aborts the transaction it is part of:
 * after an error inside kdb_begin() call kdb_rollback() (kdb_tx() does).
 */
#ifndef KMS_KDB_H
#define KMS_KDB_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/err.h"

#define KDB_WHY        256   /* size of the message buffers, with the NUL */
#define KDB_MAX_PARAMS 64    /* parameters of one statement */
#define KDB_BUSY_MS    10000 /* SQLite: how long a writer waits for another */
#define KDB_TX_TRIES   30    /* kdb_tx(): attempts before giving up */

struct kdb;
struct kdb_rows;

enum kdb_backend { KDB_SQLITE = 1, KDB_PG = 2 };

enum kdb_fail {
	KDB_FAIL_NONE = 0,
	KDB_FAIL_UNIQUE,     /* UNIQUE or PRIMARY KEY: the row exists */
	KDB_FAIL_CONSTRAINT, /* NOT NULL, CHECK, FOREIGN KEY */
	KDB_FAIL_RETRY,      /* serialization failure, deadlock, busy */
	KDB_FAIL_SCHEMA,     /* database newer than the code, or unknown */
	KDB_FAIL_STORAGE,    /* disk full, read-only, corrupt, I/O error */
	KDB_FAIL_OTHER
};

/* A parameter. Build them with the KDB_* macros below. */
enum kdb_type { KDB_T_NULL_ = 0, KDB_T_TEXT_, KDB_T_INT_, KDB_T_BLOB_ };
struct kdb_val {
	enum kdb_type type;
	int64_t i;     /* KDB_INT */
	const void *p; /* KDB_TEXT: NUL-terminated; KDB_BLOB: n bytes */
	size_t n;
};

#define KDB_NULL ((struct kdb_val){.type = KDB_T_NULL_})
/* A NULL pointer binds SQL NULL (handy for optional columns). */
#define KDB_TEXT(s) ((struct kdb_val){.type = KDB_T_TEXT_, .p = (s)})
#define KDB_INT(v)  ((struct kdb_val){.type = KDB_T_INT_, .i = (int64_t)(v)})
/* Any bytes, NULs included; n = 0 is an empty blob, not NULL (unless p is
 * NULL). */
#define KDB_BLOB(b, len)                                                       \
	((struct kdb_val){.type = KDB_T_BLOB_, .p = (b), .n = (len)})

/*
 * The parameter list of the statement macros: a compound literal with a
 * leading placeholder, so that a statement without parameters is still
 * valid C ("{x, }"), and its length.
 */
#define KDB_ARGS_(...)                                                         \
	((const struct kdb_val[]){KDB_NULL, __VA_ARGS__}) + 1,                 \
	    sizeof((const struct kdb_val[]){KDB_NULL, __VA_ARGS__}) /          \
		    sizeof(struct kdb_val) -                                   \
		1

/*
 * Open (and migrate) the database at url:
 *   "postgresql://..." or "postgres://..."  a libpq connection URI;
 *   anything else                           a directory: SQLite DIR/kms.db,
 *                                           both created (0700, 0600) when
 *                                           missing.
 * Applies every migration the database lacks, each in its own transaction
 * (serialised between processes: BEGIN IMMEDIATE in SQLite, an advisory
 * lock in PostgreSQL), and refuses (TKM_ERR_IO, "newer") a database that
 * has a migration this code does not know or one under another name.
 * On failure *out is NULL and why (if not NULL, why_len bytes) says why.
 */
int kdb_open(const char *url, struct kdb **out, char *why,
    size_t why_len) TKM_MUST_CHECK;
/* Close; NULL is a no-op. An open transaction is rolled back. */
void kdb_close(struct kdb *db);

enum kdb_backend kdb_backend(const struct kdb *db);
/* +1 when a session-level lock is taken on db (PostgreSQL advisory lock),
 * -1 when it is released: while any is held a lost connection is an error,
 * not silently reopened without the lock. */
void kdb_pin(struct kdb *db, int delta);
/* The schema version (number of migrations applied). */
int kdb_version(const struct kdb *db);
/* The number of migrations this code knows (the newest version). */
int kdb_migrations_known(void);

/* The last failure of this connection: text ("" if none) and kind. */
const char *kdb_errmsg(const struct kdb *db);
enum kdb_fail kdb_fail(const struct kdb *db);
/* A KDB_FAIL_STORAGE failure's text, naming the file and the cause
 * ("kms.db: disk full (sqlite: ...)"), fit for an answer; NULL for any
 * other failure (whose text may quote SQL or rows: not for clients). */
const char *kdb_cause(const struct kdb *db);

/*
 * Run one statement, discarding any rows; v[0..n) bind $1..$n and n MUST
 * be the statement's highest parameter number. Use the macro:
 *   kdb_exec(db, "UPDATE users SET failures = $1 WHERE name = $2",
 *       KDB_INT(0), KDB_TEXT(name));
 */
int kdb_exec_(struct kdb *db, const char *sql, const struct kdb_val *v,
    size_t n) TKM_MUST_CHECK;
#define kdb_exec(db, sql, ...) kdb_exec_((db), (sql), KDB_ARGS_(__VA_ARGS__))
/* Rows changed by the last successful kdb_exec. */
int64_t kdb_changes(const struct kdb *db);

/*
 * Run one statement and iterate over its rows (SELECT, or INSERT/UPDATE
 * ... RETURNING). *out MUST be released with kdb_rows_free(), also after a
 * kdb_next() error. Other statements may run on the same connection while
 * rows are open.
 */
int kdb_query_(struct kdb *db, struct kdb_rows **out, const char *sql,
    const struct kdb_val *v, size_t n) TKM_MUST_CHECK;
#define kdb_query(db, out, sql, ...)                                           \
	kdb_query_((db), (out), (sql), KDB_ARGS_(__VA_ARGS__))
/* 1: a row is current; 0: no more rows; < 0: error (see kdb_errmsg). */
int kdb_next(struct kdb_rows *r) TKM_MUST_CHECK;
void kdb_rows_free(struct kdb_rows *r);

/*
 * Column getters for the current row (col from 0). Pointers stay valid
 * until the next kdb_next() or kdb_rows_free(). Use the getter of the
 * column's declared type: text for TEXT, kdb_int for BIGINT, kdb_blob for
 * BLOB.
 */
int kdb_ncols(const struct kdb_rows *r);
int kdb_isnull(struct kdb_rows *r, int col);
/* NULL for SQL NULL. */
const char *kdb_text(struct kdb_rows *r, int col);
/* 0 for SQL NULL. */
int64_t kdb_int(struct kdb_rows *r, int col);
/* NULL (and *len 0) for SQL NULL; an empty blob is a non-NULL pointer. */
const uint8_t *kdb_blob(struct kdb_rows *r, int col, size_t *len);

/* The first column of the first row as an integer (counts, RETURNING id);
 * TKM_ERR_NO_KEY if there is no row. */
int kdb_int1_(struct kdb *db, int64_t *out, const char *sql,
    const struct kdb_val *v, size_t n) TKM_MUST_CHECK;
#define kdb_int1(db, out, sql, ...)                                            \
	kdb_int1_((db), (out), (sql), KDB_ARGS_(__VA_ARGS__))

/*
 * Several statements without parameters, in the schema dialect: the
 * column types BLOB and INTEGER PRIMARY KEY (a 64-bit generated id) are
 * mapped for PostgreSQL (BYTEA, BIGINT GENERATED BY DEFAULT AS IDENTITY
 * PRIMARY KEY). For DDL: migrations, and tests' scratch tables.
 */
int kdb_script(struct kdb *db, const char *sql) TKM_MUST_CHECK;

/*
 * Transactions. kdb_begin starts a write transaction: BEGIN IMMEDIATE in
 * SQLite (writers queue for up to KDB_BUSY_MS), SERIALIZABLE in PostgreSQL
 * (a conflict fails with KDB_FAIL_RETRY at any statement or at commit).
 * kdb_rollback outside a transaction is a no-op.
 */
int kdb_begin(struct kdb *db) TKM_MUST_CHECK;
int kdb_commit(struct kdb *db) TKM_MUST_CHECK;
int kdb_rollback(struct kdb *db);
int kdb_in_tx(const struct kdb *db);

/*
 * fn(db, arg) inside a transaction: committed when fn returns TKM_OK,
 * rolled back otherwise; when the failure (of fn's statements or of the
 * commit) is KDB_FAIL_RETRY, the whole transaction runs again after a
 * short random pause, up to KDB_TX_TRIES times. fn MAY therefore run more
 * than once and MUST NOT have effects outside the database (or must be
 * idempotent). Returns fn's or the commit's result.
 */
int kdb_tx(struct kdb *db, int (*fn)(struct kdb *db, void *arg),
    void *arg) TKM_MUST_CHECK;
/* Attempts that kdb_tx() had to repeat on this connection (statistics). */
uint64_t kdb_tx_retries(const struct kdb *db);

#endif
