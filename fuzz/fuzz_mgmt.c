/*
 * fuzz_mgmt.c - the management plane's requests (mgmt.h,
 * docs/management.md): JSON text parsed as the listener parses a frame
 * (json_loadb, duplicate keys refused), then hsm_mgmt_handle() with an
 * admin database and an audit log in a temporary directory, under the
 * test DK (tests/hsm/hsmtest.h) or sealed.
 *
 * Input:
 *   OFFSET SIZE FIELD
 *   0      1    flags: bit 0 sealed (no DK); bit 1 initialised (A1, A2,
 *               A3, B, C and D have cards enrolled, whose private keys
 *               the input cannot know), else no card is enrolled
 *   1      2    length n of the first request, big-endian
 *   3      n    the request: what a frame carries after its LEN
 *   ...         more requests the same way, at most MAX_REQS; a length
 *               past the end takes what is left
 * A request whose "session" is the string "$" gets instead the token of
 * the newest answer that named one (login.challenge opens a session), so
 * that a run of requests can use a session. Text that is not JSON is
 * skipped: the listener answers it without reaching an operation.
 *
 * With bit 2 of the flags set, byte 1 holds roles (bit 0 A1 ... bit 5
 * D; enum hsm_role) and the requests start at offset 2: the target, which
 * has the fixture cards' private keys, logs those roles in on a session
 * ("$" names it) in a directory made for that input alone (initialised,
 * sealed by bit 0), so that every operation's arguments are reached.
 * "confirm": "$SERIAL" stands for the HSM's serial (zeroise).
 *
 * The input itself cannot log in (a login needs the card's signature of
 * a random challenge), so, for every request:
 *   - the answer is a JSON object with "ok" true or false; false has a
 *     "code" of two characters and an "error" text; a "session" is 32
 *     hex digits;
 *   - an op succeeds only as docs/permissions.md allows it for the roles
 *     of the session the request names (written down again in perms[],
 *     not read from the op table), never login; without roles only
 *     PUBLIC ops, and an enrol only while fewer than three of A1-A3 are
 *     enrolled, for an A role not yet enrolled, which it adds; an op
 *     refused for lack of roles answers 29 (not permitted), 15 (a
 *     malformed request) or 13 (sealed, when the op table's roles are
 *     there but the handler wants others);
 *   - exactly one audit record is appended (maint.apply and zeroise: at
 *     least one, they write their own too), and none shows the value of
 *     an argument whose name hides it (password, pin, component,
 *     secret, signature, issuer_code);
 *   - every AUDIT_EVERY inputs the audit chain verifies.
 * Each input starts with no session and, when an earlier one enrolled
 * or tried a login, the enrolments of its fixture restored; a logged-in
 * input's directory is removed after it (its audit chain verified).
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "audit.h"
#include "mgmt.h"
#include "ops.h"
#include "config.h"
#include "ident.h"
#include "tkm/buf.h"
#include "tkm/err.h"
#include "tkm/sm2.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_REQS    8
#define AUDIT_EVERY 512  /* inputs between two audit verifications */
#define AUDIT_RENEW 8192 /* inputs before the log starts afresh */
#define PASSWORD    "correct horse 1"
#define TOKEN_HEX   32
#define SHOW_MIN                                                               \
	6 /* secret values shorter than this are not looked                    \
		 for in the audit (they occur by chance) */

/* The test components (tests/hsm/hsmtest.h; never for production). */
static const char *const comp_hex[HSM_DK_PARTS] = {
    "0123456789ABCDEFFEDCBA9876543210", "11111111111111112222222222222222",
    "0F0E0D0C0B0A09080706050403020100"};

/* A directory with its own admin database and audit log: [0] no card
 * enrolled, [1] initialised. */
struct fx {
	char dir[64];
	struct hsm_config cfg;
	struct hsm_state st;
	int dirty; /* enrolments may differ from the baseline */
};

static struct fx fxs[2];
static struct hsm_dk *dk;
static int verbose;
static unsigned long inputs;
static char token[TOKEN_HEX + 1];

