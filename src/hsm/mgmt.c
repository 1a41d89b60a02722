/*
 * mgmt.c - the management plane (mgmt.h, docs/management.md): sessions,
 * the admission check, one request from JSON to JSON, and the listener
 * with its own thread and event loop.
 *
 * Everything here runs on the management thread (tests call
 * hsm_mgmt_handle() from theirs): the session table needs no lock because
 * one thread at a time uses it, and the handlers may keep c->s while they
 * run.
 *
 * Frame on the wire, both directions:
 *   OFFSET  SIZE  FIELD
 *   0       4     LEN, big-endian, 1..HSM_MGMT_MAX
 *   4       LEN   UTF-8 JSON object
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "audit.h"
#include "db.h"
#include "mgmt.h"
#include "ops.h"
#include "server.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define MAX_SESSIONS 64
#define MAX_CONNS    64
#define DETAIL_MAX   200 /* audit detail, bytes */
#define OP_NAME_MAX  32  /* an unknown op's name in the audit */
#define TOKEN_HEX    (2 * sizeof(((struct hsm_session *)0)->token))

/* --- roles -------------------------------------------------------------- */

static const char *const role_names[] = {"A1", "A2", "A3", "B", "C", "D"};

unsigned
hsm_role_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(name, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *
hsm_role_name(unsigned role)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (role == 1u << i)
			return role_names[i];
	return "?";
}

json_t *
hsm_role_array(unsigned roles)
{
	json_t *a = json_array();
	unsigned bit;

	for (bit = 1; a != NULL && bit <= HSM_ROLES_ALL; bit <<= 1)
		if ((roles & bit) != 0)
			(void)json_array_append_new(
			    a, json_string(hsm_role_name(bit)));
	return a;
}

/* "A1+A2+C" into out (at least 24 bytes: all six roles fit). */
static void
role_list(unsigned roles, char *out, size_t cap)
{
	struct tkm_wr w;
	unsigned bit;

	tkm_wr_init(&w, out, cap - 1);
	for (bit = 1; bit <= HSM_ROLES_ALL; bit <<= 1) {
		if ((roles & bit) == 0)
			continue;
		if (w.len > 0)
			tkm_wr_str(&w, "+");
		tkm_wr_str(&w, hsm_role_name(bit));
	}
	out[tkm_wr_error(&w) == TKM_OK ? w.len : 0] = '\0';
}

/* --- sessions ----------------------------------------------------------- */

/* A slot is in use when its token is not all zero (tokens are random, an
 * all-zero one is never handed out). */
static struct hsm_session sessions[MAX_SESSIONS];
static const uint8_t zero_token[sizeof(sessions[0].token)];

static int
sess_used(const struct hsm_session *s)
{
	return !tkm_ct_eq(s->token, zero_token, sizeof(s->token));
}

/* Forget a session, its pending challenge included. */
static void
sess_drop(struct hsm_session *s)
{
	tkm_cleanse(s, sizeof(*s));
}

static void
sess_expire(time_t now)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (sess_used(&sessions[i]) &&
		    now - sessions[i].last_use > HSM_MGMT_IDLE)
			sess_drop(&sessions[i]);
}

/* The live session named by hex, or NULL. Every slot is compared, in
 * constant time, so that timing tells nothing about other tokens. */
static struct hsm_session *
sess_find(const char *hex, time_t now)
{
	uint8_t tok[sizeof(sessions[0].token)];
	struct hsm_session *found = NULL;
	size_t i, n;

	sess_expire(now);
	if (strlen(hex) != TOKEN_HEX ||
	    tkm_hex_decode(hex, TOKEN_HEX, tok, sizeof(tok), &n) != TKM_OK)
		return NULL;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (sess_used(&sessions[i]) &&
		    tkm_ct_eq(sessions[i].token, tok, sizeof(tok)))
			found = &sessions[i];
	return found;
}

/*
 * A new session, or NULL when the table is full. Anyone may ask for a
 * challenge, so a flood of them may push out sessions that only wait for
 * a login, never one where a role is logged in.
 */
