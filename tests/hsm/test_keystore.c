/*
 * test_keystore.c - the key libraries in SQLite (keystore.h,
 * docs/keystore.md): round trips, versions, ranges, DK binding, records
 * moved by raw SQL, concurrent writers, durability across reopen, and no
 * plaintext in the files.
 */
#include "hsmtest.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "keystore.h"

struct fix {
	char dir[64];
	struct hsm_dk *dk;
	struct hsm_keystore *ks;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	f->dk = hsmtest_dk();
	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &f->ks), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_keystore_close(f->ks);
	hsm_dk_free(f->dk);
	hsmtest_rmdir(f->dir);
	free(f);
	return 0;
}

static void
reopen(struct fix *f)
{
	hsm_keystore_close(f->ks);
	f->ks = NULL;
	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &f->ks), TKM_OK);
}

static struct hsm_key_info
mkinfo(int lib, unsigned index, const char *type, const char *label)
{
	struct hsm_key_info i;

	memset(&i, 0, sizeof(i));
	i.lib = lib;
	i.index = index;
	snprintf(i.type, sizeof(i.type), "%s", type);
	snprintf(i.label, sizeof(i.label), "%s", label);
	memset(i.kcv, 0x5A, sizeof(i.kcv));
	return i;
}

static void
put(struct fix *f, int lib, unsigned index, const char *type, const uint8_t *k,
    size_t len)
{
	struct hsm_key_info i = mkinfo(lib, index, type, "t");

	assert_int_equal(hsm_keystore_put(f->ks, &i, k, len), TKM_OK);
}

/* Run one SQL statement on the file behind the store's back. */
static void
raw_sql(const char *dir, const char *sql)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/keys.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static const uint8_t k16[16] = {0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8,
    0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xD0};
static const uint8_t k16b[16] = {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
    0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40};

/* --- put / get ------------------------------------------------------------ */

static void
test_put_get(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info in = mkinfo(HSM_LIB_DES, 0x123, "001", "zpk"), out;
	uint8_t got[32];
	size_t n;
	int64_t now = (int64_t)time(NULL);

	snprintf(in.usage, sizeof(in.usage), "2");
	in.created = 5;
	in.version = 77;
	assert_int_equal(hsm_keystore_put(f->ks, &in, k16, 16), TKM_OK);
	assert_int_equal(in.version, 1);
	assert_true(in.created >= now && in.created <= now + 2);
	assert_int_equal(in.len, 16);
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, &out, got,
			     sizeof(got), &n),
	    TKM_OK);
	assert_int_equal(n, 16);
	assert_memory_equal(got, k16, 16);
	assert_int_equal(out.lib, HSM_LIB_DES);
	assert_int_equal(out.index, 0x123);
	assert_string_equal(out.type, "001");
	assert_string_equal(out.usage, "2");
	assert_string_equal(out.label, "zpk");
	assert_memory_equal(out.kcv, in.kcv, 8);
	assert_int_equal(out.created, in.created);
	assert_int_equal(out.version, 1);
	assert_int_equal(out.len, 16);

	/* Attributes only. */
	memset(&out, 0xFF, sizeof(out));
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, &out, NULL, 0, &n),
	    TKM_OK);
	assert_int_equal(n, 16);
	assert_string_equal(out.type, "001");
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, NULL, NULL, 0, NULL),
	    TKM_OK);
	/* Too small a buffer: nothing decrypted. */
	memset(got, 0, sizeof(got));
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, &out, got, 15, &n),
	    TKM_ERR_SPACE);
	assert_int_equal(n, 0);
	assert_int_equal(got[0], 0);
	/* The same index in another library is another key. */
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, 0x123, &out, got,
			     sizeof(got), &n),
	    TKM_ERR_NO_KEY);
	assert_int_equal(out.version, 0);
}

