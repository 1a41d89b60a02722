/*
 * test_kdb.c - the KMS database layer (src/kms/kdb.h, docs/kms-schema.md):
 * migrations from empty, idempotent and concurrent reopen, a newer or
 * foreign database refused, the reference data of appendices 1 and 2,
 * transactions, constraint failures by kind, concurrent writers through
 * kdb_tx, and parameter binding of every type.
 *
 * One binary, two backends: SQLite in a temporary directory, or, when
 * TKMS_PG_URL is set and not empty, PostgreSQL (tests/kms/pg.sh starts a
 * throwaway server and sets it). On PostgreSQL every test gets a schema of
 * its own (search_path in the URL), which is as empty as a new database.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kdb.h"
#include "kdb_impl.h"
#include "refdata.h"

static const char *pg_base;  /* TKMS_PG_URL, or NULL for SQLite */
static struct kdb *pg_admin; /* creates and drops the test schemas */

struct fx {
	char dir[64];    /* SQLite: the temporary directory */
	char schema[48]; /* PostgreSQL: the test's schema */
	char url[1024];
	struct kdb *db;
};

/* --- fixture ------------------------------------------------------------- */

static void
rmtree(const char *path)
{
	char sub[1024];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			rmtree(sub);
		}
		closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

static void
open_ok(struct fx *f, struct kdb **db)
{
	char why[KDB_WHY];
	int rc = kdb_open(f->url, db, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("kdb_open: %s (%s)", why, tkm_strerror(rc));
}

/* A URL naming a database nobody has used. */
static void
fresh_url(struct fx *f)
{
	static int n;

	if (pg_base == NULL) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/tkms-kdb.XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->url, sizeof(f->url), "%s", f->dir);
		return;
	}
	snprintf(f->schema, sizeof(f->schema), "t_%ld_%d", (long)getpid(), ++n);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
	assert_int_equal(kdb_exec_(pg_admin, sql, NULL, 0), TKM_OK);
	snprintf(f->url, sizeof(f->url), "%s%coptions=-csearch_path%%3D%s",
	    pg_base, strchr(pg_base, '?') != NULL ? '&' : '?', f->schema);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fresh_url(f);
	open_ok(f, &f->db);
	*state = f;
	return 0;
}

static void
drop_fresh(struct fx *f)
{
	char sql[128];

	if (pg_base == NULL) {
		rmtree(f->dir);
		return;
	}
	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
	assert_int_equal(kdb_exec_(pg_admin, sql, NULL, 0), TKM_OK);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kdb_close(f->db);
	drop_fresh(f);
	free(f);
	return 0;
}

static void
reopen(struct fx *f)
{
	kdb_close(f->db);
	f->db = NULL;
	open_ok(f, &f->db);
}

static int64_t
count(struct kdb *db, const char *sql)
{
	int64_t v = -1;
	int rc = kdb_int1_(db, &v, sql, NULL, 0);

	if (rc != TKM_OK)
		fail_msg("%s: %s", sql, kdb_errmsg(db));
	return v;
}

static void
scratch(struct kdb *db)
{
	if (kdb_script(db,
		"CREATE TABLE scratch (id INTEGER PRIMARY KEY,"
		" k TEXT UNIQUE, t TEXT, i BIGINT, b BLOB)") != TKM_OK)
		fail_msg("scratch: %s", kdb_errmsg(db));
}

/* --- migrations ---------------------------------------------------------- */

static void
t_migrate_from_empty(void **state)
{
	static const char *const tables[] = {"users", "sessions",
	    "institutions", "hsms", "key_templates", "root_keys", "issued_keys",
	    "proposals", "audit", "maint_apps", "records"};
	struct fx *f = *state;
	struct kdb_rows *r = NULL;
	char sql[128];
	size_t i;

	assert_int_equal(kdb_migrations_known(), 6);
	assert_int_equal(kdb_version(f->db), kdb_migrations_known());
	assert_int_equal(kdb_backend(f->db), pg_base ? KDB_PG : KDB_SQLITE);
	assert_int_equal(kdb_query(f->db, &r,
			     "SELECT version, name FROM schema_migrations"
			     " ORDER BY version"),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	assert_int_equal(kdb_int(r, 0), 1);
	assert_string_equal(kdb_text(r, 1), "001_schema");
	assert_int_equal(kdb_next(r), 1);
	assert_int_equal(kdb_int(r, 0), 2);
	assert_string_equal(kdb_text(r, 1), "002_refdata");
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 1), "003_lifecycle");
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 1), "004_maint");
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 1), "005_hsm_authorised");
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 1), "006_record_signoff");
	assert_int_equal(kdb_next(r), 0);
	kdb_rows_free(r);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(
		    sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		assert_true(count(f->db, sql) >= 0);
	}
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 0);
}