static struct hsm_session *
sess_new(const char *peer, time_t now)
{
	struct hsm_session *s = NULL;
	size_t i;

	sess_expire(now);
	for (i = 0; i < MAX_SESSIONS && s == NULL; i++)
		if (!sess_used(&sessions[i]))
			s = &sessions[i];
	for (i = 0; i < MAX_SESSIONS && s == NULL; i++)
		if (sessions[i].roles == 0)
			s = &sessions[i];
	if (s == NULL)
		return NULL;
	sess_drop(s);
	do {
		if (tkm_random(s->token, sizeof(s->token)) != TKM_OK) {
			sess_drop(s);
			return NULL;
		}
	} while (!sess_used(s));
	s->last_use = now;
	snprintf(s->peer, sizeof(s->peer), "%s", peer != NULL ? peer : "-");
	return s;
}

void
hsm_mgmt_end_sessions(void)
{
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++)
		sess_drop(&sessions[i]);
}

/* --- one request -------------------------------------------------------- */

int
hsm_op_admit(const struct hsm_op *op, const struct hsm_op_ctx *c)
{
	unsigned have = c->s != NULL ? c->s->roles : 0;

	if ((op->flags & HSM_OP_PUBLIC) == 0) {
		if ((op->flags & HSM_OP_ANY) != 0
			? (have & op->need) == 0
			: (have & op->need) != op->need)
			return TKM_ERR_PERMISSION;
	}
	if ((op->flags & HSM_OP_DK) != 0 && atomic_load(&c->st->dk) == NULL)
		return TKM_ERR_SEALED;
	return TKM_OK;
}

/* Text from json_dumps() goes back to jansson's allocator, which the
 * daemon replaces by one that wipes (main.c); len bytes are wiped here
 * too, for the default one. */
static void
json_text_free(char *text)
{
	json_malloc_t m;
	json_free_t f;

	if (text == NULL)
		return;
	tkm_cleanse(text, strlen(text));
	json_get_alloc_funcs(&m, &f);
	f(text);
}

/* Argument names whose values never reach the audit log. */
static int
is_secret_arg(const char *name)
{
	static const char *const secret[] = {"password", "pin", "component",
	    "secret", "signature",
	    /* password.set makes it the password (city step 5) */
	    "issuer_code"};
	size_t i;

	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (strstr(name, secret[i]) != NULL)
			return 1;
	return 0;
}

/* A long string argument (a backup or licence file in base64 or text)
 * as its size and the start of its SM3: enough to tell which file it was,
 * short enough to leave room for why the op failed. */
#define ARG_SHOWN 64
static json_t *
audit_digest(const char *v)
{
	uint8_t h[TKM_MAX_HASH];
	char hex[2 * 8 + 1], text[80];

	if (tkm_hash(TKM_SM3, v, strlen(v), h) != TKM_OK)
		return json_string("(long)");
	tkm_hex_encode(h, 8, hex);
	snprintf(
	    text, sizeof(text), "(%zu characters, SM3 %s...)", strlen(v), hex);
	return json_string(text);
}

/* The args as compact JSON without secrets or nested objects, then why
 * the op failed (if it did), cut to DETAIL_MAX bytes. */
static void
audit_detail(json_t *args, const char *why, char *out, size_t cap)
{
	json_t *copy = json_object(), *v;
	const char *k;
	char *s = NULL;

	out[0] = '\0';
	if (copy == NULL || !json_is_object(args))
		goto out;
	json_object_foreach(args, k, v)
	{
		if (is_secret_arg(k))
			json_object_set_new(copy, k, json_string("(hidden)"));
		else if (json_is_object(v))
			json_object_set_new(copy, k, json_string("{...}"));
		else if (json_is_string(v) && json_string_length(v) > ARG_SHOWN)
			json_object_set_new(
			    copy, k, audit_digest(json_string_value(v)));
		else
			json_object_set(copy, k, v);
	}
	if ((s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS)) != NULL)
		snprintf(out, cap, "%s%s%s", s, why != NULL ? " - " : "",
		    why != NULL ? why : "");
