#!/usr/bin/env bash
# Run a program against a throwaway PostgreSQL server:
#
#   tests/kms/pg.sh PROGRAM [ARGS...]
#
# Creates a cluster with Debian's initdb in a new directory under /tmp,
# starts it with pg_ctl listening only on a unix socket in that directory
# (no TCP port, so parallel runs never collide), runs PROGRAM with
# TKMS_PG_URL set to it, and stops the server and removes the directory
# whatever happens, also when this script is killed (a detached watchdog
# does it when the script's process is gone). Exit status: PROGRAM's, or 1
# when the server cannot be set up. The server binaries are required: when
# they are missing this FAILS (scripts/setup.sh installs postgresql).
#
# initdb refuses to run as root, and CI runs as root: then the server runs
# as the system user "nobody" (runuser -u nobody; no account to create),
# owning only the temporary directory; PROGRAM still runs as the caller
# and reaches the socket, which the server creates mode 0777. The cluster
# trusts every local connection: it holds nothing and lives for one run.
# TKMS_PG_BIN selects the directory of initdb and pg_ctl (default: the
# newest /usr/lib/postgresql/*/bin).
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 PROGRAM [ARGS...]" >&2
	exit 2
fi

bin=${TKMS_PG_BIN:-}
if [ -z "$bin" ]; then
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		bin=$d
	done
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
	echo "pg.sh: PostgreSQL server binaries (initdb, pg_ctl) not found;" \
		"install them with scripts/setup.sh (Debian package postgresql)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/tkms-pg.XXXXXX)
chmod 0755 "$tmp"
mkdir "$tmp/sock"
as_server=()
if [ "$(id -u)" -eq 0 ]; then
	chown nobody: "$tmp" "$tmp/sock"
	as_server=(runuser -u nobody --)
fi

stop() {
	"${as_server[@]}" "$bin/pg_ctl" -D "$tmp/data" -m immediate \
		stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}

# The watchdog outlives a SIGKILL of this script (a ctest timeout): it
# polls for this process and cleans up once it is gone.
setsid bash -c '
	while kill -0 "$1" 2>/dev/null; do sleep 1; done
	if [ -d "$2/data" ]; then
		if [ "$(id -u)" -eq 0 ]; then
			runuser -u nobody -- "$3/pg_ctl" -D "$2/data" -m immediate stop
		else
			"$3/pg_ctl" -D "$2/data" -m immediate stop
		fi
	fi
	rm -rf "$2"' watchdog $$ "$tmp" "$bin" </dev/null >/dev/null 2>&1 &
trap stop EXIT
trap 'exit 130' INT TERM HUP

cd "$tmp" # the server user must be able to stat its working directory
if ! "${as_server[@]}" "$bin/initdb" -D "$tmp/data" -U tkms -A trust \
	-E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
	echo "pg.sh: initdb failed:" >&2
	cat "$tmp/initdb.log" >&2
	exit 1
fi
if ! "${as_server[@]}" "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
	-t 60 -o "-c listen_addresses='' -c unix_socket_directories=$tmp/sock \
	-c fsync=off -c max_connections=50" start >/dev/null; then
	echo "pg.sh: the server did not start:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi

export TKMS_PG_URL="postgresql:///postgres?host=$tmp/sock&user=tkms"
cd - >/dev/null
set +e
"$@"
status=$?
set -e
if [ $status -ne 0 ]; then
	echo "pg.sh: $1 exited $status; server log:" >&2
	tail -n 50 "$tmp/server.log" >&2 || true
fi
exit $status
