/*
 * cmd_kms_maint.c - `tkms kms maint ...`: maintenance applications over
 * the KMS API (docs/api.md "Maintenance applications"):
 *
 *   tkms kms maint import --request R [--identity PUBFILE]
 *   tkms kms maint list [--state S]
 *   tkms kms maint show ID
 *   tkms kms maint licence ID --licences L [--no-enforce] [--seq N]
 *                          [--hsm ROOTID] [--key-index N] [--expires-in S]
 *   tkms kms maint export ID --out U
 *
 * licence proposes the kind maint.licence; another key manager approves
 * it with `tkms kms approve ID`, which has the root HSM sign the update.
 * export writes the signed update to a new file for `tkms maint apply`
 * at the city HSM. Every subcommand takes --url and --session as the
 * rest of `tkms kms`; answers are printed as indented JSON. Exit status:
 * 0 done, 1 refused by the KMS, 2 usage or connection error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kms_client.h"
#include "tkm/maint.h"

#define PUB_FILE_MAX 4096

enum {
	O_URL = 256,
	O_SESSION,
	O_REQUEST,
	O_IDENTITY,
	O_STATE,
	O_LICENCES,
	O_NOENF,
	O_SEQ,
	O_HSM,
	O_INDEX,
	O_EXPIRES,
	O_OUT
};

struct opts {
	const char *url, *session, *request, *identity, *state, *licences;
	const char *seq, *hsm, *key_index, *expires, *out;
	int no_enforce;
	char **args;
	int nargs;
};

static int
usage(void)
{
	fprintf(stderr,
	    "usage: tkms kms maint import --request R [--identity PUBFILE]\n"
	    "       tkms kms maint list [--state S]\n"
	    "       tkms kms maint show ID\n"
	    "       tkms kms maint licence ID --licences L [--no-enforce] "
	    "[--seq N]\n"
	    "                              [--hsm ROOTID] [--key-index N] "
	    "[--expires-in S]\n"
	    "       tkms kms maint export ID --out U\n"
	    "options: --url http://HOST:PORT  --session FILE\n"
	    "  L: one licence a line, CMD[,CMD] KEY LIB COUNT UNTIL, e.g.\n"
	    "     UB K2A0 des 1000 2027-12-31 (docs/maintenance.md)\n");
	return 2;
}

static int
opts_parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"url", required_argument, NULL, O_URL},
	    {"session", required_argument, NULL, O_SESSION},
	    {"request", required_argument, NULL, O_REQUEST},
	    {"identity", required_argument, NULL, O_IDENTITY},
	    {"state", required_argument, NULL, O_STATE},
	    {"licences", required_argument, NULL, O_LICENCES},
	    {"no-enforce", no_argument, NULL, O_NOENF},
	    {"seq", required_argument, NULL, O_SEQ},
	    {"hsm", required_argument, NULL, O_HSM},
	    {"key-index", required_argument, NULL, O_INDEX},
	    {"expires-in", required_argument, NULL, O_EXPIRES},
	    {"out", required_argument, NULL, O_OUT},
	    {NULL, 0, NULL, 0},
	};
	const char **slot;
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 2; /* after "maint SUB" */
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		slot = ch == O_URL        ? &o->url
		       : ch == O_SESSION  ? &o->session
		       : ch == O_REQUEST  ? &o->request
		       : ch == O_IDENTITY ? &o->identity
		       : ch == O_STATE    ? &o->state
		       : ch == O_LICENCES ? &o->licences
		       : ch == O_SEQ      ? &o->seq
		       : ch == O_HSM      ? &o->hsm
		       : ch == O_INDEX    ? &o->key_index
		       : ch == O_EXPIRES  ? &o->expires
		       : ch == O_OUT      ? &o->out
					  : NULL;
		if (ch == O_NOENF)
			o->no_enforce = 1;
		else if (slot == NULL)
			return 0;
		else
			*slot = optarg;
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return 1;
}

/* A number option: decimal, 1..max. */
static int
num_ok(const char *s, long long max, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= 1 && *v <= max;
}

/* The public key file of tkms maint sign --identity: hex, white space
 * around; the KMS checks the rest. */
static int
read_pub(const char *path, char **out)
{
	uint8_t *text;
	size_t len, i, j = 0;

	if (cli_file_read(path, PUB_FILE_MAX, &text, &len) != 0)
		return -1;
	for (i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
		    text[i] != '\n')
			text[j++] = text[i];
	text[j] = '\0';
	*out = (char *)text;
	return 0;
}

static int
m_import(const struct kms *k, const struct opts *o)
{
	uint8_t *text = NULL;
	char *pub = NULL;
	json_t *body = NULL;
	size_t len;
	int rc = 2;

	if (o->request == NULL || o->nargs != 0)
		return usage();
	if (cli_file_read(o->request, TKM_MAINT_FILE_MAX, &text, &len) != 0 ||
	    (o->identity != NULL && read_pub(o->identity, &pub) != 0))
		goto out;
	/* The file as it is: json_stringn keeps every byte, and the KMS
	 * refuses what is not a request. */
	body = json_pack("{s:s%}", "request", (const char *)text, len);
	if (body == NULL) {
		fprintf(
		    stderr, "tkms kms maint: %s: not UTF-8 text\n", o->request);
		rc = 1;
		goto out;
	}
	if (pub != NULL &&
	    json_object_set_new(body, "identity", json_string(pub)) != 0)
		goto out;
	rc = kcli_call(k, "POST", "/api/maint", body);
out:
	json_decref(body);
	free(text);
	free(pub);
	return rc;
}

