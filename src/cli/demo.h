/*
 * demo.h - `tkms demo` (docs/demo.md): a whole province from nothing, run
 * end to end through the real interfaces — tkms-hsmd and tkms-kmsd
 * processes, the `tkms hsm ...` console (this binary, run as a child for
 * every step, as an operator types it) and the KMS's HTTP API.
 *
 * Files: cmd_demo.c (options, the phases in order, the end),
 * demo_out.c (output: progress, checks, the report), demo_fleet.c
 * (secrets, daemons, the console), demo_ceremony.c (the HSM ceremonies
 * and the city clone),
 * demo_kms.c (users, HSM registration, keys, issuance, licences),
 * demo_cards.c (the card phase), proc.c (child processes).
 *
 * Everything runs in the main thread except the progress ticker of
 * demo_out.c, which only prints.
 */
#ifndef TKMS_DEMO_H
#define TKMS_DEMO_H

#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "kms_client.h"

/* What every console step runs: this very binary, even if the file is
 * replaced while the demo runs (a rebuild). */
#define DEMO_SELF "/proc/self/exe"

#define DEMO_PATH    1024
#define DEMO_DIR_MAX 512 /* D itself: every path under it fits DEMO_PATH */

/* Exit statuses of `tkms demo`. */
enum {
	DEMO_EXIT_OK = 0,
	DEMO_EXIT_FAILED = 1,
	DEMO_EXIT_USAGE = 2,
	DEMO_EXIT_INTERRUPTED = 130,
};

/* What a phase function returns. */
enum demo_rc {
	DEMO_OK = 0,
	DEMO_FAIL = -1, /* a step failed: d->failed_step says which */
};

/* The HSMs of the demo, in the order they are set up. */
enum demo_hsm_ix {
	DH_ROOT,  /* 省级根密钥加密机 */
	DH_BIZ1,  /* provincial business HSM of Guangzhou 5810 */
	DH_BIZ2,  /* provincial business HSM of the second city */
	DH_CLEAR, /* clearing HSM: the TAC keys of every city */
	DH_CITY,  /* city HSM of Guangzhou, cloned from DH_BIZ1 */
	DH_N
};

#define DEMO_CITY1 "5810" /* Guangzhou */
#define DEMO_CITY2 "5840" /* Shenzhen */

/* The listener of the city HSM that the KMS uses (NC, A6, BU). */
#define DEMO_CITY_KMS_LISTENER 1

struct demo_hsm {
	const char *name;      /* "root", "biz-5810", ...: KMS name too */
	const char *kms_role;  /* root, provincial_business, clearing, city */
	const char *city;      /* city code, or NULL */
	const char *whitelist; /* commands of listener 0 */
	char dir[DEMO_PATH];   /* D/hsm/NAME: state dir, config, log, ... */
	char sec[DEMO_PATH];   /* D/secrets/NAME: cards, PINs, passwords */
	char session[DEMO_PATH];
	pid_t pid;
	unsigned port[2], mport; /* business listeners, management */
	int nlisten;
	char serial[24], dk_kcv[17], ident_fp[17];
	long long kms_id;
};

/* One phase of the report. */
struct demo_phase {
	const char *name;
	long long ms;
	int ok, failed, ran;
	const char *note; /* instead of the checks, or NULL */
};

#define DEMO_PHASES_MAX 12
#define DEMO_KMS_USERS  8

/* A KMS user the demo created, with its session. */
struct demo_user {
	const char *name, *role;
	struct kms k;
};

/* A key issued by the KMS, as the card phase needs it. */
struct demo_key {
	char tmpl[32];     /* template name: load_01, tac, ... */
	char alg[4];       /* DES or SM4 */
	char index[8];     /* as the HSM writes it: K2A0 */
	char type_code[4]; /* HSM key type of the template: 509, ... */
	char kcv[17];
};

#define DEMO_KEYS_MAX 64

struct demo {
	/* options */
	char dir[DEMO_DIR_MAX];
	int dir_given, keep, quiet;
	unsigned cards;
	char card_alg[4]; /* "DES", "SM4", or "" for both, alternating */
	/* this program and the daemons next to it */
	char exe[DEMO_PATH]; /* its path: the daemons are found next to it */
	char hsmd[DEMO_PATH], kmsd[DEMO_PATH];
	int fast_kdf; /* TKMS_ARGON2_FAST=1 in the environment */
	int tty;      /* stdout is a terminal: one updating progress line */

