#!/bin/sh
# 050-systemd-units.sh - check the systemd units, sysusers.d and tmpfiles.d files.
#
# Substitutes systemd/beredd.service.in and systemd/beredd@.service.in into a
# temporary folder (as the Makefile does, but with ExecStart pointing at a
# program that exists here), then
#   - systemd-analyze verify --man=no: no warning or error about our units;
#   - systemd-analyze security --offline=true: overall exposure <= 2.0;
#   - systemd-sysusers / systemd-tmpfiles --dry-run on the other two files,
#     when those tools are installed.
# Works without systemd as PID 1 (containers): nothing here talks to a
# running manager. Needs the `systemd` package (systemd-analyze); skips (77)
# without it.
#
# Automake test: exit 0 pass, 1 fail, 77 skip. Uses $top_srcdir, $top_builddir.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

MAX_EXPOSURE=2.0
INSTANCE="test"

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze not installed (Debian: apt-get install systemd)"
        exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/beredd-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 SYSTEMD_LOG_COLOR=0 LC_ALL=C.UTF-8

fail=0
bad() { echo "FAIL: $*"; fail=1; }

# ---- substitute ------------------------------------------------------------
if [ -x "$top_builddir/beredd" ]; then
        daemon=$top_builddir/beredd
else
        daemon=/bin/true
        echo "note: $top_builddir/beredd not built; ExecStart= uses /bin/true"
fi
case $daemon in
*[!A-Za-z0-9/._+-]*) echo "note: odd characters in '$daemon'; ExecStart= uses /bin/true"; daemon=/bin/true ;;
esac

# Helper programs the units run; on a minimal system (no procps) they may be
# missing, which is about this machine, not about the units.
: > "$tmp/helpers.sed"
for h in /bin/kill /usr/bin/install; do
        if [ ! -x "$h" ]; then
                echo "note: $h missing here; replaced by /bin/true for the check"
                printf 's|^\\(Exec[A-Za-z]*=[-+!@:]*\\)%s |\\1/bin/true |\n' "$h" >> "$tmp/helpers.sed"
        fi
done

subst() {
        sed -e "s|@sbindir[@]/beredd|$daemon|g" \
            -e 's|@sbindir[@]|/usr/sbin|g' -e 's|@bindir[@]|/usr/bin|g' \
            -e 's|@sysconfdir[@]|/etc|g' -e 's|@localstatedir[@]|/var|g' \
            -f "$tmp/helpers.sed" "$1" > "$2"
}

units=$tmp/units
mkdir "$units"
for u in beredd.service beredd@.service; do
        in=$top_srcdir/systemd/$u.in
        if [ ! -s "$in" ]; then
                bad "$in missing or empty"
                continue
        fi
        subst "$in" "$units/$u"
        if grep -n '@[A-Za-z_]*@' "$units/$u" | grep -v '^[0-9]*:#'; then
                bad "$u: unsubstituted @variable@ left (the Makefile substitutes only sbindir, bindir, sysconfdir, localstatedir)"
        fi
done
[ "$fail" -eq 0 ] || exit 1
# An instance of the template, as `systemctl start beredd@test` would load it.
cp "$units/beredd@.service" "$units/beredd@$INSTANCE.service"

# ---- systemd-analyze verify -----------------------------------------------
# Offline: it loads the files given plus what they refer to from the system
# unit paths. --man=no: the man pages are not installed here. Only lines about
# our units count; lines about units this machine lacks are ignored.
verify() { # UNIT-FILE -> output in $tmp/verify.out, status in $vrc
        vrc=0
        (cd "$units" && systemd-analyze verify --man=no --generators=no --no-pager "$1") \
                > "$tmp/verify.out" 2>&1 || vrc=$?
}
ours='beredd'

# Canary: a unit with a bad key must be reported, or verify does not work here.
sed 's|^\[Service\]$|[Service]\nNoSuchBereddKey=yes|' "$units/beredd.service" > "$tmp/canary.service"
mv "$tmp/canary.service" "$units/beredd-canary.service"
verify beredd-canary.service
if ! grep -q 'NoSuchBereddKey' "$tmp/verify.out"; then
        sed 's/^/  | /' "$tmp/verify.out"
        echo "SKIP: systemd-analyze verify does not report unit file errors on this machine"
        exit 77
fi
rm -f "$units/beredd-canary.service"

