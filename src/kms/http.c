/*
 * http.c - the HTTP front of tkms-kmsd over libmicrohttpd (http.h).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers, then with pieces of the body, then with none. The
 * body is gathered in a buffer of at most KMS_HTTP_BODY_MAX bytes; past
 * that the rest is read and dropped so that the client gets its 413, not
 * a reset. Bodies carry passwords: the buffer is wiped when it goes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "kjson.h"
#include "tkm/mem.h"
#include "web.h"

struct kms_http {
	struct MHD_Daemon *d;
	kms_handler fn;
	void *arg;
	const struct kms_web *web; /* NULL: no console */
	unsigned port;
};

/* The console's pages: nothing from elsewhere, no framing, no sniffing.
 * Styles may be inline: the printable records carry theirs. */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; frame-src 'self' blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

/* One request's state between the handler's calls. */
struct pending {
	uint8_t *buf; /* cap bytes, wiped before it is freed */
	size_t len, cap;
	int too_big;
};

static void pending_wipe(struct pending *p);

/* Wipe and free the buffer, keeping len (a copy is being made). */
static void
pending_wipe_keep(struct pending *p)
{
	size_t len = p->len;

	pending_wipe(p);
	p->len = len;
}

static void
pending_wipe(struct pending *p)
{
	if (p->buf != NULL) {
		tkm_cleanse(p->buf, p->cap);
		free(p->buf);
	}
	p->buf = NULL;
	p->len = p->cap = 0;
}

void
kms_log(const char *fmt, ...)
{
	char msg[512], ts[32];
	struct timespec t;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(
	    stderr, "%s.%03ldZ tkms-kmsd: %s\n", ts, t.tv_nsec / 1000000, msg);
}

static const char *
slug(int status)
{
	static const struct {
		int status;
		const char *slug;
	} t[] = {
	    {400, "bad_request"},
	    {401, "unauthenticated"},
	    {403, "forbidden"},
	    {404, "not_found"},
	    {405, "method_not_allowed"},
	    {409, "conflict"},
	    {413, "too_large"},
	    {415, "unsupported_media_type"},
	    {422, "unprocessable"},
	    {429, "too_many_requests"},
	    {500, "internal"},
	    {502, "bad_gateway"},
	    {503, "unavailable"},
	    {504, "timeout"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].status == status)
			return t[i].slug;
	return status >= 500 ? "internal" : "error";
}

void
kms_resp_error(struct kms_resp *resp, int status, const char *msg)
{
	json_decref(resp->body);
	resp->status = status;
	resp->body = json_pack(
	    "{s:s, s:s}", "error", slug(status), "message", msg ? msg : "");
}