static void
test_replace(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info in = mkinfo(HSM_LIB_SM4, 0xFFF, "000", "a"), out;
	uint8_t got[16];
	size_t n;

	assert_int_equal(hsm_keystore_put(f->ks, &in, k16, 16), TKM_OK);
	assert_int_equal(in.version, 1);
	in = mkinfo(HSM_LIB_SM4, 0xFFF, "003", "b");
	assert_int_equal(hsm_keystore_put(f->ks, &in, k16b, 16), TKM_OK);
	assert_int_equal(in.version, 2);
	assert_int_equal(hsm_keystore_put(f->ks, &in, k16b, 8), TKM_OK);
	assert_int_equal(in.version, 3);
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, 0xFFF, &out, got,
			     sizeof(got), &n),
	    TKM_OK);
	assert_int_equal(n, 8);
	assert_memory_equal(got, k16b, 8);
	assert_string_equal(out.type, "003");
	assert_string_equal(out.label, "b");
	assert_int_equal(out.version, 3);
}

/* Deleting leaves the index empty; a later put continues the versions, so
 * that a version never names two different keys. */
static void
test_delete(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info in = mkinfo(HSM_LIB_SM2, 20, "SM2", "");
	uint8_t d[32] = {1, 2, 3};

	assert_int_equal(hsm_keystore_put(f->ks, &in, d, 32), TKM_OK);
	assert_int_equal(hsm_keystore_delete(f->ks, HSM_LIB_SM2, 20), TKM_OK);
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_SM2, 20, &in, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	assert_int_equal(
	    hsm_keystore_delete(f->ks, HSM_LIB_SM2, 20), TKM_ERR_NO_KEY);
	assert_int_equal(
	    hsm_keystore_delete(f->ks, HSM_LIB_SM2, 19), TKM_ERR_NO_KEY);
	in = mkinfo(HSM_LIB_SM2, 20, "SM2", "");
	assert_int_equal(hsm_keystore_put(f->ks, &in, d, 32), TKM_OK);
	assert_int_equal(in.version, 2);
}

/* --- list ----------------------------------------------------------------- */

struct seen {
	int n, stop_at;
	int lib[16];
	unsigned index[16];
};

static int
collect(void *arg, const struct hsm_key_info *info)
{
	struct seen *s = arg;

	if (s->n == s->stop_at)
		return TKM_ERR_IO;
	assert_true(s->n < 16);
	s->lib[s->n] = info->lib;
	s->index[s->n] = info->index;
	s->n++;
	assert_int_equal(info->len, 16);
	return TKM_OK;
}

static void
test_list(void **state)
{
	struct fix *f = *state;
	struct seen s;

	put(f, HSM_LIB_SM4, 7, "000", k16, 16);
	put(f, HSM_LIB_DES, 0x100, "000", k16, 16);
	put(f, HSM_LIB_DES, 2, "000", k16, 16);
	put(f, HSM_LIB_RSA, 1, "RSA", k16, 16);
	put(f, HSM_LIB_DES, 3, "000", k16, 16);
	assert_int_equal(hsm_keystore_delete(f->ks, HSM_LIB_DES, 3), TKM_OK);

	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(hsm_keystore_list(f->ks, 0, collect, &s), TKM_OK);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.lib[0], HSM_LIB_DES);
	assert_int_equal(s.index[0], 2);
	assert_int_equal(s.index[1], 0x100);
	assert_int_equal(s.lib[2], HSM_LIB_SM4);
	assert_int_equal(s.lib[3], HSM_LIB_RSA);

	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(
	    hsm_keystore_list(f->ks, HSM_LIB_DES, collect, &s), TKM_OK);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	assert_int_equal(
	    hsm_keystore_list(f->ks, HSM_LIB_SM2, collect, &s), TKM_OK);
	assert_int_equal(s.n, 0);

	/* fn's error stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(hsm_keystore_list(f->ks, 0, collect, &s), TKM_ERR_IO);
	assert_int_equal(s.n, 1);
	assert_int_equal(
	    hsm_keystore_list(f->ks, 9, collect, &s), TKM_ERR_INPUT);
	/* The statement was reset: the store still works. */
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 2, NULL, NULL, 0, NULL),
	    TKM_OK);
}

/* --- ranges and bad arguments --------------------------------------------- */

