"""conf.py - beredd configurations from a template.

render() writes the top level in one order (site, timezone, spool, people,
gateways, chains, follow-up, MQTT, then any extra text); each part is given
as the settings text of its list entries, or built with person(). A part
left None is left out of the file.
"""


def _list(items):
    return ", ".join('"%s"' % i for i in items)


def person(pid, name, phone, email=None, roles=()):
    """One entry of people = ( ... )."""
    e = ' email = "%s";' % email if email else ""
    r = " roles = [ %s ];" % _list(roles) if roles else ""
    return '{ id = "%s"; name = "%s"; phone = "%s";%s%s }' % (pid, name, phone, e, r)


def followup(levels, coordinator, overdue_after="1d", escalate_after="2d", retention="90d"):
    """followup = { ... } with LEVELS as (level, name, every) tuples."""
    lv = ", ".join('{ level = %d; name = "%s"; every = "%s"; }' % x for x in levels)
    return ('followup = {\n  levels = ( %s );\n  overdue_after = "%s"; escalate_after = "%s"; coordinator = "%s";'
            ' retention = "%s";\n};\n' % (lv, overdue_after, escalate_after, coordinator, retention))


def mqtt(port, base, qos=1, **more):
    """mqtt: { ... } on 127.0.0.1:PORT; MORE as further settings: a bool,
    number, string or list of strings each."""
    s = 'mqtt: { host = "127.0.0.1"; port = %d; base = "%s"; qos = %d;' % (port, base, qos)
    for k, v in more.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[ %s ]" % _list(v)
        elif isinstance(v, str):
            v = '"%s"' % v
        s += " %s = %s;" % (k, v)
    return s + " };\n"


def render(site, spool, people=(), gateways=(), chains=(), followup=None, mqtt=None, timezone="Europe/Oslo",
           extra=""):
    """The configuration text; PEOPLE, GATEWAYS and CHAINS are lists of
    entry texts ("{ id = ...; }")."""
    out = ['site = "%s";\n' % site]
    if timezone:
        out.append('timezone = "%s";\n' % timezone)
    out.append('spool = "%s";\n' % spool)
    for key, items in (("people", people), ("gateways", gateways), ("chains", chains)):
        if items:
            out.append("%s = (\n  %s\n);\n" % (key, ",\n  ".join(items)))
    out += [followup or "", mqtt or "", extra]
    return "".join(out)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path
