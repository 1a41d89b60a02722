/*
 * keystore.c - the key libraries in SQLite (docs/keystore.md).
 *
 * One connection per thread, WAL with synchronous=FULL, every write one
 * committed statement (or part of a restore's one transaction: begin,
 * commit, rollback at the end of the file). A deleted key leaves a row without
 * a blob (a tombstone), so that the version of an index never repeats and
 * caches (keys.c) may key on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "keystore.h"
#include "db.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define SCHEMA_VERSION 1
#define DB_NAME        "keys.db"

static const char schema_sql[] = "CREATE TABLE meta ("
				 " id INTEGER PRIMARY KEY CHECK (id = 1),"
				 " dk_kcv BLOB NOT NULL,"
				 " created INTEGER NOT NULL);"
				 "CREATE TABLE keys ("
				 " lib INTEGER NOT NULL,"
				 " idx INTEGER NOT NULL,"
				 " type TEXT NOT NULL,"
				 " usage TEXT NOT NULL,"
				 " kcv BLOB NOT NULL,"
				 " label TEXT NOT NULL,"
				 " created INTEGER NOT NULL,"
				 " version INTEGER NOT NULL,"
				 " blob BLOB," /* NULL: deleted */
				 " PRIMARY KEY (lib, idx)) WITHOUT ROWID;"
				 "PRAGMA user_version = 1;";

enum { ST_PUT, ST_INSERT, ST_GET, ST_DEL, ST_LIST, ST_N };

static const char *const stmt_sql[ST_N] = {
    [ST_PUT] = "INSERT INTO keys (lib, idx, type, usage, kcv, label,"
	       " created, version, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	       " 1, ?8) ON CONFLICT (lib, idx) DO UPDATE SET"
	       " type = excluded.type, usage = excluded.usage,"
	       " kcv = excluded.kcv, label = excluded.label,"
	       " created = excluded.created, version = version + 1,"
	       " blob = excluded.blob RETURNING version",
    /* The same, but a live key is left alone: no row comes back. A
     * deleted one (tombstone) is reused and keeps counting versions. */
    [ST_INSERT] = "INSERT INTO keys (lib, idx, type, usage, kcv, label,"
		  " created, version, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
		  " ?7, 1, ?8) ON CONFLICT (lib, idx) DO UPDATE SET"
		  " type = excluded.type, usage = excluded.usage,"
		  " kcv = excluded.kcv, label = excluded.label,"
		  " created = excluded.created, version = version + 1,"
		  " blob = excluded.blob WHERE keys.blob IS NULL"
		  " RETURNING version",
    [ST_GET] = "SELECT lib, idx, type, usage, kcv, label, created, version,"
	       " blob FROM keys WHERE lib = ?1 AND idx = ?2"
	       " AND blob IS NOT NULL",
    [ST_DEL] = "UPDATE keys SET blob = NULL, type = '', usage = '',"
	       " kcv = x'', label = ''"
	       " WHERE lib = ?1 AND idx = ?2 AND blob IS NOT NULL",
    [ST_LIST] = "SELECT lib, idx, type, usage, kcv, label, created, version,"
		" blob FROM keys WHERE (?1 = 0 OR lib = ?1)"
		" AND blob IS NOT NULL ORDER BY lib, idx",
};

static const char *const lib_names[] = {NULL, "des", "sm4", "rsa", "sm2"};

int
hsm_lib_parse(const char *name)
{
	int i;

	for (i = HSM_LIB_DES; name != NULL && i <= HSM_LIB_SM2; i++)
		if (strcasecmp(name, lib_names[i]) == 0)
			return i;
	return 0;
}

const char *
hsm_lib_name(int lib)
{
	return lib >= HSM_LIB_DES && lib <= HSM_LIB_SM2 ? lib_names[lib] : NULL;
}

struct hsm_keystore {
	sqlite3 *db;
	const struct hsm_dk *dk;
	sqlite3_stmt *st[ST_N];
};