static void
t_reopen_idempotent(void **state)
{
	struct fx *f = *state;
	int i;

	for (i = 0; i < 3; i++)
		reopen(f);
	assert_int_equal(kdb_version(f->db), kdb_migrations_known());
	assert_int_equal(count(f->db, "SELECT count(*) FROM schema_migrations"),
	    kdb_migrations_known());
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions"), 23);
	assert_int_equal(
	    count(f->db, "SELECT count(*) FROM key_templates"), 23);
}

static void
t_newer_refused(void **state)
{
	struct fx *f = *state;
	struct kdb *db = NULL;
	char why[KDB_WHY];

	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO schema_migrations (version, name,"
			     " applied) VALUES ($1, $2, $3)",
			     KDB_INT(kdb_migrations_known() + 1),
			     KDB_TEXT("999_future"), KDB_INT(0)),
	    TKM_OK);
	assert_int_equal(kdb_open(f->url, &db, why, sizeof(why)), TKM_ERR_IO);
	assert_null(db);
	assert_non_null(strstr(why, "newer"));
	assert_non_null(strstr(why, "999_future"));

	/* Nothing was touched: removing the row makes it usable again. */
	assert_int_equal(
	    kdb_exec(f->db, "DELETE FROM schema_migrations WHERE version > $1",
		KDB_INT(kdb_migrations_known())),
	    TKM_OK);
	reopen(f);

	/* A migration of ours under another name: another lineage. */
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE schema_migrations SET name = $1"
			     " WHERE version = 2",
			     KDB_TEXT("002_other")),
	    TKM_OK);
	assert_int_equal(kdb_open(f->url, &db, why, sizeof(why)), TKM_ERR_IO);
	assert_non_null(strstr(why, "002_other"));
}

struct opener {
	const char *url;
	int rc;
	int version;
	char why[KDB_WHY];
};

static void *
open_thread(void *arg)
{
	struct opener *o = arg;
	struct kdb *db = NULL;

	o->rc = kdb_open(o->url, &db, o->why, sizeof(o->why));
	if (db != NULL)
		o->version = kdb_version(db);
	kdb_close(db);
	return NULL;
}

