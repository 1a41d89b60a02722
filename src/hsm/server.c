/*
 * server.c - worker threads, listeners and connections of tkms-hsmd.
 *
 * Per connection, bytes from the socket go through a tkm_framer; every
 * complete frame is dispatched at once and its answer appended to the
 * connection's output, so pipelined requests are answered in order. The
 * worker's response buffer is reused for every answer (dispatch is
 * synchronous) and wiped after each copy: answers carry key cryptograms and
 * decrypted data.
 *
 * Limits that keep a misbehaving client from costing more than its share:
 * the framer never buffers more than max-frame + 2 bytes; a connection
 * whose unsent output passes HIGH_WATER is not read again until it drains
 * to LOW_WATER; idle-timeout closes a silent connection, and one that does
 * not read its answers; frame-timeout closes one whose frame, once begun,
 * is not complete in time (idle-timeout restarts on every byte, so a
 * client dribbling a frame would otherwise keep its slot forever, and
 * max-conns of them would lock everyone out); max-conns bounds
 * connections per worker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "cmd.h"
#include "server.h"
#include "tkm/mem.h"
#include "tkm/wire.h"

/* An answer is at most LEN + 65535 bytes; the slack lets a handler that
 * overruns fail with TKM_ERR_SPACE in the writer, not in libevent. */
#define OUT_CAP      (2 + TKM_WIRE_LIMIT + 512)
#define HIGH_WATER   (256 * 1024)
#define LOW_WATER    (64 * 1024)
#define BACKLOG      511
#define MAX_AUTO     64  /* workers when the config says 0 = per core */
#define ACCEPT_PAUSE 100 /* ms without accept() after it failed */
#define EVICT_LOG    10  /* s between two frame-timeout log lines */

struct worker;

struct conn {
	LIST_ENTRY(conn) link;
	struct worker *w;
	const struct hsm_listener_cfg *l;
	struct bufferevent *bev;
	struct tkm_framer fr;
	int ip_ok;     /* peer on the listener's IP whitelist */
	char peer[64]; /* "ADDR:PORT", for the audit of refusals */
	int closing;   /* peer half-closed: close once the answers are out */
	struct event *deadline; /* frame-timeout; NULL when off */
	int deadline_on;        /* deadline armed for the current frame */
};

/* What a listener's accept callback needs. */
struct lref {
	struct worker *w;
	const struct hsm_listener_cfg *l;
};

struct worker {
	struct hsm_server *srv;
	unsigned id;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct evconnlistener *lis[HSM_MAX_LISTENERS];
	struct lref refs[HSM_MAX_LISTENERS];
	struct event *resume; /* re-enables accept after a pause */
	struct event *stop;   /* activated by hsm_server_wait() */
	struct event *sync;   /* activated by hsm_dk_retire() (zeroise) */
	struct hsm_worker hw;
	int hw_ok;
	uint8_t *out; /* response buffer, OUT_CAP bytes */
	unsigned nconns;
	LIST_HEAD(, conn) conns;
	unsigned long long evicted; /* closed by frame-timeout */
	int evicted_logged;         /* a line was logged at evict_log_at */
	time_t evict_log_at;        /* CLOCK_MONOTONIC seconds */
};

struct hsm_server {
	struct hsm_state *st;
	struct worker *w;
	unsigned nworkers;
	unsigned ports[HSM_MAX_LISTENERS];
	sigset_t sigs;
	atomic_int failed;
};

void
hsm_log(const char *fmt, ...)
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
	/* One call, so that lines of different threads do not mix. */
	fprintf(
	    stderr, "%s.%03ldZ tkms-hsmd: %s\n", ts, t.tv_nsec / 1000000, msg);
}

/* --- connections -------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	LIST_REMOVE(c, link);
	c->w->nconns--;
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	tkm_framer_cleanup(&c->fr);
	free(c);
}

/* Answer one frame (rc from the framer: 1, or TKM_ERR_FRAME_LEN). */
static int
conn_answer(struct conn *c, const uint8_t *frame, size_t len, int rc)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct tkm_wr wr;

	tkm_wr_init(&wr, c->w->out, OUT_CAP);
	c->w->hw.peer = c->peer;
	if (!c->ip_ok)
		hsm_refuse(&c->w->hw, c->l, frame, len, TKM_ERR_IP, &wr);
	else if (rc == TKM_ERR_FRAME_LEN)
		hsm_answer_error(c->l, frame, len, rc, &wr);
	else
		hsm_dispatch(&c->w->hw, c->l, frame, len, &wr);
	/* No answer is possible (cmd.h): close, as protocol.md §1 says. */
	rc = wr.len > 0 && evbuffer_add(out, wr.p, wr.len) == 0
		 ? TKM_OK
		 : TKM_ERR_INTERNAL;
	tkm_cleanse(wr.p, wr.len);
	return rc;
}

