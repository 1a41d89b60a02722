/*
 * cmd_kms.c - `tkms kms ...`: the KMS API (docs/api.md) from the command
 * line, over a minimal HTTP/1.1 client (plain TCP, one request per
 * connection, bounded answers).
 *
 *   tkms kms login NAME [--password-file F]   (asks on the terminal)
 *   tkms kms logout | me | users | institutions
 *   tkms kms propose KIND '{payload}' [--password-file F] [--expires-in S]
 *   tkms kms proposals [--state S] | approve ID | reject ID [--reason R]
 *   tkms kms audit [--from N] [--limit N] | audit verify
 * and, in files of their own, hsm, templates, key, issue, issued, record
 * (cmd_kms_keys.c) and maint (cmd_kms_maint.c).
 * Options of every subcommand: --url http://HOST:PORT
 * ($TKMS_KMS_URL, default http://127.0.0.1:8600) and --session FILE
 * ($TKMS_KMS_SESSION or ./.tkms-kms-session), where the token is kept
 * (mode 0600) between runs. With --password-file, propose puts the
 * file's first line into the payload as "password" (user.create).
 *
 * Exit status: 0 ok, 1 refused by the KMS, 2 usage or connection errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kms_client.h"
#include "tkm/mem.h"

#define SECRET_MAX 256

/* --- subcommands --------------------------------------------------------- */

enum {
	OPT_URL = 256,
	OPT_SESSION,
	OPT_PWFILE,
	OPT_STATE,
	OPT_REASON,
	OPT_FROM,
	OPT_LIMIT,
	OPT_EXPIRES
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tkms kms login NAME [--password-file F]\n"
	    "       tkms kms logout | me | users | institutions\n"
	    "       tkms kms propose KIND '{payload}' [--password-file F]"
	    " [--expires-in S]\n"
	    "       tkms kms proposals [--state S]\n"
	    "       tkms kms approve ID | reject ID [--reason TEXT]\n"
	    "       tkms kms audit [--from N] [--limit N] | audit verify\n"
	    "options: --url http://HOST:PORT  --session FILE\n");
}

/* Subcommands with files of their own; argv[0] is the subcommand. */
static const struct cli_cmd subs[] = {
    {"hsm", cmd_kms_hsm, "HSMs: list, show, check, add, update, retire"},
    {"templates", cmd_kms_templates, "the key templates"},
    {"key", cmd_kms_key,
	"root keys: list, show, plan, generate, rotate, "
	"compromise, reissue, destroy, confirm"},
    {"issue", cmd_kms_issue, "issue keys to an HSM"},
    {"issued", cmd_kms_issued, "the issued keys"},
    {"record", cmd_kms_record, "a work form as Markdown or HTML"},
    {"maint", cmd_kms_maint, "maintenance applications"},
};

