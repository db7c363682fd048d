#!/bin/sh
# The Prometheus alert rules in contrib/prometheus/ (beredd-ops(7)): promtool
# accepts them (check rules) and their unit tests pass (test rules: which
# alert fires when, with what text), and every beredd_* metric a rule names
# is one a running beredd exports on /metrics (a renamed metric would
# silently never alert). Needs promtool (Debian's prometheus package).
. "$(dirname "$0")/common.sh"
command -v promtool >/dev/null || skip "promtool is not installed"
command -v curl >/dev/null || skip "curl is not installed"
RULES="$top_srcdir/contrib/prometheus"

promtool check rules "$RULES/beredd.rules.yml" > "$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "promtool check rules"; }
# promtool resolves rule_files relative to the test file's folder
cp "$RULES/beredd.rules.yml" "$RULES/beredd.rules.test.yml" "$T/"
(cd "$T" && promtool test rules beredd.rules.test.yml) > "$T/test.out" 2>&1 || { cat "$T/test.out" >&2; fail "promtool test rules"; }
say "promtool: the rules load and their unit tests pass"

HTTP_PORT=$(free_port)
write_config "$T/beredd.conf"
cat >> "$T/beredd.conf" <<EOC
http = { listen = "127.0.0.1:$HTTP_PORT"; };
mqtt = { host = "127.0.0.1"; port = $(free_port); base = "beredd/test"; };
followup: {
  levels = ( { level = 1; name = "lav"; every = "14d"; } );
  remind = "office-hours"; overdue_after = "1d"; escalate_after = "2d"; coordinator = "kari"; retention = "90d";
};
EOC
start_beredd "$T/beredd.conf"
wait_until 10 port_open "$HTTP_PORT" || fail "the HTTP listener did not start"
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" > "$T/metrics" || fail "no /metrics"
names=$(grep -o 'beredd_[a-z_]*' "$RULES/beredd.rules.yml" | sort -u)
[ -n "$names" ] || fail "the rules name no beredd metric"
for m in $names; do
        grep -q "^$m[{ ]" "$T/metrics" || fail "the rules use $m, which beredd does not export"
done
say "every metric the rules use is exported: $(echo $names | wc -w) of them"
stop_beredd
say "ok"
