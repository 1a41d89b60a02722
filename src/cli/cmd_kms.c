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
 * Options of every subcommand: --url http://HOST:PORT
 * ($TKMS_KMS_URL, default http://127.0.0.1:8600) and --session FILE
 * ($TKMS_KMS_SESSION or ./.tkms-kms-session), where the token is kept
 * (mode 0600) between runs. With --password-file, propose puts the
 * file's first line into the payload as "password" (user.create).
 *
 * Exit status: 0 ok, 1 refused by the KMS, 2 usage or connection errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "tkm/mem.h"

#define DEFAULT_URL "http://127.0.0.1:8600"
#define ANSWER_MAX  (4u << 20) /* bytes of one answer, headers included */
#define REQ_MAX     (80u * 1024)
#define IO_TIMEOUT  30
#define TOKEN_MAX   64
#define SECRET_MAX  256

struct kms {
	char host[256], port[8];
	char session_path[512];
	char token[TOKEN_MAX + 1];
};

/* --- options and session ------------------------------------------------- */

static int
set_url(struct kms *k, const char *url)
{
	const char *h, *colon;
	size_t n;

	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "tkms kms: --url http://HOST:PORT\n");
		return -1;
	}
	h = url + 7;
	n = strcspn(h, "/");
	colon = memchr(h, ':', n);
	if (colon == NULL || colon == h ||
	    (size_t)(colon - h) >= sizeof(k->host) ||
	    n - (size_t)(colon - h) - 1 == 0 ||
	    n - (size_t)(colon - h) - 1 >= sizeof(k->port)) {
		fprintf(stderr, "tkms kms: --url http://HOST:PORT\n");
		return -1;
	}
	memcpy(k->host, h, (size_t)(colon - h));
	k->host[colon - h] = '\0';
	memcpy(k->port, colon + 1, n - (size_t)(colon - h) - 1);
	k->port[n - (size_t)(colon - h) - 1] = '\0';
	return 0;
}

static void
session_load(struct kms *k)
{
	char buf[TOKEN_MAX + 2];
	FILE *f;

	k->token[0] = '\0';
	if ((f = fopen(k->session_path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (strlen(buf) <= TOKEN_MAX)
			memcpy(k->token, buf, strlen(buf) + 1);
	}
	fclose(f);
}

static int
session_store(struct kms *k, const char *token)
{
	char tmp[600];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", k->session_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		fprintf(stderr, "tkms kms: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	ok = write(fd, token, strlen(token)) == (ssize_t)strlen(token) &&
	     write(fd, "\n", 1) == 1;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, k->session_path) != 0) {
		fprintf(stderr, "tkms kms: cannot write %s\n", k->session_path);
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* --- HTTP ---------------------------------------------------------------- */

static int
dial(const struct kms *k)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct timeval tv = {IO_TIMEOUT, 0};
	int fd = -1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(k->host, k->port, &hints, &res) != 0) {
		fprintf(stderr, "tkms kms: cannot resolve %s\n", k->host);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "tkms kms: cannot connect to %s:%s: %s\n",
		    k->host, k->port, strerror(errno));
	return fd;
}

static int
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * One request; *status and *out (the decoded body, NULL if it was not
 * JSON) on success. Returns 0, or -1 after a message. The request holds
 * passwords and the token: it is wiped.
 */
static int
http_call(const struct kms *k, const char *method, const char *path,
    json_t *body, int *status, json_t **out)
{
	char *req = NULL, *text = NULL, *ans = NULL, *hdr_end, *p;
	size_t rlen = 0, alen = 0, tlen = 0, blen;
	ssize_t got;
	int fd = -1, rc = -1, n;

	*out = NULL;
	*status = 0;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		goto out;
	tlen = text != NULL ? strlen(text) : 0;
	if ((req = malloc(REQ_MAX)) == NULL ||
	    (ans = malloc(ANSWER_MAX + 1)) == NULL)
		goto out;
	n = snprintf(req, REQ_MAX,
	    "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
	    "Accept: application/json\r\n%s%s%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    method, path, k->host, k->port,
	    k->token[0] != '\0' ? "Authorization: Bearer " : "", k->token,
	    k->token[0] != '\0' ? "\r\n" : "", tlen);
	if (n < 0 || (size_t)n + tlen >= REQ_MAX) {
		fprintf(stderr, "tkms kms: request too long\n");
		goto out;
	}
	rlen = (size_t)n;
	memcpy(req + rlen, text != NULL ? text : "", tlen);
	rlen += tlen;
	if ((fd = dial(k)) < 0)
		goto out;
	if (send_all(fd, req, rlen) != 0) {
		fprintf(stderr, "tkms kms: send: %s\n", strerror(errno));
		goto out;
	}
	while (alen < ANSWER_MAX &&
	       (got = recv(fd, ans + alen, ANSWER_MAX - alen, 0)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fprintf(
			    stderr, "tkms kms: receive: %s\n", strerror(errno));
			goto out;
		}
		alen += (size_t)got;
	}
	ans[alen] = '\0';
	if (alen == ANSWER_MAX || strncmp(ans, "HTTP/1.", 7) != 0 ||
	    sscanf(ans + 8, " %3d", status) != 1 ||
	    (hdr_end = strstr(ans, "\r\n\r\n")) == NULL) {
		fprintf(stderr, "tkms kms: not an HTTP answer\n");
		goto out;
	}
	p = hdr_end + 4;
	blen = alen - (size_t)(p - ans);
	*out = json_loadb(p, blen, 0, NULL);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (req != NULL) {
		tkm_cleanse(req, REQ_MAX);
		free(req);
	}
	if (ans != NULL) {
		tkm_cleanse(ans, ANSWER_MAX + 1);
		free(ans);
	}
	if (text != NULL) {
		tkm_cleanse(text, tlen);
		free(text);
	}
	return rc;
}