static int
check_index(int lib, unsigned index)
{
	switch (lib) {
	case HSM_LIB_DES:
	case HSM_LIB_SM4:
		return index <= HSM_SYM_MAX_INDEX ? TKM_OK : TKM_ERR_INDEX;
	case HSM_LIB_RSA:
	case HSM_LIB_SM2:
		return index >= 1 && index <= HSM_ASYM_MAX_INDEX
			   ? TKM_OK
			   : TKM_ERR_INDEX;
	default:
		return TKM_ERR_INPUT;
	}
}

/* What a record is bound to (dk.h); alg is the algorithm for symmetric
 * libraries and the library itself for asymmetric ones. */
static int
wrap_ctx(int lib, unsigned index, const char *type, struct hsm_wrap_ctx *c)
{
	memset(c, 0, sizeof(*c));
	if (strlen(type) != HSM_TYPE_LEN)
		return TKM_ERR_KEY_TYPE;
	c->lib = (uint8_t)lib;
	c->index = (uint16_t)index;
	memcpy(c->type, type, HSM_TYPE_LEN + 1);
	switch (lib) {
	case HSM_LIB_DES:
		c->alg = TKM_DES;
		break;
	case HSM_LIB_SM4:
		c->alg = TKM_SM4;
		break;
	default:
		c->alg = (uint8_t)lib;
	}
	return TKM_OK;
}

/* Remember DK's KCV in a new store; refuse another DK (TKM_ERR_SEALED). */
static int
pin_dk(struct hsm_keystore *ks)
{
	static const char get[] = "SELECT dk_kcv FROM meta WHERE id = 1";
	static const char put[] =
	    "INSERT INTO meta (id, dk_kcv, created) VALUES (1, ?1, ?2)";
	sqlite3_stmt *s = NULL;
	uint8_t kcv[8];
	int rc = TKM_ERR_IO, step;

	hsm_dk_kcv(ks->dk, kcv);
	if (sqlite3_prepare_v2(ks->db, get, -1, &s, NULL) != SQLITE_OK) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	step = sqlite3_step(s);
	if (step == SQLITE_ROW) {
		rc = sqlite3_column_bytes(s, 0) == sizeof(kcv) &&
			     tkm_ct_eq(
				 sqlite3_column_blob(s, 0), kcv, sizeof(kcv))
			 ? TKM_OK
			 : TKM_ERR_SEALED;
		goto out;
	}
	if (step != SQLITE_DONE) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(ks->db, put, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, kcv, sizeof(kcv), SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL)) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	rc = TKM_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Create the schema or check its version, and pin DK, in one transaction
 * (workers may open a new store at the same time). */
static int
init_db(struct hsm_keystore *ks)
{
	int rc, ver = 0;

	if ((rc = hsm_db_exec(ks->db, "BEGIN IMMEDIATE")) != TKM_OK)
		return rc;
	if ((rc = hsm_db_user_version(ks->db, &ver)) != TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	if (ver > SCHEMA_VERSION) {
		hsm_db_note(DB_NAME
		    ": written by a newer tkms-hsmd (schema %d, "
		    "this one reads %d)",
		    ver, SCHEMA_VERSION);
		goto out;
	}
	if (ver == 0 && (rc = hsm_db_exec(ks->db, schema_sql)) != TKM_OK)
		goto out;
	if ((rc = pin_dk(ks)) != TKM_OK)
		goto out;
	rc = hsm_db_exec(ks->db, "COMMIT");
out:
	if (rc != TKM_OK)
		sqlite3_exec(
		    ks->db, "ROLLBACK", NULL, NULL, NULL); /* rc says why */
	return rc;
}

/*
 * A damaged page may lie in a part no command reads for months; look at
 * every page now (quick_check: the b-trees, not the index contents), so
 * that a corrupt store refuses to open with a clear cause instead of
 * failing some later command. Milliseconds for a full library.
 */
static int
check_db(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *r;
	int rc = TKM_OK;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL) !=
		SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		rc = hsm_db_fail(db);
	else if ((r = sqlite3_column_text(s, 0)) == NULL ||
		 strcmp((const char *)r, "ok") != 0) {
		hsm_db_note(DB_NAME ": corrupt (quick_check: %.120s)",
		    r != NULL ? (const char *)r : "?");
		rc = TKM_ERR_IO;
	}
	sqlite3_finalize(s);
	return rc;
}

