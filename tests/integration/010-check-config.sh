#!/bin/sh
# beredd --check-config: the shipped examples are valid; a file with five
# different mistakes gets five FILE:LINE: lines and a non-zero exit.
. "$(dirname "$0")/common.sh"

say "the embedded default (conf/demo.conf) is valid"
"$BEREDD" --check-config -c "$top_srcdir/conf/demo.conf" > "$T/out" 2>&1 || { cat "$T/out"; fail "demo.conf does not validate"; }
assert_grep "$T/out" "configuration OK"

say "the full example (conf/beredd.conf) is valid given its credentials"
mkdir -p "$T/creds"
for f in $(grep -o '[a-z_]*_file *= *"[^"]*"' "$top_srcdir/conf/beredd.conf" | sed 's/.*"\(.*\)"/\1/'); do
        echo "dummy-secret" > "$T/creds/$f"; chmod 0600 "$T/creds/$f"
done
CREDENTIALS_DIRECTORY="$T/creds" "$BEREDD" --check-config -c "$top_srcdir/conf/beredd.conf" > "$T/out" 2>&1 \
        || { cat "$T/out"; fail "beredd.conf does not validate"; }

say "the installed starting point (conf/beredd.conf.installed) is valid with no secrets at all"
inst="$top_builddir/conf/beredd.conf.installed"
[ -f "$inst" ] || fail "$inst was not built"
env -u CREDENTIALS_DIRECTORY "$BEREDD" --check-config -c "$inst" > "$T/out" 2>&1 || { cat "$T/out"; fail "$inst does not validate"; }
assert_grep "$T/out" "configuration OK (site kommune: 5 people, 1 chains, 1 gateways)"

say "... and with every setting it has commented out (\"#: \") enabled, given their secrets"
mkdir -p "$T/inst"
sed 's/^\( *\)#: /\1/' "$inst" > "$T/inst/beredd.conf"
assert_no_grep "$T/inst/beredd.conf" "^ *#: "
for f in $(grep -o '[a-z_]*_file *= *"[^"]*"' "$T/inst/beredd.conf" | sed 's/.*"\(.*\)"/\1/'); do
        echo "dummy-secret" > "$T/inst/$f"; chmod 0600 "$T/inst/$f"
done
env -u CREDENTIALS_DIRECTORY "$BEREDD" --check-config -c "$T/inst/beredd.conf" > "$T/out" 2>&1 \
        || { cat "$T/out"; fail "the installed configuration with its commented-out settings enabled does not validate"; }
assert_grep "$T/out" "5 gateways.*mqtt"

say "the provider examples (conf/examples/: SMS, Twilio voice) are valid given their credentials"
for f in "$top_srcdir"/conf/examples/*.conf; do
        for c in $(grep -o '[a-z_]*_file *= *"[^"]*"' "$f" | sed 's/.*"\(.*\)"/\1/'); do
                echo "dummy-secret" > "$T/creds/$c"; chmod 0600 "$T/creds/$c"
        done
        CREDENTIALS_DIRECTORY="$T/creds" "$BEREDD" --check-config -c "$f" > "$T/out" 2>&1 || { cat "$T/out"; fail "$f does not validate"; }
done

say "a gateway template mistake is caught at load, not at call-out"
cat > "$T/tmpl.conf" <<EOC
site = "test";
spool = "$T/spool";
people = ( { id = "kari"; name = "Kari"; phone = "+4791234567"; } );
gateways = ( { id = "sms"; channel = "sms"; type = "http"; url = "http://127.0.0.1:9/send?to={to}";
               body = "{{\\"to\\":\\"{to}\\",\\"msg\\":\\"{mesage}\\"}"; content_type = "application/json"; } );
EOC
rc=0; "$BEREDD" --check-config -c "$T/tmpl.conf" > "$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a bad body template was accepted"
assert_grep "$T/out" "^$T/tmpl.conf:5: gateways\\[0\\].body: unknown placeholder {mesage}"

say "a test configuration is valid"
write_config "$T/good.conf"
"$BEREDD" --check-config -c "$T/good.conf" > "$T/out" 2>&1 || { cat "$T/out"; fail "good.conf does not validate"; }

say "five mistakes, five FILE:LINE: lines"
cat > "$T/bad.conf" <<'EOC'
site = "test";
spool = "/tmp/beredd-unused";
colour = "blue";
people = (
  { id = "kari"; name = "Kari Nordmann"; phone = "+4791234567"; roles = ["leader"]; },
  { id = "kari"; name = "Kari Duplikat"; phone = "+4791234568"; roles = ["member"]; }
);
gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );
chains = (
  { id = "kriseteam";
    may_trigger = [ "kari" ];
    need = { total = 1; };
    steps = (
      { notify = [ "role:leader" ]; via = [ "sms" ]; wait = "5 minutter"; },
      { notify = [ "per" ]; via = [ "sms" ]; wait = "3m"; },
      { notify = [ "kari" ]; via = [ "sms" ]; wait = 10; }
    );
  }
);
EOC
rc=0
"$BEREDD" --check-config -c "$T/bad.conf" > "$T/out" 2>&1 || rc=$?
cat "$T/out"
[ "$rc" -ne 0 ] || fail "--check-config accepted a bad file"
n=$(grep -c "^$T/bad.conf:[0-9][0-9]*: " "$T/out" || true)
assert_eq "$n" 5 "expected 5 FILE:LINE: errors, got $n"
assert_grep "$T/out" "^$T/bad.conf:3: .*colour" "unknown top-level key not reported at line 3"
assert_grep "$T/out" "^$T/bad.conf:6: .*duplicate" "duplicate id not reported at line 6"
assert_grep "$T/out" "^$T/bad.conf:14: .*5 minutter" "bad duration not reported at line 14"
assert_grep "$T/out" "^$T/bad.conf:15: .*per" "unknown person not reported at line 15"
assert_grep "$T/out" "^$T/bad.conf:16: .*wait" "wrong type not reported at line 16"

say "a syntax error names its line"
printf 'site = "test";\npeople = ( { id = "kari" ;\n' > "$T/syntax.conf"
rc=0
"$BEREDD" --check-config -c "$T/syntax.conf" > "$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "--check-config accepted a syntax error"
assert_grep "$T/out" "^$T/syntax.conf:[0-9][0-9]*: "

say "a missing file is a clear error"
rc=0
"$BEREDD" --check-config -c "$T/nonexistent.conf" > "$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "--check-config accepted a missing file"
assert_grep "$T/out" "nonexistent.conf"

say "a world-readable secret is refused"
cat > "$T/secret.conf" <<EOC
site = "test";
spool = "$T/spool";
people = ( { id = "kari"; name = "Kari"; phone = "+4791234567"; } );
gateways = ( { id = "mail"; channel = "email"; type = "smtp"; url = "smtp://127.0.0.1:2525"; from = "kriseteam@kommune.example";
               username = "kriseteam"; password_file = "mail.password"; } );
EOC
echo "hemmelig-passord" > "$T/mail.password"; chmod 0644 "$T/mail.password"
rc=0
"$BEREDD" --check-config -c "$T/secret.conf" > "$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a world-readable secret was accepted"
assert_grep "$T/out" "^$T/secret.conf:[0-9][0-9]*: .*readable by others"
assert_no_grep "$T/out" "hemmelig-passord" "the secret itself was printed"
chmod 0600 "$T/mail.password"
"$BEREDD" --check-config -c "$T/secret.conf" > "$T/out" 2>&1 || { cat "$T/out"; fail "a 0600 secret was refused"; }
say "ok"
