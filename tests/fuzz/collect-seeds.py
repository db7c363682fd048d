#!/usr/bin/env python3
"""collect-seeds.py - candidate seeds for the fuzz targets from the inputs
the project already has: the configurations in conf/, the commands in
man/beredd-commands.7 and the tests, the webhook bodies and SMS replies the
integration tests post, the message templates and texts, and (given the
folders of integration tests run with KEEP=1) the activation logs, case
files, case index and journal, and configurations those runs wrote.

    tests/fuzz/collect-seeds.py SRCDIR OUTDIR [KEPT-TEST-DIR...]

writes OUTDIR/<target>/<name>, many overlapping candidates; libFuzzer's
-merge=1 keeps the ones that add coverage (tests/fuzz/README.md).
"""
import glob
import hashlib
import os
import re
import sys
import urllib.parse

TARGETS = ("command", "config", "template", "reply", "actlog", "case", "webhook")
# fuzz_template and fuzz_webhook: the first byte picks what the rest is
ESC = {"none": 0, "form": 1, "json": 2}  # enum text_escape, data[0] % 3
WH = {"form": 0, "twilio-dlr": 1, "lm-mo": 2, "lm-dlr": 3, "generic-form": 4, "generic-json": 5}
MAX = 16384  # no seed above this: the corpus goes into git


