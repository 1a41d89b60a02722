/*
 * api.h - the routes of tkms-kmsd (docs/api.md) behind http.h: sessions,
 * users, institutions, proposals and audit.
 *
 * Each pool thread of the HTTP server opens its own database connection
 * on its first request (a struct kdb is for one thread) and closes it
 * when the thread ends.
 */
#ifndef KMS_API_H
#define KMS_API_H

#include <pthread.h>
#include <stdint.h>

#include "http.h"
#include "tkm/err.h"

struct kms_api {
	const char *db_url; /* kdb_open's argument; not copied */
	int64_t idle;       /* session idle expiry, seconds */
	pthread_key_t key;  /* the thread's struct kdb */
	/* Requests that wait for HSMs (approvals that execute a flow, NC
	 * checks, destruction checks) run on the pool's threads: at most
	 * slow_max at once, so that a thread stays free for everything else
	 * (503 past that). kms_api_init sets 1; the server sets it from its
	 * pool size. */
	unsigned slow_max, slow_now;
	pthread_mutex_t slow_mu;
};

int kms_api_init(
    struct kms_api *a, const char *db_url, int64_t idle) TKM_MUST_CHECK;
/* After kms_http_stop(): the pool threads' connections are closed. */
void kms_api_cleanup(struct kms_api *a);
/* The kms_handler for kms_http_start(), arg the struct kms_api. */
void kms_api_handle(
    void *arg, const struct kms_req *req, struct kms_resp *resp);

#endif
