/*
 * sqlcause.c - storage faults in a few words (sqlcause.h).
 */
#include <errno.h>
#include <stddef.h>

#include <sqlite3.h>

#include "tkm/sqlcause.h"

const char *
tkm_errno_cause(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return "disk full";
	case EROFS:
		return "read-only file system";
	case EACCES:
	case EPERM:
		return "permission denied";
	case EIO:
		return "I/O error";
	default:
		return NULL;
	}
}

const char *
tkm_sqlite_cause(int ext, int sys)
{
	const char *c;

	switch (ext & 0xff) {
	case SQLITE_FULL:
		return "disk full";
	case SQLITE_READONLY:
		return "read-only";
	case SQLITE_CORRUPT:
		return "corrupt";
	case SQLITE_NOTADB:
		return "corrupt: not a database";
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		if ((c = tkm_errno_cause(sys)) != NULL)
			return c;
		return (ext & 0xff) == SQLITE_IOERR ? "I/O error"
						    : "cannot open";
	default:
		return NULL;
	}
}
