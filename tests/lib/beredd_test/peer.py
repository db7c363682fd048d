"""peer.py - what the fake peers in tests/integration share (fake-sms.py,
fake-smtp.py, smtp-policy.py): the common options (--port, --port-file,
--pidfile, --log), telling the test where they listen, and serving until
SIGTERM."""
import argparse
import os
import signal


def arguments(doc):
    """An argument parser with the options every fake peer takes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0: any free port (see --port-file)")
    p.add_argument("--port-file", help="write the port listened on here (atomically) once listening")
    p.add_argument("--pidfile")
    p.add_argument("--log", required=True, help="one JSON line per request")
    return p


def announce(args, port):
    """Create the log, write the pid file and then the port file (renamed
    into place, so a test polling for it never reads half a number)."""
    open(args.log, "a").close()
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)


def serve(srv, args):
    """Run socketserver SRV until SIGTERM, then close it and remove the pid file."""
    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    announce(args, srv.server_address[1])
    try:
        srv.serve_forever(poll_interval=0.1)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        srv.server_close()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
