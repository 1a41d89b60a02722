/*
 * demo_fleet.c - the fleet of `tkms demo` (demo.h, docs/demo.md):
 * generated secrets, the tkms-hsmd and tkms-kmsd processes, and the
 * console (`tkms hsm ...` run as a child of this program, exactly as
 * docs/ceremonies.md writes each step) that demo_ceremony.c and
 * demo_kms.c drive them with.
 *
 * Nothing here reaches into an HSM: every step is a management operation
 * through the console or a host command through `tkms hsm cmd`. The only
 * key material the demo itself handles is what people bring to a
 * ceremony — the generated components in their envelopes (files under
 * D/secrets, whose KCVs it computes as the envelope would show them).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "proc.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define ARGV_MAX    48
#define RUN_TIMEOUT (300 * 1000) /* one console command, Argon2 included */
#define START_WAIT  (30 * 1000)  /* a daemon's port file */
#define STOP_WAIT   (30 * 1000)

const char *const demo_roles[DEMO_NROLES] = {"A1", "A2", "A3", "B", "C", "D"};

/* --- files ---------------------------------------------------------------- */

int
demo_mkdirs(const char *path)
{
	char p[DEMO_PATH];
	size_t i;

	snprintf(p, sizeof(p), "%s", path);
	for (i = 1; p[i] != '\0'; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return -1;
		p[i] = '/';
	}
	return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int
write_text(struct demo *d, const char *path, const char *text, int newline)
{
	size_t n = strlen(text);
	int fd, ok;

	(void)unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0)
		return demo_fail(d, "write", "%s: %s", path, strerror(errno));
	ok = write(fd, text, n) == (ssize_t)n &&
	     (!newline || write(fd, "\n", 1) == 1);
	ok = close(fd) == 0 && ok;
	return ok ? 0 : demo_fail(d, "write", "%s: write failed", path);
}

int
demo_write_file(struct demo *d, const char *path, const char *text)
{
	return write_text(d, path, text, 0);
}

int
demo_write_line(struct demo *d, const char *path, const char *text)
{
	return write_text(d, path, text, 1);
}

int
demo_read_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	int ok;

	out[0] = '\0';
	if (f == NULL)
		return -1;
	ok = fgets(out, (int)cap, f) != NULL;
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return ok ? 0 : -1;
}

/* --- generated secrets ---------------------------------------------------- */

/* n characters of alphabet, uniformly (rejection sampling). */
static int
rand_text(char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet), i = 0, lim = 256 - 256 % k;
	uint8_t b[64];
	size_t j;

	while (i < n) {
		if (tkm_random(b, sizeof(b)) != TKM_OK)
			return -1;
		for (j = 0; j < sizeof(b) && i < n; j++)
			if (b[j] < lim)
				out[i++] = alphabet[b[j] % k];
	}
	out[n] = '\0';
	tkm_cleanse(b, sizeof(b));
	return 0;
}

static int
secret_file(struct demo *d, const char *dir, const char *name, size_t n,
    const char *alphabet)
{
	char path[DEMO_PATH + 64], text[80];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (rand_text(text, n, alphabet) != 0)
		return demo_fail(d, "secrets", "no random bytes");
	rc = demo_write_line(d, path, text);
	tkm_cleanse(text, sizeof(text));
	return rc;
}

/*
 * A random component (DES with odd parity, or SM4), 32 hex digits, into
 * dir/name, and its KCV as the envelope shows it (6 hex digits) into
 * kcv. The component is wiped here.
 */
static int
component_file(
    struct demo *d, const char *dir, const char *name, int alg, char kcv[7])
{
	uint8_t c[16], k[TKM_KCV_LEN];
	char path[DEMO_PATH + 64], hex[40];
	int rc = DEMO_FAIL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (tkm_component_random(alg, sizeof(c), c) != TKM_OK ||
	    tkm_kcv(alg, c, sizeof(c), k) != TKM_OK) {
		demo_fail(d, "secrets", "cannot make a component");
		goto out;
	}
	tkm_hex_encode(c, sizeof(c), hex);
	if (demo_write_line(d, path, hex) != 0)
		goto out;
	tkm_hex_encode(k, 3, kcv);
	rc = 0;
out:
	tkm_cleanse(c, sizeof(c));
	tkm_cleanse(hex, sizeof(hex));
	return rc;
}

