"""`signlang demo`: the demo page (demo/index.html, which `make demo` builds) served on http://127.0.0.1.

The page works opened straight from disk, but some browsers allow the camera only on https:// pages
and on http://localhost; this serves the page's folder there, on this computer only (127.0.0.1), with
Python's http.server. The page itself makes no request: everything it uses is inside it.
"""

from __future__ import annotations

import functools
import sys
import webbrowser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from signlang.errors import SignlangError

HOST = "127.0.0.1"
DEFAULT_DIRECTORY = Path("demo")
DEFAULT_PORT = 8000


class DemoRequestHandler(SimpleHTTPRequestHandler):
    """Files of one folder, never cached (a rebuilt page shows on reload), no log line per request."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def make_server(directory: Path = DEFAULT_DIRECTORY, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """A server of ``directory`` on 127.0.0.1:``port`` (0: a free port; its number is in
    ``server.server_address[1]``), not yet serving: call ``serve_forever``."""
    if not 0 <= port <= 65535:
        raise SignlangError(f"--port must be 0 (any free port) to 65535, got {port}")
    index = directory / "index.html"
    if not index.is_file():
        raise SignlangError(f"{index}: not found; build the demo page with 'make demo'")
    handler = functools.partial(DemoRequestHandler, directory=str(directory))
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        raise SignlangError(
            f"cannot serve on {HOST}:{port} ({error.strerror}); try another --port, or 0 for any free one"
        ) from error


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve(directory: Path = DEFAULT_DIRECTORY, port: int = DEFAULT_PORT, open_browser: bool = False) -> int:
    """Serve ``directory`` until Ctrl+C; prints the page's address first. Returns the exit code (0)."""
    with make_server(directory, port) as server:
        url = url_of(server)
        print(f"serving {directory / 'index.html'} at {url} (on this computer only); Ctrl+C stops", flush=True)
        if open_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print(file=sys.stderr)
    return 0