static void
test_ranges(void **state)
{
	static const struct {
		int lib;
		unsigned index;
		int rc;
	} cases[] = {
	    {HSM_LIB_DES, 0, TKM_OK},
	    {HSM_LIB_DES, 0xFFF, TKM_OK},
	    {HSM_LIB_DES, 0x1000, TKM_ERR_INDEX},
	    {HSM_LIB_SM4, 0x1000, TKM_ERR_INDEX},
	    {HSM_LIB_SM4, 0xFFFFFFFF, TKM_ERR_INDEX},
	    {HSM_LIB_RSA, 0, TKM_ERR_INDEX},
	    {HSM_LIB_RSA, 1, TKM_OK},
	    {HSM_LIB_RSA, 20, TKM_OK},
	    {HSM_LIB_RSA, 21, TKM_ERR_INDEX},
	    {HSM_LIB_SM2, 0, TKM_ERR_INDEX},
	    {HSM_LIB_SM2, 99, TKM_ERR_INDEX},
	    {0, 1, TKM_ERR_INPUT},
	    {5, 1, TKM_ERR_INPUT},
	    {-1, 1, TKM_ERR_INPUT},
	};
	struct fix *f = *state;
	struct hsm_key_info i;
	uint8_t got[16];
	size_t k, n;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		i = mkinfo(cases[k].lib, cases[k].index, "000", "");
		assert_int_equal(
		    hsm_keystore_put(f->ks, &i, k16, 16), cases[k].rc);
		assert_int_equal(hsm_keystore_get(f->ks, cases[k].lib,
				     cases[k].index, &i, got, sizeof(got), &n),
		    cases[k].rc);
		assert_int_equal(
		    hsm_keystore_delete(f->ks, cases[k].lib, cases[k].index),
		    cases[k].rc);
	}
}

static void
test_bad_put(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info i;
	static uint8_t big[HSM_MAX_SECRET + 1];

	i = mkinfo(HSM_LIB_DES, 1, "000", "");
	assert_int_equal(hsm_keystore_put(f->ks, &i, k16, 0), TKM_ERR_DATA_LEN);
	assert_int_equal(
	    hsm_keystore_put(f->ks, &i, big, sizeof(big)), TKM_ERR_DATA_LEN);
	assert_int_equal(
	    hsm_keystore_put(f->ks, &i, big, HSM_MAX_SECRET), TKM_OK);
	i = mkinfo(HSM_LIB_DES, 1, "00", "");
	assert_int_equal(
	    hsm_keystore_put(f->ks, &i, k16, 16), TKM_ERR_KEY_TYPE);
	i = mkinfo(HSM_LIB_DES, 1, "000", "");
	memset(i.label, 'x', sizeof(i.label)); /* no NUL */
	assert_int_equal(hsm_keystore_put(f->ks, &i, k16, 16), TKM_ERR_INPUT);
	i = mkinfo(HSM_LIB_DES, 1, "000", "");
	memset(i.usage, 'x', sizeof(i.usage));
	assert_int_equal(hsm_keystore_put(f->ks, &i, k16, 16), TKM_ERR_INPUT);
	/* None of these changed the key. */
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 1, &i, NULL, 0, NULL), TKM_OK);
	assert_int_equal(i.version, 1);
	assert_int_equal(i.len, HSM_MAX_SECRET);
}

/* --- DK binding and tampering ----------------------------------------------
 */

static void
test_wrong_dk(void **state)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN] = {{1}, {2}, {4}};
	struct fix *f = *state;
	struct hsm_keystore *ks = (void *)1;
	struct hsm_dk *other;

	put(f, HSM_LIB_DES, 1, "000", k16, 16);
	assert_int_equal(hsm_dk_new(c, &other), TKM_OK);
	assert_int_equal(hsm_keystore_open(f->dir, other, &ks), TKM_ERR_SEALED);
	assert_null(ks);
	hsm_dk_free(other);
	/* The refused open changed nothing. */
	reopen(f);
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 1, NULL, NULL, 0, NULL),
	    TKM_OK);
}