out:
	json_text_free(s);
	json_decref(copy);
}

/* One audit record; the actor is the roles (those of the session before
 * and after the operation, so that login and logout name theirs) or,
 * without any, the peer's address. A failing audit is logged, not fatal:
 * the operation has happened already. */
static void
audit_roles(const struct hsm_op_ctx *c, unsigned roles, const char *op,
    int result, const char *detail)
{
	char actor[64];
	int rc;

	if (c->audit == NULL)
		return;
	if (roles != 0)
		role_list(roles, actor, sizeof(actor));
	else
		snprintf(actor, sizeof(actor), "%s",
		    c->peer != NULL ? c->peer : "-");
	rc = hsm_audit_append(
	    c->audit, atomic_load(&c->st->dk), actor, op, result, detail);
	if (rc != TKM_OK)
		hsm_log("audit: cannot append %s: %s", op, tkm_strerror(rc));
}

static void
audit_op(
    const struct hsm_op_ctx *c, const char *op, int result, const char *detail)
{
	audit_roles(c, c->s != NULL ? c->s->roles : 0, op, result, detail);
}

/* An I/O failure names its cause: the file and what went wrong with it
 * (db.h), e.g. "...: keys.db: disk full (...)". */
static json_t *
error_response(int rc, const char *why)
{
	const char *cause = rc == TKM_ERR_IO ? hsm_db_cause() : NULL;
	char msg[640];

	if (why == NULL)
		why = tkm_strerror(rc);
	if (cause != NULL) {
		snprintf(msg, sizeof(msg), "%s: %s", why, cause);
		why = msg;
	}
	return json_pack(
	    "{s:b, s:s, s:s}", "ok", 0, "code", tkm_err_wire(rc), "error", why);
}

/* A request that never reached an operation: answered and audited. */
static json_t *
refuse(struct hsm_op_ctx *c, const char *op, int rc, const char *why)
{
	audit_op(c, op, rc, why);
	return error_response(rc, why);
}

/* Resolve "session" into c->s (see mgmt.h). TKM_OK or a refusal. */
static int
resolve_session(struct hsm_op_ctx *c, const struct hsm_op *op, json_t *req,
    const char **why)
{
	json_t *tok = json_object_get(req, "session");
	time_t now = time(NULL);

	c->s = NULL;
	if (tok != NULL && !json_is_string(tok) && !json_is_null(tok)) {
		*why = "\"session\" must be a string";
		return TKM_ERR_INPUT;
	}
	if (json_is_string(tok))
		c->s = sess_find(json_string_value(tok), now);
	if (c->s == NULL && op->fn == op_login_challenge) {
		if ((c->s = sess_new(c->peer, now)) == NULL) {
			*why = "too many sessions";
			return TKM_ERR_NOMEM;
		}
	} else if (c->s == NULL && json_is_string(tok) &&
		   (op->flags & HSM_OP_PUBLIC) == 0) {
		*why = "unknown or expired session: log in again";
		return TKM_ERR_PERMISSION;
	}
	if (c->s != NULL)
		c->s->last_use = now;
	return TKM_OK;
}