/*
 * The frame deadline. The timer runs only while part of a frame is
 * buffered: a read that ends on a frame boundary (the usual case) costs
 * nothing. A frame that began in this read (fresh: frames were completed
 * before it) gets a new deadline; one that merely grew keeps its own, so
 * dribbling bytes does not extend it.
 */
static void
conn_deadline(struct conn *c, int partial, int fresh)
{
	struct timeval tv = {(time_t)c->w->srv->st->cfg->frame_timeout, 0};

	if (c->deadline == NULL)
		return;
	if (!partial) {
		if (c->deadline_on)
			evtimer_del(c->deadline);
		c->deadline_on = 0;
		return;
	}
	if (c->deadline_on && !fresh)
		return;
	evtimer_add(c->deadline, &tv);
	c->deadline_on = 1;
}

/* A frame was not complete in time: close, with at most one log line per
 * EVICT_LOG seconds and worker (a slowloris attack is many of them). */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct worker *w = c->w;
	struct timespec now;

	(void)fd;
	(void)what;
	w->evicted++;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!w->evicted_logged || now.tv_sec - w->evict_log_at >= EVICT_LOG) {
		hsm_log(
		    "worker %u: frame-timeout: closed %s, its frame "
		    "incomplete after %u s (%llu such closes by this worker)",
		    w->id, c->peer, w->srv->st->cfg->frame_timeout, w->evicted);
		w->evicted_logged = 1;
		w->evict_log_at = now.tv_sec;
	}
	conn_free(c);
}

/*
 * Feed the input to the framer and answer every complete frame, until the
 * input is empty or the output is above the high-water mark (then reading
 * pauses; conn_write resumes it). Returns -1 if c was freed.
 */
static int
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	const uint8_t *frame;
	size_t len, used;
	int rc, framed = 0;

	while (evbuffer_get_length(out) < HIGH_WATER &&
	       evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		rc = tkm_framer_feed(
		    &c->fr, v.iov_base, v.iov_len, &used, &frame, &len);
		/* frame points into the framer's buffer, not into in. */
		evbuffer_drain(in, used);
		if (rc == 0 && used > 0)
			continue;
		if (rc == 0 || conn_answer(c, frame, len, rc) != TKM_OK) {
			conn_free(c);
			return -1;
		}
		framed = 1;
	}
	if (evbuffer_get_length(out) >= HIGH_WATER) {
		bufferevent_disable(c->bev, EV_READ);
		/* Not read because of us: no deadline until reading resumes. */
		conn_deadline(c, 0, 0);
	} else {
		/* The framer holds the bytes of an unfinished frame. */
		conn_deadline(c, c->fr.have > 0, framed);
	}
	return 0;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)conn_process(arg);
}

/* The output drained to LOW_WATER (or to 0 while closing). */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		/* What was left in the input raises no new read event. */
		(void)conn_process(c);
	}
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* A client may send its requests and shut down its side:
		 * it still gets its answers. */
		c->closing = 1;
		bufferevent_disable(bev, EV_READ);
		conn_deadline(c, 0, 0); /* that frame can never end */
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		return;
	}
	conn_free(c);
}

/* "ADDR:PORT" ("[ADDR6]:PORT") of a client, or "?" if not IP. */
static void
peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) != NULL)
		snprintf(out, cap, "%s:%u", a, ntohs(s4->sin_port));
	else if (sa->sa_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)) != NULL)
		snprintf(out, cap, "[%s]:%u", a, ntohs(s6->sin6_port));
	else
		snprintf(out, cap, "?");
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct lref *r = arg;
	struct worker *w = r->w;
	const struct hsm_config *cfg = w->srv->st->cfg;
	struct timeval tv = {(time_t)cfg->idle_timeout, 0};
	struct conn *c;
	int one = 1;

	(void)lis;
	(void)salen;
	if (w->nconns >= cfg->max_conns || (c = calloc(1, sizeof(*c))) == NULL)
		goto refuse;
	if (tkm_framer_init(&c->fr, r->l->max_frame, r->l->hdrlen + 2) !=
	    TKM_OK) {
		free(c);
		goto refuse;
	}
	c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		tkm_framer_cleanup(&c->fr);
		free(c);
		goto refuse;
	}
	if (cfg->frame_timeout > 0 &&
	    (c->deadline = evtimer_new(w->base, on_deadline, c)) == NULL) {
		bufferevent_free(c->bev); /* closes fd */
		tkm_framer_cleanup(&c->fr);
		free(c);
		return;
	}
	/* Small answers to small requests: do not wait for Nagle. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->l = r->l;
	c->ip_ok =
	    hsm_listener_allows_addr(hsm_listener_live(w->srv->st, r->l), sa);
	peer_name(sa, c->peer, sizeof(c->peer));
	LIST_INSERT_HEAD(&w->conns, c, link);
	w->nconns++;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, LOW_WATER, 0);
	if (cfg->idle_timeout > 0)
		bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ);
	return;
refuse:
	evutil_closesocket(fd);
}

/* --- listeners ---------------------------------------------------------- */

