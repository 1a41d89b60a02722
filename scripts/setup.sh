#!/usr/bin/env bash
# Set up tkms on Debian 12 and run the main job.
#
#   scripts/setup.sh [DEMO OPTIONS] install packages, build release, run the
#                                 main job: tkms demo (docs/demo.md)
#   scripts/setup.sh --deps-only  only install what the build and the tests need
#
# Idempotent: packages already present are not reinstalled, and apt-get
# update runs only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
	build-essential cmake pkg-config git     # toolchain
	clang libclang-rt-14-dev clang-format    # fuzz preset, format check
	libssl-dev                               # OpenSSL 3 libcrypto
	libsqlite3-dev                           # HSM key store, KMS database
	libevent-dev                             # HSM event loops (and its TLS)
	libjansson-dev                           # management plane JSON
	libargon2-dev                            # admin passwords, card PINs
	libmicrohttpd-dev                        # tkms-kmsd HTTP API
	libcmocka-dev                            # unit tests
	libpq-dev                                # KMS database on PostgreSQL
	postgresql                               # throwaway server of the KMS tests
	valgrind                                 # leak checks of the unit tests
	cppcheck                                 # static analysis (test.sh)
	python3 python3-botan python3-cryptography  # differential tests
	chromium fonts-wqy-microhei              # web console's browser test
)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	# Node.js and npm for the sm-crypto differential test, from Debian
	# unless the machine already has a node.
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "setup: installing ${missing[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	# npm packages are pinned by tests/diff/package-lock.json.
	if [ ! -d tests/diff/node_modules ] ||
		[ tests/diff/package-lock.json -nt tests/diff/node_modules ]; then
		npm ci --prefix tests/diff --no-audit --no-fund --loglevel=error
		touch tests/diff/node_modules
	fi
	# playwright-core for the web console's test, pinned likewise.
	if [ ! -d tests/web/node_modules ] ||
		[ tests/web/package-lock.json -nt tests/web/node_modules ]; then
		npm ci --prefix tests/web --no-audit --no-fund --loglevel=error
		touch tests/web/node_modules
	fi
}

install_packages
[ "${1:-}" = "--deps-only" ] && exit 0

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
build/release/tkms selfcheck
# The main job: a province end to end (docs/demo.md); arguments go to it.
exec build/release/tkms demo "$@"
