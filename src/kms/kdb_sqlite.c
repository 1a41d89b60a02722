/*
 * kdb_sqlite.c - the SQLite backend of kdb.h: DIR/kms.db.
 *
 * Opened as the HSM opens its files (src/hsm/db.c): the file created 0600,
 * complete, and linked into place with its directory fsynced before first
 * use (an empty kms.db is refused as truncated), WAL checked to have
 * taken, synchronous=FULL (an acknowledged commit survives a crash),
 * foreign keys on, trusted_schema off, and a busy timeout so that writers
 * of other connections queue instead of failing. Statements are prepared
 * per call; $n parameters become ?n (SQLite reads "$1" as a *named*
 * parameter numbered by first appearance, which would bind "$2 ... $1"
 * the wrong way round).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "http.h"
#include "kdb_impl.h"
#include "tkm/sqlcause.h"

#define DB_NAME "kms.db"
/* 'TKMS' in the header of a new file (PRAGMA application_id); it also
 * makes a new file non-empty, so that an empty kms.db is damage. */
#define APP_ID     "1414221139"
#define RELOG_SECS 10

/*
 * A storage failure (disk full, read-only, corrupt, I/O error) of an open
 * database is logged as well as answered: the operator must see it, not
 * just the client (kdb_open's own failures go to its caller, which says
 * them once). The same line once per RELOG_SECS per thread: a full disk
 * fails every write.
 */
static void
log_storage(const struct kdb *db)
{
	static _Thread_local char last[256];
	static _Thread_local time_t at;
	const char *msg = kdb_errmsg(db);
	time_t now = time(NULL);

	if (!db->ready)
		return;
	if (strncmp(last, msg, sizeof(last) - 1) == 0 && now - at < RELOG_SECS)
		return;
	snprintf(last, sizeof(last), "%s", msg);
	at = now;
	kms_log("database: %s", msg);
}

/* A failed system call on kms.db: logged, recorded, TKM_ERR_IO. */
static int
sys_fail(struct kdb *db, const char *what)
{
	int e = errno;
	const char *c = tkm_errno_cause(e);

	kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_STORAGE, DB_NAME ": %s (%s: %s)",
	    c != NULL ? c : "cannot be used", what, strerror(e));
	log_storage(db);
	return TKM_ERR_IO;
}

static enum kdb_fail
classify(int ext)
{
	switch (ext) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return KDB_FAIL_UNIQUE;
	case SQLITE_BUSY:
	case SQLITE_BUSY_SNAPSHOT:
	case SQLITE_BUSY_RECOVERY:
	case SQLITE_LOCKED:
	case SQLITE_LOCKED_SHAREDCACHE:
		return KDB_FAIL_RETRY;
	}
	if ((ext & 0xff) == SQLITE_CONSTRAINT)
		return KDB_FAIL_CONSTRAINT;
	return KDB_FAIL_OTHER;
}

/* Record the connection's last error; returns the tkm_err for it. */
static int
sq_err(struct kdb *db)
{
	sqlite3 *h = db->h;
	int ext = sqlite3_extended_errcode(h);
	enum kdb_fail f = classify(ext);
	const char *c = tkm_sqlite_cause(ext, sqlite3_system_errno(h));
	int rc;

	if (c != NULL) {
		kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_STORAGE,
		    DB_NAME ": %s (sqlite: %s)", c, sqlite3_errmsg(h));
		log_storage(db);
		return TKM_ERR_IO;
	}
	if ((ext & 0xff) == SQLITE_NOMEM)
		rc = TKM_ERR_NOMEM;
	else if (f == KDB_FAIL_UNIQUE || f == KDB_FAIL_CONSTRAINT)
		rc = TKM_ERR_INPUT;
	else
		rc = TKM_ERR_IO;
	return kdb_seterr(db, rc, f, "sqlite: %s", sqlite3_errmsg(h));
}

/*
 * Create DIR (0700) when missing, and DIR/kms.db (0600) as a database of
 * one page (its header, with our application id), complete and fsynced
 * under a temporary name, then linked into place and the directory
 * fsynced: kms.db is never seen empty or half-made, so an empty kms.db is
 * damage (truncated) and is refused, never taken for a new database.
 * link() does not replace: a kmsd that made it first keeps its file.
 */
