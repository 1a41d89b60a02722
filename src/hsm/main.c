/*
 * main.c - tkms-hsmd, the software HSM (docs/hsmd.md).
 *
 * Start-up order matters: core dumps off before any key exists, the
 * known-answer self-test before any command is served, every listener
 * bound before the port file announces them.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include <jansson.h>

#include "admin.h"
#include "audit.h"
#include "config.h"
#include "db.h"
#include "dk.h"
#include "hsm.h"
#include "mgmt.h"
#include "ops.h"
#include "seal.h"
#include "server.h"
#include "tkm/buf.h"
#include "tkm/mem.h"
#include "tkm/priv.h"
#include "tkm/selftest.h"

/* OpenSSL secure heap: room for the cached private keys of every worker
 * (an RSA-4096 key is about 3 KiB of numbers; 20 per library). */
#define HSM_SECURE_HEAP (4u << 20)

struct opts {
	const char *dir;
	const char *config;
	const char *port_file;
	const char *components;
	const char *user; /* --user: become this user first */
	int workers;      /* -1 = from the config */
	int authorised;
	int allow_root;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tkms-hsmd --dir DIR [--config FILE] [--workers N]\n"
	    "                 [--port-file FILE] [--dev-components C1,C2,C3]\n"
	    "                 [--dev-authorised] [--user NAME | "
	    "--allow-root]\n");
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"workers", required_argument, NULL, 'w'},
	    {"port-file", required_argument, NULL, 'p'},
	    {"dev-components", required_argument, NULL, 'C'},
	    {"dev-authorised", no_argument, NULL, 'A'},
	    {"user", required_argument, NULL, 'u'},
	    {"allow-root", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	long n;
	int ch;

	memset(o, 0, sizeof(*o));
	o->workers = -1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'w':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || n < 1 || n > 256) {
				fprintf(
				    stderr, "tkms-hsmd: --workers 1..256\n");
				return -1;
			}
			o->workers = (int)n;
			break;
		case 'p':
			o->port_file = optarg;
			break;
		case 'C':
			o->components = optarg;
			break;
		case 'A':
			o->authorised = 1;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'R':
			o->allow_root = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc || o->dir == NULL)
		return -1;
	return 0;
}

/* "C1,C2,C3", each 32 hex digits (DESIGN §3.1: DK = C1 xor C2 xor C3). */
static int
parse_components(const char *s, uint8_t c[HSM_DK_PARTS][HSM_DK_LEN])
{
	struct tkm_rd rd = tkm_rd_of(s, strlen(s));
	int i, rc = TKM_OK;

	for (i = 0; i < HSM_DK_PARTS && rc == TKM_OK; i++) {
		if (i > 0 && !tkm_rd_accept(&rd, ','))
			rc = TKM_ERR_INPUT;
		else
			rc = tkm_rd_hex(&rd, c[i], HSM_DK_LEN);
	}
	if (rc == TKM_OK)
		rc = tkm_rd_end(&rd);
	return rc;
}

static int
make_dk(const char *components, struct hsm_dk **dk)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN], kcv[8];
	char hex[2 * sizeof(kcv) + 1];
	int rc;

	*dk = NULL;
	fprintf(stderr, "tkms-hsmd: WARNING: DEVELOPMENT BOOTSTRAP: not for "
			"production (--dev-components puts DK on the command "
			"line)\n");
	if ((rc = parse_components(components, c)) != TKM_OK) {
		hsm_log("--dev-components wants three 32-hex components "
			"separated by commas");
		goto out;
	}
	if ((rc = hsm_dk_new((const uint8_t(*)[HSM_DK_LEN])c, dk)) != TKM_OK) {
		hsm_log("device key: %s", tkm_strerror(rc));
		goto out;
	}
	hsm_dk_kcv(*dk, kcv);
	tkm_hex_encode(kcv, sizeof(kcv), hex);
	hsm_log("unsealed: device key KCV %s", hex);
out:
	tkm_cleanse(c, sizeof(c));
	return rc;
}

