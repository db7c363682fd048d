#!/bin/sh
# contrib/dashboard in headless Chromium against a real broker (with a
# websockets listener) and daemon: the site shows online, a drill triggered
# over the socket appears with 0 of 2 confirmed, a yes moves it to 1, the
# follow-up counts show (per factor by the names of followup/factors), and a screenshot is taken ($T/dashboard.png; kept
# with KEEP=1). Calls: a call-out's "notify"/"sent"/"failed" and "call" events
# with channel voice (published to the broker as beredd publishes them, see
# beredd-mqtt(7)) show on the card as placed / ringing / answered / not
# reached, with no person id ($T/dashboard-calls.png). The coverage strip
# (<base>/coverage/kriseteam) turns a day red with the missing role when the
# leader is away that day, and green again after away cancel
# ($T/dashboard-coverage.png); an absence survey's counts show under a
# chain's strip. Then the SMS gateway (tests/integration/fake-sms.py) answers
# 503: a call-out waits and the page shows the trouble banner
# ($T/dashboard-trouble.png); the gateway answers again and the banner goes. Needs Debian's chromium and node/npm; playwright-core is
# installed into the test's folder at test time (skips when that fails).
. "$(dirname "$0")/common.sh"
PLAYWRIGHT_VERSION=1.65.1
# The page does not change with the daemon's build: the sanitizer and valgrind
# passes of contrib/run-tests.sh skip it (BEREDD_SKIP_BROWSER=1).
[ -z "${BEREDD_SKIP_BROWSER:-}" ] || skip "browser test runs in the plain build only"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "chromium is not installed"
command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
command -v mosquitto_pub >/dev/null || skip "mosquitto-clients is not installed"

npm install --prefix "$T/node" --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" \
        >"$T/npm.log" 2>&1 || skip "cannot install playwright-core@$PLAYWRIGHT_VERSION (offline?)"

PORT=$(free_port)
WSPORT=$(free_port)
HTTPPORT=$(free_port)
# The broker as contrib/dashboard/mosquitto/ sets it up (no anonymous
# clients; beredd and the dashboard log in; the dashboard reads only), with
# the test's ports and paths.
command -v mosquitto_passwd >/dev/null || skip "mosquitto_passwd is not installed"
MQ_PW=beredd-mq-secret DASH_PW=dash-secret
mosquitto_passwd -c -b "$T/beredd.passwd" beredd "$MQ_PW" >/dev/null 2>&1 || fail "mosquitto_passwd failed"
mosquitto_passwd -b "$T/beredd.passwd" dashboard "$DASH_PW" >/dev/null 2>&1 || fail "mosquitto_passwd failed"
sed 's|beredd/trondheim|beredd/test|' "$top_srcdir/contrib/dashboard/mosquitto/beredd.acl" > "$T/beredd.acl"
{
        printf 'user %s\nlog_dest file %s/mosquitto.log\n' "$(id -un)" "$T"
        sed -e "s|/etc/mosquitto/beredd.passwd|$T/beredd.passwd|" -e "s|/etc/mosquitto/beredd.acl|$T/beredd.acl|" \
            -e "s|^listener 1883 127.0.0.1|listener $PORT 127.0.0.1|" -e "s|^listener 9001\$|listener $WSPORT 127.0.0.1|" \
            "$top_srcdir/contrib/dashboard/mosquitto/beredd.conf"
} > "$T/mosquitto.conf"
grep -q "^listener $WSPORT" "$T/mosquitto.conf" || fail "the broker snippet has no websockets listener to point at"
mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.out" 2>&1 &
MOSQUITTO_PID=$!
PIDS="$PIDS $MOSQUITTO_PID"
for p in $PORT $WSPORT; do wait_until 10 port_open "$p" || fail "mosquitto did not start on port $p"; done
# No account, no access.
if mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t beredd/test/x -m x 2>/dev/null; then fail "the broker let an anonymous client in"; fi
write_creds mqtt.password="$MQ_PW"
# SMS through fake-sms (its faults set through $T/sms.ctl), e-mail to the outbox.
echo '{}' > "$T/sms.ctl"
start_fake_sms --control "$T/sms.ctl" --reply '{"status":"ok"}'
write_config "$T/beredd.conf" "$PORT"
sed -i 's|^mqtt: { host = "127.0.0.1";|mqtt: { username = "beredd"; password_file = "mqtt.password"; host = "127.0.0.1";|' "$T/beredd.conf"
grep -q 'username = "beredd"' "$T/beredd.conf" || fail "the daemon has no MQTT account in its configuration"
sed -i 's|^  { id = "kriseteam";|  { id = "kriseteam"; name = "Kriseteamet i Test";|; s|^site = "test";|site = "test"; site_name = "Testby";|' "$T/beredd.conf"
grep -q 'site_name = "Testby"' "$T/beredd.conf" || fail "no site_name in the configuration"
grep -q 'name = "Kriseteamet i Test"' "$T/beredd.conf" || fail "the chain has no display name in the configuration"
sed -i "s|^gateways = .*|gateways = ( { id = \"sms\"; channel = \"sms\"; type = \"http\"; url = \"http://127.0.0.1:$SMS_PORT/send\"; body = \"to={to}\&msg={text}\"; retries = 1; },\n             { id = \"outbox\"; channel = \"email\"; type = \"file\"; } );|" "$T/beredd.conf"
grep -q 'id = "sms"' "$T/beredd.conf" || fail "the SMS gateway is not in the configuration"
export BEREDD_GW_BACKOFF_MS=20
start_beredd "$T/beredd.conf"