/* Print the answer; 0 for 2xx, 1 for a refusal (its message on stderr),
 * 2 when the exchange failed. */
static int
report(int status, json_t *ans)
{
	const char *msg;

	if (status >= 200 && status < 300) {
		if (ans != NULL)
			json_dumpf(
			    ans, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("\n");
		return 0;
	}
	msg = json_string_value(json_object_get(ans, "message"));
	fprintf(stderr, "tkms kms: %d %s\n", status,
	    msg != NULL ? msg : "(no message)");
	return status == 0 ? 2 : 1;
}

static int
call(const struct kms *k, const char *method, const char *path, json_t *body)
{
	json_t *ans = NULL;
	int status, rc;

	if (http_call(k, method, path, body, &status, &ans) != 0)
		return 2;
	rc = report(status, ans);
	json_decref(ans);
	return rc;
}

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

static int
id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 18)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

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
	const char *url = getenv("TKMS_KMS_URL"),
		   *sess = getenv("TKMS_KMS_SESSION");
	const char *pwfile = NULL, *state = NULL, *reason = NULL, *from = NULL,
		   *limit = NULL, *expires = NULL, *sub;
	char pw[SECRET_MAX + 2], path[128];
	struct kms k;
	json_t *body = NULL, *ans = NULL, *payload;
	json_error_t err;
	int ch, rc = 2, status, nargs;
	char **args;

	memset(&k, 0, sizeof(k));
	pw[0] = '\0';
	if (argc < 2) {
		usage();
		return 2;
	}
	sub = argv[1];
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
	if (set_url(&k, url != NULL && url[0] != '\0' ? url : DEFAULT_URL) != 0)
		return 2;
	snprintf(k.session_path, sizeof(k.session_path), "%s",
	    sess != NULL && sess[0] != '\0' ? sess : ".tkms-kms-session");
	session_load(&k);

	if (strcmp(sub, "login") == 0 && nargs == 1) {
		if (cli_read_secret(pwfile, "password: ", pw, sizeof(pw)) != 0)
			goto out;
		body = json_pack("{s:s, s:s}", "name", args[0], "password", pw);
		k.token[0] = '\0';
		if (body == NULL || http_call(&k, "POST", "/api/login", body,
					&status, &ans) != 0)
			goto out;
		if (status == 200 &&
		    json_string_value(json_object_get(ans, "token")) != NULL) {
			if (session_store(&k, json_string_value(json_object_get(
						  ans, "token"))) != 0)
				goto out;
			json_object_del(ans, "token");
		}
		rc = report(status, ans);
	} else if (strcmp(sub, "logout") == 0 && nargs == 0) {
		rc = call(&k, "POST", "/api/logout", NULL);
		if (rc != 2)
			(void)unlink(k.session_path);
	} else if (strcmp(sub, "me") == 0 && nargs == 0) {
		rc = call(&k, "GET", "/api/me", NULL);
	} else if (strcmp(sub, "users") == 0 && nargs == 0) {
		rc = call(&k, "GET", "/api/users", NULL);
	} else if (strcmp(sub, "institutions") == 0 && nargs == 0) {
		rc = call(&k, "GET", "/api/institutions", NULL);
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
		rc =
		    body != NULL ? call(&k, "POST", "/api/proposals", body) : 2;
	} else if (strcmp(sub, "proposals") == 0 && nargs == 0) {
		snprintf(path, sizeof(path), "/api/proposals%s%.20s",
		    state != NULL ? "?state=" : "", state != NULL ? state : "");
		rc = call(&k, "GET", path, NULL);
	} else if ((strcmp(sub, "approve") == 0 ||
		       strcmp(sub, "reject") == 0) &&
		   nargs == 1 && id_ok(args[0])) {
		snprintf(
		    path, sizeof(path), "/api/proposals/%s/%s", args[0], sub);
		body = reason != NULL ? json_pack("{s:s}", "reason", reason)
				      : json_object();
		rc = body != NULL ? call(&k, "POST", path, body) : 2;
	} else if (strcmp(sub, "audit") == 0 && nargs == 1 &&
		   strcmp(args[0], "verify") == 0) {
		if (http_call(&k, "GET", "/api/audit/verify", NULL, &status,
			&ans) != 0)
			goto out;
		rc = report(status, ans);
		if (rc == 0 && !json_is_true(json_object_get(ans, "ok"))) {
			fprintf(stderr,
			    "tkms kms: audit chain BROKEN at %lld\n",
			    (long long)json_integer_value(
				json_object_get(ans, "first_bad")));
			rc = 1;
		}
	} else if (strcmp(sub, "audit") == 0 && nargs == 0) {
		if ((from != NULL && !id_ok(from)) ||
		    (limit != NULL && !id_ok(limit))) {
			usage();
			goto out;
		}
		snprintf(path, sizeof(path), "/api/audit?from=%s&limit=%s",
		    from != NULL ? from : "1", limit != NULL ? limit : "100");
		rc = call(&k, "GET", path, NULL);
	} else {
		usage();
	}
out:
	tkm_cleanse(pw, sizeof(pw));
	json_decref(body);
	json_decref(ans);
	return rc;
}
