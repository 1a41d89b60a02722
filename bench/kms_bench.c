/*
 * tkms-kms-bench - the KMS's key flows against real HSMs, timed
 * (docs/benchmarks.md, "KMS issuance"). Issue #6's goal: issuing all 23
 * key types x 2 algorithms for the 21 cities of appendix 1 to their
 * business HSMs, and the clearing HSM's keys, takes < 10 s on the 2-core
 * machine.
 *
 *   tkms-kms-bench [--cities N] [--parallel N] [--db URL] [--hsmd PATH]
 *       [--keep DIR] [--json]
 *
 * A fresh KMS database (SQLite in a temporary directory, or a new schema
 * of the PostgreSQL database at --db, dropped at the end) and fresh
 * tkms-hsmd processes on ephemeral ports, all with the development DK
 * components and in the authorised state: one root, one business HSM per
 * city (each serves one city, kms_fleet_add), one clearing HSM and one
 * scratch HSM outside the fleet for timing single host commands. The
 * shared TK goes to K001/K101 of every HSM through host commands only, as
 * tests/kms/test_flows.c does it. Then, timed:
 *   (a) every root key: kms_flow_generate for 23 templates x DES, SM4;
 *   (b) every city's keys to its business HSM (kms_flow_issue_city);
 *   (c) the clearing HSM's keys (TAC) of every city.
 * (b) and (c) run over --parallel threads, each with its own kdb
 * connection, taking the next city from a shared counter. Between (a) and
 * (b), NC, A8 and A6 are timed alone, so that the cost of one issuance
 * can be set against the round trips it needs: A8 + A6 is the floor, the
 * rest is the KMS's (its database and its own work).
 *
 * Progress goes to stderr, the table (or with --json one object) to
 * stdout. Exit status 0 when every key was issued and recorded (whether
 * or not the goal is met), 1 on a failure, 2 on a usage error, 128 + the
 * signal when interrupted. Every daemon is stopped on every way out; with
 * --keep DIR the directories stay in DIR (and the PostgreSQL schema).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "flows.h"
#include "hsmproc.h"
#include "kdb.h"
#include "refdata.h"
#include "tkm/mem.h"

#define GOAL_S       10.0
#define READY_MS     120000 /* 24 daemons start at once, each self-tests */
#define STOP_MS      5000
#define HSM_WORKERS  2 /* as the tests run them */
#define MAX_PARALLEL KMS_NCITIES
#define N_NC         500 /* samples of each single host command */
#define N_A8         200
#define N_A6         200
#define PROBE_BASE   0x800 /* A6 indexes in the scratch HSM */
#define HDR_LEN      8
#define MAX_NODES    (3 + KMS_NCITIES)

/* nodes[]: fixed places, then one business HSM per city. */
enum { N_ROOT = 0, N_CLEARING, N_SCRATCH, N_BUSINESS };

struct opts {
	unsigned cities, parallel;
	const char *db, *keep;
	int json;
	char hsmd[HSMPROC_PATH];
};

struct node {
	struct hsmproc p;
	struct kms_hsm row; /* row.id 0: not in the fleet (the scratch) */
	struct kms_link link;
};

/* Samples of one host command, in ms. */
struct sample {
	double median, mean, min, p90;
	size_t n;
};

struct phase {
	size_t keys;
	double wall_s;
	double export_s, import_s; /* per-thread time up to A8, and after */
	double kms_cpu_s, hsm_cpu_s;
};

struct job {
	unsigned city; /* row of appendix 1, from 0 */
	int64_t city_id, target;
	size_t expect; /* keys the batch must issue */
};

struct queue {
	const char *phase; /* "b", "c" */
	const struct job *jobs;
	size_t n;
	atomic_size_t next;
	atomic_int stop;
	double t0;
};

struct worker {
	struct bench *b;
	struct queue *q;
	struct kdb *db;
	pthread_t th;
	struct kms_flow_opts fo;
	double mark, export_s, import_s;
	size_t keys;
	int rc;
	char why[KMS_WHY];
};

/* How busy the machine is without us (other_load). */
struct load {
	double cpu_pct, io_pct;
};

struct bench {
	struct opts o;
	char dir[HSMPROC_PATH];
	int made_dir; /* a temporary directory, removed at the end */
	int have_dir; /* dir is ours (made or emptied) */
	char url[2 * HSMPROC_PATH];
	char schema[48];
	struct kdb *admin; /* PostgreSQL: the base database, for the schema */
	struct kdb *db;
	struct node nodes[MAX_NODES];
	size_t nnodes;
	int64_t city_id[KMS_NCITIES];
	size_t per_city, per_clearing; /* keys a city's batch issues */
	struct worker w[MAX_PARALLEL];
	struct phase gen, biz, clr;
	struct sample nc_biz, nc_root, a8, a6;
	struct load busy0, busy1; /* without us: before and after */
	const char *backend;
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
	hsmproc_signal_all(SIGTERM);
}

static void fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * How busy the machine is without us over 1 s: the share of all cores in
 * use (as bench/compare.sh samples it), and the share of the time some
 * task waited for I/O (/proc/pressure/io, "some"): the figures mean little
 * when other work competes for the two cores or, above all, the disk that
 * every fsync waits for. -1 when the kernel does not tell.
 */
static int
cpu_times(unsigned long long *busy, unsigned long long *idle)
{
	unsigned long long v[8];
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*idle = v[3] + v[4];
	return 0;
}

/* Microseconds some task stalled on I/O since boot. */
static int
io_stall_us(unsigned long long *us)
{
	FILE *f = fopen("/proc/pressure/io", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "some avg10=%*f avg60=%*f avg300=%*f total=%llu", us);
	fclose(f);
	return n == 1 ? 0 : -1;
}