def kept_name(d):
    """060-activation for /tmp/beredd-060-activation.AbCdEf"""
    b = os.path.basename(os.path.normpath(d))
    return re.sub(r"^beredd-|\.[A-Za-z0-9]{6}$", "", b)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out, kept = sys.argv[1], sys.argv[2], sys.argv[3:]
    seeds = {t: {} for t in TARGETS}

    def add(target, name, data):
        if isinstance(data, str):
            data = data.encode()
        if not data or len(data) > MAX:
            return
        h = hashlib.sha1(data).hexdigest()[:8]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:60]
        seeds[target].setdefault(h, (name + "-" + h, data))

    def read(path):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()

    tests = sorted(glob.glob(os.path.join(src, "tests/integration/*.sh")))
    pys = sorted(glob.glob(os.path.join(src, "tests/lib/beredd_test/*.py")) +
                 glob.glob(os.path.join(src, "tests/torture/*.py")) +
                 glob.glob(os.path.join(src, "tests/integration/*.py")))
    man = os.path.join(src, "man/beredd-commands.7")
    confs = sorted(glob.glob(os.path.join(src, "conf/*.conf")) + glob.glob(os.path.join(src, "conf/examples/*.conf")) +
                   [os.path.join(src, "conf/beredd.conf.installed.in")])

    # ---- command: every JSON object with "cmd" in the man page and the tests
    def groff(s):
        return s.replace("\\-", "-").replace("\\(dq", '"').replace("\\(aq", "'").replace("\\e", "\\").replace("\\&", "")

    obj = re.compile(r'\{[^{}\n]*"cmd"\s*:[^\n]*?\}(?=[^}]*$|\s*[\'"]?\s*[|)>;,]|\s*$)', re.M)
    for path in [man] + tests + pys:
        text = read(path)
        if path == man:
            text = groff(text)
        for m in obj.finditer(text):
            s = m.group(0)
            # balance the braces of nested objects/arrays on one line
            depth, end = 0, None
            for i, ch in enumerate(s):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    end = i + 1
                    break
            s = s[:end] if end else s
            s = s.replace("\\\"", "\"") if path.endswith(".py") or "\\\"" in s else s
            k = re.search(r'"cmd"\s*:\s*"([a-z._-]+)"', s)
            add("command", "%s-%s" % (os.path.basename(path).split(".")[0], k.group(1) if k else "cmd"), s)

    # ---- config: the shipped configurations, the tests' heredocs, and what kept runs wrote
    for path in confs:
        add("config", os.path.basename(path), read(path))
    here = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?[^\n]*\n(.*?)\n\s*\1\s*$", re.S | re.M)
    for path in tests + [os.path.join(src, "tests/integration/common.sh")]:
        for m in here.finditer(read(path)):
            body = m.group(2)
            if re.search(r"^\s*(site|people|gateways|chains|http|mqtt|followup)\s*[=:]", body, re.M):
                add("config", os.path.basename(path).split(".")[0] + "-heredoc", body + "\n")
    for d in kept:
        for path in glob.glob(os.path.join(d, "**/*.conf"), recursive=True):
            add("config", kept_name(d) + "-" + os.path.basename(path), read(path))

    # ---- template: the templates in the configurations (body, url, headers)
    # with the messages the tests trigger with as the value
    messages = set()
    for path in tests + pys:
        text = read(path)
        messages.update(m.group(1) for m in re.finditer(r'-m "([^"$]{3,})"', text))
        messages.update(m.group(1) for m in re.finditer(r'"message"\s*:\s*"([^"$\\]{3,})"', text))
    messages = sorted(messages)[:12] or ["Brann i skolen"]
    templates = []
    for path in confs + tests + [p for d in kept for p in glob.glob(os.path.join(d, "**/*.conf"), recursive=True)]:
        for m in re.finditer(r'\b(body|url|headers|status_url|answer_url)\s*=\s*(\[[^\]]*\]|"(?:[^"\\]|\\.)*")', read(path)):
            v = m.group(2)
            for s in re.findall(r'"((?:[^"\\]|\\.)*)"', v):
                s = s.encode().decode("unicode_escape", errors="ignore") if "\\" in s else s
                if "{" in s:
                    templates.append((m.group(1), s))
    for i, (key, t) in enumerate(sorted(set(templates))):
        esc = "json" if t.lstrip().startswith("{") else "form" if key in ("body", "url") else "none"
        msg = messages[i % len(messages)]
        add("template", "%s-%s" % (key, esc), bytes([ESC[esc]]) + t.encode() + b"\n" + msg.encode())

    # ---- reply and webhook: what the tests post to /sms/<gateway>/...
    replies = set()
    for path in tests:
        text = read(path)
        name = os.path.basename(path).split(".")[0]
        for m in re.finditer(r'\bgen\s+("[^"]*"|\S+)\s+"([^"]*)"', text):
            num, msg = m.group(1).strip('"'), m.group(2).replace("$CODE1", "4821").replace("$CODE2", "73011")
            msg = re.sub(r"\$\{?\w+\}?", "48213", msg)
            replies.add(msg)
            body = urllib.parse.urlencode({"msisdn": num, "msg": msg})
            add("webhook", name + "-generic-form", bytes([WH["generic-form"]]) + body.encode())
        for m in re.finditer(r'\btw\s+(\S+)\s+\S+\s+([^)\n]*)\)', text):
            path_, args = m.group(1), m.group(2)
            fields = re.findall(r'(\w+)=("[^"]*"|\S*)', args)
            fields = [(k, re.sub(r"\$\{?\w+\}?", "SM0123456789abcdef0123456789abcdef", v.strip('"'))) for k, v in fields]
            for k, v in fields:
                if k == "Body":
                    replies.add(v)
            body = urllib.parse.urlencode(fields)
            kind = "twilio-dlr" if "receipt" in path_ or "status" in path_ else "form"
            add("webhook", name + "-twilio-" + kind, bytes([WH[kind]]) + body.encode())
        for m in re.finditer(r"\blm\s+(\S+)\s+'([^']*)'", text):
            kind = "lm-dlr" if "receipt" in m.group(1) else "lm-mo"
            add("webhook", name + "-" + kind, bytes([WH[kind]]) + m.group(2).encode())
            um = re.search(r'"userData"\s*:\s*"([^"]*)"', m.group(2))
            if um:
                replies.add(um.group(1))
    for d in kept:  # the last signed Twilio body of a kept run
        for path in glob.glob(os.path.join(d, "**/tw.body"), recursive=True):
            with open(path, "rb") as f:
                add("webhook", kept_name(d) + "-twilio-form", bytes([WH["form"]]) + f.read())
    for r in sorted(replies):
        add("reply", "test-reply", r)

    # ---- actlog and case: what kept runs left in their spools
    for d in kept:
        for path in glob.glob(os.path.join(d, "**/activations/*.log"), recursive=True):
            with open(path, "rb") as f:
                add("actlog", kept_name(d) + "-actlog", f.read())
        for path in glob.glob(os.path.join(d, "**/cases/**/*"), recursive=True):
            if not os.path.isfile(path):
                continue
            base = os.path.basename(path)
            kind = "index" if base == "index" else "journal" if base.startswith("journal") else "case"
            with open(path, "rb") as f:
                add("case", kept_name(d) + "-" + kind, f.read())

    for t in TARGETS:
        os.makedirs(os.path.join(out, t), exist_ok=True)
        for name, data in seeds[t].values():
            with open(os.path.join(out, t, name), "wb") as f:
                f.write(data)
        print("%-9s %4d candidates" % (t, len(seeds[t])))


if __name__ == "__main__":
    main()