python3 -m http.server "$HTTPPORT" --bind 127.0.0.1 --directory "$top_srcdir/contrib/dashboard" \
        >"$T/http.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 port_open "$HTTPPORT" || fail "the static file server did not start"

# What the follow-up engine publishes (retained); counts only, by factor id,
# and the municipality's vocabulary (id -> name) on followup/factors (the
# daemon's own payloads are checked in 245-factors.sh).
mosquitto_pub -h 127.0.0.1 -p "$PORT" -u beredd -P "$MQ_PW" -q 1 -r -t beredd/test/followup/summary \
        -m '{"open":12,"due_today":3,"overdue":2,"escalated":1,"closed":40,"by_level":{"1":7,"2":4,"3":1},
             "by_factor":{"vold":3,"ensomhet":5,"skolefravaer":0,"nytt-id":1},"unlisted_factors":1}'
mosquitto_pub -h 127.0.0.1 -p "$PORT" -u beredd -P "$MQ_PW" -q 1 -r -t beredd/test/followup/factors \
        -m '{"factors":[{"id":"vold","name":"Utsatt for vold"},{"id":"ensomhet","name":"Ensomhet"},
             {"id":"skolefravaer","name":"Skolefravær","name_en":"school absence"}],"default":false}'

cat > "$T/drive.js" <<'EOF'
const { chromium } = require(process.env.PLAYWRIGHT);
const { execFileSync } = require("child_process");
const fs = require("fs");
const ctl = (...args) => JSON.parse(execFileSync(process.env.BEREDCTL, ["-s", process.env.SOCKET, "--json", ...args]).toString());
const say = (s) => console.log("# " + s);
(async () => {
  const ctx = await chromium.launchPersistentContext(process.env.PROFILE, {
    executablePath: process.env.CHROMIUM, headless: true, viewport: { width: 1600, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on("console", (m) => console.log("console: " + m.text()));
    page.on("pageerror", (e) => console.log("pageerror: " + e.message));
    await page.goto(process.env.URL);
    await page.waitForSelector("#broker.on", { timeout: 15000 });
    await page.waitForSelector("#status.on", { timeout: 15000 });
    say("page connected; beredd shows online");
    await page.waitForFunction(() => document.querySelector("h1").textContent === "Kriseteam Testby", null, { timeout: 10000 });
    say("the heading names the municipality: Kriseteam Testby");
    await page.waitForFunction(() => document.querySelector('#followup dd[data-key="overdue"]').textContent === "2", null, { timeout: 10000 });
    say("follow-up counts shown");
    // Open cases per factor by display name, the most first; none for a
    // factor without cases; an id the vocabulary lacks by its id.
    await page.waitForFunction(() => document.querySelectorAll("#factors li").length === 4, null, { timeout: 10000 });
    const factors = await page.$$eval("#factors li", (l) => l.map((e) => e.children[0].textContent + "=" + e.children[1].textContent).join(", "));
    if (factors !== "Ensomhet=5, Utsatt for vold=3, nytt-id=1, Faktor utenfor listen=1")
      throw new Error("unexpected factor list: " + factors);
    if (await page.$eval("#factors-title", (e) => e.hidden)) throw new Error("the factor list has no heading");
    say("open cases per factor, by name: " + factors);

    // The coverage strip (<base>/coverage/kriseteam): every day green while
    // nobody is away; kari (the only leader) away one day makes that day
    // red with the missing role, never her id; away cancel makes it green.
    await page.waitForSelector('.cov[data-chain="kriseteam"] .cov-day.met', { timeout: 15000 });
    const ndays = await page.$$eval('.cov[data-chain="kriseteam"] .cov-day', (l) => l.length);
    if (ndays < 14) throw new Error("the coverage strip has " + ndays + " days, not 14");
    if (await page.$('.cov-day.unmet')) throw new Error("a red day with nobody away");
    const d = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
    const aw = ctl("away", "kari", "--from", d, "--to", d);
    if (!aw.ok) throw new Error("away refused: " + JSON.stringify(aw));
    const cell = `.cov[data-chain="kriseteam"] .cov-day[data-date="${d}"]`;
    await page.waitForSelector(cell + ".unmet", { timeout: 15000 });
    const miss = await page.$eval(cell + " .cov-missing", (e) => e.textContent);
    if (miss !== "leader, mangler 1") throw new Error("the red day does not name the missing role and the shortfall: " + miss);
    const covText = await page.$eval("#coverage", (e) => e.textContent);
    if (/kari|ola|legevakt|Nordmann/i.test(covText)) throw new Error("the coverage strip shows a person:\n" + covText);
    if ((await page.$$('.cov-day.unmet')).length !== 1) throw new Error("more than one red day");
    say(`coverage strip: ${d} red, missing ${miss}`);
    await page.screenshot({ path: process.env.SHOT_COVERAGE });
    const cancel = ctl("away", "cancel", aw.absence.id);
    if (!cancel.ok) throw new Error("away cancel refused: " + JSON.stringify(cancel));
    await page.waitForSelector(cell + ".met", { timeout: 15000 });
    say("the day is green again after away cancel");


    const t = ctl("trigger", "kriseteam", "--by", "kari", "-m", "Øvelse: test av tavla", "--drill");
    if (!t.ok) throw new Error("trigger refused: " + JSON.stringify(t));
    const sel = `.card[data-activation="${t.activation}"]`;
    await page.waitForSelector(sel, { timeout: 10000 });
    const text = (q) => page.$eval(`${sel} ${q}`, (e) => e.textContent);
    if ((await text(".confirmed")) !== "0" || (await text(".needed")) !== "2") throw new Error("expected 0 / 2");
    if (!(await text(".badge")).includes("ØVELSE")) throw new Error("no drill badge");
    say(`activation ${t.activation} appears: 0 of 2, drill`);
    // What a crisis room asks first: whose call-out, when, how long ago,
    // which step of how many, when the next, which role is missing.
    if (!(await text(".chain")).startsWith("Kriseteamet i Test")) throw new Error("no chain display name: " + await text(".chain"));
    if (!(await text(".meta")).startsWith("Trinn 1 av 2")) throw new Error("no 'Trinn 1 av 2': " + await text(".meta"));
    if (!/^Startet \d\d:\d\d \(\d+ s siden\)$/.test(await text(".started"))) throw new Error("no start time: " + await text(".started"));
    if (!/^Neste trinn (om \d+ s|nå)$/.test(await text(".next"))) throw new Error("no countdown: " + await text(".next"));
    if ((await text(".role")) !== "0/1 leader") throw new Error("no role minimum: " + await text(".role"));
    if (!(await page.$eval(`${sel} .role`, (e) => e.className)).includes("unmet")) throw new Error("the missing role is not marked");
    say("chain name, start time, countdown, 'Trinn 1 av 2' and the missing role shown");

    const r = ctl("reply", t.code, "yes", "--person", "kari");
    if (!r.ok) throw new Error("reply refused: " + JSON.stringify(r));
    await page.waitForFunction((s) => document.querySelector(s + " .confirmed").textContent === "1", sel, { timeout: 10000 });
    say("the count moved to 1 of 2");
    await page.waitForFunction((s) => document.querySelector(s + " .role").textContent === "1/1 leader", sel, { timeout: 10000 });
    say("the role minimum is met: 1/1 leader");
    await page.waitForFunction(() => document.querySelectorAll("#events li").length >= 3, null, { timeout: 10000 });
    const events = await page.$$eval("#events li", (l) => l.map((e) => e.textContent).join("\n"));
    if (/kari|ola|legevakt/i.test(events)) throw new Error("the event list shows a person id:\n" + events);
    await page.waitForTimeout(500);
    await page.screenshot({ path: process.env.SHOT });
    say("screenshot in " + process.env.SHOT);

    // Calls, as the daemon publishes them: three calls placed, one refused
    // by the provider; one answered, one not answered, one still ringing.
    const base = "beredd/test", va = "20261202-0300-ca11";
    const pub = (args, input) => execFileSync("mosquitto_pub",
      ["-h", "127.0.0.1", "-p", process.env.MQTT_PORT, "-u", "beredd", "-P", process.env.MQ_PW, "-q", "1", ...args],
      input ? { input } : {});
    pub(["-r", "-t", `${base}/activation/${va}`, "-m", JSON.stringify({ activation: va, chain: "kriseteam",
        state: "mobilising", confirmed: 1, needed: 2, step: 1, drill: true })]);
    const ev = (type, person, status) => JSON.stringify(Object.assign({ type, activation: va, chain: "kriseteam",
        drill: true, ts: Math.floor(Date.now() / 1000), step: 1, person, channel: "voice" }, status ? { status } : {}));
    pub(["-t", `${base}/event`, "-l"], [
      ev("notify", "ola"), ev("notify", "kari"), ev("notify", "ingrid"), ev("notify", "legevakt"),
      ev("sent", "ola"), ev("sent", "kari"), ev("failed", "ingrid"), ev("sent", "legevakt"),
      ev("call", "ola", "ringing"), ev("call", "kari", "ringing"), ev("call", "legevakt", "ringing"),
      ev("call", "ola", "in-progress"), ev("call", "kari", "no-answer"), ev("call", "ola", "completed"),
    ].join("\n") + "\n");
    const vsel = `.card[data-activation="${va}"]`;
    await page.waitForFunction((s) => { const b = document.querySelector(s + " .calls .call-count.answered b");
                                        return b && b.textContent === "1"; }, vsel, { timeout: 10000 });
    const counts = await page.$$eval(`${vsel} .calls .call-count`, (l) => l.map((e) => e.textContent).join(", "));
    if (counts !== "3 Oppringt, 1 Ringer, 1 Svarte, 2 Ikke nådd") throw new Error("unexpected call counts: " + counts);
    const cardText = await page.$eval(vsel, (e) => e.textContent);
    const allEvents = await page.$$eval("#events li", (l) => l.map((e) => e.textContent).join("\n"));
    if (/kari|ola|ingrid|legevakt/i.test(cardText + allEvents)) throw new Error("a person id is shown:\n" + cardText + "\n" + allEvents);
    if (!/Samtale · telefon ikke svar/.test(allEvents) || !/Samtale · telefon svarte/.test(allEvents))
      throw new Error("call events not in the list:\n" + allEvents);
    say("calls on the card: " + counts);
    await page.screenshot({ path: process.env.SHOT_CALLS });
    pub(["-r", "-n", "-t", `${base}/activation/${va}`]);
    await page.waitForFunction((s) => !document.querySelector(s), vsel, { timeout: 10000 });
    say("the card and its calls are gone when the activation is cleared");

    // An absence survey's counts under its chain's strip: a retained
    // payload of the shape beredd publishes (beredd-mqtt(7)) for a chain of
    // its own, cleared after.
    const dj = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
    const jul = { chain: "jul", chain_name: "Juleteamet", from: dj, to: dj, unmet: 0, unmet_days: 0,
                  days: [{ date: dj, part: "day", available: 5, people: 5, need: 3, met: true, short: 0, missing: [] }],
                  period: "Jul og nyttår", survey: { state: "open", asked: 5, answered: 4, away: 2 } };
    pub(["-r", "-t", `${base}/coverage/jul`, "-m", JSON.stringify(jul)]);
    await page.waitForSelector('.cov[data-chain="jul"] .cov-survey', { timeout: 15000 });
    const sv = await page.$eval('.cov[data-chain="jul"] .cov-survey', (e) => e.textContent);
    if (sv !== "Spørsmål om fravær (pågår): 4 av 5 har svart, 2 melder fravær") throw new Error("unexpected survey line: " + sv);
    if (await page.$('.cov[data-chain="kriseteam"] .cov-survey')) throw new Error("a survey line for a chain without a survey");
    say("survey counts under the strip: " + sv);
    pub(["-r", "-n", "-t", `${base}/coverage/jul`]);
    await page.waitForFunction(() => !document.querySelector('.cov[data-chain="jul"]'), null, { timeout: 10000 });

    if (!(await page.$eval("#trouble", (e) => e.hidden))) throw new Error("a trouble banner while all is well");
    const control = (o) => { fs.writeFileSync(process.env.SMS_CTL + ".tmp", JSON.stringify(o));
                             fs.renameSync(process.env.SMS_CTL + ".tmp", process.env.SMS_CTL); };
    control({ fail_first: -1, status: 503 });
    const t2 = ctl("trigger", "kriseteam", "--by", "kari", "-m", "Øvelse: gatewayen er nede", "--drill");
    if (!t2.ok) throw new Error("trigger refused: " + JSON.stringify(t2));
    await page.waitForFunction(() => !document.querySelector("#trouble").hidden &&
                               /venter/.test(document.querySelector("#trouble").textContent), null, { timeout: 15000 });
    const banner = await page.$eval("#trouble", (e) => e.textContent);
    if (!/^Varslingsproblem: SMS-gatewayen svarer ikke – \d+ meldinge?r? venter$/.test(banner))
      throw new Error("unexpected banner: " + banner);
    say("banner shown: " + banner);
    await page.screenshot({ path: process.env.SHOT_TROUBLE });
    control({ fail_first: 0 });
    await page.waitForFunction(() => document.querySelector("#trouble").hidden, null, { timeout: 15000 });
    say("the banner is gone after the gateway answered again");
  } finally {
    await ctx.close();
  }
})().catch((e) => { console.error("FAIL: " + e.message); process.exit(1); });
EOF

PLAYWRIGHT="$T/node/node_modules/playwright-core" BEREDCTL="$BEREDCTL" SOCKET="$T/control" PROFILE="$T/profile" \
        CHROMIUM="$CHROMIUM" SHOT="$T/dashboard.png" SHOT_TROUBLE="$T/dashboard-trouble.png" SMS_CTL="$T/sms.ctl" \
        SHOT_CALLS="$T/dashboard-calls.png" SHOT_COVERAGE="$T/dashboard-coverage.png" MQTT_PORT="$PORT" MQ_PW="$MQ_PW" \
        URL="http://127.0.0.1:$HTTPPORT/index.html?url=ws://127.0.0.1:$WSPORT&base=beredd/test&user=dashboard&password=$DASH_PW" \
        timeout 120 node "$T/drive.js" || fail "the dashboard test failed"
[ -s "$T/dashboard.png" ] || fail "no screenshot"
[ -s "$T/dashboard-trouble.png" ] || fail "no screenshot of the trouble banner"
[ -s "$T/dashboard-calls.png" ] || fail "no screenshot of the calls"
[ -s "$T/dashboard-coverage.png" ] || fail "no screenshot of the coverage strip"
# The screenshots stay in the build tree, beside the test's log.
mkdir -p "$top_builddir/tests/integration" && cp "$T"/dashboard*.png "$top_builddir/tests/integration/" &&
        say "screenshots kept: $top_builddir/tests/integration/dashboard*.png"
stop_beredd
say "ok"
