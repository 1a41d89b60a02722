#!/usr/bin/env bash
# Functions the code must not call (docs/security.md): unbounded string
# writes, unseeded or predictable randomness, numbers without error
# checks, racy temporary names, a shell. Each has a bounded or checked
# replacement: snprintf, tkm_random (RAND_bytes), strtol/strtoul with
# end and errno checks, mkstemp/mkdtemp, fork+execv.
set -euo pipefail
cd "$(dirname "$0")/.."

banned='strcpy|strcat|sprintf|vsprintf|gets|strtok|rand|srand|random|drand48|atoi|atol|atoll|atof|tmpnam|tempnam|mktemp|alloca|system|popen|setjmp|longjmp'
# Word boundary before, '(' after: a call, not a word in a comment's prose
# (comment lines starting with * or // are skipped too).
hits=$(grep -rnE "(^|[^A-Za-z0-9_.>])($banned)[[:space:]]*\(" \
	src include fuzz bench --include='*.c' --include='*.h' |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|//|/\*)' || true)
if [ -n "$hits" ]; then
	echo "banned functions (scripts/check-banned.sh):" >&2
	echo "$hits" >&2
	exit 1
fi
echo "no banned function calls"
