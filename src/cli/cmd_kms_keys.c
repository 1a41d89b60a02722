/*
 * cmd_kms_keys.c - `tkms kms hsm|templates|key|issue|issued|record ...`:
 * the KMS's HSMs, key templates, root keys, issuance, lifecycle and work
 * forms over the API (docs/api.md "Command line").
 *
 *   tkms kms hsm list | show ID | check ID | retire ID
 *   tkms kms hsm add --name N --role R [--city CODE] --host H --port P
 *                    [--header-len N] [--mgmt-host H] [--mgmt-port P]
 *                    [--serial S]
 *   tkms kms hsm update ID [--host H] [--port P] [--header-len N]
 *                    [--mgmt-host H] [--mgmt-port P] [--serial S]
 *                    [--state active|retired]
 *   tkms kms templates
 *   tkms kms key list [--state S] [--template T] [--alg A]
 *   tkms kms key show|plan|destruction ID
 *   tkms kms key generate --hsm ID [--template T]... [--alg DES|SM4]...
 *   tkms kms key rotate|reissue|destroy ID | compromise ID --reason R
 *   tkms kms key confirm ID
 *   tkms kms issue --hsm ID [--city CODE]... [--template T]...
 *   tkms kms issued [--city CODE] [--hsm ID] [--key ID] [--state S]
 *   tkms kms record KIND ROOTKEYID [--format md|html] --out FILE
 *   tkms kms record sign KIND ROOTKEYID --sm3 H   (supervisor's sign-off
 *       of the record as read: H is its "sm3" from the export)
 *
 * Changes are proposals (POST /api/proposals): the command prints the
 * proposal, and another user of the role approves it with `tkms kms
 * approve ID`. Every subcommand takes --url and --session as cmd_kms.c;
 * proposing ones also --expires-in S.
 *
 * Exit status: 0 ok, 1 refused by the KMS (or: an HSM check that is not
 * ok, a confirmation that leaves keys to delete), 2 usage, connection or
 * local file errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "kms_client.h"

#define LIST_MAX  64 /* repeated --city, --template, --alg */
#define PATH_MAX_ 512

/* Options, one bit each: a subcommand names those it takes. */
enum opt {
	O_URL,
	O_SESSION,
	O_EXPIRES,
	O_NAME,
	O_ROLE,
	O_CITY,
	O_HOST,
	O_PORT,
	O_HEADER,
	O_MHOST,
	O_MPORT,
	O_SERIAL,
	O_STATE,
	O_HSM,
	O_TEMPLATE,
	O_ALG,
	O_KEY,
	O_REASON,
	O_FORMAT,
	O_OUT,
	O_SM3,
	O_COUNT
};
#define BIT(o)    (1u << (o))
#define COMMON    (BIT(O_URL) | BIT(O_SESSION))
#define PROPOSING (COMMON | BIT(O_EXPIRES))

struct opts {
	const char *v[O_COUNT]; /* the last value of each option */
	unsigned given;
	const char *cities[LIST_MAX], *templates[LIST_MAX], *algs[LIST_MAX];
	size_t ncities, ntemplates, nalgs;
	char **args; /* positional arguments after the subcommand */
	int nargs;
};