/* --- the fixture ------------------------------------------------------------
 */

static const char *const audit_files[] = {
    "audit.db", "audit.db-wal", "audit.db-shm", "audit.checkpoints", NULL};
static const char *const admin_files[] = {
    "admin.db", "admin.db-wal", "admin.db-shm", NULL};

static void
rm_files(const char *dir, const char *const *names)
{
	char path[128];

	for (; *names != NULL; names++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, *names) <
		    (int)sizeof(path))
			unlink(path);
	}
}

static void
cleanup(void)
{
	size_t i;

	hsm_mgmt_end_sessions();
	for (i = 0; i < 2; i++) {
		hsm_audit_close(fxs[i].st.audit);
		hsm_admin_close(fxs[i].st.admin);
		rm_files(fxs[i].dir, audit_files);
		rm_files(fxs[i].dir, admin_files);
		rmdir(fxs[i].dir);
	}
	hsm_dk_free(dk);
}

/* The card public key of role number i: d = i + 1 (test keys). */
static void
card_pub(unsigned i, uint8_t pub[TKM_SM2_PUB_LEN])
{
	uint8_t d[TKM_SM2_PRIV_LEN] = {0};
	struct tkm_sm2 *k = NULL;

	d[TKM_SM2_PRIV_LEN - 1] = (uint8_t)(i + 1);
	CHECK(tkm_sm2_from_priv(d, &k) == TKM_OK);
	CHECK(tkm_sm2_pub(k, pub) == TKM_OK);
	tkm_sm2_free(k);
}

/* The enrolments of fixture f as every input finds them. */
static void
baseline(struct fx *f, int initialised)
{
	static const char *const keep[] = {"serial", "identity", "mkey", NULL};
	uint8_t pub[TKM_SM2_PUB_LEN];
	unsigned i;

	CHECK(hsm_admin_reset(f->st.admin, keep) == TKM_OK);
	for (i = 0; initialised && i < 6; i++) {
		card_pub(i, pub);
		CHECK(hsm_admin_enrol(f->st.admin, 1u << i, pub, PASSWORD) ==
		      TKM_OK);
	}
	CHECK(hsm_admin_enrolled(f->st.admin) ==
	      (initialised ? HSM_ROLES_ALL : 0u));
	f->dirty = 0;
}

static void
audit_renew(struct fx *f)
{
	hsm_audit_close(f->st.audit);
	f->st.audit = NULL;
	rm_files(f->dir, audit_files);
	CHECK(hsm_audit_open(f->dir, &f->st.audit) == TKM_OK);
}

static void
fx_init(struct fx *f, int initialised)
{
	snprintf(f->dir, sizeof(f->dir), "%s/fuzz_mgmt.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(f->dir) != NULL);
	f->st.cfg = &f->cfg;
	f->st.dir = f->dir;
	f->cfg.nlisteners = 1;
	snprintf(f->cfg.listeners[0].addr, sizeof(f->cfg.listeners[0].addr),
	    "127.0.0.1");
	f->cfg.listeners[0].hdrlen = 8;
	atomic_store(&f->st.dk, dk);
	CHECK(hsm_admin_open(f->dir, &f->st.admin) == TKM_OK);
	CHECK(hsm_audit_open(f->dir, &f->st.audit) == TKM_OK);
	baseline(f, initialised);
}

static void
init(void)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	size_t i, n;

	/* Argon2id at its test cost (docs/management.md). */
	setenv("TKMS_ARGON2_FAST", "1", 1);
	verbose = getenv("TKMS_FUZZ_VERBOSE") != NULL;
	for (i = 0; i < HSM_DK_PARTS; i++)
		CHECK(tkm_hex_decode(comp_hex[i], 32, c[i], HSM_DK_LEN, &n) ==
			  TKM_OK &&
		      n == HSM_DK_LEN);
	CHECK(hsm_dk_new(c, &dk) == TKM_OK);
	fx_init(&fxs[0], 0);
	fx_init(&fxs[1], 1);
	atexit(cleanup);
}

