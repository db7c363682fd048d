"""python3 tests/lib/beredd_test COMMAND ... : the library for shell tests.

  free-port              a free loopback port (net.free_port)
  offset-to WHEN         BEREDD_TEST_TIME_OFFSET for Europe/Oslo wall time WHEN
                         (ISO, e.g. 2027-01-13T10:00:00)
  oslo-clock OFFSET FMT  the daemon's Oslo clock under OFFSET, strftime FMT
  json-get FILE EXPR     a value from a JSON file, e.g. '["incoming"]["accepted"]'
                         (FILE - : standard input); objects, lists, booleans and
                         null as JSON, the rest as text
  json-str TEXT EXPR     the same from JSON text
  ctl-raw SOCKET LINE    send LINE over the control socket, print the reply line
  case-path SPOOL REF    the path of follow-up case REF's file
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lib(name):
    """Import one module of the library, only when its command runs (shell
    tests call this often: each start of Python counts on a busy machine)."""
    return __import__("beredd_test." + name, fromlist=[name])


def show(v):
    print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)


def main(argv):
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "free-port":
        print(lib("net").free_port())
    elif cmd == "offset-to":
        print(lib("clock").offset_to(args[0]))
    elif cmd == "oslo-clock":
        print(lib("clock").oslo_now(args[0], args[1]))
    elif cmd == "ctl-raw":
        print(lib("ctl").raw(args[0], args[1].encode(), timeout=None))
    elif cmd == "case-path":
        print("%s/cases/%s/%s.json" % (args[0], lib("cases").bucket(args[1]), args[1]))
    elif cmd in ("json-get", "json-str"):
        if cmd == "json-str":
            v = json.loads(args[0])
        else:
            v = json.load(sys.stdin if args[0] == "-" else open(args[0]))
        show(eval("v" + args[1], {"v": v}))  # EXPR is the test's own subscript, e.g. ["ok"]
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


sys.exit(main(sys.argv[1:]))