static const struct option longopts[] = {
    {"url", required_argument, NULL, O_URL},
    {"session", required_argument, NULL, O_SESSION},
    {"expires-in", required_argument, NULL, O_EXPIRES},
    {"name", required_argument, NULL, O_NAME},
    {"role", required_argument, NULL, O_ROLE},
    {"city", required_argument, NULL, O_CITY},
    {"host", required_argument, NULL, O_HOST},
    {"port", required_argument, NULL, O_PORT},
    {"header-len", required_argument, NULL, O_HEADER},
    {"mgmt-host", required_argument, NULL, O_MHOST},
    {"mgmt-port", required_argument, NULL, O_MPORT},
    {"serial", required_argument, NULL, O_SERIAL},
    {"state", required_argument, NULL, O_STATE},
    {"hsm", required_argument, NULL, O_HSM},
    {"template", required_argument, NULL, O_TEMPLATE},
    {"alg", required_argument, NULL, O_ALG},
    {"key", required_argument, NULL, O_KEY},
    {"reason", required_argument, NULL, O_REASON},
    {"format", required_argument, NULL, O_FORMAT},
    {"out", required_argument, NULL, O_OUT},
    {"sm3", required_argument, NULL, O_SM3},
    {NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tkms kms hsm list | show ID | check ID | retire ID\n"
	    "       tkms kms hsm add --name N --role R [--city CODE] --host H"
	    " --port P\n"
	    "                [--header-len N] [--mgmt-host H] [--mgmt-port P]"
	    " [--serial S]\n"
	    "       tkms kms hsm update ID [--host H] [--port P] [--header-len"
	    " N]\n"
	    "                [--mgmt-host H] [--mgmt-port P] [--serial S]"
	    " [--state active|retired]\n"
	    "       tkms kms templates\n"
	    "       tkms kms key list [--state S] [--template T] [--alg A]\n"
	    "       tkms kms key show|plan|destruction ID\n"
	    "       tkms kms key generate --hsm ID [--template T]..."
	    " [--alg DES|SM4]...\n"
	    "       tkms kms key rotate|reissue|destroy|confirm ID\n"
	    "       tkms kms key compromise ID --reason TEXT\n"
	    "       tkms kms issue --hsm ID [--city CODE]... [--template "
	    "T]...\n"
	    "       tkms kms issued [--city CODE] [--hsm ID] [--key ID]"
	    " [--state S]\n"
	    "       tkms kms record KIND ROOTKEYID [--format md|html] --out"
	    " FILE\n"
	    "       tkms kms record sign KIND ROOTKEYID --sm3 H\n"
	    "options: --url http://HOST:PORT  --session FILE  --expires-in S"
	    " (proposals)\n");
}

static int
push(const char **list, size_t *n, const char *v)
{
	if (*n == LIST_MAX)
		return -1;
	list[(*n)++] = v;
	return 0;
}

/* Parse argv (argv[0] the subcommand) keeping to the options in allowed.
 * -1 after the usage. */
static int
parse(int argc, char **argv, unsigned allowed, struct opts *o)
{
	int ch, bad = 0;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch < 0 || ch >= O_COUNT || !(allowed & BIT(ch))) {
			if (ch >= 0 && ch < O_COUNT)
				fprintf(stderr,
				    "tkms kms %s: --%s does not apply here\n",
				    argv[0], longopts[ch].name);
			bad = 1;
			continue;
		}
		o->v[ch] = optarg;
		o->given |= BIT(ch);
		if ((ch == O_CITY && push(o->cities, &o->ncities, optarg)) ||
		    (ch == O_TEMPLATE &&
			push(o->templates, &o->ntemplates, optarg)) ||
		    (ch == O_ALG && push(o->algs, &o->nalgs, optarg)))
			bad = 1;
	}
	if (bad) {
		usage();
		return -1;
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return 0;
}

/* A decimal number in [lo, hi]; -1 for anything else. */
static long long
number(const char *s, long long lo, long long hi)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v >= lo && v <= hi ? v : -1;
}

/* A word fit for a query string: letters, digits, '_'. */
static int
word_ok(const char *s)
{
	return s != NULL && *s != '\0' && strlen(s) < 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_") == strlen(s);
}

