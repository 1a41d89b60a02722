/*
 * cli.h - subcommands of tkms. A subcommand gets argv starting at its own
 * name and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef TKMS_CLI_H
#define TKMS_CLI_H

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

int cmd_hsm(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
