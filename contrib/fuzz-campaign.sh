#!/bin/sh
# fuzz-campaign.sh - one long libFuzzer run of one target, with its
# dictionary and a work corpus kept in the build tree, and the figures to
# paste into a note: executions, exec/s, libFuzzer's final cov/ft, the
# llvm-cov line/region/function coverage of the target's parser sources over
# the work corpus and over the seeds alone, the corpus size and the findings.
#
#   cd build && nice -n 10 ../contrib/fuzz-campaign.sh [-t SECONDS] [-n] [-f] TARGET
#
# TARGET is command, config, template, reply, actlog, case or webhook.
# -t SECONDS  how long (default 3600)
# -n          no dictionary (to compare)
# -f          fresh: empty the work corpus first (else a campaign goes on
#             from the last one's corpus)
# Run from a configured build tree (it runs `make fuzz` and `make
# fuzz-coverage` there). The work corpus is tests/fuzz/campaign-TARGET/,
# findings go to tests/fuzz/findings-TARGET/, the log to
# tests/fuzz/campaign-TARGET.log. Needs clang and llvm (Debian packages).
set -eu

seconds=3600 dict=yes fresh=no
while getopts t:nf o; do
        case $o in
        t) seconds=$OPTARG ;;
        n) dict=no ;;
        f) fresh=yes ;;
        *) exit 2 ;;
        esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { sed -n '2,19s/^# \{0,1\}//p' "$0" >&2; exit 2; }
c=$1
case $c in
command | config | template | reply | actlog | case | webhook) ;;
*) echo "fuzz-campaign.sh: no target '$c'" >&2; exit 2 ;;
esac
if ! grep -qs '^fuzz-coverage:' Makefile; then
        echo "fuzz-campaign.sh: run it in a configured build tree" >&2
        exit 2
fi
src=$(cd "$(dirname "$0")/.." && pwd)
t=fuzz_$c
work=tests/fuzz/campaign-$c
findings=tests/fuzz/findings-$c
log=tests/fuzz/campaign-$c.log

make -s fuzz-build FUZZ_BUILD_TARGETS="$t" >/dev/null
[ "$fresh" = no ] || rm -rf "$work"
mkdir -p "$work" "$findings"
cp "$src/tests/fuzz/corpus/$c"/* "$work"/ 2>/dev/null || true
seeds=$(find "$src/tests/fuzz/corpus/$c" -type f | wc -l)
before=$(find "$findings" -type f | wc -l)
dictarg="" dictname=none
if [ "$dict" = yes ] && [ -f "$src/tests/fuzz/$c.dict" ]; then
        dictarg=-dict=$src/tests/fuzz/$c.dict
        dictname=tests/fuzz/$c.dict
fi

started=$(date -u '+%Y-%m-%d %H:%M UTC')
# The commit the target was built from, taken now: the tree may move on
# during an hour (the coverage build at the end uses the tree as it is then).
commit() { # the short HEAD, "+changes" when the daemon or the targets differ from it
        h=$(git -C "$src" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
        git -C "$src" diff --quiet HEAD -- daemon tests/fuzz 2>/dev/null || h="$h+changes"
        echo "$h"
}
built=$(commit)
echo "fuzz-campaign: $t for $seconds s (log $log)" >&2
# fuzz_config without leak detection (libconfig's leak would have the heap
# scanned after most inputs: Makefile.am), then a leak check over its corpus
opts=""
[ "$c" != config ] || opts=-detect_leaks=0
rc=0
# shellcheck disable=SC2086 # $dictarg and $opts are empty or one word
LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp "tests/fuzz/$t" -max_total_time="$seconds" -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$findings/" $dictarg $opts "$work" >"$log" 2>&1 || rc=$?
leaks=""
if [ -n "$opts" ] && [ $rc -eq 0 ]; then
        LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp "tests/fuzz/$t" -runs=0 -max_len=65536 \
                -artifact_prefix="$findings/" "$work" >"$log.leaks" 2>&1 || rc=$?
        leaks=" (no leak detection while fuzzing; the corpus then checked for leaks: $([ $rc -eq 0 ] && echo none || echo "LEAK, see $log.leaks"))"
fi

# libFuzzer's status lines: "#123 INITED cov: 400 ft: 900 corp: 20/3Kb ..."
inited=$(grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+).*/\1/')
last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 |
        sed -E 's/.*(cov: [0-9]+ ft: [0-9]+).*/\1/')
final_stat() { sed -n "s/^stat::$1:[[:space:]]*//p" "$log" | tail -n 1; }
execs=$(final_stat number_of_executed_units)
rate=$(final_stat average_exec_per_sec)
rss=$(final_stat peak_rss_mb)
if [ -z "$execs" ]; then # a crash: no final stats, the last status line has the count
        execs=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/^#([0-9]+).*/\1/')
fi
files=$(find "$work" -type f | wc -l)
bytes=$(find "$work" -type f -exec cat {} + | wc -c)

# The seeds alone and the work corpus, each named explicitly: without
# FUZZ_COV_DIRS, fuzz-coverage also takes in tests/fuzz/campaign-TARGET, so a
# "seeds" figure taken that way after a campaign equals the campaign's.
cov() { # DIR...: the llvm-cov line of the target over DIR...
        make -s fuzz-coverage FUZZ_COV_TARGETS="$t" FUZZ_COV_DIRS="$*" 2>&1 | sed -n "s/^$c  *lines/lines/p"
}
seedline=$(cov "$src/tests/fuzz/corpus/$c") || true
covline=$(cov "$work") || true

echo
echo "fuzz campaign: $c, $seconds s from $started, $(nproc) cores, $(uname -m), $("${FUZZ_CC:-clang}" --version | head -n 1)"
now=$(commit)
echo "  commit       $built$([ "$now" = "$built" ] || echo " (coverage measured at $now)")"
echo "  dictionary   $dictname"
echo "  executions   ${execs:-?} (${rate:-?} exec/s, peak RSS ${rss:-?} MB)$leaks"
echo "  libFuzzer    ${last:-?} (at start: ${inited:-?})"
echo "  llvm-cov     ${covline:-? (make fuzz-coverage failed)}"
echo "  seeds alone  ${seedline:-? (make fuzz-coverage failed)}"
echo "  corpus       $files files, $bytes bytes ($seeds seeds)"
n=$(find "$findings" -type f | wc -l)
if [ "$n" -eq 0 ]; then
        echo "  findings     none"
else
        echo "  findings     $((n - before)) new, $n in $findings/:"
        # A slow unit is run again alone: one found while the machine
        # stalled runs in milliseconds.
        find "$findings" -type f | sort | while read -r f; do
                case $f in
                */slow-unit-*)
                        ms=$("tests/fuzz/$t" $opts "$f" 2>&1 | sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p')
                        echo "                 $f (alone: ${ms:-?} ms)" ;;
                *) echo "                 $f" ;;
                esac
        done
        grep -E '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:)' "$log" | head -n 5 | sed 's/^/                 /'
fi
exit $rc