static json_t *
string_list(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int
connect_opts(struct kms *k, const struct opts *o)
{
	return kcli_init(k, o->v[O_URL], o->v[O_SESSION]) == 0 ? 0 : -1;
}

/*
 * POST /api/proposals {kind, payload (stolen)}: print the proposal and
 * say who approves it.
 */
static int
propose(const struct opts *o, const char *kind, json_t *payload)
{
	struct kms k;
	json_t *body, *ans = NULL;
	long long ttl = 0;
	int status, rc;

	if (payload == NULL) {
		fprintf(stderr, "tkms kms: out of memory\n");
		return 2;
	}
	if (o->v[O_EXPIRES] != NULL &&
	    (ttl = number(o->v[O_EXPIRES], 1, 7 * 86400)) < 0) {
		json_decref(payload);
		fprintf(
		    stderr, "tkms kms: --expires-in: 1 to 604800 seconds\n");
		return 2;
	}
	body = json_pack("{s:s, s:o}", "kind", kind, "payload", payload);
	if (body != NULL && ttl > 0)
		json_object_set_new(body, "expires_in", json_integer(ttl));
	if (body == NULL || connect_opts(&k, o) != 0) {
		json_decref(body);
		return 2;
	}
	if (kcli_http_call(&k, "POST", "/api/proposals", body, &status, &ans) !=
	    0) {
		json_decref(body);
		return 2;
	}
	rc = kcli_report(status, ans);
	if (rc == 0)
		fprintf(stderr,
		    "tkms kms: proposal %lld (%s): another user of your role"
		    " approves it with `tkms kms approve %lld`\n",
		    (long long)json_integer_value(json_object_get(ans, "id")),
		    kind,
		    (long long)json_integer_value(json_object_get(ans, "id")));
	json_decref(body);
	json_decref(ans);
	return rc;
}

/* A request whose answer is printed. */
static int
request(const struct opts *o, const char *method, const char *path)
{
	struct kms k;

	if (connect_opts(&k, o) != 0)
		return 2;
	return kcli_call(&k, method, path, NULL);
}

/* One positional ID: the path prefix ID suffix. -1 after the usage. */
static int
id_path(const struct opts *o, char *path, size_t cap, const char *prefix,
    const char *suffix)
{
	if (o->nargs != 1 || !kcli_id_ok(o->args[0])) {
		usage();
		return -1;
	}
	snprintf(path, cap, "%s%s%s", prefix, o->args[0], suffix);
	return 0;
}

/* --- hsm ----------------------------------------------------------------- */

/* The fields of hsm add / hsm update present in o into obj. -1 after a
 * message. */
static int
hsm_fields(const struct opts *o, json_t *obj)
{
	static const struct {
		enum opt opt;
		const char *field;
		long long lo, hi; /* numbers; hi 0: text */
	} f[] = {
	    {O_NAME, "name", 0, 0},
	    {O_ROLE, "role", 0, 0},
	    {O_CITY, "city", 0, 0},
	    {O_HOST, "host", 0, 0},
	    {O_PORT, "port", 1, 65535},
	    {O_HEADER, "header_len", 0, 32},
	    {O_MHOST, "mgmt_host", 0, 0},
	    {O_MPORT, "mgmt_port", 1, 65535},
	    {O_SERIAL, "serial", 0, 0},
	    {O_STATE, "state", 0, 0},
	};
	long long v;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (o->v[f[i].opt] == NULL)
			continue;
		if (f[i].hi == 0) {
			json_object_set_new(
			    obj, f[i].field, json_string(o->v[f[i].opt]));
			continue;
		}
		if ((v = number(o->v[f[i].opt], f[i].lo, f[i].hi)) < 0) {
			fprintf(stderr, "tkms kms: --%s: %lld to %lld\n",
			    longopts[f[i].opt].name, f[i].lo, f[i].hi);
			return -1;
		}
		json_object_set_new(obj, f[i].field, json_integer(v));
	}
	return 0;
}

static int
hsm_add(const struct opts *o)
{
	json_t *p;

	if (o->nargs != 0 || o->v[O_NAME] == NULL || o->v[O_ROLE] == NULL ||
	    o->v[O_HOST] == NULL || o->v[O_PORT] == NULL) {
		usage();
		return 2;
	}
	if ((p = json_object()) == NULL || hsm_fields(o, p) != 0) {
		json_decref(p);
		return 2;
	}
	return propose(o, "hsm.add", p);
}

static int
hsm_update(const struct opts *o, const char *state)
{
	json_t *set, *p;
	long long id;

	if (o->nargs != 1 || (id = number(o->args[0], 1, 999999999999LL)) < 0 ||
	    (state == NULL && (o->given & ~(PROPOSING)) == 0)) {
		usage();
		return 2;
	}
	if ((set = json_object()) == NULL || hsm_fields(o, set) != 0) {
		json_decref(set);
		return 2;
	}
	if (state != NULL)
		json_object_set_new(set, "state", json_string(state));
	p = json_pack("{s:I, s:o}", "id", (json_int_t)id, "set", set);
	return propose(o, "hsm.update", p);
}

/* hsm check: 1 when the HSM is not ok (its message on stderr). */
static int
hsm_check(const struct opts *o)
{
	char path[PATH_MAX_];
	json_t *ans = NULL;
	struct kms k;
	int status, rc;

	if (id_path(o, path, sizeof(path), "/api/hsms/", "/check") != 0)
		return 2;
	if (connect_opts(&k, o) != 0 ||
	    kcli_http_call(&k, "POST", path, NULL, &status, &ans) != 0)
		return 2;
	rc = kcli_report(status, ans);
	if (rc == 0 && !json_is_true(json_object_get(ans, "ok"))) {
		fprintf(stderr, "tkms kms: HSM %s: %s\n", o->args[0],
		    json_string_value(json_object_get(ans, "message")) != NULL
			? json_string_value(json_object_get(ans, "message"))
			: "not ok");
		rc = 1;
	}
	json_decref(ans);
	return rc;
}

