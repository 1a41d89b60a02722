/*
 * db.c - opening the HSM's SQLite files (db.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

/*
 * Create DIR/NAME 0600 if missing and fsync it and DIR, so that the file a
 * first acknowledged write goes into cannot vanish in a crash; SQLite then
 * gives its WAL and SHM files the same mode.
 */
static int
create_file(const char *dir, const char *path)
{
	int fd, rc = TKM_OK;

	fd = open(
	    path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == EEXIST ? TKM_OK : TKM_ERR_IO;
	if (fsync(fd) != 0)
		rc = TKM_ERR_IO;
	close(fd);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return TKM_ERR_IO;
	if (fsync(fd) != 0)
		rc = TKM_ERR_IO;
	close(fd);
	return rc;
}

int
hsm_db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
		   ? TKM_OK
		   : TKM_ERR_IO;
}

int
hsm_db_user_version(sqlite3 *db, int *ver)
{
	sqlite3_stmt *s = NULL;
	int rc = TKM_ERR_IO;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*ver = sqlite3_column_int(s, 0);
		rc = TKM_OK;
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
	int rc = TKM_ERR_IO;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW &&
	    (mode = sqlite3_column_text(s, 0)) != NULL &&
	    strcmp((const char *)mode, "wal") == 0)
		rc = TKM_OK;
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
	if ((rc = create_file(dir, path)) != TKM_OK)
		return rc;
	rc = TKM_ERR_IO;
	if (sqlite3_open_v2(path, &db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, HSM_DB_BUSY_MS) != SQLITE_OK ||
	    set_wal(db) != TKM_OK ||
	    hsm_db_exec(db, "PRAGMA synchronous = FULL") != TKM_OK ||
	    hsm_db_exec(db, "PRAGMA secure_delete = ON") != TKM_OK ||
	    hsm_db_exec(db, "PRAGMA trusted_schema = OFF") != TKM_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return TKM_OK;
}