/* Run op; the session ends when it holds no role and awaits no login. */
static json_t *
run_op(struct hsm_op_ctx *c, const struct hsm_op *op, json_t *args)
{
	char detail[DETAIL_MAX + 1];
	char hex[TOKEN_HEX + 1];
	const char *why = NULL;
	json_t *result = NULL, *resp;
	unsigned before = c->s != NULL ? c->s->roles : 0;
	int rc;

	if ((rc = hsm_op_admit(op, c)) == TKM_OK) {
		if ((result = json_object()) == NULL)
			rc = TKM_ERR_NOMEM;
		else
			rc = op->fn(c, args, result, &why);
	}
	if (rc == TKM_ERR_PERMISSION && why == NULL)
		why = "not logged in with the roles this op needs";
	audit_detail(args, rc != TKM_OK ? why : NULL, detail, sizeof(detail));
	audit_roles(
	    c, before | (c->s != NULL ? c->s->roles : 0), op->name, rc, detail);
	if (rc == TKM_OK)
		resp = json_pack("{s:b, s:O}", "ok", 1, "result", result);
	else
		resp = error_response(rc, why);
	json_decref(result);
	if (c->s != NULL && c->s->roles == 0 && c->s->challenge_role == 0) {
		sess_drop(c->s);
		c->s = NULL;
	}
	if (c->s != NULL && resp != NULL) {
		tkm_hex_encode(c->s->token, sizeof(c->s->token), hex);
		json_object_set_new(resp, "session", json_string(hex));
	}
	return resp;
}

/* A refusal before any op ran still names the caller's session while it
 * exists (docs/management.md): a console that saw none would forget it. */
static json_t *
still_yours(json_t *req, json_t *resp)
{
	const char *tok = json_string_value(json_object_get(req, "session"));
	char hex[TOKEN_HEX + 1];
	struct hsm_session *s;

	if (resp == NULL || tok == NULL ||
	    (s = sess_find(tok, time(NULL))) == NULL)
		return resp;
	tkm_hex_encode(s->token, sizeof(s->token), hex);
	json_object_set_new(resp, "session", json_string(hex));
	return resp;
}

json_t *
hsm_mgmt_handle(struct hsm_op_ctx *c, json_t *req)
{
	char name[OP_NAME_MAX + 1];
	const struct hsm_op *op;
	const char *opname, *why = NULL;
	json_t *args, *resp;
	int rc;

	c->s = NULL;
	hsm_db_cause_clear(); /* the causes of this request only */
	if (!json_is_object(req))
		return refuse(
		    c, "-", TKM_ERR_INPUT, "a request is a JSON object");
	if ((opname = json_string_value(json_object_get(req, "op"))) == NULL)
		return still_yours(
		    req, refuse(c, "-", TKM_ERR_INPUT, "missing \"op\""));
	if ((op = hsm_op_find(opname)) == NULL) {
		snprintf(name, sizeof(name), "%s", opname);
		audit_op(c, "-", TKM_ERR_NO_CMD, name);
		return still_yours(
		    req, error_response(TKM_ERR_NO_CMD, "unknown op"));
	}
	args = json_object_get(req, "args");
	if (args != NULL && !json_is_object(args))
		return still_yours(req, refuse(c, op->name, TKM_ERR_INPUT,
					    "\"args\" must be an object"));
	if ((rc = resolve_session(c, op, req, &why)) != TKM_OK)
		return refuse(c, op->name, rc, why);
	if (args != NULL)
		return run_op(c, op, args);
	if ((args = json_object()) == NULL)
		return error_response(TKM_ERR_NOMEM, NULL);
	resp = run_op(c, op, args);
	json_decref(args);
	return resp;
}

/* --- the listener ------------------------------------------------------- */

struct mconn {
	LIST_ENTRY(mconn) link;
	struct hsm_mgmt *m;
	struct bufferevent *bev;
	char peer[64];
	int closing;            /* answered a bad frame: close once it is out */
	struct event *deadline; /* frame-timeout after a frame's first byte */
};

struct hsm_mgmt {
	struct hsm_state *st;
	struct hsm_mgmt_cfg cfg;
	struct event_base *base;
	struct evconnlistener *lis;
	struct event *stop;
	SSL_CTX *ssl;
	pthread_t thread;
	int started;
	unsigned port;
	unsigned nconns;
	LIST_HEAD(, mconn) conns;
};

static void
mconn_free(struct mconn *mc)
{
	LIST_REMOVE(mc, link);
	mc->m->nconns--;
	if (mc->deadline != NULL)
		event_free(mc->deadline);
	bufferevent_free(mc->bev);
	free(mc);
}

/* LEN || JSON of resp onto the output; the text may hold results that are
 * nobody else's business, so it is wiped. */
