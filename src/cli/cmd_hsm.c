/*
 * cmd_hsm.c - `tkms hsm ...`: talk to tkms-hsmd.
 *
 *   tkms hsm cmd [--header-len N | --header TEXT] [--timeout MS] [--hex]
 *                HOST:PORT COMMAND
 *
 * sends one host command (protocol.md §1) and prints the answer. Exit
 * status: 0 on ERR 00, 1 on any other ERR, 2 on usage or connection
 * errors.
 *
 * The management console (status, login, keys ... ) is cmd_hsm_admin.c;
 * admin cards are cmd_card.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tkm/buf.h"
#include "tkm/client.h"
#include "tkm/err.h"
#include "tkm/wire.h"

#define DEFAULT_TIMEOUT 5000

struct call_opts {
	size_t hdrlen;
	const char *header; /* fixed header, or NULL for a counter */
	int timeout_ms;
	int hex;
	char host[256];
	unsigned port;
	const char *command;
};

static void
cmd_usage(FILE *f)
{
	fprintf(f, "usage: tkms hsm cmd [--header-len N | --header TEXT] "
		   "[--timeout MS] [--hex]\n"
		   "                    HOST:PORT COMMAND\n"
		   "  e.g. tkms hsm cmd 127.0.0.1:1500 NC\n");
}

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' &&
	       *out <= max;
}

/* HOST:PORT or [IPV6]:PORT. */
static int
parse_endpoint(const char *s, char *host, size_t cap, unsigned *port)
{
	const char *colon, *h = s, *hend;
	unsigned long p;

	if (s[0] == '[') {
		h = s + 1;
		if ((hend = strchr(h, ']')) == NULL || hend[1] != ':')
			return 0;
		colon = hend + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return 0;
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= cap ||
	    !parse_uint(colon + 1, 65535, &p) || p == 0)
		return 0;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = (unsigned)p;
	return 1;
}

static int
parse_call_opts(int argc, char **argv, struct call_opts *o)
{
	static const struct option longopts[] = {
	    {"header-len", required_argument, NULL, 'l'},
	    {"header", required_argument, NULL, 'H'},
	    {"timeout", required_argument, NULL, 't'},
	    {"hex", no_argument, NULL, 'x'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->hdrlen = 8;
	o->timeout_ms = DEFAULT_TIMEOUT;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (!parse_uint(optarg, TKM_WIRE_MAX_HDR, &v))
				return 0;
			o->hdrlen = v;
			break;
		case 'H':
			o->header = optarg;
			break;
		case 't':
			if (!parse_uint(optarg, 3600000, &v) || v == 0)
				return 0;
			o->timeout_ms = (int)v;
			break;
		case 'x':
			o->hex = 1;
			break;
		default:
			return 0;
		}
	}
	if (o->header != NULL) {
		if (strlen(o->header) > TKM_WIRE_MAX_HDR)
			return 0;
		o->hdrlen = strlen(o->header);
	}
	if (argc - optind != 2 ||
	    !parse_endpoint(argv[optind], o->host, sizeof(o->host), &o->port))
		return 0;
	o->command = argv[optind + 1];
	return 1;
}

/* The text of a wire error code: the first cause that maps to it. */
static const char *
wire_text(const char code[2])
{
	int e;

	for (e = TKM_OK; e > TKM_ERR__LAST; e--)
		if (memcmp(tkm_err_wire(e), code, 2) == 0)
			return tkm_strerror(e);
	return "unknown error code";
}

/* Printable ASCII as is, anything else as \xNN. */
static void
print_escaped(const char *label, const uint8_t *p, size_t n)
{
	size_t i;

	printf("%-9s", label);
	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02X", p[i]);
	}
	putchar('\n');
}

static void
print_answer(
    const struct call_opts *o, const uint8_t *hdr, const uint8_t *r, size_t n)
{
	print_escaped("header", hdr, o->hdrlen);
	print_escaped("response", r, n < 2 ? n : 2);
	if (n < 4)
		return;
	printf("%-9s%.2s %s\n", "error", (const char *)r + 2,
	    wire_text((const char *)r + 2));
	if (n > 4)
		print_escaped("fields", r + 4, n - 4);
}

