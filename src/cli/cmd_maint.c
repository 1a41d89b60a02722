/*
 * cmd_maint.c - the maintenance client (加密机维保客户端, DESIGN §7;
 * docs/maintenance.md):
 *
 *   tkms maint request --out R [--form FILE] [--issuer-code C ...]
 *   tkms maint sign --request R --licences L --root HOST:PORT --out U
 *                   [--key-index 20] [--seq N] [--no-enforce]
 *                   [--identity PUBFILE] [--mkey PUBFILE]
 *   tkms maint apply --in U
 *   tkms maint show
 *
 * request, apply and show are management operations of the city HSM:
 * they run through the console (cmd_hsm_admin.c, its rows "maint ..."),
 * with its connection options and session file; request only turns the
 * form (a file and/or options) into the operation's arguments. sign runs
 * at the province: it checks the request, builds the update and has the
 * root HSM sign it with the maintenance private key over the business
 * port (EW), so that the private key never leaves the HSM; the signature
 * is checked here with the maintenance public key before the file is
 * written. EJ and EW are msign.h's, which the KMS uses too.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "tkm/buf.h"
#include "tkm/client.h"
#include "tkm/maint.h"
#include "tkm/mem.h"
#include "tkm/msign.h"
#include "tkm/sm2.h"
#include "tkm/wire.h"

#define PUB_HEX         (2 * TKM_SM2_PUB_LEN)
#define MKEY_INDEX      TKM_MAINT_KEY_INDEX
#define DEFAULT_TIMEOUT 10000

/* --- request ------------------------------------------------------------ */

/* Connection options of the console, passed through as they are. */
static const char *const conn_opts[] = {"host", "port", "ca", "session"};
#define NCONN (sizeof(conn_opts) / sizeof(conn_opts[0]))

enum { R_OUT = TKM_MF_N, R_FORM, R_CONN, R_N = R_CONN + NCONN };

/* "cards_this_year" -> "cards-this-year". */
static void
opt_name(const char *field, char *out, size_t cap)
{
	size_t i;

	snprintf(out, cap, "%s", field);
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] == '_')
			out[i] = '-';
}

static int
request_usage(void)
{
	char o[32];
	size_t i;

	fprintf(stderr, "usage: tkms maint request --out FILE [--form FILE]");
	for (i = 0; i < TKM_MF_N; i++) {
		opt_name(tkm_maint_field_name(i), o, sizeof(o));
		fprintf(
		    stderr, "%s[--%s X]", i % 3 == 0 ? "\n         " : " ", o);
	}
	fprintf(stderr, "\n         [--host H] [--port P] [--ca FILE] "
			"[--session FILE]\n");
	return 2;
}

static char *
trim(char *s, size_t *len)
{
	while (*len > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t' ||
			       s[*len - 1] == '\r'))
		(*len)--;
	return s;
}

/* The form file: `name=value` lines with the names of the request file
 * (issuer_code=...), blank lines and `#` comment lines. */