static int
mconn_send(struct mconn *mc, json_t *resp)
{
	struct evbuffer *out = bufferevent_get_output(mc->bev);
	char *text = NULL;
	uint8_t len[4];
	size_t n;
	int rc = TKM_ERR_NOMEM;

	if (resp == NULL || (text = json_dumps(resp, JSON_COMPACT)) == NULL)
		goto out;
	n = strlen(text);
	if (n > HSM_MGMT_MAX) {
		json_text_free(text);
		text = NULL;
		json_decref(resp);
		resp = error_response(TKM_ERR_SPACE, "response too large");
		if (resp == NULL ||
		    (text = json_dumps(resp, JSON_COMPACT)) == NULL)
			goto out;
		n = strlen(text);
	}
	len[0] = (uint8_t)(n >> 24);
	len[1] = (uint8_t)(n >> 16);
	len[2] = (uint8_t)(n >> 8);
	len[3] = (uint8_t)n;
	if (evbuffer_add(out, len, 4) == 0 && evbuffer_add(out, text, n) == 0)
		rc = TKM_OK;
out:
	json_text_free(text);
	json_decref(resp);
	return rc;
}

static struct hsm_op_ctx
mconn_ctx(struct mconn *mc)
{
	struct hsm_op_ctx c = {
	    mc->m->st, mc->m->st->admin, mc->m->st->audit, NULL, mc->peer};
	return c;
}

/* One frame's JSON: parsed, run, answered. The copy of the text (it
 * carries passwords) is wiped. */
static int
mconn_request(struct mconn *mc, size_t n)
{
	struct hsm_op_ctx c = mconn_ctx(mc);
	json_error_t jerr;
	json_t *req, *resp;
	char why[256];
	uint8_t *text;

	if ((text = malloc(n)) == NULL)
		return TKM_ERR_NOMEM;
	(void)evbuffer_remove(bufferevent_get_input(mc->bev), text, n);
	req = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, &jerr);
	tkm_cleanse(text, n);
	free(text);
	if (req == NULL) {
		snprintf(why, sizeof(why), "bad JSON: %s (byte %d)", jerr.text,
		    jerr.position);
		resp = refuse(&c, "-", TKM_ERR_INPUT, why);
	} else {
		resp = hsm_mgmt_handle(&c, req);
		json_decref(req);
	}
	return mconn_send(mc, resp);
}

/*
 * A frame (and the TLS handshake before the first one) must be whole within
 * the config's frame-timeout of its first byte, as on the host ports
 * (server.c): the idle timeout restarts on every byte, so MAX_CONNS
 * clients dribbling bytes would otherwise lock the administrators out.
 * 0 = no deadline.
 */
static void
arm(struct mconn *mc)
{
	const struct hsm_config *cfg = mc->m->st->cfg;
	struct timeval tv = {cfg != NULL ? (time_t)cfg->frame_timeout : 10, 0};

	if (tv.tv_sec > 0 && !evtimer_pending(mc->deadline, NULL))
		evtimer_add(mc->deadline, &tv);
}

/* Every complete frame in the input. A bad length leaves no way to find
 * the next frame: answer it and close. */
static void
mconn_read(struct bufferevent *bev, void *arg)
{
	struct mconn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t len[4];
	size_t n;
	int whole = 0;

	while (evbuffer_get_length(in) >= 4) {
		(void)evbuffer_copyout(in, len, 4);
		n = (size_t)len[0] << 24 | (size_t)len[1] << 16 |
		    (size_t)len[2] << 8 | len[3];
		if (n == 0 || n > HSM_MGMT_MAX) {
			struct hsm_op_ctx c = mconn_ctx(mc);

			mc->closing = 1;
			bufferevent_disable(bev, EV_READ);
			if (mconn_send(mc, refuse(&c, "-", TKM_ERR_FRAME_LEN,
					       "frame length must be 1.."
					       "1048576")) != TKM_OK)
				goto fail;
			return;
		}
		if (evbuffer_get_length(in) < 4 + n)
			break;
		(void)evbuffer_drain(in, 4);
		if (mconn_request(mc, n) != TKM_OK)
			goto fail;
		whole = 1;
	}
	/* A new deadline for the frame begun in this read, none between
	 * frames; more bytes of the same frame do not extend it. */
	if (whole || evbuffer_get_length(in) == 0)
		evtimer_del(mc->deadline);
	if (evbuffer_get_length(in) > 0)
		arm(mc);
	return;
fail:
	mconn_free(mc);
}