/* The request after the header: the argument, or its hex decoding. */
static int
request_bytes(const struct call_opts *o, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(o->command);

	if (o->hex)
		return tkm_hex_decode(o->command, n, out, cap, len);
	if (n > cap)
		return TKM_ERR_SPACE;
	memcpy(out, o->command, n);
	*len = n;
	return TKM_OK;
}

static int
hsm_call(int argc, char **argv)
{
	static uint8_t req[TKM_WIRE_LIMIT], resp[TKM_WIRE_LIMIT];
	uint8_t hdr[TKM_WIRE_MAX_HDR];
	struct tkm_client *c = NULL;
	struct call_opts o;
	size_t i, len, rlen;
	int rc;

	if (!parse_call_opts(argc, argv, &o)) {
		cmd_usage(stderr);
		return 2;
	}
	if ((rc = request_bytes(&o, req, sizeof(req), &len)) != TKM_OK) {
		fprintf(
		    stderr, "tkms hsm cmd: COMMAND: %s\n", tkm_strerror(rc));
		return 2;
	}
	/* Without --header: "1234...", the ministry clients' "12345678"
	 * when h is 8. */
	for (i = 0; i < o.hdrlen; i++)
		hdr[i] = o.header != NULL ? (uint8_t)o.header[i]
					  : (uint8_t)('1' + i % 9);
	rc = tkm_client_new(o.host, o.port, o.hdrlen, o.timeout_ms, &c);
	if (rc == TKM_OK)
		rc = tkm_client_call_hdr(
		    c, hdr, req, len, resp, sizeof(resp), &rlen);
	tkm_client_free(c);
	if (rc != TKM_OK) {
		fprintf(stderr, "tkms hsm cmd: %s:%u: %s\n", o.host, o.port,
		    tkm_strerror(rc));
		return 2;
	}
	print_answer(&o, hdr, resp, rlen);
	return rlen >= 4 && memcmp(resp + 2, "00", 2) == 0 ? 0 : 1;
}

static const struct cli_cmd hsm_commands[] = {
    {"cmd", hsm_call, "send one host command and print the answer"},
    /* The management console (cmd_hsm_admin.c, docs/management.md). */
    {"status", cmd_hsm_admin, "the HSM's state (management port)"},
    {"call", cmd_hsm_admin, "run one management op: call OP '{json}'"},
    {"login", cmd_hsm_admin, "log a role in with its card and password"},
    {"logout", cmd_hsm_admin, "log one role (or all) out"},
    {"enrol", cmd_hsm_admin, "enrol a role's card and password"},
    {"card", cmd_hsm_card, "make an admin card: card new --role R --out F"},
    {"keys", cmd_hsm_admin, "keys list|delete (C)"},
    {"auth", cmd_hsm_admin, "authorised state: auth open|close (C)"},
    {"audit", cmd_hsm_admin, "audit show|verify|export|checkpoint (D)"},
    {"time", cmd_hsm_admin, "time get (B, D) | set (B)"},
    {"whitelist", cmd_hsm_admin, "whitelist get (B, C) | set"},
    {"dk", cmd_hsm_admin,
	"device key: dk component|combine|restore (A1-A3) | export (C)"},
    {"unseal", cmd_hsm_admin, "unseal with A1+A2+A3 logged in"},
    {"tk", cmd_hsm_admin, "transport key: tk component|combine|initial (C)"},
    {"backup", cmd_hsm_admin, "key library backup create|restore (C)"},
    {"mkey", cmd_hsm_admin,
	"maintenance key pair: mkey generate|import (A1-A3) | show"},
    {"password", cmd_hsm_admin,
	"password set --role R [--issuer-code 8 DIGITS] (own; others A1-A3)"},
    {"zeroise", cmd_hsm_admin, "destroy every key (A1+A2+A3)"},
    {"net", cmd_hsm_admin, "business listeners: net get|set (B)"},
};

int
cmd_hsm(int argc, char **argv)
{
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(hsm_commands) / sizeof(hsm_commands[0]);
		     i++)
			if (strcmp(argv[1], hsm_commands[i].name) == 0)
				return hsm_commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: tkms hsm COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(hsm_commands) / sizeof(hsm_commands[0]); i++)
		fprintf(stderr, "  %-12s %s\n", hsm_commands[i].name,
		    hsm_commands[i].help);
	return 2;
}
