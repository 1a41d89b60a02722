/*
 * ops_zeroise.c - zeroise (A1+A2+A3; docs/zeroise.md): every key and
 * every trace of DK destroyed, the HSM back in its factory state with its
 * serial and its archived audit log.
 *
 * Nothing is touched until the confirmation matches the serial. From the
 * moment DK is retired there is no way back, so every later step runs
 * even when an earlier one failed, and the first failure is what the
 * answer reports: the administrators then know what to check (and, as
 * long as their enrolments survive, can run zeroise again).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "ident.h"
#include "keystore.h"
#include "licence.h"
#include "ops.h"
#include "seal.h"
#include "server.h"

#define ARCHIVE_MAX 64

/* The DK files (seal.h) and the temporary names seal.c writes them
 * through, which a crash may have left behind. */
static const char *const dk_files[] = {
    HSM_SEAL_BACKUP,
    HSM_SEAL_SEALED,
    HSM_SEAL_MACHINE,
    HSM_SEAL_BACKUP ".tmp",
    HSM_SEAL_SEALED ".tmp",
    HSM_SEAL_MACHINE ".tmp",
};

/* What zeroise got as far as, for the answer. */
struct progress {
	int rc;
	const char *why;
};

static void
step(struct progress *p, int rc, const char *why)
{
	if (rc == TKM_OK)
		return;
	hsm_log("zeroise: %s: %s", why, tkm_strerror(rc));
	if (p->rc == TKM_OK) {
		p->rc = rc;
		p->why = why;
	}
}

/* "A1+A2+A3": the roles of the session, for the audit. */
static void
actor_of(const struct hsm_op_ctx *c, char *out, size_t cap)
{
	unsigned roles = c->s != NULL ? c->s->roles : 0, bit;
	size_t n = 0;
	int k;

	out[0] = '\0';
	for (bit = 1; bit <= HSM_ROLES_ALL; bit <<= 1) {
		if ((roles & bit) == 0)
			continue;
		k = snprintf(out + n, cap - n, "%s%s", n > 0 ? "+" : "",
		    hsm_role_name(bit));
		if (k < 0 || (size_t)k >= cap - n)
			break;
		n += (size_t)k;
	}
	if (n == 0)
		snprintf(out, cap, "%s", c->peer != NULL ? c->peer : "-");
}

/* Overwrite DIR/name with zeros, sync, unlink: the blocks that held the
 * wrapped DK do not stay readable on the disk behind the unlinked name.
 * TKM_OK if there is no such file. */
static int
shred(const char *dir, const char *name)
{
	static const uint8_t zero[4096];
	char path[4096];
	struct stat sb;
	off_t done = 0;
	ssize_t n;
	size_t k;
	int fd, rc = TKM_OK;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return TKM_ERR_INPUT;
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return TKM_OK;
		/* Not ours to overwrite (a link?): at least unlink it. */
		(void)unlink(path);
		return TKM_ERR_IO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		rc = TKM_ERR_IO;
	while (rc == TKM_OK && done < sb.st_size) {
		k = sb.st_size - done < (off_t)sizeof(zero)
			? (size_t)(sb.st_size - done)
			: sizeof(zero);
		n = write(fd, zero, k);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = TKM_ERR_IO;
		else
			done += n;
	}
	if (rc == TKM_OK && fsync(fd) != 0)
		rc = TKM_ERR_IO;
	close(fd);
	if (unlink(path) != 0 && rc == TKM_OK)
		rc = TKM_ERR_IO;
	return rc;
}

static int
sync_dir(const char *dir)
{
	int fd, rc = TKM_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return TKM_ERR_IO;
	if (fsync(fd) != 0)
		rc = TKM_ERR_IO;
	close(fd);
	return rc;
}

static int
shred_dk_files(const char *dir)
{
	size_t i;
	int rc = TKM_OK, r;

	for (i = 0; i < sizeof(dk_files) / sizeof(dk_files[0]); i++)
		if ((r = shred(dir, dk_files[i])) != TKM_OK && rc == TKM_OK)
			rc = r;
	if ((r = sync_dir(dir)) != TKM_OK && rc == TKM_OK)
		rc = r;
	return rc;
}

/* The archive's name from the new log's first record (audit.h: seq N + 1,
 * op "audit.continued", the old log being audit-<N>.db). */
static int
first_rec(void *arg, const struct hsm_audit_rec *r)
{
	char *name = arg;

	if (r->seq > 1 && r->op != NULL &&
	    strcmp(r->op, "audit.continued") == 0)
		snprintf(name, ARCHIVE_MAX, "audit-%llu.db",
		    (unsigned long long)(r->seq - 1));
	return TKM_OK;
}