/* A frame (or the handshake) not whole in time: closed, and said in the log
 * at most once every 10 s however many there are. */
static void
mconn_deadline(evutil_socket_t fd, short what, void *arg)
{
	static unsigned closed;
	static time_t said;
	struct mconn *mc = arg;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	closed++;
	if (now - said >= 10) {
		hsm_log("manage: closed %u connection(s) whose frame was not "
			"whole within frame-timeout (last %s)",
		    closed, mc->peer);
		closed = 0;
		said = now;
	}
	mconn_free(mc);
}

static void
mconn_write(struct bufferevent *bev, void *arg)
{
	struct mconn *mc = arg;

	if (mc->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		mconn_free(mc);
}

static void
mconn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	/* The TLS handshake is done: nothing to do until a frame comes. */
	if (what & BEV_EVENT_CONNECTED) {
		evtimer_del(((struct mconn *)arg)->deadline);
		return;
	}
	mconn_free(arg);
}

static void
peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	unsigned port = 0;

	snprintf(out, cap, "?");
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		if (inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) == NULL)
			return;
		port = ntohs(s4->sin_port);
		snprintf(out, cap, "%s:%u", a, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)) == NULL)
			return;
		port = ntohs(s6->sin6_port);
		snprintf(out, cap, "[%s]:%u", a, port);
	}
}

static struct bufferevent *
new_bev(struct hsm_mgmt *m, evutil_socket_t fd)
{
	SSL *ssl;

	if (m->ssl == NULL)
		return bufferevent_socket_new(
		    m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(m->ssl)) == NULL)
		return NULL;
	/* Frees ssl with the bufferevent, and also when it fails. */
	return bufferevent_openssl_socket_new(
	    m->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct hsm_mgmt *m = arg;
	struct timeval tv = {HSM_MGMT_IDLE, 0};
	struct mconn *mc;
	int one = 1;

	(void)lis;
	(void)salen;
	if (m->nconns >= MAX_CONNS || (mc = calloc(1, sizeof(*mc))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if ((mc->deadline = evtimer_new(m->base, mconn_deadline, mc)) == NULL ||
	    (mc->bev = new_bev(m, fd)) == NULL) {
		if (mc->deadline != NULL)
			event_free(mc->deadline);
		free(mc);
		evutil_closesocket(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	mc->m = m;
	peer_name(sa, mc->peer, sizeof(mc->peer));
	LIST_INSERT_HEAD(&m->conns, mc, link);
	m->nconns++;
	bufferevent_setcb(mc->bev, mconn_read, mconn_write, mconn_event, mc);
	/* Reading pauses at one whole frame of the largest size. */
	bufferevent_setwatermark(mc->bev, EV_READ, 0, 4 + HSM_MGMT_MAX);
	bufferevent_set_timeouts(mc->bev, &tv, &tv);
	bufferevent_enable(mc->bev, EV_READ);
	if (m->ssl != NULL) /* the handshake, too, has a deadline */
		arm(mc);
}

static int
tls_setup(struct hsm_mgmt *m)
{
	const struct hsm_mgmt_cfg *cfg = &m->cfg;

	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0') {
		if (!hsm_addr_is_loopback(cfg->addr)) {
			hsm_log("manage %s: TLS is required off loopback",
			    cfg->addr);
			return TKM_ERR_PERMISSION;
		}
		return TKM_OK;
	}
	if ((m->ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(m->ssl, TLS1_2_VERSION) != 1)
		return TKM_ERR_INTERNAL;
	if (SSL_CTX_use_certificate_chain_file(m->ssl, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(
		m->ssl, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(m->ssl) != 1) {
		hsm_log("manage: cannot use %s and %s: %s", cfg->tls_cert,
		    cfg->tls_key, ERR_reason_error_string(ERR_get_error()));
		return TKM_ERR_IO;
	}
	return TKM_OK;
}

static int
mgmt_bind(struct hsm_mgmt *m)
{
	const unsigned flags =
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, m->cfg.addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)m->cfg.port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, m->cfg.addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)m->cfg.port);
		len = sizeof(*s6);
	} else {
		return TKM_ERR_INPUT;
	}
	m->lis = evconnlistener_new_bind(
	    m->base, on_accept, m, flags, 16, (struct sockaddr *)&ss, (int)len);
	if (m->lis == NULL) {
		hsm_log(
		    "manage %s:%u: cannot listen", m->cfg.addr, m->cfg.port);
		return TKM_ERR_IO;
	}
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(m->lis), (struct sockaddr *)&ss,
		&len) != 0)
		return TKM_ERR_IO;
	m->port = ss.ss_family == AF_INET6 ? ntohs(s6->sin6_port)
					   : ntohs(s4->sin_port);
	return TKM_OK;
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void *
mgmt_main(void *arg)
{
	struct hsm_mgmt *m = arg;

	if (event_base_dispatch(m->base) != 0 || !event_base_got_break(m->base))
		hsm_log("manage: event loop failed");
	return NULL;
}

/* The thread must not take SIGTERM or SIGINT: hsm_server_wait() waits
 * for them with sigwait() in the main thread. */
static int
start_thread(struct hsm_mgmt *m)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&m->thread, NULL, mgmt_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return TKM_ERR_INTERNAL;
	m->started = 1;
	return TKM_OK;
}

