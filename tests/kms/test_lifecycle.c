/*
 * test_lifecycle.c - rotation, compromise, re-issue and destruction of
 * root keys (src/kms/lifecycle.h, docs/kms-lifecycle.md) against real
 * tkms-hsmd processes on ephemeral ports: a rotated key gets its next
 * version at the planned slot while the old one stays usable, its copies
 * are re-issued and compute the new MAC, a compromise lists everything
 * derived from the key, and a destruction stays `destroy_pending` until
 * the very `tkms hsm keys delete` commands the KMS printed have been run
 * by an enrolled security admin (role C) and BU finds every index empty.
 *
 * Processes, TKs and backends as in test_flows.c (whose helpers this
 * file repeats: the tests are separate programs). The console is
 * TKMS_CLI (compiled in by CMake) or $TKMS_BUILD/tkms.
 */
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

#include "fleet.h"
#include "flows.h"
#include "lifecycle.h"
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
static char hsmd[1024], cli[1024];

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
static struct hsm *
hsm_start(int authorised, int sealed, const char *commands)
{
	struct hsm *h = calloc(1, sizeof(*h));
	char conf[128], ports[128], keys[128], err[128], line[256];
	struct timespec nap = {0, 20 * 1000 * 1000};
	FILE *f;
	int i, fd;

	assert_non_null(h);
	snprintf(h->dir, sizeof(h->dir), "/tmp/tkms-lc-hsm.XXXXXX");
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

static void
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

static int64_t
city_id(struct kdb *db, const char *code)
{
	int64_t id = 0;

	assert_int_equal(kdb_int1(db, &id,
			     "SELECT id FROM institutions WHERE city_code = $1",
			     KDB_TEXT(code)),
	    TKM_OK);
	return id;
}

static int64_t
template_id(struct kdb *db, const char *name)
{
	int64_t id = 0;

	assert_int_equal(
	    kdb_int1(db, &id, "SELECT id FROM key_templates WHERE name = $1",
		KDB_TEXT(name)),
	    TKM_OK);
	return id;
}

static int64_t
count(struct kdb *db, const char *sql)
{
	int64_t n = -1;

	assert_int_equal(kdb_int1_(db, &n, sql, NULL, 0), TKM_OK);
	return n;
}

static void
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

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char why[KDB_WHY];
	static int n;

	assert_non_null(f);
	if (pg_base == NULL) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/tkms-lc.XXXXXX");
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

static int
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
static size_t
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
static void
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

static void
put_tks(struct hsm **hs, size_t n)
{
	put_tk(hs, n, 'X', TK_DES);
	put_tk(hs, n, 'S', TK_SM4);
}

/* UB scheme 0 over 8 fixed bytes with the key at idx (derived by factor
 * when not NULL): the 4-byte MAC as 8H. */
static void
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

static void
generate(struct fx *f, struct hsm *root, const char *tmpl, const char *alg,
    struct kms_rootgen *g)
{
	char why[KMS_WHY];
	int rc = kms_flow_generate(f->db, root->id, template_id(f->db, tmpl),
	    alg, &f->o, g, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("generate %s %s: %s (%s)", tmpl, alg, why,
		    tkm_strerror(rc));
}

static void
issue_ok(struct fx *f, int64_t rk, int64_t city, struct hsm *t,
    struct kms_issue *out)
{
	char why[KMS_WHY];
	int rc = kms_flow_issue(
	    f->db, rk, city, t->id, &f->o, out, why, sizeof(why));

	if (rc != TKM_OK)
		fail_msg("issue: %s (%s)", why, tkm_strerror(rc));
}

/* --- the console (tkms hsm ...) ------------------------------------------ */

/* Run argv (argv[0] a path, or "/bin/sh"); its output into h's directory;
 * fail the test unless it exits 0. */
static void
run(struct hsm *h, const char *const *argv)
{
	char out[128], text[2048] = "";
	int status = 0, fd;
	pid_t pid;
	FILE *f;

	snprintf(out, sizeof(out), "%s/console.out", h->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if ((f = fopen(out, "r")) != NULL) {
		text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
		fclose(f);
	}
	fail_msg("%s %s %s: status %d: %s", argv[0], argv[1],
	    argv[2] ? argv[2] : "", status, text);
}

/* tkms hsm WORDS... against h's management port, with its session. */
static void
console(struct hsm *h, const char *w1, const char *w2, const char *role)
{
	char port[16], session[128], card[128], pin[128], pw[128];
	const char *argv[24];
	int n = 0;

	snprintf(port, sizeof(port), "%u", h->mport);
	snprintf(session, sizeof(session), "%s/session", h->dir);
	snprintf(card, sizeof(card), "%s/%s.card", h->dir, role ? role : "");
	snprintf(pin, sizeof(pin), "%s/pin", h->dir);
	snprintf(pw, sizeof(pw), "%s/pw", h->dir);
	argv[n++] = cli;
	argv[n++] = "hsm";
	argv[n++] = w1;
	if (w2 != NULL)
		argv[n++] = w2;
	if (role != NULL) {
		argv[n++] = "--role";
		argv[n++] = role;
	}
	if (w2 != NULL && strcmp(w2, "new") == 0) { /* card new */
		argv[n++] = "--out";
		argv[n++] = card;
		argv[n++] = "--pin-file";
		argv[n++] = pin;
		argv[n] = NULL;
		run(h, argv);
		return;
	}
	if (role != NULL) {
		argv[n++] = "--card";
		argv[n++] = card;
		argv[n++] = "--pin-file";
		argv[n++] = pin;
		argv[n++] = "--password-file";
		argv[n++] = pw;
	}
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--session";
	argv[n++] = session;
	argv[n] = NULL;
	run(h, argv);
}

/* A1-A3 enrol themselves and C (docs/ceremonies.md); C stays logged in:
 * h's security admin. */
static void
enrol_c(struct hsm *h)
{
	static const char *const roles[] = {"A1", "A2", "A3", "C"};
	char path[128];
	size_t i;

	snprintf(path, sizeof(path), "%s/pin", h->dir);
	write_file(path, "123456\n");
	snprintf(path, sizeof(path), "%s/pw", h->dir);
	write_file(path, "admin-pass-1\n");
	for (i = 0; i < 4; i++)
		console(h, "card", "new", roles[i]);
	for (i = 0; i < 3; i++)
		console(h, "enrol", NULL, roles[i]);
	for (i = 0; i < 3; i++)
		console(h, "login", NULL, roles[i]);
	console(h, "enrol", NULL, "C");
	console(h, "logout", NULL, NULL);
	console(h, "login", NULL, "C");
}

/* The command the KMS printed, as the security admin would type it (with
 * the session of enrol_c). */
static void
run_printed(struct hsm *h, const char *command)
{
	char line[2600], dir[1024], *slash;
	const char *argv[4] = {"/bin/sh", "-c", line, NULL};

	snprintf(dir, sizeof(dir), "%s", cli);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(strncmp(command, "tkms hsm keys delete ", 21), 0);
	snprintf(line, sizeof(line),
	    "PATH='%s':\"$PATH\" %s --session %s/session", dir, command,
	    h->dir);
	run(h, argv);
}

/* --- helpers ------------------------------------------------------------- */

static char *
root_state(struct kdb *db, int64_t id, char *out, size_t cap)
{
	struct kdb_rows *r = NULL;

	assert_int_equal(
	    kdb_query(db, &r, "SELECT state FROM root_keys WHERE id = $1",
		KDB_INT(id)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	snprintf(out, cap, "%s", kdb_text(r, 0));
	kdb_rows_free(r);
	return out;
}

static int
bu(struct hsm *h, const char *type, unsigned idx, int sm4)
{
	char req[64], resp[64], why[KMS_WHY];
	size_t n;

	snprintf(req, sizeof(req), "BU%sK%03X%c", type, idx, sm4 ? 'S' : 'X');
	return kms_link_cmd(
	    &h->link, req, resp, sizeof(resp), &n, NULL, why, sizeof(why));
}

/* --- tests --------------------------------------------------------------- */

static void
t_rotate_reissue_destroy(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_issue a;
	struct kms_rotation rot, again;
	struct kms_reissue re;
	struct kms_lc_destroy d;
	char why[KMS_WHY], st[16], want[64], factor[17], m0[9], m1[9];
	size_t i;
	int rc;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	put_tks(f->h, 2);
	generate(f, f->h[0], "tac", "DES", &g);
	assert_int_equal(g.idx, KMS_DES_BASE + 8);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);

	/* Rotate: v2 at the next slot, v1 and its copy archived but kept. */
	rc = kms_lc_rotate(f->db, g.root_key_id, "alice+bob", 0, &f->o, &rot,
	    why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("rotate: %s", why);
	assert_int_equal(rot.new_version, 2);
	assert_int_equal(rot.new_idx, KMS_DES_BASE + KMS_SLOT_STRIDE + 8);
	assert_int_equal(rot.archived_copies, 1);
	assert_string_not_equal(rot.new_kcv, g.kcv);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "archived");
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'archived'"),
	    1);
	assert_int_equal(bu(f->h[1], "509", a.idx, 0), TKM_OK);
	assert_int_equal(bu(f->h[0], "509", g.idx, 0), TKM_OK);
	/* Again: the rotation is found, nothing generated. */
	assert_int_equal(kms_lc_rotate(f->db, g.root_key_id, "alice+bob", 0,
			     &f->o, &again, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(again.existed, 1);
	assert_int_equal(again.new_id, rot.new_id);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"), 2);

	/* An active key is never destroyed. */
	assert_int_equal(kms_lc_destroy_request(f->db, rot.new_id, "alice", 0,
			     &d, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "only archived"));

	/* Re-issue: v2 reaches the business HSM at its slot and computes
	 * the root's MAC; a second run finds it. */
	rc = kms_lc_reissue(
	    f->db, g.root_key_id, "alice+bob", 0, &f->o, &re, why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("reissue: %s", why);
	assert_int_equal(re.total, 1);
	assert_int_equal(re.issued, 1);
	assert_int_equal(re.new_root_id, rot.new_id);
	assert_int_equal(kms_city_factor("cjt333", "5810", factor), TKM_OK);
	ub(f->h[0], 0, rot.new_idx, factor, m0);
	ub(f->h[1], 0, rot.new_idx, NULL, m1);
	assert_string_equal(m1, m0);
	ub(f->h[1], 0, a.idx, NULL, m1); /* the old copy still answers */
	assert_string_not_equal(m1, m0);
	assert_int_equal(kms_lc_reissue(f->db, g.root_key_id, "alice+bob", 0,
			     &f->o, &re, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(re.existed, 1);

	/* Destroy v1: two keys, the commands name the management ports. */
	rc = kms_lc_destroy_request(
	    f->db, g.root_key_id, "carol+dave", 0, &d, why, sizeof(why));
	if (rc != TKM_OK)
		fail_msg("destroy request: %s", why);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.pending, 2);
	for (i = 0; i < 2; i++) {
		struct hsm *h =
		    d.keys[i].hsm_id == f->h[0]->id ? f->h[0] : f->h[1];

		snprintf(want, sizeof(want),
		    "--lib des --index 308 --host 127.0.0.1 --port %u",
		    h->mport);
		assert_non_null(strstr(d.keys[i].command, want));
		assert_string_equal(d.keys[i].state, "destroy_pending");
	}
	kms_lc_destroy_free(&d);
	/* Nothing deleted yet: both pending, v1 not destroyed. */
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 2);
	assert_int_equal(d.root_destroyed, 0);
	assert_int_equal(d.keys[0].rc, TKM_ERR_INDEX);
	assert_non_null(strstr(d.keys[0].why, "still holds"));
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "archived");

	/* The business HSM's security admin runs its command: one gone. */
	enrol_c(f->h[1]);
	for (i = 0; i < d.n; i++)
		if (d.keys[i].hsm_id == f->h[1]->id)
			run_printed(f->h[1], d.keys[i].command);
	kms_lc_destroy_free(&d);
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 1);
	assert_int_equal(d.destroyed, 1);
	assert_int_equal(d.root_destroyed, 0);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"
				      " WHERE state = 'destroyed'"),
	    1);

	/* Then the root HSM's: v1 destroyed, v2 untouched. */
	enrol_c(f->h[0]);
	for (i = 0; i < d.n; i++)
		if (d.keys[i].hsm_id == f->h[0]->id)
			run_printed(f->h[0], d.keys[i].command);
	kms_lc_destroy_free(&d);
	assert_int_equal(kms_lc_destroy_confirm(f->db, g.root_key_id, "carol",
			     0, &f->o, &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.pending, 0);
	assert_int_equal(d.root_destroyed, 1);
	kms_lc_destroy_free(&d);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "destroyed");
	assert_int_equal(bu(f->h[0], "509", g.idx, 0), TKM_ERR_NO_KEY);
	assert_int_equal(bu(f->h[0], "509", rot.new_idx, 0), TKM_OK);
	assert_int_equal(bu(f->h[1], "509", rot.new_idx, 0), TKM_OK);
	/* The records stay: rows and events. */
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_destructions"
				      " WHERE state = 'destroyed'"),
	    2);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_events WHERE"
				      " kind IN ('rotated', 'reissued',"
				      " 'destroy_requested', 'destroyed')"),
	    4);
	/* Asking again: the same rows, all destroyed. */
	assert_int_equal(kms_lc_destroy_request(f->db, g.root_key_id, "x", 0,
			     &d, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(d.destroyed, 2);
	kms_lc_destroy_free(&d);
}

static void
t_compromise(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g, g2;
	struct kms_issue a;
	struct kms_lc_plan p;
	struct kms_rotation rot;
	struct kms_reissue re;
	char why[KMS_WHY], st[16];
	size_t i;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	add_hsm(f, f->h[1], "gz-business", "provincial_business", f->guangzhou);
	add_hsm(f, f->h[2], "clearing", "clearing", 0);
	put_tks(f->h, 3);
	generate(f, f->h[0], "tac", "SM4", &g);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[1], &a);
	issue_ok(f, g.root_key_id, f->guangzhou, f->h[2], &a);

	assert_int_equal(kms_lc_compromise(f->db, g.root_key_id, "alice", 0, "",
			     &p, why, sizeof(why)),
	    TKM_ERR_INPUT);
	if (kms_lc_compromise(f->db, g.root_key_id, "alice", 0,
		"card cloned in the field", &p, why, sizeof(why)) != TKM_OK)
		fail_msg("compromise: %s", why);
	assert_int_equal(p.ncopies, 2);
	assert_int_equal(p.next_version, 2);
	assert_int_equal(p.next_idx, KMS_SM4_BASE + KMS_SLOT_STRIDE + 8);
	for (i = 0; i < p.ncopies; i++) {
		assert_string_equal(p.copies[i].state, "compromised");
		assert_string_equal(p.copies[i].city, "广州市");
		if (p.copies[i].hsm_id == f->h[2]->id)
			assert_int_equal(p.copies[i].new_idx,
			    kms_plan_clearing_index(1, 1, 2));
		else
			assert_int_equal(p.copies[i].new_idx, p.next_idx);
	}
	kms_lc_plan_free(&p);
	assert_string_equal(
	    root_state(f->db, g.root_key_id, st, sizeof(st)), "compromised");
	/* A compromised key is neither issued nor rotated. */
	assert_int_equal(kms_flow_issue(f->db, g.root_key_id, f->guangzhou,
			     f->h[1]->id, &f->o, &a, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_int_equal(kms_lc_rotate(f->db, g.root_key_id, "alice", 0, &f->o,
			     &rot, why, sizeof(why)),
	    TKM_ERR_INPUT);
	/* Re-issue needs the replacement first. */
	assert_int_equal(kms_lc_reissue(f->db, g.root_key_id, "alice", 0, &f->o,
			     &re, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "generate the replacement"));
	/* Again: the same plan, nothing changed. */
	assert_int_equal(kms_lc_compromise(f->db, g.root_key_id, "alice", 0,
			     "again", &p, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(p.ncopies, 2);
	kms_lc_plan_free(&p);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM key_events"
				      " WHERE kind = 'compromised'"),
	    1);

	generate(f, f->h[0], "tac", "SM4", &g2);
	assert_int_equal(g2.version, 2);
	assert_int_equal(g2.idx, KMS_SM4_BASE + KMS_SLOT_STRIDE + 8);
	if (kms_lc_reissue(f->db, g.root_key_id, "alice", 0, &f->o, &re, why,
		sizeof(why)) != TKM_OK)
		fail_msg("reissue: %s", why);
	assert_int_equal(re.issued, 2);
	assert_int_equal(
	    bu(f->h[2], "509", kms_plan_clearing_index(1, 1, 2), 1), TKM_OK);
}

/* Eight versions fill the slots: the ninth waits for the first's
 * destruction. */
static void
t_slots_full(void **state)
{
	struct fx *f = *state;
	struct kms_rootgen g;
	struct kms_rotation rot;
	char why[KMS_WHY];
	int64_t id;
	int v;

	f->h[0] = hsm_start(1, 0, NULL);
	add_hsm(f, f->h[0], "root", "root", 0);
	generate(f, f->h[0], "load_01", "DES", &g);
	id = g.root_key_id;
	for (v = 2; v <= KMS_SLOTS; v++) {
		if (kms_lc_rotate(f->db, id, "alice", 0, &f->o, &rot, why,
			sizeof(why)) != TKM_OK)
			fail_msg("rotate to v%d: %s", v, why);
		assert_int_equal(rot.new_version, v);
		id = rot.new_id;
	}
	assert_int_equal(
	    kms_lc_rotate(f->db, id, "alice", 0, &f->o, &rot, why, sizeof(why)),
	    TKM_ERR_INDEX);
	assert_non_null(strstr(why, "destroy it first"));
	/* Refused before anything changed: v8 is still active. */
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    1);
	assert_int_equal(count(f->db, "SELECT MAX(version) FROM root_keys"
				      " WHERE state = 'active'"),
	    KMS_SLOTS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_rotate_reissue_destroy, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_compromise, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_slots_full, setup, teardown),
	};
	const char *build = getenv("TKMS_BUILD");
	char why[KDB_WHY];
	int rc;

	if (build != NULL && build[0] != '\0') {
		snprintf(hsmd, sizeof(hsmd), "%s/tkms-hsmd", build);
		snprintf(cli, sizeof(cli), "%s/tkms", build);
	}
#if defined(TKMS_HSMD) && defined(TKMS_CLI)
	else {
		snprintf(hsmd, sizeof(hsmd), "%s", TKMS_HSMD);
		snprintf(cli, sizeof(cli), "%s", TKMS_CLI);
	}
#endif
	if (hsmd[0] == '\0' || access(hsmd, X_OK) != 0 ||
	    access(cli, X_OK) != 0) {
		fprintf(stderr, "test_lifecycle: no tkms-hsmd or tkms (set"
				" TKMS_BUILD)\n");
		return 1;
	}
	setenv("TKMS_ARGON2_FAST", "1", 1); /* enrolment: tests only */
	signal(SIGPIPE, SIG_IGN);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_lifecycle: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
