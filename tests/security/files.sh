#!/bin/sh
# Issue 13, items 7 and 8 against the real daemon: odd entries in incoming/
# (symlink, FIFO, device node, socket, folder) go to failed/ with a reason and
# one log line; a hard link is seen at once; file names are escaped in the
# log; rejected values are echoed neither in the log nor in the .reason;
# secret-file permission rules; idle control-socket clients; the caller's uid.
. "$(dirname "$0")/../integration/common.sh"

write_config "$T/beredd.conf"
mkdir -p "$T/spool/incoming"
chmod 0750 "$T/spool"
start_beredd "$T/beredd.conf" -v
IN="$T/spool/incoming" FAILED="$T/spool/failed"

odd_rejected() { # NAME WHAT
        wait_until 5 test -f "$FAILED/$1.reason" || fail "incoming/$1 ($2) not moved to failed/"
        [ ! -e "$IN/$1" ] && [ ! -L "$IN/$1" ] || fail "incoming/$1 ($2) still in incoming/"
        assert_grep "$FAILED/$1.reason" "not a regular file ($2)"
        # the log line follows the move: wait for it, then count it
        wait_until 5 grep -q "incoming/$1: rejected" "$T/beredd.log" || fail "incoming/$1 rejected without a log line"
        assert_eq "$(grep -c "incoming/$1: rejected" "$T/beredd.log")" 1 "incoming/$1 not logged exactly once"
}

say "a symlink, a FIFO, a socket, a folder and a device node in incoming/"
echo secret > "$T/target"
ln -s "$T/target" "$IN/link.json"
odd_rejected link.json "a symbolic link"
[ -L "$FAILED/link.json" ] || fail "the symlink itself was not moved"
mkfifo "$IN/fifo.json"
odd_rejected fifo.json "a FIFO"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$IN/sock.json"
odd_rejected sock.json "a socket"
mkdir "$IN/sub.json"
odd_rejected sub.json "a folder"
if [ "$(id -u)" = 0 ] && mknod "$IN/null.json" c 1 3 2>/dev/null; then
        odd_rejected null.json "a character device"
else
        say "(not root or no mknod: device node skipped)"
fi
ctl status >/dev/null || fail "the daemon stopped answering after the odd entries"
for f in link fifo sock sub; do # still once each, after the daemon went on
        assert_eq "$(grep -c "incoming/$f.json: rejected" "$T/beredd.log")" 1 "incoming/$f.json logged again later"
done

say "odd entries present at start are handled by the start-up scan"
stop_beredd
mkfifo "$IN/early-fifo.json"
ln -s /nonexistent "$IN/early-dangling.json"
start_beredd "$T/beredd.conf" -v
odd_rejected early-fifo.json "a FIFO"
odd_rejected early-dangling.json "a symbolic link"

say "a hard link into incoming/ is processed at once"
printf '%s' '{"cmd":"trigger","chain":"kriseteam","by":"kari","drill":true}' > "$T/ready.json"
ln "$T/ready.json" "$IN/hardlink.json"
wait_until 5 grep -q "incoming/hardlink.json: accepted" "$T/beredd.log" || fail "the hard link was not processed"
[ ! -e "$IN/hardlink.json" ] || fail "the hard link stayed in incoming/"

say "a hard link whose other name is removed at once is processed too"
printf '%s' '{"cmd":"trigger","chain":"kriseteam","by":"kari","drill":true}' > "$T/ready2.json"
ln "$T/ready2.json" "$IN/linkrm.json" && rm "$T/ready2.json"
wait_until 5 grep -q "incoming/linkrm.json: accepted" "$T/beredd.log" || fail "the hard link (ln; rm) was not processed"

say "a file still being written in place is not taken half-written"
exec 3>"$IN/inplace.json"
printf '{"cmd":"trigger",' >&3
sleep 0.3
[ -e "$IN/inplace.json" ] || fail "a file still open for writing was taken"
printf '"chain":"kriseteam","by":"kari","drill":true}' >&3
exec 3>&-
wait_until 5 grep -q "incoming/inplace.json: accepted" "$T/beredd.log" || fail "the finished file was not processed"

say "a drop-file name with a newline and an ANSI escape is escaped in the log"
esc=$(printf '\033')
bad=$(printf 'x\nberedd[info]: forged %s[31mred.json' "$esc")
printf 'junk' > "$IN/.bad.tmp"
mv "$IN/.bad.tmp" "$IN/$bad"
wait_until 5 grep -q 'incoming/x\\nberedd\[info\]: forged \\x1b\[31mred.json: rejected' "$T/beredd.log" \
        || fail "the odd name was not logged escaped"
