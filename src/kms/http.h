/*
 * http.h - the HTTP/1.1 front of tkms-kmsd (libmicrohttpd): JSON in, JSON
 * out, hard limits, and a clean JSON error for anything it cannot take.
 *
 * The server owns the parsing: a handler gets a request whose body, if
 * any, is already a JSON object (anything else was answered 400 before),
 * and fills a response with a status and a JSON value. Handlers run on
 * the server's pool threads, several at once.
 */
#ifndef KMS_HTTP_H
#define KMS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tkm/err.h"

#define KMS_HTTP_BODY_MAX (64u * 1024) /* request bodies; larger: 413 */
#define KMS_HTTP_TIMEOUT  30           /* seconds a connection may idle */
#define KMS_HTTP_CONNS    256          /* connections at once */

struct kms_http;
struct kms_web;

struct kms_req {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* without the query */
	const char *token;  /* "Authorization: Bearer T", or NULL */
	const char *peer;   /* "127.0.0.1:50000" */
	json_t *body;       /* an object, or NULL when there was no body */
	void *conn_;        /* for kms_req_arg */
};

struct kms_resp {
	int status;   /* 200 if left 0 */
	json_t *body; /* stolen by the server; NULL is {} */
};

/* A query argument (?name=value), or NULL. */
const char *kms_req_arg(const struct kms_req *req, const char *name);

/* Set resp to {"error": slug-of-status, "message": msg}. */
void kms_resp_error(struct kms_resp *resp, int status, const char *msg);

typedef void (*kms_handler)(
    void *arg, const struct kms_req *req, struct kms_resp *resp);

/*
 * Listen on addr ("127.0.0.1", "::1", "0.0.0.0") port (0: any free one)
 * with threads pool threads. GET and HEAD outside /api/ serve the files
 * of web (web.h; NULL: none, 404). *why on failure.
 */
int kms_http_start(const char *addr, unsigned port, unsigned threads,
    const struct kms_web *web, kms_handler fn, void *arg, struct kms_http **out,
    const char **why) TKM_MUST_CHECK;
unsigned kms_http_port(const struct kms_http *h);
/* Stop: waits for handlers that run. NULL is a no-op. */
void kms_http_stop(struct kms_http *h);

/* One line on stderr with a UTC time stamp. */
void kms_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
