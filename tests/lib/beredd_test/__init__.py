"""beredd_test - the Python side of beredd's test library.

Used by tests/badinput, tests/torture, tests/bench and the integration
helpers (through `python3 tests/lib/beredd_test ...`, see __main__.py).
A script finds it relative to its own path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
    from beredd_test import net, daemon

What lives where:
  net.py        free loopback ports, waiting for a listener
  mosquitto.py  a private mosquitto broker for one test
  daemon.py     the daemon as a child process, ready when it says READY=1
                on a private NOTIFY_SOCKET; valgrind flags
  ctl.py        the control-socket client (one JSON line each way)
  conf.py       configurations from a template (people, gateways, chains,
                follow-up, MQTT) instead of whole inline texts
  clock.py      Europe/Oslo time offsets (BEREDD_TEST_TIME_OFFSET) and the
                working-day calendar by daemon/calendar.c's rules
  cases.py      follow-up case files as the daemon writes them (bucket,
                JSON), checked against a case the daemon itself wrote
"""
