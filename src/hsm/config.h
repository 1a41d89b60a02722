/*
 * config.h - tkms-hsmd configuration (docs/hsmd.md): listeners with their
 * framing, limits and whitelists, workers, timeouts.
 */
#ifndef HSM_CONFIG_H
#define HSM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tkm/err.h"

#define HSM_MAX_LISTENERS 8
#define HSM_MAX_CMDS      64
#define HSM_MAX_NETS      32

/* An IPv4 or IPv6 network: address and prefix length. */
struct hsm_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct hsm_listener_cfg {
	char addr[64];              /* numeric IPv4/IPv6 address */
	unsigned port;              /* 0 = ephemeral (tests) */
	size_t hdrlen;              /* header length h, default 8 */
	size_t max_frame;           /* default TKM_WIRE_DEFAULT_MAX */
	char cmds[HSM_MAX_CMDS][3]; /* whitelist; none = every command */
	size_t ncmds;
	struct hsm_net nets[HSM_MAX_NETS]; /* IP whitelist; none = any */
	size_t nnets;
};

/* The management listener (mgmt.h): `manage ADDR:PORT [tls-cert=F
 * tls-key=F]`; TLS is required unless ADDR is a loopback address. */
struct hsm_mgmt_cfg {
	char addr[64];
	unsigned port;      /* 0 = ephemeral */
	char tls_cert[256]; /* required unless addr is loopback */
	char tls_key[256];
};

/* Where DK comes from at start (`seal local|quorum|dev`, docs/seal.md). */
enum hsm_seal_mode { HSM_SEAL_LOCAL = 0, HSM_SEAL_QUORUM, HSM_SEAL_DEV };

struct hsm_config {
	struct hsm_listener_cfg listeners[HSM_MAX_LISTENERS];
	size_t nlisteners;
	unsigned workers;      /* 0 = number of cores */
	unsigned idle_timeout; /* seconds; 0 = none */
	/* Seconds a frame may take from its first byte to its last; 0 =
	 * none. idle-timeout alone restarts on every byte, so a client
	 * dribbling an endless frame would hold its connection forever. */
	unsigned frame_timeout;
	unsigned max_conns; /* per worker */
	struct hsm_mgmt_cfg manage;
	int seal; /* enum hsm_seal_mode, default local */
};

/* Defaults: one listener 127.0.0.1:1500, h = 8, no whitelists; manage
 * 127.0.0.1:1501 without TLS. */
void hsm_config_defaults(struct hsm_config *cfg);
/* Read a config file over the defaults; on error *line is the bad line and
 * why a static text. */
int hsm_config_load(const char *path, struct hsm_config *cfg, unsigned *line,
    const char **why) TKM_MUST_CHECK;

/* 1 if addr (numeric) is 127.0.0.0/8 or ::1. */
int hsm_addr_is_loopback(const char *addr);
/* "ADDR:PORT" or "[ADDR6]:PORT" as in a listen line: TKM_ERR_INPUT with
 * *why if it is not one. */
int hsm_endpoint_parse(const char *s, char addr[64], unsigned *port,
    const char **why) TKM_MUST_CHECK;

int hsm_listener_allows_cmd(const struct hsm_listener_cfg *l, const char *cmd);
int hsm_listener_allows_addr(
    const struct hsm_listener_cfg *l, const struct sockaddr *sa);

#endif
