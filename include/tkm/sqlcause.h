/*
 * sqlcause.h - what went wrong with a database file, in a few words.
 *
 * Both daemons name a storage fault the same way in their logs and answers
 * ("keys.db: disk full (...)", "kms.db: read-only (...)"): these map an
 * errno, or SQLite's extended result code and the errno it saw, to those
 * words. Only sqlite3.h's constants are used; libtkm does not link SQLite.
 */
#ifndef TKM_SQLCAUSE_H
#define TKM_SQLCAUSE_H

/* "disk full", "read-only file system", "permission denied", "I/O error",
 * or NULL for an errno that is not a storage cause. */
const char *tkm_errno_cause(int e);

/* "disk full", "read-only", "corrupt", "corrupt: not a database", an
 * errno's cause for I/O, open and permission errors ("I/O error", "cannot
 * open" when errno says nothing), or NULL for a result that is not a
 * storage fault (busy, constraint, ...). ext: sqlite3_extended_errcode,
 * sys: sqlite3_system_errno. */
const char *tkm_sqlite_cause(int ext, int sys);

#endif
