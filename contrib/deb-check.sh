#!/bin/sh
# deb-check.sh - build the Debian package, check it with lintian, and take
# it through what a municipality's IT does with it: install, edit the
# configuration, upgrade, remove, purge. Run by contrib/run-tests.sh after
# distcheck (not part of `make check`); it needs root and a Debian 12
# machine, and about two minutes.
#
# It installs the package on this machine itself, so it refuses to run where
# beredd is installed already (package, user or /etc/beredd), and it leaves
# the machine as it found it: whatever happens, the package is purged and the
# user, group and spool it created are removed again.
#
# The packages and the logs stay in build-deb/ (BEREDD_DEB_OUT).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=${BEREDD_DEB_OUT:-$top/build-deb}
scale=${BEREDD_TIME_SCALE:-1}
conf=/etc/beredd/beredd.conf
spool=/var/spool/beredd

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it installs the package on this machine)"
if dpkg-query -W -f='${Status}' beredd 2>/dev/null | grep -qv "not-installed"; then
        fail "beredd is installed on this machine; refusing to install, upgrade and purge it"
fi
getent passwd beredd >/dev/null && fail "user beredd exists: refusing to touch an existing installation"
getent group beredd >/dev/null && fail "group beredd exists: refusing to touch an existing installation"
[ -e /etc/beredd ] && fail "/etc/beredd exists: refusing to touch an existing installation"
[ -e "$spool" ] && fail "$spool exists: refusing to touch an existing spool"

. contrib/deps.sh
beredd_install_deps debhelper lintian devscripts equivs util-linux

