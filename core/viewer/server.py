"""A tiny local HTTP server for one file and the viewer page (``gld8tr view``). Stdlib only.

Routes: ``/`` the viewer page, ``/static/<asset>`` the viewer's assets, ``/data/<name>`` the file itself. Only
those exact files are served (no directory listing, no path joins from the URL), and it binds to localhost.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from core.viewer import STATIC_FILES, viewer_dir, viewer_html

log = logging.getLogger(__name__)

OCTET = "application/octet-stream"
CONTENT_TYPES = {
    ".js": "text/javascript", ".html": "text/html; charset=utf-8", ".ply": OCTET, ".splat": OCTET, ".spz": OCTET,
    ".glb": "model/gltf-binary",
}


class ViewerServer:
    """Serve ``path`` and the viewer on ``host:port`` (port 0 picks a free one) in a background thread."""

    def __init__(self, path: str | Path, *, host: str = "127.0.0.1", port: int = 0, **page_options: object) -> None:
        self.path = Path(path).resolve()
        data_name = quote(self.path.name)
        page = viewer_html(f"/data/{data_name}", static_url="/static/", title=self.path.name, **page_options)
        routes: dict[str, tuple[Path | bytes, str]] = {
            "/": (page.encode("utf-8"), CONTENT_TYPES[".html"]),
            f"/data/{self.path.name}": (self.path, CONTENT_TYPES.get(self.path.suffix.lower(), OCTET)),
        }
        for name in STATIC_FILES:
            routes[f"/static/{name}"] = (viewer_dir() / name, CONTENT_TYPES[".js"])

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                route = routes.get(unquote(urlsplit(self.path).path))
                if route is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                body_or_path, ctype = route
                body = body_or_path.read_bytes() if isinstance(body_or_path, Path) else body_or_path
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                log.debug("%s - %s", self.address_string(), format % args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ViewerServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="gld8tr-viewer", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