static int
m_list(const struct kms *k, const struct opts *o)
{
	char path[128];

	if (o->nargs != 0 ||
	    (o->state != NULL &&
		(o->state[0] == '\0' ||
		    strspn(o->state, "abcdefghijklmnopqrstuvwxyz") !=
			strlen(o->state))))
		return usage();
	snprintf(path, sizeof(path), "/api/maint%s%.20s",
	    o->state != NULL ? "?state=" : "",
	    o->state != NULL ? o->state : "");
	return kcli_call(k, "GET", path, NULL);
}

static int
m_show(const struct kms *k, const struct opts *o)
{
	char path[128];

	if (o->nargs != 1 || !kcli_id_ok(o->args[0]))
		return usage();
	snprintf(path, sizeof(path), "/api/maint/%s", o->args[0]);
	return kcli_call(k, "GET", path, NULL);
}

static int
m_licence(const struct kms *k, const struct opts *o)
{
	json_t *payload = NULL, *body = NULL, *ans = NULL;
	long long app, v;
	uint8_t *text = NULL;
	size_t len;
	int rc = 2, status;

	if (o->nargs != 1 || !kcli_id_ok(o->args[0]) || o->licences == NULL ||
	    !num_ok(o->args[0], INT64_MAX, &app))
		return usage();
	if (cli_file_read(o->licences, TKM_MAINT_FILE_MAX, &text, &len) != 0)
		return 2;
	payload = json_pack("{s:I, s:s%, s:b}", "app", (json_int_t)app,
	    "licences", (const char *)text, len, "enforce", !o->no_enforce);
	if (payload == NULL) {
		fprintf(stderr, "tkms kms maint: %s: not UTF-8 text\n",
		    o->licences);
		rc = 1;
		goto out;
	}
	if (o->seq != NULL) {
		if (!num_ok(o->seq, INT64_MAX, &v))
			goto bad;
		json_object_set_new(payload, "seq", json_integer(v));
	}
	if (o->hsm != NULL) {
		if (!num_ok(o->hsm, INT64_MAX, &v))
			goto bad;
		json_object_set_new(payload, "hsm", json_integer(v));
	}
	if (o->key_index != NULL) {
		if (!num_ok(o->key_index, 20, &v))
			goto bad;
		json_object_set_new(payload, "key_index", json_integer(v));
	}
	body = json_pack(
	    "{s:s, s:O}", "kind", "maint.licence", "payload", payload);
	if (body != NULL && o->expires != NULL) {
		if (!num_ok(o->expires, 7 * 86400, &v))
			goto bad;
		json_object_set_new(body, "expires_in", json_integer(v));
	}
	if (body == NULL || kcli_http_call(k, "POST", "/api/proposals", body,
				&status, &ans) != 0)
		goto out;
	rc = kcli_report(status, ans);
	if (rc == 0)
		fprintf(stderr,
		    "tkms kms maint: proposal %lld: another key manager "
		    "approves it with `tkms kms approve %lld`; the root HSM "
		    "signs then\n",
		    (long long)json_integer_value(json_object_get(ans, "id")),
		    (long long)json_integer_value(json_object_get(ans, "id")));
	goto out;
bad:
	rc = usage();
out:
	json_decref(payload);
	json_decref(body);
	json_decref(ans);
	free(text);
	return rc;
}

static int
m_export(const struct kms *k, const struct opts *o)
{
	json_t *body = NULL, *ans = NULL, *shown = NULL;
	const char *update;
	char path[128];
	int rc = 2, status;

	if (o->nargs != 1 || !kcli_id_ok(o->args[0]) || o->out == NULL)
		return usage();
	/* Never replace a file: look before the KMS records an export. */
	if (access(o->out, F_OK) == 0) {
		fprintf(stderr, "tkms kms maint: %s exists\n", o->out);
		return 2;
	}
	snprintf(path, sizeof(path), "/api/maint/%s/export", o->args[0]);
	if ((body = json_object()) == NULL ||
	    kcli_http_call(k, "POST", path, body, &status, &ans) != 0)
		goto out;
	update = json_string_value(json_object_get(ans, "update"));
	if (status != 200 || update == NULL) {
		rc = kcli_report(status, ans);
		rc = rc == 0 ? 1 : rc;
		goto out;
	}
	if (cli_file_write_new(o->out, update, strlen(update)) != 0)
		goto out;
	shown = json_pack("{s:O?, s:O?, s:O?, s:s}", "id",
	    json_object_get(ans, "id"), "serial",
	    json_object_get(ans, "serial"), "seq", json_object_get(ans, "seq"),
	    "file", o->out);
	rc = kcli_report(status, shown);
out:
	json_decref(shown);
	json_decref(body);
	json_decref(ans);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(const struct kms *k, const struct opts *o);
} subs[] = {
    {"import", m_import},
    {"list", m_list},
    {"show", m_show},
    {"licence", m_licence},
    {"export", m_export},
};

int
cmd_kms_maint(int argc, char **argv)
{
	struct opts o;
	struct kms k;
	size_t i;

	if (argc < 2)
		return usage();
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]) || !opts_parse(argc, argv, &o))
		return usage();
	if (kcli_init(&k, o.url, o.session) != 0)
		return 2;
	return subs[i].fn(&k, &o);
}