/* Several processes starting on a new database migrate it once. */
static void
t_concurrent_open(void **state)
{
	struct fx *f = *state, g = {0};
	struct opener o[4];
	pthread_t th[4];
	int i;

	(void)f;
	fresh_url(&g);
	for (i = 0; i < 4; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		o[i].url = g.url;
		assert_int_equal(
		    pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (o[i].rc != TKM_OK)
			fail_msg("open %d: %s", i, o[i].why);
		assert_int_equal(o[i].version, kdb_migrations_known());
	}
	open_ok(&g, &g.db);
	assert_int_equal(count(g.db, "SELECT count(*) FROM schema_migrations"),
	    kdb_migrations_known());
	assert_int_equal(count(g.db, "SELECT count(*) FROM institutions"), 23);
	kdb_close(g.db);
	drop_fresh(&g);
}

/* --- reference data ------------------------------------------------------ */

static void
expect_city(struct kdb *db, const char *code, const char *name, const char *iin,
    const char *rec, const char *issuer, int seq)
{
	struct kdb_rows *r = NULL;

	assert_int_equal(kdb_query(db, &r,
			     "SELECT name, iin, cert_record, issuer_code, seq,"
			     " kind FROM institutions WHERE city_code = $1",
			     KDB_TEXT(code)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 0), name);
	assert_string_equal(kdb_text(r, 1), iin);
	assert_string_equal(kdb_text(r, 2), rec);
	assert_string_equal(kdb_text(r, 3), issuer);
	assert_int_equal(kdb_int(r, 4), seq);
	assert_string_equal(kdb_text(r, 5), "city");
	assert_int_equal(kdb_next(r), 0);
	kdb_rows_free(r);
}

static void
t_refdata(void **state)
{
	struct fx *f = *state;
	struct kdb_rows *r = NULL;
	int n;

	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions"), 23);
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions"
				      " WHERE kind = 'city'"),
	    21);
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions"
				      " WHERE kind = 'authority'"),
	    1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions"
				      " WHERE kind = 'operator'"),
	    1);
	/* Appendix 1, first, a few middle and the last row. */
	expect_city(
	    f->db, "5810", "广州市", "310487(03)", "000099", "02205810", 1);
	expect_city(
	    f->db, "5850", "珠海市", "310487(24)", "000102", "01355850", 4);
	expect_city(
	    f->db, "6020", "东莞市", "310487(02)", "000103", "01616020", 5);
	expect_city(
	    f->db, "5880", "佛山市", "310487(07)", "000183", "02775880", 6);
	expect_city(
	    f->db, "6060", "云浮市", "310487(22)", "000198", "02926060", 21);

	/* Every city row as in the C table, in order. */
	assert_int_equal(kdb_query(f->db, &r,
			     "SELECT name, name_en, city_code, iin,"
			     " cert_record, issuer_code FROM institutions"
			     " WHERE kind = 'city' ORDER BY seq"),
	    TKM_OK);
	for (n = 0; kdb_next(r) == 1; n++) {
		assert_true(n < KMS_NCITIES);
		assert_string_equal(kdb_text(r, 0), kms_cities[n].name);
		assert_string_equal(kdb_text(r, 1), kms_cities[n].name_en);
		assert_string_equal(kdb_text(r, 2), kms_cities[n].city_code);
		assert_string_equal(kdb_text(r, 3), kms_cities[n].iin);
		assert_string_equal(kdb_text(r, 4), kms_cities[n].cert_record);
		assert_string_equal(kdb_text(r, 5), kms_cities[n].issuer_code);
	}
	kdb_rows_free(r);
	assert_int_equal(n, 21);

	/* Appendix 2: 23 key types, 46 (type, algorithm) library slots. */
	assert_int_equal(
	    count(f->db, "SELECT count(*) FROM key_templates"), 23);
	assert_int_equal(count(f->db, "SELECT count(DISTINCT des_index) +"
				      " count(DISTINCT sm4_index)"
				      " FROM key_templates"),
	    46);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE category = 'recharge'"),
	    5);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE category = 'consumption'"),
	    4);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE category = 'maintenance'"),
	    11);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE category = 'reserved'"),
	    3);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE clearing = 1"),
	    1);
	assert_int_equal(kdb_query(f->db, &r,
			     "SELECT name, name_zh, des_index, sm4_index,"
			     " category, factor_rule, clearing, description"
			     " FROM key_templates WHERE seq = $1",
			     KDB_INT(8)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 0), "tac");
	assert_string_equal(kdb_text(r, 1), "TAC密钥");
	assert_int_equal(kdb_int(r, 2), 0x308);
	assert_int_equal(kdb_int(r, 3), 0x408);
	assert_string_equal(kdb_text(r, 4), "consumption");
	assert_string_equal(kdb_text(r, 5), "cjt333");
	assert_int_equal(kdb_int(r, 6), 1);
	assert_string_equal(kdb_text(r, 7),
	    "一级分散后发放，用于入网机构所发行的用户卡电子钱包应用TAC密钥。");
	kdb_rows_free(r);
	assert_int_equal(kdb_query(f->db, &r,
			     "SELECT name_zh, seq FROM key_templates"
			     " ORDER BY seq"),
	    TKM_OK);
	for (n = 0; kdb_next(r) == 1; n++) {
		assert_string_equal(kdb_text(r, 0), kms_keytypes[n].name_zh);
		assert_int_equal(kdb_int(r, 1), n);
	}
	kdb_rows_free(r);
	assert_int_equal(n, 23);
	assert_string_equal(kms_keytypes[0].name_zh, "应用维护密钥_01");
	assert_string_equal(kms_keytypes[16].name_zh, "应用密文密钥（AC）");
	assert_string_equal(
	    kms_keytypes[17].name_zh, "互通记录保护密钥-电子现金");
	assert_string_equal(
	    kms_keytypes[22].name_zh, "省级扩展应用管理密钥_02");
}

