#!/bin/sh
# Crash torture, short version: tests/torture/torture.py kills the daemon
# with SIGKILL 20 times (6 under valgrind) at random moments under a mixed
# load of triggers, drop files, answers, resolves and follow-up cases, with
# the simulated clock moving over working days, and then checks from the
# outside that nothing was lost (see tests/torture/README.md). Seeded: a
# failure names its seed, and the same seed replays the same run.
. "$(dirname "$0")/common.sh"

kills=${TORTURE_KILLS:-20}
[ -z "${BEREDD_VALGRIND:-}" ] || kills=${TORTURE_KILLS:-6}
seed=${TORTURE_SEED:-20261124}
say "seed $seed, $kills kills"
# --spare-pause: some kills land between a new log's sync and its rename.
python3 "$top_srcdir/tests/torture/torture.py" --seed "$seed" --kills "$kills" --spare-pause 20 \
        --builddir "$top_builddir" --srcdir "$top_srcdir" || fail "torture run failed (seed $seed)"
