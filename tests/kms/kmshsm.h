/*
 * kmshsm.h - what the KMS tests that drive real tkms-hsmd processes share
 * (header-only, like tests/hsm/hsmtest.h): start and stop daemons on
 * ephemeral ports with the development DK components, a test database
 * (SQLite in a temporary directory, or PostgreSQL when TKMS_PG_URL is
 * set: tests/kms/pg.sh), HSM rows, host commands, the shared TK at
 * K001/K101 made through host commands only (A0 KEK, A0 TK under it, A6
 * at every HSM), and UB MACs to compare keys by.
 *
 * The includer defines nothing first; it sets hsmd (the daemon's path)
 * and pg_base / pg_admin in main() as test_flows.c does.
 */
#ifndef TKMS_TEST_KMSHSM_H
#define TKMS_TEST_KMSHSM_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "fleet.h"
#include "flows.h"
#include "kdb.h"
#include "refdata.h"

#define DEV_COMPONENTS                                                         \
	"0123456789ABCDEFFEDCBA9876543210,11111111111111112222222222222222,"   \
	"0F0E0D0C0B0A09080706050403020100"
#define TK_DES  "K001"
#define TK_SM4  "K101"
#define TIMEOUT 10000

static const char *pg_base;
static struct kdb *pg_admin;
static char hsmd[1024];

struct hsm {
	char dir[64];
	pid_t pid;
	unsigned port, mport;
	int64_t id; /* row in hsms */
	struct kms_link link;
};

struct fx {
	char dir[64];
	char schema[48];
	char url[1024];
	struct kdb *db;
	int64_t guangzhou, shenzhen;
	struct hsm *h[4];
	struct kms_flow_opts o;
};

/* --- processes ----------------------------------------------------------- */

static inline void
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
			if (snprintf(sub, sizeof(sub), "%s/%s", path,
				e->d_name) >= (int)sizeof(sub))
				continue; /* never under our temporary dirs */
			rmtree(sub);
		}
		closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

static inline void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/*
 * Start tkms-hsmd: dev DK (unless sealed), authorised when asked, one
 * listener (with the whitelist commands, if not NULL) and a management
 * port on 127.0.0.1:0.
 */