static int
create_file(struct kdb *db, const char *dir, const char *path)
{
	static atomic_uint seq;
	char tmp[4096];
	sqlite3 *h = NULL;
	int fd, n, rc = TKM_OK;

	n = snprintf(tmp, sizeof(tmp), "%s/.%s.new.%ld.%u", dir, DB_NAME,
	    (long)getpid(), atomic_fetch_add(&seq, 1));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return kdb_seterr(db, TKM_ERR_INPUT, KDB_FAIL_OTHER,
		    "directory name too long");
	fd =
	    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sys_fail(db, "create");
	close(fd);
	if (sqlite3_open_v2(tmp, &h,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK ||
	    sqlite3_exec(h,
		"PRAGMA synchronous = FULL; PRAGMA application_id = " APP_ID,
		NULL, NULL, NULL) != SQLITE_OK) {
		db->h = h;
		rc = sq_err(db);
		db->h = NULL;
	} else if (link(tmp, path) != 0 && errno != EEXIST) {
		rc = sys_fail(db, "create");
	}
	sqlite3_close(h);
	unlink(tmp);
	if (rc != TKM_OK)
		return rc;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sys_fail(db, "open the directory");
	if (fsync(fd) != 0)
		rc = sys_fail(db, "sync the directory");
	close(fd);
	return rc;
}

/* Make DIR and kms.db if missing; refuse an empty kms.db (above) unless
 * a WAL beside it holds its pages (made by an older kmsd). */
static int
prepare_file(struct kdb *db, const char *dir, const char *path)
{
	char wal[4096 + 8];
	struct stat sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_STORAGE,
		    "cannot create %s: %s", dir, strerror(errno));
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT)
			return sys_fail(db, "stat");
		return create_file(db, dir, path);
	}
	if (sb.st_size > 0)
		return TKM_OK;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0 && sb.st_size > 0)
		return TKM_OK;
	kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_STORAGE,
	    DB_NAME ": corrupt (an empty file: truncated?); restore it from a "
		    "copy, or remove it to start a new database");
	log_storage(db);
	return TKM_ERR_IO;
}

static int
sq_script(struct kdb *db, const char *sql)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_err(db);
	return TKM_OK;
}

/* The durability promises depend on WAL: check that SQLite took it. */
static int
set_wal(struct kdb *db)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int rc = TKM_OK;

	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &s,
		NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		rc = sq_err(db); /* e.g. no room for the WAL */
	else if ((mode = sqlite3_column_text(s, 0)) == NULL ||
		 strcmp((const char *)mode, "wal") != 0)
		rc = kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_OTHER,
		    "sqlite: cannot switch to WAL: %s", sqlite3_errmsg(db->h));
	sqlite3_finalize(s);
	return rc;
}