	struct demo_hsm hsm[DH_N];
	char usb[DEMO_PATH]; /* D/usb: the removable disk of the spec */
	/* KCVs on the envelopes (6 hex digits) of the generated components:
	 * [hsm][part] DK, [alg: DES, SM4][part] TK */
	char dk_env[DH_N][3][7], tk_env[2][3][7];
	FILE *cmdlog; /* D/commands.sh: every command, to repeat */

	/* tkms-kmsd */
	pid_t kms_pid;
	char kms_dir[DEMO_PATH], kms_url[64];
	struct demo_user users[DEMO_KMS_USERS];

	/* found on the way, compared later */
	char tk_kcv[2][17];        /* DES K001, SM4 K101 */
	char transport_kcv[2][17]; /* the card-transport masters K7F0, K7F1 */
	char mkey_fp[17];
	char issuer1[9];   /* Guangzhou's issuer code (KMS institutions) */
	json_t *cities;    /* the KMS's institutions of kind city */
	json_t *templates; /* GET /api/templates */
	long long maint_app;

	/* what the card phase receives */
	struct demo_key keys[DEMO_KEYS_MAX]; /* issued to biz-5810 = city */
	size_t nkeys;
	struct demo_key tac[2]; /* clearing HSM, city 5810 */
	size_t ntac;
	char *licences; /* the licences applied at the city HSM */

	/* the card phase's figures, for the report ("" before it ran) */
	char card_figures[2048];

	/* report */
	struct demo_phase phases[DEMO_PHASES_MAX];
	int nphases, phases_total;
	long long t0, phase_t0;
	int checks_ok, checks_failed;
	char failed_step[1024];
};

/* --- demo_out.c ----------------------------------------------------------- */