#define PW_ALPHABET "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

static int
make_secrets(struct demo *d)
{
	char dir[DEMO_PATH + 16], name[32], env[DEMO_PATH + 32], line[160];
	FILE *f;
	int ix, r, a;

	snprintf(env, sizeof(env), "%s/secrets", d->dir);
	if (demo_mkdirs(env) != 0)
		return demo_fail(d, "secrets", "%s: %s", env, strerror(errno));
	snprintf(env, sizeof(env), "%s/secrets/envelopes.txt", d->dir);
	if ((f = fopen(env, "w")) == NULL)
		return demo_fail(d, "secrets", "%s: %s", env, strerror(errno));
	fprintf(f, "# KCVs written on the envelopes of the generated "
		   "components (6 hex digits)\n");
	for (ix = 0; ix < DH_N; ix++) {
		struct demo_hsm *h = &d->hsm[ix];

		if (demo_mkdirs(h->sec) != 0)
			goto fail;
		if (ix == DH_CITY) /* the business HSM's people clone it */
			continue;
		for (r = 0; r < DEMO_NROLES; r++) {
			snprintf(name, sizeof(name), "%s.pin", demo_roles[r]);
			if (secret_file(d, h->sec, name, 8, "0123456789") != 0)
				goto fail;
			snprintf(
			    name, sizeof(name), "%s.password", demo_roles[r]);
			if (secret_file(d, h->sec, name, 16, PW_ALPHABET) != 0)
				goto fail;
		}
		for (r = 0; r < 3; r++) {
			snprintf(name, sizeof(name), "dk-A%d.component", r + 1);
			if (component_file(d, h->sec, name, TKM_SM4,
				d->dk_env[ix][r]) != 0)
				goto fail;
			snprintf(name, sizeof(name), "dk-A%d.password", r + 1);
			if (secret_file(d, h->sec, name, 16, PW_ALPHABET) != 0)
				goto fail;
			fprintf(f, "%-10s DK component A%d  KCV %s\n", h->name,
			    r + 1, d->dk_env[ix][r]);
		}
	}
	snprintf(dir, sizeof(dir), "%s/secrets/tk", d->dir);
	if (demo_mkdirs(dir) != 0)
		goto fail;
	for (a = 0; a < 2; a++)
		for (r = 0; r < 3; r++) {
			snprintf(name, sizeof(name), "%s-%d.component",
			    a == 0 ? "des" : "sm4", r + 1);
			if (component_file(d, dir, name,
				a == 0 ? TKM_DES : TKM_SM4,
				d->tk_env[a][r]) != 0)
				goto fail;
			snprintf(line, sizeof(line),
			    "TK %s component %d  KCV %s\n",
			    a == 0 ? "DES" : "SM4", r + 1, d->tk_env[a][r]);
			fputs(line, f);
		}
	snprintf(dir, sizeof(dir), "%s/secrets/kms", d->dir);
	if (demo_mkdirs(dir) != 0)
		goto fail;
	for (r = 0; r < DEMO_KMS_USERS; r++) {
		snprintf(name, sizeof(name), "%s.password", d->users[r].name);
		if (secret_file(d, dir, name, 16, PW_ALPHABET) != 0)
			goto fail;
	}
	if (fclose(f) != 0)
		return demo_fail(d, "secrets", "%s", env);
	return 0;
fail:
	fclose(f);
	return d->failed_step[0] != '\0'
		   ? DEMO_FAIL
		   : demo_fail(d, "secrets", "%s: %s", d->dir, strerror(errno));
}

/* --- running commands ----------------------------------------------------- */

