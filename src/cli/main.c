/*
 * tkms - the command line of tkms. One row per subcommand; each family of
 * subcommands lives in its own file (cmd_<family>.c).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "tkm/mem.h"

static const struct cli_cmd commands[] = {
    {"selfcheck", cmd_selfcheck,
	"run libtkm's known-answer tests and print a summary"},
    {"hsm", cmd_hsm, "talk to tkms-hsmd (hsm cmd HOST:PORT COMMAND)"},
    {"mot", cmd_mot,
	"ministry key import: mot import --card F (mot card new: a test card)"},
    {"maint", cmd_maint, "maintenance licences: maint request|sign|apply|show"},
    {"kms", cmd_kms, "the key management system: kms login|proposals|..."},
    {"card", cmd_card_sim, "card/PSAM simulator (docs/card-flows.md)"},
    {"demo", cmd_demo, "a province from nothing, end to end (docs/demo.md)"},
    {"version", cmd_version, "print the version"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: tkms COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int
main(int argc, char **argv)
{
	size_t i;

	/* JSON here carries passwords, key components and card secrets:
	 * jansson's memory is wiped when freed, so text from json_dumps is
	 * given back with tkm_wipe_free, never free(). */
	json_set_alloc_funcs(tkm_wipe_malloc, tkm_wipe_free);
	if (argc < 2 || strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tkms: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
