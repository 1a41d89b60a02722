/*
 * config.c - the tkms-hsmd configuration file (docs/hsmd.md).
 *
 * One setting a line, words separated by blanks, '#' starts a comment:
 *   workers N | idle-timeout SECONDS | frame-timeout SECONDS | max-conns N
 *   listen ADDR:PORT [header=N] [max-frame=N] [commands=C1,C2,...]
 *                    [ip=NET,NET,...]
 *   manage ADDR:PORT [tls-cert=FILE tls-key=FILE]
 *   seal local|quorum|dev
 * ADDR is a numeric IPv4 address or an IPv6 address in brackets; NET is an
 * address with an optional /PREFIX. The file is read through tkm_rd like
 * any other untrusted input, and the first bad line stops the load with
 * its number and a static reason.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "tkm/buf.h"

#define CONFIG_MAX_SIZE (1 << 20) /* a config file is small */
#define WORD_MAX        63        /* longest address or value we copy */
#define MAX_WORKERS     256
#define MAX_CONNS       65536

struct parse {
	struct hsm_config *cfg;
	int listen_seen; /* the first listen line replaces the default */
	const char *why;
};

/* Consume n bytes the caller has looked at already (n <= rd->len). */
static void
skip(struct tkm_rd *rd, size_t n)
{
	int rc = tkm_rd_bytes(rd, NULL, n);

	assert(rc == TKM_OK);
	(void)rc;
}

static int
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next blank-separated word of the line; an empty reader at the end. */
static struct tkm_rd
next_word(struct tkm_rd *line)
{
	struct tkm_rd w;
	size_t n = 0;

	while (line->len > 0 && is_blank(line->p[0]))
		skip(line, 1);
	while (n < line->len && !is_blank(line->p[n]))
		n++;
	w = tkm_rd_of(line->p, n);
	skip(line, n);
	return w;
}

static int
word_is(const struct tkm_rd *w, const char *s)
{
	return w->len == strlen(s) && memcmp(w->p, s, w->len) == 0;
}

/* Copy a word into a NUL-terminated string (for inet_pton). */
static int
word_str(const struct tkm_rd *w, char *out, size_t cap)
{
	if (w->len == 0 || w->len >= cap)
		return TKM_ERR_INPUT;
	memcpy(out, w->p, w->len);
	out[w->len] = '\0';
	return TKM_OK;
}

/* A decimal number in min..max, nothing else in the word. */
static int
word_uint(const struct tkm_rd *w, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	*out = 0;
	if (w->len == 0 || w->len > 9)
		return TKM_ERR_INPUT;
	for (i = 0; i < w->len; i++) {
		if (w->p[i] < '0' || w->p[i] > '9')
			return TKM_ERR_INPUT;
		v = v * 10 + (unsigned)(w->p[i] - '0');
	}
	if (v < min || v > max)
		return TKM_ERR_INPUT;
	*out = (unsigned)v;
	return TKM_OK;
}

/* Split "a,b,c" (or lines at '\n'): the next item, consumed with its
 * separator; the rest when there is no separator left. */
static struct tkm_rd
next_item(struct tkm_rd *list, uint8_t sep)
{
	struct tkm_rd item;

	if (tkm_rd_until(list, sep, &item) != TKM_OK) {
		item = *list;
		skip(list, list->len);
	}
	return item;
}

/* ADDR or [ADDR6], then :PORT, into addr (64 bytes) and port. */
static int
parse_endpoint(
    struct parse *ps, struct tkm_rd w, char addr_out[64], unsigned *port_out)
{
	struct tkm_rd addr, port;
	uint8_t tmp[16];
	size_t i;
	int family = AF_INET;