/* Shell-quoted argument (for commands.sh). */
void
demo_shell_word(FILE *f, const char *a)
{
	const char *p;

	if (a[0] != '\0' && strspn(a, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				      "-_./:=,@+") == strlen(a)) {
		fputs(a, f);
		return;
	}
	fputc('\'', f);
	for (p = a; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

/* The path relative to D when it is under it ($D/...), for the log. */
static void
log_word(struct demo *d, FILE *f, const char *a)
{
	size_t n = strlen(d->dir);

	if (strncmp(a, d->dir, n) == 0 && (a[n] == '/' || a[n] == '\0')) {
		fputs("\"$D\"", f);
		demo_shell_word(f, a + n);
		return;
	}
	demo_shell_word(f, a);
}

/* The last line of a command's stderr, for a message. */
static const char *
last_line(const char *s, char *buf, size_t cap)
{
	size_t n = s != NULL ? strlen(s) : 0;
	const char *p;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return "(no message)";
	for (p = s + n; p > s && p[-1] != '\n'; p--)
		;
	snprintf(buf, cap, "%.*s", (int)(s + n - p), p);
	return buf;
}

/* The words of a step, for messages: "root: tkms hsm keys list". */
static void
step_name(char *out, size_t cap, const char *who, char **argv, int from)
{
	size_t n;
	int i;

	n = (size_t)snprintf(out, cap, "%s%stkms", who, who[0] ? ": " : "");
	for (i = from; argv[i] != NULL && argv[i][0] != '-' && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, " %s", argv[i]);
}

/* Append the NULL-terminated va_list words to argv[*n...]; room is left
 * for the connection options. */
static int
collect(char **argv, int *n, va_list ap)
{
	const char *a;

	while ((a = va_arg(ap, const char *)) != NULL) {
		if (*n >= ARGV_MAX - 10)
			return -1;
		argv[(*n)++] = (char *)a;
	}
	argv[*n] = NULL;
	return 0;
}

/* commands.sh is written by the ceremonies that run side by side: one
 * line at a time. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

/* commands.sh: fn and argv[from..to). */
static void
log_cmd(struct demo *d, const char *fn, char **argv, int from, int to)
{
	int i;

	if (d->cmdlog == NULL)
		return;
	pthread_mutex_lock(&log_mu);
	fputs(fn, d->cmdlog);
	for (i = from; i < to; i++) {
		fputc(' ', d->cmdlog);
		log_word(d, d->cmdlog, argv[i]);
	}
	fputc('\n', d->cmdlog);
	fflush(d->cmdlog);
	pthread_mutex_unlock(&log_mu);
}

/* Run argv (argv[0] this program), logged as fn and argv[from...]; 0
 * when it ran. */
static int
run(struct demo *d, const char *fn, char **argv, int from, int to,
    const char *step, struct proc_out *o)
{
	char why[256];

	log_cmd(d, fn, argv, from, to);
	if (proc_run(argv, RUN_TIMEOUT, o, why, sizeof(why)) != 0)
		return demo_fail(d, step, "%s", why);
	return 0;
}

static int
finish(struct demo *d, const char *step, struct proc_out *o, char **out)
{
	char buf[512];

	if (o->status != 0)
		return demo_fail(d, step, "exit status %d: %s", o->status,
		    last_line(o->err, buf, sizeof(buf)));
	if (out != NULL) {
		*out = o->out;
		o->out = NULL;
	}
	return 0;
}

int
demo_tkms(struct demo *d, const char *step, char **out, ...)
{
	char *argv[ARGV_MAX];
	struct proc_out o;
	va_list ap;
	int n = 1, rc;

	if (out != NULL)
		*out = NULL;
	argv[0] = DEMO_SELF;
	va_start(ap, out);
	rc = collect(argv, &n, ap);
	va_end(ap);
	if (rc != 0)
		return demo_fail(d, step, "too many arguments");
	memset(&o, 0, sizeof(o));
	if ((rc = run(d, "tkms", argv, 1, n, step, &o)) == 0)
		rc = finish(d, step, &o, out);
	proc_out_free(&o);
	return rc;
}

/* "th_biz_5810": the shell function of commands.sh for h. */
static void
th_name(const struct demo_hsm *h, char *out, size_t cap)
{
	size_t i;

	snprintf(out, cap, "th_%s", h->name);
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] == '-')
			out[i] = '_';
}

