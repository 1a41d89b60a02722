/*
 * cli.h - subcommands of tkms. A subcommand gets argv starting at its own
 * name and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef TKMS_CLI_H
#define TKMS_CLI_H

#include <stddef.h>

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
int cmd_selfcheck(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* A secret from path, or typed on the terminal after prompt with echo off;
 * the line end is removed. 0 or -1 (message printed). The caller wipes
 * out. */
int cli_read_secret(
    const char *path, const char *prompt, char *out, size_t cap);

#endif