int
cmd_kms_hsm(int argc, char **argv)
{
	static const struct {
		const char *verb;
		unsigned allowed;
	} verbs[] = {
	    {"list", COMMON},
	    {"show", COMMON},
	    {"check", COMMON},
	    {"retire", PROPOSING},
	    {"add", PROPOSING | BIT(O_NAME) | BIT(O_ROLE) | BIT(O_CITY) |
			BIT(O_HOST) | BIT(O_PORT) | BIT(O_HEADER) |
			BIT(O_MHOST) | BIT(O_MPORT) | BIT(O_SERIAL)},
	    {"update", PROPOSING | BIT(O_HOST) | BIT(O_PORT) | BIT(O_HEADER) |
			   BIT(O_MHOST) | BIT(O_MPORT) | BIT(O_SERIAL) |
			   BIT(O_STATE)},
	};
	char path[PATH_MAX_];
	struct opts o;
	const char *verb;
	size_t i;

	if (argc < 2) {
		usage();
		return 2;
	}
	verb = argv[1];
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i].verb) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]) ||
	    parse(argc - 1, argv + 1, verbs[i].allowed, &o) != 0) {
		if (i == sizeof(verbs) / sizeof(verbs[0]))
			usage();
		return 2;
	}
	if (strcmp(verb, "list") == 0) {
		if (o.nargs != 0) {
			usage();
			return 2;
		}
		return request(&o, "GET", "/api/hsms");
	}
	if (strcmp(verb, "show") == 0)
		return id_path(&o, path, sizeof(path), "/api/hsms/", "") != 0
			   ? 2
			   : request(&o, "GET", path);
	if (strcmp(verb, "check") == 0)
		return hsm_check(&o);
	if (strcmp(verb, "add") == 0)
		return hsm_add(&o);
	return hsm_update(&o, strcmp(verb, "retire") == 0 ? "retired" : NULL);
}

/* --- templates ----------------------------------------------------------- */

int
cmd_kms_templates(int argc, char **argv)
{
	struct opts o;

	if (parse(argc, argv, COMMON, &o) != 0)
		return 2;
	if (o.nargs != 0) {
		usage();
		return 2;
	}
	return request(&o, "GET", "/api/templates");
}

/* --- key ----------------------------------------------------------------- */

/* key confirm: 1 while keys remain to be deleted in the HSMs. */
static int
key_confirm(const struct opts *o)
{
	char path[PATH_MAX_];
	json_t *ans = NULL;
	struct kms k;
	int status, rc;

	if (id_path(o, path, sizeof(path), "/api/root-keys/",
		"/confirm-destroy") != 0)
		return 2;
	if (connect_opts(&k, o) != 0 ||
	    kcli_http_call(&k, "POST", path, NULL, &status, &ans) != 0)
		return 2;
	rc = kcli_report(status, ans);
	if (rc == 0 && !json_is_true(json_object_get(ans, "root_destroyed"))) {
		fprintf(stderr,
		    "tkms kms: %lld keys still to be deleted in their HSMs"
		    " (see each key's why and command)\n",
		    (long long)json_integer_value(
			json_object_get(ans, "pending")));
		rc = 1;
	}
	json_decref(ans);
	return rc;
}

static int
key_list(const struct opts *o)
{
	static const enum opt q[] = {O_STATE, O_TEMPLATE, O_ALG};
	static const char *const names[] = {"state", "template", "alg"};
	char path[PATH_MAX_];
	size_t i, n;

	if (o->nargs != 0) {
		usage();
		return 2;
	}
	n = (size_t)snprintf(path, sizeof(path), "/api/root-keys");
	for (i = 0; i < 3; i++) {
		if (o->v[q[i]] == NULL)
			continue;
		if (!word_ok(o->v[q[i]])) {
			fprintf(stderr, "tkms kms: --%s: a word\n", names[i]);
			return 2;
		}
		n += (size_t)snprintf(path + n, sizeof(path) - n, "%c%s=%s",
		    strchr(path, '?') ? '&' : '?', names[i], o->v[q[i]]);
	}
	return request(o, "GET", path);
}

