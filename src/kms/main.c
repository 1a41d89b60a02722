/*
 * main.c - tkms-kmsd, the provincial key management system (docs/api.md,
 * docs/kms-schema.md).
 *
 *   tkms-kmsd --dir DIR | --db postgresql://...  [--listen ADDR:PORT]
 *             [--port-file F] [--threads N] [--session-idle SECONDS]
 *             [--health-interval SECONDS] [--web DIR]
 *             [--bootstrap-admin NAME --password-file F]...
 *
 * Dual control needs two users of a role before anything can change, so
 * a new database is bootstrapped with configurators given on the command
 * line (usually two): they are created only while the users table is
 * empty, and every later user comes by proposal and approval.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "health.h"
#include "http.h"
#include "kaudit.h"
#include "kdb.h"
#include "proposal.h"
#include "tkm/mem.h"
#include "tkm/priv.h"
#include "tkm/selftest.h"
#include "web.h"

#define DEFAULT_LISTEN "127.0.0.1:8600"
/* The console's files: the source tree's web/ unless installed
 * elsewhere (CMake sets it). */
#ifndef TKMS_WEB_DIR
#define TKMS_WEB_DIR "/usr/share/tkms/web"
#endif
#define BOOT_MAX 4
#define THREADS  4

struct boot {
	const char *name, *pwfile;
};

struct opts {
	const char *dir, *db, *listen, *port_file;
	const char *web; /* "" none */
	int web_given;
	const char *user; /* --user: become this user first */
	int allow_root;
	unsigned threads;
	unsigned health; /* seconds between NC rounds; 0: none */
	int64_t idle;
	struct boot boot[BOOT_MAX];
	size_t nboot;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tkms-kmsd --dir DIR | --db postgresql://...\n"
	    "                 [--listen ADDR:PORT] [--port-file FILE]\n"
	    "                 [--threads N] [--session-idle SECONDS]\n"
	    "                 [--health-interval SECONDS (60; 0 off)]\n"
	    "                 [--web DIR (the console's files; '' none)]\n"
	    "                 [--bootstrap-admin NAME --password-file "
	    "FILE]...\n");
}

static int
num(const char *s, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && *s != '\0' && *end == '\0' && *out >= lo &&
	       *out <= hi;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"db", required_argument, NULL, 'D'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port-file", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"session-idle", required_argument, NULL, 'i'},
	    {"health-interval", required_argument, NULL, 'H'},
	    {"web", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"allow-root", no_argument, NULL, 'R'},
	    {"bootstrap-admin", required_argument, NULL, 'b'},
	    {"password-file", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long n;
	int ch;

	memset(o, 0, sizeof(*o));
	o->listen = DEFAULT_LISTEN;
	o->threads = THREADS;
	o->idle = KMS_IDLE_SECS;
	o->health = KMS_HEALTH_INTERVAL;
	o->web = TKMS_WEB_DIR;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'D':
			o->db = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'p':
			o->port_file = optarg;
			break;
		case 't':
			if (!num(optarg, 1, 64, &n))
				return -1;
			o->threads = (unsigned)n;
			break;
		case 'H':
			if (!num(optarg, 0, 86400, &n))
				return -1;
			o->health = (unsigned)n;
			break;
		case 'w':
			o->web = optarg;
			o->web_given = 1;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'R':
			o->allow_root = 1;
			break;
		case 'i':
			if (!num(optarg, 1, KMS_SESSION_SECS, &n))
				return -1;
			o->idle = n;
			break;
		case 'b':
			if (o->nboot == BOOT_MAX)
				return -1;
			o->boot[o->nboot++].name = optarg;
			break;
		case 'P':
			/* Belongs to the --bootstrap-admin before it. */
			if (o->nboot == 0 || o->boot[o->nboot - 1].pwfile)
				return -1;
			o->boot[o->nboot - 1].pwfile = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc || (o->dir == NULL) == (o->db == NULL))
		return -1;
	for (n = 0; n < (long)o->nboot; n++)
		if (o->boot[n].pwfile == NULL)
			return -1;
	return 0;
}

/* "ADDR:PORT", "[V6]:PORT" into addr and port. */
static int
split_listen(const char *s, char *addr, size_t cap, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	const char *a = s;
	size_t n;
	long p;

	if (colon == NULL || !num(colon + 1, 0, 65535, &p))
		return -1;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		a = s + 1;
		n -= 2;
	}
	if (n == 0 || n >= cap)
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* The first line of path (at most KMS_PW_MAX bytes) into pw. */
static int
read_password(const char *path, char pw[KMS_PW_MAX + 2])
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL) {
		kms_log("%s: %s", path, strerror(errno));
		return -1;
	}
	ok = fgets(pw, KMS_PW_MAX + 2, f) != NULL;
	fclose(f);
	if (!ok) {
		kms_log("%s: empty", path);
		return -1;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	return 0;
}

