/*
 * db.c - opening the HSM's SQLite files, and saying why they fail (db.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "server.h"
#include "tkm/sqlcause.h"

/* 'TKMS' in the header of every file we make (PRAGMA application_id):
 * it also makes a new file non-empty, which is what lets an empty one
 * be recognised as damage (exists_empty). */
#define APP_ID "1414221139"

#define CAUSE_MAX  256
#define RELOG_SECS 10 /* the same cause is logged again after this long */

static _Thread_local char cause[CAUSE_MAX];
#define RECENT     4  /* lines remembered, so that two alternating ones */
#define WINDOW_MAX 20 /* ...do not flood; at most this many per RELOG_SECS */

static _Thread_local struct {
	char line[CAUSE_MAX];
	time_t at;
} recent[RECENT];
static _Thread_local unsigned recent_next;
static _Thread_local time_t window_at;
static _Thread_local unsigned window_lines, window_dropped;

const char *
hsm_db_cause(void)
{
	return cause[0] != '\0' ? cause : NULL;
}

void
hsm_db_cause_clear(void)
{
	cause[0] = '\0';
}

/*
 * Log the line, unless this thread logged the very same one within
 * RELOG_SECS (a full disk fails every write: one line will do; the last
 * RECENT lines count, as keys.db and audit.db fail in turn) or already
 * WINDOW_MAX lines in this RELOG_SECS (then a count), and keep it as the
 * cause if none is kept: the first failure is the cause, what
 * fails after it (the audit record of the refusal) is a consequence.
 */
static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	char line[CAUSE_MAX], *p;
	time_t now = time(NULL);
	unsigned i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (p = line; *p != '\0'; p++) /* one line (quick_check has more) */
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (cause[0] == '\0')
		memcpy(cause, line, sizeof(cause));
	for (i = 0; i < RECENT; i++)
		if (strcmp(line, recent[i].line) == 0 &&
		    now - recent[i].at < RELOG_SECS)
			return;
	if (now - window_at >= RELOG_SECS) {
		if (window_dropped > 0)
			hsm_log("(%u more storage messages not logged)",
			    window_dropped);
		window_at = now;
		window_lines = window_dropped = 0;
	}
	if (window_lines >= WINDOW_MAX) {
		window_dropped++;
		return;
	}
	window_lines++;
	i = recent_next++ % RECENT;
	memcpy(recent[i].line, line, sizeof(recent[i].line));
	recent[i].at = now;
	hsm_log("%s", line);
}

