/*
 * kms_client.c - the HTTP client of `tkms kms ...` (kms_client.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "kms_client.h"
#include "tkm/mem.h"

#define ANSWER_MAX (4u << 20) /* bytes of one answer, headers included */
#define REQ_MAX    (80u * 1024)
/* Approving a flow waits for the HSMs: a whole fleet takes seconds. */
#define IO_TIMEOUT 600
#define TOKEN_MAX  KCLI_TOKEN_MAX

/* --- options and session ------------------------------------------------- */

int
kcli_set_url(struct kms *k, const char *url)
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

void
kcli_session_load(struct kms *k)
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

int
kcli_session_store(struct kms *k, const char *token)
{
	char tmp[600];
	int fd, ok;

	/* A new file, never one that is there (a planted file or link would
	 * receive the token): a stale one from a crash is removed first. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", k->session_path);
	(void)unlink(tmp);
	if ((fd = open(tmp,
		 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) <
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
int
kcli_http_call(const struct kms *k, const char *method, const char *path,
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
		tkm_wipe_free(text);
	}
	return rc;
}

/* Print the answer; 0 for 2xx, 1 for a refusal (its message on stderr),
 * 2 when the exchange failed. */
int
kcli_report(int status, json_t *ans)
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

int
kcli_call(
    const struct kms *k, const char *method, const char *path, json_t *body)
{
	json_t *ans = NULL;
	int status, rc;

	if (kcli_http_call(k, method, path, body, &status, &ans) != 0)
		return 2;
	rc = kcli_report(status, ans);
	json_decref(ans);
	return rc;
}

int
kcli_init(struct kms *k, const char *url, const char *session)
{
	if (url == NULL)
		url = getenv("TKMS_KMS_URL");
	if (session == NULL)
		session = getenv("TKMS_KMS_SESSION");
	memset(k, 0, sizeof(*k));
	if (kcli_set_url(
		k, url != NULL && url[0] != '\0' ? url : KCLI_DEFAULT_URL) != 0)
		return -1;
	snprintf(k->session_path, sizeof(k->session_path), "%s",
	    session != NULL && session[0] != '\0' ? session
						  : ".tkms-kms-session");
	kcli_session_load(k);
	return 0;
}

int
kcli_id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 18)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}
