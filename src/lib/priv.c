/*
 * priv.c - who the daemons run as (priv.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tkm/priv.h"

static int refuse(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return TKM_ERR_PERMISSION;
}

/* setgroups, setgid, setuid, in that order, then prove it sticks. */
static int
become(const struct passwd *pw, char *why, size_t why_len)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		return refuse(
		    why, why_len, "cannot become user %s", pw->pw_name);
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid || setuid(0) == 0)
		return refuse(why, why_len,
		    "dropping to user %s did not take: refusing to run",
		    pw->pw_name);
	return TKM_OK;
}

/*
 * No core file, and not dumpable: no ptrace or /proc/PID/mem by the same
 * user either. After any change of user, which resets the flag.
 */
static int
no_dumps(char *why, size_t why_len)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(why, why_len, "cannot disable core dumps: %s",
		    strerror(errno));
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

static int
who(const char *user, int allow_root, char *why, size_t why_len)
{
	const char *env = getenv("TKMS_ALLOW_ROOT");
	struct passwd pwbuf, *pw = NULL;
	char buf[4096];

	if (user == NULL) {
		if (geteuid() != 0 || allow_root ||
		    (env != NULL && strcmp(env, "1") == 0))
			return TKM_OK;
		return refuse(why, why_len,
		    "refusing to run as root: give --user NAME (started as "
		    "root, it runs as NAME) or --allow-root");
	}
	if (geteuid() != 0)
		return refuse(why, why_len,
		    "--user %s: only root can change users", user);
	if (getpwnam_r(user, &pwbuf, buf, sizeof(buf), &pw) != 0 || pw == NULL)
		return refuse(why, why_len, "--user %s: no such user", user);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return refuse(why, why_len,
		    "--user %s: that user is root (uid or gid 0)", user);
	return become(pw, why, why_len);
}

int
tkm_priv_setup(const char *user, int allow_root, char *why, size_t why_len)
{
	int rc = who(user, allow_root, why, why_len);

	return rc != TKM_OK ? rc : no_dumps(why, why_len);
}
