/*
 * cli.h - subcommands of tkms. A subcommand gets argv starting at its own
 * name and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef TKMS_CLI_H
#define TKMS_CLI_H

#include <stddef.h>
#include <stdint.h>

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

int cmd_hsm(int argc, char **argv);
/* cmd_hsm_admin.c: the management console, argv[0] = its first word
 * (status, call, login, logout, enrol, keys, auth, audit, time,
 * whitelist, dk, unseal, tk). */
int cmd_hsm_admin(int argc, char **argv);
/* cmd_card.c: `tkms hsm card new ...` */
int cmd_hsm_card(int argc, char **argv);
/* cmd_mot.c: `tkms mot card new|import ...`, the ministry key import */
int cmd_mot(int argc, char **argv);
/* cmd_maint.c: `tkms maint request|sign|apply|show`, maintenance licences */
int cmd_maint(int argc, char **argv);
/* cmd_kms.c: `tkms kms ...`, the KMS API over HTTP (docs/api.md) */
int cmd_kms(int argc, char **argv);
/* cmd_kms_keys.c: `tkms kms hsm|templates|key|issue|issued|record ...`,
 * argv[0] the subcommand (docs/api.md) */
int cmd_kms_hsm(int argc, char **argv);
int cmd_kms_templates(int argc, char **argv);
int cmd_kms_key(int argc, char **argv);
int cmd_kms_issue(int argc, char **argv);
int cmd_kms_issued(int argc, char **argv);
int cmd_kms_record(int argc, char **argv);
/* cmd_kms_maint.c: `tkms kms maint ...`, maintenance applications */
int cmd_kms_maint(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_demo(int argc, char **argv); /* cmd_demo.c, docs/demo.md */
/* cmd_card_sim.c: `tkms card ...`, the card and PSAM simulator */
int cmd_card_sim(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* A secret from path, or typed on the terminal after prompt with echo off;
 * the line end is removed. 0 or -1 (message printed). The caller wipes
 * out. */
int cli_read_secret(
    const char *path, const char *prompt, char *out, size_t cap);

/* Read a regular file of at most max bytes into *out (malloc'ed, one NUL
 * byte past the end), or print why and return -1. */
int cli_file_read(const char *path, size_t max, uint8_t **out, size_t *len);
/* Write a new file (mode 0600; an existing one is never replaced), synced;
 * on failure print why, remove it, return -1. */
int cli_file_write_new(const char *path, const void *p, size_t len);

#endif
