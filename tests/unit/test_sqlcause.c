/*
 * test_sqlcause - the words both daemons use for a storage fault
 * (include/tkm/sqlcause.h; docs/keystore.md and docs/kms-schema.md
 * "Faults"). Result codes from sqlite3.h, errno values from errno.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tkm/sqlcause.h"

static void
test_errno(void **state)
{
	(void)state;
	assert_string_equal(tkm_errno_cause(ENOSPC), "disk full");
	assert_string_equal(tkm_errno_cause(EDQUOT), "disk full");
	assert_string_equal(tkm_errno_cause(EROFS), "read-only file system");
	assert_string_equal(tkm_errno_cause(EACCES), "permission denied");
	assert_string_equal(tkm_errno_cause(EIO), "I/O error");
	assert_null(tkm_errno_cause(0));
	assert_null(tkm_errno_cause(EINTR));
}

static void
test_sqlite(void **state)
{
	(void)state;
	assert_string_equal(tkm_sqlite_cause(SQLITE_FULL, 0), "disk full");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_READONLY_DBMOVED, 0), "read-only");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_CORRUPT_INDEX, 0), "corrupt");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_NOTADB, 0), "corrupt: not a database");
	/* I/O, open and permission errors say what the system said. */
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_IOERR_WRITE, ENOSPC), "disk full");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_CANTOPEN, EROFS), "read-only file system");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_IOERR_FSYNC, 0), "I/O error");
	assert_string_equal(
	    tkm_sqlite_cause(SQLITE_CANTOPEN, 0), "cannot open");
	/* Not storage faults. */
	assert_null(tkm_sqlite_cause(SQLITE_BUSY, 0));
	assert_null(tkm_sqlite_cause(SQLITE_CONSTRAINT_UNIQUE, 0));
	assert_null(tkm_sqlite_cause(SQLITE_OK, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errno),
	    cmocka_unit_test(test_sqlite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
