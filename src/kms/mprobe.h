/*
 * mprobe.h - what the KMS reads from an HSM's management port: the PUBLIC
 * `status` op (docs/management.md), for the state NC cannot tell — the
 * authorised state that key-management commands need.
 *
 * Plain TCP only: a management port off the loopback is TLS with a
 * certificate the KMS has no trust anchor for, and the KMS then reports
 * the state as unknown rather than speak to it unverified.
 */
#ifndef KMS_MPROBE_H
#define KMS_MPROBE_H

#include "tkm/err.h"

#define KMS_MPROBE_FRAME_MAX 65536 /* the status answer is far smaller */

struct kms_mstatus {
	int sealed;     /* 0, 1 */
	int authorised; /* 0, 1 */
};

/*
 * Ask host:port (a numeric loopback address, 127.0.0.0/8 or ::1, else
 * TKM_ERR_INPUT: a name could resolve anywhere)
 * for status within timeout_ms. TKM_ERR_IO/TIMEOUT/CLOSED when it cannot
 * be reached, TKM_ERR_DATA_LEN or TKM_ERR_INPUT for an answer that is
 * not a status.
 */
int kms_mprobe_status(const char *host, unsigned port, int timeout_ms,
    struct kms_mstatus *out) TKM_MUST_CHECK;

#endif