static void
set_listening(struct worker *w, int on)
{
	size_t i;

	for (i = 0; i < HSM_MAX_LISTENERS; i++) {
		if (w->lis[i] == NULL)
			continue;
		if (on)
			evconnlistener_enable(w->lis[i]);
		else
			evconnlistener_disable(w->lis[i]);
	}
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	set_listening(arg, 1);
}

/* accept() failed (most likely out of descriptors): stop accepting for a
 * moment instead of spinning on a socket that stays readable. */
static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct lref *r = arg;
	struct timeval tv = {0, ACCEPT_PAUSE * 1000};

	(void)lis;
	hsm_log("worker %u: accept: %s", r->w->id, strerror(errno));
	set_listening(r->w, 0);
	evtimer_add(r->w->resume, &tv);
}

static int
make_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return TKM_OK;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return TKM_OK;
	}
	return TKM_ERR_INPUT;
}

/*
 * SO_REUSEPORT lets any process of the same user join a port. Binding a
 * socket without it first makes a second daemon on the same port fail
 * instead of silently sharing the clients.
 */
static int
port_is_free(const struct sockaddr *sa, socklen_t len)
{
	int fd, one = 1, ok;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, sa, len) == 0;
	close(fd);
	return ok;
}

static unsigned
bound_port(struct evconnlistener *lis)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(
		evconnlistener_get_fd(lis), (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Listener i in every worker; worker 0 first, so that port 0 becomes one
 * ephemeral port that the others then join. */
static int
open_listener(struct hsm_server *s, size_t i)
{
	const unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
			       LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT;
	const struct hsm_listener_cfg *l = &s->st->cfg->listeners[i];
	struct sockaddr_storage ss;
	struct worker *w;
	socklen_t len;
	unsigned k;

	if (make_sockaddr(l->addr, l->port, &ss, &len) != TKM_OK)
		return TKM_ERR_INPUT;
	if (l->port != 0 && !port_is_free((struct sockaddr *)&ss, len)) {
		hsm_log("listen %s:%u: %s", l->addr, l->port, strerror(errno));
		return TKM_ERR_IO;
	}
	for (k = 0; k < s->nworkers; k++) {
		w = &s->w[k];
		w->refs[i].w = w;
		w->refs[i].l = l;
		w->lis[i] =
		    evconnlistener_new_bind(w->base, on_accept, &w->refs[i],
			flags, BACKLOG, (struct sockaddr *)&ss, (int)len);
		if (w->lis[i] == NULL) {
			hsm_log("listen %s:%u: %s", l->addr, l->port,
			    strerror(errno));
			return TKM_ERR_IO;
		}
		evconnlistener_set_error_cb(w->lis[i], on_accept_error);
		if (k == 0) {
			s->ports[i] = bound_port(w->lis[i]);
			if (make_sockaddr(l->addr, s->ports[i], &ss, &len) !=
			    TKM_OK)
				return TKM_ERR_INTERNAL;
		}
	}
	return TKM_OK;
}

/* --- workers ------------------------------------------------------------ */

/*
 * Stopping goes through an event rather than a bare event_base_loopbreak()
 * from the main thread: a break requested before the worker entered its
 * loop would be forgotten when the loop starts; an activated event is not.
 */
static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(w->base);
}

/* DK was retired (zeroise): close the key store and drop the cached keys
 * now, not at the next command, which may never come. */
static void
on_sync(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	hsm_worker_sync(&w->hw);
}

/* Called by hsm_dk_retire() from the management thread. */
static void
kick(void *arg)
{
	struct worker *w = arg;

	event_active(w->sync, 0, 0);
}

static int
worker_init(struct hsm_server *s, unsigned id)
{
	struct worker *w = &s->w[id];
	int rc;

	w->srv = s;
	w->id = id;
	LIST_INIT(&w->conns);
	if ((w->base = event_base_new()) == NULL ||
	    (w->resume = evtimer_new(w->base, on_resume, w)) == NULL ||
	    (w->stop = event_new(w->base, -1, 0, on_stop, w)) == NULL ||
	    (w->sync = event_new(w->base, -1, 0, on_sync, w)) == NULL ||
	    (w->out = malloc(OUT_CAP)) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_worker_init(&w->hw, s->st)) != TKM_OK) {
		hsm_log("worker %u: %s", id, tkm_strerror(rc));
		return rc;
	}
	hsm_worker_set_kick(&w->hw, kick, w);
	w->hw_ok = 1;
	return TKM_OK;
}

