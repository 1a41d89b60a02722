/*
 * secret.c - reading a PIN, password or component: from a file (scripts,
 * tests) or typed on the terminal with echo off.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include "cli.h"

/* Echo off on the terminal f; 1 if it was switched (restore with old). */
static int
echo_off(FILE *f, struct termios *old)
{
	struct termios quiet;

	if (tcgetattr(fileno(f), old) != 0)
		return 0;
	quiet = *old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	return tcsetattr(fileno(f), TCSAFLUSH, &quiet) == 0;
}

int
cli_read_secret(const char *path, const char *prompt, char *out, size_t cap)
{
	struct termios old;
	FILE *f;
	int quiet = 0, ok;

	out[0] = '\0';
	if (path != NULL) {
		if ((f = fopen(path, "r")) == NULL) {
			fprintf(
			    stderr, "tkms: %s: %s\n", path, strerror(errno));
			return -1;
		}
	} else {
		if ((f = fopen("/dev/tty", "r+")) == NULL) {
			fprintf(stderr, "tkms: no terminal to ask for a "
					"secret: give it in a file\n");
			return -1;
		}
		/* Echo off before the prompt: TCSAFLUSH drops what was
		 * typed before it. */
		quiet = echo_off(f, &old);
		fprintf(f, "%s", prompt);
		fflush(f);
	}
	ok = fgets(out, (int)cap, f) != NULL;
	if (quiet) {
		(void)tcsetattr(fileno(f), TCSAFLUSH, &old);
		fprintf(f, "\n");
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return ok ? 0 : -1;
}
