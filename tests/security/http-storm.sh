#!/bin/sh
# The HTTP listener cannot be wedged, and no webhook route is open.
#
# (a) 100 connections opened at once and closed, ten times: /healthz must
#     answer 200 within 1 s of each storm (the landed code left MHD's epoll
#     set without the listening socket: minutes of silence);
# (b) a slowloris of 100 connections trickling header bytes from one
#     address, and one from ten addresses: /healthz answers within 1 s
#     during and after, and the trickling connections are cut after the
#     5 s head deadline;
# (c) two different Content-Length headers: 400;
# (d) the routes of a gateway without a way to authenticate them: 404;
#     authenticated ones still work (and still refuse a wrong token);
# (e) --check-config: FILE:LINE error for a webhook gateway without token.
#
# The 1 s bound is the requirement, measured on a normal build. Under
# BEREDD_VALGRIND=1 (or BEREDD_WRAPPER) the daemon runs many times slower:
# the bound is scaled by SLOW (10, or $STORM_SLOW) and the test says so;
# otherwise by BEREDD_TIME_SCALE (the sanitizer run sets 2).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/common.sh"

SLOW=${BEREDD_TIME_SCALE:-1}
if [ -n "${BEREDD_WRAPPER:-}" ]; then
        SLOW=${STORM_SLOW:-10}
        say "daemon under a wrapper: time bounds scaled by $SLOW"
fi
BOUND=$SLOW # seconds

HTTP_PORT=$(free_port)
H="http://127.0.0.1:$HTTP_PORT"
mkdir -p "$T/creds"
printf 'gen-secret-0123456789\n' > "$T/creds/gen.token"
printf 'lm-password\n' > "$T/creds/lm.password"
printf 'twilio-secret\n' > "$T/creds/tw.token"
chmod 0600 "$T/creds/"*
export CREDENTIALS_DIRECTORY="$T/creds"

write_config "$T/beredd.conf"
cat >> "$T/beredd.conf" <<EOC
gateways = (
  { id = "outbox"; channel = "any"; type = "file"; },
  { id = "sms-gen"; channel = "sms"; type = "http"; url = "http://127.0.0.1:9/send"; body = "to={to}&msg={text}";
    inbound_token_file = "gen.token"; },
  { id = "sms-open"; channel = "sms"; type = "http"; url = "http://127.0.0.1:9/send"; body = "to={to}&msg={text}"; },
  { id = "sms-lm"; channel = "sms"; type = "linkmobility"; url = "http://127.0.0.1:9"; account = "1:2";
    from = "Kriseteam"; username = "u"; password_file = "lm.password"; },
  { id = "sms-tw"; channel = "sms"; type = "twilio"; url = "http://127.0.0.1:9"; account = "AC1";
    from = "+4759440000"; token_file = "tw.token"; }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; public_url = "https://beredd.example"; };
EOC
# write_config has its own gateways list: keep the last one only.
python3 - "$T/beredd.conf" <<'EOP'
import re, sys
p = sys.argv[1]; s = open(p).read()
first = s.index('gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );\n')
s = s[:first] + s[first + len('gateways = ( { id = "outbox"; channel = "any"; type = "file"; } );\n'):]
open(p, "w").write(s)
EOP
"$BEREDD" --check-config -c "$T/beredd.conf" > "$T/check.out" 2>&1 || { cat "$T/check.out"; fail "the test config does not validate"; }
start_beredd "$T/beredd.conf" -v
wait_until 10 port_open "$HTTP_PORT" || fail "the listener did not open port $HTTP_PORT"

cat > "$T/storm.py" <<'EOP'
import socket, sys, time, threading

port = int(sys.argv[2]); bound = float(sys.argv[3])

def healthz(src="127.0.0.1", timeout=0.25):
    """One GET /healthz; the status code, or None."""
    try:
        s = socket.socket()
        s.settimeout(timeout)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            d = s.recv(256)
            if not d:
                break
            data += d
        s.close()
        return int(data.split()[1]) if data.startswith(b"HTTP/") else None
    except (OSError, ValueError, IndexError):
        return None