static struct load
other_load(void)
{
	struct timespec second = {1, 0};
	unsigned long long b0, i0, b1, i1, s0 = 0, s1 = 0;
	struct load l = {-1, -1};
	double t0 = now_s(), t;
	int cpu, io;

	cpu = cpu_times(&b0, &i0);
	io = io_stall_us(&s0);
	while (nanosleep(&second, &second) != 0 && !interrupted)
		;
	t = now_s() - t0;
	if (cpu == 0 && cpu_times(&b1, &i1) == 0 && b1 + i1 > b0 + i0)
		l.cpu_pct =
		    100.0 * (double)(b1 - b0) / (double)(b1 - b0 + i1 - i0);
	if (io == 0 && io_stall_us(&s1) == 0 && t > 0)
		l.io_pct = (double)(s1 - s0) / 1e4 / t;
	return l;
}

/* --- files --------------------------------------------------------------- */

static void
rmtree(const char *path)
{
	char sub[HSMPROC_PATH];
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
				e->d_name) < (int)sizeof(sub))
				rmtree(sub);
		}
		closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

/* An empty directory of our own: DIR of --keep (created, or empty), or a
 * new one under TMPDIR. */
static int
make_dir(struct bench *b, char *why, size_t why_len)
{
	const char *tmp = getenv("TMPDIR");
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if (b->o.keep == NULL) {
		if (tmp == NULL || tmp[0] == '\0')
			tmp = "/tmp";
		snprintf(
		    b->dir, sizeof(b->dir), "%s/tkms-kms-bench.XXXXXX", tmp);
		if (mkdtemp(b->dir) == NULL) {
			fail(why, why_len, "mkdtemp %s: %s", b->dir,
			    strerror(errno));
			return TKM_ERR_IO;
		}
		b->made_dir = b->have_dir = 1;
		return TKM_OK;
	}
	if (snprintf(b->dir, sizeof(b->dir), "%s", b->o.keep) >=
	    (int)sizeof(b->dir) - 64) {
		fail(why, why_len, "--keep: path too long");
		return TKM_ERR_INPUT;
	}
	if (mkdir(b->dir, 0700) == 0) {
		b->have_dir = 1;
		return TKM_OK;
	}
	if (errno != EEXIST || (d = opendir(b->dir)) == NULL) {
		fail(why, why_len, "%s: %s", b->dir, strerror(errno));
		return TKM_ERR_IO;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty) {
		/* Old key stores would answer ERR 21 to a fresh plan. */
		fail(why, why_len, "--keep %s: not empty", b->dir);
		return TKM_ERR_INPUT;
	}
	b->have_dir = 1;
	return TKM_OK;
}

/* user + system seconds of a child, from /proc/PID/stat (fields 14, 15). */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		" %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		&st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
hsms_cpu_s(const struct bench *b)
{
	double s = 0;
	size_t i;

	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i].p.pid > 0)
			s += proc_cpu_s(b->nodes[i].p.pid);
	return s;
}

