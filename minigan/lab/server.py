"""`minigan lab`: a local web server for the lab page, and its JSON API.

    minigan lab [--port N] [--host 127.0.0.1] [--no-browser]

The standard library's ThreadingHTTPServer serves one static page (minigan/lab/static) and a
small JSON API; each open page gets a LabSession (minigan.lab.session) with its own trainer
and training thread. Routes (every /api route needs the run's token: the X-Minigan-Token
header, or ?token= on the two downloads):

    GET  /?token=T               the page
    GET  /static/lab.js|lab.css  its script and style (fixed names; no path from the request
                                 ever reaches the disk)
    GET  /guide                  docs/guide.md as a page, when the source tree is at hand
    POST /api/session            {} -> a new session's first snapshot
    GET  /api/state?session=ID[&after=V]   the latest snapshot (never waits for training);
                                 with after=V, as soon as one newer than version V is out
                                 (at most LONG_POLL s), so the page draws each view once
    POST /api/control            {"session", "action": play|pause|step|reset|critic|generator}
    POST /api/params             {"session", "params": {setting: value, ...}}
    POST /api/draw               {"session", "points": [[x, y], ...], "mode": add|replace}
    GET  /api/export/checkpoint?session=ID&token=T   Trainer.save's .npz
    GET  /api/export/python?session=ID&token=T       the configuration as a Python script

Safety: binds 127.0.0.1 by default; refuses a Host header other than the bound address or
localhost (DNS rebinding); a state-changing request needs the token, a JSON body, and an
Origin (when the browser sends one) equal to the server's own; bodies and drawings are bounded;
at most MAX_SESSIONS pages train at once and a page silent for IDLE_SECONDS is ended.

Deliberately left out: TLS, users and passwords (it is a local tool), persistence.
"""
import argparse
import html
import json
import re
import secrets
import sys
import threading
import time
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .session import LabSession