int
hsm_mgmt_start(
    struct hsm_state *st, const struct hsm_mgmt_cfg *cfg, struct hsm_mgmt **out)
{
	struct hsm_mgmt *m;
	int rc;

	*out = NULL;
	if (evthread_use_pthreads() != 0)
		return TKM_ERR_INTERNAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return TKM_ERR_NOMEM;
	m->st = st;
	m->cfg = *cfg;
	LIST_INIT(&m->conns);
	if ((rc = tls_setup(m)) != TKM_OK)
		goto out;
	rc = TKM_ERR_NOMEM;
	if ((m->base = event_base_new()) == NULL ||
	    (m->stop = event_new(m->base, -1, 0, on_stop, m->base)) == NULL)
		goto out;
	if ((rc = mgmt_bind(m)) != TKM_OK || (rc = start_thread(m)) != TKM_OK)
		goto out;
	*out = m;
	return TKM_OK;
out:
	hsm_mgmt_stop(m);
	return rc;
}

unsigned
hsm_mgmt_port(const struct hsm_mgmt *m)
{
	return m->port;
}

void
hsm_mgmt_stop(struct hsm_mgmt *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->started) {
		event_active(m->stop, 0, 0);
		pthread_join(m->thread, NULL);
	}
	if (m->lis != NULL)
		evconnlistener_free(m->lis);
	while (!LIST_EMPTY(&m->conns))
		mconn_free(LIST_FIRST(&m->conns));
	/* A TLS bufferevent freed with a deferred callback still queued is
	 * only released when the loop runs that callback: run it once more,
	 * with no listener left to accept anything (a TLS connection's SSL
	 * was once reported leaked by LeakSanitizer at shutdown). */
	if (m->base != NULL)
		(void)event_base_loop(m->base, EVLOOP_NONBLOCK);
	if (m->stop != NULL)
		event_free(m->stop);
	if (m->base != NULL)
		event_base_free(m->base);
	SSL_CTX_free(m->ssl);
	free(m);
	/* Logged-in roles do not outlive the server. */
	for (i = 0; i < MAX_SESSIONS; i++)
		sess_drop(&sessions[i]);
}