int
demo_th(struct demo *d, struct demo_hsm *h, json_t **res, ...)
{
	char *argv[ARGV_MAX], port[8], fn[48], step[160];
	struct proc_out o;
	json_error_t jerr;
	va_list ap;
	int n = 2, rc, words;

	if (res != NULL)
		*res = NULL;
	argv[0] = DEMO_SELF;
	argv[1] = "hsm";
	va_start(ap, res);
	rc = collect(argv, &n, ap);
	va_end(ap);
	if (rc != 0)
		return demo_fail(d, h->name, "too many arguments");
	words = n;
	snprintf(port, sizeof(port), "%u", h->mport);
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--session";
	argv[n++] = h->session;
	argv[n] = NULL;
	step_name(step, sizeof(step), h->name, argv, 1);
	th_name(h, fn, sizeof(fn));
	memset(&o, 0, sizeof(o));
	if ((rc = run(d, fn, argv, 2, words, step, &o)) != 0 ||
	    (rc = finish(d, step, &o, NULL)) != 0)
		goto out;
	if (res != NULL && o.out != NULL && o.out[0] == '{') {
		*res = json_loads(o.out, 0, &jerr);
		if (*res == NULL)
			rc = demo_fail(d, step, "not JSON: %s", jerr.text);
	}
out:
	proc_out_free(&o);
	return rc;
}

/* Where h's admin cards and PINs are: the city HSM is cloned and then
 * run with the cards of the business HSM's people (ceremonies §3.1). */
const char *
demo_cards_dir(struct demo *d, const struct demo_hsm *h)
{
	return h == &d->hsm[DH_CITY] ? d->hsm[DH_BIZ1].sec : h->sec;
}

void
demo_role_path(
    char *out, size_t cap, const char *dir, const char *role, const char *ext)
{
	snprintf(out, cap, "%s/%s.%s", dir, role, ext);
}

int
demo_card_op(
    struct demo *d, struct demo_hsm *h, const char *op, const char *role)
{
	char card[DEMO_PATH + 16], pin[DEMO_PATH + 16], pw[DEMO_PATH + 16];
	json_t *res = NULL;
	int rc;

	demo_role_path(card, sizeof(card), demo_cards_dir(d, h), role, "card");
	demo_role_path(pin, sizeof(pin), demo_cards_dir(d, h), role, "pin");
	demo_role_path(pw, sizeof(pw), h->sec, role, "password");
	demo_progress(d, "%s: %s %s (card PIN and password: Argon2id%s)",
	    h->name, op, role, d->fast_kdf ? ", test cost" : ", 64 MiB");
	rc = demo_th(d, h, &res, op, "--role", role, "--card", card,
	    "--pin-file", pin, "--password-file", pw, NULL);
	json_decref(res);
	return rc;
}

int
demo_login(struct demo *d, struct demo_hsm *h, ...)
{
	const char *role;
	va_list ap;
	int rc = 0;

	va_start(ap, h);
	while (rc == 0 && (role = va_arg(ap, const char *)) != NULL)
		rc = demo_card_op(d, h, "login", role);
	va_end(ap);
	return rc;
}

int
demo_logout(struct demo *d, struct demo_hsm *h)
{
	return demo_th(d, h, NULL, "logout", NULL);
}

int
demo_keys_list(struct demo *d, struct demo_hsm *h, json_t **keys)
{
	json_t *res = NULL;
	int rc;

	*keys = NULL;
	if ((rc = demo_th(d, h, &res, "keys", "list", NULL)) != 0)
		return rc;
	*keys = json_incref(json_object_get(res, "keys"));
	json_decref(res);
	if (!json_is_array(*keys)) {
		json_decref(*keys);
		*keys = NULL;
		return demo_fail(
		    d, h->name, "keys list: no keys in the answer");
	}
	return 0;
}

