#!/bin/sh
# run-tests.sh - the whole test suite on a fresh Debian 12 machine:
# installs what is missing, builds with -Werror, runs unit and integration
# tests, runs them again under ASan+UBSan and the integration tests under
# valgrind, checks `make distcheck` and the Debian package
# (contrib/deb-check.sh), and runs each fuzz target for a
# minute. Build trees go to build-*/.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
. contrib/deps.sh
beredd_install_deps $BEREDD_BUILD_DEPS $BEREDD_TEST_DEPS
# mosquitto's package starts a broker on port 1883; the tests start their own.

# The voice tests sign Twilio's callbacks with Twilio's own npm package
# (tests/node/package-lock.json); without node and npm they are skipped.
# Exported so that tests find it from any build tree, also under distcheck.
if command -v node >/dev/null && command -v npm >/dev/null; then
        [ -d tests/node/node_modules/twilio ] || npm ci --prefix tests/node --no-audit --no-fund >/dev/null
        BEREDD_NODE_PATH=$top/tests/node/node_modules
        export BEREDD_NODE_PATH
fi

jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || ./autogen.sh >/dev/null

failed_logs() { # DIR: the end of each failed test's log under DIR
        for f in $(find "$1" -name '*.log' ! -name config.log ! -name test-suite.log); do
                grep -q '^:test-result: \(FAIL\|ERROR\)' "${f%.log}.trs" 2>/dev/null && { echo "--- $f"; tail -n 60 "$f"; }
        done
}

run_suite() { # NAME CONFIGURE-ARGS... (env CHECK_ENV passed to make check)
        name=$1; shift
        echo "=== $name"
        mkdir -p "build-$name"
        (cd "build-$name" && "$top/configure" --enable-werror "$@" >/dev/null &&
                make -j"$jobs" >/dev/null &&
                if ! env ${CHECK_ENV:-} make -j"$jobs" check; then
                        failed_logs .
                        exit 1
                fi)
}

run_suite gcc CC=gcc
CHECK_ENV="BEREDD_SKIP_BROWSER=1 BEREDD_TIME_SCALE=2" run_suite clang-asan CC=clang --enable-sanitizers
CHECK_ENV="BEREDD_VALGRIND=1 BEREDD_SKIP_BROWSER=1 READY_TIMEOUT=60" run_suite valgrind CC=gcc

echo "=== distcheck"
# Quiet when it passes; when a test fails inside the unpacked tarball, its
# summary and log are shown (distcheck leaves that tree behind on failure).
if ! (cd build-gcc && make -j"$jobs" distcheck >/dev/null); then
        for d in build-gcc/beredd-*/_build; do
                [ -d "$d" ] || continue
                grep -h '^# \(TOTAL\|PASS\|SKIP\|FAIL\|ERROR\)' $(find "$d" -name test-suite.log) 2>/dev/null || true
                failed_logs "$d" || true
        done
        exit 1
fi

# The Debian package: build, lintian, install, upgrade, remove, purge on this
# machine (root; it refuses where beredd is installed, and cleans up after).
# BEREDD_SKIP_DEB=1 skips it on a developer's own machine, never in CI.
echo "=== deb"
if [ "${BEREDD_SKIP_DEB:-0}" = 1 ]; then echo "skipped (BEREDD_SKIP_DEB=1)"
elif [ "$(id -u)" -eq 0 ]; then ./contrib/deb-check.sh
else sudo ./contrib/deb-check.sh
fi

# Every fuzz target for ${FUZZ_SECONDS:-60} s from its seed corpus; a crash
# fails the run. Then the line coverage of each target's parser over what the
# run grew (tests/fuzz/README.md).
echo "=== fuzz"
(cd build-gcc && make fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-60}" && make fuzz-coverage)

# One summary line for CI, over the three runs (automake's "# PASS: N" lines).
sum() { cat build-gcc/test-suite.log build-clang-asan/test-suite.log build-valgrind/test-suite.log |
        sed -n "s/^# $1: *\([0-9][0-9]*\)$/\1/p" | awk '{ n += $1 } END { print n + 0 }'; }
pass=$(sum PASS); fail=$(( $(sum FAIL) + $(sum ERROR) + $(sum XPASS) )); skipped=$(sum SKIP)
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