static double
self_cpu_s(void)
{
	struct rusage u;

	if (getrusage(RUSAGE_SELF, &u) != 0)
		return 0;
	return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
	       (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

/* --- the HSMs ------------------------------------------------------------ */

static void
node_name(const struct bench *b, size_t i, char *out, size_t cap)
{
	if (i == N_ROOT)
		snprintf(out, cap, "root");
	else if (i == N_CLEARING)
		snprintf(out, cap, "clearing");
	else if (i == N_SCRATCH)
		snprintf(out, cap, "scratch");
	else
		snprintf(out, cap, "business-%s",
		    kms_cities[i - N_BUSINESS].city_code);
	(void)b;
}

/* Every daemon forked first, then waited for: they self-test in
 * parallel. */
static int
start_hsms(struct bench *b, char *why, size_t why_len)
{
	const struct hsmproc_opts ho = {
	    HSMPROC_DEV_COMPONENTS, 1, HSM_WORKERS, NULL};
	char name[64], dir[HSMPROC_PATH];
	double t0 = now_s();
	size_t i;
	int rc;

	b->nnodes = N_BUSINESS + b->o.cities;
	fprintf(stderr, "starting %zu tkms-hsmd (%s) in %s\n", b->nnodes,
	    b->o.hsmd, b->dir);
	for (i = 0; i < b->nnodes; i++) {
		node_name(b, i, name, sizeof(name));
		if (snprintf(dir, sizeof(dir), "%s/%.63s", b->dir, name) >=
		    (int)sizeof(dir)) {
			fail(why, why_len, "%s: path too long", b->dir);
			return TKM_ERR_INPUT;
		}
		rc = hsmproc_spawn(
		    &b->nodes[i].p, b->o.hsmd, dir, &ho, why, why_len);
		if (rc != TKM_OK)
			return rc;
	}
	for (i = 0; i < b->nnodes; i++)
		if ((rc = hsmproc_wait(
			 &b->nodes[i].p, READY_MS, why, why_len)) != TKM_OK)
			return rc;
	fprintf(stderr, "  all listening after %.2f s\n", now_s() - t0);
	return TKM_OK;
}

static int
stop_hsms(struct bench *b)
{
	char name[64];
	int bad = 0, status;
	size_t i;

	for (i = 0; i < MAX_NODES; i++) {
		kms_link_close(&b->nodes[i].link);
		if (b->nodes[i].p.pid <= 0)
			continue;
		if (hsmproc_stop(&b->nodes[i].p, STOP_MS, &status) != TKM_OK &&
		    !interrupted) {
			node_name(b, i, name, sizeof(name));
			fprintf(stderr,
			    "tkms-kms-bench: tkms-hsmd %s ended with status"
			    " %d (see %s/log)\n",
			    name, status, b->nodes[i].p.dir);
			bad = 1;
		}
	}
	return bad ? TKM_ERR_INTERNAL : TKM_OK;
}

/* One host command that must succeed; its fields in resp. */
static int
cmd(struct node *n, const char *req, char *resp, size_t cap, size_t *len,
    char *why, size_t why_len)
{
	return kms_link_cmd(&n->link, req, resp, cap, len, NULL, why, why_len);
}

/*
 * The same TK (type 000) at index of every HSM, made as a ceremony would
 * through host commands (tests/kms/kmshsm.h put_tk): a KEK under DK at
 * the root (A0 mode 0), the TK under DK and under that KEK (A0 mode 1),
 * A6 of the TK under the KEK at every HSM; the KCVs must agree. s: 'X'
 * DES, 'S' SM4. No key is ever in clear here.
 */
static int
put_tk(struct bench *b, char s, const char *index, char *why, size_t why_len)
{
	char req[256], resp[256], kek[40], tk[40], kcv[17] = "";
	size_t i, len;
	int rc;

	snprintf(req, sizeof(req), "A00000%c", s);
	rc =
	    cmd(&b->nodes[N_ROOT], req, resp, sizeof(resp), &len, why, why_len);
	if (rc != TKM_OK || len != 33 + 16)
		goto bad;
	snprintf(kek, sizeof(kek), "%.33s", resp);
	snprintf(req, sizeof(req), "A01000%c%s%c", s, kek, s);
	rc =
	    cmd(&b->nodes[N_ROOT], req, resp, sizeof(resp), &len, why, why_len);
	if (rc != TKM_OK || len != 33 + 33 + 16)
		goto bad;
	snprintf(tk, sizeof(tk), "%.33s", resp + 33);
	for (i = 0; i < b->nnodes; i++) {
		snprintf(req, sizeof(req), "A6T000%s%s%c%s", kek, tk, s, index);
		rc = cmd(
		    &b->nodes[i], req, resp, sizeof(resp), &len, why, why_len);
		if (rc != TKM_OK || len != 33 + 16)
			goto bad;
		if (i == 0)
			snprintf(kcv, sizeof(kcv), "%.16s", resp + 33);
		if (strcmp(resp + 33, kcv) != 0) {
			fail(why, why_len,
			    "TK %s: KCV %s at the root, %s at %s", index, kcv,
			    resp + 33, b->nodes[i].row.name);
			rc = TKM_ERR_VERIFY;
			goto out;
		}
	}
	rc = TKM_OK;
	goto out;
bad:
	if (rc == TKM_OK) {
		fail(why, why_len, "TK %s: an answer of %zu bytes", index, len);
		rc = TKM_ERR_INPUT;
	}
out:
	tkm_cleanse(req, sizeof(req));
	tkm_cleanse(resp, sizeof(resp));
	tkm_cleanse(kek, sizeof(kek));
	tkm_cleanse(tk, sizeof(tk));
	return rc;
}

/* Rows in hsms for the fleet, a link to every daemon, the TKs, NC. */
static int
register_hsms(struct bench *b, char *why, size_t why_len)
{
	struct kms_health h;
	struct node *n;
	size_t i;
	int rc;

	for (i = 0; i < b->nnodes; i++) {
		n = &b->nodes[i];
		memset(&n->row, 0, sizeof(n->row));
		node_name(b, i, n->row.name, sizeof(n->row.name));
		snprintf(n->row.host, sizeof(n->row.host), "127.0.0.1");
		snprintf(
		    n->row.mgmt_host, sizeof(n->row.mgmt_host), "127.0.0.1");
		n->row.port = n->p.port;
		n->row.mgmt_port = n->p.mport;
		n->row.header_len = HDR_LEN;
		if (i == N_ROOT)
			snprintf(n->row.role, sizeof(n->row.role), "root");
		else if (i == N_CLEARING)
			snprintf(n->row.role, sizeof(n->row.role), "clearing");
		else if (i >= N_BUSINESS) {
			snprintf(n->row.role, sizeof(n->row.role),
			    "provincial_business");
			n->row.city_id = b->city_id[i - N_BUSINESS];
		}
		if (i != N_SCRATCH && (rc = kms_fleet_add(b->db, &n->row,
					   &n->row.id, why, why_len)) != TKM_OK)
			return rc;
		if ((rc = kms_link_open(
			 &n->link, &n->row, KMS_HSM_TIMEOUT_MS)) != TKM_OK) {
			fail(why, why_len, "link to %s: %s", n->row.name,
			    tkm_strerror(rc));
			return rc;
		}
	}
	if ((rc = put_tk(b, 'X', KMS_TK_DES, why, why_len)) != TKM_OK ||
	    (rc = put_tk(b, 'S', KMS_TK_SM4, why, why_len)) != TKM_OK)
		return rc;
	for (i = 0; i < b->nnodes; i++)
		if (i != N_SCRATCH &&
		    (rc = kms_fleet_check(b->db, b->nodes[i].row.id,
			 KMS_HSM_TIMEOUT_MS, &h, why, why_len)) != TKM_OK)
			return rc;
	fprintf(stderr, "  %zu HSMs registered, TKs at %s/%s, NC ok\n",
	    b->nnodes - 1, KMS_TK_DES, KMS_TK_SM4);
	return TKM_OK;
}

/* --- the database -------------------------------------------------------- */

static int
is_pg(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 ||
	       strncmp(url, "postgres://", 11) == 0;
}

/* A fresh database: a new schema at --db (PostgreSQL), DIR of --db
 * without a kms.db, or DIR/kms. */
static int
open_db(struct bench *b, char *why, size_t why_len)
{
	char sql[128], kw[KDB_WHY], probe[HSMPROC_PATH + 16];
	int rc;

	if (b->o.db != NULL && is_pg(b->o.db)) {
		if ((rc = kdb_open(b->o.db, &b->admin, kw, sizeof(kw))) !=
		    TKM_OK) {
			fail(why, why_len, "%s: %s", b->o.db, kw);
			return rc;
		}
		snprintf(b->schema, sizeof(b->schema), "kms_bench_%ld",
		    (long)getpid());
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", b->schema);
		if ((rc = kdb_exec_(b->admin, sql, NULL, 0)) != TKM_OK) {
			fail(why, why_len, "%s: %s", sql, kdb_errmsg(b->admin));
			b->schema[0] = '\0';
			return rc;
		}
		snprintf(b->url, sizeof(b->url),
		    "%s%coptions=-csearch_path%%3D%s", b->o.db,
		    strchr(b->o.db, '?') != NULL ? '&' : '?', b->schema);
	} else if (b->o.db != NULL) {
		snprintf(b->url, sizeof(b->url), "%s", b->o.db);
		snprintf(probe, sizeof(probe), "%s/kms.db", b->o.db);
		if (access(probe, F_OK) == 0) {
			fail(why, why_len, "--db %s holds a database already",
			    b->o.db);
			return TKM_ERR_INPUT;
		}
	} else {
		snprintf(b->url, sizeof(b->url), "%s/kms", b->dir);
	}
	if ((rc = kdb_open(b->url, &b->db, kw, sizeof(kw))) != TKM_OK) {
		fail(why, why_len, "kdb_open: %s", kw);
		return rc;
	}
	b->backend = kdb_backend(b->db) == KDB_PG ? "postgresql" : "sqlite";
	return TKM_OK;
}

static void
close_db(struct bench *b)
{
	char sql[128];
	size_t i;

	for (i = 0; i < MAX_PARALLEL; i++) {
		kdb_close(b->w[i].db);
		b->w[i].db = NULL;
	}
	kdb_close(b->db);
	b->db = NULL;
	if (b->admin != NULL && b->schema[0] != '\0' && b->o.keep == NULL) {
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", b->schema);
		if (kdb_exec_(b->admin, sql, NULL, 0) != TKM_OK)
			fprintf(stderr, "tkms-kms-bench: %s: %s\n", sql,
			    kdb_errmsg(b->admin));
	}
	kdb_close(b->admin);
	b->admin = NULL;
}

static int
load_refs(struct bench *b, char *why, size_t why_len)
{
	int64_t n = 0, c = 0;
	unsigned i;
	int rc;

	for (i = 0; i < b->o.cities; i++) {
		rc = kdb_int1(b->db, &b->city_id[i],
		    "SELECT id FROM institutions WHERE city_code = $1",
		    KDB_TEXT(kms_cities[i].city_code));
		if (rc != TKM_OK) {
			fail(why, why_len, "city %s: %s",
			    kms_cities[i].city_code, kdb_errmsg(b->db));
			return rc;
		}
	}
	if ((rc = kdb_int1(b->db, &n, "SELECT COUNT(*) FROM key_templates")) !=
		TKM_OK ||
	    (rc = kdb_int1(b->db, &c,
		 "SELECT COUNT(*) FROM key_templates WHERE clearing = 1")) !=
		TKM_OK) {
		fail(why, why_len, "key templates: %s", kdb_errmsg(b->db));
		return rc;
	}
	b->per_city = 2 * (size_t)n;
	b->per_clearing = 2 * (size_t)c;
	return TKM_OK;
}

/* --- (a) root keys ------------------------------------------------------- */

static int
generate_all(struct bench *b, char *why, size_t why_len)
{
	static const char *const algs[2] = {"DES", "SM4"};
	struct kms_flow_opts fo = {
	    KMS_HSM_TIMEOUT_MS, KMS_TK_DES, KMS_TK_SM4, NULL, NULL};
	int64_t tids[KMS_NKEYTYPES + 8];
	struct kdb_rows *r = NULL;
	struct kms_rootgen g;
	size_t nt = 0, i;
	double t0, c0, h0;
	int rc, a;

	rc = kdb_query(b->db, &r, "SELECT id FROM key_templates ORDER BY seq");
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		if (nt < sizeof(tids) / sizeof(tids[0]))
			tids[nt++] = kdb_int(r, 0);
	}
	kdb_rows_free(r);
	if (rc < 0) {
		fail(why, why_len, "key templates: %s", kdb_errmsg(b->db));
		return rc;
	}
	fprintf(stderr, "(a) generating %zu root keys\n", 2 * nt);
	t0 = now_s();
	c0 = self_cpu_s();
	h0 = hsms_cpu_s(b);
	for (i = 0; i < nt && !interrupted; i++)
		for (a = 0; a < 2; a++) {
			rc = kms_flow_generate(b->db, b->nodes[N_ROOT].row.id,
			    tids[i], algs[a], &fo, &g, why, why_len);
			if (rc != TKM_OK)
				return rc;
			if (g.existed) {
				fail(why, why_len,
				    "template %lld %s: a root key existed in"
				    " a fresh database",
				    (long long)tids[i], algs[a]);
				return TKM_ERR_INTERNAL;
			}
			b->gen.keys++;
		}
	b->gen.wall_s = now_s() - t0;
	b->gen.kms_cpu_s = self_cpu_s() - c0;
	b->gen.hsm_cpu_s = hsms_cpu_s(b) - h0;
	fprintf(
	    stderr, "  %zu root keys in %.3f s\n", b->gen.keys, b->gen.wall_s);
	return interrupted ? TKM_ERR_CLOSED : TKM_OK;
}

/* --- single host commands ------------------------------------------------ */

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return (a > c) - (a < c);
}

