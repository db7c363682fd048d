#!/usr/bin/env python3
"""privacy-scan.py - search files for personal data and secrets (tests/security/privacy.sh).

Usage: privacy-scan.py NEEDLES.json [--label NAME=FILE]... FILE...

NEEDLES.json is a list of objects {"kind": ..., "label": ..., "value": ...,
"match": "text" | "phone" | "code"}:
  text   the value, case-insensitive, also as it looks JSON-escaped
         (\\u00f8), percent-encoded (+ or %20 for spaces) and HTML-escaped;
  phone  a Norwegian number "+47XXXXXXXX": its eight digits with at most one
         separator (space, dot, dash) between any two of them, so
         +4791234567, 004791234567, 4791234567, 91234567, "912 34 567" and
         "+47 91 23 45 67" all match;
  code   digits not next to other digits (activation ids, which hold the
         date and time, and 128-bit hex ids such as MESSAGE_IDs are blanked
         first).

Every hit is printed as "SOURCE:LINE: KIND (LABEL)" - never the value - and
the exit status is 1 when there was any hit, 0 otherwise. Each file is read
as UTF-8 (undecodable bytes replaced); a missing file is an error (2).
"""

import html
import json
import re
import sys
import urllib.parse

ACTIVATION_ID = re.compile(r"\b\d{8}-\d{4}-[0-9a-f]{4}\b")
# 128-bit hex ids (MESSAGE_IDs, token hashes): digits inside them are no
# reply code ("...6e99fa2929" is not the code 2929).
HEX_ID = re.compile(r"\b[0-9a-f]{32,64}\b")


def variants(s):
    out = {s}
    out.add(json.dumps(s)[1:-1])                       # \u00f8, \"
    out.add(json.dumps(s, ensure_ascii=False)[1:-1])
    out.add(urllib.parse.quote(s, safe=""))
    out.add(urllib.parse.quote_plus(s, safe=""))
    out.add(html.escape(s))
    return [v for v in out if v]


def compile_needle(n):
    v = n["value"]
    m = n.get("match", "text")
    if m == "phone":
        digits = re.sub(r"\D", "", v)
        if digits.startswith("0047"):
            digits = digits[4:]
        elif digits.startswith("47") and len(digits) == 10:
            digits = digits[2:]
        return re.compile(r"(?<!\d)(?:(?:\+|00)?47[ .\-]?)?" + r"[ .\-]?".join(digits) + r"(?!\d)"), False
    if m == "code":
        return re.compile(r"(?<!\d)" + re.escape(v) + r"(?!\d)"), True
    return re.compile("|".join(re.escape(x) for x in sorted(variants(v), key=len, reverse=True)), re.I), False


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    needles = [(n, *compile_needle(n)) for n in json.load(open(args.pop(0)))]
    labels = {}
    files = []
    while args:
        a = args.pop(0)
        if a == "--label":
            name, _, f = args.pop(0).partition("=")
            labels[f] = name
            files.append(f)
        else:
            files.append(a)
    hits = 0
    lines = 0
    for f in files:
        try:
            with open(f, "rb") as fh:
                data = fh.read().decode("utf-8", errors="replace")
        except OSError as e:
            print("cannot read %s: %s" % (f, e.strerror), file=sys.stderr)
            return 2
        where = labels.get(f, f)
        for no, line in enumerate(data.splitlines(), 1):
            lines += 1
            blanked = None
            for n, rx, is_code in needles:
                text = line
                if is_code:
                    if blanked is None:
                        blanked = HEX_ID.sub(" ", ACTIVATION_ID.sub(" ", line))
                    text = blanked
                if rx.search(text):
                    hits += 1
                    print("HIT %s:%d: %s (%s)" % (where, no, n["kind"], n["label"]))
    print("# scanned %d lines in %d sources for %d data; %d hits" % (lines, len(files), len(needles), hits))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
