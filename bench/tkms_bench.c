/*
 * tkms-bench - load generator for tkms-hsmd (docs/benchmarks.md).
 *
 *   tkms-bench HOST:PORT [-c conns] [-p depth] [-d secs | -n total]
 *       [-w secs] [-m mix] [-t threads] [-r ops/s] [--header-len N]
 *       [--setup] [--store N] [--churn N] [--rss-pid PID]
 *       [--rss-every secs]
 *
 * c connections spread over t threads, each thread an epoll loop of its
 * own (like redis-benchmark, and like the daemon's workers). Every
 * connection keeps p requests in flight; with -r the threads send on a
 * fixed schedule instead (open loop) and a request's latency counts from
 * its scheduled time, so a server that falls behind shows it (no
 * coordinated omission). After w seconds of warm-up the answers of the
 * next d seconds are counted: ops/s and latency percentiles from a
 * log-linear histogram (1/64 relative precision), per command and
 * overall. Any answer with ERR other than 00, a wrong header echo, an
 * answer that differs from the one set-up got for the same request (all
 * commands but ew answer the same every time), a dropped connection or, with
 * -n, a request left unanswered is an error: reported, and the exit status
 * is 1.
 *
 * Soak: -n sends exactly n requests over all connections and waits for
 * every answer (instead of counting for d seconds); --churn N makes N
 * cycles of connect, one request, close, the c connections running such
 * cycles side by side; --rss-pid samples the server's VmRSS and open
 * descriptors from /proc every --rss-every seconds while the load runs and
 * prints the curve against the answers so far, so that memory or
 * descriptors that grow with the work show as a slope.
 *
 * --setup first creates the keys of every command at fixed indexes (the
 * daemon must be in the authorised state); --store N stores N keys with
 * A0 mode 2 (DES library indexes 000-FFF, then SM4), for measuring memory
 * with many keys. -d 0 runs the set-up steps only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tkm/buf.h"
#include "tkm/client.h"
#include "tkm/err.h"

#define MAX_CMDS    8
#define MAX_PAYLOAD 1024
#define RBUF_SIZE   (1 << 16)
#define MIX_MAX     256
#define SETUP_MS    60000 /* RSA-2048 generation may take a while */
#define DRAIN_NS    2000000000ull
#define IDLE_NS     100000000ull
#define STALL_NS    30000000000ull /* -n: no answer for so long fails */
#define SAMPLE_NS   50000000ull    /* --rss-pid: longest sleep */
#define REF_MAX     512

/* Log-linear histogram of nanoseconds: values below 128 exactly, above
 * in 64 steps per power of two. */
#define H_SUB     64
#define H_BUCKETS (58 * H_SUB + 2 * H_SUB)

struct hist {
	uint64_t n;
	uint64_t b[H_BUCKETS];
};

/* Fixed key indexes that --setup fills and the commands use. */
#define K_TAK "K001" /* DES and SM4 libraries: TAK, type 003 */
#define K_TK  "K002" /* DES: TK, type 000 */
#define K_SMI "K003" /* DES: MK-SMI, type 209 */
#define I_SM2 "01"
#define I_RSA "02"

#define FACTOR  "5810FF0012345678"
#define TACDATA "000003E806000000000001000000012025112310300000"

/* The requests a mix may name; built once, sent as they are. */
struct cmd {
	const char *name;
	char code[3];
	int fixed; /* the same request always gets the same answer */
	uint8_t payload[MAX_PAYLOAD];
	size_t len;
	unsigned weight;
	uint8_t ref[REF_MAX]; /* fixed: set-up's answer after the header */
	size_t reflen;        /* 0: not checked */
};

/* ew is the only one whose answer varies: an SM2 signature is random. */
static struct cmd cmds[] = {
    {.name = "nc", .code = "NC", .fixed = 1},
    {.name = "ub", .code = "UB", .fixed = 1},
    {.name = "ubs", .code = "UB", .fixed = 1},
    {.name = "u3", .code = "U3", .fixed = 1},
    {.name = "ew", .code = "EW", .fixed = 0},
    {.name = "ep", .code = "EP", .fixed = 1},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

struct opts {
	char host[256];
	unsigned port;
	unsigned conns, depth, threads;
	double secs, warm, rate;
	size_t hdrlen;
	int setup;
	unsigned store;
	const char *mix;
	uint64_t total; /* -n or --churn: requests in all; 0 = -d */
	int churn;      /* one connection per request */
	int rss_pid;    /* 0 = no sampling */
	double rss_every;
	struct sockaddr_storage sa; /* HOST:PORT, resolved once */
	socklen_t salen;
};

/* One request in flight: when it was (or should have been) sent. */
struct slot {
	uint64_t t;
	uint8_t cmd;
};

struct conn {
	int fd; /* -1 while closed (--churn, between cycles) */
	int dead;
	int want_out;
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	uint8_t rbuf[RBUF_SIZE];
	size_t rlen;
	struct slot *ring;
	size_t head, count;
	uint64_t sent, recvd; /* header counters */
	size_t mixpos;
};

struct worker {
	pthread_t tid;
	const struct opts *o;
	struct conn *conns;
	size_t nconn, rr;
	int ep;
	uint64_t t_rec, t_end; /* counting window, CLOCK_MONOTONIC ns */
	uint64_t next_due, interval;
	int stopping;
	uint64_t ops[MAX_CMDS], errs[MAX_CMDS], broken;
	char first_err[64];
	struct hist *h;         /* MAX_CMDS histograms */
	size_t inflight;        /* over all connections */
	uint64_t last_progress; /* -n: last answer, or first send */
	uint64_t t_start, t_stop;
	uint64_t connects;
	atomic_uint_fast64_t done; /* answers; read by the RSS sampler */
};

static uint8_t mix_seq[MIX_MAX];
static size_t mix_len;
static pthread_barrier_t start_barrier;
static atomic_uint_fast64_t tickets; /* -n: requests handed out */
static atomic_int running;           /* workers still in their loop */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- histogram ----------------------------------------------------------- */

static size_t
h_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * H_SUB)
		return (size_t)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - 6; /* v >> shift in [64, 128) */
	return (size_t)shift * H_SUB + (size_t)(v >> shift);
}