static void
t_index_plan(void **state)
{
	char fac[17];

	(void)state;
	assert_int_equal(kms_plan_index(0x308, 1), 0x308);
	assert_int_equal(kms_plan_index(0x308, 2), 0x328);
	assert_int_equal(kms_plan_index(0x416, 8), 0x4F6);
	assert_int_equal(kms_plan_index(0x308, 9), 0x308); /* slot reused */
	assert_int_equal(kms_plan_clearing_index(0, 1, 1), 0x500);
	assert_int_equal(kms_plan_clearing_index(1, 21, 2), 0x634);
	/* Every live index of the plan stays inside its own 0x100 range. */
	assert_true(
	    kms_plan_index(KMS_DES_BASE + KMS_NKEYTYPES - 1, 8) < KMS_SM4_BASE);
	assert_true(
	    kms_plan_clearing_index(0, KMS_NCITIES, 8) < KMS_CLEAR_SM4_BASE);

	assert_int_equal(kms_city_factor("cjt333", "5810", fac), TKM_OK);
	assert_string_equal(fac, "5810FF0000000000");
	assert_int_equal(
	    kms_city_factor("city:00ff00ff00ff", "6060", fac), TKM_OK);
	assert_string_equal(fac, "606000FF00FF00FF");
	assert_int_equal(
	    kms_city_factor("city:00ff00ff00f", "6060", fac), TKM_ERR_INPUT);
	assert_int_equal(
	    kms_city_factor("city:00ff00ff00fg", "6060", fac), TKM_ERR_INPUT);
	assert_int_equal(kms_city_factor("cjt333", "581", fac), TKM_ERR_INPUT);
	assert_int_equal(kms_city_factor("cjt333", "58a0", fac), TKM_ERR_INPUT);
	assert_int_equal(kms_city_factor("other", "5810", fac), TKM_ERR_INPUT);
	assert_string_equal(fac, "");
}

/* --- transactions and failures ------------------------------------------- */

static int
add_user(struct kdb *db, const char *name, const char *role)
{
	return kdb_exec(db,
	    "INSERT INTO users (name, role, pwhash, created)"
	    " VALUES ($1, $2, $3, $4)",
	    KDB_TEXT(name), KDB_TEXT(role), KDB_TEXT("$argon2id$x"),
	    KDB_INT(1700000000));
}

static int
tx_fails(struct kdb *db, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = add_user(db, "carol", "auditor")) != TKM_OK)
		return rc;
	return TKM_ERR_PERMISSION;
}

static int
tx_adds(struct kdb *db, void *arg)
{
	return add_user(db, arg, "auditor");
}

static void
t_transactions(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kdb_begin(f->db), TKM_OK);
	assert_true(kdb_in_tx(f->db));
	assert_int_equal(kdb_begin(f->db), TKM_ERR_INTERNAL);
	assert_int_equal(add_user(f->db, "alice", "configurator"), TKM_OK);
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 1);
	assert_int_equal(kdb_rollback(f->db), TKM_OK);
	assert_false(kdb_in_tx(f->db));
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 0);

	assert_int_equal(kdb_begin(f->db), TKM_OK);
	assert_int_equal(add_user(f->db, "alice", "configurator"), TKM_OK);
	assert_int_equal(kdb_commit(f->db), TKM_OK);
	assert_int_equal(kdb_commit(f->db), TKM_ERR_INTERNAL);
	assert_int_equal(kdb_rollback(f->db), TKM_OK); /* none open */
	reopen(f);
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 1);

	/* A failure inside: rolled back (PostgreSQL aborts the transaction,
	 * rollback makes the connection usable again). */
	assert_int_equal(kdb_begin(f->db), TKM_OK);
	assert_int_equal(add_user(f->db, "bob", "auditor"), TKM_OK);
	assert_int_equal(add_user(f->db, "alice", "auditor"), TKM_ERR_INPUT);
	assert_int_equal(kdb_rollback(f->db), TKM_OK);
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 1);

	/* kdb_tx: fn's error is returned and its writes are undone. */
	assert_int_equal(kdb_tx(f->db, tx_fails, NULL), TKM_ERR_PERMISSION);
	assert_false(kdb_in_tx(f->db));
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 1);
	assert_int_equal(kdb_tx(f->db, tx_adds, "dave"), TKM_OK);
	assert_int_equal(kdb_tx(f->db, tx_adds, "dave"), TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_UNIQUE);
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 2);
	assert_int_equal(kdb_tx_retries(f->db), 0);
}