static void
test_raw_sql_moves(void **state)
{
	static const char *const moves[] = {
	    /* another index */
	    "INSERT INTO keys SELECT lib, 0x124, type, usage, kcv, label,"
	    " created, version, blob FROM keys WHERE lib = 1 AND idx = 0x123",
	    /* another library */
	    "INSERT INTO keys SELECT 2, idx, type, usage, kcv, label,"
	    " created, version, blob FROM keys WHERE lib = 1 AND idx = 0x123",
	    /* another type, in place */
	    "UPDATE keys SET type = '000' WHERE lib = 1 AND idx = 0x125",
	};
	struct fix *f = *state;
	uint8_t got[16];
	size_t i, n;

	put(f, HSM_LIB_DES, 0x123, "001", k16, 16);
	put(f, HSM_LIB_DES, 0x125, "001", k16, 16);
	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		raw_sql(f->dir, moves[i]);
	memset(got, 0, sizeof(got));
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, 0x124, NULL, got,
			     sizeof(got), &n),
	    TKM_ERR_VERIFY);
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, 0x123, NULL, got,
			     sizeof(got), &n),
	    TKM_ERR_VERIFY);
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, 0x125, NULL, got,
			     sizeof(got), &n),
	    TKM_ERR_VERIFY);
	assert_int_equal(n, 0);
	assert_int_equal(got[0], 0);
	/* The original is intact. */
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, NULL, got,
			     sizeof(got), &n),
	    TKM_OK);
	assert_memory_equal(got, k16, 16);
	/* Rows no put could write are refused, not trusted. */
	raw_sql(f->dir, "UPDATE keys SET kcv = x'00' WHERE idx = 0x123");
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 0x123, NULL, NULL, 0, NULL),
	    TKM_ERR_VERIFY);
	raw_sql(f->dir, "UPDATE keys SET blob = x'01' WHERE idx = 0x125");
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, 0x125, NULL, got,
			     sizeof(got), &n),
	    TKM_ERR_VERIFY);
}

static void
test_newer_schema_refused(void **state)
{
	struct fix *f = *state;
	struct hsm_keystore *ks;

	raw_sql(f->dir, "PRAGMA user_version = 2");
	assert_int_equal(hsm_keystore_open(f->dir, f->dk, &ks), TKM_ERR_IO);
	assert_null(ks);
}

static void
test_open_errors(void **state)
{
	struct fix *f = *state;
	struct hsm_keystore *ks = (void *)1;
	struct hsm_worker w;
	struct hsm_state st;
	char longdir[5000];

	assert_int_equal(
	    hsm_keystore_open("/nonexistent/dir", f->dk, &ks), TKM_ERR_IO);
	assert_null(ks);
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(hsm_keystore_open(longdir, f->dk, &ks), TKM_ERR_INPUT);
	/* A worker whose store cannot be opened holds nothing. */
	memset(&st, 0, sizeof(st));
	st.dir = "/nonexistent/dir";
	st.dk = f->dk;
	assert_int_equal(hsm_worker_init(&w, &st), TKM_ERR_IO);
	assert_null(w.ks);
	assert_null(w.keys);
	hsm_worker_cleanup(&w);
}

/* --- files ------------------------------------------------------------------
 */

static void
test_reopen_keeps(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info i;
	uint8_t got[16];
	size_t n;

	put(f, HSM_LIB_DES, 0, "000", k16, 16);
	put(f, HSM_LIB_SM4, 0x100, "000", k16b, 16);
	put(f, HSM_LIB_SM4, 0x100, "000", k16, 16);
	reopen(f);
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_DES, 0, &i, got, sizeof(got), &n),
	    TKM_OK);
	assert_memory_equal(got, k16, 16);
	assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, 0x100, &i, got,
			     sizeof(got), &n),
	    TKM_OK);
	assert_memory_equal(got, k16, 16);
	assert_int_equal(i.version, 2);
}

static void
test_file_settings(void **state)
{
	struct fix *f = *state;
	char path[128];
	struct stat sb;
	sqlite3 *db;
	sqlite3_stmt *s;

	snprintf(path, sizeof(path), "%s/keys.db", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 1);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* 1 if the file contains the n bytes p. */
static int
file_has(const char *path, const void *p, size_t n)
{
	static uint8_t buf[4 << 20];
	size_t len;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL)
		return 0;
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return len >= n && memmem(buf, len, p, n) != NULL;
}

