#!/bin/sh
# Crash torture on a busy machine (issue 18): tests/torture/torture.py's
# short run with stress-ng beside it (every CPU busy, a worker syncing, one
# writing files in the spool's file system) while the daemon is killed, for
# at most 120 s. The invariants are those of 120-torture.sh: nothing lost,
# every repeated request explained by a kill (two daemon starts in its
# X-Request-Id) or by a retry beredd logged, none at the recipient behind
# an idempotent gateway. Waits scale with the machine's load, not fixed
# sleeps. Not under valgrind (120-torture.sh runs there).
. "$(dirname "$0")/common.sh"

[ -z "${BEREDD_VALGRIND:-}" ] || skip "not under valgrind (120-torture.sh is)"
command -v stress-ng >/dev/null || skip "stress-ng is not installed (Debian package stress-ng)"
kills=${TORTURE_KILLS:-20}
seed=${TORTURE_SEED:-20261202}
say "seed $seed, $kills kills beside stress-ng"
python3 "$top_srcdir/tests/torture/torture.py" --seed "$seed" --kills "$kills" --stress 120 \
        --builddir "$top_builddir" --srcdir "$top_srcdir" || fail "stressed torture run failed (seed $seed)"
