/*
 * db.h - the one way tkms-hsmd opens its SQLite files (keys.db, admin.db,
 * audit.db): DIR/NAME created mode 0600 with the directory fsynced when it
 * is new (so the file survives a crash before its first acknowledged
 * write), WAL checked to have taken, synchronous=FULL, secure_delete (freed
 * pages zeroed), trusted_schema off, and a busy timeout so that concurrent
 * writers wait instead of failing. One connection per thread
 * (SQLITE_OPEN_NOMUTEX).
 *
 * A new file is made complete (one page, application_id 'TKMS') under a
 * temporary name and linked into place, so an existing empty file is
 * damage (a truncated store) and is refused, never taken for a new one.
 * A file that cannot be opened for writing (read-only file system) is
 * refused at open, not at the first write.
 *
 * Why a failure happened: every failure of these functions, and every
 * one a caller reports with hsm_db_fail(), is noted as one line naming
 * the file and the cause ("keys.db: disk full (SQLite: database or disk
 * is full)", "keys.db: read-only ...", "keys.db: corrupt ..."), logged
 * (the same line at most once per 10 s per thread); the first one since
 * hsm_db_cause_clear() is kept for the calling thread, so that an answer
 * can name the cause rather than a consequence (docs/keystore.md
 * "Faults").
 */
#ifndef HSM_DB_H
#define HSM_DB_H

#include <sqlite3.h>

#include "tkm/err.h"

#define HSM_DB_BUSY_MS 10000

int hsm_db_open(
    const char *dir, const char *name, sqlite3 **out) TKM_MUST_CHECK;
/* sqlite3_exec without results: TKM_OK or TKM_ERR_IO. */
int hsm_db_exec(sqlite3 *db, const char *sql) TKM_MUST_CHECK;
/* PRAGMA user_version (the schema version). */
int hsm_db_user_version(sqlite3 *db, int *ver) TKM_MUST_CHECK;
/* Note the last failure on db (above); TKM_ERR_NOMEM for SQLite's
 * NOMEM, TKM_ERR_IO for everything else. db may be NULL (no memory). */
int hsm_db_fail(sqlite3 *db) TKM_MUST_CHECK;
/* This thread's first noted failure since hsm_db_cause_clear(), or
 * NULL. */
const char *hsm_db_cause(void);
/* Note a cause found above SQLite (a record failing its MAC, a schema
 * from a newer program): same line format, logged and kept alike. */
void hsm_db_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hsm_db_cause_clear(void);

#endif