int
hsm_keystore_open(
    const char *dir, const struct hsm_dk *dk, struct hsm_keystore **out)
{
	struct hsm_keystore *ks;
	size_t i;
	int rc;

	*out = NULL;
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return TKM_ERR_NOMEM;
	ks->dk = dk;
	if ((rc = hsm_db_open(dir, DB_NAME, &ks->db)) != TKM_OK)
		goto out;
	if ((rc = init_db(ks)) != TKM_OK || (rc = check_db(ks->db)) != TKM_OK)
		goto out;
	for (i = 0; i < ST_N; i++)
		if (sqlite3_prepare_v3(ks->db, stmt_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &ks->st[i],
			NULL) != SQLITE_OK) {
			rc = hsm_db_fail(ks->db);
			goto out;
		}
	*out = ks;
	ks = NULL;
	rc = TKM_OK;
out:
	hsm_keystore_close(ks);
	return rc;
}

void
hsm_keystore_close(struct hsm_keystore *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(ks->st[i]);
	sqlite3_close(ks->db);
	free(ks);
}

static int
check_info(const struct hsm_key_info *info)
{
	if (memchr(info->type, 0, sizeof(info->type)) == NULL ||
	    memchr(info->usage, 0, sizeof(info->usage)) == NULL ||
	    memchr(info->label, 0, sizeof(info->label)) == NULL)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

/* Write one record with statement st (ST_PUT or ST_INSERT) in its own
 * committed transaction, or in the caller's (hsm_keystore_begin). */
static int
write_key(struct hsm_keystore *ks, int st, struct hsm_key_info *info,
    const uint8_t *secret, size_t len)
{
	sqlite3_stmt *s = ks->st[st];
	struct hsm_wrap_ctx c;
	uint8_t *blob = NULL;
	size_t bloblen;
	int64_t now = (int64_t)time(NULL);
	int rc, step;

	if ((rc = check_info(info)) != TKM_OK ||
	    (rc = check_index(info->lib, info->index)) != TKM_OK ||
	    (rc = wrap_ctx(info->lib, info->index, info->type, &c)) != TKM_OK)
		return rc;
	if (len == 0 || len > HSM_MAX_SECRET)
		return TKM_ERR_DATA_LEN;
	if ((blob = malloc(len + HSM_WRAP_OVERHEAD)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_dk_wrap(ks->dk, &c, secret, len, blob, &bloblen)) !=
	    TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	if (sqlite3_bind_int(s, 1, info->lib) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, (int)info->index) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, info->type, -1, SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_bind_text(s, 4, info->usage, -1, SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_bind_blob(s, 5, info->kcv, sizeof(info->kcv),
		SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 6, info->label, -1, SQLITE_STATIC) !=
		SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, now) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 8, blob, (int)bloblen, SQLITE_STATIC) !=
		SQLITE_OK) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	if ((step = sqlite3_step(s)) == SQLITE_DONE && st == ST_INSERT) {
		rc = TKM_ERR_INDEX; /* occupied: nothing was written */
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	info->version = (unsigned)sqlite3_column_int64(s, 0);
	/* The statement's transaction commits when it runs to completion
	 * (inside an explicit transaction, the statement just ends); a
	 * commit that fails (disk full) rolls the statement back. */
	if ((step = sqlite3_step(s)) != SQLITE_DONE) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	info->created = now;
	info->len = len;
	rc = TKM_OK;
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	free(blob);
	return rc;
}

int
hsm_keystore_put(struct hsm_keystore *ks, struct hsm_key_info *info,
    const uint8_t *secret, size_t len)
{
	return write_key(ks, ST_PUT, info, secret, len);
}

int
hsm_keystore_insert(struct hsm_keystore *ks, struct hsm_key_info *info,
    const uint8_t *secret, size_t len)
{
	return write_key(ks, ST_INSERT, info, secret, len);
}

/* Attributes of the current row of s (columns as in ST_GET). TKM_ERR_VERIFY
 * for a row no put could have written. */
static int
row_info(sqlite3_stmt *s, struct hsm_key_info *info)
{
	const unsigned char *type, *usage, *label;
	int n;

	memset(info, 0, sizeof(*info));
	type = sqlite3_column_text(s, 2);
	usage = sqlite3_column_text(s, 3);
	label = sqlite3_column_text(s, 5);
	n = sqlite3_column_bytes(s, 8);
	if (type == NULL || usage == NULL || label == NULL ||
	    sqlite3_column_bytes(s, 2) != HSM_TYPE_LEN ||
	    (size_t)sqlite3_column_bytes(s, 3) >= sizeof(info->usage) ||
	    (size_t)sqlite3_column_bytes(s, 5) >= sizeof(info->label) ||
	    sqlite3_column_bytes(s, 4) != sizeof(info->kcv) ||
	    n <= HSM_WRAP_OVERHEAD || n > HSM_MAX_SECRET + HSM_WRAP_OVERHEAD)
		return TKM_ERR_VERIFY;
	info->lib = sqlite3_column_int(s, 0);
	info->index = (unsigned)sqlite3_column_int(s, 1);
	memcpy(info->type, type, HSM_TYPE_LEN);
	memcpy(info->usage, usage, (size_t)sqlite3_column_bytes(s, 3));
	memcpy(info->kcv, sqlite3_column_blob(s, 4), sizeof(info->kcv));
	memcpy(info->label, label, (size_t)sqlite3_column_bytes(s, 5));
	info->created = sqlite3_column_int64(s, 6);
	info->version = (unsigned)sqlite3_column_int64(s, 7);
	info->len = (size_t)n - HSM_WRAP_OVERHEAD;
	return TKM_OK;
}

/* A stored record that no put could have written: refused (never used),
 * and said so, since the command only answers 01. */
static void
bad_record(int lib, unsigned index, const char *what)
{
	const char *name = hsm_lib_name(lib);

	/* As the console shows them: 0A1 in des/sm4, 05 in rsa/sm2. */
	hsm_db_note(lib == HSM_LIB_DES || lib == HSM_LIB_SM4
			? DB_NAME ": corrupt or altered record at %s %03X "
				  "(%s): refused"
			: DB_NAME ": corrupt or altered record at %s %02u "
				  "(%s): refused",
	    name != NULL ? name : "?", index, what);
}

int
hsm_keystore_get(struct hsm_keystore *ks, int lib, unsigned index,
    struct hsm_key_info *info, uint8_t *secret, size_t cap, size_t *len)
{
	sqlite3_stmt *s = ks->st[ST_GET];
	/* cppcheck-suppress uninitvar ; only its address is taken here */
	struct hsm_key_info tmp, *in = info != NULL ? info : &tmp;
	struct hsm_wrap_ctx c;
	size_t n;
	int rc, step;

	memset(in, 0, sizeof(*in));
	if (len == NULL)
		len = &n;
	*len = 0;
	if ((rc = check_index(lib, index)) != TKM_OK)
		return rc;
	if (sqlite3_bind_int(s, 1, lib) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, (int)index) != SQLITE_OK) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	step = sqlite3_step(s);
	if (step == SQLITE_DONE) {
		rc = TKM_ERR_NO_KEY;
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	if ((rc = row_info(s, in)) != TKM_OK) {
		bad_record(lib, index, "impossible attributes");
		goto out;
	}
	if (secret != NULL) {
		if (in->len > cap) {
			rc = TKM_ERR_SPACE;
			goto out;
		}
		if ((rc = wrap_ctx(lib, index, in->type, &c)) != TKM_OK ||
		    (rc = hsm_dk_unwrap(ks->dk, &c, sqlite3_column_blob(s, 8),
			 (size_t)sqlite3_column_bytes(s, 8), secret, len)) !=
			TKM_OK) {
			if (rc == TKM_ERR_VERIFY)
				bad_record(lib, index, "fails its MAC");
			goto out;
		}
	} else {
		*len = in->len;
	}
	rc = TKM_OK;
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != TKM_OK)
		memset(in, 0, sizeof(*in));
	return rc;
}