void demo_phase_begin(struct demo *d, const char *name);
void demo_phase_end(struct demo *d, const char *note);
/* A line of the run (not with --quiet). */
void demo_say(struct demo *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Progress: the updating line on a terminal, a plain line otherwise. */
void demo_progress(struct demo *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A long call of the main thread: the progress line shows text and the
 * seconds spent until demo_wait_end (terminal only). */
void demo_wait_begin(struct demo *d, const char *text);
void demo_wait_end(struct demo *d);
/* One check: ok or FAILED, with what was compared. Returns ok. */
int demo_check(struct demo *d, int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The check "what: a_name A = b_name B" on two strings. */
int demo_check_eq(struct demo *d, const char *what, const char *a_name,
    const char *a, const char *b_name, const char *b);
/* A step that failed: remembered (the first) and printed. DEMO_FAIL. */
int demo_fail(struct demo *d, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The report (stdout and D/report.txt); the exit status. */
int demo_report(struct demo *d, int rc);

/* --- demo_fleet.c --------------------------------------------------------- */

#define DEMO_NROLES 6
extern const char *const demo_roles[DEMO_NROLES]; /* A1 A2 A3 B C D */

/* Command whitelists of the city HSM (appendix 3; the KMS's listener). */
#define DEMO_APPENDIX3    "NC,TE,EI,EJ,EH,EP,ER,GM,UB,KW,G1,U1,U3"
#define DEMO_KMS_COMMANDS "NC,A6,BU"

/* mkdir -p (mode 0700). 0 or -1 (errno). */
int demo_mkdirs(const char *path);
/* The first line of a file, at most cap - 1 bytes, line end removed. */
int demo_read_line(const char *path, char *out, size_t cap);
/* Where h's admin cards and PINs are (the city HSM: biz-5810's). */
const char *demo_cards_dir(struct demo *d, const struct demo_hsm *h);
/* DIR/ROLE.EXT */
void demo_role_path(
    char *out, size_t cap, const char *dir, const char *role, const char *ext);
/* `tkms hsm enrol|login --role R` (op) with the role's card, PIN and
 * password files. */
int demo_card_op(
    struct demo *d, struct demo_hsm *h, const char *op, const char *role);
/* `tkms hsm logout` (every role of the session). */
int demo_logout(struct demo *d, struct demo_hsm *h);
/* `tkms hsm cmd 127.0.0.1:PORT CMD` on a business listener: the ERR
 * code (2 digits) and the answer's fields. */
int demo_host_cmd(struct demo *d, struct demo_hsm *h, int listener,
    const char *cmd, char err[3], char *fields, size_t cap);

void demo_fleet_init(struct demo *d);
/* Directories, secrets and configurations; the daemons started. */
int demo_fleet_start(struct demo *d);

/* Stop every daemon; checks that each stopped cleanly. */
int demo_fleet_stop(struct demo *d);
/* After a failure: report the daemons that exited on their own. */
void demo_fleet_dead(struct demo *d);

/* `tkms hsm WORDS... --host --port --session` against h's management
 * port; *res the parsed JSON result (NULL if none). NULL-terminated
 * words. 0, or DEMO_FAIL after demo_fail. */
int demo_th(struct demo *d, struct demo_hsm *h, json_t **res, ...)
    __attribute__((sentinel));
/* `tkms ARGS...` as a child; stdout in *out (malloc'ed) when out is
 * not NULL. 0, or DEMO_FAIL after demo_fail. */
int demo_tkms(struct demo *d, const char *step, char **out, ...)
    __attribute__((sentinel));
/* Log in roles (NULL-terminated) with h's cards and passwords. */
int demo_login(struct demo *d, struct demo_hsm *h, ...)
    __attribute__((sentinel));
/* Write a secret or any small file (mode 0600, replaced). 0 or -1. */
int demo_write_file(struct demo *d, const char *path, const char *text);
/* The same with a newline after text (secrets: one line each). */
int demo_write_line(struct demo *d, const char *path, const char *text);
/* One word for a shell, quoted when it needs to be (commands.sh). */
void demo_shell_word(FILE *f, const char *a);
/* commands.sh: fn and the words, shell-quoted, D's paths as "$D"/... */
void demo_log(struct demo *d, const char *fn, const char *const *words);
/* The keys list of h as one JSON array (role C logged in). */
int demo_keys_list(struct demo *d, struct demo_hsm *h, json_t **keys);

/* --- demo_ceremony.c ------------------------------------------------------ */

/* The key mother card of the TEST card-transport master keys (`tkms card
 * transport-keys`, docs/card-flows.md): its KCVs into d->transport_kcv,
 * checked against the published ones. */
int demo_mother_card(struct demo *d);
/* Initialisation ceremonies of the root, business and clearing HSMs
 * (the business HSMs also import the mother card's keys, 2.2). */
int demo_ceremony(struct demo *d, int ix);
/* Library backups of biz-5810 and the city HSM cloned from them. */
int demo_city_clone(struct demo *d);

/* --- demo_kms.c ----------------------------------------------------------- */

/* Users: two per role; every user logged in. */
int demo_kms_users(struct demo *d);
/* The root, business and clearing HSMs registered and checked. */
int demo_kms_register(struct demo *d);
/* Root keys generated, issued to the business and clearing HSMs. */
int demo_kms_keys(struct demo *d);
/* The city HSM registered and checked. */
int demo_kms_register_city(struct demo *d);
/* Licences of the city HSM: request, import, propose, approve, export,
 * apply, show. */
int demo_licence(struct demo *d);

/* --- demo_cards.c --------------------------------------------------------- */

/* The algorithm of card n (1..d->cards + 1): d->card_alg, or DES for odd
 * and SM4 for even numbers. "DES" or "SM4". */
const char *demo_card_alg(const struct demo *d, unsigned long n);
/* The cards of alg ("DES", "SM4") among the d->cards of the phase. */
unsigned demo_cards_of(const struct demo *d, const char *alg);
/*
 * The U3 uses the card phase takes on the city HSM's key of template tmpl
 * and alg: one per card of alg when the card has a slot for tmpl (the
 * whole table is written, docs/card-flows.md), one more on the purchase
 * keys for the PSAM of alg. The licences grant exactly these.
 */
unsigned demo_u3_uses(const struct demo *d, const char *tmpl, const char *alg);

/*
 * The card phase (docs/demo.md "8 Cards"): d->cards cards personalised at
 * the city HSM (U3), a PSAM per algorithm, each card loaded with MAC1/MAC2
 * from biz-5810 (UB), spent through its PSAM, both TACs cleared at the
 * clearing HSM (UB), EMV by KW on a sample of DES cards; the licence
 * counts checked and one card more refused with the licence used up.
 * Receives everything in d: the endpoints d->hsm[DH_CITY] (listener 0),
 * d->hsm[DH_BIZ1], d->hsm[DH_CLEAR]; the key indexes d->keys and d->tac;
 * the licences d->licences. Fills d->card_figures. DEMO_OK or DEMO_FAIL.
 */
int demo_cards(struct demo *d);

#endif