static int
form_file(const char *path, char *vals[TKM_MF_N])
{
	struct tkm_maint_form f;
	uint8_t *text;
	char *p, *line, *eq, *name, *v;
	size_t len, nlen, vlen, lineno = 0;
	const char *why;
	int i, rc = -1;

	if (cli_file_read(path, TKM_MAINT_FILE_MAX, &text, &len) != 0)
		return -1;
	memset(&f, 0, sizeof(f));
	for (p = (char *)text; p != NULL && *p != '\0';) {
		line = p;
		lineno++;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
		nlen = strlen(line);
		line = trim(line, &nlen);
		if (nlen == 0 || line[0] == '#')
			continue;
		line[nlen] = '\0';
		if ((eq = strchr(line, '=')) == NULL) {
			fprintf(stderr, "tkms maint: %s:%zu: want name=value\n",
			    path, lineno);
			goto out;
		}
		nlen = (size_t)(eq - line);
		name = trim(line, &nlen);
		vlen = strlen(eq + 1);
		v = trim(eq + 1, &vlen);
		if ((i = tkm_maint_field_find(name, nlen)) < 0) {
			fprintf(stderr,
			    "tkms maint: %s:%zu: unknown field \"%.*s\"\n",
			    path, lineno, (int)nlen, name);
			goto out;
		}
		if (tkm_maint_form_set(&f, (size_t)i, v, vlen, &why) !=
		    TKM_OK) {
			fprintf(stderr, "tkms maint: %s:%zu: %s\n", path,
			    lineno, why);
			goto out;
		}
		free(vals[i]);
		if ((vals[i] = strndup(v, vlen)) == NULL)
			goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* --arg NAME="JSON string" for the console. */
static char *
json_arg(const char *name, const char *value)
{
	json_t *s = json_string(value);
	char *enc = s != NULL ? json_dumps(s, JSON_ENCODE_ANY) : NULL, *out;
	size_t n;

	json_decref(s);
	if (enc == NULL)
		return NULL;
	n = strlen(name) + 1 + strlen(enc) + 1;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s=%s", name, enc);
	tkm_wipe_free(enc); /* jansson memory: main.c */
	return out;
}

static int
maint_request(int argc, char **argv)
{
	struct option lo[R_N + 1];
	char names[TKM_MF_N][32], dash[NCONN][16], *vals[TKM_MF_N] = {NULL};
	const char *conn[NCONN] = {NULL}, *out = NULL, *form = NULL, *why;
	char **av = NULL, *args[TKM_MF_N] = {NULL};
	struct tkm_maint_form check;
	size_t i, n = 0;
	int ch, rc = 2;

	memset(lo, 0, sizeof(lo));
	for (i = 0; i < TKM_MF_N; i++) {
		opt_name(tkm_maint_field_name(i), names[i], sizeof(names[i]));
		lo[i] =
		    (struct option){names[i], required_argument, NULL, (int)i};
	}
	lo[R_OUT] = (struct option){"out", required_argument, NULL, R_OUT};
	lo[R_FORM] = (struct option){"form", required_argument, NULL, R_FORM};
	for (i = 0; i < NCONN; i++)
		lo[R_CONN + i] = (struct option){
		    conn_opts[i], required_argument, NULL, (int)(R_CONN + i)};
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch >= 0 && ch < TKM_MF_N) {
			free(vals[ch]);
			if ((vals[ch] = strdup(optarg)) == NULL)
				goto out;
		} else if (ch == R_OUT) {
			out = optarg;
		} else if (ch == R_FORM) {
			form = optarg;
		} else if (ch >= R_CONN && ch < R_N) {
			conn[ch - R_CONN] = optarg;
		} else {
			goto usage;
		}
	}
	if (optind != argc || out == NULL)
		goto usage;
	/* The file first, the options over it. */
	if (form != NULL) {
		char *fv[TKM_MF_N] = {NULL};

		if (form_file(form, fv) != 0) {
			for (i = 0; i < TKM_MF_N; i++)
				free(fv[i]);
			goto out;
		}
		for (i = 0; i < TKM_MF_N; i++) {
			if (vals[i] == NULL)
				vals[i] = fv[i];
			else
				free(fv[i]);
		}
	}
	memset(&check, 0, sizeof(check));
	for (i = 0; i < TKM_MF_N; i++) {
		if (vals[i] == NULL)
			continue;
		if (tkm_maint_form_set(
			&check, i, vals[i], strlen(vals[i]), &why) != TKM_OK) {
			fprintf(stderr, "tkms maint: %s\n", why);
			rc = 1;
			goto out;
		}
		if ((args[i] = json_arg(tkm_maint_field_name(i), vals[i])) ==
		    NULL)
			goto out;
	}
	/* maint request --out R [--host H ...] --arg NAME=JSON ... */
	if ((av = calloc(4 + 2 * NCONN + 2 * TKM_MF_N + 1, sizeof(*av))) ==
	    NULL)
		goto out;
	av[n++] = "maint";
	av[n++] = "request";
	av[n++] = "--out";
	av[n++] = (char *)out;
	for (i = 0; i < NCONN; i++) {
		if (conn[i] == NULL)
			continue;
		snprintf(dash[i], sizeof(dash[i]), "--%s", conn_opts[i]);
		av[n++] = dash[i];
		av[n++] = (char *)conn[i];
	}
	for (i = 0; i < TKM_MF_N; i++)
		if (args[i] != NULL) {
			av[n++] = "--arg";
			av[n++] = args[i];
		}
	av[n] = NULL;
	rc = cmd_hsm_admin((int)n, av);
	goto out;
usage:
	rc = request_usage();
out:
	for (i = 0; i < TKM_MF_N; i++) {
		free(vals[i]);
		free(args[i]);
	}
	free(av);
	return rc;
}

/* --- sign --------------------------------------------------------------- */