static int
key_generate(const struct opts *o)
{
	long long hsm;
	json_t *p;

	if (o->nargs != 0 ||
	    (hsm = number(o->v[O_HSM], 1, 999999999999LL)) < 0) {
		usage();
		return 2;
	}
	p = json_pack("{s:I}", "hsm", (json_int_t)hsm);
	if (p != NULL && o->ntemplates > 0)
		json_object_set_new(
		    p, "templates", string_list(o->templates, o->ntemplates));
	if (p != NULL && o->nalgs > 0)
		json_object_set_new(p, "algs", string_list(o->algs, o->nalgs));
	return propose(o, "key.generate", p);
}

/* rotate, reissue, destroy, compromise: {"root_key": ID, ...}. */
static int
key_lifecycle(const struct opts *o, const char *kind)
{
	long long id;
	json_t *p;

	if (o->nargs != 1 || (id = number(o->args[0], 1, 999999999999LL)) < 0 ||
	    (strcmp(kind, "key.compromise") == 0) != (o->v[O_REASON] != NULL)) {
		usage();
		return 2;
	}
	p = json_pack("{s:I}", "root_key", (json_int_t)id);
	if (p != NULL && o->v[O_REASON] != NULL)
		json_object_set_new(p, "reason", json_string(o->v[O_REASON]));
	return propose(o, kind, p);
}

int
cmd_kms_key(int argc, char **argv)
{
	static const struct {
		const char *verb;
		unsigned allowed;
		const char *path; /* GET prefix ID suffix, or NULL */
		const char *suffix;
		const char *kind; /* a proposal, or NULL */
	} verbs[] = {
	    {"list", COMMON | BIT(O_STATE) | BIT(O_TEMPLATE) | BIT(O_ALG), NULL,
		NULL, NULL},
	    {"show", COMMON, "/api/root-keys/", "", NULL},
	    {"plan", COMMON, "/api/root-keys/", "/plan", NULL},
	    {"destruction", COMMON, "/api/root-keys/", "/destruction", NULL},
	    {"generate", PROPOSING | BIT(O_HSM) | BIT(O_TEMPLATE) | BIT(O_ALG),
		NULL, NULL, "key.generate"},
	    {"rotate", PROPOSING, NULL, NULL, "key.rotate"},
	    {"compromise", PROPOSING | BIT(O_REASON), NULL, NULL,
		"key.compromise"},
	    {"reissue", PROPOSING, NULL, NULL, "key.reissue"},
	    {"destroy", PROPOSING, NULL, NULL, "key.destroy"},
	    {"confirm", COMMON, NULL, NULL, NULL},
	};
	char path[PATH_MAX_];
	struct opts o;
	size_t i, n = sizeof(verbs) / sizeof(verbs[0]);

	if (argc < 2) {
		usage();
		return 2;
	}
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], verbs[i].verb) == 0)
			break;
	if (i == n) {
		usage();
		return 2;
	}
	/* cppcheck-suppress arrayIndexOutOfBounds ; i < n: returned above */
	if (parse(argc - 1, argv + 1, verbs[i].allowed, &o) != 0)
		return 2;
	if (verbs[i].path != NULL)
		return id_path(&o, path, sizeof(path), verbs[i].path,
			   verbs[i].suffix) != 0
			   ? 2
			   : request(&o, "GET", path);
	if (strcmp(verbs[i].verb, "list") == 0)
		return key_list(&o);
	if (strcmp(verbs[i].verb, "confirm") == 0)
		return key_confirm(&o);
	if (strcmp(verbs[i].verb, "generate") == 0)
		return key_generate(&o);
	return key_lifecycle(&o, verbs[i].kind);
}

/* --- issue, issued ------------------------------------------------------- */

int
cmd_kms_issue(int argc, char **argv)
{
	struct opts o;
	long long hsm;
	json_t *p;

	if (parse(argc, argv,
		PROPOSING | BIT(O_HSM) | BIT(O_CITY) | BIT(O_TEMPLATE),
		&o) != 0)
		return 2;
	if (o.nargs != 0 || (hsm = number(o.v[O_HSM], 1, 999999999999LL)) < 0) {
		usage();
		return 2;
	}
	p = json_pack("{s:I}", "hsm", (json_int_t)hsm);
	if (p != NULL && o.ncities > 0)
		json_object_set_new(
		    p, "cities", string_list(o.cities, o.ncities));
	if (p != NULL && o.ntemplates > 0)
		json_object_set_new(
		    p, "templates", string_list(o.templates, o.ntemplates));
	return propose(&o, "key.issue", p);
}