static void
summarise(double *ms, size_t n, struct sample *s)
{
	double sum = 0;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (n == 0)
		return;
	qsort(ms, n, sizeof(*ms), cmp_double);
	for (i = 0; i < n; i++)
		sum += ms[i];
	s->n = n;
	s->min = ms[0];
	s->median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
	s->p90 = ms[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1];
	s->mean = sum / (double)n;
}

/* NC count times at n (after a few unrecorded ones). */
static int
time_nc(
    struct node *n, size_t count, struct sample *s, char *why, size_t why_len)
{
	double ms[N_NC], t;
	char resp[128];
	size_t i, len;
	int rc = TKM_OK;

	for (i = 0; i < 20 && rc == TKM_OK; i++)
		rc = cmd(n, "NC", resp, sizeof(resp), &len, why, why_len);
	for (i = 0; i < count && rc == TKM_OK; i++) {
		t = now_s();
		rc = cmd(n, "NC", resp, sizeof(resp), &len, why, why_len);
		ms[i] = (now_s() - t) * 1e3;
	}
	if (rc == TKM_OK)
		summarise(ms, count, s);
	return rc;
}

/*
 * A8 at the root as the flows send it (the DES TAC root key diversified
 * for the first city and exported under the TK), then A6 of that export
 * at the scratch HSM, each at a new index. The key under TK is wiped.
 */