static int
prepare_dir(const char *dir)
{
	struct stat sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		hsm_log("%s: %s", dir, strerror(errno));
		return TKM_ERR_IO;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		hsm_log("%s: not a directory", dir);
		return TKM_ERR_IO;
	}
	return TKM_OK;
}

/* One line per listener, "ADDR PORT", then "manage ADDR PORT", written to
 * a temporary file and renamed, so that a reader never sees half of it. */
static int
write_port_file(const char *path, const struct hsm_config *cfg,
    const struct hsm_server *srv, const struct hsm_mgmt *mgmt)
{
	char tmp[4096];
	FILE *f;
	size_t i;
	int n, ok;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return TKM_ERR_INPUT;
	if ((f = fopen(tmp, "w")) == NULL)
		return TKM_ERR_IO;
	for (i = 0; i < cfg->nlisteners; i++)
		fprintf(f, "%s %u\n", cfg->listeners[i].addr,
		    hsm_server_port(srv, i));
	fprintf(f, "manage %s %u\n", cfg->manage.addr, hsm_mgmt_port(mgmt));
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return TKM_ERR_IO;
	}
	return TKM_OK;
}

static void
log_listeners(const struct hsm_config *cfg, const struct hsm_server *srv)
{
	const struct hsm_listener_cfg *l;
	size_t i;

	for (i = 0; i < cfg->nlisteners; i++) {
		l = &cfg->listeners[i];
		hsm_log("listening on %s port %u (header %zu, max frame %zu, "
			"%zu commands, %zu networks on the whitelists)",
		    l->addr, hsm_server_port(srv, i), l->hdrlen, l->max_frame,
		    l->ncmds, l->nnets);
	}
}

static int
load_config(const struct opts *o, struct hsm_config *cfg)
{
	const char *why;
	unsigned line;
	int rc;

	hsm_config_defaults(cfg);
	if (o->config != NULL &&
	    (rc = hsm_config_load(o->config, cfg, &line, &why)) != TKM_OK) {
		hsm_log("%s:%u: %s", o->config, line, why);
		return rc;
	}
	if (o->workers > 0)
		cfg->workers = (unsigned)o->workers;
	return TKM_OK;
}