int
hsm_keystore_delete(struct hsm_keystore *ks, int lib, unsigned index)
{
	sqlite3_stmt *s = ks->st[ST_DEL];
	int rc;

	if ((rc = check_index(lib, index)) != TKM_OK)
		return rc;
	if (sqlite3_bind_int(s, 1, lib) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, (int)index) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	rc = sqlite3_changes(ks->db) == 1 ? TKM_OK : TKM_ERR_NO_KEY;
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

int
hsm_keystore_list(struct hsm_keystore *ks, int lib,
    int (*fn)(void *arg, const struct hsm_key_info *info), void *arg)
{
	sqlite3_stmt *s = ks->st[ST_LIST];
	struct hsm_key_info info;
	int rc, step;

	if (lib != 0 && (lib < HSM_LIB_DES || lib > HSM_LIB_SM2))
		return TKM_ERR_INPUT;
	if (sqlite3_bind_int(s, 1, lib) != SQLITE_OK) {
		rc = hsm_db_fail(ks->db);
		goto out;
	}
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = row_info(s, &info)) != TKM_OK) {
			bad_record(sqlite3_column_int(s, 0),
			    (unsigned)sqlite3_column_int(s, 1),
			    "impossible attributes");
			goto out;
		}
		if ((rc = fn(arg, &info)) != TKM_OK)
			goto out;
	}
	rc = step == SQLITE_DONE ? TKM_OK : hsm_db_fail(ks->db);
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