/* --- the audit record of a request ------------------------------------------
 */

struct last_rec {
	char detail[16384];
	unsigned found;
};

static int
rec_cb(void *arg, const struct hsm_audit_rec *r)
{
	struct last_rec *l = arg;
	size_t n = strlen(l->detail);

	/* Every record's detail, one after the other. */
	snprintf(l->detail + n, sizeof(l->detail) - n, "%s\n", r->detail);
	l->found++;
	return TKM_OK;
}

/* As mgmt.c's is_secret_arg(): values of these never reach the log. */
static int
hidden_name(const char *name)
{
	static const char *const secret[] = {"password", "pin", "component",
	    "secret", "signature", "issuer_code"};
	size_t i;

	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (strstr(name, secret[i]) != NULL)
			return 1;
	return 0;
}

/*
 * The request's records show no hidden value. A value that the request
 * carries elsewhere too (a visible argument, the op) may appear through
 * that, so it is not looked for.
 */
static void
check_hidden(struct fx *f, json_t *req, uint64_t seq, unsigned n)
{
	static struct last_rec rec;
	json_t *args = json_object_get(req, "args"), *v, *shown;
	const char *k, *val;
	char *text;

	if (!json_is_object(args))
		return;
	memset(&rec, 0, sizeof(rec));
	CHECK(hsm_audit_list(f->st.audit, seq, n, rec_cb, &rec) == TKM_OK);
	/* A zeroise archives the log: its first records are in the archive. */
	CHECK(rec.found >= 1 && rec.found <= n);
	CHECK((shown = json_deep_copy(req)) != NULL);
	json_object_foreach(json_object_get(shown, "args"), k, v)
	{
		if (hidden_name(k))
			json_object_set_new(
			    json_object_get(shown, "args"), k, json_null());
	}
	CHECK((text = json_dumps(shown, JSON_COMPACT)) != NULL);
	json_object_foreach(args, k, v)
	{
		if (!hidden_name(k) || !json_is_string(v))
			continue;
		val = json_string_value(v);
		if (strlen(val) < SHOW_MIN || strstr(text, val) != NULL)
			continue;
		if (strstr(rec.detail, val) != NULL) {
			fprintf(stderr, "audit shows %s: %s\n", k, rec.detail);
			CHECK(0);
		}
	}
	free(text);
	json_decref(shown);
}

static void
check_chain(struct fx *f)
{
	struct hsm_audit_report rep;

	CHECK(hsm_audit_verify(f->st.audit, atomic_load(&f->st.dk), &rep) ==
	      TKM_OK);
	if (!rep.ok)
		fprintf(stderr, "audit: %s at %llu\n",
		    rep.why != NULL ? rep.why : "?",
		    (unsigned long long)rep.first_bad);
	CHECK(rep.ok);
}

/* --- logged-in inputs
 * ---------------------------------------------------------
 *
 * The target holds the private keys of the fixture's cards (d = 1..6), so
 * it can log roles in itself; the input then reaches every operation's
 * arguments. Such an input gets a directory of its own, made for it and
 * removed after it: operations change the admin database, the key store,
 * the device-key files and the HSM state, and zeroise removes them.
 */

static struct fx afx;
static unsigned cur_roles; /* the roles of the session named by token */
static int alive;          /* that session exists */

static void
rm_tree(const char *path)
{
	char sub[512];
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
				rm_tree(sub);
		}
		closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

/* A request of the target itself; the response (caller decrefs). */
static json_t *
own_request(struct fx *f, json_t *req)
{
	struct hsm_op_ctx c = {
	    &f->st, f->st.admin, f->st.audit, NULL, "127.0.0.1:4242"};
	json_t *resp = hsm_mgmt_handle(&c, req);

	json_decref(req);
	CHECK(resp != NULL);
	return resp;
}