int
demo_host_cmd(struct demo *d, struct demo_hsm *h, int listener, const char *cmd,
    char err[3], char *fields, size_t cap)
{
	char addr[40], step[96], *out = NULL, *line, *save = NULL;
	char *argv[6];
	struct proc_out o;
	int rc;

	err[0] = '\0';
	fields[0] = '\0';
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", h->port[listener]);
	snprintf(
	    step, sizeof(step), "%s: tkms hsm cmd %s %s", h->name, addr, cmd);
	argv[0] = DEMO_SELF;
	argv[1] = "hsm";
	argv[2] = "cmd";
	argv[3] = addr;
	argv[4] = (char *)cmd;
	argv[5] = NULL;
	memset(&o, 0, sizeof(o));
	if ((rc = run(d, "tkms", argv, 1, 5, step, &o)) != 0)
		goto out;
	if (o.status != 0 && o.status != 1) { /* 1: an ERR other than 00 */
		rc = finish(d, step, &o, NULL);
		goto out;
	}
	out = o.out;
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "error", 5) == 0)
			snprintf(
			    err, 3, "%s", line + strspn(line + 5, " ") + 5);
		else if (strncmp(line, "fields", 6) == 0)
			snprintf(fields, cap, "%s",
			    line + strspn(line + 6, " ") + 6);
	}
	if (err[0] == '\0')
		rc = demo_fail(d, step, "no error code in the answer");
out:
	proc_out_free(&o);
	return rc;
}

/* --- daemons -------------------------------------------------------------- */

void
demo_fleet_init(struct demo *d)
{
	static const char *const root_wl = "NC,TE,A0,A6,A8,EI,EJ,EK,EW,EY,BU";
	static const char *const biz_wl =
	    "NC,TE,A0,A6,A8,EI,EJ,EH,EK,EP,ER,EW,EY,GM,UB,KW,G1,U1,U3,BU";
	static const struct {
		const char *name, *role, *city, *wl;
	} t[DH_N] = {
	    {"root", "root", NULL, NULL},
	    {"biz-" DEMO_CITY1, "provincial_business", DEMO_CITY1, NULL},
	    {"biz-" DEMO_CITY2, "provincial_business", DEMO_CITY2, NULL},
	    /* TAC checks (UB) and what the KMS needs (NC, A6, BU) */
	    {"clearing", "clearing", NULL, "NC,TE,A6,BU,UB"},
	    {"city-" DEMO_CITY1, "city", DEMO_CITY1, DEMO_APPENDIX3},
	};
	static const char *const users[DEMO_KMS_USERS][2] = {
	    {"ca", "configurator"},
	    {"cb", "configurator"},
	    {"kma", "key_manager"},
	    {"kmb", "key_manager"},
	    {"sa", "supervisor"},
	    {"sb", "supervisor"},
	    {"aa", "auditor"},
	    {"ab", "auditor"},
	};
	int i;

	for (i = 0; i < DH_N; i++) {
		d->hsm[i].name = t[i].name;
		d->hsm[i].kms_role = t[i].role;
		d->hsm[i].city = t[i].city;
		d->hsm[i].whitelist = t[i].wl != NULL ? t[i].wl
				      : i == DH_ROOT  ? root_wl
						      : biz_wl;
		d->hsm[i].pid = -1;
		d->hsm[i].nlisten = i == DH_CITY ? 2 : 1;
	}
	for (i = 0; i < DEMO_KMS_USERS; i++) {
		d->users[i].name = users[i][0];
		d->users[i].role = users[i][1];
	}
	d->kms_pid = -1;
}

/* The port file: "ADDR PORT" per listener, "manage ADDR PORT" last. */
static int
read_ports(struct demo *d, struct demo_hsm *h, const char *path)
{
	char line[128], addr[64];
	unsigned port;
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return demo_fail(d, h->name, "%s: %s", path, strerror(errno));
	h->mport = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "manage %63s %u", addr, &port) == 2)
			h->mport = port;
		else if (sscanf(line, "%63s %u", addr, &port) == 2 && n < 2)
			h->port[n++] = port;
	}
	fclose(f);
	if (n != h->nlisten || h->mport == 0)
		return demo_fail(d, h->name, "%s: unexpected contents", path);
	return 0;
}