static void
scan(struct fix *f, int *seen_wal)
{
	static const char *const names[] = {"keys.db", "keys.db-wal"};
	uint8_t half[8];
	char path[128];
	struct stat sb;
	size_t i;

	memcpy(half, k16 + 4, 8);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		if (i == 1 && stat(path, &sb) == 0 && sb.st_size > 0)
			*seen_wal = 1;
		assert_false(file_has(path, k16, sizeof(k16)));
		assert_false(file_has(path, k16b, sizeof(k16b)));
		assert_false(file_has(path, half, sizeof(half)));
	}
}

static void
test_no_plaintext(void **state)
{
	struct fix *f = *state;
	unsigned i;
	int seen_wal = 0;

	for (i = 0; i < 50; i++)
		put(f, i % 2 ? HSM_LIB_DES : HSM_LIB_SM4, i, "000",
		    i % 3 ? k16 : k16b, 16);
	put(f, HSM_LIB_DES, 1, "000", k16b, 16); /* a replaced key */
	scan(f, &seen_wal); /* while the WAL holds the writes */
	assert_true(seen_wal);
	hsm_keystore_close(f->ks); /* checkpoint into keys.db */
	f->ks = NULL;
	scan(f, &seen_wal);
	reopen(f);
}

/* A writer killed at any moment loses no key it was told was stored. */
static void
killed_writer(struct fix *f, int fd)
{
	struct hsm_keystore *ks;
	struct hsm_key_info i;
	uint8_t k[16];
	unsigned n;

	if (hsm_keystore_open(f->dir, f->dk, &ks) != TKM_OK)
		_exit(1);
	for (n = 0;; n = (n + 1) % (HSM_SYM_MAX_INDEX + 1)) {
		memset(k, (int)n, sizeof(k));
		i = mkinfo(HSM_LIB_SM4, n, "000", "");
		if (hsm_keystore_put(ks, &i, k, sizeof(k)) != TKM_OK ||
		    write(fd, &n, sizeof(n)) != sizeof(n))
			_exit(1);
	}
}

static void
test_kill_keeps_acknowledged(void **state)
{
	struct fix *f = *state;
	unsigned n, acked = 0, round;
	uint8_t k[16], want[16];
	int p[2], status;
	size_t len;
	pid_t pid;

	for (round = 0; round < 3; round++) {
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			killed_writer(f, p[1]);
		}
		close(p[1]);
		/* Kill it a little later each round, mid-write. */
		while (acked < 20 * (round + 1) &&
		       read(p[0], &n, sizeof(n)) == sizeof(n))
			acked++;
		assert_int_equal(kill(pid, SIGKILL), 0);
		while (read(p[0], &n, sizeof(n)) == sizeof(n))
			acked++;
		close(p[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		reopen(f);
		for (n = 0; n < acked && n <= HSM_SYM_MAX_INDEX; n++) {
			assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, n,
					     NULL, k, sizeof(k), &len),
			    TKM_OK);
			memset(want, (int)n, sizeof(want));
			assert_memory_equal(k, want, sizeof(k));
		}
		acked = 0;
	}
}

/* --- concurrency -------------------------------------------------------------
 */

#define THREADS 4
#define PUTS    40

struct worker_arg {
	struct fix *f;
	unsigned id;
	int rc;
};

static void *
writer(void *p)
{
	struct worker_arg *a = p;
	struct hsm_keystore *ks;
	struct hsm_key_info i;
	uint8_t k[16];
	unsigned n;

	a->rc = hsm_keystore_open(a->f->dir, a->f->dk, &ks);
	if (a->rc != TKM_OK)
		return NULL;
	for (n = 0; n < PUTS && a->rc == TKM_OK; n++) {
		memset(k, (int)(a->id * PUTS + n), sizeof(k));
		i = mkinfo(HSM_LIB_DES, a->id * PUTS + n, "000", "");
		a->rc = hsm_keystore_put(ks, &i, k, sizeof(k));
		/* And everybody replaces the same key. */
		i = mkinfo(HSM_LIB_SM4, 0xABC, "000", "");
		if (a->rc == TKM_OK)
			a->rc = hsm_keystore_put(ks, &i, k, sizeof(k));
	}
	hsm_keystore_close(ks);
	return NULL;
}