static int
run(const struct opts *o, struct hsm_config *cfg)
{
	struct hsm_state st = {cfg, o->dir, NULL, 0, NULL, NULL};
	struct hsm_server *srv = NULL;
	struct hsm_mgmt *mgmt = NULL;
	struct hsm_dk *dk = NULL;
	struct tkm_kat_result kat;
	const char *msg = NULL;
	int rc, sig;

	/* OpenSSL keeps private-key numbers (the workers' cached SM2 and RSA
	 * keys) in its secure heap once there is one: locked, excluded
	 * from core dumps, wiped on free. 2 = works but could not mlock. */
	switch (CRYPTO_secure_malloc_init(HSM_SECURE_HEAP, 32)) {
	case 1:
		break;
	case 2:
		hsm_log("warning: OpenSSL secure heap not locked (raise "
			"RLIMIT_MEMLOCK)");
		break;
	default:
		hsm_log("OpenSSL secure heap unavailable: refusing to start");
		return TKM_ERR_NOMEM;
	}
	if ((rc = tkm_selftest(NULL, NULL, &kat)) != TKM_OK) {
		hsm_log(
		    "self-test failed (%u of %u vectors): refusing to start",
		    kat.failed, kat.run);
		return rc;
	}
	hsm_log("self-test passed (%u vectors)", kat.run);
	if ((rc = prepare_dir(o->dir)) != TKM_OK)
		goto out;
	if ((rc = hsm_admin_open(o->dir, &st.admin)) != TKM_OK) {
		hsm_log("admin.db: %s", tkm_strerror(rc));
		goto out;
	}
	if ((rc = hsm_net_apply(st.admin, cfg)) != TKM_OK) {
		hsm_log("net.set settings: %s", tkm_strerror(rc));
		goto out;
	}
	if ((rc = hsm_audit_open(o->dir, &st.audit)) != TKM_OK) {
		hsm_log("audit.db: %s", tkm_strerror(rc));
		goto out;
	}
	hsm_audit_use_ident(st.audit, st.admin); /* checkpoints' signer */
	if (o->components != NULL) {
		if ((rc = make_dk(o->components, &dk)) != TKM_OK)
			goto out;
	} else {
		/* A seal that does not open leaves the HSM sealed, not
		 * stopped: the administrators can still unseal it. */
		if (hsm_seal_start(o->dir, cfg->seal, &dk, &msg) != TKM_OK)
			hsm_log("seal %s: %s", hsm_seal_mode_name(cfg->seal),
			    msg != NULL ? msg : "failed");
		else if (msg != NULL)
			hsm_log(
			    "seal %s: %s", hsm_seal_mode_name(cfg->seal), msg);
	}
	atomic_store(&st.dk, dk);
	if (st.dk == NULL)
		hsm_log("sealed: no device key, commands that need it answer "
			"13");
	atomic_store(&st.authorised, o->authorised);
	if (o->authorised)
		hsm_log("authorised state on (--dev-authorised)");
	/* whitelist.set and time.set outlive a restart (admin.db). */
	if ((rc = hsm_settings_apply(&st)) != TKM_OK) {
		hsm_log("settings: %s", tkm_strerror(rc));
		goto out;
	}
	if ((rc = hsm_server_new(&st, &srv)) != TKM_OK)
		goto out;
	if ((rc = hsm_server_start(srv)) != TKM_OK)
		goto out;
	log_listeners(cfg, srv);
	if ((rc = hsm_mgmt_start(&st, &cfg->manage, &mgmt)) != TKM_OK) {
		hsm_log("manage %s:%u: %s", cfg->manage.addr, cfg->manage.port,
		    tkm_strerror(rc));
		goto stop;
	}
	hsm_log("management on %s port %u (%s)", cfg->manage.addr,
	    hsm_mgmt_port(mgmt),
	    cfg->manage.tls_cert[0] != '\0' ? "TLS" : "plain");
	if (o->port_file != NULL &&
	    (rc = write_port_file(o->port_file, cfg, srv, mgmt)) != TKM_OK) {
		hsm_log("%s: cannot write the port file", o->port_file);
		goto stop;
	}
	sig = hsm_server_wait(srv);
	hsm_log("stopping (%s)", sig != 0 ? strsignal(sig) : "worker failed");
	rc = sig != 0 ? TKM_OK : TKM_ERR_INTERNAL;
	goto out;
stop:
	kill(getpid(), SIGTERM); /* hsm_server_wait() then returns */
	(void)hsm_server_wait(srv);
out:
	hsm_mgmt_stop(mgmt);
	hsm_server_free(srv);
	hsm_state_cleanup(&st); /* after every thread that reads it */
	if (st.audit != NULL)
		hsm_audit_close(st.audit);
	if (st.admin != NULL)
		hsm_admin_close(st.admin);
	hsm_dk_free(st.dk);
	return rc;
}

int
main(int argc, char **argv)
{
	struct hsm_config cfg;
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
		fprintf(stderr, "tkms-hsmd: %s\n", why);
		return rc == TKM_ERR_PERMISSION ? 2 : 1; /* 2: how it was run */
	}
	/* Requests carry passwords and components, and jansson frees its
	 * strings without wiping them. */
	json_set_alloc_funcs(tkm_wipe_malloc, tkm_wipe_free);
	/* A client that goes away must not kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (load_config(&o, &cfg) != TKM_OK)
		return 2;
	hsm_log("starting (dir %s)", o.dir);
	rc = run(&o, &cfg);
	libevent_global_shutdown();
	if (rc != TKM_OK) {
		/* The store's own words when a file failed ("keys.db: disk
		 * full (...)"), the code's otherwise. */
		hsm_log("exiting on error: %s",
		    rc == TKM_ERR_IO && hsm_db_cause() != NULL
			? hsm_db_cause()
			: tkm_strerror(rc));
		return 1;
	}
	hsm_log("stopped");
	return 0;
}