struct sign_opts {
	const char *request, *licences, *root, *out, *identity, *mkey;
	unsigned long key_index, hdrlen, timeout_ms;
	uint64_t seq; /* 0: the request's last_seq + 1 */
	int enforce;
	char host[256];
	unsigned port;
};

static int
sign_usage(void)
{
	fprintf(stderr,
	    "usage: tkms maint sign --request R --licences L --root HOST:PORT "
	    "--out U\n"
	    "         [--key-index N (20)] [--seq N] [--no-enforce]\n"
	    "         [--identity PUBFILE] [--mkey PUBFILE] "
	    "[--header-len N (8)]\n"
	    "         [--timeout MS]\n"
	    "  L: one licence a line, CMD[,CMD] KEY LIB COUNT UNTIL, e.g.\n"
	    "     UB K2A0 des 1000 2027-12-31\n");
	return 2;
}

static int
parse_ulong(
    const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' &&
	       *out >= min && *out <= max;
}

/* HOST:PORT or [IPV6]:PORT. */
static int
parse_endpoint(const char *s, char *host, size_t cap, unsigned *port)
{
	const char *colon, *h = s, *hend;
	unsigned long p;

	if (s[0] == '[') {
		h = s + 1;
		if ((hend = strchr(h, ']')) == NULL || hend[1] != ':')
			return 0;
		colon = hend + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return 0;
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= cap ||
	    !parse_ulong(colon + 1, 1, 65535, &p))
		return 0;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = (unsigned)p;
	return 1;
}

static int
sign_opts_parse(int argc, char **argv, struct sign_opts *o)
{
	enum {
		O_REQ,
		O_LIC,
		O_ROOT,
		O_OUT,
		O_ID,
		O_MKEY,
		O_INDEX,
		O_SEQ,
		O_NOENF,
		O_HDR,
		O_TIMEOUT
	};
	static const struct option lo[] = {
	    {"request", required_argument, NULL, O_REQ},
	    {"licences", required_argument, NULL, O_LIC},
	    {"root", required_argument, NULL, O_ROOT},
	    {"out", required_argument, NULL, O_OUT},
	    {"identity", required_argument, NULL, O_ID},
	    {"mkey", required_argument, NULL, O_MKEY},
	    {"key-index", required_argument, NULL, O_INDEX},
	    {"seq", required_argument, NULL, O_SEQ},
	    {"no-enforce", no_argument, NULL, O_NOENF},
	    {"header-len", required_argument, NULL, O_HDR},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long seq;
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	o->key_index = MKEY_INDEX;
	o->hdrlen = 8;
	o->timeout_ms = DEFAULT_TIMEOUT;
	o->enforce = 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_REQ:
			o->request = optarg;
			break;
		case O_LIC:
			o->licences = optarg;
			break;
		case O_ROOT:
			o->root = optarg;
			break;
		case O_OUT:
			o->out = optarg;
			break;
		case O_ID:
			o->identity = optarg;
			break;
		case O_MKEY:
			o->mkey = optarg;
			break;
		case O_INDEX:
			if (!parse_ulong(optarg, 1, 20, &o->key_index))
				return 0;
			break;
		case O_SEQ:
			errno = 0;
			seq = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-' || seq < 1 || seq > INT64_MAX)
				return 0;
			o->seq = seq;
			break;
		case O_NOENF:
			o->enforce = 0;
			break;
		case O_HDR:
			if (!parse_ulong(
				optarg, 0, TKM_WIRE_MAX_HDR, &o->hdrlen))
				return 0;
			break;
		case O_TIMEOUT:
			if (!parse_ulong(optarg, 1, 3600000, &o->timeout_ms))
				return 0;
			break;
		default:
			return 0;
		}
	}
	return optind == argc && o->request != NULL && o->licences != NULL &&
	       o->root != NULL && o->out != NULL &&
	       parse_endpoint(o->root, o->host, sizeof(o->host), &o->port);
}

/* A public key file: 128 hex digits (X || Y), or 130 with 04 in front,
 * white space around. */
static int
read_pub(const char *path, uint8_t pub[TKM_SM2_PUB_LEN])
{
	uint8_t *text;
	char *p;
	size_t len, n;
	int rc = -1;

	if (cli_file_read(path, 4096, &text, &len) != 0)
		return -1;
	p = trim((char *)text, &len);
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == PUB_HEX + 2 && p[0] == '0' && p[1] == '4') {
		p += 2;
		len -= 2;
	}
	if (len == PUB_HEX &&
	    tkm_hex_decode(p, len, pub, TKM_SM2_PUB_LEN, &n) == TKM_OK)
		rc = 0;
	else
		fprintf(stderr,
		    "tkms maint: %s: not an SM2 public key (128 hex "
		    "digits X || Y)\n",
		    path);
	free(text);
	return rc;
}

