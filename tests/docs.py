#!/usr/bin/env python3
"""docs.py - the documentation matches the program.

- beredctl(1) documents exactly the commands and options `beredctl --help`
  shows: per command, the same options, in both directions; and the same
  global options.
- beredd-commands(7) names every command of daemon/verbs.c and every field
  of daemon/command.c, and no command the daemon does not know.
- The follow-up factors of daemon/command.c are the ones beredctl(1) and
  beredd-commands(7) list, no more and no fewer.
- Every man page is groff-clean (groff -man -ww -z), when groff is there.
"""
import os, re, shutil, subprocess, sys

top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
build = os.environ.get("top_builddir") or top
beredctl = os.path.join(build, "beredctl")
bad = []

# Words after which the next word is part of the command's name.
GROUPS = {"case", "roster", "followup", "away"}
# Groups whose first word may also be followed by an argument ("away PERSON"):
# only these words make a subcommand.
SUBCOMMANDS = {"away": {"list", "cancel"}}
OPT = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


def command_and_options(text):
    """'case open REF --contact P [--level N]' -> ('case open', {'--contact', '--level'})."""
    words = text.split()
    if not words or not re.fullmatch(r"[a-z]+", words[0]):
        return None, set()
    name = words[0]
    if name in GROUPS and len(words) > 1 and re.fullmatch(r"[a-z]+", words[1]) and \
            (name not in SUBCOMMANDS or words[1] in SUBCOMMANDS[name]):
        name += " " + words[1]
    return name, set(OPT.findall(text))


def add(table, where, name, opts):
    if name in table:
        table[name] |= opts
    else:
        table[name] = set(opts)


# ---- beredctl --help ----

def from_help():
    out = subprocess.run([beredctl, "--help"], capture_output=True, text=True, check=True).stdout
    cmds, glob, section, last = {}, set(), None, None
    for line in out.splitlines():
        if line in ("Commands:", "Options:"):
            section = line
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if section == "Commands:":
            if indent >= 30:
                continue  # a description
            if indent > 2:  # a synopsis that goes on: "[--next DATE] [--by P]"
                cmds[last] |= set(OPT.findall(body))
                continue
            # The synopsis ends where its description begins (two spaces or more).
            synopsis = re.split(r"\s{2,}", body)[0]
            # "case level REF N | case close REF [--by P] | case show REF"
            for part in re.split(r" \| (?=[a-z])", synopsis):
                name, opts = command_and_options(part)
                if name:
                    add(cmds, "help", name, opts)
                    last = name
        elif section == "Options:":
            glob |= set(OPT.findall(re.split(r"\s{2,}", body)[0]))
    return cmds, glob


# ---- beredctl(1) ----

def roff_text(line):
    """A roff tag line as plain text: no requests, fonts, quotes or escapes."""
    line = re.sub(r"^\.(B|I|BI|IB|BR|RB|IR|RI)\s+", "", line)
    line = re.sub(r"\\f[BIRP]", "", line)
    line = line.replace("\\-", "-").replace("\\(em", "-").replace("\\&", "")
    return line.replace('"', "")


def man_sections(path):
    sections, cur = {}, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        m = re.match(r'^\.SH\s+"?([^"]*)"?', line)
        if m:
            cur = m.group(1).replace("\\-", "-")
            sections[cur] = []
            continue
        if cur:
            sections[cur].append(line)
    return sections


def tags(lines):
    """The tag line of every .TP in LINES."""
    return [lines[i + 1] for i, l in enumerate(lines[:-1]) if l.startswith(".TP")]


def from_man(path):
    s = man_sections(path)
    cmds, glob = {}, set()
    for tag in tags(s.get("COMMANDS", [])):
        name, opts = command_and_options(roff_text(tag))
        if name:
            add(cmds, "man", name, opts)
    for tag in tags(s.get("OPTIONS", [])):
        glob |= set(OPT.findall(roff_text(tag)))
    return cmds, glob, s


