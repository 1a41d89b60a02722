#!/usr/bin/env bash
# Run every test of tkms: install what is missing, build the debug and the
# asan (AddressSanitizer + UndefinedBehaviorSanitizer) presets, run ctest in
# both (the debug build also runs the unit tests under valgrind), build the
# release preset, check formatting and banned functions, and run cppcheck.
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --deps-only

for preset in debug asan; do
	echo "== build $preset"
	cmake --preset "$preset" >/dev/null
	cmake --build --preset "$preset" -j "$(nproc)"
	echo "== test $preset"
	ctest --preset "$preset" -j "$(nproc)"
done

# The release preset (what scripts/setup.sh builds) must build clean too:
# -O2 and _FORTIFY_SOURCE=3 find warnings the debug builds do not.
echo "== build release"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

echo "== format"
scripts/check-format.sh
echo "== banned functions"
scripts/check-banned.sh
echo "== cppcheck"
scripts/check-cppcheck.sh
echo "all tests passed"