/* The request, checked: well formed, signed by the identity key it
 * carries, and (with --identity) that key the expected one. */
static int
load_request(const struct sign_opts *o, struct tkm_maint_request *q)
{
	uint8_t *text, want[TKM_SM2_PUB_LEN];
	const char *why;
	char fp[TKM_MAINT_FP_HEX + 1];
	size_t len;
	int rc = 1;

	if (cli_file_read(o->request, TKM_MAINT_FILE_MAX, &text, &len) != 0)
		return 2;
	if (tkm_maint_request_parse(text, len, q, &why) != TKM_OK) {
		fprintf(stderr, "tkms maint: %s: %s\n", o->request, why);
		goto out;
	}
	if (tkm_maint_verify(text, q->signed_len, q->identity, q->sig) !=
	    TKM_OK) {
		fprintf(stderr,
		    "tkms maint: %s: the signature does not verify with "
		    "the identity key the request names: altered\n",
		    o->request);
		goto out;
	}
	tkm_maint_fingerprint(q->identity, fp);
	if (o->identity != NULL) {
		if (read_pub(o->identity, want) != 0)
			goto out;
		if (memcmp(want, q->identity, sizeof(want)) != 0) {
			fprintf(stderr,
			    "tkms maint: %s: made by another HSM (identity "
			    "%s), not the one in %s\n",
			    o->request, fp, o->identity);
			goto out;
		}
	}
	printf("request of HSM %s (identity %s%s), issuer %s, %s, "
	       "applicant %s, nonce ",
	    q->serial, fp, o->identity != NULL ? ", as expected" : "",
	    q->form.v[TKM_MF_ISSUER_CODE], q->form.v[TKM_MF_ORGANISATION],
	    q->form.v[TKM_MF_APPLICANT]);
	for (len = 0; len < sizeof(q->nonce); len++)
		printf("%02X", q->nonce[len]);
	printf(", last_seq %llu\n", (unsigned long long)q->last_seq);
	if (o->identity == NULL)
		printf("  check the identity %s against `tkms hsm status` of "
		       "that HSM (or give --identity)\n",
		    fp);
	rc = 0;
out:
	free(text);
	return rc;
}

static int
load_licences(const struct sign_opts *o, struct tkm_maint_update *u)
{
	uint8_t *text;
	const char *why;
	size_t len, line, i;
	int64_t now = (int64_t)time(NULL);
	int rc = 1;

	if (cli_file_read(o->licences, TKM_MAINT_FILE_MAX, &text, &len) != 0)
		return 2;
	if (tkm_maint_licfile_parse(text, len, u->lic, TKM_MAINT_MAX_LIC,
		&u->nlic, &line, &why) != TKM_OK) {
		fprintf(
		    stderr, "tkms maint: %s:%zu: %s\n", o->licences, line, why);
		goto out;
	}
	for (i = 0; i < u->nlic; i++)
		if (u->lic[i].until < now) {
			char key[5];

			tkm_maint_key_format(&u->lic[i], key);
			fprintf(stderr,
			    "tkms maint: %s: the licence %s %s %s ends in "
			    "the past\n",
			    o->licences, u->lic[i].cmd, key,
			    tkm_maint_lib_name(u->lic[i].lib));
			goto out;
		}
	rc = 0;
out:
	free(text);
	return rc;
}

/* A failure at the root HSM: exit status 2 when it could not be reached
 * (as for a connection error), 1 when it refused or answered wrongly. */
static int
root_failed(const struct sign_opts *o, int rc, const char *why)
{
	if (rc == TKM_ERR_IO || rc == TKM_ERR_TIMEOUT || rc == TKM_ERR_CLOSED) {
		fprintf(stderr, "tkms maint: %s: %s\n", o->root, why);
		return 2;
	}
	fprintf(stderr, "tkms maint: %s\n", why);
	return 1;
}

/* Sign at the root and check the signature with the maintenance public
 * key (the root's, and with --mkey the one the operator holds):
 * msign.h. */