help_cmds, help_glob = from_help()
man_cmds, man_glob, ctl_sections = from_man(os.path.join(top, "man", "beredctl.1"))
if len(help_cmds) < 15:
    bad.append(f"only {len(help_cmds)} commands found in beredctl --help: the parser is out of date")
for name in sorted(set(help_cmds) | set(man_cmds)):
    if name not in man_cmds:
        bad.append(f"beredctl(1): command '{name}' of --help is not documented")
    elif name not in help_cmds:
        bad.append(f"beredctl --help: command '{name}' of beredctl(1) is not shown")
    else:
        for o in sorted(help_cmds[name] - man_cmds[name]):
            bad.append(f"beredctl(1): option {o} of '{name}' (in --help) is not documented")
        for o in sorted(man_cmds[name] - help_cmds[name]):
            bad.append(f"beredctl --help: option {o} of '{name}' (in beredctl(1)) is not shown")
for o in sorted(help_glob ^ man_glob):
    where = "beredctl(1) OPTIONS lacks" if o in help_glob else "beredctl --help Options lacks"
    bad.append(f"{where} {o}")

# ---- the vocabulary in the source ----

def c_table(path, name):
    text = open(path, encoding="utf-8").read()
    m = re.search(name + r"\[[^\]]*\]\s*=\s*\{(.*?)\};", text, re.S)
    return re.findall(r'\]\s*=\s*"([^"]+)"', m.group(1)) if m else []


daemon = os.path.join(top, "daemon")
verbs = c_table(os.path.join(daemon, "verbs.c"), "command_names")
fields = c_table(os.path.join(daemon, "command.c"), "field_names")
factors = c_table(os.path.join(daemon, "command.c"), "factor_names")
if len(verbs) < 15 or len(fields) < 20 or len(factors) < 10:
    bad.append(f"daemon tables not found ({len(verbs)} commands, {len(fields)} fields, {len(factors)} factors)")

# ---- beredd-commands(7) ----

cmd_page = os.path.join(top, "man", "beredd-commands.7")
cmd_sections = man_sections(cmd_page)
cmd_text = "\n".join(roff_text(l) for ls in cmd_sections.values() for l in ls)
# Each command has a subsection of its own: ".SS trigger".
documented = {roff_text(l[4:]).strip() for ls in cmd_sections.values() for l in ls if l.startswith(".SS ")}
for v in verbs:
    if v not in documented:
        bad.append(f"beredd-commands(7): command {v} has no .SS of its own")
for d in sorted(documented):
    if re.fullmatch(r"[a-z]+(\.[a-z]+)?", d) and d not in verbs:
        bad.append(f"beredd-commands(7): .SS {d} is not a command of daemon/verbs.c")
for f in fields:
    if not re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", cmd_text):
        bad.append(f"beredd-commands(7): field {f} is not mentioned")


def factor_list(sections, title):
    return [roff_text(t).strip() for t in tags(sections.get(title, []))]


for page, secs in (("beredctl(1)", ctl_sections), ("beredd-commands(7)", cmd_sections)):
    listed = factor_list(secs, "FOLLOW-UP FACTORS")
    if listed != factors:
        bad.append(f"{page}: FOLLOW-UP FACTORS lists {listed}, daemon/command.c has {factors}")

# ---- groff ----

if shutil.which("groff"):
    for page in sorted(os.listdir(os.path.join(top, "man"))):
        p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(top, "man", page)],
                           capture_output=True, text=True)
        if p.returncode or p.stderr.strip():
            bad.append(f"groff -man -ww -z man/{page}: {p.stderr.strip() or p.returncode}")
else:
    print("# groff not installed: the pages' roff is not checked")

for b in bad:
    print("FAIL:", b)
n = sum(len(v) for v in help_cmds.values())
print(f"# {len(help_cmds)} commands with {n} options, {len(verbs)} JSON commands, {len(fields)} fields, "
      f"{len(factors)} factors checked")
sys.exit(1 if bad else 0)