static void
t_constraints(void **state)
{
	struct fx *f = *state;
	int64_t id = 0;

	assert_int_equal(add_user(f->db, "alice", "configurator"), TKM_OK);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_NONE);
	assert_string_equal(kdb_errmsg(f->db), "");

	/* UNIQUE: "exists". */
	assert_int_equal(add_user(f->db, "alice", "auditor"), TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_UNIQUE);
	assert_true(strlen(kdb_errmsg(f->db)) > 0);
	/* PRIMARY KEY too. */
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO audit (seq, time, actor, action,"
			     " detail, hash) VALUES (1, 0, 'a', 'b', '{}', $1)",
			     KDB_BLOB("\x01", 1)),
	    TKM_OK);
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO audit (seq, time, actor, action,"
			     " detail, hash) VALUES (1, 0, 'a', 'b', '{}', $1)",
			     KDB_BLOB("\x02", 1)),
	    TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_UNIQUE);

	/* CHECK, NOT NULL, FOREIGN KEY: another kind. */
	assert_int_equal(add_user(f->db, "eve", "root"), TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_CONSTRAINT);
	assert_int_equal(add_user(f->db, NULL, "auditor"), TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_CONSTRAINT);
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO sessions (token_hash, user_id,"
			     " created, expires, last_seen)"
			     " VALUES ($1, $2, 0, 0, 0)",
			     KDB_BLOB("tok", 3), KDB_INT(9999)),
	    TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_CONSTRAINT);

	/* Nobody approves their own proposal, even by hand. */
	assert_int_equal(
	    kdb_int1(f->db, &id, "SELECT id FROM users WHERE name = $1",
		KDB_TEXT("alice")),
	    TKM_OK);
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO proposals (kind, role, payload,"
			     " proposer_id, approver_id, created, expires)"
			     " VALUES ('x', 'configurator', '{}', $1, $1, 0,"
			     " 0)",
			     KDB_INT(id)),
	    TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_CONSTRAINT);

	/* One active root key per type and algorithm (partial index). */
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO root_keys (template_id, alg, version,"
			     " idx, state, created, changed) SELECT id, 'DES',"
			     " $1, des_index, 'active', 0, 0 FROM"
			     " key_templates WHERE seq = 8",
			     KDB_INT(1)),
	    TKM_OK);
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO root_keys (template_id, alg, version,"
			     " idx, state, created, changed) SELECT id, 'DES',"
			     " $1, des_index + 32, 'active', 0, 0 FROM"
			     " key_templates WHERE seq = 8",
			     KDB_INT(2)),
	    TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_UNIQUE);

	/* A failure is not sticky: the next call clears it. */
	assert_int_equal(count(f->db, "SELECT count(*) FROM users"), 1);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_NONE);

	/* Misuse: parameter counts that do not match, a missing table. */
	assert_int_equal(
	    kdb_exec(f->db, "SELECT $1, $2", KDB_INT(1)), TKM_ERR_INTERNAL);
	assert_int_equal(
	    kdb_exec(f->db, "SELECT 1", KDB_INT(1)), TKM_ERR_INTERNAL);
	assert_int_equal(
	    kdb_exec(f->db, "SELECT '$1'", KDB_INT(1)), TKM_ERR_INTERNAL);
	assert_int_equal(
	    kdb_exec(f->db, "SELECT * FROM no_such_table"), TKM_ERR_IO);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_OTHER);
	assert_int_equal(
	    kdb_int1(f->db, &id, "SELECT id FROM users WHERE name = $1",
		KDB_TEXT("nobody")),
	    TKM_ERR_NO_KEY);
}

/* --- parameters ---------------------------------------------------------- */

