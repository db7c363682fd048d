"""ctl.py - beredd's control socket: one JSON line in, one JSON line out."""
import json
import socket


def raw(path, data, timeout=10.0):
    """Send DATA (bytes, a newline is added) and return the answer line as
    text, stripped; what came before a timeout or the peer closing when no
    whole line came. OSError when nothing listens on PATH."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        try:
            s.sendall(data + b"\n")
        except OSError:
            pass  # the daemon may answer (and close) before reading it all
        buf = b""
        while b"\n" not in buf:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            buf += d
    finally:
        s.close()
    return buf.decode("utf-8", "replace").strip()


def request(path, obj, timeout=10.0):
    """One command OBJ: the reply object. OSError when the daemon is not
    there, ValueError when no whole reply came."""
    return json.loads(raw(path, json.dumps(obj).encode(), timeout))


def try_request(path, obj, timeout=5.0):
    """Like request(), but None when the daemon was not there or went away
    mid-request (for tests that kill it)."""
    try:
        return request(path, obj, timeout)
    except (OSError, ValueError):
        return None