static int
audit_rotate(struct hsm_op_ctx *c, const struct hsm_dk *dk, const char *actor,
    char archive[ARCHIVE_MAX])
{
	int rc;

	archive[0] = '\0';
	if ((rc = hsm_audit_rotate(c->audit, dk, actor)) != TKM_OK)
		return rc;
	return hsm_audit_list(c->audit, 0, 1, first_rec, archive);
}

/* The run-time state back to the config's: authorised state closed, no
 * time offset, the config's whitelists (admin.db forgot them too). */
static void
state_reset(struct hsm_state *st)
{
	atomic_store(&st->authorised_until, 0);
	atomic_store(&st->time_offset, 0);
	hsm_wl_reset(st);
}

/*
 * zeroise {confirm}: A1+A2+A3. confirm MUST be this HSM's serial (status
 * shows it), so that a command meant for another HSM, or mistyped,
 * destroys nothing. Result: zeroised, serial, audit_archive (the old log's
 * file name, null without an audit log).
 */
int
op_zeroise(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	static const char *const keep[] = {"serial", NULL};
	char serial[HSM_SERIAL_MAX + 1], actor[64], archive[ARCHIVE_MAX];
	const char *confirm =
	    json_string_value(json_object_get(args, "confirm"));
	struct progress p = {TKM_OK, NULL};
	struct hsm_dk *old = NULL;
	int rc;

	if (c->admin == NULL) {
		*why = "no admin database";
		return TKM_ERR_INTERNAL;
	}
	if ((rc = hsm_ident_serial(c->admin, serial)) != TKM_OK) {
		*why = "cannot read the HSM serial: nothing was destroyed";
		return rc;
	}
	if (confirm == NULL) {
		*why =
		    "confirm: this HSM's serial (tkms hsm status) is required";
		return TKM_ERR_INPUT;
	}
	if (strcmp(confirm, serial) != 0) {
		*why =
		    "confirm is not this HSM's serial: nothing was destroyed";
		return TKM_ERR_INPUT;
	}
	actor_of(c, actor, sizeof(actor));
	/* Under the DK still there, so that the MAC proves who started it;
	 * an audit that cannot be written does not stop a zeroise. */
	if (c->audit != NULL &&
	    hsm_audit_append(c->audit, atomic_load(&c->st->dk), actor,
		"zeroise", TKM_OK, "started") != TKM_OK)
		hsm_log("zeroise: cannot audit the start");
	/* From here on there is no way back. */
	rc = hsm_dk_retire(c->st, &old);
	if (rc == TKM_ERR_TIMEOUT)
		hsm_log("zeroise: a worker did not drop its keys in time; it "
			"drops them at its next command");
	/* Reported, not hidden: the answer must not claim every key gone
	 * while a worker still holds cached private keys. */
	step(&p, rc,
	    "a worker did not drop its cached keys in time (it "
	    "does at its next command)");
	step(&p, hsm_keystore_wipe(c->st->dir), "keys.db could not be wiped");
	/* The licences named keys that no longer exist. */
	step(&p, hsm_lic_wipe(c->st->dir), "licences.db could not be wiped");
	step(&p, shred_dk_files(c->st->dir),
	    "dk.backup, dk.sealed or machine.key could not be destroyed");
	hsm_dk_pending_drop();
	/* Before the identity is forgotten: the old log's last checkpoint
	 * is signed with it, and a signer that found none would make a new
	 * one under the dying DK. */
	archive[0] = '\0';
	if (c->audit != NULL)
		step(&p, audit_rotate(c, old, actor, archive),
		    "the audit log could not be archived");
	step(&p, hsm_ident_forget(c->admin),
	    "the identity key could not be forgotten");
	step(&p, hsm_admin_reset(c->admin, keep),
	    "enrolments and settings could not be removed");
	state_reset(c->st);
	hsm_mgmt_end_sessions();
	hsm_dk_free(old);
	if (p.rc != TKM_OK) {
		*why = p.why;
		return p.rc;
	}
	hsm_log("zeroised: every key destroyed, serial %s kept", serial);
	json_object_set_new(result, "zeroised", json_true());
	json_object_set_new(result, "serial", json_string(serial));
	json_object_set_new(result, "audit_archive",
	    archive[0] != '\0' ? json_string(archive) : json_null());
	return TKM_OK;
}