/* Log role number i in on the session token names (or a new one). */
static void
log_in(struct fx *f, unsigned i)
{
	uint8_t d[TKM_SM2_PRIV_LEN] = {0}, chal[32], sig[TKM_SM2_SIG_LEN];
	char sighex[2 * TKM_SM2_SIG_LEN + 1];
	const char *role = hsm_role_name(1u << i), *hex;
	struct tkm_sm2 *k = NULL;
	json_t *resp;
	size_t n;

	resp = own_request(f,
	    json_pack("{s:s, s:{s:s}, s:s?}", "op", "login.challenge", "args",
		"role", role, "session", token[0] != '\0' ? token : NULL));
	hex = json_string_value(
	    json_object_get(json_object_get(resp, "result"), "challenge"));
	CHECK(hex != NULL &&
	      tkm_hex_decode(hex, strlen(hex), chal, sizeof(chal), &n) ==
		  TKM_OK &&
	      n == sizeof(chal));
	snprintf(token, sizeof(token), "%s",
	    json_string_value(json_object_get(resp, "session")));
	json_decref(resp);
	d[TKM_SM2_PRIV_LEN - 1] = (uint8_t)(i + 1);
	CHECK(tkm_sm2_from_priv(d, &k) == TKM_OK);
	CHECK(tkm_sm2_sign(k, NULL, 0, chal, sizeof(chal), sig) == TKM_OK);
	tkm_sm2_free(k);
	tkm_hex_encode(sig, sizeof(sig), sighex);
	resp =
	    own_request(f, json_pack("{s:s, s:{s:s, s:s, s:s}, s:s}", "op",
			       "login", "args", "role", role, "signature",
			       sighex, "password", PASSWORD, "session", token));
	CHECK(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
}

static void
afx_new(int sealed, unsigned roles)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *k = NULL;
	size_t i, n;

	memset(&afx, 0, sizeof(afx));
	snprintf(afx.dir, sizeof(afx.dir), "%s/fuzz_mgmt.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(afx.dir) != NULL);
	afx.st.cfg = &afx.cfg;
	afx.st.dir = afx.dir;
	/* Two business listeners, for whitelist.set and net.set. */
	afx.cfg.nlisteners = 2;
	for (i = 0; i < 2; i++) {
		snprintf(afx.cfg.listeners[i].addr,
		    sizeof(afx.cfg.listeners[i].addr), "127.0.0.1");
		afx.cfg.listeners[i].port = 1500 + (unsigned)i;
		afx.cfg.listeners[i].hdrlen = 8;
	}
	afx.cfg.seal = HSM_SEAL_LOCAL;
	if (!sealed) {
		/* Its own DK: zeroise frees the one it retires. */
		for (i = 0; i < HSM_DK_PARTS; i++)
			CHECK(tkm_hex_decode(comp_hex[i], 32, c[i], HSM_DK_LEN,
				  &n) == TKM_OK);
		CHECK(hsm_dk_new(c, &k) == TKM_OK);
	}
	atomic_store(&afx.st.dk, k);
	CHECK(hsm_admin_open(afx.dir, &afx.st.admin) == TKM_OK);
	CHECK(hsm_audit_open(afx.dir, &afx.st.audit) == TKM_OK);
	baseline(&afx, 1);
	token[0] = '\0';
	for (i = 0; i < 6; i++)
		if (roles & (1u << i))
			log_in(&afx, (unsigned)i);
	cur_roles = roles;
	alive = token[0] != '\0';
}

static void
afx_free(void)
{
	hsm_mgmt_end_sessions();
	hsm_dk_pending_drop();
	hsm_audit_close(afx.st.audit);
	hsm_admin_close(afx.st.admin);
	hsm_dk_free(atomic_load(&afx.st.dk));
	hsm_state_cleanup(&afx.st);
	rm_tree(afx.dir);
	memset(&afx, 0, sizeof(afx));
}

/*
 * The permission matrix of docs/permissions.md, written down again here
 * (not read from the op table, which it checks): the roles an op needs,
 * all of them or any one, and whether it needs DK.
 */
#define A1  HSM_ROLE_A1
#define A2  HSM_ROLE_A2
#define A3  HSM_ROLE_A3
#define RB  HSM_ROLE_B
#define RC  HSM_ROLE_C
#define RD  HSM_ROLE_D
#define AAA (A1 | A2 | A3)
#define ALL HSM_ROLES_ALL

static const struct perm {
	const char *op;
	unsigned need;
	int any, dk;
} perms[] = {
    {"status", 0, 0, 0},
    {"enrol", 0, 0, 0},
    {"login.challenge", 0, 0, 0},
    {"login", 0, 0, 0},
    {"logout", ALL, 1, 0},
    {"password.set", ALL, 1, 0},
    {"keys.list", RC, 0, 1},
    {"keys.delete", RC, 0, 1},
    {"auth.open", RC, 0, 0},
    {"auth.close", RC, 0, 0},
    {"whitelist.get", RB | RC, 1, 0},
    {"whitelist.set", RB | RC, 1, 0},
    {"time.get", RB | RD, 1, 0},
    {"time.set", RB, 0, 0},
    {"audit.show", RD, 0, 0},
    {"audit.verify", RD, 0, 0},
    {"audit.export", RD, 0, 0},
    {"dk.component", AAA, 1, 0},
    {"dk.combine", AAA, 0, 0},
    {"unseal", AAA, 0, 0},
    {"tk.component", RC, 0, 1},
    {"tk.combine", RC, 0, 1},
    {"tk.initial", RC, 0, 1},
    {"dk.export", RC, 0, 1},
    {"dk.restore", AAA, 0, 0},
    {"backup.create", RC, 0, 1},
    {"backup.restore", RC, 0, 1},
    {"mkey.generate", AAA, 0, 1},
    {"mkey.import", AAA, 0, 1},
    {"mkey.show", ALL, 1, 1},
    {"zeroise", AAA, 0, 0},
    {"net.get", RB, 0, 0},
    {"net.set", RB, 0, 0},
    {"audit.checkpoint", RD, 0, 1},
    {"maint.request", RC, 0, 1},
    {"maint.apply", RC, 0, 1},
    {"maint.show", RB | RC, 1, 1},
};

static const struct perm *
perm_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (strcmp(perms[i].op, name) == 0)
			return &perms[i];
	return NULL;
}