const char *
kms_req_arg(const struct kms_req *req, const char *name)
{
	return MHD_lookup_connection_value(
	    req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result
send_json(struct MHD_Connection *c, int status, json_t *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t n;

	static const char oops[] = "{\"error\":\"internal\",\"message\":"
				   "\"answer could not be encoded\"}";

	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	if (text == NULL) {
		status = 500;
		r = MHD_create_response_from_buffer(
		    strlen(oops), (void *)oops, MHD_RESPMEM_PERSISTENT);
	} else {
		/* The answer may hold a token: our copy is wiped. */
		n = strlen(text);
		r = MHD_create_response_from_buffer(
		    n, text, MHD_RESPMEM_MUST_COPY);
		kms_json_free(text);
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
send_error(struct MHD_Connection *c, int status, const char *msg)
{
	struct kms_resp resp = {0, NULL};
	enum MHD_Result ret;

	kms_resp_error(&resp, status, msg);
	ret = send_json(c, status, resp.body);
	json_decref(resp.body);
	return ret;
}

/* A file of the console, or 404/400 as JSON. */
static enum MHD_Result
send_static(struct kms_http *h, struct MHD_Connection *c, const char *url)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *type;
	uint64_t size;
	int fd, rc;

	rc = kms_web_file(h->web, url, &fd, &size, &type);
	if (rc != TKM_OK)
		return send_error(c, rc == TKM_ERR_INPUT ? 400 : 404,
		    rc == TKM_ERR_INPUT ? "not a path this server serves"
					: "no such file");
	/* The response owns fd from here, also when it cannot be made. */
	if ((r = MHD_create_response_from_fd64(size, fd)) == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Everything outside /api/ is the console's. */
static int
is_static(const struct kms_http *h, const char *url, const char *method)
{
	return h->web != NULL && strncmp(url, "/api/", 5) != 0 &&
	       strcmp(url, "/api") != 0 &&
	       (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
}

static void
peer_of(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
	}
	snprintf(out, cap, "%s:%u", a, port);
}

static enum MHD_Result
dispatch(struct kms_http *h, struct MHD_Connection *c, const char *url,
    const char *method, struct pending *p)
{
	struct kms_req req = {method, url, NULL, NULL, NULL, c};
	struct kms_resp resp = {0, NULL};
	const char *auth;
	json_error_t err;
	enum MHD_Result ret;
	char peer[INET6_ADDRSTRLEN + 8], msg[200];

	if (p->too_big)
		return send_error(c, 413, "request body larger than 64 KiB");
	if (is_static(h, url, method))
		return send_static(h, c, url);
	if (p->len > 0) {
		req.body = json_loadb(
		    (const char *)p->buf, p->len, JSON_REJECT_DUPLICATES, &err);
		if (req.body == NULL) {
			snprintf(msg, sizeof(msg),
			    "body is not JSON: %s (line %d, column %d)",
			    err.text, err.line, err.column);
			return send_error(c, 400, msg);
		}
		if (!json_is_object(req.body)) {
			json_decref(req.body);
			return send_error(c, 400, "body: a JSON object");
		}
	}
	auth = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
		req.token = auth + 7;
	peer_of(c, peer, sizeof(peer));
	req.peer = peer;
	h->fn(h->arg, &req, &resp);
	json_decref(req.body);
	if (resp.status == 0)
		resp.status = 200;
	if (resp.body == NULL)
		resp.body = json_object();
	ret = send_json(c, resp.status, resp.body);
	json_decref(resp.body);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	struct kms_http *h = cls;
	struct pending *p = *state;
	uint8_t *nb;

	(void)version;
	if (p == NULL) { /* the headers: the body follows */
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return MHD_NO;
		*state = p;
		return MHD_YES;
	}
	if (*size > 0) {
		if (!p->too_big && *size <= KMS_HTTP_BODY_MAX - p->len) {
			if (p->len + *size > p->cap) {
				/* Grow by copying, so that no unwiped copy
				 * is left behind as realloc would. */
				if ((nb = malloc(KMS_HTTP_BODY_MAX)) == NULL)
					return MHD_NO;
				if (p->len > 0)
					memcpy(nb, p->buf, p->len);
				pending_wipe_keep(p);
				p->buf = nb;
				p->cap = KMS_HTTP_BODY_MAX;
			}
			memcpy(p->buf + p->len, data, *size);
			p->len += *size;
		} else {
			p->too_big = 1;
		}
		*size = 0;
		return MHD_YES;
	}
	return dispatch(h, c, url, method, p);
}

static void
on_done(void *cls, struct MHD_Connection *c, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct pending *p = *state;

	(void)cls;
	(void)c;
	(void)toe;
	if (p == NULL)
		return;
	pending_wipe(p);
	free(p);
	*state = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[400];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	kms_log("http: %s", msg);
}

int
kms_http_start(const char *addr, unsigned port, unsigned threads,
    const struct kms_web *web, kms_handler fn, void *arg, struct kms_http **out,
    const char **why)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	struct kms_http *h;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		*why = "listen address: a numeric IPv4 or IPv6 address";
		return TKM_ERR_INPUT;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		*why = "out of memory";
		return TKM_ERR_NOMEM;
	}
	h->fn = fn;
	h->arg = arg;
	h->web = web;
	h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request,
	    h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 0 ? threads : 1),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KMS_HTTP_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)KMS_HTTP_CONNS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128u * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (h->d == NULL) {
		free(h);
		*why = "cannot listen there (address in use?)";
		return TKM_ERR_IO;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL ? di->port : port;
	*out = h;
	return TKM_OK;
}

unsigned
kms_http_port(const struct kms_http *h)
{
	return h->port;
}

void
kms_http_stop(struct kms_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
