#!/bin/sh
# contrib/dashboard in headless Chromium against a real broker (with a
# websockets listener) and daemon: the site shows online, a drill triggered
# over the socket appears with 0 of 2 confirmed, a yes moves it to 1, the
# follow-up counts show, and a screenshot is taken ($T/dashboard.png; kept
# with KEEP=1). Needs Debian's chromium and node/npm; playwright-core is
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
start_mosquitto_conf "$PORT" "listener $WSPORT 127.0.0.1
protocol websockets"
write_config "$T/beredd.conf" "$PORT"
start_beredd "$T/beredd.conf"

python3 -m http.server "$HTTPPORT" --bind 127.0.0.1 --directory "$top_srcdir/contrib/dashboard" \
        >"$T/http.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 port_open "$HTTPPORT" || fail "the static file server did not start"

# What the follow-up engine publishes (retained); counts only.
mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -r -t beredd/test/followup/summary \
        -m '{"open":12,"due_today":3,"overdue":2,"escalated":1,"closed":40,"by_level":{"1":7,"2":4,"3":1},"by_factor":{}}'

cat > "$T/drive.js" <<'EOF'
const { chromium } = require(process.env.PLAYWRIGHT);
const { execFileSync } = require("child_process");
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
    await page.waitForFunction(() => document.querySelector('#followup dd[data-key="overdue"]').textContent === "2", null, { timeout: 10000 });
    say("follow-up counts shown");

    const t = ctl("trigger", "kriseteam", "--by", "kari", "-m", "Øvelse: test av tavla", "--drill");
    if (!t.ok) throw new Error("trigger refused: " + JSON.stringify(t));
    const sel = `.card[data-activation="${t.activation}"]`;
    await page.waitForSelector(sel, { timeout: 10000 });
    const text = (q) => page.$eval(`${sel} ${q}`, (e) => e.textContent);
    if ((await text(".confirmed")) !== "0" || (await text(".needed")) !== "2") throw new Error("expected 0 / 2");
    if (!(await text(".badge")).includes("ØVELSE")) throw new Error("no drill badge");
    say(`activation ${t.activation} appears: 0 of 2, drill`);

    const r = ctl("reply", t.code, "yes", "--person", "kari");
    if (!r.ok) throw new Error("reply refused: " + JSON.stringify(r));
    await page.waitForFunction((s) => document.querySelector(s + " .confirmed").textContent === "1", sel, { timeout: 10000 });
    say("the count moved to 1 of 2");
    await page.waitForFunction(() => document.querySelectorAll("#events li").length >= 3, null, { timeout: 10000 });
    const events = await page.$$eval("#events li", (l) => l.map((e) => e.textContent).join("\n"));
    if (/kari|ola|legevakt/i.test(events)) throw new Error("the event list shows a person id:\n" + events);
    await page.waitForTimeout(500);
    await page.screenshot({ path: process.env.SHOT });
    say("screenshot in " + process.env.SHOT);
  } finally {
    await ctx.close();
  }
})().catch((e) => { console.error("FAIL: " + e.message); process.exit(1); });
EOF

PLAYWRIGHT="$T/node/node_modules/playwright-core" BEREDCTL="$BEREDCTL" SOCKET="$T/control" PROFILE="$T/profile" \
        CHROMIUM="$CHROMIUM" SHOT="$T/dashboard.png" \
        URL="http://127.0.0.1:$HTTPPORT/index.html?url=ws://127.0.0.1:$WSPORT&base=beredd/test" \
        timeout 120 node "$T/drive.js" || fail "the dashboard test failed"
[ -s "$T/dashboard.png" ] || fail "no screenshot"
stop_beredd
say "ok"
