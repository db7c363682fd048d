#!/bin/sh
# coverage.sh - the source-based coverage of one fuzz target's parser over
# its corpus: runs the coverage build (`make fuzz-coverage` builds it, with
# -fprofile-instr-generate -fcoverage-mapping) once over every input and
# prints one line:
#
#   command   lines 91.3% (431/472)  regions 86.0% (...)  functions 100.0% (24/24)  inputs 41  [command.c]
#             over ../tests/fuzz/corpus/command (44)
#
# The second line names the directories that were replayed, with their
# number of files: a figure "over the seeds" that also took in a grown
# corpus lying in the build tree says so there.
#   coverage.sh -b BINARY -s "SOURCES" [-H HTML-DIR] [-P PROFDATA] NAME DIR...
#
# SOURCES are the files the figure is taken over (the parser the target is
# for, not everything it links); DIRs are corpus directories. The tools are
# $LLVM_PROFDATA and $LLVM_COV, else llvm-profdata/llvm-cov, else the
# versioned names Debian installs (llvm-cov-14, ...).
set -eu

bin="" sources="" html="" profdata=""
while getopts b:s:H:P: o; do
        case $o in
        b) bin=$OPTARG ;;
        s) sources=$OPTARG ;;
        H) html=$OPTARG ;;
        P) profdata=$OPTARG ;;
        *) exit 2 ;;
        esac
done
shift $((OPTIND - 1))
if [ -z "$bin" ] || [ -z "$sources" ] || [ $# -lt 2 ]; then
        echo "usage: coverage.sh -b BINARY -s SOURCES [-H HTML-DIR] [-P PROFDATA] NAME DIR..." >&2
        exit 2
fi
name=$1
shift

tool() { # NAME [ENV-VALUE]: the first of NAME, NAME-19 ... NAME-14 on PATH
        if [ -n "${2:-}" ]; then echo "$2"; return; fi
        for v in "" -19 -18 -17 -16 -15 -14 -13; do
                if command -v "$1$v" >/dev/null 2>&1; then echo "$1$v"; return; fi
        done
        echo "coverage.sh: $1 not found (Debian: apt-get install llvm)" >&2
        exit 1
}
profdata_tool=$(tool llvm-profdata "${LLVM_PROFDATA:-}")
cov_tool=$(tool llvm-cov "${LLVM_COV:-}")

[ -n "$profdata" ] || profdata=$bin.profdata
raw=$bin.profraw.d
rm -rf "$raw"
mkdir -p "$raw"
# -runs=0: read every input of every directory, run each once, stop. A
# crashing input would lose the profile (it is written at exit); corpus
# directories hold none, crash-* files are kept elsewhere.
if ! LLVM_PROFILE_FILE="$raw/%p.profraw" "$bin" -runs=0 -max_len=65536 "$@" >"$bin.cov.log" 2>&1; then
        tail -n 20 "$bin.cov.log" >&2
        echo "coverage.sh: $name: the coverage run failed (an input crashes?); see $bin.cov.log" >&2
        exit 1
fi
"$profdata_tool" merge -sparse "$raw"/*.profraw -o "$profdata"
rm -rf "$raw"

inputs=$(find "$@" -type f | wc -l)
# The table over every file the binary has (llvm-cov 14's report ignores a
# SOURCES filter here), summed over the rows of SOURCES: rows are named by
# their path less the common prefix, so they are matched on the last two
# components (daemon/command.c).
"$cov_tool" report "$bin" -instr-profile="$profdata" >"$bin.cov.txt"
want=$(for f in $sources; do echo "$f" | awk -F/ '{ print (NF > 1 ? $(NF - 1) "/" : "") $NF }'; done | tr '\n' ' ')
files=$(for f in $sources; do basename "$f"; done | tr '\n' ' ' | sed 's/ $//')
# Filename  Regions Missed Cover  Functions Missed Executed  Lines Missed Cover  [Branches Missed Cover]
awk -v name="$name" -v inputs="$inputs" -v files="$files" -v want="$want" '
        function pc(total, missed) { return total ? sprintf("%.1f%%", 100 * (total - missed) / total) : "-" }
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
        {
                k = split($1, p, "/"); key = (k > 1 ? p[k - 1] "/" : "") p[k]
                if (!(key in wanted) || NF < 10) next
                seen++; r += $2; rm += $3; fn += $5; fm += $6; l += $8; lm += $9
        }
        END {
                if (!seen) { print name ": none of the sources in the coverage report" > "/dev/stderr"; exit 1 }
                printf "%-9s lines %6s (%d/%d)  regions %6s (%d/%d)  functions %6s (%d/%d)  inputs %d  [%s]\n",
                        name, pc(l, lm), l - lm, l, pc(r, rm), r - rm, r, pc(fn, fm), fn - fm, fn, inputs, files
        }' "$bin.cov.txt"
over="" sep=""
for d in "$@"; do
        over="$over$sep$d ($(find "$d" -type f | wc -l))"
        sep=", "
done
echo "          over $over"

if [ -n "$html" ]; then
        rm -rf "$html"
        mkdir -p "$html"
        # the other files, by name, left out (the same llvm-cov ignores SOURCES)
        skip=$(awk -v want="$want" '
                BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
                NF >= 10 && $1 ~ /\.[ch]$/ {
                        k = split($1, p, "/"); key = (k > 1 ? p[k - 1] "/" : "") p[k]
                        if (!(key in wanted)) { gsub(/[.]/, "[.]", $1); printf "%s%s$", sep, $1; sep = "|" }
                }' "$bin.cov.txt")
        "$cov_tool" show "$bin" -instr-profile="$profdata" -format=html -output-dir="$html" \
                -show-line-counts-or-regions ${skip:+-ignore-filename-regex="($skip)"}
        echo "          HTML: $html/index.html"
fi