static void
concurrent(struct fix *f)
{
	struct worker_arg a[THREADS];
	pthread_t th[THREADS];
	struct hsm_key_info i;
	uint8_t k[16], want[16];
	unsigned n;
	size_t len;

	for (n = 0; n < THREADS; n++) {
		a[n].f = f;
		a[n].id = n;
		a[n].rc = -100;
		assert_int_equal(
		    pthread_create(&th[n], NULL, writer, &a[n]), 0);
	}
	for (n = 0; n < THREADS; n++) {
		assert_int_equal(pthread_join(th[n], NULL), 0);
		assert_int_equal(a[n].rc, TKM_OK);
	}
	if (f->ks == NULL)
		assert_int_equal(
		    hsm_keystore_open(f->dir, f->dk, &f->ks), TKM_OK);
	for (n = 0; n < THREADS * PUTS; n++) {
		assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_DES, n, &i, k,
				     sizeof(k), &len),
		    TKM_OK);
		memset(want, (int)n, sizeof(want));
		assert_memory_equal(k, want, 16);
	}
	assert_int_equal(
	    hsm_keystore_get(f->ks, HSM_LIB_SM4, 0xABC, &i, NULL, 0, NULL),
	    TKM_OK);
	assert_int_equal(i.version, THREADS * PUTS);
}

static void
test_concurrent_puts(void **state)
{
	concurrent(*state);
}

/* Four workers opening a brand-new store at once: one creates it, the
 * others wait and find it. */
static void
test_concurrent_create(void **state)
{
	struct fix *f = *state;

	hsm_keystore_close(f->ks);
	f->ks = NULL;
	hsmtest_rmdir(f->dir);
	hsmtest_mkdtemp(f->dir);
	concurrent(f);
}

/* Insert races: every thread claims the same indexes; each index must be
 * won by exactly one thread and hold the winner's key. */
#define RACE_KEYS 40
struct racer {
	struct fix *f;
	unsigned id;
	int rc;
	int won[RACE_KEYS];
};

static void *
racer(void *p)
{
	struct racer *a = p;
	struct hsm_keystore *ks;
	struct hsm_key_info i;
	uint8_t k[16];
	unsigned n;
	int rc;

	if ((a->rc = hsm_keystore_open(a->f->dir, a->f->dk, &ks)) != TKM_OK)
		return NULL;
	for (n = 0; n < RACE_KEYS && a->rc == TKM_OK; n++) {
		memset(k, (int)(a->id + 1), sizeof(k));
		i = mkinfo(HSM_LIB_SM4, 0x800 + n, "000", "");
		rc = hsm_keystore_insert(ks, &i, k, sizeof(k));
		if (rc == TKM_OK)
			a->won[n] = 1;
		else if (rc != TKM_ERR_INDEX)
			a->rc = rc;
	}
	hsm_keystore_close(ks);
	return NULL;
}

static void
test_insert_race(void **state)
{
	struct fix *f = *state;
	struct racer a[THREADS];
	pthread_t th[THREADS];
	struct hsm_key_info i;
	uint8_t k[16], want[16];
	unsigned n, t, winners, winner = 0;
	size_t len;

	memset(a, 0, sizeof(a));
	for (t = 0; t < THREADS; t++) {
		a[t].f = f;
		a[t].id = t;
		assert_int_equal(pthread_create(&th[t], NULL, racer, &a[t]), 0);
	}
	for (t = 0; t < THREADS; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(a[t].rc, TKM_OK);
	}
	for (n = 0; n < RACE_KEYS; n++) {
		for (t = 0, winners = 0; t < THREADS; t++)
			if (a[t].won[n]) {
				winners++;
				winner = t;
			}
		assert_int_equal(winners, 1);
		assert_int_equal(hsm_keystore_get(f->ks, HSM_LIB_SM4, 0x800 + n,
				     &i, k, sizeof(k), &len),
		    TKM_OK);
		memset(want, (int)(winner + 1), sizeof(want));
		assert_memory_equal(k, want, sizeof(want));
		assert_int_equal(i.version, 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_insert_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_dk, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_raw_sql_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_newer_schema_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_file_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_kill_keeps_acknowledged, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_concurrent_puts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_concurrent_create, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