static int
sq_open(struct kdb *db, const char *dir)
{
	char path[4096];
	sqlite3 *h = NULL;
	int n, rc;

	n = snprintf(path, sizeof(path), "%s/%s", dir, DB_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return kdb_seterr(db, TKM_ERR_INPUT, KDB_FAIL_OTHER,
		    "directory name too long");
	if ((rc = prepare_file(db, dir, path)) != TKM_OK)
		return rc;
	if (sqlite3_open_v2(path, &h,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK) {
		if (h == NULL)
			return kdb_seterr(
			    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
		db->h = h;
		rc = sq_err(db);
		sqlite3_close(h);
		db->h = NULL;
		return rc;
	}
	db->h = h;
	sqlite3_extended_result_codes(h, 1);
	/* SQLite opens a file it may not write read-only and fails only at
	 * the first write: refuse it now (kdb_close closes h). */
	if (sqlite3_db_readonly(h, "main") == 1) {
		kdb_seterr(db, TKM_ERR_IO, KDB_FAIL_STORAGE,
		    DB_NAME ": read-only (the file cannot be opened for "
			    "writing)");
		log_storage(db);
		return TKM_ERR_IO;
	}
	if (sqlite3_busy_timeout(h, KDB_BUSY_MS) != SQLITE_OK)
		return sq_err(db);
	if ((rc = set_wal(db)) != TKM_OK)
		return rc;
	return sq_script(db, "PRAGMA synchronous = FULL;"
			     "PRAGMA foreign_keys = ON;"
			     "PRAGMA secure_delete = ON;"
			     "PRAGMA trusted_schema = OFF");
}

static void
sq_close(struct kdb *db)
{
	sqlite3_close(db->h);
	db->h = NULL;
}

static int
bind(struct kdb *db, sqlite3_stmt *s, const struct kdb_val *v, size_t n)
{
	size_t i;
	int k, rc;

	for (i = 0; i < n; i++) {
		k = (int)i + 1;
		switch (v[i].type) {
		case KDB_T_TEXT_:
			rc = v[i].p == NULL ? sqlite3_bind_null(s, k)
					    : sqlite3_bind_text(s, k, v[i].p,
						  -1, SQLITE_TRANSIENT);
			break;
		case KDB_T_INT_:
			rc = sqlite3_bind_int64(s, k, v[i].i);
			break;
		case KDB_T_BLOB_:
			if (v[i].p == NULL)
				rc = sqlite3_bind_null(s, k);
			else if (v[i].n == 0) /* empty, not NULL */
				rc = sqlite3_bind_zeroblob(s, k, 0);
			else if (v[i].n > 0x7fffffff)
				return kdb_seterr(db, TKM_ERR_INPUT,
				    KDB_FAIL_OTHER, "blob too large");
			else
				rc = sqlite3_bind_blob(s, k, v[i].p,
				    (int)v[i].n, SQLITE_TRANSIENT);
			break;
		default:
			rc = sqlite3_bind_null(s, k);
			break;
		}
		if (rc != SQLITE_OK)
			return sq_err(db);
	}
	return TKM_OK;
}

static int
sq_exec(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n,
    struct kdb_rows **rows)
{
	sqlite3_stmt *s = NULL;
	struct kdb_rows *r;
	const char *tail = NULL;
	char *q;
	int maxp, rc, st;

	if ((q = malloc(strlen(sql) + 1)) == NULL)
		return kdb_seterr(
		    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
	maxp = kdb_param_scan(sql, q);
	if (sqlite3_prepare_v2(db->h, q, -1, &s, &tail) != SQLITE_OK) {
		rc = sq_err(db);
		goto out;
	}
	if (s == NULL ||
	    (tail != NULL && tail[strspn(tail, " \t\r\n;")] != 0)) {
		rc = kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "not exactly one statement");
		goto out;
	}
	/* kdb.c checked $n against n; other parameter forms (?, :a) are
	 * not ours. */
	if (sqlite3_bind_parameter_count(s) != (int)n || maxp != (int)n) {
		rc = kdb_seterr(db, TKM_ERR_INTERNAL, KDB_FAIL_OTHER,
		    "statement has %d parameters, %zu given",
		    sqlite3_bind_parameter_count(s), n);
		goto out;
	}
	if ((rc = bind(db, s, v, n)) != TKM_OK)
		goto out;
	if (rows != NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			rc = kdb_seterr(
			    db, TKM_ERR_NOMEM, KDB_FAIL_OTHER, "no memory");
			goto out;
		}
		r->db = db;
		r->h = s;
		r->ncols = sqlite3_column_count(s);
		*rows = r;
		s = NULL;
		rc = TKM_OK;
		goto out;
	}
	while ((st = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (st != SQLITE_DONE) {
		rc = sq_err(db);
		goto out;
	}
	db->changes = sqlite3_changes64(db->h);
	rc = TKM_OK;
out:
	sqlite3_finalize(s);
	free(q);
	return rc;
}

static int
sq_begin(struct kdb *db, int migrate)
{
	/* IMMEDIATE takes the write lock now: a deferred transaction that
	 * reads and then writes can fail with SQLITE_BUSY_SNAPSHOT, which no
	 * waiting cures. It also serialises migrations between processes. */
	(void)migrate;
	return sq_script(db, "BEGIN IMMEDIATE");
}

static int
sq_next(struct kdb_rows *r)
{
	int st;

	/* Stepping a finished statement would run it again. */
	if (r->h == NULL || r->row == 1)
		return 0;
	st = sqlite3_step(r->h);
	if (st == SQLITE_ROW)
		return 1;
	r->row = 1; /* finished (SQLite's rows use no other field) */
	if (st == SQLITE_DONE) {
		r->db->changes = sqlite3_changes64(r->db->h);
		return 0;
	}
	return sq_err(r->db);
}

static int
sq_isnull(struct kdb_rows *r, int col)
{
	return sqlite3_column_type(r->h, col) == SQLITE_NULL;
}

static const char *
sq_text(struct kdb_rows *r, int col)
{
	return (const char *)sqlite3_column_text(r->h, col);
}

static int64_t
sq_int64(struct kdb_rows *r, int col)
{
	return sqlite3_column_int64(r->h, col);
}

static const uint8_t *
sq_blob(struct kdb_rows *r, int col, size_t *len)
{
	const uint8_t *p;

	if (sqlite3_column_type(r->h, col) == SQLITE_NULL)
		return NULL;
	p = sqlite3_column_blob(r->h, col);
	*len = (size_t)sqlite3_column_bytes(r->h, col);
	/* SQLite answers NULL for an empty blob; we answer non-NULL. */
	return p != NULL ? p : (const uint8_t *)"";
}

static void
sq_rows_free(struct kdb_rows *r)
{
	sqlite3_finalize(r->h);
	free(r);
}

const struct kdb_ops kdb_sqlite_ops = {
    .id = KDB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .script = sq_script,
    .begin = sq_begin,
    .next = sq_next,
    .isnull = sq_isnull,
    .text = sq_text,
    .int64 = sq_int64,
    .blob = sq_blob,
    .rows_free = sq_rows_free,
};