static inline struct hsm *
hsm_start(int authorised, int sealed, const char *commands)
{
	struct hsm *h = calloc(1, sizeof(*h));
	char conf[128], ports[128], keys[128], err[128], line[256];
	struct timespec nap = {0, 20 * 1000 * 1000};
	FILE *f;
	int i, fd;

	assert_non_null(h);
	snprintf(h->dir, sizeof(h->dir), "/tmp/tkms-kms-hsm.XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(conf, sizeof(conf), "%s/hsmd.conf", h->dir);
	snprintf(ports, sizeof(ports), "%s/ports", h->dir);
	snprintf(keys, sizeof(keys), "%s/hsm", h->dir);
	snprintf(err, sizeof(err), "%s/stderr", h->dir);
	snprintf(line, sizeof(line),
	    "listen 127.0.0.1:0%s%s\nmanage 127.0.0.1:0\n",
	    commands ? " commands=" : "", commands ? commands : "");
	write_file(conf, line);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		const char *argv[16];
		int n = 0;

		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[n++] = hsmd;
		argv[n++] = "--dir";
		argv[n++] = keys;
		argv[n++] = "--config";
		argv[n++] = conf;
		argv[n++] = "--port-file";
		argv[n++] = ports;
		argv[n++] = "--workers";
		argv[n++] = "2";
		if (!sealed) {
			argv[n++] = "--dev-components";
			argv[n++] = DEV_COMPONENTS;
		}
		if (authorised)
			argv[n++] = "--dev-authorised";
		argv[n] = NULL;
		execv(hsmd, (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 1000; i++) {
		int status;

		if ((f = fopen(ports, "r")) != NULL)
			break;
		if (waitpid(h->pid, &status, WNOHANG) == h->pid)
			fail_msg("%s exited (%d) before listening; see %s",
			    hsmd, status, err);
		nanosleep(&nap, NULL);
	}
	if (f == NULL)
		fail_msg("%s wrote no port file in 20 s", hsmd);
	while (fgets(line, sizeof(line), f) != NULL) {
		char addr[64];
		unsigned p;

		/* "ADDR PORT" per listener, then "manage ADDR PORT". */
		if (sscanf(line, "manage %63s %u", addr, &p) == 2)
			h->mport = p;
		else if (h->port == 0 && sscanf(line, "%63s %u", addr, &p) == 2)
			h->port = p;
	}
	fclose(f);
	assert_true(h->port > 0);
	return h;
}

/* SIGKILL: as far as the KMS can tell, the machine went away. */
static inline void
hsm_kill(struct hsm *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}

static inline void
hsm_stop(struct hsm *h)
{
	int status = 0;

	if (h == NULL)
		return;
	kms_link_close(&h->link);
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		waitpid(h->pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			print_error("tkms-hsmd in %s ended with status %d\n",
			    h->dir, status);
	}
	rmtree(h->dir);
	free(h);
}

/* --- database ------------------------------------------------------------ */

static inline int64_t
city_id(struct kdb *db, const char *code)
{
	int64_t id = 0;

	assert_int_equal(kdb_int1(db, &id,
			     "SELECT id FROM institutions WHERE city_code = $1",
			     KDB_TEXT(code)),
	    TKM_OK);
	return id;
}

static inline int64_t
template_id(struct kdb *db, const char *name)
{
	int64_t id = 0;

	assert_int_equal(
	    kdb_int1(db, &id, "SELECT id FROM key_templates WHERE name = $1",
		KDB_TEXT(name)),
	    TKM_OK);
	return id;
}

static inline int64_t
count(struct kdb *db, const char *sql)
{
	int64_t n = -1;

	assert_int_equal(kdb_int1_(db, &n, sql, NULL, 0), TKM_OK);
	return n;
}

/* A key manager named name, straight into users (no password to try). */
static inline struct kms_user
key_manager(struct fx *f, const char *name)
{
	struct kms_user u;
	const char *why = NULL;

	memset(&u, 0, sizeof(u));
	if (kms_user_insert(f->db, (int64_t)time(NULL), name, "key_manager",
		"$argon2id$v=19$m=65536,t=3,p=1$test$test", &u.id,
		&why) != TKM_OK)
		fail_msg("user %s: %s", name, why);
	snprintf(u.name, sizeof(u.name), "%s", name);
	u.role = kms_role_of("key_manager");
	return u;
}

static inline void
add_hsm(struct fx *f, struct hsm *h, const char *name, const char *role,
    int64_t city)
{
	struct kms_hsm row;
	char why[KMS_WHY];

	memset(&row, 0, sizeof(row));
	snprintf(row.name, sizeof(row.name), "%s", name);
	snprintf(row.role, sizeof(row.role), "%s", role);
	snprintf(row.host, sizeof(row.host), "127.0.0.1");
	row.port = h->port;
	row.header_len = 8;
	row.city_id = city;
	snprintf(row.mgmt_host, sizeof(row.mgmt_host), "127.0.0.1");
	row.mgmt_port = h->mport;
	if (kms_fleet_add(f->db, &row, &h->id, why, sizeof(why)) != TKM_OK)
		fail_msg("kms_fleet_add %s: %s", name, why);
	row.id = h->id;
	assert_int_equal(kms_link_open(&h->link, &row, TIMEOUT), TKM_OK);
}

static inline int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char why[KDB_WHY];
	static int n;

	assert_non_null(f);
	if (pg_base == NULL) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/tkms-kms.XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->url, sizeof(f->url), "%s", f->dir);
	} else {
		char sql[128];

		snprintf(f->schema, sizeof(f->schema), "f_%ld_%d",
		    (long)getpid(), ++n);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
		assert_int_equal(kdb_exec_(pg_admin, sql, NULL, 0), TKM_OK);
		snprintf(f->url, sizeof(f->url),
		    "%s%coptions=-csearch_path%%3D%s", pg_base,
		    strchr(pg_base, '?') != NULL ? '&' : '?', f->schema);
	}
	if (kdb_open(f->url, &f->db, why, sizeof(why)) != TKM_OK)
		fail_msg("kdb_open: %s", why);
	f->guangzhou = city_id(f->db, "5810");
	f->shenzhen = city_id(f->db, "5840");
	f->o.timeout_ms = TIMEOUT;
	f->o.tk_des = TK_DES;
	f->o.tk_sm4 = TK_SM4;
	*state = f;
	return 0;
}