work=$(mktemp -d /tmp/beredd-deb.XXXXXX)
daemon_pid=""
cleanup() {
        rc=$?
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || :
        if dpkg-query -W -f='${Status}' beredd 2>/dev/null | grep -qv "not-installed"; then
                DEBIAN_FRONTEND=noninteractive apt-get purge -y -q beredd >/dev/null 2>&1 || :
        fi
        # The package keeps the spool and the user on purge, by design; this
        # machine had neither before (checked above).
        rm -rf "$spool"
        getent passwd beredd >/dev/null && userdel beredd 2>/dev/null || :
        getent group beredd >/dev/null && groupdel beredd 2>/dev/null || :
        rm -rf "$work"
        exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
next="${version%.*}.$(( ${version##*.} + 1 ))"
third="${version%.*}.$(( ${version##*.} + 2 ))"
ac_version=$(sed -n 's/^AC_INIT(\[beredd\], *\[\([^]]*\)\].*/\1/p' configure.ac)
[ "$version" = "$ac_version" ] || fail "debian/changelog says $version, configure.ac's AC_INIT $ac_version"
mkdir -p "$out"
rm -f "$out"/beredd_* "$out"/beredd-dbgsym_*

# A copy of the tree: dpkg-buildpackage writes into the source folder and
# puts the packages beside it.
copy_tree() { # DEST
        mkdir -p "$1"
        if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
                (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$1"
        else
                (cd "$top" && tar -cf - --exclude='./build*' --exclude=./tests/node/node_modules --exclude=./.git .) | tar -xf - -C "$1"
        fi
}

build() { # VERSION [newconf: the shipped beredd.conf changes too]
        src="$work/beredd-$1"
        copy_tree "$src"
        [ "${2:-}" = newconf ] && printf '# %s: a newer example\n' "$1" >> "$src/conf/beredd.conf.installed.in"
        if [ "$1" != "$version" ]; then
                { printf 'beredd (%s) unstable; urgency=medium\n\n  * CI upgrade test (contrib/deb-check.sh).\n\n' "$1"
                  printf ' -- CI <ci@example.invalid>  %s\n\n' "$(date -R)"
                  cat "$src/debian/changelog"; } > "$src/debian/changelog.new"
                mv "$src/debian/changelog.new" "$src/debian/changelog"
        fi
        (cd "$src" && DEB_BUILD_OPTIONS="parallel=${BEREDD_DEB_JOBS:-2}" dpkg-buildpackage -us -uc -b \
                >"$out/build-$1.log" 2>&1) || { tail -n 40 "$out/build-$1.log"; fail "dpkg-buildpackage $1 (log: $out/build-$1.log)"; }
        cp "$work"/beredd_"$1"_*.deb "$work"/beredd-dbgsym_"$1"_*.deb "$work"/beredd_"$1"_*.changes "$work"/beredd_"$1"_*.buildinfo "$out"/
}

t0=$(date +%s)
step "build dependencies"
if ! dpkg-checkbuilddeps debian/control 2>/dev/null; then
        (cd "$work" && mk-build-deps -i -r -t 'apt-get -y -q --no-install-recommends' "$top/debian/control") >/dev/null
fi

step "dpkg-buildpackage $version"
build "$version"
deb=$(ls "$out"/beredd_"$version"_*.deb)
basename "$deb"

step "lintian"
# --fail-on: errors and warnings fail; info and pedantic tags are shown.
lrc=0
lintian --fail-on error,warning --display-info --pedantic "$out"/beredd_"$version"_*.changes \
        >"$out/lintian.txt" 2>&1 || lrc=$?
sed -i '/^running with root privileges/d' "$out/lintian.txt"
if [ -s "$out/lintian.txt" ]; then cat "$out/lintian.txt"; else echo "(lintian: no tags)"; fi
[ $lrc -eq 0 ] && ! grep -q '^[EW]: ' "$out/lintian.txt" || fail "lintian reports errors or warnings (above)"

step "build $next and $third (for the upgrades; $third ships a changed beredd.conf)"
build "$next"
build "$third" newconf

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" </dev/null; }

# mode owner:group of a path, as stat prints them
perms() { stat -c '%a %U:%G' "$1"; }

# The daemon as systemd would run it: user beredd, the installed config.
# Without systemd as PID 1 (a container) the unit cannot start; then run the
# same command by hand, as user beredd, with the socket in a private folder.
check_daemon_runs() {
        runuser -u beredd -- beredd --check-config -c "$conf" || fail "installed config fails --check-config as user beredd"
        if [ -d /run/systemd/system ]; then
                systemctl is-enabled --quiet beredd || fail "beredd.service is not enabled"
                n=0; until systemctl is-active --quiet beredd; do
                        n=$((n + 1)); [ $n -le $((100 * scale)) ] || { systemctl status beredd --no-pager || :; fail "beredd.service did not start"; }
                        sleep 0.1
                done
                beredctl status | grep -q '^Ready: *yes' || fail "beredctl status: not ready"
                return
        fi
        [ -L /etc/systemd/system/multi-user.target.wants/beredd.service ] || fail "beredd.service is not enabled"
        sock=$(mktemp -d /tmp/beredd-run.XXXXXX); chown beredd:beredd "$sock"
        setpriv --reuid=beredd --regid=beredd --init-groups -- beredd -c "$conf" -s "$sock/control" &
        daemon_pid=$!
        n=0; until [ -S "$sock/control" ]; do
                n=$((n + 1)); [ $n -le $((100 * scale)) ] || fail "beredd did not start as user beredd with the installed config"
                kill -0 "$daemon_pid" 2>/dev/null || fail "beredd exited at start with the installed config"
                sleep 0.1
        done
        st=$(beredctl -s "$sock/control" status) || fail "beredctl status failed"
        echo "$st" | grep -q '^Ready: *yes' || { echo "$st"; fail "beredctl status: not ready"; }
        kill "$daemon_pid"; wait "$daemon_pid" || fail "beredd did not stop cleanly on SIGTERM"
        daemon_pid=""; rm -rf "$sock"
}

step "install $version"
t1=$(date +%s)
apt_get install "$deb" >"$out/install.log" 2>&1 || { cat "$out/install.log"; fail "apt-get install"; }
echo "PID 1: $(ps -p 1 -o comm=)$([ -d /run/systemd/system ] || echo ' (not systemd: the unit is checked, the daemon started by hand)')"
getent passwd beredd >/dev/null || fail "no user beredd after install"
[ "$(perms /etc/beredd)" = "750 root:beredd" ] || fail "/etc/beredd is $(perms /etc/beredd), not 750 root:beredd"
[ "$(perms "$conf")" = "640 root:beredd" ] || fail "$conf is $(perms "$conf"), not 640 root:beredd"
for d in "$spool" "$spool"/incoming "$spool"/activations "$spool"/outbox; do
        [ "$(perms "$d")" = "750 beredd:beredd" ] || fail "$d is $(perms "$d" 2>&1), not 750 beredd:beredd"
done
grep -qx "$conf" /var/lib/dpkg/info/beredd.conffiles || fail "$conf is not a conffile"
[ ! -e /etc/systemd/system/multi-user.target.wants/beredd@.service ] || fail "the template beredd@.service was enabled"
if command -v systemd-analyze >/dev/null; then
        systemd-analyze verify beredd.service beredd@kommune.service || fail "systemd-analyze verify of the installed units"
fi
# journalctl -x explains beredd's MESSAGE_IDs: systemd's dpkg trigger ran
# journalctl --update-catalog for the installed catalog.
if [ -e /usr/lib/systemd/catalog/beredd.catalog ] && command -v journalctl >/dev/null; then
        id=$(sed -n 's/^-- \([0-9a-f]\{32\}\).*/\1/p' /usr/lib/systemd/catalog/beredd.catalog | head -n 1)
        journalctl --list-catalog "$id" 2>/dev/null | grep -q "$id" ||
                fail "journalctl does not know MESSAGE_ID $id from the installed catalog"
fi
check_daemon_runs
echo "dpkg -L beredd:"
dpkg -L beredd | tee "$out/dpkg-L.txt"

step "edit the configuration, upgrade to $next"
edit="# local edit $(date +%s) by deb-check"
echo "$edit" >> "$conf"
runuser -u beredd -- touch "$spool/deb-check.marker"
apt_get install "$out"/beredd_"$next"_*.deb >"$out/upgrade.log" 2>&1 || { cat "$out/upgrade.log"; fail "upgrade"; }
grep -q "Configuration file '$conf'" "$out/upgrade.log" && { cat "$out/upgrade.log"; fail "the upgrade asked about $conf"; }
[ "$(dpkg-query -W -f='${Version}' beredd)" = "$next" ] || fail "not upgraded to $next"
tail -n 1 "$conf" | grep -qxF "$edit" || fail "the edit of $conf did not survive the upgrade"
ls /etc/beredd/*.dpkg-* >/dev/null 2>&1 && fail "the upgrade left $(ls /etc/beredd/*.dpkg-*)"
[ "$(perms "$conf")" = "640 root:beredd" ] || fail "$conf is $(perms "$conf") after the upgrade"
check_daemon_runs
echo "edit kept, daemon runs with it"

step "upgrade to $third, whose shipped beredd.conf changed too (unattended: --force-confdef --force-confold)"
apt_get -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        install "$out"/beredd_"$third"_*.deb >"$out/upgrade2.log" 2>&1 || { cat "$out/upgrade2.log"; fail "upgrade to $third"; }
[ "$(dpkg-query -W -f='${Version}' beredd)" = "$third" ] || fail "not upgraded to $third"
tail -n 1 "$conf" | grep -qxF "$edit" || fail "the edit of $conf did not survive the upgrade to $third"
tail -n 1 "$conf.dpkg-dist" 2>/dev/null | grep -q "^# $third: a newer example" || fail "no $conf.dpkg-dist with the new example"
[ "$(perms "$conf")" = "640 root:beredd" ] || fail "$conf is $(perms "$conf") after the upgrade to $third"
[ "$(stat -c %a "$conf.dpkg-dist")" = 640 ] || fail "$conf.dpkg-dist is $(stat -c %a "$conf.dpkg-dist"), not 640"
check_daemon_runs
echo "edit kept, the new example beside it as beredd.conf.dpkg-dist"

step "remove"
apt_get remove beredd >"$out/remove.log" 2>&1 || { cat "$out/remove.log"; fail "apt-get remove"; }
[ ! -e /usr/sbin/beredd ] || fail "/usr/sbin/beredd is still there after remove"
tail -n 1 "$conf" | grep -qxF "$edit" || fail "remove did not keep the edited $conf"
[ -e "$spool/deb-check.marker" ] || fail "remove did not keep the spool"
dpkg-query -W -f='${db:Status-Abbrev}' beredd | grep -q '^rc' || fail "not in state config-files after remove"
echo "config and spool kept"

step "purge"
apt_get purge beredd >"$out/purge.log" 2>&1 || { cat "$out/purge.log"; fail "apt-get purge"; }
grep '^beredd:' "$out/purge.log" || :
[ ! -e /etc/beredd ] || fail "/etc/beredd is still there after purge: $(ls -A /etc/beredd)"
[ ! -e /etc/systemd/system/multi-user.target.wants/beredd.service ] || fail "the enable link survived purge"
[ -e "$spool/deb-check.marker" ] || fail "purge deleted the spool (it must keep it and say so)"
grep -q "^beredd: kept $spool" "$out/purge.log" || fail "purge kept the spool without saying so"
echo "config removed; spool kept and reported"

t2=$(date +%s)
echo "deb-check: OK ($version, $next and $third built, lintian clean, install/upgrade/remove/purge) in $((t2 - t0)) s (builds and lintian $((t1 - t0)) s); packages in $out"