int
cmd_kms_issued(int argc, char **argv)
{
	static const enum opt q[] = {O_CITY, O_HSM, O_KEY, O_STATE};
	static const char *const names[] = {"city", "hsm", "root_key", "state"};
	char path[PATH_MAX_];
	struct opts o;
	size_t i, n;

	if (parse(argc, argv,
		COMMON | BIT(O_CITY) | BIT(O_HSM) | BIT(O_KEY) | BIT(O_STATE),
		&o) != 0)
		return 2;
	if (o.nargs != 0 || o.ncities > 1) {
		usage();
		return 2;
	}
	n = (size_t)snprintf(path, sizeof(path), "/api/issued-keys");
	for (i = 0; i < 4; i++) {
		if (o.v[q[i]] == NULL)
			continue;
		if (!word_ok(o.v[q[i]])) {
			fprintf(stderr, "tkms kms: --%s: a word or number\n",
			    longopts[q[i]].name);
			return 2;
		}
		n += (size_t)snprintf(path + n, sizeof(path) - n, "%c%s=%s",
		    strchr(path, '?') ? '&' : '?', names[i], o.v[q[i]]);
	}
	return request(&o, "GET", path);
}

/* --- record -------------------------------------------------------------- */

int
cmd_kms_record(int argc, char **argv)
{
	const char *fmt, *doc;
	char path[PATH_MAX_];
	json_t *ans = NULL;
	struct opts o;
	struct kms k;
	int status, rc;

	if (parse(argc, argv, COMMON | BIT(O_FORMAT) | BIT(O_OUT) | BIT(O_SM3),
		&o) != 0)
		return 2;
	/* record sign KIND ID --sm3 H: the supervisor's sign-off of the
	 * record as read (its "sm3" when it was exported). */
	if (o.nargs == 3 && strcmp(o.args[0], "sign") == 0) {
		if (!word_ok(o.args[1]) || !kcli_id_ok(o.args[2]) ||
		    o.v[O_OUT] != NULL || o.v[O_FORMAT] != NULL ||
		    o.v[O_SM3] == NULL) {
			usage();
			return 2;
		}
		snprintf(path, sizeof(path), "/api/records/%s/%s/sign",
		    o.args[1], o.args[2]);
		if (connect_opts(&k, &o) != 0 ||
		    (ans = json_pack("{s:s}", "sm3", o.v[O_SM3])) == NULL)
			return 2;
		rc = kcli_call(&k, "POST", path, ans);
		json_decref(ans);
		return rc;
	}
	if (o.v[O_SM3] != NULL) {
		usage();
		return 2;
	}
	fmt = o.v[O_FORMAT] != NULL ? o.v[O_FORMAT] : "html";
	if (o.nargs != 2 || !word_ok(o.args[0]) || !kcli_id_ok(o.args[1]) ||
	    o.v[O_OUT] == NULL ||
	    (strcmp(fmt, "md") != 0 && strcmp(fmt, "html") != 0)) {
		usage();
		return 2;
	}
	snprintf(path, sizeof(path), "/api/records/%s/%s?format=%s", o.args[0],
	    o.args[1], fmt);
	if (connect_opts(&k, &o) != 0 ||
	    kcli_http_call(&k, "GET", path, NULL, &status, &ans) != 0)
		return 2;
	if (status != 200) {
		rc = kcli_report(status, ans);
		json_decref(ans);
		return rc;
	}
	if ((doc = json_string_value(json_object_get(ans, "document"))) ==
	    NULL) {
		fprintf(stderr, "tkms kms: the answer holds no document\n");
		json_decref(ans);
		return 2;
	}
	if (cli_file_write_new(o.v[O_OUT], doc, strlen(doc)) != 0) {
		json_decref(ans);
		return 2;
	}
	/* The document went to the file: print what it is. */
	json_object_del(ans, "document");
	json_object_set_new(ans, "file", json_string(o.v[O_OUT]));
	rc = kcli_report(status, ans);
	json_decref(ans);
	return rc;
}