static void
t_params(void **state)
{
	static const uint8_t zeros[] = {0, 1, 0, 0xff, 0, 0x80, 0};
	struct fx *f = *state;
	struct kdb_rows *r = NULL;
	const uint8_t *b;
	size_t len = 99;
	int64_t id = 0;

	scratch(f->db);
	/* Every type, out of order ($2 before $1), and RETURNING. */
	assert_int_equal(
	    kdb_int1(f->db, &id,
		"INSERT INTO scratch (i, k, t, b)"
		" VALUES ($2, $1, $3, $4) RETURNING id",
		KDB_TEXT("a"), KDB_INT(INT64_MIN), KDB_TEXT("广州 '$1' \"x\""),
		KDB_BLOB(zeros, sizeof(zeros))),
	    TKM_OK);
	assert_true(id > 0);
	assert_int_equal(kdb_exec(f->db,
			     "INSERT INTO scratch (k, t, i, b)"
			     " VALUES ($1, $2, $3, $4)",
			     KDB_TEXT("b"), KDB_TEXT(""), KDB_INT(INT64_MAX),
			     KDB_BLOB("", 0)),
	    TKM_OK);
	assert_int_equal(kdb_changes(f->db), 1);
	assert_int_equal(
	    kdb_exec(f->db,
		"INSERT INTO scratch (k, t, i, b)"
		" VALUES ($1, $2, $3, $4)",
		KDB_TEXT("c"), KDB_TEXT(NULL), KDB_NULL, KDB_BLOB(NULL, 0)),
	    TKM_OK);

	assert_int_equal(
	    kdb_query(f->db, &r, "SELECT k, t, i, b FROM scratch ORDER BY k"),
	    TKM_OK);
	assert_int_equal(kdb_ncols(r), 4);
	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 0), "a");
	assert_string_equal(kdb_text(r, 1), "广州 '$1' \"x\"");
	assert_true(kdb_int(r, 2) == INT64_MIN);
	b = kdb_blob(r, 3, &len);
	assert_non_null(b);
	assert_int_equal(len, sizeof(zeros));
	assert_memory_equal(b, zeros, sizeof(zeros));
	assert_false(kdb_isnull(r, 3));
	/* Another statement while rows are open. */
	assert_int_equal(
	    kdb_exec(
		f->db, "UPDATE scratch SET i = i WHERE k = $1", KDB_TEXT("zz")),
	    TKM_OK);
	assert_int_equal(kdb_changes(f->db), 0);

	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 0), "b");
	assert_string_equal(kdb_text(r, 1), "");
	assert_false(kdb_isnull(r, 1));
	assert_true(kdb_int(r, 2) == INT64_MAX);
	len = 99;
	b = kdb_blob(r, 3, &len);
	assert_non_null(b); /* empty, not NULL */
	assert_int_equal(len, 0);
	assert_false(kdb_isnull(r, 3));

	assert_int_equal(kdb_next(r), 1);
	assert_string_equal(kdb_text(r, 0), "c");
	assert_true(kdb_isnull(r, 1));
	assert_null(kdb_text(r, 1));
	assert_true(kdb_isnull(r, 2));
	assert_int_equal(kdb_int(r, 2), 0);
	assert_true(kdb_isnull(r, 3));
	len = 99;
	assert_null(kdb_blob(r, 3, &len));
	assert_int_equal(len, 0);
	/* Out of range columns. */
	assert_true(kdb_isnull(r, 4));
	assert_null(kdb_text(r, -1));
	assert_int_equal(kdb_next(r), 0);
	assert_int_equal(kdb_next(r), 0);
	kdb_rows_free(r);

	/* Blobs and NULLs as parameters of a WHERE; quoted "$1" untouched. */
	assert_int_equal(count(f->db, "SELECT count(*) FROM scratch"
				      " WHERE t = '广州 ''$1'' \"x\"'"),
	    1);
	assert_int_equal(kdb_int1(f->db, &id,
			     "SELECT i FROM scratch WHERE b = $1 /* $2 */"
			     " -- $3\n",
			     KDB_BLOB(zeros, sizeof(zeros))),
	    TKM_OK);
	assert_true(id == INT64_MIN);
	assert_int_equal(kdb_int1(f->db, &id,
			     "SELECT count(*) FROM scratch WHERE i IS NULL"
			     " AND $1 = $1",
			     KDB_INT(5)),
	    TKM_OK);
	assert_int_equal(id, 1);
	assert_int_equal(kdb_exec(f->db, "UPDATE scratch SET b = $1, t = $2",
			     KDB_BLOB(zeros, 1), KDB_TEXT("z")),
	    TKM_OK);
	assert_int_equal(kdb_changes(f->db), 3);
	assert_int_equal(
	    kdb_int1(f->db, &id, "SELECT count(*) FROM scratch WHERE b = $1",
		KDB_BLOB("\0", 1)),
	    TKM_OK);
	assert_int_equal(id, 3);
}

