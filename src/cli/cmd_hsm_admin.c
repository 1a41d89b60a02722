/*
 * cmd_hsm_admin.c - the HSM management console: `tkms hsm status|call|
 * login|logout|enrol|keys|auth|audit|time|whitelist|dk|unseal|tk ...`
 * over the management port (docs/management.md).
 *
 * Every subcommand takes the connection options
 *   --host H (127.0.0.1)  --port P (1501)  --ca FILE (TLS, verify the
 *   server against FILE)  --session FILE ($TKMS_SESSION or ./.tkms-session)
 * The session token lives in the session file (mode 0600) between runs:
 * each response that names a session rewrites it, one that no longer does
 * (logout of the last role, expiry) removes it.
 *
 * The friendly wrappers are rows of a table: words -> op, options -> args.
 * Anything a row lacks can go in with --arg NAME=JSON, or with
 * `tkms hsm call OP '{json}'`. Exit status: 0 ok, 1 refused by the HSM,
 * 2 usage or connection errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli.h"
#include "tkm/b64.h"
#include "tkm/buf.h"
#include "tkm/card.h"
#include "tkm/err.h"
#include "tkm/mem.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 1501
#define MSG_MAX      (1u << 20) /* HSM_MGMT_MAX */
#define IO_TIMEOUT   30         /* seconds */
#define SECRET_MAX   256
#define TOKEN_MAX    64

/* --- connection --------------------------------------------------------- */