static int
start_hsm(struct demo *d, struct demo_hsm *h)
{
	char conf[DEMO_PATH + 16], ports[DEMO_PATH + 16], log[DEMO_PATH + 16],
	    state[DEMO_PATH + 16], why[256], text[512];
	char *argv[12];
	int n = 0;

	snprintf(state, sizeof(state), "%s/state", h->dir);
	snprintf(conf, sizeof(conf), "%s/hsmd.conf", h->dir);
	snprintf(ports, sizeof(ports), "%s/ports", h->dir);
	snprintf(log, sizeof(log), "%s/hsmd.log", h->dir);
	/* Sealed and empty, ephemeral ports on the loopback; the seal of a
	 * restart is local (docs/seal.md). The city HSM has a second
	 * business listener for the KMS. */
	snprintf(text, sizeof(text),
	    "# tkms demo: %s\nworkers 1\nseal local\n"
	    "listen 127.0.0.1:0\n%smanage 127.0.0.1:0\n",
	    h->name, h->nlisten == 2 ? "listen 127.0.0.1:0\n" : "");
	if (demo_mkdirs(h->dir) != 0)
		return demo_fail(d, h->name, "%s: %s", h->dir, strerror(errno));
	if (demo_write_file(d, conf, text) != 0)
		return DEMO_FAIL;
	argv[n++] = d->hsmd;
	argv[n++] = "--dir";
	argv[n++] = state;
	argv[n++] = "--config";
	argv[n++] = conf;
	argv[n++] = "--port-file";
	argv[n++] = ports;
	/* The daemons refuse root unless told (docs/security.md): a demo
	 * run by root tells them; production gives --user. */
	if (geteuid() == 0)
		argv[n++] = "--allow-root";
	argv[n] = NULL;
	if (d->cmdlog != NULL) {
		fputs("tkms-hsmd", d->cmdlog);
		for (n = 1; argv[n] != NULL; n++) {
			fputc(' ', d->cmdlog);
			log_word(d, d->cmdlog, argv[n]);
		}
		fputs(" &\n", d->cmdlog);
	}
	if ((h->pid = proc_spawn(argv, log, why, sizeof(why))) < 0)
		return demo_fail(d, h->name, "tkms-hsmd: %s", why);
	return 0;
}

/* The daemon's port file (each runs its self-test first: they start
 * side by side). */
static int
wait_hsm(struct demo *d, struct demo_hsm *h)
{
	char ports[DEMO_PATH + 16], why[DEMO_PATH + 64];

	snprintf(ports, sizeof(ports), "%s/ports", h->dir);
	if (proc_wait_file(h->pid, ports, START_WAIT, why, sizeof(why)) != 0)
		return demo_fail(
		    d, h->name, "tkms-hsmd %s (log: %s/hsmd.log)", why, h->dir);
	return read_ports(d, h, ports);
}

static int
start_kms(struct demo *d)
{
	char port[DEMO_PATH + 16], log[DEMO_PATH + 16], why[256];
	char pw[2][DEMO_PATH + 32];
	char *argv[20];
	int n = 0;

	snprintf(port, sizeof(port), "%s/port", d->kms_dir);
	snprintf(log, sizeof(log), "%s/kmsd.log", d->kms_dir);
	snprintf(pw[0], sizeof(pw[0]), "%s/secrets/kms/%s.password", d->dir,
	    d->users[0].name);
	snprintf(pw[1], sizeof(pw[1]), "%s/secrets/kms/%s.password", d->dir,
	    d->users[1].name);
	if (demo_mkdirs(d->kms_dir) != 0)
		return demo_fail(
		    d, "kms", "%s: %s", d->kms_dir, strerror(errno));
	argv[n++] = d->kmsd;
	argv[n++] = "--dir";
	argv[n++] = d->kms_dir;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = port;
	argv[n++] = "--threads";
	argv[n++] = "2";
	argv[n++] = "--bootstrap-admin";
	argv[n++] = (char *)d->users[0].name;
	argv[n++] = "--password-file";
	argv[n++] = pw[0];
	argv[n++] = "--bootstrap-admin";
	argv[n++] = (char *)d->users[1].name;
	argv[n++] = "--password-file";
	argv[n++] = pw[1];
	if (geteuid() == 0)
		argv[n++] = "--allow-root";
	argv[n] = NULL;
	if (d->cmdlog != NULL) {
		fputs("tkms-kmsd", d->cmdlog);
		for (n = 1; argv[n] != NULL; n++) {
			fputc(' ', d->cmdlog);
			log_word(d, d->cmdlog, argv[n]);
		}
		fputs(" &\n", d->cmdlog);
	}
	if ((d->kms_pid = proc_spawn(argv, log, why, sizeof(why))) < 0)
		return demo_fail(d, "kms", "tkms-kmsd: %s", why);
	return 0;
}