static inline int
teardown(void **state)
{
	struct fx *f = *state;
	char sql[128];
	size_t i;

	for (i = 0; i < 4; i++)
		hsm_stop(f->h[i]);
	kdb_close(f->db);
	if (pg_base == NULL) {
		rmtree(f->dir);
	} else {
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
		assert_int_equal(kdb_exec_(pg_admin, sql, NULL, 0), TKM_OK);
	}
	free(f);
	return 0;
}

/* --- host commands ------------------------------------------------------- */

/* One command that must succeed; its fields into resp. */
static inline size_t
cmd(struct hsm *h, const char *req, char *resp, size_t cap)
{
	char why[KMS_WHY];
	size_t n = 0;
	int rc =
	    kms_link_cmd(&h->link, req, resp, cap, &n, NULL, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("%.2s: %s", req, why);
	return n;
}

/*
 * The same TK (type 000) at index of every HSM in hs: a KEK under DK
 * (A0 mode 0), the TK under DK and under the KEK (A0 mode 1), then A6 of
 * the TK under the KEK at each HSM. s: 'X' DES, 'S' SM4.
 */
static inline void
put_tk(struct hsm **hs, size_t n, char s, const char *index)
{
	char req[256], kek[40], tk[40], resp[256], kcv[17] = "";
	size_t i, len;

	snprintf(req, sizeof(req), "A00000%c", s);
	assert_int_equal(cmd(hs[0], req, resp, sizeof(resp)), 33 + 16);
	snprintf(kek, sizeof(kek), "%.33s", resp);
	snprintf(req, sizeof(req), "A01000%c%s%c", s, kek, s);
	assert_int_equal(cmd(hs[0], req, resp, sizeof(resp)), 33 + 33 + 16);
	snprintf(tk, sizeof(tk), "%.33s", resp + 33);
	for (i = 0; i < n; i++) {
		snprintf(req, sizeof(req), "A6T000%s%s%c%s", kek, tk, s, index);
		len = cmd(hs[i], req, resp, sizeof(resp));
		assert_int_equal(len, 33 + 16);
		if (i == 0)
			snprintf(kcv, sizeof(kcv), "%.16s", resp + 33);
		assert_string_equal(resp + 33, kcv);
	}
}

static inline void
put_tks(struct hsm **hs, size_t n)
{
	put_tk(hs, n, 'X', TK_DES);
	put_tk(hs, n, 'S', TK_SM4);
}

/* UB scheme 0 over 8 fixed bytes with the key at idx (derived by factor
 * when not NULL): the 4-byte MAC as 8H. */
static inline void
ub(struct hsm *h, int sm4, unsigned idx, const char *factor, char mac[9])
{
	char req[256], resp[64];

	snprintf(req, sizeof(req),
	    "UB%c00509K%03X%s%s0%s00811223344556677880"
	    "4",
	    sm4 ? 'S' : 'X', idx, factor ? "1" : "0", factor ? factor : "",
	    sm4 ? "00000000000000000000000000000000" : "0000000000000000");
	assert_int_equal(cmd(h, req, resp, sizeof(resp)), 8);
	memcpy(mac, resp, 8);
	mac[8] = '\0';
}

#endif