struct console {
	char host[256];
	unsigned port;
	const char *ca;
	char session_path[512];
	char token[TOKEN_MAX + 1]; /* "" = none */
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static int
con_connect(struct console *con)
{
	struct timeval tv = {IO_TIMEOUT, 0};
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", con->port);
	if (getaddrinfo(con->host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* TLS with the server verified against --ca, by name or address. */
static int
con_tls(struct console *con)
{
	if ((con->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(con->ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(con->ctx, con->ca, NULL) != 1)
		return -1;
	SSL_CTX_set_verify(con->ctx, SSL_VERIFY_PEER, NULL);
	if ((con->ssl = SSL_new(con->ctx)) == NULL ||
	    SSL_set1_host(con->ssl, con->host) != 1 ||
	    SSL_set_fd(con->ssl, con->fd) != 1)
		return -1;
	(void)SSL_set_tlsext_host_name(con->ssl, con->host);
	return SSL_connect(con->ssl) == 1 ? 0 : -1;
}

static int
con_open(struct console *con)
{
	if ((con->fd = con_connect(con)) < 0) {
		fprintf(stderr, "tkms hsm: %s:%u: cannot connect\n", con->host,
		    con->port);
		return -1;
	}
	if (con->ca != NULL && con_tls(con) != 0) {
		fprintf(stderr, "tkms hsm: %s:%u: TLS failed: %s\n", con->host,
		    con->port, ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	return 0;
}

static void
con_close(struct console *con)
{
	if (con->ssl != NULL)
		SSL_free(con->ssl);
	SSL_CTX_free(con->ctx);
	if (con->fd >= 0)
		close(con->fd);
	con->ssl = NULL;
	con->ctx = NULL;
	con->fd = -1;
}

static int
con_write(struct console *con, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t k;

	while (n > 0) {
		if (con->ssl != NULL)
			k = SSL_write(
			    con->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
		else
			k = send(con->fd, b, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
con_read(struct console *con, void *p, size_t n)
{
	uint8_t *b = p;
	ssize_t k;

	while (n > 0) {
		if (con->ssl != NULL)
			k = SSL_read(
			    con->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
		else
			k = recv(con->fd, b, n, 0);
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* --- session file ------------------------------------------------------- */

static void
session_load(struct console *con)
{
	char buf[TOKEN_MAX + 2];
	size_t n;
	FILE *f;

	con->token[0] = '\0';
	if ((f = fopen(con->session_path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		n = strcspn(buf, "\r\n");
		if (n < sizeof(con->token)) {
			memcpy(con->token, buf, n);
			con->token[n] = '\0';
		}
	}
	fclose(f);
}

/* Written 0600 to a temporary name and renamed: never half a token. */
static void
session_store(struct console *con, const char *token)
{
	char tmp[600];
	int fd, ok;

	if (strcmp(token, con->token) == 0)
		return;
	snprintf(con->token, sizeof(con->token), "%s", token);
	snprintf(tmp, sizeof(tmp), "%s.tmp", con->session_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		fprintf(stderr, "tkms hsm: %s: %s\n", tmp, strerror(errno));
		return;
	}
	ok = write(fd, token, strlen(token)) == (ssize_t)strlen(token) &&
	     write(fd, "\n", 1) == 1;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, con->session_path) != 0) {
		fprintf(
		    stderr, "tkms hsm: cannot write %s\n", con->session_path);
		(void)unlink(tmp);
	}
}

static void
session_forget(struct console *con)
{
	if (con->token[0] != '\0')
		(void)unlink(con->session_path);
	con->token[0] = '\0';
}

/* --- one call ----------------------------------------------------------- */

/* Send {"op", "session", "args"}; *resp is the answer. 0, or -1 after a
 * message on a broken exchange. The request text carries passwords: it
 * is wiped. */
static int
con_call(struct console *con, const char *op, json_t *args, json_t **resp)
{
	json_t *req;
	json_error_t jerr;
	char *text = NULL;
	uint8_t len[4], *in = NULL;
	size_t n = 0;
	int rc = -1;

	*resp = NULL;
	req = json_pack("{s:s, s:O}", "op", op, "args", args);
	if (req != NULL && con->token[0] != '\0')
		json_object_set_new(req, "session", json_string(con->token));
	if (req == NULL || (text = json_dumps(req, JSON_COMPACT)) == NULL)
		goto out;
	n = strlen(text);
	len[0] = (uint8_t)(n >> 24);
	len[1] = (uint8_t)(n >> 16);
	len[2] = (uint8_t)(n >> 8);
	len[3] = (uint8_t)n;
	if (con_write(con, len, 4) != 0 || con_write(con, text, n) != 0 ||
	    con_read(con, len, 4) != 0)
		goto io;
	n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 |
	    len[3];
	if (n == 0 || n > MSG_MAX || (in = malloc(n)) == NULL ||
	    con_read(con, in, n) != 0)
		goto io;
	if ((*resp = json_loadb((char *)in, n, 0, &jerr)) == NULL ||
	    !json_is_object(*resp)) {
		fprintf(stderr, "tkms hsm: bad answer: %s\n", jerr.text);
		goto out;
	}
	rc = 0;
	goto out;
io:
	fprintf(stderr, "tkms hsm: %s:%u: connection failed\n", con->host,
	    con->port);
out:
	if (text != NULL) {
		tkm_cleanse(text, strlen(text));
		tkm_wipe_free(text);
	}
	if (in != NULL) {
		tkm_cleanse(in, n);
		free(in);
	}
	if (rc != 0) {
		json_decref(*resp);
		*resp = NULL;
	}
	json_decref(req);
	return rc;
}

/* Keep or forget the session the answer names; print a refusal. Returns
 * the exit status (0 ok, 1 refused). */
static int
con_answer(struct console *con, json_t *resp)
{
	const char *tok = json_string_value(json_object_get(resp, "session"));

	if (tok != NULL)
		session_store(con, tok);
	else
		session_forget(con);
	if (json_is_true(json_object_get(resp, "ok")))
		return 0;
	fprintf(stderr, "tkms hsm: refused (%s): %s\n",
	    json_string_value(json_object_get(resp, "code")),
	    json_string_value(json_object_get(resp, "error")));
	return 1;
}

static void
print_result(json_t *resp)
{
	json_t *r = json_object_get(resp, "result");

	if (r != NULL && json_object_size(r) > 0)
		json_dumpf(r, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		printf("ok");
	printf("\n");
}

/* One op on a new connection; prints the result. */
static int
run_op(struct console *con, const char *op, json_t *args)
{
	json_t *resp = NULL;
	int rc = 2;

	if (con_open(con) == 0 && con_call(con, op, args, &resp) == 0) {
		if ((rc = con_answer(con, resp)) == 0)
			print_result(resp);
	}
	json_decref(resp);
	con_close(con);
	return rc;
}

/* --- secrets ------------------------------------------------------------ */

/* --- options ------------------------------------------------------------ */

enum { OPT_HOST = 1000, OPT_PORT, OPT_CA, OPT_SESSION, OUT_VAL = 900 };

static const struct option conn_longopts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"ca", required_argument, NULL, OPT_CA},
    {"session", required_argument, NULL, OPT_SESSION},
};
#define NCONN (sizeof(conn_longopts) / sizeof(conn_longopts[0]))

static void
con_defaults(struct console *con)
{
	const char *s = getenv("TKMS_SESSION");

	memset(con, 0, sizeof(*con));
	con->fd = -1;
	snprintf(con->host, sizeof(con->host), "%s", DEFAULT_HOST);
	con->port = DEFAULT_PORT;
	snprintf(con->session_path, sizeof(con->session_path), "%s",
	    s != NULL && s[0] != '\0' ? s : ".tkms-session");
}

/* A connection option: 1 taken, 0 not one, -1 bad value. */
static int
con_option(struct console *con, int ch, const char *arg)
{
	char *end;
	unsigned long v;

	switch (ch) {
	case OPT_HOST:
		snprintf(con->host, sizeof(con->host), "%s", arg);
		return 1;
	case OPT_PORT:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
			return -1;
		con->port = (unsigned)v;
		return 1;
	case OPT_CA:
		con->ca = arg;
		return 1;
	case OPT_SESSION:
		snprintf(
		    con->session_path, sizeof(con->session_path), "%s", arg);
		return 1;
	default:
		return 0;
	}
}

/* --arg NAME=JSON (or a bare string when it is not JSON). */
static int
add_raw_arg(json_t *args, const char *s)
{
	const char *eq = strchr(s, '=');
	char name[64];
	json_t *v;

	if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof(name))
		return -1;
	memcpy(name, s, (size_t)(eq - s));
	name[eq - s] = '\0';
	v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (v == NULL)
		v = json_string(eq + 1);
	return json_object_set_new(args, name, v) == 0 ? 0 : -1;
}

/* --- table-driven wrappers --------------------------------------------- */

/* T_FILE: the option names a file sent in base64 (a backup); T_TEXT: a
 * text file sent as a string, trailing white space removed (a public
 * key). */
enum arg_type { T_STR, T_INT, T_LIST, T_FLAG, T_FILE, T_TEXT };
enum out_enc { O_B64, O_TEXT };

struct wopt {
	const char *opt; /* command-line option, without "--" */
	const char *arg; /* JSON argument name */
	enum arg_type type;
};

/* A result field written to the file named by an option (required) and
 * left out of what is printed. */
struct wout {
	const char *field, *opt;
	enum out_enc enc;
};

#define MAX_WOPTS   5
#define MAX_SECRETS 2
#define MAX_WOUTS   2
#define FILE_MAX    (768u << 10) /* base64 of it fits HSM_MGMT_MAX */
struct wrapper {
	const char *w1, *w2; /* words after `tkms hsm`; w2 may be NULL */
	const char *op;
	struct wopt opts[MAX_WOPTS];
	/* Arguments asked on the terminal (or read from --NAME-file) when
	 * not given; "component" is not asked when "generate" is set. */
	const char *secrets[MAX_SECRETS];
	struct wout outs[MAX_WOUTS];
};

/* Argument names are those of the handlers (docs/management.md). */
static const struct wrapper wrappers[] = {
    {"status", NULL, "status", {{NULL}}, {NULL}},
    {"keys", "list", "keys.list", {{"lib", "lib", T_STR}}, {NULL}},
    {"keys", "delete", "keys.delete",
	{{"lib", "lib", T_STR}, {"index", "index", T_STR}}, {NULL}},
    {"auth", "open", "auth.open", {{"minutes", "minutes", T_INT}}, {NULL}},
    {"auth", "close", "auth.close", {{NULL}}, {NULL}},
    {"audit", "show", "audit.show",
	{{"from", "from", T_INT}, {"count", "n", T_INT}}, {NULL}},
    {"audit", "verify", "audit.verify", {{"checkpoint", "checkpoint", T_TEXT}},
	{NULL}},
    {"audit", "export", "audit.export",
	{{"from", "from", T_INT}, {"count", "n", T_INT}}, {NULL}},
    {"time", "get", "time.get", {{NULL}}, {NULL}},
    {"time", "set", "time.set", {{"offset", "offset", T_INT}}, {NULL}},
    {"whitelist", "get", "whitelist.get", {{NULL}}, {NULL}},
    {"whitelist", "set", "whitelist.set",
	{{"listener", "listener", T_INT}, {"kind", "kind", T_STR},
	    {"list", "list", T_LIST}},
	{NULL}},
    {"dk", "component", "dk.component",
	{{"role", "role", T_STR}, {"generate", "generate", T_FLAG}},
	{"component_password", "component"}},
    {"dk", "combine", "dk.combine", {{NULL}}, {NULL}},
    {"tk", "component", "tk.component",
	{{"alg", "alg", T_STR}, {"generate", "generate", T_FLAG}},
	{"component"}},
    {"tk", "combine", "tk.combine",
	{{"alg", "alg", T_STR}, {"index", "index", T_STR}}, {NULL}},
    {"tk", "initial", "tk.initial", {{NULL}}, {NULL}},
    {"password", "set", "password.set",
	{{"role", "role", T_STR}, {"issuer-code", "issuer_code", T_STR}},
	{"password"}},
    {"dk", "export", "dk.export", {{NULL}}, {NULL}, {{"file", "out", O_B64}}},
    {"backup", "create", "backup.create", {{"lib", "lib", T_STR}}, {NULL},
	{{"file", "out", O_B64}}},
    {"backup", "restore", "backup.restore",
	{{"in", "file", T_FILE}, {"replace", "replace", T_FLAG}}, {NULL}},
    {"mkey", "generate", "mkey.generate", {{"index", "index", T_INT}}, {NULL},
	{{"file", "out", O_B64}, {"public", "pub-out", O_TEXT}}},
    {"mkey", "import", "mkey.import", {{"in", "public", T_TEXT}}, {NULL}},
    {"mkey", "show", "mkey.show", {{NULL}}, {NULL}},
    {"zeroise", NULL, "zeroise", {{"confirm", "confirm", T_STR}}, {NULL}},
    {"net", "get", "net.get", {{NULL}}, {NULL}},
    {"net", "set", "net.set",
	{{"listener", "listener", T_INT}, {"address", "address", T_STR}},
	{NULL}},
    {"audit", "checkpoint", "audit.checkpoint", {{NULL}}, {NULL},
	{{"checkpoint", "out", O_TEXT}}},
    /* `tkms maint request|apply|show` (cmd_maint.c) come here. */
    {"maint", "request", "maint.request", {{NULL}}, {NULL},
	{{"file", "out", O_TEXT}}},
    {"maint", "apply", "maint.apply", {{"in", "file", T_TEXT}}, {NULL}},
    {"maint", "show", "maint.show", {{NULL}}, {NULL}},
};
#define NWRAPPERS (sizeof(wrappers) / sizeof(wrappers[0]))

/* "component_password" -> "component-password-file". */
static void
secret_option(const char *name, char *out, size_t cap)
{
	size_t i;

	snprintf(out, cap, "%s-file", name);
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] == '_')
			out[i] = '-';
}

static void
wrappers_usage(void)
{
	const struct wrapper *w;
	size_t i, k;

	fprintf(stderr, "usage: tkms hsm WORDS [--host H] [--port P] "
			"[--ca FILE] [--session FILE] [OPTIONS]\n"
			"           [--arg NAME=JSON]...\n");
	for (i = 0; i < NWRAPPERS; i++) {
		w = &wrappers[i];
		fprintf(stderr, "  %s%s%s", w->w1, w->w2 ? " " : "",
		    w->w2 ? w->w2 : "");
		for (k = 0; k < MAX_WOPTS && w->opts[k].opt != NULL; k++)
			fprintf(stderr,
			    w->opts[k].type == T_FLAG ? " [--%s]" : " [--%s X]",
			    w->opts[k].opt);
		for (k = 0; k < MAX_SECRETS && w->secrets[k] != NULL; k++) {
			char so[64];

			secret_option(w->secrets[k], so, sizeof(so));
			fprintf(stderr, " [--%s F]", so);
		}
		for (k = 0; k < MAX_WOUTS && w->outs[k].field != NULL; k++)
			fprintf(stderr, " --%s F", w->outs[k].opt);
		fprintf(stderr, "   (op %s)\n", w->op);
	}
}

/* A file as a JSON string: base64 of its bytes, or its text without the
 * trailing white space. */
static json_t *
file_arg(const char *path, int b64)
{
	uint8_t *p;
	char *enc;
	size_t n;
	json_t *j = NULL;

	if (cli_file_read(path, FILE_MAX, &p, &n) != 0)
		return NULL;
	if (!b64) {
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' ||
				    p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		j = json_stringn((const char *)p, n);
	} else if ((enc = malloc(TKM_B64_LEN(n) + 1)) != NULL) {
		tkm_b64_encode(p, n, enc);
		j = json_string(enc);
		free(enc);
	}
	free(p);
	return j;
}

static int
set_typed(json_t *args, const struct wopt *o, const char *v)
{
	json_t *j = NULL, *a;
	char *copy, *item, *save = NULL;
	char *end;
	long long n;

	switch (o->type) {
	case T_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno == 0 && end != v && *end == '\0')
			j = json_integer(n);
		break;
	case T_FLAG:
		j = json_true();
		break;
	case T_FILE:
	case T_TEXT:
		j = file_arg(v, o->type == T_FILE);
		break;
	case T_LIST:
		if ((a = json_array()) == NULL || (copy = strdup(v)) == NULL) {
			json_decref(a);
			return -1;
		}
		for (item = strtok_r(copy, ",", &save); item != NULL;
		     item = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(item));
		free(copy);
		j = a;
		break;
	default:
		j = json_string(v);
	}
	return j != NULL && json_object_set_new(args, o->arg, j) == 0 ? 0 : -1;
}

/* Ask for the row's secrets that the options did not give. */
static int
wrapper_secrets(
    const struct wrapper *w, const char *files[MAX_SECRETS], json_t *args)
{
	char prompt[80], secret[SECRET_MAX];
	size_t k;
	int r;

	for (k = 0; k < MAX_SECRETS && w->secrets[k] != NULL; k++) {
		if (json_object_get(args, w->secrets[k]) != NULL ||
		    (strcmp(w->secrets[k], "component") == 0 &&
			json_is_true(json_object_get(args, "generate"))) ||
		    (strcmp(w->secrets[k], "password") == 0 &&
			json_object_get(args, "issuer_code") != NULL))
			continue;
		snprintf(prompt, sizeof(prompt), "%s: ", w->secrets[k]);
		if (cli_read_secret(files[k], prompt, secret, sizeof(secret)) !=
		    0)
			return -1;
		r = json_object_set_new(
		    args, w->secrets[k], json_string(secret));
		tkm_cleanse(secret, sizeof(secret));
		if (r != 0)
			return -1;
	}
	return 0;
}

/* Options of a wrapper row: its own, --arg, --SECRET-file, connection. */
static int
wrapper_args(const struct wrapper *w, struct console *con, int argc,
    char **argv, json_t *args, const char *outs[MAX_WOUTS])
{
	struct option lo[MAX_WOPTS + MAX_SECRETS + MAX_WOUTS + NCONN + 2];
	char so[MAX_SECRETS][64];
	const char *files[MAX_SECRETS] = {NULL};
	size_t n = 0, k;
	int ch;

	memset(lo, 0, sizeof(lo));
	for (k = 0; k < MAX_WOPTS && w->opts[k].opt != NULL; k++)
		lo[n++] = (struct option){w->opts[k].opt,
		    w->opts[k].type == T_FLAG ? no_argument : required_argument,
		    NULL, (int)k};
	for (k = 0; k < MAX_SECRETS && w->secrets[k] != NULL; k++) {
		secret_option(w->secrets[k], so[k], sizeof(so[k]));
		lo[n++] = (struct option){
		    so[k], required_argument, NULL, (int)(MAX_WOPTS + k)};
	}
	for (k = 0; k < MAX_WOUTS && w->outs[k].field != NULL; k++)
		lo[n++] = (struct option){w->outs[k].opt, required_argument,
		    NULL, (int)(OUT_VAL + k)};
	lo[n++] = (struct option){"arg", required_argument, NULL, 'a'};
	for (k = 0; k < NCONN; k++)
		lo[n++] = conn_longopts[k];
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch >= OUT_VAL && ch < OUT_VAL + MAX_WOUTS) {
			outs[ch - OUT_VAL] = optarg;
		} else if (ch >= 0 && ch < MAX_WOPTS) {
			if (set_typed(args, &w->opts[ch], optarg) != 0)
				return -1;
		} else if (ch >= MAX_WOPTS && ch < MAX_WOPTS + MAX_SECRETS) {
			files[ch - MAX_WOPTS] = optarg;
		} else if (ch == 'a') {
			if (add_raw_arg(args, optarg) != 0)
				return -1;
		} else if (con_option(con, ch, optarg) != 1) {
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	for (k = 0; k < MAX_WOUTS && w->outs[k].field != NULL; k++) {
		if (outs[k] == NULL) {
			fprintf(stderr, "tkms hsm: --%s FILE is required\n",
			    w->outs[k].opt);
			return -1;
		}
		/* Before the HSM does anything: a backup is never written
		 * over another (cli_file_write_new checks again). */
		if (access(outs[k], F_OK) == 0) {
			fprintf(stderr, "tkms hsm: %s exists: not replaced\n",
			    outs[k]);
			return -1;
		}
	}
	return wrapper_secrets(w, files, args);
}

/* Write the row's result fields to their files, taking them out of the
 * result. 0, or 1 (a file not written: the op's effect stands, so say
 * so). */
static int
save_outs(const struct wrapper *w, const char *outs[MAX_WOUTS], json_t *resp)
{
	json_t *r = json_object_get(resp, "result");
	const char *v;
	uint8_t *bin;
	size_t k, n, len;
	int rc = 0;

	for (k = 0; k < MAX_WOUTS && w->outs[k].field != NULL; k++) {
		v = json_string_value(json_object_get(r, w->outs[k].field));
		if (v == NULL) {
			fprintf(stderr, "tkms hsm: the answer has no %s\n",
			    w->outs[k].field);
			rc = 1;
			continue;
		}
		n = strlen(v);
		if (w->outs[k].enc == O_TEXT) {
			char *line = malloc(n + 2);

			if (line == NULL)
				return 1;
			memcpy(line, v, n);
			line[n] = '\n';
			rc |= cli_file_write_new(outs[k], line, n + 1) != 0;
			free(line);
		} else if ((bin = malloc(n / 4 * 3 + 1)) == NULL ||
			   tkm_b64_decode(v, n, bin, n / 4 * 3 + 1, &len) !=
			       TKM_OK) {
			fprintf(stderr, "tkms hsm: bad base64 in %s\n",
			    w->outs[k].field);
			free(bin);
			rc = 1;
			continue;
		} else {
			rc |= cli_file_write_new(outs[k], bin, len) != 0;
			free(bin);
		}
		if (rc == 0)
			fprintf(stderr, "wrote %s\n", outs[k]);
		json_object_del(r, w->outs[k].field);
	}
	return rc;
}

static int
run_wrapper(int argc, char **argv)
{
	const struct wrapper *w = NULL;
	const char *outs[MAX_WOUTS] = {NULL};
	struct console con;
	json_t *args, *resp = NULL;
	size_t i;
	int rc = 2, skip;

	for (i = 0; i < NWRAPPERS && w == NULL; i++)
		if (strcmp(argv[0], wrappers[i].w1) == 0 &&
		    (wrappers[i].w2 == NULL ||
			(argc > 1 && strcmp(argv[1], wrappers[i].w2) == 0)))
			w = &wrappers[i];
	if (w == NULL) {
		wrappers_usage();
		return 2;
	}
	skip = w->w2 != NULL ? 1 : 0;
	con_defaults(&con);
	if ((args = json_object()) == NULL)
		return 2;
	if (wrapper_args(w, &con, argc - skip, argv + skip, args, outs) != 0) {
		json_decref(args);
		wrappers_usage();
		return 2;
	}
	session_load(&con);
	if (con_open(&con) == 0 && con_call(&con, w->op, args, &resp) == 0 &&
	    (rc = con_answer(&con, resp)) == 0) {
		rc = save_outs(w, outs, resp);
		print_result(resp);
		/* A check that ran and failed (audit verify) exits 1. */
		if (json_is_false(
			json_object_get(json_object_get(resp, "result"), "ok")))
			rc = 1;
	}
	json_decref(resp);
	con_close(&con);
	json_decref(args);
	return rc;
}

/* --- call, login, logout, enrol ----------------------------------------- */

/* Connection options plus those in extra (val >= 0 < 1000), leaving
 * theirs in vals[val]. */
static int
parse_with(int argc, char **argv, struct console *con,
    const struct option *extra, size_t nextra, const char **vals)
{
	struct option lo[16];
	size_t n = 0, k;
	int ch;

	memset(lo, 0, sizeof(lo));
	for (k = 0; k < nextra && n < 10; k++)
		lo[n++] = extra[k];
	for (k = 0; k < NCONN; k++)
		lo[n++] = conn_longopts[k];
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch >= 0 && (size_t)ch < nextra)
			vals[ch] = optarg;
		else if (con_option(con, ch, optarg) != 1)
			return -1;
	}
	return 0;
}

static int
hsm_op_call(int argc, char **argv)
{
	struct console con;
	json_error_t jerr;
	json_t *args;
	int rc;

	con_defaults(&con);
	if (parse_with(argc, argv, &con, NULL, 0, NULL) != 0 ||
	    argc - optind < 1 || argc - optind > 2) {
		fprintf(stderr, "usage: tkms hsm call [--host H] [--port P] "
				"[--ca FILE] [--session FILE] OP ['{json "
				"args}']\n");
		return 2;
	}
	args = argc - optind == 2 ? json_loads(argv[optind + 1], 0, &jerr)
				  : json_object();
	if (!json_is_object(args)) {
		fprintf(stderr, "tkms hsm call: args must be a JSON object\n");
		json_decref(args);
		return 2;
	}
	session_load(&con);
	rc = run_op(&con, argv[optind], args);
	json_decref(args);
	return rc;
}

enum { L_ROLE, L_CARD, L_PIN, L_PASSWORD, L_N };
static const struct option login_opts[] = {
    {"role", required_argument, NULL, L_ROLE},
    {"card", required_argument, NULL, L_CARD},
    {"pin-file", required_argument, NULL, L_PIN},
    {"password-file", required_argument, NULL, L_PASSWORD},
};

/* Open the card with its PIN (from --pin-file or the terminal). */
static int
open_card(const char **v, struct tkm_card **card)
{
	char pin[SECRET_MAX];
	int rc;

	*card = NULL;
	if (cli_read_secret(v[L_PIN], "card PIN: ", pin, sizeof(pin)) != 0)
		return -1;
	rc = tkm_card_open(v[L_CARD], pin, card);
	tkm_cleanse(pin, sizeof(pin));
	if (rc != TKM_OK) {
		fprintf(
		    stderr, "tkms hsm: %s: %s\n", v[L_CARD], tkm_strerror(rc));
		return -1;
	}
	if (strcmp(tkm_card_role(*card), v[L_ROLE]) != 0) {
		fprintf(stderr, "tkms hsm: %s is a card for role %s\n",
		    v[L_CARD], tkm_card_role(*card));
		tkm_card_free(*card);
		*card = NULL;
		return -1;
	}
	return 0;
}

/* The challenge, signed by the card: its hex signature in sighex. */
static int
sign_challenge(struct console *con, const char *role, struct tkm_card *card,
    char sighex[2 * TKM_SM2_SIG_LEN + 1])
{
	uint8_t chal[256], sig[TKM_SM2_SIG_LEN];
	json_t *args = json_pack("{s:s}", "role", role), *resp = NULL;
	const char *hex;
	size_t n;
	int rc = 2;

	if (args == NULL || con_call(con, "login.challenge", args, &resp) != 0)
		goto out;
	if ((rc = con_answer(con, resp)) != 0)
		goto out;
	rc = 1;
	hex = json_string_value(
	    json_object_get(json_object_get(resp, "result"), "challenge"));
	if (hex == NULL || tkm_hex_decode(hex, strlen(hex), chal, sizeof(chal),
			       &n) != TKM_OK) {
		fprintf(stderr, "tkms hsm: the HSM sent no challenge\n");
		goto out;
	}
	if (tkm_card_sign(card, chal, n, sig) != TKM_OK)
		goto out;
	tkm_hex_encode(sig, sizeof(sig), sighex);
	rc = 0;
out:
	json_decref(args);
	json_decref(resp);
	return rc;
}

static int
hsm_login(int argc, char **argv)
{
	const char *v[L_N] = {NULL};
	char sighex[2 * TKM_SM2_SIG_LEN + 1], pw[SECRET_MAX];
	struct tkm_card *card = NULL;
	struct console con;
	json_t *args = NULL, *resp = NULL;
	int rc = 2;

	con_defaults(&con);
	pw[0] = '\0';
	if (parse_with(argc, argv, &con, login_opts, L_N, v) != 0 ||
	    optind != argc || v[L_ROLE] == NULL || v[L_CARD] == NULL) {
		fprintf(stderr, "usage: tkms hsm login --role R --card FILE "
				"[--pin-file F] [--password-file F]\n"
				"       [--host H] [--port P] [--ca FILE] "
				"[--session FILE]\n");
		return 2;
	}
	if (open_card(v, &card) != 0 ||
	    cli_read_secret(v[L_PASSWORD], "password: ", pw, sizeof(pw)) != 0)
		goto out;
	session_load(&con);
	if (con_open(&con) != 0 ||
	    (rc = sign_challenge(&con, v[L_ROLE], card, sighex)) != 0)
		goto out;
	rc = 2;
	args = json_pack("{s:s, s:s, s:s}", "role", v[L_ROLE], "signature",
	    sighex, "password", pw);
	if (args != NULL && con_call(&con, "login", args, &resp) == 0 &&
	    (rc = con_answer(&con, resp)) == 0)
		printf("logged in as %s\n", v[L_ROLE]);
out:
	tkm_cleanse(pw, sizeof(pw));
	tkm_card_free(card);
	json_decref(args);
	json_decref(resp);
	con_close(&con);
	return rc;
}

static int
hsm_logout(int argc, char **argv)
{
	static const struct option o[] = {{"role", required_argument, NULL, 0}};
	const char *v[1] = {NULL};
	struct console con;
	json_t *args;
	int rc;

	con_defaults(&con);
	if (parse_with(argc, argv, &con, o, 1, v) != 0 || optind != argc) {
		fprintf(stderr, "usage: tkms hsm logout [--role R] [--host H] "
				"[--port P] [--ca FILE] [--session FILE]\n");
		return 2;
	}
	args = v[0] != NULL ? json_pack("{s:s}", "role", v[0]) : json_object();
	session_load(&con);
	rc = run_op(&con, "logout", args);
	json_decref(args);
	return rc;
}

/* The password twice on the terminal, once from a file. */
static int
new_password(const char *file, char *pw, size_t cap)
{
	char again[SECRET_MAX];
	int ok;

	if (cli_read_secret(file, "new password: ", pw, cap) != 0)
		return -1;
	if (file != NULL)
		return 0;
	if (cli_read_secret(NULL, "again: ", again, sizeof(again)) != 0)
		return -1;
	ok = strcmp(pw, again) == 0;
	tkm_cleanse(again, sizeof(again));
	if (!ok)
		fprintf(stderr, "tkms hsm: the passwords differ\n");
	return ok ? 0 : -1;
}

static int
hsm_enrol(int argc, char **argv)
{
	const char *v[L_N] = {NULL};
	uint8_t pub[TKM_SM2_PUB_LEN];
	char pubhex[2 * TKM_SM2_PUB_LEN + 1], pw[SECRET_MAX];
	struct tkm_card *card = NULL;
	struct console con;
	json_t *args = NULL;
	int rc = 2;

	con_defaults(&con);
	pw[0] = '\0';
	if (parse_with(argc, argv, &con, login_opts, L_N, v) != 0 ||
	    optind != argc || v[L_ROLE] == NULL || v[L_CARD] == NULL) {
		fprintf(stderr, "usage: tkms hsm enrol --role R --card FILE "
				"[--pin-file F] [--password-file F]\n"
				"       [--host H] [--port P] [--ca FILE] "
				"[--session FILE]\n");
		return 2;
	}
	if (open_card(v, &card) != 0 || tkm_card_pub(card, pub) != TKM_OK ||
	    new_password(v[L_PASSWORD], pw, sizeof(pw)) != 0)
		goto out;
	tkm_hex_encode(pub, sizeof(pub), pubhex);
	args = json_pack("{s:s, s:s, s:s}", "role", v[L_ROLE], "pub", pubhex,
	    "password", pw);
	session_load(&con);
	if (args != NULL)
		rc = run_op(&con, "enrol", args);
out:
	tkm_cleanse(pw, sizeof(pw));
	tkm_card_free(card);
	json_decref(args);
	return rc;
}

/* The three component passwords (quorum seal), each from --aN-file or
 * the terminal, as args.components.AN.component_password. */
static int
component_passwords(const char *const files[3], json_t *args)
{
	static const char *const roles[] = {"A1", "A2", "A3"};
	char pw[SECRET_MAX], prompt[64];
	json_t *all = json_object();
	int i, rc = -1;

	if (all == NULL || json_object_set(args, "components", all) != 0)
		goto out;
	for (i = 0; i < 3; i++) {
		snprintf(prompt, sizeof(prompt),
		    "%s component password: ", roles[i]);
		if (cli_read_secret(files[i], prompt, pw, sizeof(pw)) != 0)
			goto out;
		json_object_set_new(all, roles[i],
		    json_pack("{s:s}", "component_password", pw));
		tkm_cleanse(pw, sizeof(pw));
	}
	rc = 0;
out:
	tkm_cleanse(pw, sizeof(pw));
	json_decref(all);
	return rc;
}

/* unseal, and dk restore --in dk.backup: both open a DK backup with the
 * three component passwords. */
static int
hsm_unseal(int argc, char **argv)
{
	static const struct option o[] = {
	    {"a1-file", required_argument, NULL, 0},
	    {"a2-file", required_argument, NULL, 1},
	    {"a3-file", required_argument, NULL, 2},
	    {"in", required_argument, NULL, 3},
	};
	const char *v[4] = {NULL};
	int restore = strcmp(argv[0], "dk") == 0;
	struct console con;
	json_t *args = NULL, *file;
	int rc = 2;

	con_defaults(&con);
	if (restore) {
		argc--;
		argv++;
	}
	if (parse_with(argc, argv, &con, o, restore ? 4 : 3, v) != 0 ||
	    optind != argc || (restore && v[3] == NULL)) {
		fprintf(stderr,
		    "usage: tkms hsm %s [--a1-file F] "
		    "[--a2-file F] [--a3-file F] [--host H] "
		    "[--port P]\n"
		    "       [--ca FILE] [--session FILE]\n",
		    restore ? "dk restore --in dk.backup" : "unseal");
		return 2;
	}
	if ((args = json_object()) == NULL)
		goto out;
	if (restore && ((file = file_arg(v[3], 1)) == NULL ||
			   json_object_set_new(args, "file", file) != 0))
		goto out;
	if (component_passwords(v, args) != 0)
		goto out;
	session_load(&con);
	rc = run_op(&con, restore ? "dk.restore" : "unseal", args);
out:
	json_decref(args);
	return rc;
}

/* --- entry -------------------------------------------------------------- */

static const struct cli_cmd admin_commands[] = {
    {"call", hsm_op_call, NULL},
    {"login", hsm_login, NULL},
    {"logout", hsm_logout, NULL},
    {"enrol", hsm_enrol, NULL},
    {"unseal", hsm_unseal, NULL},
};

int
cmd_hsm_admin(int argc, char **argv)
{
	size_t i;

	if (argc > 1 && strcmp(argv[0], "dk") == 0 &&
	    strcmp(argv[1], "restore") == 0)
		return hsm_unseal(argc, argv);
	for (i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]); i++)
		if (strcmp(argv[0], admin_commands[i].name) == 0)
			return admin_commands[i].run(argc, argv);
	return run_wrapper(argc, argv);
}