assert_no_grep "$T/beredd.log" "^beredd\[info\]: forged" "a forged log line"
grep -q "$esc" "$T/beredd.log" && fail "an ESC byte reached the log"

say "a rejected value (a phone number, a name in the wrong field) is echoed nowhere"
drop wrongfield.json '{"cmd":"trigger","chain":"+4791234567","by":"Kari Nordmann"}'
drop wrongkey.json '{"cmd":"trigger","chain":"kriseteam","by":"kari","+4799887766":1}'
drop wrongcmd.json '{"cmd":"Ola Nordmann 91234568"}'
drop wrongjson.json 'Ola Nordmann +4791234568'
for f in wrongfield wrongkey wrongcmd wrongjson; do
        wait_until 5 test -f "$FAILED/$f.json.reason" || fail "$f not rejected"
done
for v in 4791234567 4799887766 91234568 "Kari Nordmann" "Ola Nordmann"; do
        grep -q -- "$v" "$T/beredd.log" && fail "'$v' echoed into the log"
        grep -q -- "$v" "$FAILED"/wrong*.reason && fail "'$v' echoed into a .reason"
done
assert_grep "$FAILED/wrongfield.json.reason" "chain: must be"
drop wrongperson.json '{"cmd":"trigger","chain":"kriseteam","by":"kari91234567"}'
wait_until 5 test -f "$FAILED/wrongperson.json.reason" || fail "wrongperson not rejected"
assert_grep "$FAILED/wrongperson.json.reason" "by: no such person"
assert_no_grep "$T/beredd.log" "kari91234567"
assert_grep "$FAILED/wrongkey.json.reason" "unknown field"
assert_grep "$FAILED/wrongcmd.json.reason" "cmd: unknown command"

say "control-socket requests log the caller's uid"
ctl status >/dev/null
wait_until 5 grep -q "Control socket: uid $(id -u): status" "$T/beredd.log" || fail "no uid in the log"

say "70 idle control-socket clients do not lock out beredctl status, and time out"
python3 - "$T/control" "$T/idle.out" <<'PY' &
import socket, sys, time
socks = []
for i in range(70):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)
open(sys.argv[2], "w").write("open\n")
end = time.time() + 60
closed = 0
for s in socks:
    s.settimeout(max(0.1, end - time.time()))
    try:
        if s.recv(100) == b"": closed += 1
    except OSError:
        closed += 1
open(sys.argv[2], "a").write("closed %d\n" % closed)
PY
IDLE_PID=$!
PIDS="$PIDS $IDLE_PID"
wait_until 10 grep -q open "$T/idle.out" || fail "the idle clients did not connect"
ctl status >/dev/null || fail "beredctl status locked out by idle clients"
wait_until 40 grep -q "closed 70" "$T/idle.out" || fail "idle clients not closed: $(cat "$T/idle.out")"
ctl status >/dev/null || fail "no answer after the idle clients"
stop_beredd

say "secret files: owner, mode and folder rules"
S="$T/secrets"
mkdir -m 0700 "$S"
write_config "$T/secret.conf"
cat >> "$T/secret.conf" <<EOC
mqtt: { host = "127.0.0.1"; port = 1; base = "beredd/test"; username = "u"; password_file = "$S/lm.password"; };
EOC
printf 'hunter2\n' > "$S/lm.password"
chmod 0600 "$S/lm.password"
"$BEREDD" --check-config -c "$T/secret.conf" > "$T/cc.out" 2>&1 || fail "a good secret refused: $(cat "$T/cc.out")"
chmod 0660 "$S/lm.password"
! "$BEREDD" --check-config -c "$T/secret.conf" > "$T/cc.out" 2>&1 || fail "a 0660 secret accepted"
assert_grep "$T/cc.out" "secret.conf:[0-9]*: .*lm.password is writable by its group"
chmod 0600 "$S/lm.password"
if [ "$(id -u)" = 0 ]; then
        chown nobody "$S/lm.password"
        ! "$BEREDD" --check-config -c "$T/secret.conf" > "$T/cc.out" 2>&1 || fail "a secret of another user accepted"
        assert_grep "$T/cc.out" "lm.password is owned by uid [0-9]*, not by root or beredd's user"
        chown 0 "$S/lm.password"
fi
chmod 0777 "$S"
! "$BEREDD" --check-config -c "$T/secret.conf" > "$T/cc.out" 2>&1 || fail "a secret in a 0777 folder accepted"
assert_grep "$T/cc.out" "the folder $S is writable by others"
chmod 0700 "$S"
grep -q hunter2 "$T/cc.out" "$T/beredd.log" && fail "the secret reached an error message"
"$BEREDD" --check-config -c "$T/secret.conf" > "$T/cc.out" 2>&1 || fail "good again: $(cat "$T/cc.out")"
say "ok"