/* May a session with roles run op (args)? The matrix, then what
 * docs/permissions.md says the handler adds. */
static int
permitted(const char *name, unsigned roles, json_t *args)
{
	const struct perm *p = perm_of(name);
	const char *kind, *role;
	unsigned r;

	if (p == NULL)
		return 0;
	if (p->need != 0 &&
	    (p->any ? (roles & p->need) == 0 : (roles & p->need) != p->need))
		return 0;
	role = json_string_value(json_object_get(args, "role"));
	r = hsm_role_parse(role);
	if (strcmp(name, "login") == 0)
		return 0;               /* only with a card's signature */
	if (strcmp(name, "enrol") == 0) /* every role is enrolled here */
		return (roles & AAA) == AAA;
	if (strcmp(name, "whitelist.set") == 0) {
		kind = json_string_value(json_object_get(args, "kind"));
		if (kind != NULL && strcmp(kind, "commands") == 0)
			return (roles & RC) != 0;
		if (kind != NULL && strcmp(kind, "ip") == 0)
			return (roles & RB) != 0;
		return 0;
	}
	if (strcmp(name, "password.set") == 0)
		return (r != 0 && (roles & r) != 0) || (roles & AAA) == AAA;
	if (strcmp(name, "dk.component") == 0) {
		/* Its own component: the role given, or the only A role. */
		if (r == 0 && role == NULL)
			r = roles & AAA;
		return r != 0 && (r & AAA) == r && (roles & r) == r &&
		       (r & (r - 1)) == 0;
	}
	return 1;
}

#undef A1
#undef A2
#undef A3
#undef RB
#undef RC
#undef RD
#undef AAA
#undef ALL

/* --- one request ------------------------------------------------------------
 */

