"""The web front end served at ``/``: one static page (``index.html``, ``app.js``, ``app.css``), no build step.

The page talks to the same public HTTP API as any other client (``POST /scenes``, ``GET /scenes``, ...), with the
API key the user typed once (kept in the browser's ``localStorage``), and shows results in the viewer page of
``GET /scenes/{id}/view`` (``core.viewer``). Stdlib only: the API process must not import torch.
"""

from __future__ import annotations

from pathlib import Path

ASSETS: dict[str, str] = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def web_dir() -> Path:
    """Folder holding ``index.html`` and ``ASSETS``."""
    return Path(__file__).resolve().parent


__all__ = ["ASSETS", "web_dir"]