static void
worker_cleanup(struct worker *w)
{
	size_t i;

	while (!LIST_EMPTY(&w->conns))
		conn_free(LIST_FIRST(&w->conns));
	for (i = 0; i < HSM_MAX_LISTENERS; i++)
		if (w->lis[i] != NULL)
			evconnlistener_free(w->lis[i]);
	if (w->resume != NULL)
		event_free(w->resume);
	if (w->stop != NULL)
		event_free(w->stop);
	if (w->sync != NULL)
		event_free(w->sync);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->hw_ok)
		hsm_worker_cleanup(&w->hw);
	if (w->out != NULL) {
		tkm_cleanse(w->out, OUT_CAP);
		free(w->out);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	if (event_base_dispatch(w->base) != 0 ||
	    !event_base_got_break(w->base)) {
		/* The loop must only end by hsm_server_wait(): wake it. */
		hsm_log("worker %u: event loop failed", w->id);
		atomic_store(&w->srv->failed, 1);
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

static unsigned
worker_count(const struct hsm_config *cfg)
{
	long n;

	if (cfg->workers > 0)
		return cfg->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_AUTO ? MAX_AUTO : (unsigned)n;
}

/* --- server ------------------------------------------------------------- */

int
hsm_server_new(struct hsm_state *st, struct hsm_server **out)
{
	struct hsm_server *s;
	unsigned k;
	size_t i;
	int rc;

	*out = NULL;
	if (evthread_use_pthreads() != 0)
		return TKM_ERR_INTERNAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TKM_ERR_NOMEM;
	s->st = st;
	s->nworkers = worker_count(st->cfg);
	if ((s->w = calloc(s->nworkers, sizeof(*s->w))) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	for (k = 0; k < s->nworkers; k++)
		if ((rc = worker_init(s, k)) != TKM_OK)
			goto out;
	for (i = 0; i < st->cfg->nlisteners; i++)
		if ((rc = open_listener(s, i)) != TKM_OK)
			goto out;
	*out = s;
	s = NULL;
	rc = TKM_OK;
out:
	hsm_server_free(s);
	return rc;
}

unsigned
hsm_server_port(const struct hsm_server *s, size_t i)
{
	return i < HSM_MAX_LISTENERS ? s->ports[i] : 0;
}

int
hsm_server_start(struct hsm_server *s)
{
	unsigned k;

	sigemptyset(&s->sigs);
	sigaddset(&s->sigs, SIGTERM);
	sigaddset(&s->sigs, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &s->sigs, NULL) != 0)
		return TKM_ERR_INTERNAL;
	for (k = 0; k < s->nworkers; k++) {
		if (pthread_create(
			&s->w[k].thread, NULL, worker_main, &s->w[k]) != 0) {
			hsm_log("worker %u: cannot start a thread", k);
			return TKM_ERR_NOMEM;
		}
		s->w[k].started = 1;
	}
	return TKM_OK;
}

static void
stop_workers(struct hsm_server *s)
{
	unsigned k;

	for (k = 0; s->w != NULL && k < s->nworkers; k++)
		if (s->w[k].started)
			event_active(s->w[k].stop, 0, 0);
	for (k = 0; s->w != NULL && k < s->nworkers; k++) {
		if (s->w[k].started)
			pthread_join(s->w[k].thread, NULL);
		s->w[k].started = 0;
	}
}

int
hsm_server_wait(struct hsm_server *s)
{
	int sig = 0;

	if (sigwait(&s->sigs, &sig) != 0)
		sig = 0;
	stop_workers(s);
	return atomic_load(&s->failed) ? 0 : sig;
}

void
hsm_server_free(struct hsm_server *s)
{
	unsigned k;

	if (s == NULL)
		return;
	/* Threads still running (start failed half-way) are stopped first. */
	stop_workers(s);
	for (k = 0; s->w != NULL && k < s->nworkers; k++)
		worker_cleanup(&s->w[k]);
	free(s->w);
	free(s);
}
