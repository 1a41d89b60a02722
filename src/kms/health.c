/*
 * health.c - the periodic health check (health.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "health.h"
#include "http.h"

struct kms_watch {
	const char *db_url;
	unsigned interval;
	int timeout_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

int
kms_watch_round(struct kdb *db, int timeout_ms, struct kms_watch_round *out)
{
	struct kms_hsm *hs = NULL;
	struct kms_health h;
	char why[KMS_WHY];
	size_t n = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = kms_fleet_list(db, &hs, &n, why, sizeof(why))) != TKM_OK) {
		kms_log("health: %s", why);
		return rc;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(hs[i].state, "active") != 0)
			continue;
		out->checked++;
		rc = kms_fleet_check(
		    db, hs[i].id, timeout_ms, &h, why, sizeof(why));
		if (rc == TKM_OK)
			out->ok++;
		if (h.health[0] == '\0') { /* not even asked */
			kms_log("health: HSM %s: %s", hs[i].name, why);
			continue;
		}
		if (strcmp(h.health, hs[i].health) == 0)
			continue;
		out->changed++;
		kms_log("health: HSM %s (%s): %s -> %s%s%s", hs[i].name,
		    hs[i].role, hs[i].health, h.health,
		    strcmp(h.health, "ok") != 0 ? ": " : "",
		    strcmp(h.health, "ok") != 0 ? why : "");
	}
	free(hs);
	return TKM_OK;
}

static void *
loop(void *arg)
{
	struct kms_watch *h = arg;
	struct kms_watch_round r;
	struct kdb *db = NULL;
	struct timespec until;
	char why[KDB_WHY];

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		pthread_mutex_unlock(&h->mu);
		/* (Re)connect each round that lacks a connection: a
		 * PostgreSQL restart must not end the checks. */
		if (db == NULL &&
		    kdb_open(h->db_url, &db, why, sizeof(why)) != TKM_OK) {
			kms_log("health: database: %s", why);
			db = NULL;
		}
		if (db != NULL &&
		    kms_watch_round(db, h->timeout_ms, &r) != TKM_OK) {
			kdb_close(db);
			db = NULL;
		}
		pthread_mutex_lock(&h->mu);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += h->interval;
		while (!h->stop && pthread_cond_timedwait(
				       &h->cv, &h->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&h->mu);
	kdb_close(db);
	return NULL;
}

int
kms_watch_start(const char *db_url, unsigned interval, int timeout_ms,
    struct kms_watch **out)
{
	struct kms_watch *h;
	pthread_condattr_t ca;

	*out = NULL;
	if (interval == 0)
		return TKM_ERR_INPUT;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return TKM_ERR_NOMEM;
	h->db_url = db_url;
	h->interval = interval;
	h->timeout_ms = timeout_ms;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&h->thread, NULL, loop, h) != 0) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return TKM_ERR_NOMEM;
	}
	*out = h;
	return TKM_OK;
}

void
kms_watch_stop(struct kms_watch *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
