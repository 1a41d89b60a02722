/*
 * cmd_demo.c - `tkms demo [--dir D] [--cards N] [--alg DES|SM4] [--keep]
 * [--quiet]`: a province from nothing (docs/demo.md). Options, the phases
 * in order, the end: every daemon stopped, D removed after a run that
 * passed (unless --keep or --dir), kept after one that did not.
 *
 * Exit status: 0 every check passed; 1 a step or check failed; 2 usage;
 * 130 interrupted.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "proc.h"

#define CARDS_DEFAULT 1000
#define CARDS_MAX     100000
#define STOP_WAIT     (30 * 1000)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tkms demo [--dir D] [--cards N] [--alg DES|SM4] [--keep] "
	    "[--quiet]\n"
	    "  Starts a root, two business, a clearing and a city tkms-hsmd "
	    "and a\n"
	    "  tkms-kmsd on the loopback, runs every ceremony and key flow, "
	    "issues,\n"
	    "  loads, spends and clears N cards and reports each check "
	    "(docs/demo.md).\n"
	    "  --dir D    work in D (created, or empty) and keep it\n"
	    "  --cards N  cards of the card phase (1-%d, default %d)\n"
	    "  --alg A    every card DES or SM4 (default: both, "
	    "alternating)\n"
	    "  --keep     keep the directory after a run that passed too\n"
	    "  --quiet    only failures and the report\n"
	    "  exit status: 0 passed, 1 failed, 2 usage, 130 interrupted\n",
	    CARDS_MAX, CARDS_DEFAULT);
}

/* A program next to this one, else on PATH. */
static int
sibling(struct demo *d, const char *name, char *out, size_t cap)
{
	const char *slash = strrchr(d->exe, '/'), *path, *p, *e;
	char cand[DEMO_PATH];
	size_t n;

	if (slash != NULL) {
		snprintf(
		    out, cap, "%.*s/%s", (int)(slash - d->exe), d->exe, name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	if ((path = getenv("PATH")) != NULL)
		for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
			if ((e = strchr(p, ':')) == NULL)
				e = p + strlen(p);
			n = (size_t)(e - p);
			snprintf(
			    cand, sizeof(cand), "%.*s/%s", (int)n, p, name);
			if (n > 0 && access(cand, X_OK) == 0) {
				snprintf(out, cap, "%s", cand);
				return 0;
			}
		}
	fprintf(stderr, "tkms demo: %s is neither next to %s nor on PATH\n",
	    name, d->exe);
	return -1;
}

static int
dir_empty(const char *path)
{
	struct dirent *e;
	DIR *dir = opendir(path);
	int empty = 1;

	if (dir == NULL)
		return 0;
	while (empty && (e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(dir);
	return empty;
}

/* D: the one given (created, or an empty directory), or a new one. */
static int
work_dir(struct demo *d, const char *given)
{
	char tmpl[DEMO_PATH], real[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	if (given == NULL) {
		snprintf(tmpl, sizeof(tmpl), "%s/tkms-demo-XXXXXX",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
		if (mkdtemp(tmpl) == NULL) {
			fprintf(stderr, "tkms demo: %s: %s\n", tmpl,
			    strerror(errno));
			return -1;
		}
		given = tmpl;
	} else if (mkdir(given, 0700) != 0 &&
		   (errno != EEXIST || !dir_empty(given))) {
		fprintf(stderr, "tkms demo: %s: %s\n", given,
		    errno == EEXIST ? "not an empty directory"
				    : strerror(errno));
		return -1;
	}
	if (realpath(given, real) == NULL || strlen(real) >= 400) {
		fprintf(stderr, "tkms demo: %s: %s\n", given,
		    errno != 0 ? strerror(errno) : "path too long");
		return -1;
	}
	memcpy(d->dir, real, strlen(real) + 1);
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

static int
parse(struct demo *d, int argc, char **argv, const char **dir)
{
	static const struct option lo[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"cards", required_argument, NULL, 'n'},
	    {"alg", required_argument, NULL, 'a'},
	    {"keep", no_argument, NULL, 'k'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	long v;
	int ch;

	*dir = NULL;
	d->cards = CARDS_DEFAULT;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			*dir = optarg;
			d->dir_given = 1;
			break;
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 ||
			    v > CARDS_MAX) {
				fprintf(stderr, "tkms demo: --cards: 1 to %d\n",
				    CARDS_MAX);
				return -1;
			}
			d->cards = (unsigned)v;
			break;
		case 'a':
			if (strcmp(optarg, "DES") != 0 &&
			    strcmp(optarg, "SM4") != 0) {
				fprintf(
				    stderr, "tkms demo: --alg: DES or SM4\n");
				return -1;
			}
			snprintf(
			    d->card_alg, sizeof(d->card_alg), "%s", optarg);
			break;
		case 'k':
			d->keep = 1;
			break;
		case 'q':
			d->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

static int
setup(struct demo *d, const char *dir)
{
	char path[DEMO_PATH + 32];
	const char *fast = getenv("TKMS_ARGON2_FAST");
	ssize_t n;

	if ((n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1)) <= 0) {
		fprintf(
		    stderr, "tkms demo: /proc/self/exe: %s\n", strerror(errno));
		return DEMO_EXIT_FAILED;
	}
	d->exe[n] = '\0';
	if (sibling(d, "tkms-hsmd", d->hsmd, sizeof(d->hsmd)) != 0 ||
	    sibling(d, "tkms-kmsd", d->kmsd, sizeof(d->kmsd)) != 0)
		return DEMO_EXIT_FAILED;
	if (work_dir(d, dir) != 0)
		return DEMO_EXIT_USAGE;
	d->fast_kdf = fast != NULL && strcmp(fast, "1") == 0;
	d->tty = isatty(STDOUT_FILENO);
	snprintf(path, sizeof(path), "%s/commands.sh", d->dir);
	/* "e": close-on-exec, or every daemon would hold it open. */
	if ((d->cmdlog = fopen(path, "we")) != NULL) {
		fprintf(d->cmdlog,
		    "# tkms demo: every command it ran, in order, to repeat "
		    "by hand (docs/demo.md).\n"
		    "# The demo calls the KMS's HTTP API itself; each call "
		    "is written here as the\n"
		    "# `tkms kms` command that does the same. Secrets are "
		    "files under $D/secrets.\n"
		    "D=");
		demo_shell_word(d->cmdlog, d->dir);
		fputc('\n', d->cmdlog);
	}
	return 0;
}

/* The ports, key indexes and licences the card phase uses. */
static void
card_inputs(struct demo *d)
{
	const struct demo_hsm *c = &d->hsm[DH_CITY], *b = &d->hsm[DH_BIZ1],
			      *t = &d->hsm[DH_CLEAR];
	size_t i;

	demo_say(d, "the card phase uses:");
	demo_say(d, "  personalisation (U3): %s 127.0.0.1:%u (header 8)",
	    c->name, c->port[0]);
	demo_say(d, "  load MAC1/MAC2 (UB):  %s 127.0.0.1:%u (header 8)",
	    b->name, b->port[0]);
	demo_say(d, "  TAC (UB):             %s 127.0.0.1:%u (header 8)",
	    t->name, t->port[0]);
	demo_say(d, "  keys of %s (biz-%s, and cloned in %s), from the KMS:",
	    DEMO_CITY1, DEMO_CITY1, c->name);
	for (i = 0; i < d->nkeys; i++) {
		const struct demo_key *k = &d->keys[i], *n = NULL;

		if (i + 1 < d->nkeys &&
		    strcmp(d->keys[i + 1].tmpl, k->tmpl) == 0)
			n = &d->keys[++i];
		demo_say(d, "    %-13s type %s  %s %s KCV %-16s %s %s %s%s",
		    k->tmpl, k->type_code, k->alg, k->index, k->kcv,
		    n != NULL ? n->alg : "", n != NULL ? n->index : "",
		    n != NULL ? "KCV " : "", n != NULL ? n->kcv : "");
	}
	for (i = 0; i < d->ntac; i++)
		demo_say(d, "  clearing TAC of %s: %s %s type %s KCV %s",
		    DEMO_CITY1, d->tac[i].alg, d->tac[i].index,
		    d->tac[i].type_code, d->tac[i].kcv);
	demo_say(d,
	    "  card-transport masters (TEST): DES K7F0 KCV %s, SM4 K7F1 KCV "
	    "%s, type 309, in %s by the clone",
	    d->transport_kcv[0], d->transport_kcv[1], c->name);
	demo_say(d, "  licences at %s: usb/%s-update.txt (applied)", c->name,
	    c->name);
}

/* Each phase: a name and a function; the run stops at the first that
 * fails or leaves a failed check. */
static int
phase(struct demo *d, const char *name, int (*fn)(struct demo *, int), int arg)
{
	int rc;

	if (proc_interrupted())
		return DEMO_FAIL;
	demo_phase_begin(d, name);
	rc = fn(d, arg);
	demo_phase_end(d, NULL);
	if (rc == 0 && d->checks_failed > 0)
		rc = DEMO_FAIL;
	return rc;
}

static int
ph_start(struct demo *d, int arg)
{
	(void)arg;
	return demo_fleet_start(d);
}

static int
ph_ceremony(struct demo *d, int ix)
{
	return demo_ceremony(d, ix);
}

/* The business and clearing ceremonies are independent of each other
 * (each needs only the root's maintenance public key): they run side by
 * side, one thread each, which halves the time Argon2id takes on two
 * cores. Each thread only runs console commands (proc_run). */
struct ceremony_job {
	struct demo *d;
	int ix, rc;
	long long ms;
};

static void *
ceremony_thread(void *arg)
{
	struct ceremony_job *j = arg;
	long long t0 = proc_now_ms();

	j->rc = demo_ceremony(j->d, j->ix);
	j->ms = proc_now_ms() - t0;
	return NULL;
}

static int
ph_ceremonies(struct demo *d, int arg)
{
	static const int ix[] = {DH_BIZ1, DH_BIZ2, DH_CLEAR};
	struct ceremony_job jobs[3];
	pthread_t th[3];
	int started[3], i, rc = 0;
	sigset_t all, old;

	(void)arg;
	if (demo_mother_card(d) != 0)
		return DEMO_FAIL;
	sigfillset(&all); /* signals stay with the main thread */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < 3; i++) {
		jobs[i] = (struct ceremony_job){d, ix[i], 0, 0};
		started[i] = pthread_create(
				 &th[i], NULL, ceremony_thread, &jobs[i]) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (i = 0; i < 3; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			ceremony_thread(&jobs[i]);
		if (jobs[i].rc != 0)
			rc = DEMO_FAIL;
		else
			demo_say(d, "%s: ceremony done in %.1f s",
			    d->hsm[ix[i]].name, (double)jobs[i].ms / 1000.0);
	}
	return rc;
}

static int
ph_kms(struct demo *d, int arg)
{
	(void)arg;
	if (demo_kms_users(d) != 0)
		return DEMO_FAIL;
	return demo_kms_register(d);
}

static int
ph_keys(struct demo *d, int arg)
{
	(void)arg;
	return demo_kms_keys(d);
}

static int
ph_city(struct demo *d, int arg)
{
	(void)arg;
	if (demo_city_clone(d) != 0)
		return DEMO_FAIL;
	return demo_kms_register_city(d);
}

static int
ph_licence(struct demo *d, int arg)
{
	(void)arg;
	return demo_licence(d);
}

static int
ph_cards(struct demo *d, int arg)
{
	(void)arg;
	card_inputs(d);
	return demo_cards(d);
}

static int
ph_stop(struct demo *d, int arg)
{
	(void)arg;
	return demo_fleet_stop(d);
}

static int
run_phases(struct demo *d)
{
	static const struct {
		const char *name;
		int (*fn)(struct demo *, int);
		int arg;
	} phases[] = {
	    {"daemons started", ph_start, 0},
	    {"root HSM ceremony", ph_ceremony, DH_ROOT},
	    {"business and clearing HSM ceremonies", ph_ceremonies, 0},
	    {"KMS users and HSMs", ph_kms, 0},
	    {"root keys and issuance", ph_keys, 0},
	    {"city HSM " DEMO_CITY1 " cloned", ph_city, 0},
	    {"maintenance licences", ph_licence, 0},
	    {"cards", ph_cards, 0},
	};
	size_t i;

	d->phases_total = (int)(sizeof(phases) / sizeof(phases[0])) + 1;
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (phase(d, phases[i].name, phases[i].fn, phases[i].arg) != 0)
			return DEMO_FAIL;
	if (phase(d, "daemons stopped", ph_stop, 0) != 0)
		return DEMO_FAIL;
	return DEMO_OK;
}

int
cmd_demo(int argc, char **argv)
{
	struct demo *d = calloc(1, sizeof(*d));
	const char *dir;
	int rc, status;

	if (d == NULL)
		return 1;
	demo_fleet_init(d);
	if (parse(d, argc, argv, &dir) != 0) {
		usage(stderr);
		free(d);
		return DEMO_EXIT_USAGE;
	}
	if (proc_signals_install() != 0) {
		free(d);
		return DEMO_EXIT_FAILED;
	}
	if ((rc = setup(d, dir)) != 0) {
		free(d);
		return rc;
	}
	d->t0 = proc_now_ms();
	printf("tkms demo: a province from nothing in %s\n", d->dir);
	printf("password hashing: %s\n",
	    d->fast_kdf
		? "Argon2id at the test cost (TKMS_ARGON2_FAST=1)"
		: "Argon2id at the production cost, 64 MiB per card PIN and "
		  "password: every login takes a while (TKMS_ARGON2_FAST=1 "
		  "for the test cost)");
	fflush(stdout);
	rc = run_phases(d);
	if (rc == DEMO_FAIL && !proc_interrupted())
		demo_fleet_dead(d);
	/* Whatever happened: no daemon and no command is left behind. */
	proc_stop_all(STOP_WAIT);
	if (proc_interrupted())
		status = DEMO_EXIT_INTERRUPTED;
	else if (rc == DEMO_OK && d->checks_failed == 0)
		status = DEMO_EXIT_OK;
	else
		status = DEMO_EXIT_FAILED;
	if (d->cmdlog != NULL)
		fclose(d->cmdlog);
	demo_report(d, status);
	if (status == DEMO_EXIT_OK && !d->keep && !d->dir_given) {
		if (nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
			fprintf(
			    stderr, "tkms demo: could not remove %s\n", d->dir);
	} else {
		printf("directory kept: %s\n", d->dir);
	}
	json_decref(d->cities);
	json_decref(d->templates);
	free(d->licences);
	free(d);
	return status;
}
