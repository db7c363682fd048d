"""cases.py - follow-up case files as the daemon writes them, for tests
that fill a spool without going through the daemon (tests/bench).

bucket() and case_json() are the one Python copy of the file layout
(cases/<bucket>/<ref>.json, see daemon/followup.c); check() asks a real
daemon to open a case and fails when the file it wrote lands in another
bucket or carries other fields, so the copy cannot drift unnoticed.
"""
import glob
import json
import os
import shutil


def bucket(ref):
    """The case's folder under cases/: the low byte of FNV-1a-32 of REF."""
    h = 2166136261
    for b in ref.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return "%02x" % (h & 0xFF)


def case_json(ref, due, opened, contacts=("p0",), level=1, factors=("loneliness",)):
    """An open case that has not been reminded yet, as the daemon writes one."""
    return json.dumps({
        "ref": ref, "contacts": list(contacts), "level": level, "factors": list(factors), "children": False,
        "task": False, "state": "open", "due": due, "stage": "none", "reminded": 0, "second": 0, "escalated_at": 0,
        "code": None, "unreached_in_row": 0, "opened": opened, "closed": 0, "closed_by": None, "origin": None,
        "seq": 0, "notify": [], "history": []}, indent=1) + "\n"


def write(spool, ref, due, opened, **kw):
    d = os.path.join(spool, "cases", bucket(ref))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ref + ".json"), "w") as f:
        f.write(case_json(ref, due, opened, **kw))


def check(beredd, t):
    """Open one case through the daemon at BEREDD in a scratch folder under
    T, stop it cleanly (the journal is folded into the case file) and
    compare the file with bucket() and case_json(); RuntimeError when they
    differ."""
    from . import conf, ctl, daemon
    w = os.path.join(t, "case-check")
    os.makedirs(w, exist_ok=True)
    conf.write(w + "/beredd.conf", conf.render(
        "check", w + "/spool",
        people=[conf.person("p0", "Kontakt", "+4790000000", roles=["contact"]),
                conf.person("koord", "Koordinator", "+4790000001")],
        gateways=['{ id = "outbox"; channel = "any"; type = "file"; }'],
        followup=conf.followup([(1, "lav", "14d")], "koord")))
    d = daemon.Daemon(beredd, w, foreground=False)
    ref = "B-0000042"
    try:
        d.start()
        r = ctl.request(d.control, {"cmd": "case.open", "case": ref, "contacts": ["p0"], "level": 1,
                                    "factors": ["loneliness"], "due": "2030-01-02"})
        if not r.get("ok"):
            raise RuntimeError("case.open refused: %s" % r)
        if d.stop() != 0:
            raise RuntimeError("the daemon did not stop cleanly; see %s" % d.log_path)
    finally:
        d.close()
    files = glob.glob(w + "/spool/cases/*/%s.json" % ref)
    if [os.path.basename(os.path.dirname(f)) for f in files] != [bucket(ref)]:
        raise RuntimeError("the daemon wrote %s, not cases/%s/%s.json" % (files, bucket(ref), ref))
    theirs = json.load(open(files[0]))
    ours = json.loads(case_json(ref, theirs["due"], theirs["opened"]))
    if list(theirs) != list(ours):
        raise RuntimeError("case file fields differ: the daemon's %s, ours %s" % (list(theirs), list(ours)))
    shutil.rmtree(w, ignore_errors=True)