static int
time_a8_a6(struct bench *b, char *why, size_t why_len)
{
	double ms8[N_A8], ms6[N_A6], t;
	char req[256], resp[256], key[40], factor[17], type[4] = "";
	struct kdb_rows *r = NULL;
	int64_t idx = -1;
	size_t i, len;
	int rc;

	rc = kdb_query(b->db, &r,
	    "SELECT r.idx, t.type_code FROM root_keys r JOIN key_templates t"
	    " ON t.id = r.template_id WHERE t.name = 'tac' AND r.alg = 'DES'"
	    " AND r.state = 'active'");
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		idx = kdb_int(r, 0);
		snprintf(type, sizeof(type), "%s",
		    kdb_text(r, 1) ? kdb_text(r, 1) : "");
	}
	kdb_rows_free(r);
	if (idx < 0 || strlen(type) != 3) {
		fail(why, why_len, "no active DES TAC root key");
		return TKM_ERR_INPUT;
	}
	if ((rc = kms_city_factor("cjt333", kms_cities[0].city_code, factor)) !=
	    TKM_OK) {
		fail(why, why_len, "city factor: %s", tkm_strerror(rc));
		return rc;
	}
	snprintf(req, sizeof(req), "A8T%s%sK%03X1%sX", type, KMS_TK_DES,
	    (unsigned)idx, factor);
	for (i = 0; i < N_A8 && rc == TKM_OK; i++) {
		t = now_s();
		rc = cmd(&b->nodes[N_ROOT], req, resp, sizeof(resp), &len, why,
		    why_len);
		ms8[i] = (now_s() - t) * 1e3;
		if (rc == TKM_OK && len != 33 + 16) {
			fail(why, why_len, "A8: an answer of %zu bytes", len);
			rc = TKM_ERR_INPUT;
		}
	}
	if (rc != TKM_OK)
		goto out;
	summarise(ms8, N_A8, &b->a8);
	snprintf(key, sizeof(key), "%.33s", resp);
	for (i = 0; i < N_A6 && rc == TKM_OK; i++) {
		snprintf(req, sizeof(req), "A6T%s%s%sXK%03X", type, KMS_TK_DES,
		    key, (unsigned)(PROBE_BASE + i));
		t = now_s();
		rc = cmd(&b->nodes[N_SCRATCH], req, resp, sizeof(resp), &len,
		    why, why_len);
		ms6[i] = (now_s() - t) * 1e3;
	}
	if (rc == TKM_OK)
		summarise(ms6, N_A6, &b->a6);
out:
	tkm_cleanse(req, sizeof(req));
	tkm_cleanse(resp, sizeof(resp));
	tkm_cleanse(key, sizeof(key));
	return rc;
}

static int
time_commands(struct bench *b, char *why, size_t why_len)
{
	int rc;

	fprintf(stderr, "timing NC (x%d), A8 (x%d), A6 (x%d) alone\n", N_NC,
	    N_A8, N_A6);
	if ((rc = time_nc(&b->nodes[N_BUSINESS], N_NC, &b->nc_biz, why,
		 why_len)) != TKM_OK ||
	    (rc = time_nc(&b->nodes[N_ROOT], N_NC, &b->nc_root, why,
		 why_len)) != TKM_OK ||
	    (rc = time_a8_a6(b, why, why_len)) != TKM_OK)
		return rc;
	fprintf(stderr, "  medians: NC %.3f ms, A8 %.3f ms, A6 %.3f ms\n",
	    b->nc_biz.median, b->a8.median, b->a6.median);
	return TKM_OK;
}

/* --- (b), (c) issuance --------------------------------------------------- */

/* Time up to A8 (prepare, database reads, A8) and after it (A6, KCVs,
 * the record), per key, in the issuing thread. */
static void
on_step(void *arg, const struct kms_progress *p)
{
	struct worker *w = arg;
	double t = now_s();

	if (p->step == KMS_STEP_EXPORTED) {
		w->export_s += t - w->mark;
	} else {
		w->import_s += t - w->mark;
		w->keys++;
	}
	w->mark = t;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct queue *q = w->q;
	const struct kms_city *c;
	const struct job *j;
	struct kms_batch bt;
	double t;
	size_t i;

	while (!interrupted && !atomic_load(&q->stop) &&
	       (i = atomic_fetch_add(&q->next, 1)) < q->n) {
		j = &q->jobs[i];
		c = &kms_cities[j->city];
		t = w->mark = now_s();
		w->rc = kms_flow_issue_city(w->db, j->city_id, j->target,
		    &w->fo, &bt, w->why, sizeof(w->why));
		if (w->rc == TKM_OK &&
		    (bt.total != j->expect || bt.issued != j->expect ||
			bt.existed != 0)) {
			snprintf(w->why, sizeof(w->why),
			    "%s: %zu keys planned, %zu issued, %zu there"
			    " already; expected %zu new",
			    c->name_en, bt.total, bt.issued, bt.existed,
			    j->expect);
			w->rc = TKM_ERR_INTERNAL;
		}
		if (w->rc != TKM_OK) {
			atomic_store(&q->stop, 1);
			break;
		}
		fprintf(stderr,
		    "  (%s) %2zu/%zu %-10s %s: %2zu keys in %.3f s"
		    " (at %.2f s)\n",
		    q->phase, i + 1, q->n, c->name_en, c->city_code, bt.issued,
		    now_s() - t, now_s() - q->t0);
	}
	return NULL;
}