int
cmd_kms(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, OPT_URL},
	    {"session", required_argument, NULL, OPT_SESSION},
	    {"password-file", required_argument, NULL, OPT_PWFILE},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"reason", required_argument, NULL, OPT_REASON},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"expires-in", required_argument, NULL, OPT_EXPIRES},
	    {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *sess = NULL;
	const char *pwfile = NULL, *state = NULL, *reason = NULL, *from = NULL,
		   *limit = NULL, *expires = NULL, *sub;
	char pw[SECRET_MAX + 2], path[128];
	struct kms k;
	json_t *body = NULL, *ans = NULL, *payload;
	json_error_t err;
	int ch, rc = 2, status, nargs;
	char **args;
	size_t i;

	pw[0] = '\0';
	if (argc < 2) {
		usage();
		return 2;
	}
	sub = argv[1];
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(sub, subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_URL:
			url = optarg;
			break;
		case OPT_SESSION:
			sess = optarg;
			break;
		case OPT_PWFILE:
			pwfile = optarg;
			break;
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_REASON:
			reason = optarg;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_LIMIT:
			limit = optarg;
			break;
		case OPT_EXPIRES:
			expires = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	args = argv + optind;
	nargs = argc - optind;
	if (kcli_init(&k, url, sess) != 0)
		return 2;

	if (strcmp(sub, "login") == 0 && nargs == 1) {
		if (cli_read_secret(pwfile, "password: ", pw, sizeof(pw)) != 0)
			goto out;
		body = json_pack("{s:s, s:s}", "name", args[0], "password", pw);
		k.token[0] = '\0';
		if (body == NULL || kcli_http_call(&k, "POST", "/api/login",
					body, &status, &ans) != 0)
			goto out;
		if (status == 200 &&
		    json_string_value(json_object_get(ans, "token")) != NULL) {
			if (kcli_session_store(
				&k, json_string_value(
					json_object_get(ans, "token"))) != 0)
				goto out;
			json_object_del(ans, "token");
		}
		rc = kcli_report(status, ans);
	} else if (strcmp(sub, "logout") == 0 && nargs == 0) {
		rc = kcli_call(&k, "POST", "/api/logout", NULL);
		if (rc != 2)
			(void)unlink(k.session_path);
	} else if (strcmp(sub, "me") == 0 && nargs == 0) {
		rc = kcli_call(&k, "GET", "/api/me", NULL);
	} else if (strcmp(sub, "users") == 0 && nargs == 0) {
		rc = kcli_call(&k, "GET", "/api/users", NULL);
	} else if (strcmp(sub, "institutions") == 0 && nargs == 0) {
		rc = kcli_call(&k, "GET", "/api/institutions", NULL);
	} else if (strcmp(sub, "propose") == 0 && nargs == 2) {
		if ((payload = json_loads(
			 args[1], JSON_REJECT_DUPLICATES, &err)) == NULL ||
		    !json_is_object(payload)) {
			fprintf(stderr,
			    "tkms kms: payload: a JSON object (%s)\n",
			    payload == NULL ? err.text : "not an object");
			json_decref(payload);
			goto out;
		}
		if (pwfile != NULL) {
			if (cli_read_secret(pwfile, NULL, pw, sizeof(pw)) !=
			    0) {
				json_decref(payload);
				goto out;
			}
			json_object_set_new(
			    payload, "password", json_string(pw));
		}
		body = json_pack(
		    "{s:s, s:o}", "kind", args[0], "payload", payload);
		if (body != NULL && expires != NULL)
			json_object_set_new(body, "expires_in",
			    json_integer(strtoll(expires, NULL, 10)));
		rc = body != NULL
			 ? kcli_call(&k, "POST", "/api/proposals", body)
			 : 2;
	} else if (strcmp(sub, "proposals") == 0 && nargs == 0) {
		snprintf(path, sizeof(path), "/api/proposals%s%.20s",
		    state != NULL ? "?state=" : "", state != NULL ? state : "");
		rc = kcli_call(&k, "GET", path, NULL);
	} else if ((strcmp(sub, "approve") == 0 ||
		       strcmp(sub, "reject") == 0) &&
		   nargs == 1 && kcli_id_ok(args[0])) {
		snprintf(
		    path, sizeof(path), "/api/proposals/%s/%s", args[0], sub);
		body = reason != NULL ? json_pack("{s:s}", "reason", reason)
				      : json_object();
		rc = body != NULL ? kcli_call(&k, "POST", path, body) : 2;
	} else if (strcmp(sub, "audit") == 0 && nargs == 1 &&
		   strcmp(args[0], "verify") == 0) {
		if (kcli_http_call(&k, "GET", "/api/audit/verify", NULL,
			&status, &ans) != 0)
			goto out;
		rc = kcli_report(status, ans);
		if (rc == 0 && !json_is_true(json_object_get(ans, "ok"))) {
			fprintf(stderr,
			    "tkms kms: audit chain BROKEN at %lld\n",
			    (long long)json_integer_value(
				json_object_get(ans, "first_bad")));
			rc = 1;
		}
	} else if (strcmp(sub, "audit") == 0 && nargs == 0) {
		if ((from != NULL && !kcli_id_ok(from)) ||
		    (limit != NULL && !kcli_id_ok(limit))) {
			usage();
			goto out;
		}
		snprintf(path, sizeof(path), "/api/audit?from=%s&limit=%s",
		    from != NULL ? from : "1", limit != NULL ? limit : "100");
		rc = kcli_call(&k, "GET", path, NULL);
	} else {
		usage();
	}
out:
	tkm_cleanse(pw, sizeof(pw));
	json_decref(body);
	json_decref(ans);
	return rc;
}