static void
t_dialect(void **state)
{
	static const char in[] =
	    "CREATE TABLE a (id INTEGER  PRIMARY\n KEY, b BLOB, c blob,"
	    " d BLOBS, e TEXT DEFAULT 'BLOB', \"BLOB\" TEXT); -- BLOB\n";
	char *s;

	(void)state;
	s = kdb_dialect(KDB_SQLITE, in);
	assert_non_null(s);
	assert_string_equal(s, in);
	free(s);
	s = kdb_dialect(KDB_PG, in);
	assert_non_null(s);
	assert_string_equal(s,
	    "CREATE TABLE a (id BIGINT GENERATED BY DEFAULT AS IDENTITY"
	    " PRIMARY KEY, b BYTEA, c BYTEA, d BLOBS, e TEXT DEFAULT 'BLOB',"
	    " \"BLOB\" TEXT); -- BLOB\n");
	free(s);
}

/* --- concurrency --------------------------------------------------------- */

#define WRITERS 3
#define ROUNDS  40

struct writer {
	const char *url;
	int id;
	int rc;
	uint64_t retries;
	char why[KDB_WHY];
};

struct bump {
	int who, round;
};

/* Read, then write what was read plus one: a lost update unless the
 * transactions are serialised (or retried). */
static int
bump(struct kdb *db, void *arg)
{
	struct bump *b = arg;
	char key[32];
	int64_t n;
	int rc;

	if ((rc = kdb_int1(db, &n, "SELECT i FROM scratch WHERE k = $1",
		 KDB_TEXT("counter"))) != TKM_OK)
		return rc;
	if ((rc = kdb_exec(db, "UPDATE scratch SET i = $1 WHERE k = $2",
		 KDB_INT(n + 1), KDB_TEXT("counter"))) != TKM_OK)
		return rc;
	snprintf(key, sizeof(key), "w%d-%d", b->who, b->round);
	return kdb_exec(db, "INSERT INTO scratch (k, i) VALUES ($1, $2)",
	    KDB_TEXT(key), KDB_INT(n));
}

static void *
writer_thread(void *arg)
{
	struct writer *w = arg;
	struct kdb *db = NULL;
	struct bump b;
	int i;

	if ((w->rc = kdb_open(w->url, &db, w->why, sizeof(w->why))) != TKM_OK)
		return NULL;
	for (i = 0; i < ROUNDS; i++) {
		b.who = w->id;
		b.round = i;
		if ((w->rc = kdb_tx(db, bump, &b)) != TKM_OK) {
			snprintf(w->why, sizeof(w->why), "%s", kdb_errmsg(db));
			break;
		}
	}
	w->retries = kdb_tx_retries(db);
	kdb_close(db);
	return NULL;
}

static void
t_concurrent_writers(void **state)
{
	struct fx *f = *state;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	uint64_t retries = 0;
	int i;

	scratch(f->db);
	assert_int_equal(
	    kdb_exec(f->db, "INSERT INTO scratch (k, i) VALUES ($1, 0)",
		KDB_TEXT("counter")),
	    TKM_OK);
	for (i = 0; i < WRITERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].url = f->url;
		w[i].id = i;
		assert_int_equal(
		    pthread_create(&th[i], NULL, writer_thread, &w[i]), 0);
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		if (w[i].rc != TKM_OK)
			fail_msg("writer %d: %s", i, w[i].why);
		retries += w[i].retries;
	}
	assert_int_equal(count(f->db, "SELECT i FROM scratch"
				      " WHERE k = 'counter'"),
	    WRITERS * ROUNDS);
	/* Each value was read by exactly one transaction. */
	assert_int_equal(count(f->db, "SELECT count(DISTINCT i) FROM scratch"
				      " WHERE k <> 'counter'"),
	    WRITERS * ROUNDS);
	print_message("%s: %llu retried transactions\n",
	    pg_base ? "postgresql" : "sqlite", (unsigned long long)retries);
}