def until_healthy(limit):
    """Seconds until /healthz says 200 (or None after LIMIT)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if healthz() == 200:
            return time.monotonic() - t0
    return None

def open_many(n, src="127.0.0.1"):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            pass
        socks.append(s)
    return socks

mode = sys.argv[1]
if mode == "burst":
    worst = 0.0
    for i in range(10):
        socks = open_many(100)
        time.sleep(0.2)  # let them land in the queue and be accepted
        for s in socks:
            s.close()
        t = until_healthy(max(5.0, 5 * bound))
        if t is None:
            print("round %d: /healthz did not answer 200" % i); sys.exit(1)
        worst = max(worst, t)
        print("round %d: /healthz 200 after %.3f s" % (i, t))
    print("worst %.3f s (bound %.1f s)" % (worst, bound))
    sys.exit(0 if worst <= bound else 1)

if mode == "slowloris":
    nsrc = int(sys.argv[4])
    srcs = ["127.0.0.%d" % (2 + k) for k in range(nsrc)]
    socks = []
    for k in range(100):
        s = socket.socket()
        s.settimeout(2 * bound)
        s.bind((srcs[k % nsrc], 0))
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close(); continue
        socks.append([s, time.monotonic(), None])
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    stop = time.monotonic() + 12
    pos = 0; worst = 0.0; probes = 0; slow = 0
    while time.monotonic() < stop and any(c[2] is None for c in socks):
        for c in socks:
            if c[2] is not None:
                continue
            try:
                c[0].send(head[pos % len(head):pos % len(head) + 1])
            except OSError:
                c[2] = time.monotonic() - c[1]
        pos += 1
        # /healthz from another address, during the slowloris. A wedged
        # listener fails every probe; a starved machine (other work, a
        # sanitizer build) may make one slow now and then: each probe must
        # answer within 3 bounds, and at most a quarter of them (and at most
        # 3) may take longer than the bound.
        t0 = time.monotonic()
        if healthz(timeout=3 * bound) != 200:
            print("/healthz did not answer 200 within %.1f s during the slowloris" % (3 * bound)); sys.exit(1)
        took = time.monotonic() - t0
        worst = max(worst, took); probes += 1
        if took > bound:
            slow += 1
            print("probe %d took %.3f s (bound %.1f s)" % (probes, took, bound))
            if slow > 3 or (probes >= 8 and slow * 4 > probes):
                print("/healthz slower than %.1f s in %d of %d probes during the slowloris" % (bound, slow, probes))
                sys.exit(1)
        # a closed connection shows as readable EOF
        for c in socks:
            if c[2] is None:
                c[0].setblocking(False)
                try:
                    if c[0].recv(1024) == b"":
                        c[2] = time.monotonic() - c[1]
                except BlockingIOError:
                    pass
                except OSError:
                    c[2] = time.monotonic() - c[1]
                c[0].settimeout(2 * bound)
        time.sleep(0.3)
    held = [c[2] for c in socks if c[2] is not None]
    alive = sum(1 for c in socks if c[2] is None)
    longest = max(held) if held else 0
    print("slowloris from %d address(es): %d connected, %d still open after 12 s, longest held %.1f s; "
          "%d /healthz probes during (%d slower than the bound), slowest %.3f s"
          % (nsrc, len(socks), alive, longest, probes, slow, worst))
    for c in socks:
        c[0].close()
    if alive or longest > 5 + 2 * bound:
        print("trickling connections were not cut after the head deadline"); sys.exit(1)
    t = until_healthy(max(5.0, 5 * bound))
    if t is None or t > bound:
        print("/healthz not back within %.1f s after the slowloris" % bound); sys.exit(1)
    sys.exit(0)

if mode == "cl":
    s = socket.create_connection(("127.0.0.1", port), 5 * bound + 2)
    s.sendall(b"POST /sms/sms-gen/inbound HTTP/1.1\r\nHost: x\r\nX-Beredd-Token: gen-secret-0123456789\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 5\r\nContent-Length: 40\r\nConnection: close\r\n\r\nfrom=+4791234567&text=JA")
    data = s.recv(4096)
    print(data.split(b"\r\n")[0].decode())
    sys.exit(0 if data.split()[1] == b"400" else 1)
EOP

say "(a) 100 connections at once, closed, ten times: /healthz within ${BOUND} s"
python3 "$T/storm.py" burst "$HTTP_PORT" "$BOUND" > "$T/burst.out" 2>&1 || { cat "$T/burst.out"; fail "the listener stayed wedged after a burst"; }
cat "$T/burst.out" | tail -1 | sed 's/^/# /'

say "(b) slowloris of 100 connections from one address"
python3 "$T/storm.py" slowloris "$HTTP_PORT" "$BOUND" 1 > "$T/slow1.out" 2>&1 || { cat "$T/slow1.out"; fail "slowloris from one address"; }
sed 's/^/# /' "$T/slow1.out"
say "(b) slowloris of 100 connections from ten addresses"
python3 "$T/storm.py" slowloris "$HTTP_PORT" "$BOUND" 10 > "$T/slow10.out" 2>&1 || { cat "$T/slow10.out"; fail "slowloris from ten addresses"; }
sed 's/^/# /' "$T/slow10.out"
wait_until 10 sh -c "curl -s '$H/metrics' | grep -q '^beredd_http_accepting 1'" || fail "/metrics does not say the listener is accepting"
assert_no_grep "$T/beredd.log" "not accepting connections" "a stall was reported although the listener kept accepting"

say "(c) conflicting Content-Length: 400"
python3 "$T/storm.py" cl "$HTTP_PORT" "$BOUND" > "$T/cl.out" 2>&1 || { cat "$T/cl.out"; fail "conflicting Content-Length was not refused"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Beredd-Token: gen-secret-0123456789' -H 'Content-Length: 13' \
        -H 'Content-Length: 013' --data-raw 'from=1&text=x' "$H/sms/sms-gen/inbound")
assert_eq "$code" 200 "one Content-Length written twice answered $code, not 200"

say "(d) routes without a way to authenticate them: 404"
for gw in sms-open sms-lm nope; do
        for r in inbound receipt; do
                code=$(curl -s -o /dev/null -w '%{http_code}' --data-urlencode 'from=+4791234567' --data-urlencode 'text=JA' \
                        "$H/sms/$gw/$r?token=x")
                assert_eq "$code" 404 "/sms/$gw/$r answered $code, not 404"
        done
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data '{}' "$H/sms/sms-lm/receipt")
assert_eq "$code" 404 "/sms/sms-lm/receipt (JSON) answered $code, not 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-urlencode 'from=+4791234567' --data-urlencode 'text=JA' "$H/sms/sms-gen/inbound")
assert_eq "$code" 403 "sms-gen without its token answered $code, not 403"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Beredd-Token: gen-secret-0123456789' \
        --data-urlencode 'from=+4791234567' --data-urlencode 'text=hallo' "$H/sms/sms-gen/inbound")
assert_eq "$code" 200 "sms-gen with its token answered $code, not 200"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-urlencode 'From=+4791234567' --data-urlencode 'Body=JA' "$H/sms/sms-tw/inbound")
assert_eq "$code" 403 "unsigned Twilio webhook answered $code, not 403"

# (f) accept failing (no file descriptors left): not healthy, and said so
if [ -z "${BEREDD_WRAPPER:-}" ] && command -v prlimit >/dev/null; then
        say "(f) accept failing: the journal says so, /healthz gives no 200, and it recovers"
        hard=$(prlimit --pid "$BEREDD_PID" --nofile --noheadings --output HARD)
        nfd=$(ls "/proc/$BEREDD_PID/fd" | wc -l)
        prlimit --pid "$BEREDD_PID" --nofile=$((nfd + 2)):"$hard"
        python3 - "$HTTP_PORT" "$T/hold.done" <<'EOP' &
import os, socket, sys, time
port = int(sys.argv[1]); ss = []
for i in range(10):
    s = socket.socket(); s.bind(("127.0.0.2", 0)); s.setblocking(False); s.connect_ex(("127.0.0.1", port)); ss.append(s)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
EOP
        HOLD=$!
        PIDS="$PIDS $HOLD"
        wait_until 20 grep -q "HTTP listener on .* is not accepting connections" "$T/beredd.log" \
                || fail "a listener that cannot accept was not reported"
        code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$H/healthz" || true)
        [ "$code" != 200 ] || fail "/healthz said 200 while the listener could not accept"
        prlimit --pid "$BEREDD_PID" --nofile=1024:"$hard"
        touch "$T/hold.done"
        wait "$HOLD" || true
        wait_until 10 grep -q "HTTP listener on .* is accepting connections again" "$T/beredd.log" \
                || fail "the listener's recovery was not reported"
        code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$H/healthz" || true)
        assert_eq "$code" 200 "/healthz answered $code after the listener recovered"
fi
stop_beredd

say "(e) --check-config: a webhook gateway without token, with http.listen"
write_config "$T/bad.conf"
sed -i '/^gateways = /d' "$T/bad.conf"
cat >> "$T/bad.conf" <<EOC
gateways = (
  { id = "outbox"; channel = "any"; type = "file"; },
  { id = "sms-gen"; channel = "sms"; type = "http"; url = "http://127.0.0.1:9/send"; body = "to={to}&msg={text}";
    inbound_from = "msisdn"; }
);
http = { listen = "127.0.0.1:$HTTP_PORT"; };
EOC
line=$(grep -n 'inbound_from = "msisdn"' "$T/bad.conf" | cut -d: -f1)
if "$BEREDD" --check-config -c "$T/bad.conf" > "$T/bad.out" 2>&1; then cat "$T/bad.out"; fail "--check-config took an unauthenticated webhook gateway"; fi
assert_grep "$T/bad.out" "bad.conf:$line: .*inbound_token_file" "no FILE:LINE error naming inbound_token_file"
sed -i 's/^http = .*//' "$T/bad.conf"
"$BEREDD" --check-config -c "$T/bad.conf" > "$T/bad.out" 2>&1 || { cat "$T/bad.out"; fail "without http.listen the gateway is fine"; }
say "ok"
