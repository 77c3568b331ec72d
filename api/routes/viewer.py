"""``/viewer/{asset}``: the browser viewer's static files (``core.viewer.viewer_dir()``), public and cacheable.

Only the assets the page loads are served (``core.viewer.STATIC_FILES``), never the rest of the package folder
(its Python sources, the page template). The page itself is ``GET /scenes/{id}/view``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.problems import ProblemError
from core.viewer import STATIC_FILES, viewer_dir

router = APIRouter(prefix="/viewer", tags=["viewer"])

JS_MEDIA_TYPE = "text/javascript; charset=utf-8"


@router.get(
    "/{asset}",
    response_class=FileResponse,
    responses={200: {"content": {"text/javascript": {}}}, 404: {"content": {"application/problem+json": {}}}},
    operation_id="get_viewer_asset",
    summary="A static file of the browser viewer (three.js and the viewer script)",
)
async def get_viewer_asset(asset: str) -> FileResponse:
    if asset not in STATIC_FILES:
        raise ProblemError(404, "Not Found", f"no viewer asset {asset!r}", slug="not-found")
    # Vendored libraries (three.js, Spark) never change within a release; viewer.js may, so it is revalidated.
    cache = "no-cache" if asset == "viewer.js" else "public, max-age=86400"
    return FileResponse(viewer_dir() / asset, media_type=JS_MEDIA_TYPE, headers={"Cache-Control": cache})
