/*
 * health.h - the KMS's periodic health check (DESIGN §6, issue: "health
 * from periodic NC"): every interval, NC to every active HSM, the outcome
 * recorded in its row (kms_fleet_check) and a log line when an HSM's
 * health changes, so that the fleet view and the web console show the
 * state of the last minute, not of the last flow.
 *
 * The loop runs on a thread of its own with its own database connection.
 * Several tkms-kmsd sharing a database each check: harmless (the row
 * holds the newest answer).
 */
#ifndef KMS_HEALTH_H
#define KMS_HEALTH_H

#include <stddef.h>

#include "kdb.h"
#include "tkm/err.h"

#define KMS_HEALTH_INTERVAL 60 /* seconds, default */

/* What one round found. */
struct kms_watch_round {
	size_t checked; /* active HSMs asked */
	size_t ok;      /* answered with health "ok" */
	size_t changed; /* whose health differs from before the round */
};

/*
 * One round over every active HSM (timeout_ms per NC; <= 0: the fleet
 * default). An HSM that does not answer is a finding, not an error: the
 * return is TKM_OK unless the database fails. Changes are logged with
 * kms_log.
 */
int kms_watch_round(
    struct kdb *db, int timeout_ms, struct kms_watch_round *out) TKM_MUST_CHECK;

struct kms_watch;

/* Start the loop (first round at once, then every interval seconds) on
 * db_url (kdb_open's argument, not copied). */
int kms_watch_start(const char *db_url, unsigned interval, int timeout_ms,
    struct kms_watch **out) TKM_MUST_CHECK;
/* Stop it: wakes the thread and joins it (a round under way finishes
 * its current NC first). NULL is a no-op. */
void kms_watch_stop(struct kms_watch *h);

#endif