STATIC = Path(__file__).parent / "static"
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/static/lab.js": ("lab.js", "text/javascript; charset=utf-8"),
         "/static/lab.css": ("lab.css", "text/css; charset=utf-8")}
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"   # in a source checkout
MAX_BODY = 256 * 1024
MAX_SESSIONS = 8
IDLE_SECONDS = 60.0
LONG_POLL = 1.0          # s an /api/state?after= request waits for a newer snapshot
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class HTTPError(Exception):
    """A 4xx answer with a message for the page."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class LabServer(ThreadingHTTPServer):
    """The HTTP server, its token and its sessions."""

    daemon_threads = True

    def __init__(self, host="127.0.0.1", port=0, token=None, idle_seconds=IDLE_SECONDS):
        super().__init__((host, port), Handler)
        self.token = token or secrets.token_urlsafe(18)
        self.idle_seconds = idle_seconds
        self.sessions = {}
        self.sessions_lock = threading.Lock()
        host, port = self.server_address[:2]
        self.allowed_hosts = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
        self.url = f"http://{host if host != '0.0.0.0' else '127.0.0.1'}:{port}/?token={self.token}"

    def new_session(self):
        with self.sessions_lock:
            for sid in [s for s, v in self.sessions.items() if v.closed.is_set()]:
                del self.sessions[sid]               # ended by their idle timer
            if len(self.sessions) >= MAX_SESSIONS:
                raise HTTPError(503, f"{MAX_SESSIONS} pages are already training; close one "
                                     f"(an idle page ends after {self.idle_seconds:g} s)")
            sid = secrets.token_hex(8)
            self.sessions[sid] = LabSession(sid, self.idle_seconds)
            return self.sessions[sid]

    def session(self, sid):
        s = self.sessions.get(sid) if isinstance(sid, str) else None
        if s is None or s.closed.is_set():
            raise HTTPError(404, f"no open session {sid!r} (it may have ended after "
                                 f"{self.idle_seconds:g} s without a request): reload the page")
        s.touch()
        return s

    def close_sessions(self):
        with self.sessions_lock:
            for s in self.sessions.values():
                s.close()
            for s in self.sessions.values():
                s.thread.join(timeout=5)
                s.views_thread.join(timeout=5)
            self.sessions.clear()


class Handler(BaseHTTPRequestHandler):
    server_version = "minigan-lab"
    # HTTP/1.1 keeps the page's connection open between requests: fifteen snapshots a second
    # would otherwise cost fifteen new connections and threads a second, beside training
    protocol_version = "HTTP/1.1"
    timeout = 30             # s an open connection may stay silent before its thread ends

    def log_message(self, format, *args):  # quiet: the terminal shows the URL, not the traffic
        pass

    # ------------------------------------------------------------ answers
    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in extra:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status=200):
        self._send(status, json.dumps(obj).encode())

    def _handle(self, route):
        try:
            self._check_host()
            route()
        except (HTTPError, ValueError, TypeError, RuntimeError) as e:
            # an HTTPError, or the library refusing a value: 4xx with the message. The
            # connection then closes: a refused request's body may be left unread, and the
            # next request must not be parsed from it
            self.close_connection = True
            self._json({"error": str(e)}, e.status if isinstance(e, HTTPError) else 400)
        except (BrokenPipeError, ConnectionResetError):      # the page went away mid-answer
            self.close_connection = True

    # ------------------------------------------------------------ checks
    def _check_host(self):
        if self.headers.get("Host") not in self.server.allowed_hosts:
            raise HTTPError(421 if self.command == "GET" else 403,
                            f"unexpected Host header {self.headers.get('Host')!r}: open the "
                            f"URL minigan lab printed")

    def _query(self):
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _check_token(self, query_too=False):
        given = self.headers.get("X-Minigan-Token")
        if given is None and query_too:
            given = self._query().get("token")
        if not isinstance(given, str) or not secrets.compare_digest(given, self.server.token):
            raise HTTPError(403, "missing or wrong token: open the URL minigan lab printed")

    def _body(self):
        """The request's JSON object, after the checks a state-changing request needs."""
        self._check_token()
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            raise HTTPError(403, f"cross-origin request from {origin!r} refused")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise HTTPError(415, "the body must be JSON (Content-Type: application/json)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise HTTPError(411, "Content-Length is needed") from None
        if length > MAX_BODY:
            raise HTTPError(413, f"the body is {length} bytes; at most {MAX_BODY}")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPError(400, f"malformed JSON: {e}") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object")
        return body

    @staticmethod
    def _fields(body, allowed):
        extra = sorted(set(body) - set(allowed))
        if extra:
            raise HTTPError(400, f"unknown field {', '.join(map(repr, extra))}; expected "
                                 f"{', '.join(allowed)}")
        missing = [k for k in allowed if k not in body]
        if missing:
            raise HTTPError(400, f"missing field {', '.join(map(repr, missing))}")
        return [body[k] for k in allowed]

    # ------------------------------------------------------------ routes
    def do_GET(self):
        self._handle(self._get)

    def do_POST(self):
        self._handle(self._post)

    def _get(self):
        path = urlsplit(self.path).path
        if path in FILES:
            if path == "/":
                self._check_token(query_too=True)
            name, ctype = FILES[path]
            self._send(200, (STATIC / name).read_bytes(), ctype)
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif path == "/guide":
            self._send(200, guide_page(), "text/html; charset=utf-8")
        elif path == "/api/state":
            self._check_token()
            query = self._query()
            s = self.server.session(query.get("session"))
            after = query.get("after")
            if after is None:
                self._send(200, s.snapshot)
            elif not re.fullmatch(r"\d{1,12}", after):
                raise HTTPError(400, f"after must be a snapshot version (an integer), got "
                                     f"{after[:40]!r}")
            else:
                self._send(200, s.newer_snapshot(int(after), LONG_POLL))
        elif path == "/api/export/checkpoint":
            self._check_token(query_too=True)
            s = self.server.session(self._query().get("session"))
            self._send(200, s.export_checkpoint(), "application/octet-stream",
                       [("Content-Disposition", 'attachment; filename="minigan-lab.npz"')])
        elif path == "/api/export/python":
            self._check_token(query_too=True)
            s = self.server.session(self._query().get("session"))
            self._send(200, s.export_python().encode(), "text/x-python; charset=utf-8",
                       [("Content-Disposition", 'attachment; filename="minigan_lab.py"')])
        else:
            raise HTTPError(404, f"no such page: {path}")

    def _post(self):
        path = urlsplit(self.path).path
        routes = {"/api/session": ((), lambda: self.server.new_session()),
                  "/api/control": (("session", "action"), lambda sid, a:
                                   self.server.session(sid).control(a)),
                  "/api/params": (("session", "params"), lambda sid, p:
                                  self.server.session(sid).set_params(p)),
                  "/api/draw": (("session", "points", "mode"), lambda sid, pts, mode:
                                self.server.session(sid).draw(pts, mode))}
        if path not in routes:
            raise HTTPError(404, f"no such API: {path}")
        body = self._body()
        fields, act = routes[path]
        if path == "/api/session":
            self._fields(body, ())
            self._send(200, act().snapshot)
            return
        args = self._fields(body, fields)
        act(*args)
        self._send(200, self.server.session(args[0]).snapshot)


def _slug(title):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def guide_page():
    """docs/guide.md as a plain HTML page with heading anchors (a source checkout only)."""
    if not GUIDE.is_file():
        raise HTTPError(404, "the reader's guide ships with minigan's source: docs/guide.md")
    out = []
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"(#{1,4}) (.*)", line)
        if m:
            level, title = len(m.group(1)), m.group(2)
            out.append(f'</pre><h{level} id="{_slug(title)}">{html.escape(title)}</h{level}><pre>')
        else:
            out.append(html.escape(line))
    return ('<!doctype html><meta charset="utf-8"><title>minigan: reader\'s guide</title>'
            '<link rel="stylesheet" href="/static/lab.css"><body class="guide"><pre>'
            + "\n".join(out) + "</pre></body>").encode()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minigan lab", description=(
        "Watch the GMN, the GAN and the MMD-GAN learn, live, in the browser."))
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in [0, 65535], got {args.port}")
    try:
        server = LabServer(args.host, args.port)
    except OSError as e:
        print(f"minigan lab: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"minigan lab: listening on {args.host}: anyone who can reach it and has the "
              f"token can train on this machine", file=sys.stderr)
    print(f"minigan lab: {server.url}\n(Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        t0 = time.monotonic()
        server.close_sessions()
        server.server_close()
        print(f"minigan lab: stopped ({time.monotonic() - t0:.1f} s to end the training threads)")
    return 0