static int
sign_at_root(const struct sign_opts *o, char *file, size_t cap, size_t *len)
{
	uint8_t pub[TKM_SM2_PUB_LEN], want[TKM_SM2_PUB_LEN];
	struct tkm_client *c = NULL;
	char fp[TKM_MAINT_FP_HEX + 1], why[512];
	int rc;

	if (o->mkey != NULL && read_pub(o->mkey, want) != 0)
		return 1;
	if (tkm_client_new(o->host, o->port, o->hdrlen, (int)o->timeout_ms,
		&c) != TKM_OK) {
		fprintf(stderr, "tkms maint: %s: bad address\n", o->root);
		return 2;
	}
	if ((rc = tkm_maint_root_pub(
		 c, (unsigned)o->key_index, pub, why, sizeof(why))) != TKM_OK) {
		rc = root_failed(o, rc, why);
		goto out;
	}
	tkm_maint_fingerprint(pub, fp);
	rc = 1;
	if (o->mkey != NULL && memcmp(pub, want, sizeof(pub)) != 0) {
		fprintf(stderr,
		    "tkms maint: the key at index %02lu of the root HSM "
		    "(%s) is not the maintenance key in %s\n",
		    o->key_index, fp, o->mkey);
		goto out;
	}
	if ((rc = tkm_maint_root_sign(c, (unsigned)o->key_index, pub, file, cap,
		 len, why, sizeof(why))) != TKM_OK) {
		rc = root_failed(o, rc, why);
		goto out;
	}
	printf("signed by the maintenance key %s (root HSM %s, SM2 index "
	       "%02lu)\n",
	    fp, o->root, o->key_index);
	rc = 0;
out:
	tkm_client_free(c);
	return rc;
}

static int
maint_sign(int argc, char **argv)
{
	struct tkm_maint_request *q = NULL;
	struct tkm_maint_update *u = NULL;
	struct sign_opts o;
	char *file = NULL;
	const char *why;
	size_t len;
	int rc = 2;

	if (!sign_opts_parse(argc, argv, &o))
		return sign_usage();
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (u = calloc(1, sizeof(*u))) == NULL ||
	    (file = malloc(TKM_MAINT_FILE_MAX + 1)) == NULL)
		goto out;
	if ((rc = load_request(&o, q)) != 0 || (rc = load_licences(&o, u)) != 0)
		goto out;
	memcpy(u->serial, q->serial, sizeof(u->serial));
	memcpy(u->nonce, q->nonce, sizeof(u->nonce));
	u->seq = o.seq != 0 ? o.seq : q->last_seq + 1;
	if (u->seq <= q->last_seq)
		fprintf(stderr,
		    "tkms maint: warning: seq %llu is not above the "
		    "request's last_seq %llu: the HSM will refuse it\n",
		    (unsigned long long)u->seq,
		    (unsigned long long)q->last_seq);
	u->time = (int64_t)time(NULL);
	u->enforce = o.enforce;
	rc = 1;
	if (tkm_maint_update_write(
		u, file, TKM_MAINT_FILE_MAX + 1, &len, &why) != TKM_OK) {
		fprintf(
		    stderr, "tkms maint: cannot build the update: %s\n", why);
		goto out;
	}
	if ((rc = sign_at_root(&o, file, TKM_MAINT_FILE_MAX + 1, &len)) != 0)
		goto out;
	if (cli_file_write_new(o.out, file, len) != 0) {
		rc = 2;
		goto out;
	}
	printf("wrote %s: update seq %llu for HSM %s, %zu licences, "
	       "enforce %d\n",
	    o.out, (unsigned long long)u->seq, u->serial, u->nlic, u->enforce);
	rc = 0;
out:
	free(file);
	free(u);
	free(q);
	return rc;
}

/* --- entry -------------------------------------------------------------- */

static int
maint_usage(void)
{
	fprintf(stderr,
	    "usage: tkms maint request --out FILE [--form FILE] [FIELDS...]\n"
	    "       tkms maint sign --request R --licences L --root HOST:PORT "
	    "--out U [...]\n"
	    "       tkms maint apply --in U\n"
	    "       tkms maint show\n"
	    "  request, apply, show take the console's --host --port --ca "
	    "--session;\n"
	    "  see docs/maintenance.md\n");
	return 2;
}

int
cmd_maint(int argc, char **argv)
{
	if (argc < 2)
		return maint_usage();
	if (strcmp(argv[1], "request") == 0)
		return maint_request(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return maint_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "apply") == 0 || strcmp(argv[1], "show") == 0)
		return cmd_hsm_admin(argc, argv);
	return maint_usage();
}
