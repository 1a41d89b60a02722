/*
 * kmsfx.h - the fixture of the KMS tests above kdb: a fresh database per
 * test, SQLite in a temporary directory, or, when TKMS_PG_URL is set and
 * not empty (tests/kms/pg.sh), a PostgreSQL schema of its own. Include
 * once, from the test file, after cmocka.h.
 */
#ifndef KMS_TEST_KMSFX_H
#define KMS_TEST_KMSFX_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kdb.h"

static const char *fx_pg_base;  /* TKMS_PG_URL, or NULL for SQLite */
static struct kdb *fx_pg_admin; /* creates and drops the test schemas */

struct fx {
	char dir[64];
	char schema[48];
	char url[1024];
	struct kdb *db;
};

static void
fx_rmtree(const char *path)
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
			fx_rmtree(sub);
		}
		closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

static int
fx_setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof(*f));
	char why[KDB_WHY], sql[128];

	assert_non_null(f);
	if (fx_pg_base == NULL) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/tkms-kmsfx.XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->url, sizeof(f->url), "%s", f->dir);
	} else {
		snprintf(f->schema, sizeof(f->schema), "t_%ld_%d",
		    (long)getpid(), ++n);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
		assert_int_equal(kdb_exec_(fx_pg_admin, sql, NULL, 0), TKM_OK);
		snprintf(f->url, sizeof(f->url),
		    "%s%coptions=-csearch_path%%3D%s", fx_pg_base,
		    strchr(fx_pg_base, '?') != NULL ? '&' : '?', f->schema);
	}
	if (kdb_open(f->url, &f->db, why, sizeof(why)) != TKM_OK)
		fail_msg("kdb_open: %s", why);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char sql[128];

	kdb_close(f->db);
	if (fx_pg_base == NULL) {
		fx_rmtree(f->dir);
	} else {
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
		assert_int_equal(kdb_exec_(fx_pg_admin, sql, NULL, 0), TKM_OK);
	}
	free(f);
	return 0;
}

/* Before the tests: the backend, and Argon2id at its test cost. */
static int
fx_init(const char *prog)
{
	char why[KDB_WHY];

	setenv("TKMS_ARGON2_FAST", "1", 1);
	fx_pg_base = getenv("TKMS_PG_URL");
	if (fx_pg_base != NULL && fx_pg_base[0] == '\0')
		fx_pg_base = NULL;
	if (fx_pg_base != NULL &&
	    kdb_open(fx_pg_base, &fx_pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "%s: %s: %s\n", prog, fx_pg_base, why);
		return -1;
	}
	print_message("backend: %s\n", fx_pg_base ? "postgresql" : "sqlite");
	return 0;
}

static void
fx_done(void)
{
	kdb_close(fx_pg_admin);
}

#endif