static int
run_jobs(struct bench *b, struct queue *q, struct phase *ph, char *why,
    size_t why_len)
{
	double c0, h0, e0 = 0, i0 = 0;
	size_t k0 = 0, n, i, started = 0;
	int rc = TKM_OK;

	n = b->o.parallel;
	for (i = 0; i < n; i++) {
		e0 += b->w[i].export_s;
		i0 += b->w[i].import_s;
		k0 += b->w[i].keys;
	}
	c0 = self_cpu_s();
	h0 = hsms_cpu_s(b);
	q->t0 = now_s();
	for (i = 0; i < n; i++) {
		b->w[i].q = q;
		b->w[i].rc = TKM_OK;
		if (pthread_create(&b->w[i].th, NULL, worker_run, &b->w[i]) !=
		    0) {
			atomic_store(&q->stop, 1);
			fail(why, why_len, "pthread_create failed");
			rc = TKM_ERR_INTERNAL;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(b->w[i].th, NULL);
	ph->wall_s = now_s() - q->t0;
	ph->kms_cpu_s = self_cpu_s() - c0;
	ph->hsm_cpu_s = hsms_cpu_s(b) - h0;
	for (i = 0; i < n; i++) {
		ph->export_s += b->w[i].export_s;
		ph->import_s += b->w[i].import_s;
		ph->keys += b->w[i].keys;
		if (rc == TKM_OK && b->w[i].rc != TKM_OK) {
			rc = b->w[i].rc;
			fail(why, why_len, "%s", b->w[i].why);
		}
	}
	ph->export_s -= e0;
	ph->import_s -= i0;
	ph->keys -= k0;
	if (rc == TKM_OK && interrupted)
		rc = TKM_ERR_CLOSED;
	return rc;
}

static int
issue_all(struct bench *b, char *why, size_t why_len)
{
	struct job jobs[KMS_NCITIES];
	struct queue q;
	unsigned i;
	int rc;

	for (i = 0; i < b->o.cities; i++) {
		jobs[i].city = i;
		jobs[i].city_id = b->city_id[i];
		jobs[i].target = b->nodes[N_BUSINESS + i].row.id;
		jobs[i].expect = b->per_city;
	}
	memset(&q, 0, sizeof(q));
	q.phase = "b";
	q.jobs = jobs;
	q.n = b->o.cities;
	fprintf(stderr,
	    "(b) issuing %u cities x %zu keys to their business"
	    " HSMs, %u thread%s\n",
	    b->o.cities, b->per_city, b->o.parallel,
	    b->o.parallel > 1 ? "s" : "");
	if ((rc = run_jobs(b, &q, &b->biz, why, why_len)) != TKM_OK)
		return rc;
	fprintf(stderr, "  %zu keys in %.3f s\n", b->biz.keys, b->biz.wall_s);

	for (i = 0; i < b->o.cities; i++) {
		jobs[i].target = b->nodes[N_CLEARING].row.id;
		jobs[i].expect = b->per_clearing;
	}
	memset(&q, 0, sizeof(q));
	q.phase = "c";
	q.jobs = jobs;
	q.n = b->o.cities;
	fprintf(stderr,
	    "(c) issuing %u cities x %zu keys to the clearing"
	    " HSM\n",
	    b->o.cities, b->per_clearing);
	if ((rc = run_jobs(b, &q, &b->clr, why, why_len)) != TKM_OK)
		return rc;
	fprintf(stderr, "  %zu keys in %.3f s\n", b->clr.keys, b->clr.wall_s);
	return TKM_OK;
}

/* What the database says: every key active, at the HSMs it belongs to. */
static int
verify(struct bench *b, char *why, size_t why_len)
{
	int64_t all = -1, clr = -1, roots = -1;
	size_t want = b->o.cities * (b->per_city + b->per_clearing);
	int rc;

	if ((rc = kdb_int1(b->db, &all,
		 "SELECT COUNT(*) FROM issued_keys WHERE state = 'active'")) !=
		TKM_OK ||
	    (rc = kdb_int1(b->db, &clr,
		 "SELECT COUNT(*) FROM issued_keys WHERE state = 'active'"
		 " AND hsm_id = $1",
		 KDB_INT(b->nodes[N_CLEARING].row.id))) != TKM_OK ||
	    (rc = kdb_int1(b->db, &roots,
		 "SELECT COUNT(*) FROM root_keys WHERE state = 'active'")) !=
		TKM_OK) {
		fail(why, why_len, "counting: %s", kdb_errmsg(b->db));
		return rc;
	}
	if ((size_t)all != want ||
	    (size_t)clr != b->o.cities * b->per_clearing ||
	    (size_t)roots != b->gen.keys || b->biz.keys + b->clr.keys != want) {
		fail(why, why_len,
		    "recorded %lld issued keys (%lld at the clearing HSM) and"
		    " %lld root keys; expected %zu (%zu) and %zu",
		    (long long)all, (long long)clr, (long long)roots, want,
		    b->o.cities * b->per_clearing, b->gen.keys);
		return TKM_ERR_VERIFY;
	}
	return TKM_OK;
}

/* --- report -------------------------------------------------------------- */

struct summary {
	size_t keys;
	double wall_s, lat_ms, export_ms, import_ms, ratio, floor_ms;
	double kms_ms, kms_cpu_ms, hsm_cpu_ms;
	int met;
};

static void
summarise_issue(const struct bench *b, struct summary *s)
{
	double busy;

	memset(s, 0, sizeof(*s));
	s->keys = b->biz.keys + b->clr.keys;
	s->wall_s = b->biz.wall_s + b->clr.wall_s;
	s->met = s->wall_s < GOAL_S;
	if (s->keys == 0)
		return;
	busy = b->biz.export_s + b->biz.import_s + b->clr.export_s +
	       b->clr.import_s;
	s->lat_ms = busy / (double)s->keys * 1e3;
	s->export_ms =
	    (b->biz.export_s + b->clr.export_s) / (double)s->keys * 1e3;
	s->import_ms =
	    (b->biz.import_s + b->clr.import_s) / (double)s->keys * 1e3;
	s->ratio = b->nc_biz.median > 0 ? s->lat_ms / b->nc_biz.median : 0;
	s->floor_ms = b->a8.median + b->a6.median;
	s->kms_ms = s->lat_ms - s->floor_ms;
	s->kms_cpu_ms =
	    (b->biz.kms_cpu_s + b->clr.kms_cpu_s) / (double)s->keys * 1e3;
	s->hsm_cpu_ms =
	    (b->biz.hsm_cpu_s + b->clr.hsm_cpu_s) / (double)s->keys * 1e3;
}

static double
rate(size_t keys, double s)
{
	return s > 0 ? (double)keys / s : 0;
}

static void
row(const char *what, size_t keys, double s)
{
	printf("%-44s %6zu %8.3f %9.1f %8.3f\n", what, keys, s, rate(keys, s),
	    keys ? s / (double)keys * 1e3 : 0);
}

static void
cmd_row(const char *what, const struct sample *s)
{
	printf("  %-42s %8.3f %8.3f %8.3f %8.3f\n", what, s->median, s->mean,
	    s->min, s->p90);
}

static void
print_table(const struct bench *b)
{
	struct summary s;
	char what[64];

	summarise_issue(b, &s);
	printf("tkms-kms-bench: %u cities, %u thread%s, %s; %zu tkms-hsmd"
	       " (%d workers each, one outside the fleet for single"
	       " commands); %ld cores; other load %.0f%% before, %.0f%% after; "
	       "I/O pressure %.0f%%, %.0f%%\n",
	    b->o.cities, b->o.parallel, b->o.parallel > 1 ? "s" : "",
	    b->backend, b->nnodes, HSM_WORKERS, sysconf(_SC_NPROCESSORS_ONLN),
	    b->busy0.cpu_pct, b->busy1.cpu_pct, b->busy0.io_pct,
	    b->busy1.io_pct);
	printf("%-44s %6s %8s %9s %8s\n", "phase", "keys", "s", "keys/s",
	    "ms/key");
	row("(a) root keys generated (A0)", b->gen.keys, b->gen.wall_s);
	snprintf(
	    what, sizeof(what), "(b) business HSMs, %u cities", b->o.cities);
	row(what, b->biz.keys, b->biz.wall_s);
	snprintf(
	    what, sizeof(what), "(c) clearing HSM, %u cities", b->o.cities);
	row(what, b->clr.keys, b->clr.wall_s);
	row("(b)+(c)", s.keys, s.wall_s);
	printf("goal: (b)+(c) < %.0f s for 21 cities: %.3f s, %s\n", GOAL_S,
	    s.wall_s,
	    b->o.cities < KMS_NCITIES ? "not judged (fewer cities)"
	    : s.met                   ? "met"
				      : "MISSED");
	printf("\none key of (b)+(c) in its thread, ms\n");
	printf("  %-42s %8.3f\n", "up to the export: database reads, A8",
	    s.export_ms);
	printf("  %-42s %8.3f\n", "after it: A6, KCVs compared, record",
	    s.import_ms);
	printf("  %-42s %8.3f\n", "issuance (latency per key)", s.lat_ms);
	printf("  %-42s %8.3f\n", "reads: the first less A8 alone",
	    s.export_ms - b->a8.median);
	printf("  %-42s %8.3f\n", "record: the second less A6 alone",
	    s.import_ms - b->a6.median);
	printf("host commands alone, ms %27s %8s %8s %8s\n", "median", "mean",
	    "min", "p90");
	cmd_row("NC at a business HSM", &b->nc_biz);
	cmd_row("NC at the root", &b->nc_root);
	cmd_row("A8 at the root (derive, export under TK)", &b->a8);
	cmd_row("A6 at an HSM (import under TK, store)", &b->a6);
	printf("issuance per key / NC round trip %19.1f\n", s.ratio);
	printf("issuance - (A8 + A6), the KMS's own part %10.3f ms (%.0f%%)\n",
	    s.kms_ms, s.lat_ms > 0 ? 100 * s.kms_ms / s.lat_ms : 0);
	printf("CPU per key: KMS %.3f ms, HSMs %.3f ms\n", s.kms_cpu_ms,
	    s.hsm_cpu_ms);
}

static json_t *
j_phase(const struct phase *p)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "keys",
	    (json_int_t)p->keys, "seconds", p->wall_s, "keys_per_s",
	    rate(p->keys, p->wall_s), "kms_cpu_s", p->kms_cpu_s, "hsm_cpu_s",
	    p->hsm_cpu_s);
}

