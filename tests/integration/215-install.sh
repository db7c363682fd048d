#!/bin/sh
# make install into a DESTDIR: the configuration it installs passes
# --check-config as installed, with no secret and no spool present; a second
# install (an upgrade) keeps an edited configuration and puts the new example
# beside it; make uninstall keeps the edited file and removes the rest.
. "$(dirname "$0")/common.sh"

[ -f "$top_builddir/Makefile" ] || skip "no build tree at $top_builddir"
command -v "${MAKE:-make}" >/dev/null || skip "make is not installed"
R="$T/root"
# The test runs inside `make check`: its variables (TESTS=...) and job
# server must not steer the inner make.
inner_make() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" -s -C "$top_builddir" "$@"; }

say "make install DESTDIR=\$T/root"
inner_make install DESTDIR="$R" > "$T/install1.out" 2>&1 || { cat "$T/install1.out"; fail "make install failed"; }
# Under distcheck the prefix is a temporary folder: find what was installed.
CONF=$(find "$R" -path '*/beredd/beredd.conf' -type f)
BIN=$(find "$R" -path '*/sbin/beredd' -type f)
[ -n "$CONF" ] && [ "$(echo "$CONF" | wc -l)" -eq 1 ] || fail "expected one .../beredd/beredd.conf under $R, got: $CONF"
[ -n "$BIN" ] && [ -x "$BIN" ] || fail "no installed sbin/beredd under $R"
ETC=$(dirname "$CONF")
assert_no_grep "$CONF" "@[a-z]*@" "an unsubstituted @...@ in the installed configuration"
# Its comments name where it was installed (without the DESTDIR).
assert_grep "$CONF" "--check-config -c ${ETC#"$R"}/beredd.conf"
[ ! -e "$ETC/beredd.conf.dist" ] || fail "a first install made beredd.conf.dist"

say "the installed configuration passes --check-config as installed (no secrets, no spool)"
spool=$(sed -n 's/^spool = "\(.*\)";.*/\1/p' "$CONF")
assert_eq "$spool" /var/spool/beredd "the installed spool is not the unit's /var/spool/beredd"
ls "$ETC" > "$T/etc.list"
assert_eq "$(cat "$T/etc.list")" beredd.conf "more than the configuration in $ETC"
env -u CREDENTIALS_DIRECTORY "$BIN" --check-config -c "$CONF" > "$T/check.out" 2>&1 \
        || { cat "$T/check.out"; fail "the installed configuration fails --check-config"; }
assert_grep "$T/check.out" "configuration OK"
cmp -s "$CONF" "$top_builddir/conf/beredd.conf.installed" || fail "the installed file is not conf/beredd.conf.installed"

say "an edited configuration survives a second make install; the new example goes beside it"
echo "# lokal endring: $$" >> "$CONF"
cp "$CONF" "$T/edited.conf"
inner_make install DESTDIR="$R" > "$T/install2.out" 2>&1 || { cat "$T/install2.out"; fail "the second make install failed"; }
cmp -s "$CONF" "$T/edited.conf" || fail "make install replaced the edited configuration"
[ -f "$ETC/beredd.conf.dist" ] || fail "no beredd.conf.dist beside the kept configuration"
cmp -s "$ETC/beredd.conf.dist" "$top_builddir/conf/beredd.conf.installed" || fail "beredd.conf.dist is not the new example"
n=$(grep -c "kept the existing .*beredd.conf" "$T/install2.out" || true)
assert_eq "$n" 1 "expected one line saying the configuration was kept, got $n"

say "make install once more: still the edit, one .dist"
inner_make install DESTDIR="$R" > "$T/install3.out" 2>&1 || { cat "$T/install3.out"; fail "the third make install failed"; }
cmp -s "$CONF" "$T/edited.conf" || fail "the third make install replaced the edited configuration"
assert_eq "$(ls "$ETC" | tr '\n' ' ')" "beredd.conf beredd.conf.dist " "unexpected files in $ETC"

say "make uninstall keeps the edited configuration, removes the example and the programs"
inner_make uninstall DESTDIR="$R" > "$T/uninstall.out" 2>&1 || { cat "$T/uninstall.out"; fail "make uninstall failed"; }
cmp -s "$CONF" "$T/edited.conf" || fail "make uninstall removed or changed the edited configuration"
[ ! -e "$ETC/beredd.conf.dist" ] || fail "make uninstall left beredd.conf.dist"
[ ! -e "$BIN" ] || fail "make uninstall left $BIN"
find "$R" -type f > "$T/left.list"
assert_eq "$(cat "$T/left.list")" "$CONF" "make uninstall left more than the edited configuration"

say "an unedited configuration is removed by make uninstall"
rm -rf "$R"
inner_make install DESTDIR="$R" > "$T/install4.out" 2>&1 || { cat "$T/install4.out"; fail "make install into an empty root failed"; }
inner_make uninstall DESTDIR="$R" > "$T/uninstall2.out" 2>&1 || { cat "$T/uninstall2.out"; fail "make uninstall failed"; }
[ -z "$(find "$R" -type f)" ] || fail "make uninstall left files: $(find "$R" -type f)"
say "ok"
