#!/usr/bin/env node
// twilio-sign.js - Twilio's own webhook signing (the twilio npm package,
// tests/node) for beredd's tests, so the daemon's X-Twilio-Signature check is
// held against Twilio's code rather than against our reading of it.
//
//   twilio-sign.js sign URL TOKEN BODYFILE [FIELD=VALUE...]
//       the form body (fields in the order given) to BODYFILE; prints
//       twilio.getExpectedTwilioSignature(TOKEN, URL, params). A field given
//       more than once is an array, as Twilio's validator reads it.
//   twilio-sign.js validate URL TOKEN SIGNATURE [FIELD=VALUE...]
//       exit 0 when twilio.validateRequest accepts it (it tries URL with and
//       without the default port, ":443" for https), 1 when not.
//   twilio-sign.js check-python COMMON_SH
//       runs the Python twilio_sign of common.sh on a set of requests and
//       exits 1 unless both sign them alike and validateRequest accepts it.
//
// The module is found through NODE_PATH (BEREDD_NODE_PATH in the tests),
// else in tests/node/node_modules beside this file. Exit 3: no twilio module.
"use strict";
const path = require("path");
const fs = require("fs");
const { execFileSync } = require("child_process");

let twilioVersion = "?";
function loadTwilio() {
        const tries = ["twilio", path.join(__dirname, "..", "node", "node_modules", "twilio")];
        for (const t of tries) {
                try {
                        const mod = require(t);
                        twilioVersion = require(path.join(path.dirname(require.resolve(t)), "..", "package.json")).version;
                        return mod;
                } catch (e) {
                        if (e.code !== "MODULE_NOT_FOUND") throw e;
                }
        }
        process.stderr.write("twilio-sign.js: the twilio module is not installed (npm ci --prefix tests/node)\n");
        process.exit(3);
}
const twilio = loadTwilio();

// FIELD=VALUE... -> [pairs, params]: params as Express/Twilio's validator
// sees a form (a repeated name becomes an array).
function parseFields(args) {
        const pairs = [], params = {};
        for (const a of args) {
                const i = a.indexOf("=");
                if (i < 0) throw new Error("not FIELD=VALUE: " + a);
                const k = a.slice(0, i), v = a.slice(i + 1);
                pairs.push([k, v]);
                if (!(k in params)) params[k] = v;
                else if (Array.isArray(params[k])) params[k].push(v);
                else params[k] = [params[k], v];
        }
        return [pairs, params];
}

function formBody(pairs) {
        return pairs.map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
}

function checkPython(commonSh) {
        // The heredoc of twilio_sign() in common.sh, run as it is.
        const text = fs.readFileSync(commonSh, "utf-8");
        const m = /twilio_sign\(\) \{[\s\S]*?<<'EOP'\n([\s\S]*?)\nEOP\n/.exec(text);
        if (!m) throw new Error("no twilio_sign heredoc in " + commonSh);
        const py = m[1];
        const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "twsign-"));
        const cases = [
                ["https://beredd.kommune.example/voice/voice/status?ref=k1.n2", "twilio-secret",
                 ["CallSid=CA0123", "CallStatus=no-answer", "AccountSid=AC1", "To=+4791234567"]],
                ["https://beredd.kommune.example/voice/voice/answer/0123456789abcdef0123456789abcdef", "tøken æøå",
                 ["Digits=1", "CallSid=CAx", "SpeechResult=Ja, jeg kommer & går", "Caller=+47 912"]],
                ["https://beredd.kommune.example:443/voice/v/answer/ab?again=1", "t", ["Digits=", "FinishedOnKey=#"]],
                ["http://127.0.0.1:8080/sms/x/inbound", "s", ["Body=JA 1234", "From=+4791234567", "Body2=%41+b"]],
                ["https://example.com/x", "s", ["b=2", "a=1", "a=3"]],
        ];
        let bad = 0;
        for (const [url, tok, fields] of cases) {
                const pyOut = execFileSync("python3", ["-", tok, url, path.join(dir, "body"), ...fields],
                                           { input: py }).toString().trim();
                const [, params] = parseFields(fields);
                const js = twilio.getExpectedTwilioSignature(tok, url, params);
                const valid = twilio.validateRequest(tok, pyOut, url, params);
                if (pyOut !== js || !valid) {
                        bad++;
                        process.stderr.write(`disagree: ${url} ${fields.join(" ")}: python ${pyOut}, twilio ${js}, valid ${valid}\n`);
                }
        }
        fs.rmSync(dir, { recursive: true, force: true });
        console.log(`${cases.length - bad} of ${cases.length} requests signed alike by common.sh and twilio ${twilioVersion}`);
        return bad ? 1 : 0;
}

function main(argv) {
        const [mode, ...rest] = argv;
        if (mode === "sign" && rest.length >= 3) {
                const [url, tok, bodyFile, ...fields] = rest;
                const [pairs, params] = parseFields(fields);
                fs.writeFileSync(bodyFile, formBody(pairs));
                console.log(twilio.getExpectedTwilioSignature(tok, url, params));
                return 0;
        }
        if (mode === "validate" && rest.length >= 3) {
                const [url, tok, sig, ...fields] = rest;
                return twilio.validateRequest(tok, sig, url, parseFields(fields)[1]) ? 0 : 1;
        }
        if (mode === "check-python" && rest.length === 1) return checkPython(rest[0]);
        process.stderr.write("usage: twilio-sign.js sign URL TOKEN BODYFILE [F=V...] | validate URL TOKEN SIG [F=V...] | check-python COMMON_SH\n");
        return 2;
}
process.exitCode = main(process.argv.slice(2));