/* Middle of bucket i. */
static double
h_value(size_t i)
{
	unsigned shift;
	uint64_t lo;

	if (i < 2 * H_SUB)
		return (double)i;
	shift = (unsigned)(i / H_SUB) - 1;
	lo = (uint64_t)(i % H_SUB + H_SUB) << shift;
	return (double)lo + (double)(1ull << shift) / 2;
}

static void
h_add(struct hist *h, uint64_t v)
{
	h->b[h_index(v)]++;
	h->n++;
}

static void
h_merge(struct hist *to, const struct hist *from)
{
	size_t i;

	for (i = 0; i < H_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
}

/* Percentile q (0..1) in microseconds; 0 for an empty histogram. */
static double
h_pct_us(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	size_t i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			break;
	}
	return h_value(i) / 1000.0;
}

/* --- requests ------------------------------------------------------------ */

static void
cmd_set(struct cmd *c, const char *text)
{
	c->len = strlen(text);
	memcpy(c->payload, text, c->len);
}

/* Append a 4N length and the bytes (the asymmetric commands' LV). */
static int
cmd_lv(struct cmd *c, const uint8_t *p, size_t n)
{
	char len[5];

	if (n > 9999 || c->len + 4 + n > MAX_PAYLOAD)
		return -1;
	snprintf(len, sizeof(len), "%04zu", n);
	memcpy(c->payload + c->len, len, 4);
	memcpy(c->payload + c->len + 4, p, n);
	c->len += 4 + n;
	return 0;
}

static int
cmd_str(struct cmd *c, const char *s)
{
	size_t n = strlen(s);

	if (c->len + n > MAX_PAYLOAD)
		return -1;
	memcpy(c->payload + c->len, s, n);
	c->len += n;
	return 0;
}

static struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/*
 * The fixed requests (docs/protocol.md):
 *   ub   TAC, scheme 2: DES TAK at K001, one derivation factor, 24 bytes
 *   ubs  the same under the SM4 library's K001
 *   u3   MK-SMI at K003 derived by one factor, exported under the TK at
 *        K002, ECB with the PBOC length byte (scheme 1)
 *   ew   SM2 signature of 32 bytes with the default ID, key 01
 *   ep   RSA-2048 PKCS#1 decryption with key 02 (payload made by ep_prepare)
 */
static void
cmds_build(void)
{
	static const uint8_t msg[32] = "tkms-bench SM2 signature message";

	cmd_set(cmd_find("nc"), "NC");
	cmd_set(cmd_find("ub"), "UBX02003" K_TAK "1" FACTOR "0"
				"0000000000000000"
				"023" TACDATA "04");
	cmd_set(cmd_find("ubs"), "UBS02003" K_TAK "1" FACTOR "0"
				 "00000000000000000000000000000000"
				 "023" TACDATA "04");
	cmd_set(cmd_find("u3"), "U3X01209" K_SMI "1" FACTOR "0" K_TK "N");
	cmd_set(cmd_find("ew"), "EW20070000");
	if (cmd_lv(cmd_find("ew"), msg, sizeof(msg)) != 0 ||
	    cmd_str(cmd_find("ew"), ";" I_SM2) != 0)
		abort();
}

/* Parse "nc:1,ub:4" (a weight may be left out: 1). */
static int
mix_parse(const char *spec)
{
	char buf[256], *tok, *save = NULL, *colon, *end;
	unsigned long w;
	struct cmd *c;

	if (strlen(spec) >= sizeof(buf))
		return -1;
	memcpy(buf, spec, strlen(spec) + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		w = 1;
		colon = strchr(tok, ':');
		if (colon != NULL) {
			*colon = '\0';
			errno = 0;
			w = strtoul(colon + 1, &end, 10);
			if (errno != 0 || *end != '\0' || w == 0 || w > 64)
				return -1;
		}
		if ((c = cmd_find(tok)) == NULL)
			return -1;
		c->weight += (unsigned)w;
	}
	return 0;
}