static int
wait_kms(struct demo *d)
{
	char port[DEMO_PATH + 16], log[DEMO_PATH + 16], why[DEMO_PATH + 64];
	char line[128], addr[64];
	unsigned p;

	snprintf(port, sizeof(port), "%s/port", d->kms_dir);
	snprintf(log, sizeof(log), "%s/kmsd.log", d->kms_dir);
	if (proc_wait_file(d->kms_pid, port, START_WAIT, why, sizeof(why)) != 0)
		return demo_fail(d, "kms", "tkms-kmsd %s (log: %s)", why, log);
	if (demo_read_line(port, line, sizeof(line)) != 0 ||
	    sscanf(line, "%63s %u", addr, &p) != 2)
		return demo_fail(d, "kms", "%s: unexpected contents", port);
	snprintf(d->kms_url, sizeof(d->kms_url), "http://127.0.0.1:%u", p);
	return 0;
}

/* commands.sh: the console's connection per HSM, as docs/ceremonies.md
 * writes it (th() { tkms hsm "$@" --host ... --port ...; }). */
static void
log_functions(struct demo *d)
{
	char fn[48];
	int i;

	if (d->cmdlog == NULL)
		return;
	fprintf(
	    d->cmdlog, "\n# the consoles of the HSMs (ports of this run)\n");
	for (i = 0; i < DH_N; i++) {
		th_name(&d->hsm[i], fn, sizeof(fn));
		fprintf(d->cmdlog,
		    "%s() { tkms hsm \"$@\" --host 127.0.0.1 --port %u "
		    "--session \"$D\"/hsm/%s/session; }\n",
		    fn, d->hsm[i].mport, d->hsm[i].name);
	}
	fprintf(d->cmdlog,
	    "export TKMS_KMS_URL=%s\n"
	    "# the KMS as one of its users (a session file per user)\n"
	    "kms_as() { u=$1; shift; TKMS_KMS_SESSION=\"$D\"/kms/$u.session "
	    "tkms kms \"$@\"; }\n\n",
	    d->kms_url);
	fflush(d->cmdlog);
}