static json_t *
j_sample(const struct sample *s)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:I}", "median", s->median,
	    "mean", s->mean, "min", s->min, "p90", s->p90, "n",
	    (json_int_t)s->n);
}

static int
print_json(const struct bench *b)
{
	struct summary s;
	json_t *o;
	int rc;

	summarise_issue(b, &s);
	o = json_pack("{s:i, s:i, s:s, s:i, s:i, s:f, s:f, s:f, s:f,"
		      " s:{s:o, s:o, s:o, s:{s:I, s:f, s:f, s:f, s:o}},"
		      " s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f},"
		      " s:{s:o, s:o, s:o, s:o}, s:f}",
	    "cities", (int)b->o.cities, "parallel", (int)b->o.parallel,
	    "backend", b->backend, "hsmd_processes", (int)b->nnodes, "cores",
	    (int)sysconf(_SC_NPROCESSORS_ONLN), "other_load_before_pct",
	    b->busy0.cpu_pct, "other_load_after_pct", b->busy1.cpu_pct,
	    "io_pressure_before_pct", b->busy0.io_pct, "io_pressure_after_pct",
	    b->busy1.io_pct, "phases", "generate", j_phase(&b->gen), "business",
	    j_phase(&b->biz), "clearing", j_phase(&b->clr), "issue", "keys",
	    (json_int_t)s.keys, "seconds", s.wall_s, "keys_per_s",
	    rate(s.keys, s.wall_s), "goal_seconds", GOAL_S, "met",
	    b->o.cities == KMS_NCITIES ? json_boolean(s.met) : json_null(),
	    "per_key_ms", "export", s.export_ms, "import", s.import_ms, "issue",
	    s.lat_ms, "reads", s.export_ms - b->a8.median, "record",
	    s.import_ms - b->a6.median, "kms_cpu", s.kms_cpu_ms, "hsm_cpu",
	    s.hsm_cpu_ms, "commands_ms", "nc_business", j_sample(&b->nc_biz),
	    "nc_root", j_sample(&b->nc_root), "a8", j_sample(&b->a8), "a6",
	    j_sample(&b->a6), "issue_per_nc", s.ratio);
	if (o == NULL)
		return TKM_ERR_NOMEM;
	rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) == 0
		 ? TKM_OK
		 : TKM_ERR_IO;
	printf("\n");
	json_decref(o);
	return rc;
}

