/*
 * cmd_card.c - `tkms hsm card new --role R --out FILE [--pin-file F]`:
 * make an admin card file (docs/cards.md) and print its public key, which
 * `tkms hsm enrol` then gives the HSM.
 *
 * The PIN is typed twice on the terminal with echo off, or read from the
 * first line of --pin-file (scripts and tests). It never appears on the
 * command line, where other users could see it in the process list.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tkm/buf.h"
#include "tkm/card.h"
#include "tkm/mem.h"

#define PIN_CAP 258 /* card.c takes up to 256 characters */

static const char *const roles[] = {"A1", "A2", "A3", "B", "C", "D"};

static int
role_known(const char *role)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i]) == 0)
			return 1;
	return 0;
}

/* The new card's PIN: from the file, or typed twice alike. */
static int
read_pin(const char *path, char pin[PIN_CAP])
{
	char again[PIN_CAP];
	int rc = -1;

	if (cli_read_secret(path, "new card PIN: ", pin, PIN_CAP) != 0)
		goto out;
	if (strlen(pin) < TKM_CARD_PIN_MIN || strlen(pin) > PIN_CAP - 2) {
		fprintf(stderr,
		    "tkms hsm card: the PIN must be %d to %d "
		    "characters\n",
		    TKM_CARD_PIN_MIN, PIN_CAP - 2);
		goto out;
	}
	if (path != NULL) {
		rc = 0;
		goto out;
	}
	if (cli_read_secret(NULL, "again: ", again, sizeof(again)) != 0)
		goto out;
	if (strcmp(pin, again) != 0) {
		fprintf(stderr, "tkms hsm card: the PINs differ\n");
		goto out;
	}
	rc = 0;
out:
	tkm_cleanse(again, sizeof(again));
	if (rc != 0)
		tkm_cleanse(pin, PIN_CAP);
	return rc;
}

/* Open the new card again and print its role and public key. */
static int
show(const char *path, const char *pin)
{
	struct tkm_card *card = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char hex[2 * TKM_SM2_PUB_LEN + 1];
	int rc;

	if ((rc = tkm_card_open(path, pin, &card)) == TKM_OK &&
	    (rc = tkm_card_pub(card, pub)) == TKM_OK) {
		tkm_hex_encode(pub, sizeof(pub), hex);
		printf("card %s\nrole %s\npub %s\n", path, tkm_card_role(card),
		    hex);
	}
	tkm_card_free(card);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: tkms hsm card new --role A1|A2|A3|B|C|D "
			"--out FILE [--pin-file FILE]\n");
	return 2;
}

static int
card_new(const char *role, const char *out, const char *pin_file)
{
	char pin[PIN_CAP];
	int rc;

	if (read_pin(pin_file, pin) != 0)
		return 1;
	rc = tkm_card_create(out, role, pin);
	if (rc == TKM_ERR_IO)
		fprintf(stderr,
		    "tkms hsm card: cannot create %s (it must not "
		    "exist yet): %s\n",
		    out, strerror(errno));
	else if (rc != TKM_OK)
		fprintf(stderr, "tkms hsm card: %s\n", tkm_strerror(rc));
	if (rc == TKM_OK && (rc = show(out, pin)) != TKM_OK)
		fprintf(stderr,
		    "tkms hsm card: %s written but does not open: "
		    "%s\n",
		    out, tkm_strerror(rc));
	tkm_cleanse(pin, sizeof(pin));
	return rc == TKM_OK ? 0 : 1;
}

int
cmd_hsm_card(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"role", required_argument, NULL, 'r'},
	    {"out", required_argument, NULL, 'o'},
	    {"pin-file", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *role = NULL, *out = NULL, *pin_file = NULL;
	int ch;

	if (argc < 2 || strcmp(argv[1], "new") != 0)
		return usage();
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			role = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			pin_file = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || role == NULL || out == NULL)
		return usage();
	if (!role_known(role)) {
		fprintf(stderr, "tkms hsm card: unknown role %s\n", role);
		return 2;
	}
	return card_new(role, out, pin_file);
}