/* PostgreSQL: while a session lock is held (kdb_pin) a lost connection
 * is an error, not silently reopened without the lock; once released the
 * next statement reconnects. The session is cut from a second one with
 * pg_terminate_backend. */
static void
t_pinned_no_reconnect(void **state)
{
	struct fx *f = *state;
	int64_t pid, x;

	if (pg_base == NULL) {
		skip();
		return;
	}
	assert_int_equal(
	    kdb_int1(f->db, &pid, "SELECT pg_backend_pid()"), TKM_OK);
	assert_int_equal(kdb_int1(pg_admin, &x,
			     "SELECT CASE WHEN pg_terminate_backend($1::int)"
			     " THEN 1 ELSE 0 END",
			     KDB_INT(pid)),
	    TKM_OK);
	assert_int_equal(x, 1);
	kdb_pin(f->db, 1);
	/* The statement that finds the session gone fails either way... */
	assert_int_equal(kdb_int1(f->db, &x, "SELECT 1"), TKM_ERR_IO);
	/* ...and while pinned so does the next: no new session. */
	assert_int_equal(kdb_int1(f->db, &x, "SELECT 1"), TKM_ERR_IO);
	kdb_pin(f->db, -1);
	assert_int_equal(kdb_int1(f->db, &x, "SELECT 1"), TKM_OK);
	assert_int_equal(x, 1);
}

/* --- opening ------------------------------------------------------------- */

static void
t_open_errors(void **state)
{
	struct fx *f = *state;
	struct kdb *db = (struct kdb *)1;
	char why[KDB_WHY], path[128];
	FILE *fp;

	(void)f;
	assert_int_equal(kdb_open("", &db, why, sizeof(why)), TKM_ERR_INPUT);
	assert_null(db);
	/* A directory that cannot be created (a file is in the way). */
	snprintf(path, sizeof(path), "/tmp/tkms-kdb-file.%ld", (long)getpid());
	assert_non_null(fp = fopen(path, "w"));
	fclose(fp);
	strncat(path, "/sub", sizeof(path) - strlen(path) - 1);
	assert_int_equal(kdb_open(path, &db, why, sizeof(why)), TKM_ERR_IO);
	assert_null(db);
	assert_true(strlen(why) > 0);
	path[strlen(path) - 4] = '\0';
	unlink(path);
	/* No server there. */
	assert_int_equal(kdb_open("postgresql:///x?host=/nonexistent/tkms", &db,
			     why, sizeof(why)),
	    TKM_ERR_IO);
	assert_null(db);
	assert_non_null(strstr(why, "postgresql"));
	assert_int_equal(
	    kdb_open("postgresql://[bad", &db, NULL, 0), TKM_ERR_IO);
}

/* SQLite: a missing directory is created private, the file 0600. */
static void
t_sqlite_files(void **state)
{
	struct fx g = {0};
	struct stat st;
	char path[1100];

	(void)state;
	snprintf(g.dir, sizeof(g.dir), "/tmp/tkms-kdb.XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	snprintf(g.url, sizeof(g.url), "%s/new", g.dir);
	open_ok(&g, &g.db);
	assert_int_equal(kdb_backend(g.db), KDB_SQLITE);
	assert_int_equal(stat(g.url, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/kms.db", g.url);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/kms.db-wal", g.url);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	kdb_close(g.db);
	rmtree(g.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_migrate_from_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_reopen_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_newer_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_concurrent_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_refdata, setup, teardown),
	    cmocka_unit_test(t_index_plan),
	    cmocka_unit_test_setup_teardown(t_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_constraints, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_params, setup, teardown),
	    cmocka_unit_test(t_dialect),
	    cmocka_unit_test_setup_teardown(
		t_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		t_pinned_no_reconnect, setup, teardown),
	    cmocka_unit_test(t_sqlite_files),
	};
	char why[KDB_WHY];
	int rc;

	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_kdb: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