void
hsm_db_note(const char *fmt, ...)
{
	char msg[CAUSE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note("%s", msg);
}

/* The cause in a few words, from SQLite's extended result code: a storage
 * fault (sqlcause.h), or what else stops a store. */
static const char *
sqlite_class(int ext, int sys)
{
	const char *c = tkm_sqlite_cause(ext, sys);

	if (c != NULL)
		return c;
	switch (ext & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "busy (another process holds it)";
	case SQLITE_NOMEM:
		return "out of memory";
	default:
		return "database error";
	}
}

/* The file name db is open on, without its directory. */
static const char *
base_name(sqlite3 *db)
{
	const char *p = db != NULL ? sqlite3_db_filename(db, "main") : NULL;
	const char *slash;

	if (p == NULL || *p == '\0')
		return "database";
	slash = strrchr(p, '/');
	return slash != NULL ? slash + 1 : p;
}

/* The last failure on db, said of file name. */
static int
fail_as(sqlite3 *db, const char *name)
{
	int ext, sys;

	if (db == NULL) {
		note("%s: out of memory", name);
		return TKM_ERR_NOMEM;
	}
	ext = sqlite3_extended_errcode(db);
	sys = sqlite3_system_errno(db);
	note("%s: %s (SQLite: %s)", name, sqlite_class(ext, sys),
	    sqlite3_errmsg(db));
	return (ext & 0xff) == SQLITE_NOMEM ? TKM_ERR_NOMEM : TKM_ERR_IO;
}

int
hsm_db_fail(sqlite3 *db)
{
	return fail_as(db, base_name(db));
}

/* A failed system call on DIR/name: cause noted, TKM_ERR_IO. */
static int
sys_fail(const char *name, const char *what)
{
	int e = errno;
	const char *c = tkm_errno_cause(e);

	note("%s: %s (%s: %s)", name, c != NULL ? c : "cannot be used", what,
	    strerror(e));
	return TKM_ERR_IO;
}

static int
sync_dir(const char *dir, const char *name)
{
	int fd, rc = TKM_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sys_fail(name, "open the directory");
	if (fsync(fd) != 0)
		rc = sys_fail(name, "sync the directory");
	close(fd);
	return rc;
}

/*
 * Make DIR/name as a database of one page (its header, with our
 * application id), complete and fsynced under a temporary name, then link
 * it into place, so that DIR/name is never seen empty or half-written:
 * an empty DIR/name is damage, never a file on its way to being made.
 * link() does not replace: if another thread made it first, theirs stays.
 */
static int
create_file(const char *dir, const char *name, const char *path)
{
	static atomic_uint seq;
	char tmp[4096];
	sqlite3 *db = NULL;
	int fd, n, rc = TKM_ERR_IO;

	n = snprintf(tmp, sizeof(tmp), "%s/.%s.new.%ld.%u", dir, name,
	    (long)getpid(), atomic_fetch_add(&seq, 1));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return TKM_ERR_INPUT;
	fd =
	    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sys_fail(name, "create");
	close(fd);
	if (sqlite3_open_v2(tmp, &db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK ||
	    sqlite3_exec(db,
		"PRAGMA synchronous = FULL; PRAGMA application_id = " APP_ID,
		NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail_as(db, name);
		goto out;
	}
	if (sqlite3_close(db) != SQLITE_OK) {
		rc = fail_as(db, name);
		goto out;
	}
	db = NULL;
	if (link(tmp, path) != 0 && errno != EEXIST) {
		rc = sys_fail(name, "create");
		goto out;
	}
	rc = sync_dir(dir, name);
out:
	sqlite3_close(db);
	unlink(tmp);
	return rc;
}

/* 1: DIR/name exists but is empty and has no WAL that could hold its
 * pages: truncated, never made so (create_file). 0: no such file; 2: a
 * file to open. */
static int
file_state(const char *name, const char *path)
{
	char wal[4096 + 8];
	struct stat sb;

	if (stat(path, &sb) != 0)
		return errno == ENOENT ? 0 : sys_fail(name, "stat");
	if (sb.st_size > 0)
		return 2;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0 && sb.st_size > 0)
		return 2; /* made by an older tkms-hsmd: its pages are there */
	return 1;
}

int
hsm_db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
		   ? TKM_OK
		   : hsm_db_fail(db);
}

int
hsm_db_user_version(sqlite3 *db, int *ver)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*ver = sqlite3_column_int(s, 0);
		rc = TKM_OK;
	} else {
		rc = hsm_db_fail(db);
	}
	sqlite3_finalize(s);
	return rc;
}

/* The durability promises depend on WAL: check that SQLite took it. */
static int
set_wal(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int rc = TKM_OK;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		rc = hsm_db_fail(db);
	else if ((mode = sqlite3_column_text(s, 0)) == NULL ||
		 strcmp((const char *)mode, "wal") != 0) {
		note("%s: cannot switch to WAL (journal mode %s)",
		    base_name(db), mode != NULL ? (const char *)mode : "?");
		rc = TKM_ERR_IO;
	}
	sqlite3_finalize(s);
	return rc;
}

int
hsm_db_open(const char *dir, const char *name, sqlite3 **out)
{
	char path[4096];
	sqlite3 *db = NULL;
	int n, rc;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return TKM_ERR_INPUT;
	switch (file_state(name, path)) {
	case 0:
		if ((rc = create_file(dir, name, path)) != TKM_OK)
			return rc;
		break;
	case 1:
		note("%s: corrupt (an empty file: truncated?); restore it from "
		     "a copy, or remove it to start a new one",
		    name);
		return TKM_ERR_IO;
	case 2:
		break;
	default:
		return TKM_ERR_IO;
	}
	/* SQLite would open a file it may not write read-only, and fail
	 * only at the first write: refuse it here instead. */
	if (sqlite3_open_v2(path, &db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK) {
		rc = hsm_db_fail(db);
		goto fail;
	}
	if (sqlite3_db_readonly(db, "main") == 1) {
		note("%s: read-only (the file cannot be opened for writing)",
		    name);
		rc = TKM_ERR_IO;
		goto fail;
	}
	if (sqlite3_busy_timeout(db, HSM_DB_BUSY_MS) != SQLITE_OK) {
		rc = hsm_db_fail(db);
		goto fail;
	}
	if ((rc = set_wal(db)) != TKM_OK ||
	    (rc = hsm_db_exec(db, "PRAGMA synchronous = FULL")) != TKM_OK ||
	    (rc = hsm_db_exec(db, "PRAGMA secure_delete = ON")) != TKM_OK ||
	    (rc = hsm_db_exec(db, "PRAGMA trusted_schema = OFF")) != TKM_OK)
		goto fail;
	*out = db;
	return TKM_OK;
fail:
	sqlite3_close(db);
	return rc;
}