/* The bootstrap configurators, only into an empty users table. */
static int
bootstrap(struct kdb *db, const struct opts *o)
{
	char pw[KMS_PW_MAX + 2], hash[KMS_HASH_MAX];
	const char *why;
	int64_t n, id;
	json_t *d;
	size_t i;
	int rc;

	if (o->nboot == 0)
		return TKM_OK;
	if ((rc = kdb_int1(db, &n, "SELECT count(*) FROM users")) != TKM_OK)
		return rc;
	if (n > 0) {
		kms_log("bootstrap: users exist, --bootstrap-admin ignored");
		return TKM_OK;
	}
	if ((rc = kdb_begin(db)) != TKM_OK)
		return rc;
	for (i = 0; i < o->nboot; i++) {
		rc = TKM_ERR_INPUT;
		if (read_password(o->boot[i].pwfile, pw) != 0)
			goto out;
		if (!kms_password_ok(pw, &why)) {
			kms_log("bootstrap %s: %s", o->boot[i].name, why);
			goto out;
		}
		rc = kms_password_hash(pw, hash);
		tkm_cleanse(pw, sizeof(pw));
		if (rc != TKM_OK)
			goto out;
		if ((rc = kms_user_insert(db, (int64_t)time(NULL),
			 o->boot[i].name, "configurator", hash, &id, &why)) !=
		    TKM_OK) {
			kms_log("bootstrap %s: %s", o->boot[i].name, why);
			goto out;
		}
		d = json_pack("{s:s, s:s}", "name", o->boot[i].name, "role",
		    "configurator");
		rc = d == NULL ? TKM_ERR_NOMEM
			       : kms_audit_append(db, (int64_t)time(NULL),
				     "bootstrap", "user.bootstrap", d);
		json_decref(d);
		if (rc != TKM_OK)
			goto out;
		kms_log("bootstrap: configurator %s created", o->boot[i].name);
	}
	if (o->nboot < 2)
		kms_log("bootstrap: only one configurator: nobody can approve "
			"its proposals (dual control); give two");
	rc = kdb_commit(db);
out:
	tkm_cleanse(pw, sizeof(pw));
	tkm_cleanse(hash, sizeof(hash));
	if (rc != TKM_OK)
		(void)kdb_rollback(db);
	return rc;
}

static int
write_port_file(const char *path, const char *addr, unsigned port)
{
	char tmp[4096];
	FILE *f;
	int n, ok;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp) || (f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%s %u\n", addr, port);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * One daemon per SQLite database: recovery at start takes every
 * "approved" proposal for an interrupted one, which is only true when no
 * other kmsd is executing it (PostgreSQL tells by advisory locks; SQLite
 * cannot). DIR/kms.lock is held while the daemon lives; its descriptor is
 * left open on purpose.
 */
static int
lock_dir(const char *dir)
{
	char path[4096];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/kms.lock", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return TKM_ERR_INPUT;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		kms_log("%s: %s", path, strerror(errno));
		return TKM_ERR_IO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		kms_log("%s: %s", path,
		    errno == EWOULDBLOCK
			? "another tkms-kmsd uses this directory (one daemon "
			  "per SQLite database; PostgreSQL for several)"
			: strerror(errno));
		close(fd);
		return TKM_ERR_PERMISSION;
	}
	return TKM_OK;
}