/* --- options, main ------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tkms-kms-bench [--cities N (21)] [--parallel N (1)]\n"
	    "           [--db postgresql://...] [--hsmd PATH] [--keep DIR]"
	    " [--json]\n");
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < (long)lo ||
	    v > (long)hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* The daemon next to this program, unless --hsmd names one. */
static int
default_hsmd(char *out, size_t cap)
{
	char self[HSMPROC_PATH], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	return snprintf(out, cap, "%s/tkms-hsmd", self) < (int)cap ? 0 : -1;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"cities", required_argument, NULL, 'c'},
	    {"parallel", required_argument, NULL, 'p'},
	    {"db", required_argument, NULL, 'd'},
	    {"hsmd", required_argument, NULL, 'H'},
	    {"keep", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *hsmd = NULL;
	int ch;

	memset(o, 0, sizeof(*o));
	o->cities = KMS_NCITIES;
	o->parallel = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (parse_uint(optarg, 1, KMS_NCITIES, &o->cities) != 0)
				return -1;
			break;
		case 'p':
			if (parse_uint(optarg, 1, MAX_PARALLEL, &o->parallel) !=
			    0)
				return -1;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'H':
			hsmd = optarg;
			break;
		case 'k':
			o->keep = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	if (hsmd != NULL) {
		if (snprintf(o->hsmd, sizeof(o->hsmd), "%s", hsmd) >=
		    (int)sizeof(o->hsmd))
			return -1;
	} else if (default_hsmd(o->hsmd, sizeof(o->hsmd)) != 0) {
		return -1;
	}
	return 0;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: waits end early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A daemon that goes away must fail a call, not end the program. */
	signal(SIGPIPE, SIG_IGN);
}

/* Each thread its own connection, opened before anything is timed. */
static int
open_workers(struct bench *b, char *why, size_t why_len)
{
	char kw[KDB_WHY];
	unsigned i;
	int rc;

	for (i = 0; i < b->o.parallel; i++) {
		struct worker *w = &b->w[i];

		w->b = b;
		w->fo.timeout_ms = KMS_HSM_TIMEOUT_MS;
		w->fo.tk_des = KMS_TK_DES;
		w->fo.tk_sm4 = KMS_TK_SM4;
		w->fo.progress = on_step;
		w->fo.arg = w;
		if ((rc = kdb_open(b->url, &w->db, kw, sizeof(kw))) != TKM_OK) {
			fail(why, why_len, "kdb_open (thread %u): %s", i, kw);
			return rc;
		}
	}
	return TKM_OK;
}

static int
run(struct bench *b, char *why, size_t why_len)
{
	int rc;

	b->busy0 = other_load();
	if ((rc = make_dir(b, why, why_len)) != TKM_OK ||
	    (rc = start_hsms(b, why, why_len)) != TKM_OK ||
	    (rc = open_db(b, why, why_len)) != TKM_OK ||
	    (rc = load_refs(b, why, why_len)) != TKM_OK ||
	    (rc = register_hsms(b, why, why_len)) != TKM_OK ||
	    (rc = open_workers(b, why, why_len)) != TKM_OK ||
	    (rc = generate_all(b, why, why_len)) != TKM_OK ||
	    (rc = time_commands(b, why, why_len)) != TKM_OK ||
	    (rc = issue_all(b, why, why_len)) != TKM_OK ||
	    (rc = verify(b, why, why_len)) != TKM_OK)
		return rc;
	return TKM_OK;
}

int
main(int argc, char **argv)
{
	static struct bench b; /* large: not on the stack */
	char why[KMS_WHY] = "";
	int rc, rc2;

	if (parse_opts(argc, argv, &b.o) != 0) {
		usage(stderr);
		return 2;
	}
	if (access(b.o.hsmd, X_OK) != 0) {
		fprintf(stderr, "tkms-kms-bench: %s: %s (use --hsmd)\n",
		    b.o.hsmd, strerror(errno));
		return 2;
	}
	catch_signals();
	rc = run(&b, why, sizeof(why));
	if (rc != TKM_OK && interrupted)
		snprintf(why, sizeof(why), "interrupted (signal %d)",
		    (int)interrupted);
	if (rc != TKM_OK)
		fprintf(
		    stderr, "tkms-kms-bench: %s (%s)\n", why, tkm_strerror(rc));
	close_db(&b);
	rc2 = stop_hsms(&b);
	if (rc == TKM_OK && rc2 == TKM_OK) {
		b.busy1 = other_load();
		rc = b.o.json ? print_json(&b) : (print_table(&b), TKM_OK);
		fflush(stdout);
	}
	if (b.o.keep != NULL && b.have_dir)
		fprintf(stderr, "kept %s%s%s\n", b.dir,
		    b.schema[0] ? " and schema " : "", b.schema);
	else if (b.made_dir)
		rmtree(b.dir);
	if (interrupted)
		return 128 + interrupted;
	return rc == TKM_OK && rc2 == TKM_OK ? 0 : 1;
}