/* Smooth weighted round robin: the commands interleave in proportion. */
static int
mix_build(void)
{
	long cur[NCMDS] = {0}, total = 0;
	size_t i, best;

	for (i = 0; i < NCMDS; i++)
		total += cmds[i].weight;
	if (total == 0 || total > MIX_MAX)
		return -1;
	for (mix_len = 0; mix_len < (size_t)total; mix_len++) {
		best = NCMDS;
		for (i = 0; i < NCMDS; i++) {
			if (cmds[i].weight == 0)
				continue;
			cur[i] += cmds[i].weight;
			if (best == NCMDS || cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		mix_seq[mix_len] = (uint8_t)best;
	}
	return 0;
}

/* --- set-up through the library client ----------------------------------- */

/* Send text (or bytes), expect ERR 00 (or ok2); the answer after the
 * header in resp. */
static int
call(struct tkm_client *cl, const void *req, size_t len, const char *ok2,
    uint8_t *resp, size_t cap, size_t *rlen)
{
	char show[41];
	int e;

	e = tkm_client_call(cl, req, len, resp, cap, rlen);
	if (e != TKM_OK) {
		fprintf(stderr, "tkms-bench: %.2s: %s\n", (const char *)req,
		    tkm_strerror(e));
		return -1;
	}
	if (*rlen >= 4 && (memcmp(resp + 2, "00", 2) == 0 ||
			      (ok2 != NULL && memcmp(resp + 2, ok2, 2) == 0)))
		return 0;
	snprintf(show, sizeof(show), "%.*s", (int)(len < 40 ? len : 40),
	    (const char *)req);
	fprintf(stderr, "tkms-bench: %s... answered %.*s\n", show,
	    (int)(*rlen < 4 ? *rlen : 4), (const char *)resp);
	return -1;
}

static int
call_str(struct tkm_client *cl, const char *req, const char *ok2)
{
	uint8_t resp[8192];
	size_t rlen;

	return call(cl, req, strlen(req), ok2, resp, sizeof(resp), &rlen);
}

/* Keys at fixed indexes; an occupied index (21) is taken as set up. */
static int
setup_keys(struct tkm_client *cl)
{
	static const char *const reqs[] = {
	    "A02003X" K_TAK,
	    "A02003S" K_TAK,
	    "A02000X" K_TK,
	    "A02209X" K_SMI,
	    "EIS00256;" I_SM2,
	    "EIR0204801;" I_RSA,
	};
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (call_str(cl, reqs[i], "21") != 0)
			return -1;
	return 0;
}

/* EP decrypts a ciphertext made here, once, with ER under key 02. */
static int
ep_prepare(struct tkm_client *cl)
{
	static const uint8_t pt[16] = "session key 0123";
	struct cmd er = {.name = "er", .code = "ER"}, *ep = cmd_find("ep");
	uint8_t resp[8192];
	size_t rlen, n;

	cmd_set(&er, "ER0101");
	if (cmd_lv(&er, pt, sizeof(pt)) != 0 || cmd_str(&er, ";" I_RSA) != 0)
		return -1;
	if (call(cl, er.payload, er.len, NULL, resp, sizeof(resp), &rlen) != 0)
		return -1;
	/* ES00 | len 4N | ciphertext */
	if (rlen < 8 || sscanf((const char *)resp + 4, "%4zu", &n) != 1 ||
	    8 + n != rlen)
		return -1;
	cmd_set(ep, "EP0101");
	if (cmd_lv(ep, resp + 8, n) != 0 || cmd_str(ep, ";" I_RSA) != 0)
		return -1;
	return 0;
}

/* The answer set-up gets for each fixed request of the mix becomes the
 * one every answer must equal; an error answer is left to the run to
 * report. */
static int
refs_fetch(struct tkm_client *cl)
{
	uint8_t resp[8192];
	size_t i, rlen;

	for (i = 0; i < NCMDS; i++) {
		if (cmds[i].weight == 0 || !cmds[i].fixed)
			continue;
		if (tkm_client_call(cl, cmds[i].payload, cmds[i].len, resp,
			sizeof(resp), &rlen) != TKM_OK)
			return -1;
		if (rlen >= 4 && rlen <= REF_MAX &&
		    memcmp(resp + 2, "00", 2) == 0) {
			memcpy(cmds[i].ref, resp, rlen);
			cmds[i].reflen = rlen;
		}
	}
	return 0;
}

struct store_job {
	pthread_t tid;
	const struct opts *o;
	unsigned first, step;
	int failed;
};

/* Store keys first, first + step, ...: DES library 000-FFF, then SM4. */
static void *
store_run(void *arg)
{
	struct store_job *j = arg;
	struct tkm_client *cl = NULL;
	char req[32];
	unsigned i;

	if (tkm_client_new(j->o->host, j->o->port, j->o->hdrlen, SETUP_MS,
		&cl) != TKM_OK) {
		j->failed = 1;
		return NULL;
	}
	for (i = j->first; i < j->o->store && !j->failed; i += j->step) {
		snprintf(req, sizeof(req), "A02003%cK%03X",
		    i < 4096 ? 'X' : 'S', i % 4096);
		if (call_str(cl, req, "21") != 0)
			j->failed = 1;
	}
	tkm_client_free(cl);
	return NULL;
}

static int
store_keys(const struct opts *o)
{
	struct store_job jobs[64];
	unsigned i, n = o->threads < 64 ? o->threads : 64;
	int failed = 0;

	for (i = 0; i < n; i++) {
		jobs[i] = (struct store_job){.o = o, .first = i, .step = n};
		if (pthread_create(&jobs[i].tid, NULL, store_run, &jobs[i]))
			abort();
	}
	for (i = 0; i < n; i++) {
		pthread_join(jobs[i].tid, NULL);
		failed |= jobs[i].failed;
	}
	return failed ? -1 : 0;
}

static int
prepare(const struct opts *o)
{
	struct tkm_client *cl = NULL;
	int rc = -1;

	if (tkm_client_new(o->host, o->port, o->hdrlen, SETUP_MS, &cl) !=
	    TKM_OK)
		return -1;
	if (o->setup && setup_keys(cl) != 0)
		goto out;
	if (o->store > 0 && store_keys(o) != 0)
		goto out;
	if (o->secs > 0 || o->total > 0) {
		if (cmd_find("ep")->weight > 0 && ep_prepare(cl) != 0)
			goto out;
		if (refs_fetch(cl) != 0)
			goto out;
	}
	rc = 0;
out:
	tkm_client_free(cl);
	return rc;
}

/* --- connections --------------------------------------------------------- */

/* Blocking connect to the address resolve() chose. */
static int
tcp_connect(const struct opts *o)
{
	int fd, one = 1;

	fd = socket(o->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&o->sa, o->salen) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* HOST:PORT once, to the first address that takes a connection: --churn
 * connects thousands of times and must not ask the resolver each time. */
static int
resolve(struct opts *o)
{
	struct addrinfo hints = {0}, *ai = NULL, *a;
	char port[8];
	int fd;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", o->port);
	if (getaddrinfo(o->host, port, &hints, &ai) != 0)
		return -1;
	for (a = ai; a != NULL; a = a->ai_next) {
		if (a->ai_addrlen > sizeof(o->sa))
			continue;
		memcpy(&o->sa, a->ai_addr, a->ai_addrlen);
		o->salen = a->ai_addrlen;
		if ((fd = tcp_connect(o)) >= 0) {
			close(fd);
			break;
		}
	}
	freeaddrinfo(ai);
	return a != NULL ? 0 : -1;
}

/* -n: one more request may be sent. Without -n there is no limit. */
static int
take_ticket(const struct opts *o)
{
	if (o->total == 0)
		return 1;
	return atomic_fetch_add_explicit(&tickets, 1, memory_order_relaxed) <
	       o->total;
}

static int
tickets_left(const struct opts *o)
{
	return o->total == 0 ||
	       atomic_load_explicit(&tickets, memory_order_relaxed) < o->total;
}

/* The header of request number seq: its decimal digits, right-aligned. */
static void
put_header(uint8_t *p, size_t h, uint64_t seq)
{
	while (h-- > 0) {
		p[h] = (uint8_t)('0' + seq % 10);
		seq /= 10;
	}
}

/* Queue the connection's next request of the mix, sent "at" t. */
static void
conn_queue(struct worker *w, struct conn *c, uint64_t t)
{
	const struct cmd *cmd;
	size_t flen, i;
	uint8_t *p;

	i = mix_seq[c->mixpos];
	c->mixpos = (c->mixpos + 1) % mix_len;
	cmd = &cmds[i];
	flen = w->o->hdrlen + cmd->len;
	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if (c->wlen + 2 + flen > c->wcap) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	p = c->wbuf + c->wlen;
	p[0] = (uint8_t)(flen >> 8);
	p[1] = (uint8_t)flen;
	put_header(p + 2, w->o->hdrlen, c->sent++);
	memcpy(p + 2 + w->o->hdrlen, cmd->payload, cmd->len);
	c->wlen += 2 + flen;
	c->ring[(c->head + c->count) % w->o->depth] =
	    (struct slot){.t = t, .cmd = (uint8_t)i};
	c->count++;
	if (w->inflight++ == 0)
		w->last_progress = t;
}

static void
conn_kill(struct worker *w, struct conn *c, const char *why)
{
	if (c->dead)
		return;
	if (w->first_err[0] == '\0')
		snprintf(w->first_err, sizeof(w->first_err), "%s", why);
	w->broken++;
	c->dead = 1;
	w->inflight -= c->count;
	c->count = 0;
	if (c->fd >= 0) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

/* Connect (again) and start with a clean slate: the headers count from 0
 * on every connection. */
static int
conn_open(struct worker *w, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if ((c->fd = tcp_connect(w->o)) < 0)
		return -1;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->want_out = 0;
	c->rlen = c->wlen = c->woff = 0;
	c->head = c->count = 0;
	c->sent = c->recvd = 0;
	w->connects++;
	return 0;
}

/* A normal close: --churn, after the answer. */
static void
conn_close(struct worker *w, struct conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static void
conn_watch_out(struct worker *w, struct conn *c, int on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if (c->want_out == on)
		return;
	c->want_out = on;
	if (on)
		ev.events |= EPOLLOUT;
	epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_flush(struct worker *w, struct conn *c)
{
	ssize_t n;

	while (!c->dead && c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(w, c, "send failed");
			return;
		}
		c->woff += (size_t)n;
	}
	if (!c->dead)
		conn_watch_out(w, c, c->woff < c->wlen);
}

/*
 * One answer frame (after LEN):
 *   OFFSET  SIZE  FIELD
 *   0       h     header, echoing the request's
 *   h       2     response code: command code, second character + 1
 *   h+2     2     ERR
 */
static void
conn_answer(
    struct worker *w, struct conn *c, const uint8_t *f, size_t len, uint64_t t)
{
	size_t h = w->o->hdrlen;
	uint8_t want[32];
	struct slot s;
	const struct cmd *cmd;

	if (c->count == 0 || len < h + 4) {
		conn_kill(w, c, "unexpected or short answer");
		return;
	}
	s = c->ring[c->head];
	c->head = (c->head + 1) % w->o->depth;
	c->count--;
	w->inflight--;
	w->last_progress = t;
	atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
	cmd = &cmds[s.cmd];
	put_header(want, h, c->recvd++);
	if (memcmp(f, want, h) != 0 || f[h] != cmd->code[0] ||
	    f[h + 1] != cmd->code[1] + 1) {
		conn_kill(w, c, "header or response code not echoed");
		return;
	}
	if (f[h + 2] != '0' || f[h + 3] != '0') {
		w->errs[s.cmd]++;
		if (w->first_err[0] == '\0')
			snprintf(w->first_err, sizeof(w->first_err),
			    "%s answered %.4s", cmd->name, (const char *)f + h);
		return;
	}
	if (cmd->reflen > 0 && (len - h != cmd->reflen ||
				   memcmp(f + h, cmd->ref, cmd->reflen) != 0)) {
		w->errs[s.cmd]++;
		if (w->first_err[0] == '\0')
			snprintf(w->first_err, sizeof(w->first_err),
			    "%s answer differs from set-up's", cmd->name);
		return;
	}
	if (t >= w->t_rec && t < w->t_end) {
		w->ops[s.cmd]++;
		h_add(&w->h[s.cmd], t > s.t ? t - s.t : 0);
	}
}

static void
conn_read(struct worker *w, struct conn *c)
{
	size_t off = 0, flen;
	ssize_t n;
	uint64_t t;

	n = recv(
	    c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_kill(w, c, n == 0 ? "server closed" : "recv failed");
		return;
	}
	t = now_ns();
	c->rlen += (size_t)n;
	while (!c->dead && c->rlen - off >= 2) {
		flen = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
		if (c->rlen - off < 2 + flen)
			break;
		conn_answer(w, c, c->rbuf + off + 2, flen, t);
		off += 2 + flen;
	}
	if (c->dead)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

/* --churn: once the answer is in, close; if requests are left, connect
 * again and send the next one. */
static void
churn_next(struct worker *w, struct conn *c)
{
	if (c->dead || c->count > 0)
		return;
	conn_close(w, c);
	if (!take_ticket(w->o))
		return;
	if (conn_open(w, c) != 0) {
		conn_kill(w, c, "connect failed");
		return;
	}
	conn_queue(w, c, now_ns());
	conn_flush(w, c);
}

/* Closed loop: top the connection up to depth requests in flight. */
static void
conn_refill(struct worker *w, struct conn *c)
{
	uint64_t t = now_ns();

	if (w->o->churn) {
		churn_next(w, c);
		return;
	}
	while (!c->dead && c->count < w->o->depth && take_ticket(w->o))
		conn_queue(w, c, t);
	conn_flush(w, c);
}

/* Open loop: send what is due, each on the next connection with room. */
static void
pace(struct worker *w, uint64_t now)
{
	struct conn *c, *room;
	size_t tried;

	while (w->next_due <= now) {
		room = NULL;
		for (tried = 0; tried < w->nconn && room == NULL; tried++) {
			c = &w->conns[w->rr];
			w->rr = (w->rr + 1) % w->nconn;
			if (!c->dead && c->count < w->o->depth)
				room = c;
		}
		if (room == NULL)
			return; /* all full: late, and the latency shows it */
		if (!take_ticket(w->o)) {
			w->next_due = UINT64_MAX; /* -n: all sent */
			return;
		}
		c = room;
		conn_queue(w, c, w->next_due);
		conn_flush(w, c);
		w->next_due += w->interval;
	}
}

/* -n: done once nothing is in flight and nothing more can be sent. */
static int
soak_over(const struct worker *w)
{
	size_t i;

	if (w->inflight > 0)
		return 0;
	if (!tickets_left(w->o))
		return 1;
	for (i = 0; i < w->nconn; i++)
		if (!w->conns[i].dead)
			return 0;
	return 1; /* every connection broke: reported as errors */
}

/* -n: a server that stops answering must not hang the run. */
static void
check_stall(struct worker *w, uint64_t now)
{
	size_t i;

	if (w->inflight == 0 || now - w->last_progress < STALL_NS)
		return;
	for (i = 0; i < w->nconn; i++)
		if (w->conns[i].count > 0)
			conn_kill(w, &w->conns[i], "no answer for 30 s");
}

static void
on_event(struct worker *w, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
		conn_flush(w, c);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(w, c);
	if (!w->stopping && w->o->rate == 0)
		conn_refill(w, c);
}

static uint64_t
wait_ns(const struct worker *w, uint64_t now)
{
	uint64_t until = now + IDLE_NS;

	if (!w->stopping && w->t_end < until)
		until = w->t_end;
	if (!w->stopping && w->o->rate > 0 && w->next_due < until)
		until = w->next_due;
	return until > now ? until - now : 0;
}

static void
worker_loop(struct worker *w)
{
	struct epoll_event ev[64];
	struct timespec ts;
	uint64_t now, drain_end = 0, d;
	int i, n;
	size_t k;

	if (w->o->rate == 0)
		for (k = 0; k < w->nconn; k++)
			conn_refill(w, &w->conns[k]);
	for (;;) {
		now = now_ns();
		if (w->o->total > 0) {
			check_stall(w, now);
			if (soak_over(w))
				break;
		}
		if (!w->stopping && now >= w->t_end) {
			w->stopping = 1;
			drain_end = now + DRAIN_NS;
		}
		if (w->stopping && (w->inflight == 0 || now >= drain_end))
			break;
		if (!w->stopping && w->o->rate > 0)
			pace(w, now);
		d = wait_ns(w, now);
		ts.tv_sec = (time_t)(d / 1000000000ull);
		ts.tv_nsec = (long)(d % 1000000000ull);
		n = epoll_pwait2(w->ep, ev, 64, &ts, NULL);
		for (i = 0; i < n; i++)
			on_event(w, ev[i].data.ptr, ev[i].events);
	}
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t t0;

	pthread_barrier_wait(&start_barrier);
	t0 = now_ns();
	w->t_start = t0;
	if (w->o->total > 0) {
		/* -n counts every answer and ends when all are in. */
		w->t_rec = t0;
		w->t_end = UINT64_MAX;
	} else {
		w->t_rec = t0 + (uint64_t)(w->o->warm * 1e9);
		w->t_end = w->t_rec + (uint64_t)(w->o->secs * 1e9);
	}
	w->next_due = t0;
	worker_loop(w);
	w->t_stop = now_ns();
	atomic_fetch_sub(&running, 1);
	return NULL;
}

static int
worker_init(struct worker *w, const struct opts *o, size_t nconn, size_t first)
{
	struct conn *c;
	size_t i;

	w->o = o;
	w->nconn = nconn;
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (w->conns = calloc(nconn, sizeof(*w->conns))) == NULL ||
	    (w->h = calloc(MAX_CMDS, sizeof(*w->h))) == NULL)
		return -1;
	for (i = 0; i < nconn; i++)
		w->conns[i].fd = -1;
	if (o->rate > 0)
		w->interval = (uint64_t)(1e9 * o->threads / o->rate);
	for (i = 0; i < nconn; i++) {
		c = &w->conns[i];
		c->mixpos = (first + i) % mix_len;
		c->wcap =
		    (size_t)(o->depth + 1) * (2 + o->hdrlen + MAX_PAYLOAD);
		c->wbuf = malloc(c->wcap);
		c->ring = calloc(o->depth, sizeof(*c->ring));
		if (c->wbuf == NULL || c->ring == NULL)
			return -1;
		/* --churn connects as each cycle begins. */
		if (!o->churn && conn_open(w, c) != 0)
			return -1;
	}
	return 0;
}

static void
worker_free(struct worker *w)
{
	size_t i;

	for (i = 0; w->conns != NULL && i < w->nconn; i++) {
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
		free(w->conns[i].wbuf);
		free(w->conns[i].ring);
	}
	free(w->conns);
	free(w->h);
	if (w->ep > 0)
		close(w->ep);
}

/* --- report -------------------------------------------------------------- */

static void
print_row(const char *name, uint64_t ops, uint64_t errs, const struct hist *h,
    double secs)
{
	printf("%-6s %12.1f %10.1f %10.1f %10.1f %8llu\n", name,
	    (double)ops / secs, h_pct_us(h, 0.50), h_pct_us(h, 0.99),
	    h_pct_us(h, 0.999), (unsigned long long)errs);
}

static uint64_t
answers(struct worker *ws, size_t n)
{
	uint64_t sum = 0;
	size_t k;

	for (k = 0; k < n; k++)
		sum += atomic_load_explicit(&ws[k].done, memory_order_relaxed);
	return sum;
}

/* -n: from the first worker's start to the last one's end. */
static double
elapsed(const struct worker *ws, size_t n)
{
	uint64_t t0 = UINT64_MAX, t1 = 0;
	size_t k;

	for (k = 0; k < n; k++) {
		t0 = ws[k].t_start < t0 ? ws[k].t_start : t0;
		t1 = ws[k].t_stop > t1 ? ws[k].t_stop : t1;
	}
	return t1 > t0 ? (double)(t1 - t0) / 1e9 : 1e-9;
}

static int
report(const struct opts *o, struct worker *ws)
{
	static struct hist tot[MAX_CMDS], all;
	uint64_t ops[MAX_CMDS] = {0}, errs[MAX_CMDS] = {0}, sum = 0;
	uint64_t esum = 0, broken = 0, connects = 0, got;
	const char *why = NULL;
	double secs = o->total > 0 ? elapsed(ws, o->threads) : o->secs;
	size_t i, k;

	for (k = 0; k < o->threads; k++) {
		for (i = 0; i < NCMDS; i++) {
			ops[i] += ws[k].ops[i];
			errs[i] += ws[k].errs[i];
			h_merge(&tot[i], &ws[k].h[i]);
		}
		broken += ws[k].broken;
		connects += ws[k].connects;
		if (why == NULL && ws[k].first_err[0] != '\0')
			why = ws[k].first_err;
	}
	got = answers(ws, o->threads);
	printf("tkms-bench %s:%u connections %u pipeline %u threads %u "
	       "duration %.1f s rate %s mix %s\n",
	    o->host, o->port, o->conns, o->depth, o->threads, secs,
	    o->rate > 0 ? "limited" : "max", o->mix);
	if (o->total > 0)
		printf("answers %llu of %llu in %.1f s (%.0f/s), %llu "
		       "connections opened\n",
		    (unsigned long long)got, (unsigned long long)o->total, secs,
		    (double)got / secs, (unsigned long long)connects);
	printf("%-6s %12s %10s %10s %10s %8s\n", "cmd", "ops/s", "p50_us",
	    "p99_us", "p999_us", "errors");
	for (i = 0; i < NCMDS; i++) {
		if (cmds[i].weight == 0)
			continue;
		print_row(cmds[i].name, ops[i], errs[i], &tot[i], secs);
		h_merge(&all, &tot[i]);
		sum += ops[i];
		esum += errs[i];
	}
	print_row("all", sum, esum + broken, &all, secs);
	if (esum + broken == 0 && (o->total == 0 || got == o->total))
		return 0;
	fprintf(stderr,
	    "tkms-bench: %llu error answers, %llu broken connections, "
	    "%llu unanswered (first: %s)\n",
	    (unsigned long long)esum, (unsigned long long)broken,
	    (unsigned long long)(o->total > got ? o->total - got : 0),
	    why != NULL ? why : "?");
	return -1;
}

/* --- server memory (--rss-pid) ------------------------------------------- */

/* VmRSS in KiB and the number of open descriptors of pid (-1 if they
 * cannot be counted). */
static int
proc_sample(int pid, long *kib, long *fds)
{
	char path[64], line[256];
	struct dirent *e;
	FILE *f;
	DIR *d;

	*kib = -1;
	*fds = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			*kib = strtol(line + 6, NULL, 10);
	fclose(f);
	/* A daemon that is not dumpable keeps /proc/PID/fd root's: -1. */
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if ((d = opendir(path)) == NULL) {
		*fds = -1;
		return *kib >= 0 ? 0 : -1;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			(*fds)++;
	closedir(d);
	return *kib >= 0 ? 0 : -1;
}

static int
rss_line(const struct opts *o, struct worker *ws, uint64_t t)
{
	long kib, fds;

	if (proc_sample(o->rss_pid, &kib, &fds) != 0) {
		printf("rss: cannot read /proc/%d any more\n", o->rss_pid);
		return -1;
	}
	printf("rss %8.1f %12llu %8ld %6ld\n", (double)t / 1e9,
	    (unsigned long long)answers(ws, o->threads), kib, fds);
	fflush(stdout);
	return 0;
}

/*
 * While the workers run: one line every rss_every seconds, the first
 * before any load, the last once every answer is in (before the client
 * closes its connections).
 */
static void
rss_curve(const struct opts *o, struct worker *ws, uint64_t t0)
{
	uint64_t every = (uint64_t)(o->rss_every * 1e9), next = t0 + every;
	struct timespec ts = {0, (long)(every < SAMPLE_NS ? every : SAMPLE_NS)};
	uint64_t now;

	printf("rss-curve of pid %d every %.2f s: seconds answers rss_kib "
	       "fds\n",
	    o->rss_pid, o->rss_every);
	if (rss_line(o, ws, 0) != 0)
		return;
	while (atomic_load(&running) > 0) {
		nanosleep(&ts, NULL);
		now = now_ns();
		if (now < next)
			continue;
		if (rss_line(o, ws, now - t0) != 0)
			return;
		next += every;
	}
	(void)rss_line(o, ws, now_ns() - t0);
}

static int
run(const struct opts *o)
{
	struct worker *ws;
	size_t k, per, extra, first = 0;
	int rc = -1;

	if ((ws = calloc(o->threads, sizeof(*ws))) == NULL)
		return -1;
	per = o->conns / o->threads;
	extra = o->conns % o->threads;
	for (k = 0; k < o->threads; k++) {
		if (worker_init(&ws[k], o, per + (k < extra), first) != 0) {
			fprintf(stderr, "tkms-bench: cannot connect to %s:%u\n",
			    o->host, o->port);
			goto out;
		}
		first += per + (k < extra);
	}
	/* This thread passes the barrier too: t0 of the RSS curve. */
	pthread_barrier_init(&start_barrier, NULL, o->threads + 1);
	atomic_store(&running, (int)o->threads);
	for (k = 0; k < o->threads; k++)
		if (pthread_create(&ws[k].tid, NULL, worker_run, &ws[k]))
			abort();
	pthread_barrier_wait(&start_barrier);
	if (o->rss_pid > 0)
		rss_curve(o, ws, now_ns());
	for (k = 0; k < o->threads; k++)
		pthread_join(ws[k].tid, NULL);
	pthread_barrier_destroy(&start_barrier);
	rc = report(o, ws);
out:
	for (k = 0; k < o->threads; k++)
		worker_free(&ws[k]);
	free(ws);
	return rc;
}

/* --- options ------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tkms-bench HOST:PORT [-c connections] [-p depth] "
	    "[-d seconds | -n total]\n"
	    "       [-w warm-up seconds] [-m mix] [-t threads] [-r ops/s]\n"
	    "       [--header-len N] [--setup] [--store N] [--churn N]\n"
	    "       [--rss-pid PID] [--rss-every seconds]\n"
	    "mix: comma-separated name[:weight] of nc ub ubs u3 ew ep\n");
	exit(2);
}

static double
num_arg(const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage();
	return v;
}

static void
parse_target(const char *arg, struct opts *o)
{
	const char *colon = strrchr(arg, ':');
	size_t n;

	if (colon == NULL)
		usage();
	n = (size_t)(colon - arg);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		arg++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(o->host))
		usage();
	memcpy(o->host, arg, n);
	o->host[n] = '\0';
	o->port = (unsigned)num_arg(colon + 1, 1, 65535);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"header-len", required_argument, NULL, 'H'},
	    {"setup", no_argument, NULL, 'S'},
	    {"store", required_argument, NULL, 'K'},
	    {"churn", required_argument, NULL, 'C'},
	    {"rss-pid", required_argument, NULL, 'P'},
	    {"rss-every", required_argument, NULL, 'E'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){.conns = 16,
	    .depth = 1,
	    .threads = 1,
	    .secs = 10,
	    .warm = 1,
	    .hdrlen = 8,
	    .mix = "nc",
	    .rss_every = 1};
	while ((ch = getopt_long(argc, argv, "c:p:d:w:m:t:r:n:", lo, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			o->conns = (unsigned)num_arg(optarg, 1, 10000);
			break;
		case 'p':
			o->depth = (unsigned)num_arg(optarg, 1, 1024);
			break;
		case 'd':
			o->secs = num_arg(optarg, 0, 86400);
			break;
		case 'w':
			o->warm = num_arg(optarg, 0, 3600);
			break;
		case 'm':
			o->mix = optarg;
			break;
		case 't':
			o->threads = (unsigned)num_arg(optarg, 1, 256);
			break;
		case 'r':
			o->rate = num_arg(optarg, 1, 1e8);
			break;
		case 'H':
			o->hdrlen = (size_t)num_arg(optarg, 0, 30);
			break;
		case 'S':
			o->setup = 1;
			break;
		case 'K':
			o->store = (unsigned)num_arg(optarg, 1, 8192);
			break;
		case 'n':
		case 'C':
			if (o->total > 0)
				usage(); /* one of -n and --churn */
			o->total = (uint64_t)num_arg(optarg, 1, 1e12);
			o->churn = ch == 'C';
			break;
		case 'P':
			o->rss_pid = (int)num_arg(optarg, 1, 1 << 30);
			break;
		case 'E':
			o->rss_every = num_arg(optarg, 0.01, 3600);
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || (o->churn && o->rate > 0))
		usage();
	if (o->churn)
		o->depth = 1; /* one request per connection */
	parse_target(argv[optind], o);
	if (o->threads > o->conns)
		o->threads = o->conns;
}

int
main(int argc, char **argv)
{
	struct opts o;
	long kib, fds;

	parse_opts(argc, argv, &o);
	if (o.rss_pid > 0 && proc_sample(o.rss_pid, &kib, &fds) != 0) {
		fprintf(
		    stderr, "tkms-bench: cannot read /proc/%d\n", o.rss_pid);
		return 2;
	}
	if (resolve(&o) != 0) {
		fprintf(stderr, "tkms-bench: cannot connect to %s:%u\n", o.host,
		    o.port);
		return 1;
	}
	cmds_build();
	if (mix_parse(o.mix) != 0 || mix_build() != 0) {
		fprintf(stderr, "tkms-bench: bad mix '%s'\n", o.mix);
		return 2;
	}
	if (prepare(&o) != 0) {
		fprintf(stderr, "tkms-bench: set-up failed\n");
		return 1;
	}
	if (o.secs == 0 && o.total == 0)
		return 0;
	return run(&o) == 0 ? 0 : 1;
}
