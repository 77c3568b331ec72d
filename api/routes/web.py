"""``/`` and ``/web/{asset}``: the web front end (``api.web``), public like the docs.

The page holds no secret; it asks for the API key in the browser and sends it with every API call. Only the
listed assets are served, never the rest of the package folder.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from api.problems import ProblemError
from api.web import ASSETS, web_dir

router = APIRouter(tags=["web"])

# The page loads only this origin's scripts. The viewer iframe (srcdoc) inherits the policy: its inline import
# map, Spark's WebAssembly and its sort worker (a blob URL), and its data from this origin (local storage) or a
# presigned S3 URL (any http(s) origin: connect-src allows it).
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self' http: https: blob: data:; "
    "frame-src 'self' about:; object-src 'none'; base-uri 'self'"
)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    page = (web_dir() / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                       "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})


@router.get("/web/{asset}", response_class=FileResponse, include_in_schema=False)
async def web_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, "Not Found", f"no web asset {asset!r}", slug="not-found")
    return FileResponse(web_dir() / asset, media_type=ASSETS[asset], headers={"Cache-Control": "no-cache"})