/*
 * Zeroise. A connection of its own, so that the workers' may stay open:
 * they hold no transaction between commands, so the deletes, the VACUUM
 * (which rewrites the file without the freed pages) and the checkpoint
 * (which copies the WAL back and truncates it to zero bytes) can all
 * finish. secure_delete is set by hsm_db_open already; it is set again
 * here because this function's promise depends on it.
 */
int
hsm_keystore_wipe(const char *dir)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc, ver = 0;

	if ((rc = hsm_db_open(dir, DB_NAME, &db)) != TKM_OK)
		return rc;
	if ((rc = hsm_db_exec(db, "PRAGMA secure_delete = ON")) != TKM_OK ||
	    (rc = hsm_db_exec(db, "BEGIN IMMEDIATE")) != TKM_OK)
		goto out;
	if ((rc = hsm_db_user_version(db, &ver)) == TKM_OK && ver != 0)
		rc = hsm_db_exec(db, "DELETE FROM keys; DELETE FROM meta");
	if (rc == TKM_OK)
		rc = hsm_db_exec(db, "COMMIT");
	if (rc != TKM_OK) {
		sqlite3_exec(
		    db, "ROLLBACK", NULL, NULL, NULL); /* rc says why */
		goto out;
	}
	if ((rc = hsm_db_exec(db, "VACUUM")) != TKM_OK)
		goto out;
	/* busy = 1 in the first column: a reader kept part of the WAL. */
	rc = TKM_ERR_IO;
	if (sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s,
		NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0)
		rc = TKM_OK;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}

/*
 * Transactions. write_key() steps its statement to SQLITE_DONE, which
 * commits it when no transaction is open and only ends the statement
 * inside one, so put, insert and delete work the same in both; the
 * durability promise moves to hsm_keystore_commit(). BEGIN IMMEDIATE
 * takes the write lock at once, so that a restore never fails halfway
 * because a worker wrote first (the worker waits, up to the busy timeout).
 */
int
hsm_keystore_begin(struct hsm_keystore *ks)
{
	if (!sqlite3_get_autocommit(ks->db))
		return TKM_ERR_INTERNAL; /* no nesting */
	return hsm_db_exec(ks->db, "BEGIN IMMEDIATE");
}

/* A COMMIT that fails (e.g. the disk is full) may leave the transaction
 * open: roll it back, so that a failed commit changes nothing. */
int
hsm_keystore_commit(struct hsm_keystore *ks)
{
	if (sqlite3_get_autocommit(ks->db))
		return TKM_ERR_INTERNAL; /* SQLite rolled it back already */
	if (hsm_db_exec(ks->db, "COMMIT") == TKM_OK)
		return TKM_OK;
	hsm_keystore_rollback(ks);
	return TKM_ERR_IO;
}

void
hsm_keystore_rollback(struct hsm_keystore *ks)
{
	if (!sqlite3_get_autocommit(ks->db))
		sqlite3_exec(ks->db, "ROLLBACK", NULL, NULL, NULL);
}