for u in beredd.service "beredd@$INSTANCE.service"; do
        verify "$u"
        if grep -i "$ours" "$tmp/verify.out" > "$tmp/ours.out"; then
                bad "systemd-analyze verify $u:"
                sed 's/^/  | /' "$tmp/ours.out"
        elif [ "$vrc" -ne 0 ]; then
                echo "note: systemd-analyze verify $u exited $vrc, about other units only:"
                sed 's/^/  | /' "$tmp/verify.out"
        else
                echo "ok: systemd-analyze verify $u"
        fi
done

# ---- systemd-analyze security ---------------------------------------------
for u in beredd.service "beredd@$INSTANCE.service"; do
        src=0
        (cd "$units" && systemd-analyze security --offline=true --no-pager "$u") \
                > "$tmp/security.out" 2>&1 || src=$?
        level=$(sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p' "$tmp/security.out" | head -n 1)
        if [ -z "$level" ]; then
                sed 's/^/  | /' "$tmp/security.out"
                if grep -qi "unrecognized option\|unknown option" "$tmp/security.out"; then
                        echo "SKIP: systemd-analyze security has no --offline here (systemd < 250)"
                        exit 77
                fi
                bad "systemd-analyze security $u (exit $src): no exposure level in its output"
                continue
        fi
        echo "exposure $u: $level (limit $MAX_EXPOSURE)"
        if awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l + 0 > m + 0) }'; then
                bad "$u: exposure $level > $MAX_EXPOSURE; the settings at fault:"
                grep '^✗' "$tmp/security.out" | sed 's/^/  | /' || true
        fi
done

# ---- sysusers.d and tmpfiles.d ---------------------------------------------
# Parsed into an empty root (no changes outside $tmp): a syntax error is a
# failure, and the user and folders must come out as DESIGN.md says.
root=$tmp/root
mkdir -p "$root/etc"
if command -v systemd-sysusers >/dev/null 2>&1; then
        if systemd-sysusers --root="$root" "$top_srcdir/systemd/beredd.sysusers" > "$tmp/sysusers.out" 2>&1; then
                if grep -q '^beredd:x:[0-9]*:[0-9]*:[^:]*:/var/spool/beredd:' "$root/etc/passwd" &&
                   grep -q '^beredd:x:' "$root/etc/group"; then
                        echo "ok: sysusers.d creates user and group beredd"
                else
                        bad "beredd.sysusers: no user/group beredd with home /var/spool/beredd"
                        sed 's/^/  | /' "$tmp/sysusers.out" "$root/etc/passwd"
                fi
        else
                bad "systemd-sysusers rejects beredd.sysusers:"
                sed 's/^/  | /' "$tmp/sysusers.out"
        fi
else
        echo "note: systemd-sysusers not installed; beredd.sysusers not checked"
fi

if command -v systemd-tmpfiles >/dev/null 2>&1; then
        # systemd 252 has no --dry-run: apply to $root (users resolve against
        # $root/etc from above). As non-root the chown fails; then only parse
        # errors (FILE:LINE: ...) count.
        trc=0
        systemd-tmpfiles --root="$root" --create "$top_srcdir/systemd/beredd.tmpfiles" \
                > "$tmp/tmpfiles.out" 2>&1 || trc=$?
        if grep -q 'beredd\.tmpfiles:[0-9]' "$tmp/tmpfiles.out"; then
                bad "systemd-tmpfiles rejects lines of beredd.tmpfiles:"
                sed 's/^/  | /' "$tmp/tmpfiles.out"
        elif [ "$(id -u)" -ne 0 ] || [ ! -s "$root/etc/passwd" ]; then
                echo "ok: beredd.tmpfiles parses (not applied: needs root and systemd-sysusers)"
        elif [ "$trc" -ne 0 ]; then
                bad "systemd-tmpfiles --create beredd.tmpfiles exited $trc:"
                sed 's/^/  | /' "$tmp/tmpfiles.out"
        else
                tfail=0
                for d in etc/beredd var/spool/beredd var/spool/beredd/incoming var/spool/beredd/activations \
                         var/spool/beredd/cases var/spool/beredd/failed var/spool/beredd/outbox var/spool/beredd/tmp; do
                        mode=$(stat -c %a "$root/$d" 2>/dev/null || echo missing)
                        if [ "$mode" != 750 ]; then
                                bad "tmpfiles: /$d is $mode, not 750"
                                tfail=1
                        fi
                done
                [ "$tfail" -ne 0 ] || echo "ok: tmpfiles.d creates /etc/beredd and the spool folders, 0750"
        fi
else
        echo "note: systemd-tmpfiles not installed; beredd.tmpfiles not checked"
fi

if [ "$fail" -ne 0 ]; then
        exit 1
fi
echo "PASS"
exit 0
