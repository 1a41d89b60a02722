/*
 * fleet.h - the KMS's HSMs: their rows in kdb (table hsms,
 * docs/kms-schema.md), a health check by NC, and host commands sent to one
 * of them with every failure turned into a sentence a key manager can act
 * on (docs/kms-flows.md).
 *
 * The KMS reaches HSMs only through the host-command protocol
 * (docs/protocol.md, DESIGN §6), so that any HSM speaking it can serve.
 *
 * Errors: TKM_OK or a negative enum tkm_err; `why` (why_len bytes, may be
 * NULL) receives a message naming the HSM. The causes a caller tells apart:
 *   TKM_ERR_IO, TKM_ERR_TIMEOUT, TKM_ERR_CLOSED  the HSM is unreachable
 *   TKM_ERR_SEALED      ERR 13: no DK loaded
 *   TKM_ERR_NOT_AUTH    ERR 17: key-management command outside the
 *                       authorised state
 *   TKM_ERR_WHITELIST   ERR 68: command not on the listener's whitelist
 *   TKM_ERR_IP          ERR 69: the KMS's address not on the IP whitelist
 *   anything else       the HSM's ERR mapped to the first cause with that
 *                       wire code (docs/errors.md), or a kdb failure.
 */
#ifndef KMS_FLEET_H
#define KMS_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "kdb.h"
#include "tkm/client.h"
#include "tkm/err.h"

#define KMS_WHY            512   /* message buffers, with the NUL */
#define KMS_HSM_TIMEOUT_MS 10000 /* default limit per host command */
#define KMS_FIRMWARE_LEN   9     /* NC: firmware 9A */
#define KMS_KCV_HEX        16    /* KCV field on the wire, 16H */

/* One row of hsms. Strings are NUL-terminated; "" for SQL NULL. */
struct kms_hsm {
	int64_t id;
	char name[128];
	char role[24]; /* root, provincial_business, clearing, city, standby */
	int64_t city_id; /* 0: none */
	char host[256];
	unsigned port;
	unsigned header_len;
	char mgmt_host[256];
	unsigned mgmt_port; /* 0: none */
	char serial[64];
	char dk_kcv[KMS_KCV_HEX + 1];
	char health[16]; /* unknown, ok, sealed, unreachable, error */
	int64_t last_nc; /* 0: never answered */
	char state[16];  /* active, retired */
	int authorised;  /* -1 unknown, 0, 1: the management port's status */
};

/*
 * Add an HSM. Reads name, role, city_id, host, port, header_len,
 * mgmt_host ("" none), mgmt_port (0 none) and serial ("" none) of h; the
 * rest starts as unknown. Business and city HSMs MUST name a city, the
 * others MUST NOT. TKM_ERR_INPUT for a value the table refuses (an
 * existing name or host:port: "exists").
 */
int kms_fleet_add(struct kdb *db, const struct kms_hsm *h, int64_t *id,
    char *why, size_t why_len) TKM_MUST_CHECK;

/* One HSM by id; TKM_ERR_NO_KEY when there is none. */
int kms_fleet_get(struct kdb *db, int64_t id, struct kms_hsm *out, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* Every HSM, by id. *out is malloc'ed (free() it; NULL when *n is 0). */
int kms_fleet_list(struct kdb *db, struct kms_hsm **out, size_t *n, char *why,
    size_t why_len) TKM_MUST_CHECK;

/* What NC told. */
struct kms_health {
	char health[16];                     /* as recorded in hsms.health */
	char dk_kcv[KMS_KCV_HEX + 1];        /* "" when not answered */
	char firmware[KMS_FIRMWARE_LEN + 1]; /* "" when not answered */
	int64_t last_nc;                     /* 0 when not answered */
	unsigned latency_ms;
	int authorised; /* -1 unknown (no plain management port on the
			   loopback, or no answer), 0, 1 */
};

/*
 * Send NC to the HSM and record the outcome in its row: health, last_nc
 * and dk_kcv. Returns TKM_OK for a healthy HSM; TKM_ERR_SEALED for one
 * that answers with a zero DK KCV (sealed); a transport error when it is
 * unreachable (health "unreachable"); TKM_ERR_VERIFY when its DK KCV
 * differs from the one recorded before (health "error", the recorded KCV
 * kept: another device or another DK answers at that address). When the
 * HSM has a management port on the loopback, its status tells the
 * authorised state (mprobe.h; recorded, NULL when unknown). The row is
 * updated in every case but a kdb failure.
 */
int kms_fleet_check(struct kdb *db, int64_t id, int timeout_ms,
    struct kms_health *out, char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * A connection to one HSM: the row and a client (client.h) made from it.
 * kms_link_open does not connect yet; timeout_ms <= 0 means
 * KMS_HSM_TIMEOUT_MS. kms_link_close on a zeroed or closed link is a
 * no-op.
 */
struct kms_link {
	struct kms_hsm hsm;
	struct tkm_client *c;
	int verified; /* NC answered with the recorded DK KCV */
};

int kms_link_open(
    struct kms_link *l, const struct kms_hsm *h, int timeout_ms) TKM_MUST_CHECK;
void kms_link_close(struct kms_link *l);

/*
 * Is the device at the link's address the HSM the KMS recorded? NC, and
 * its DK KCV compared with hsms.dk_kcv: TKM_ERR_VERIFY (why names both
 * KCVs) when another device or another DK answers, TKM_ERR_SEALED for a
 * sealed one. An HSM never checked (no KCV recorded) passes: the first
 * check (kms_fleet_check, every health round) records it. kms_link_cmd
 * calls this before the first command of a link, so that no flow sends
 * a key to, or takes an answer from, a device swapped in at the address
 * (or a row moved to another one); callers that use l->c directly call
 * it themselves.
 */
int kms_link_verify(
    struct kms_link *l, char *why, size_t why_len) TKM_MUST_CHECK;

/*
 * One host command: req is the command code and fields (NUL-terminated
 * text, no header). On TKM_OK, resp (cap bytes, NUL-terminated) holds the
 * fields after the response code and ERR "00", *rlen their length. An ERR
 * other than "00" returns its cause (see above) with *err_code set to the
 * two digits (NULL allowed), and why says which HSM refused what and why.
 * The response buffer is wiped on every failure path.
 */
int kms_link_cmd(struct kms_link *l, const char *req, char *resp, size_t cap,
    size_t *rlen, char err_code[3], char *why, size_t why_len) TKM_MUST_CHECK;

/* True for the transport failures (unreachable HSM). */
int kms_err_unreachable(int err);

#endif
