/*
 * db.h - the one way tkms-hsmd opens its SQLite files (keys.db, admin.db,
 * audit.db): DIR/NAME created mode 0600 with the directory fsynced when it
 * is new (so the file survives a crash before its first acknowledged
 * write), WAL checked to have taken, synchronous=FULL, secure_delete (freed
 * pages zeroed), trusted_schema off, and a busy timeout so that concurrent
 * writers wait instead of failing. One connection per thread
 * (SQLITE_OPEN_NOMUTEX).
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

#endif
