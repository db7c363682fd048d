#!/usr/bin/env python3
"""catalog.py - the MESSAGE_IDs, their catalog and beredd(8) agree.

Every MSGID_ constant in daemon/*.h is a random (version 4) 128-bit id,
unique, used by daemon/*.c, explained in systemd/beredd.catalog and listed
in beredd(8), and the catalog holds no other id; every id the man pages and
README name is one of them (no stale id); every BEREDD_* journal field the
daemon sends is in beredd(8). Then journalctl itself reads the catalog:
--update-catalog into a throwaway root, and --list-catalog must list every
id with its subject (skipped with a message where journalctl is missing or
cannot run)."""
import glob, os, re, shutil, subprocess, sys, tempfile

top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
bad = []

def read(p):
    with open(os.path.join(top, p), encoding="utf-8") as f:
        return f.read()

# ---- the constants ----
ids, aliases = {}, {}
for h in sorted(glob.glob(os.path.join(top, "daemon", "*.h"))):
    for name, value in re.findall(r'^#define\s+(MSGID_\w+)\s+(\S+)', open(h).read(), re.M):
        if value.startswith('"'):
            ids[name] = value.strip('"')
        else:
            aliases[name] = value
if len(ids) < 30:
    bad.append(f"only {len(ids)} MSGID_ constants found in daemon/*.h")
for name, value in ids.items():
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        bad.append(f"{name}: {value!r} is not 32 lower-case hex digits")
    elif value[12] != "4" or value[16] not in "89ab":
        bad.append(f"{name}: {value} is not a random (version 4) id: generate one, never count up")
for value in set(ids.values()):
    names = [n for n, v in ids.items() if v == value]
    if len(names) > 1:
        bad.append(f"{' and '.join(names)} share the id {value}: one id per event")
for name, target in aliases.items():
    if target not in ids:
        bad.append(f"{name} is an alias of {target}, which is not an id")

# Each id is sent by some log call: an event without a caller is stale.
code = "".join(open(c).read() for c in sorted(glob.glob(os.path.join(top, "daemon", "*.c"))))
for name in ids:
    if not re.search(r"\b%s\b" % name, code):
        bad.append(f"{name} is defined but no daemon/*.c logs it")

# ---- the catalog ----
cat = read("systemd/beredd.catalog")
entries = re.split(r"^-- ", cat, flags=re.M)[1:]
in_catalog = {}
for e in entries:
    head, _, rest = e.partition("\n")
    cid = head.strip()
    if not re.fullmatch(r"[0-9a-f]{32}", cid):
        bad.append(f"catalog: {head!r} is not an id line")
        continue
    if cid in in_catalog:
        bad.append(f"catalog: {cid} twice")
    hdr, _, text = rest.partition("\n\n")
    fields = dict(l.split(": ", 1) for l in hdr.splitlines() if ": " in l)
    for k in ("Subject", "Defined-By", "Support", "Documentation"):
        if not fields.get(k):
            bad.append(f"catalog: {cid} has no {k}:")
    if fields.get("Defined-By") != "beredd":
        bad.append(f"catalog: {cid}: Defined-By: is not beredd")
    if "man:beredd(8)" not in fields.get("Documentation", "").split():
        bad.append(f"catalog: {cid}: Documentation: does not name man:beredd(8)")
    if len(text.split()) < 10:
        bad.append(f"catalog: {cid}: the text does not say what happened and what to do")
    in_catalog[cid] = fields.get("Subject", "")
for name, value in ids.items():
    if value not in in_catalog:
        bad.append(f"{name} ({value}) is not in systemd/beredd.catalog")
for cid in in_catalog:
    if cid not in ids.values():
        bad.append(f"catalog: {cid} is no MSGID_ constant")

# ---- the documentation ----
man8 = read("man/beredd.8")
for name, value in ids.items():
    if value not in man8:
        bad.append(f"{name} ({value}) is not listed in beredd(8)")
docs = sorted(glob.glob(os.path.join(top, "man", "*.[1-8]"))) + [os.path.join(top, "README.md")]
for d in docs:
    for hexid in set(re.findall(r"\b[0-9a-f]{32}\b", open(d, encoding="utf-8").read())):
        if hexid not in ids.values():
            bad.append(f"{os.path.relpath(d, top)} names {hexid}, which is no MESSAGE_ID (any more)")
for field in sorted(set(re.findall(r'"(BEREDD_[A-Z_]+)=', code))):
    if not re.search(r"\b%s\b" % field, man8.replace("\\", "")):
        bad.append(f"the journal field {field} is not in beredd(8)")

# ---- journalctl reads it ----
def journalctl_check():
    jc = shutil.which("journalctl")
    if not jc:
        return "no journalctl"
    with tempfile.TemporaryDirectory(prefix="beredd-catalog.") as t:
        d = os.path.join(t, "usr", "lib", "systemd", "catalog")
        os.makedirs(d)
        shutil.copy(os.path.join(top, "systemd", "beredd.catalog"), d)
        try:
            u = subprocess.run([jc, "--update-catalog", "--root=" + t], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            return f"journalctl --update-catalog cannot run: {e}"
        if u.returncode != 0 or not os.path.exists(os.path.join(t, "var", "lib", "systemd", "catalog", "database")):
            if "ermission" in u.stderr:
                return "journalctl --update-catalog: " + u.stderr.strip()
            bad.append(f"journalctl --update-catalog failed ({u.returncode}): {u.stderr.strip()}")
            return None
        if u.stderr.strip():
            bad.append(f"journalctl --update-catalog complains: {u.stderr.strip()}")
        ls = subprocess.run([jc, "--root=" + t, "--list-catalog"], capture_output=True, text=True, timeout=60)
        listed = dict(l.split(" ", 1) for l in ls.stdout.splitlines() if " " in l)
        for name, value in ids.items():
            want = "beredd: " + in_catalog.get(value, "?")
            if listed.get(value) != want:
                bad.append(f"journalctl --list-catalog: {value} ({name}) is {listed.get(value)!r}, not {want!r}")
        print(f"# journalctl --list-catalog lists all {len(ids)} ids")
    return None

why = journalctl_check()
if why:
    print(f"# journalctl part skipped: {why}")
for b in bad:
    print("FAIL:", b)
print(f"# {len(ids)} MESSAGE_IDs, {len(in_catalog)} catalog entries, {len(aliases)} old names")
sys.exit(1 if bad else 0)
