/*
 * kms_client.h - the HTTP client of `tkms kms ...` (docs/api.md): a
 * minimal HTTP/1.1 client (plain TCP to the loopback, one request per
 * connection, bounded answers) and the session file that keeps the
 * bearer token between runs (mode 0600).
 *
 * Shared by cmd_kms.c (sessions, users, proposals, audit),
 * cmd_kms_keys.c (HSMs, keys, issuance, lifecycle, records) and
 * cmd_kms_maint.c (maintenance applications).
 */
#ifndef TKMS_KMS_CLIENT_H
#define TKMS_KMS_CLIENT_H

#include <jansson.h>

#define KCLI_DEFAULT_URL "http://127.0.0.1:8600"
#define KCLI_TOKEN_MAX   64

struct kms {
	char host[256], port[8];
	char session_path[512];
	char token[KCLI_TOKEN_MAX + 1];
};

/* http://HOST:PORT into k; -1 after a message. */
int kcli_set_url(struct kms *k, const char *url);
/* The token from k->session_path ("" when there is none). */
void kcli_session_load(struct kms *k);
int kcli_session_store(struct kms *k, const char *token);

/*
 * Set up k from --url / --session (NULL: $TKMS_KMS_URL, then the
 * default; $TKMS_KMS_SESSION, then ./.tkms-kms-session) and load the
 * token. -1 after a message.
 */
int kcli_init(struct kms *k, const char *url, const char *session);

/*
 * One request; *status and *out (the decoded body, NULL if it was not
 * JSON) on success. Returns 0, or -1 after a message. The request holds
 * passwords and the token: it is wiped.
 */
int kcli_http_call(const struct kms *k, const char *method, const char *path,
    json_t *body, int *status, json_t **out);
/* Print the answer; 0 for 2xx, 1 for a refusal (its message on stderr),
 * 2 when the exchange failed. */
int kcli_report(int status, json_t *ans);
/* kcli_http_call and kcli_report: the exit status. body is not stolen. */
int kcli_call(
    const struct kms *k, const char *method, const char *path, json_t *body);
/* 1 if s is a decimal id of 1..18 digits. */
int kcli_id_ok(const char *s);

#endif