static int
is_hex_upper(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* The input cannot know the serial (random per fixture): "confirm":
 * "$SERIAL" stands for it, so that a zeroise can go through. */
static void
serial_arg(struct fx *f, json_t *args)
{
	char serial[HSM_SERIAL_MAX + 1];
	const char *v = json_string_value(json_object_get(args, "confirm"));

	if (v != NULL && strcmp(v, "$SERIAL") == 0 &&
	    hsm_ident_serial(f->st.admin, serial) == TKM_OK)
		json_object_set_new(args, "confirm", json_string(serial));
}

/* ["A1", "C"] -> the role bits. */
static unsigned
roles_of(json_t *a)
{
	unsigned r = 0;
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		r |= hsm_role_parse(json_string_value(json_array_get(a, i)));
	return r;
}

static void
check_ok(struct fx *f, const struct hsm_op *op, json_t *req, json_t *resp,
    unsigned before)
{
	const char *role;
	unsigned r;

	CHECK(json_is_object(json_object_get(resp, "result")));
	if (f == &afx)
		return; /* one_request checked permitted() */
	/* Nothing but a PUBLIC op, and never a login. */
	CHECK(op != NULL && (op->flags & HSM_OP_PUBLIC) != 0);
	CHECK(op->fn != op_login);
	if (op->fn != op_enrol)
		return;
	/* Initialisation: an A role enrols itself, once. */
	role = json_string_value(
	    json_object_get(json_object_get(req, "args"), "role"));
	r = hsm_role_parse(role);
	CHECK((before & HSM_ROLES_A) != HSM_ROLES_A);
	CHECK((r & HSM_ROLES_A) != 0 && (before & r) == 0);
	CHECK(hsm_admin_enrolled(f->st.admin) == (before | r));
}

static void
check_refused(const struct hsm_op *op, json_t *resp, int roles_ok)
{
	const char *code = json_string_value(json_object_get(resp, "code"));

	CHECK(code != NULL && strlen(code) == 2);
	CHECK(json_is_string(json_object_get(resp, "error")));
	if (op == NULL || (op->flags & HSM_OP_PUBLIC) != 0 || roles_ok)
		return;
	/* A non-public op without the roles it needs: not permitted, a
	 * malformed request, or (the row's roles there, not the handler's)
	 * sealed. */
	CHECK(strcmp(code, tkm_err_wire(TKM_ERR_PERMISSION)) == 0 ||
	      strcmp(code, tkm_err_wire(TKM_ERR_INPUT)) == 0 ||
	      strcmp(code, tkm_err_wire(TKM_ERR_SEALED)) == 0);
}

static void
one_request(struct fx *f, const uint8_t *p, size_t n)
{
	struct hsm_op_ctx c = {
	    &f->st, f->st.admin, f->st.audit, NULL, "127.0.0.1:4242"};
	const struct hsm_op *op = NULL;
	json_error_t jerr;
	json_t *req, *resp, *ok, *s, *args;
	unsigned before, roles = 0;
	uint64_t last, now;
	char *text;
	int may = 0, roles_ok = 0, mine, resolved;

	req = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL)
		return;
	s = json_object_get(req, "session");
	mine = json_is_string(s) && strcmp(json_string_value(s), "$") == 0;
	if (mine)
		json_object_set_new(req, "session", json_string(token));
	if (json_is_object(req))
		op = hsm_op_find(json_string_value(json_object_get(req, "op")));
	/* What the permission matrix allows this request. */
	if (f == &afx && mine && token[0] != '\0')
		roles = cur_roles;
	args = json_object_get(req, "args");
	serial_arg(f, args);
	if (op != NULL && perm_of(op->name) == NULL) {
		fprintf(
		    stderr, "op %s is not in docs/permissions.md\n", op->name);
		CHECK(0);
	}
	if (op != NULL && (args == NULL || json_is_object(args))) {
		roles_ok = permitted(op->name, roles, args);
		may = roles_ok && (!perm_of(op->name)->dk ||
				      atomic_load(&f->st.dk) != NULL);
	}
	if (op != NULL && (op->fn == op_enrol || op->fn == op_login))
		f->dirty = 1;
	before = hsm_admin_enrolled(f->st.admin);
	last = hsm_audit_last(f->st.audit);
	resp = hsm_mgmt_handle(&c, req);
	CHECK(resp != NULL && json_is_object(resp));
	if (verbose && (text = json_dumps(resp, JSON_COMPACT)) != NULL) {
		fprintf(stderr, "< %s\n", text);
		free(text);
	}
	ok = json_object_get(resp, "ok");
	CHECK(json_is_boolean(ok));
	if ((s = json_object_get(resp, "session")) != NULL) {
		CHECK(json_is_string(s) &&
		      is_hex_upper(json_string_value(s), TOKEN_HEX));
		if (strcmp(token, json_string_value(s)) != 0)
			cur_roles = 0; /* a new session: no role yet */
		snprintf(token, sizeof(token), "%s", json_string_value(s));
		alive = 1;
	} else if (mine && alive) {
		/* "Every response names the session while it exists"
		 * (docs/management.md), refusals before the op runs (an
		 * unknown op, args that are not an object) included: the
		 * console forgets its session on an answer without one. */
		resolved = op != NULL && (args == NULL || json_is_object(args));
		CHECK(resolved);
		if (resolved) {
			cur_roles = 0; /* the session ended */
			alive = 0;
		}
	}
	if (json_is_true(ok)) {
		if (f == &afx && !may) {
			fprintf(stderr, "%s succeeded with roles %#x\n",
			    op != NULL ? op->name : "?", roles);
			CHECK(0);
		}
		if (op != NULL && op->fn == op_logout && mine)
			cur_roles = roles_of(json_object_get(
			    json_object_get(resp, "result"), "roles"));
		if (op != NULL && op->fn == op_zeroise)
			cur_roles = 0;
		check_ok(f, op, req, resp, before);
	} else {
		check_refused(op, resp, roles_ok);
	}
	/* One record per request, and no secret in it. */
	/* At least one record per request: exactly one but for the ops
	 * whose handler has more to say (maint.apply writes maint.update,
	 * zeroise its start and the new log's first records), and no
	 * secret in any. */
	now = hsm_audit_last(f->st.audit);
	CHECK(now >= last + 1);
	if (op == NULL || (op->fn != op_maint_apply && op->fn != op_zeroise))
		CHECK(now == last + 1);
	check_hidden(f, req, last + 1, (unsigned)(now - last));
	json_decref(resp);
	json_decref(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fx *f;
	size_t i = 1, n, reqs = 0;

	if (dk == NULL)
		init();
	if (size < 1)
		return 0;
	hsm_mgmt_end_sessions();
	token[0] = '\0';
	cur_roles = 0;
	alive = 0;
	if (data[0] & 4) {
		if (size < 2)
			return 0;
		afx_new(data[0] & 1, data[1] & HSM_ROLES_ALL);
		f = &afx;
		i = 2;
	} else {
		f = &fxs[(data[0] >> 1) & 1];
		if (f->dirty)
			baseline(f, f == &fxs[1]);
		atomic_store(&f->st.dk, (data[0] & 1) ? NULL : dk);
	}
	for (; i < size && reqs < MAX_REQS; i += n, reqs++) {
		if (size - i < 2) {
			n = size - i;
		} else {
			n = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
		}
		one_request(f, data + i, n);
	}
	if (f == &afx) {
		check_chain(&afx);
		afx_free();
		return 0;
	}
	atomic_store(&f->st.dk, dk);
	/* Short runs (the corpus replay) verify after every input. */
	if (++inputs <= 64 || inputs % AUDIT_EVERY == 0) {
		check_chain(&fxs[0]);
		check_chain(&fxs[1]);
	}
	if (inputs % AUDIT_RENEW == 0) {
		audit_renew(&fxs[0]);
		audit_renew(&fxs[1]);
	}
	return 0;
}