int
demo_fleet_start(struct demo *d)
{
	int i;

	snprintf(d->usb, sizeof(d->usb), "%s/usb", d->dir);
	snprintf(d->kms_dir, sizeof(d->kms_dir), "%s/kms", d->dir);
	for (i = 0; i < DH_N; i++) {
		struct demo_hsm *h = &d->hsm[i];

		snprintf(h->dir, sizeof(h->dir), "%s/hsm/%s", d->dir, h->name);
		snprintf(
		    h->sec, sizeof(h->sec), "%s/secrets/%s", d->dir, h->name);
		snprintf(h->session, sizeof(h->session), "%s/hsm/%s/session",
		    d->dir, h->name);
	}
	if (demo_mkdirs(d->usb) != 0)
		return demo_fail(d, "usb", "%s: %s", d->usb, strerror(errno));
	demo_progress(d, "generating components, PINs and passwords");
	if (make_secrets(d) != 0)
		return DEMO_FAIL;
	demo_say(d,
	    "secrets: %s/secrets (components, PINs, passwords; "
	    "envelope KCVs in envelopes.txt)",
	    d->dir);
	demo_progress(d,
	    "starting %d tkms-hsmd and tkms-kmsd (each runs "
	    "its known-answer self-test)",
	    DH_N);
	for (i = 0; i < DH_N; i++)
		if (start_hsm(d, &d->hsm[i]) != 0)
			return DEMO_FAIL;
	if (start_kms(d) != 0)
		return DEMO_FAIL;
	for (i = 0; i < DH_N; i++) {
		if (wait_hsm(d, &d->hsm[i]) != 0)
			return DEMO_FAIL;
		if (d->hsm[i].nlisten == 2)
			demo_say(d,
			    "tkms-hsmd %-9s pid %-7d business 127.0.0.1:%u, "
			    "KMS 127.0.0.1:%u, manage 127.0.0.1:%u",
			    d->hsm[i].name, (int)d->hsm[i].pid,
			    d->hsm[i].port[0], d->hsm[i].port[1],
			    d->hsm[i].mport);
		else
			demo_say(d,
			    "tkms-hsmd %-9s pid %-7d business 127.0.0.1:%u, "
			    "manage 127.0.0.1:%u",
			    d->hsm[i].name, (int)d->hsm[i].pid,
			    d->hsm[i].port[0], d->hsm[i].mport);
	}
	if (wait_kms(d) != 0)
		return DEMO_FAIL;
	demo_say(
	    d, "tkms-kmsd           pid %-7d %s", (int)d->kms_pid, d->kms_url);
	log_functions(d);
	demo_check(
	    d, 1, "daemons", "%d tkms-hsmd and tkms-kmsd listening", DH_N);
	return 0;
}

int
demo_fleet_stop(struct demo *d)
{
	int i, st;

	if (d->kms_pid > 0) {
		demo_progress(d, "stopping tkms-kmsd");
		if (proc_stop(d->kms_pid, STOP_WAIT, &st) == 0)
			demo_check(d, st == 0, "stop tkms-kmsd",
			    "exit status %d (0 expected)", st);
		d->kms_pid = -1;
	}
	for (i = DH_N - 1; i >= 0; i--) {
		if (d->hsm[i].pid <= 0)
			continue;
		demo_progress(d, "stopping tkms-hsmd %s", d->hsm[i].name);
		if (proc_stop(d->hsm[i].pid, STOP_WAIT, &st) == 0)
			demo_check(d, st == 0, "stop tkms-hsmd",
			    "%s: exit status %d (0 expected)", d->hsm[i].name,
			    st);
		d->hsm[i].pid = -1;
	}
	return d->checks_failed == 0 ? 0 : DEMO_FAIL;
}

/* After a failure: name every daemon that is no longer running, with its
 * exit status and log (a crash explains the step that failed). */
void
demo_fleet_dead(struct demo *d)
{
	int i, st;

	if (d->kms_pid > 0 && !proc_alive(d->kms_pid) &&
	    proc_stop(d->kms_pid, 0, &st) == 0) {
		demo_fail(d, "tkms-kmsd",
		    "not running: exited with status %d "
		    "(log: %s/kmsd.log)",
		    st, d->kms_dir);
		d->kms_pid = -1;
	}
	for (i = 0; i < DH_N; i++)
		if (d->hsm[i].pid > 0 && !proc_alive(d->hsm[i].pid) &&
		    proc_stop(d->hsm[i].pid, 0, &st) == 0) {
			demo_fail(d, d->hsm[i].name,
			    "tkms-hsmd not running: exited with status %d "
			    "(log: %s/hsmd.log)",
			    st, d->hsm[i].dir);
			d->hsm[i].pid = -1;
		}
}

void
demo_log(struct demo *d, const char *fn, const char *const *words)
{
	size_t i;

	if (d->cmdlog == NULL)
		return;
	pthread_mutex_lock(&log_mu);
	fputs(fn, d->cmdlog);
	for (i = 0; words[i] != NULL; i++) {
		fputc(' ', d->cmdlog);
		log_word(d, d->cmdlog, words[i]);
	}
	fputc('\n', d->cmdlog);
	fflush(d->cmdlog);
	pthread_mutex_unlock(&log_mu);
}