	ps->why = "expected ADDR:PORT or [ADDR6]:PORT";
	if (tkm_rd_accept(&w, '[')) {
		if (tkm_rd_until(&w, ']', &addr) != TKM_OK ||
		    !tkm_rd_accept(&w, ':'))
			return TKM_ERR_INPUT;
		family = AF_INET6;
	} else {
		/* The last colon: an unbracketed IPv6 address is refused by
		 * inet_pton below. */
		for (i = w.len; i > 0 && w.p[i - 1] != ':'; i--)
			;
		if (i == 0)
			return TKM_ERR_INPUT;
		addr = tkm_rd_of(w.p, i - 1);
		skip(&w, i);
	}
	port = w;
	if (word_str(&addr, addr_out, 64) != TKM_OK ||
	    inet_pton(family, addr_out, tmp) != 1) {
		ps->why = "not a numeric IPv4 or [IPv6] address";
		return TKM_ERR_INPUT;
	}
	if (word_uint(&port, 0, 65535, port_out) != TKM_OK) {
		ps->why = "port must be 0..65535";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

int
hsm_endpoint_parse(
    const char *s, char addr[64], unsigned *port, const char **why)
{
	struct parse ps = {NULL, 0, NULL};
	int rc;

	rc = parse_endpoint(&ps, tkm_rd_of(s, strlen(s)), addr, port);
	*why = ps.why;
	return rc;
}

static int
parse_commands(struct parse *ps, struct tkm_rd v, struct hsm_listener_cfg *l)
{
	struct tkm_rd item;
	char code[3];

	while (v.len > 0) {
		item = next_item(&v, ',');
		if (item.len != 2) {
			ps->why = "a command code has two characters";
			return TKM_ERR_INPUT;
		}
		memcpy(code, item.p, 2);
		code[2] = '\0';
		if (hsm_cmd_find(code) == NULL) {
			ps->why = "no such command in commands=";
			return TKM_ERR_INPUT;
		}
		if (l->ncmds == HSM_MAX_CMDS) {
			ps->why = "too many commands";
			return TKM_ERR_INPUT;
		}
		memcpy(l->cmds[l->ncmds++], code, 3);
	}
	if (l->ncmds == 0) {
		ps->why = "empty commands=";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* ADDR or ADDR/PREFIX, IPv4 or IPv6 (no brackets). */
static int
parse_net(struct tkm_rd item, struct hsm_net *net)
{
	struct tkm_rd addr = item, prefix = tkm_rd_of(NULL, 0);
	char s[WORD_MAX + 1];
	unsigned max;

	memset(net, 0, sizeof(*net));
	if (tkm_rd_until(&item, '/', &addr) == TKM_OK) {
		prefix = item;
		if (prefix.len == 0)
			return TKM_ERR_INPUT;
	}
	if (word_str(&addr, s, sizeof(s)) != TKM_OK)
		return TKM_ERR_INPUT;
	if (inet_pton(AF_INET, s, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, s, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else {
		return TKM_ERR_INPUT;
	}
	net->prefix = max;
	if (prefix.len > 0)
		return word_uint(&prefix, 0, max, &net->prefix);
	return TKM_OK;
}

static int
parse_ips(struct parse *ps, struct tkm_rd v, struct hsm_listener_cfg *l)
{
	struct tkm_rd item;

	while (v.len > 0) {
		item = next_item(&v, ',');
		if (l->nnets == HSM_MAX_NETS) {
			ps->why = "too many networks in ip=";
			return TKM_ERR_INPUT;
		}
		if (parse_net(item, &l->nets[l->nnets]) != TKM_OK) {
			ps->why = "ip= wants ADDR or ADDR/PREFIX, IPv4 or IPv6";
			return TKM_ERR_INPUT;
		}
		l->nnets++;
	}
	if (l->nnets == 0) {
		ps->why = "empty ip=";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* One NAME=VALUE option of a listen line. */
static int
parse_option(struct parse *ps, struct tkm_rd w, struct hsm_listener_cfg *l,
    unsigned *seen)
{
	static const char *const names[] = {
	    "header", "max-frame", "commands", "ip"};
	struct tkm_rd name;
	unsigned i, v;

	if (tkm_rd_until(&w, '=', &name) != TKM_OK) {
		ps->why = "expected NAME=VALUE after the address";
		return TKM_ERR_INPUT;
	}
	for (i = 0; i < 4 && !word_is(&name, names[i]); i++)
		;
	if (i == 4) {
		ps->why = "unknown listen option";
		return TKM_ERR_INPUT;
	}
	if (*seen & (1u << i)) {
		ps->why = "listen option given twice";
		return TKM_ERR_INPUT;
	}
	*seen |= 1u << i;
	switch (i) {
	case 0:
		/* h + 2 bytes of an oversized frame are kept to answer it
		 * (server.c), and the framer keeps at most TKM_WIRE_MAX_HDR. */
		ps->why = "header must be 0..30";
		if (word_uint(&w, 0, TKM_WIRE_MAX_HDR - 2, &v) != TKM_OK)
			return TKM_ERR_INPUT;
		l->hdrlen = v;
		return TKM_OK;
	case 1:
		ps->why = "max-frame must be 64..65535";
		if (word_uint(&w, 64, TKM_WIRE_LIMIT, &v) != TKM_OK)
			return TKM_ERR_INPUT;
		l->max_frame = v;
		return TKM_OK;
	case 2:
		return parse_commands(ps, w, l);
	default:
		return parse_ips(ps, w, l);
	}
}

static void
listener_defaults(struct hsm_listener_cfg *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->addr, "127.0.0.1", sizeof("127.0.0.1"));
	l->port = 1500;
	l->hdrlen = 8;
	l->max_frame = TKM_WIRE_DEFAULT_MAX;
}

static int
parse_listen(struct parse *ps, struct tkm_rd *line)
{
	struct hsm_config *cfg = ps->cfg;
	struct hsm_listener_cfg *l;
	struct tkm_rd w;
	unsigned seen = 0;
	int rc;

	if (!ps->listen_seen)
		cfg->nlisteners = 0;
	ps->listen_seen = 1;
	if (cfg->nlisteners == HSM_MAX_LISTENERS) {
		ps->why = "too many listen lines";
		return TKM_ERR_INPUT;
	}
	l = &cfg->listeners[cfg->nlisteners];
	listener_defaults(l);
	if ((rc = parse_endpoint(ps, next_word(line), l->addr, &l->port)) !=
	    TKM_OK)
		return rc;
	while ((w = next_word(line)).len > 0) {
		if ((rc = parse_option(ps, w, l, &seen)) != TKM_OK)
			return rc;
	}
	cfg->nlisteners++;
	return TKM_OK;
}

/* tls-cert=FILE or tls-key=FILE of a manage line, each at most once. */
static int
parse_tls_option(struct parse *ps, struct tkm_rd w, struct hsm_mgmt_cfg *m)
{
	struct tkm_rd name;
	char *dst;

	ps->why = "manage options are tls-cert=FILE and tls-key=FILE";
	if (tkm_rd_until(&w, '=', &name) != TKM_OK)
		return TKM_ERR_INPUT;
	if (word_is(&name, "tls-cert"))
		dst = m->tls_cert;
	else if (word_is(&name, "tls-key"))
		dst = m->tls_key;
	else
		return TKM_ERR_INPUT;
	if (dst[0] != '\0') {
		ps->why = "manage option given twice";
		return TKM_ERR_INPUT;
	}
	if (word_str(&w, dst, sizeof(m->tls_cert)) != TKM_OK) {
		ps->why = "empty file name, or longer than 255 bytes";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/*
 * The management listener carries admin passwords and card signatures:
 * off the machine it must be TLS, and TLS needs both files.
 */
static int
parse_manage(struct parse *ps, struct tkm_rd *line)
{
	struct hsm_mgmt_cfg *m = &ps->cfg->manage;
	struct tkm_rd w;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = parse_endpoint(ps, next_word(line), m->addr, &m->port)) !=
	    TKM_OK)
		return rc;
	while ((w = next_word(line)).len > 0)
		if ((rc = parse_tls_option(ps, w, m)) != TKM_OK)
			return rc;
	if ((m->tls_cert[0] == '\0') != (m->tls_key[0] == '\0')) {
		ps->why = "tls-cert= and tls-key= go together";
		return TKM_ERR_INPUT;
	}
	if (m->tls_cert[0] == '\0' && !hsm_addr_is_loopback(m->addr)) {
		ps->why = "a manage address other than loopback needs "
			  "tls-cert= and tls-key=";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* seal local|quorum|dev (docs/seal.md). */
static int
parse_seal(struct parse *ps, struct tkm_rd *line)
{
	static const char *const names[] = {"local", "quorum", "dev"};
	struct tkm_rd w = next_word(line);
	int i;

	ps->why = "seal must be local, quorum or dev";
	for (i = 0; i < 3; i++)
		if (word_is(&w, names[i]) && next_word(line).len == 0) {
			ps->cfg->seal = i; /* enum hsm_seal_mode order */
			return TKM_OK;
		}
	return TKM_ERR_INPUT;
}

/* A keyword with one number: workers, idle-timeout, frame-timeout,
 * max-conns. */
static int
parse_number(struct parse *ps, struct tkm_rd *line, unsigned min, unsigned max,
    const char *why, unsigned *out)
{
	struct tkm_rd w = next_word(line);

	ps->why = why;
	if (word_uint(&w, min, max, out) != TKM_OK)
		return TKM_ERR_INPUT;
	if (next_word(line).len > 0) {
		ps->why = "unexpected word after the value";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
parse_line(struct parse *ps, struct tkm_rd line)
{
	struct hsm_config *cfg = ps->cfg;
	struct tkm_rd kw, comment;

	if (line.len > 0 && memchr(line.p, '\0', line.len) != NULL) {
		ps->why = "NUL byte in the line";
		return TKM_ERR_INPUT;
	}
	if (tkm_rd_until(&line, '#', &comment) == TKM_OK)
		line = comment;
	kw = next_word(&line);
	if (kw.len == 0)
		return TKM_OK;
	if (word_is(&kw, "listen"))
		return parse_listen(ps, &line);
	if (word_is(&kw, "manage"))
		return parse_manage(ps, &line);
	if (word_is(&kw, "seal"))
		return parse_seal(ps, &line);
	if (word_is(&kw, "workers"))
		return parse_number(ps, &line, 0, MAX_WORKERS,
		    "workers must be 0..256 (0 = one per core)", &cfg->workers);
	if (word_is(&kw, "idle-timeout"))
		return parse_number(ps, &line, 0, 86400,
		    "idle-timeout must be 0..86400 seconds",
		    &cfg->idle_timeout);
	if (word_is(&kw, "frame-timeout"))
		return parse_number(ps, &line, 0, 86400,
		    "frame-timeout must be 0..86400 seconds",
		    &cfg->frame_timeout);
	if (word_is(&kw, "max-conns"))
		return parse_number(ps, &line, 1, MAX_CONNS,
		    "max-conns must be 1..65536", &cfg->max_conns);
	ps->why = "unknown keyword";
	return TKM_ERR_INPUT;
}

void
hsm_config_defaults(struct hsm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	listener_defaults(&cfg->listeners[0]);
	cfg->nlisteners = 1;
	cfg->workers = 0;
	cfg->idle_timeout = 300;
	cfg->frame_timeout = 10;
	cfg->max_conns = 1024;
	memcpy(cfg->manage.addr, "127.0.0.1", sizeof("127.0.0.1"));
	cfg->manage.port = 1501;
}

/* The whole file into a heap buffer of at most CONFIG_MAX_SIZE bytes. */
static int
read_file(const char *path, uint8_t **out, size_t *outlen)
{
	FILE *f;
	uint8_t *buf;
	size_t n;
	int rc = TKM_ERR_IO;

	*out = NULL;
	*outlen = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return TKM_ERR_IO;
	if ((buf = malloc(CONFIG_MAX_SIZE + 1)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, CONFIG_MAX_SIZE + 1, f);
	if (ferror(f) || n > CONFIG_MAX_SIZE) {
		free(buf);
		goto out;
	}
	*out = buf;
	*outlen = n;
	rc = TKM_OK;
out:
	fclose(f);
	return rc;
}

int
hsm_config_load(
    const char *path, struct hsm_config *cfg, unsigned *line, const char **why)
{
	struct parse ps = {cfg, 0, NULL};
	struct tkm_rd rd, l;
	uint8_t *text;
	size_t len;
	int rc;

	*line = 0;
	*why = NULL;
	if ((rc = read_file(path, &text, &len)) != TKM_OK) {
		*why = "cannot read the file (missing, unreadable or over "
		       "1 MiB)";
		return rc;
	}
	rd = tkm_rd_of(text, len);
	while (rd.len > 0) {
		(*line)++;
		l = next_item(&rd, '\n');
		if ((rc = parse_line(&ps, l)) != TKM_OK) {
			*why = ps.why;
			goto out;
		}
	}
	*line = 0;
	rc = TKM_OK;
out:
	free(text);
	return rc;
}

int
hsm_addr_is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int
hsm_listener_allows_cmd(const struct hsm_listener_cfg *l, const char *cmd)
{
	size_t i;

	if (l->ncmds == 0)
		return 1;
	for (i = 0; i < l->ncmds; i++)
		if (memcmp(l->cmds[i], cmd, 2) == 0)
			return 1;
	return 0;
}

/* Do the first prefix bits of a and b agree? */
static int
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xFF << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int
hsm_listener_allows_addr(
    const struct hsm_listener_cfg *l, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	const uint8_t *a;
	int family = sa->sa_family;
	size_t i;

	if (l->nnets == 0)
		return 1;
	if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)
			->sin_addr;
	} else if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d;
		 * match them against the IPv4 networks. */
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			family = AF_INET;
			a += sizeof(v4mapped);
		}
	} else {
		return 0;
	}
	for (i = 0; i < l->nnets; i++)
		if (l->nets[i].family == family &&
		    prefix_eq(a, l->nets[i].addr, l->nets[i].prefix))
			return 1;
	return 0;
}
