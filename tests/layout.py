#!/usr/bin/env python3
"""layout.py [DIR] - the daemon's shape: no daemon/*.c over 1,500 lines, no
function over 120 lines, no circle between modules in the include graph.
A module is a file name up to its first '-' (activation-core.c and
activation.h are module "activation"; gw-*.c are gateway's, case-*.c
followup's); a module depends on every module whose
header its files include, directly or through other headers."""
import os, re, sys

MAX_FILE, MAX_FUNC = 1500, 120
top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "daemon")
files = sorted(f for f in os.listdir(src) if f.endswith((".c", ".h")))
inc = {f: re.findall(r'^#include "([^"]+)"', open(os.path.join(src, f)).read(), re.M) for f in files}
bad = []

# Parts whose prefix is not their module's name.
PARTS = {"gw": "gateway", "case": "followup"}

def module(f):
    m = re.split(r"[-.]", f, 1)[0]
    return PARTS.get(m, m)

def headers(f, seen=None):
    seen = set() if seen is None else seen
    for h in inc.get(f, []):
        if h not in seen:
            seen.add(h)
            headers(h, seen)
    return seen

deps = {}
for f in files:
    m = module(f)
    deps.setdefault(m, set()).update(module(h) for h in headers(f) if module(h) != m)

# circles: Tarjan's strongly connected components
index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in deps.get(v, ()):
        if w not in deps:
            continue
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        if len(c) > 1:
            out.append(sorted(c))
sys.setrecursionlimit(10000)
for v in sorted(deps):
    if v not in index:
        visit(v)
for c in out:
    bad.append("include circle between modules: " + " ".join(c))

for f in files:
    lines = open(os.path.join(src, f)).read().split("\n")
    if f.endswith(".c") and len(lines) - 1 > MAX_FILE:
        bad.append("%s: %d lines (at most %d)" % (f, len(lines) - 1, MAX_FILE))
    cand = body = None
    for i, l in enumerate(lines, 1):
        if body is None:
            if re.match(r"^[A-Za-z_]", l) and "(" in l and not l.startswith(("#", "typedef")):
                cand = (i, l)
            elif l.rstrip().endswith(";") and not l.startswith((" ", "\t")):
                cand = None
            if cand and l.rstrip().endswith("{") and "=" not in l:
                body = cand
        elif l.startswith("}"):
            if i - body[0] > MAX_FUNC:
                bad.append("%s:%d: %s... is %d lines (at most %d)" % (f, body[0], body[1][:50], i - body[0], MAX_FUNC))
            cand = body = None

for b in bad:
    print(b)
print("layout: %d files, %d modules, %s" % (len(files), len(deps), "ok" if not bad else "%d problem(s)" % len(bad)))
sys.exit(1 if bad else 0)