static int
run(const struct opts *o)
{
	const char *url = o->db != NULL ? o->db : o->dir, *why = NULL;
	struct kms_http *http = NULL;
	struct kms_watch *watch = NULL;
	struct kms_web *web = NULL;
	struct kms_api api;
	struct kdb *db = NULL;
	struct tkm_kat_result kat;
	char addr[64], dbwhy[KDB_WHY];
	unsigned port;
	sigset_t sigs;
	size_t nrec = 0;
	int rc, sig = 0, api_ok = 0;

	if (split_listen(o->listen, addr, sizeof(addr), &port) != 0) {
		kms_log("--listen ADDR:PORT, e.g. 127.0.0.1:8600");
		return TKM_ERR_INPUT;
	}
	/* Passwords and tokens travel in the clear until the API has TLS:
	 * loopback only (a TLS proxy on the host may front it). */
	if (strncmp(addr, "127.", 4) != 0 && strcmp(addr, "::1") != 0) {
		kms_log("--listen %s: plain HTTP carries passwords: loopback "
			"only (127.0.0.0/8, ::1); put a TLS proxy in front",
		    addr);
		return TKM_ERR_INPUT;
	}
	if ((rc = tkm_selftest(NULL, NULL, &kat)) != TKM_OK) {
		kms_log(
		    "self-test failed (%u of %u vectors): refusing to start",
		    kat.failed, kat.run);
		return rc;
	}
	/* Signals are taken by sigwait in this thread only: block them
	 * before the server starts its threads, which inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0)
		return TKM_ERR_INTERNAL;
	if ((rc = kdb_open(url, &db, dbwhy, sizeof(dbwhy))) != TKM_OK) {
		kms_log("database: %s", dbwhy);
		return rc;
	}
	kms_log("database: %s, schema version %d",
	    kdb_backend(db) == KDB_PG ? "PostgreSQL" : "SQLite",
	    kdb_version(db));
	if (kdb_backend(db) == KDB_SQLITE && o->dir != NULL &&
	    (rc = lock_dir(o->dir)) != TKM_OK)
		goto out;
	if ((rc = bootstrap(db, o)) != TKM_OK) {
		kms_log("bootstrap failed: %s", tkm_strerror(rc));
		goto out;
	}
	/* Executions a stopped daemon left "approved" (proposal.h). */
	if ((rc = kms_proposal_recover(db, (int64_t)time(NULL), &nrec)) !=
	    TKM_OK) {
		kms_log("interrupted proposals: %s", kdb_errmsg(db));
		goto out;
	}
	if (nrec > 0)
		kms_log("%zu proposal(s) interrupted by a stop in mid-execution"
			" marked failed: propose them again to continue",
		    nrec);
	if ((rc = kms_api_init(&api, url, o->idle)) != TKM_OK)
		goto out;
	api_ok = 1;
	/* One pool thread always stays for requests that do not wait. */
	api.slow_max = o->threads > 1 ? o->threads - 1 : 1;
	if (o->web[0] != '\0' && kms_web_open(o->web, &web, &why) != TKM_OK) {
		kms_log("web console %s: %s%s", o->web, why,
		    o->web_given ? "" : " (not served)");
		if (o->web_given) {
			rc = TKM_ERR_IO;
			goto out;
		}
	}
	if ((rc = kms_http_start(addr, port, o->threads, web, kms_api_handle,
		 &api, &http, &why)) != TKM_OK) {
		kms_log("listen %s: %s", o->listen, why);
		goto out;
	}
	kms_log("listening on %s port %u (%u threads)", addr,
	    kms_http_port(http), o->threads);
	if (o->port_file != NULL &&
	    write_port_file(o->port_file, addr, kms_http_port(http)) != 0) {
		kms_log("%s: cannot write the port file", o->port_file);
		rc = TKM_ERR_IO;
		goto out;
	}
	if (o->health > 0 &&
	    (rc = kms_watch_start(url, o->health, 0, &watch)) != TKM_OK) {
		kms_log("cannot start the health checks: %s", tkm_strerror(rc));
		goto out;
	}
	if (sigwait(&sigs, &sig) != 0)
		rc = TKM_ERR_INTERNAL;
	kms_log("stopping (%s)", sig != 0 ? strsignal(sig) : "error");
out:
	kms_watch_stop(watch);
	kms_http_stop(http);
	kms_web_close(web);
	if (api_ok)
		kms_api_cleanup(&api);
	kdb_close(db);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char why[256];
	int rc;

	if (parse_opts(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	/* Before anything is opened (and it disables core dumps). */
	if ((rc = tkm_priv_setup(o.user, o.allow_root, why, sizeof(why))) !=
	    TKM_OK) {
		fprintf(stderr, "tkms-kmsd: %s\n", why);
		return rc == TKM_ERR_PERMISSION ? 2 : 1; /* 2: how it was run */
	}
	/* Requests carry passwords and components, and jansson frees its
	 * strings without wiping them. */
	json_set_alloc_funcs(tkm_wipe_malloc, tkm_wipe_free);
	signal(SIGPIPE, SIG_IGN);
	kms_log("starting (%s)", o.db != NULL ? "PostgreSQL" : o.dir);
	if ((rc = run(&o)) != TKM_OK) {
		kms_log("exiting on error: %s", tkm_strerror(rc));
		return 1;
	}
	kms_log("stopped");
	return 0;
}
