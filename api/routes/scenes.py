"""``/scenes``: submit, inspect, list, download, view and cancel scene jobs.

Every check that can refuse a request (auth, rate limit, options, file formats, pixel count, the cap on active
jobs) runs before anything is stored or queued, so a refused request leaves no trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.deps import BearerDep, OwnerDep, Service, ServiceDep
from api.problems import ProblemError
from api.uploads import IMAGE_FORMATS, check_depth, check_image
from core.viewer import viewer_html
from service import jobs
from service.infra import RETRY_AFTER_S
from service.jobs import ActiveJobLimit, IdempotencyConflict, QueueUnavailable
from service.schemas import (
    ACTIVE_STATUSES,
    InputInfo,
    JobList,
    JobPublic,
    JobRecord,
    Mode,
    OutputRecord,
    Problem,
    SceneOptions,
)
from service.settings import Settings
from service.storage import input_key
from service.webhooks import check_webhook_url

log = logging.getLogger(__name__)
router = APIRouter(prefix="/scenes", tags=["scenes"])

_ERRORS = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (401, 403, 404, 413, 415, 422, 429, 503)
}


def _public(request: Request, rec: JobRecord) -> JobPublic:
    return JobPublic.from_record(rec, base_url=str(request.base_url).rstrip("/"))


def _own_job(service: Service, owner: str, job_id: str) -> JobRecord:
    rec = service.store.get(job_id)
    if rec is None or rec.owner != owner:  # someone else's job looks exactly like a missing one
        raise ProblemError(404, "Not Found", f"no scene job {job_id!r}", slug="not-found")
    return rec


def _too_many_jobs(active: int, limit: int) -> ProblemError:
    return ProblemError(429, "Too many active jobs", f"{active} jobs queued or running; the limit is {limit}",
                        slug="too-many-jobs", headers={"Retry-After": "30"})


def _parse_outputs(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    return [p.strip() for item in raw for p in item.split(",") if p.strip()]


def _check_options(
    settings: Settings, prompt: str, mode: str, fov_deg: str | None, seed: int, outputs: list[str] | None,
    webhook: str | None, gs_method: str | None = None,
) -> SceneOptions:
    """The form fields as a validated ``SceneOptions`` (422 problem otherwise)."""
    if len(prompt) > settings.max_prompt_chars:
        raise ProblemError(
            422, "Prompt too long", f"{len(prompt)} characters; the limit is {settings.max_prompt_chars}",
            slug="invalid-request",
        )
    fov: object = fov_deg
    if fov_deg is not None and fov_deg.strip().lower() != "auto":
        try:
            fov = float(fov_deg)
        except ValueError:
            raise ProblemError(422, "Invalid request", f"fov_deg: a number of degrees or 'auto', got {fov_deg!r}",
                               slug="invalid-request") from None
    elif fov_deg is not None:
        fov = "auto"
    fields: dict[str, object] = {"prompt": prompt, "mode": mode, "fov_deg": fov, "seed": seed,
                                 "webhook": webhook or None, "gs_method": gs_method or None}
    if (wanted := _parse_outputs(outputs)) is not None:
        fields["outputs"] = sorted(set(wanted))
    try:
        options = SceneOptions(**fields)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ProblemError(422, "Invalid request", detail, slug="invalid-request") from exc
    if options.webhook and (why := check_webhook_url(options.webhook, settings.webhook_allowed_hosts)):
        raise ProblemError(422, "Webhook not allowed", why, slug="webhook-not-allowed")
    return options


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ProblemError(413, "Content Too Large", f"files may total at most {limit} bytes", slug="too-large")
    return data


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    responses=_ERRORS,
    operation_id="create_scene",
    summary="Submit a photo (and optional depth) for 3D scene generation",
)
async def create_scene(
    request: Request,
    response: Response,
    service: ServiceDep,
    owner: OwnerDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo")],
    depth: Annotated[UploadFile | None, File(description="16-bit PNG (mm) or .npy (m), same size")] = None,
    prompt: Annotated[str, Form()] = "",
    mode: Annotated[Mode, Form()] = "stage",
    fov_deg: Annotated[str | None, Form(description="degrees in [1, 179], or 'auto'")] = None,
    seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
    outputs: Annotated[list[str] | None, Form(
        description="comma-separated subset of scene.ply, scene.json, preview.png, gaussians.ply, gaussians.json, "
        "mesh.glb, video.mp4 (gaussians.* add the Gaussian stage, mesh.glb the fused triangle mesh, video.mp4 an "
        "orbit fly-through of the splats, or of the points without gaussians.*; default: the first three)"
    )] = None,
    webhook: Annotated[str | None, Form()] = None,
    gs_method: Annotated[str | None, Form(description="feedforward, fit or auto (default: the worker setting)")] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JobPublic:
    settings, store = service.settings, service.store

    # 1. Rate limit (per key, sliding one-minute window).
    if settings.rate_limit_per_minute:
        wait = await asyncio.to_thread(store.rate_limit, owner, settings.rate_limit_per_minute)
        if wait > 0:
            raise ProblemError(
                429, "Too Many Requests", f"at most {settings.rate_limit_per_minute} submissions per minute",
                slug="rate-limited", headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )

    # 2. Options.
    options = _check_options(settings, prompt, mode, fov_deg, seed, outputs, webhook, gs_method)

    # 3. Files: size, format, pixel count, decodability, depth shape.
    limit = settings.max_upload_bytes
    image_bytes = await _read_upload(image, limit)
    checked = await asyncio.to_thread(check_image, image_bytes, max_pixels=settings.max_pixels)
    depth_bytes, checked_depth = None, None
    if depth is not None and (depth.filename or depth.size):
        depth_bytes = await _read_upload(depth, limit - len(image_bytes))
        checked_depth = await asyncio.to_thread(check_depth, depth_bytes, width=checked.width, height=checked.height)

    # 4. What identifies this request for Idempotency-Key purposes.
    digest = hashlib.sha256(options.model_dump_json().encode())
    digest.update(hashlib.sha256(image_bytes).digest())
    digest.update(hashlib.sha256(depth_bytes or b"").digest())
    request_hash = digest.hexdigest()

    # 5. Idempotent replay: the same key and the same request give back the same job (no new work, no cap).
    if idempotency_key:
        existing = await asyncio.to_thread(_replay, service, owner, idempotency_key, request_hash)
        if existing is not None:
            response.headers["Location"] = f"/scenes/{existing.id}"
            response.headers["Idempotent-Replayed"] = "true"
            return _public(request, existing)

    # 6. Cap on queued + running jobs per key.
    if settings.max_active_jobs_per_key:
        active = await asyncio.to_thread(store.count_active, owner)
        if active >= settings.max_active_jobs_per_key:  # early refusal; the store re-checks atomically
            raise _too_many_jobs(active, settings.max_active_jobs_per_key)

    # 7. Store the inputs, create the record (claims the idempotency key atomically), enqueue.
    job_id = uuid.uuid4().hex
    img_key = input_key(settings, job_id, f"image.{checked.extension}")
    inputs = InputInfo(image_key=img_key, image_format=checked.format, width=checked.width, height=checked.height)
    rec = JobRecord(
        id=job_id, owner=owner, options=options, inputs=inputs, request_hash=request_hash,
        idempotency_key=idempotency_key,
    )

    depth_part = (depth_bytes, checked_depth.format, checked_depth.extension) if checked_depth and depth_bytes else None
    try:
        created = await asyncio.to_thread(
            jobs.create_and_enqueue, service, service.runner, rec, image_bytes, IMAGE_FORMATS[checked.format],
            depth_part,
        )
    except IdempotencyConflict as exc:
        raise ProblemError(
            422, "Idempotency-Key reused", f"this key was used for job {exc.job_id} with a different request",
            slug="idempotency-conflict",
        ) from exc
    except ActiveJobLimit as exc:
        raise _too_many_jobs(exc.active, exc.limit) from exc
    except QueueUnavailable as exc:
        raise ProblemError(503, "Service Unavailable", str(exc), slug="unavailable",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from exc
    response.headers["Location"] = f"/scenes/{created.id}"
    log.info("job %s queued for %s (mode %s, %dx%d)", created.id, owner, options.mode, checked.width, checked.height)
    return _public(request, created)


def _replay(service: Service, owner: str, key: str, request_hash: str) -> JobRecord | None:
    """The job already created with this owner's Idempotency-Key, if any (422 if the request differs)."""
    existing = service.store.find_idempotent(owner, key)
    if existing is not None and existing.request_hash != request_hash:
        raise ProblemError(
            422, "Idempotency-Key reused", f"this key was used for job {existing.id} with a different request",
            slug="idempotency-conflict",
        )
    return existing


@router.get("", response_model=JobList, responses=_ERRORS, operation_id="list_scenes", summary="List your jobs")
async def list_scenes(
    request: Request,
    service: ServiceDep,
    owner: OwnerDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobList:
    limit = min(limit, service.settings.page_size_max)
    records, count = await asyncio.to_thread(service.store.list_owner, owner, offset, limit)
    return JobList(data=[_public(request, r) for r in records], count=count, offset=offset, limit=limit)


@router.get(
    "/{job_id}", response_model=JobPublic, responses=_ERRORS, operation_id="get_scene", summary="A job's status"
)
async def get_scene(request: Request, service: ServiceDep, owner: OwnerDep, job_id: str) -> JobPublic:
    rec = await asyncio.to_thread(_own_job, service, owner, job_id)
    return _public(request, rec)


def _file_of(rec: JobRecord, name: str) -> OutputRecord:
    output = next((o for o in rec.outputs if o.name == name), None)
    if rec.status != "succeeded" or output is None:
        raise ProblemError(404, "Not Found", f"job {rec.id} has no file {name!r} (status {rec.status})",
                           slug="not-found")
    return output


@router.get(
    "/{job_id}/files/{name}",
    responses={**_ERRORS, 200: {"description": "the file (local storage)"}, 307: {"description": "presigned URL"}},
    operation_id="get_scene_file",
    summary="Download an output file",
)
async def get_scene_file(
    request: Request,
    service: ServiceDep,
    _bearer: BearerDep,
    job_id: str,
    name: str,
    expires: Annotated[int | None, Query(description="with `token`: a signed URL from the viewer page")] = None,
    token: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """With the API key, or without one through a signed URL (``expires`` + ``token``, see ``api.signing``)."""
    if token is not None or expires is not None:
        if token is None or expires is None or not service.signer.verify(job_id, name, expires, token):
            raise ProblemError(403, "Forbidden", "invalid or expired signed URL", slug="bad-signature")
        rec = await asyncio.to_thread(service.store.get, job_id)
        if rec is None:
            raise ProblemError(404, "Not Found", f"no scene job {job_id!r}", slug="not-found")
    else:
        owner = service.auth.owner_for(request.headers.get("authorization"))
        rec = await asyncio.to_thread(_own_job, service, owner, job_id)
    output = _file_of(rec, name)
    path = service.storage.local_path(output.key)
    if path is not None:
        return FileResponse(path, media_type=output.media_type, filename=name)
    url = await asyncio.to_thread(service.storage.presigned_url, output.key, name, output.media_type)
    if url is None:
        raise ProblemError(404, "Not Found", f"file {name!r} is gone", slug="not-found")
    return RedirectResponse(url, status_code=307)


# What the viewer shows, best first: the fitted Gaussians, else the mesh, else the coloured point cloud.
VIEWABLE_OUTPUTS = ("gaussians.ply", "mesh.glb", "scene.ply")


@router.get(
    "/{job_id}/view",
    response_class=HTMLResponse,
    responses={**_ERRORS, 200: {"content": {"text/html": {}}, "description": "the viewer page"}},
    operation_id="view_scene",
    summary="A browser page that shows the scene (Gaussians if fitted, else the point cloud)",
)
async def view_scene(request: Request, service: ServiceDep, owner: OwnerDep, job_id: str) -> HTMLResponse:
    """The viewer page with a short-lived URL of the file embedded (the page's ``fetch`` sends no API key).

    S3: a presigned URL (the bucket must allow cross-origin GETs from the API's origin, see docs/SERVICE.md);
    local storage: this API's files route with a signed ``expires``/``token`` query.
    """
    rec = await asyncio.to_thread(_own_job, service, owner, job_id)
    name = next((n for n in VIEWABLE_OUTPUTS if any(o.name == n for o in rec.outputs)), None)
    if rec.status != "succeeded" or name is None:
        raise ProblemError(404, "Not Found", f"job {job_id} has nothing to view (status {rec.status})",
                           slug="not-found")
    output = _file_of(rec, name)
    root = request.scope.get("root_path", "").rstrip("/")
    if service.storage.local_path(output.key) is not None:
        data_url = f"{root}/scenes/{job_id}/files/{name}?{service.signer.query(job_id, name)}"
    else:
        data_url = await asyncio.to_thread(service.storage.presigned_url, output.key, name, output.media_type)
        if data_url is None:
            raise ProblemError(404, "Not Found", f"file {name!r} is gone", slug="not-found")
    page = viewer_html(
        data_url, static_url=f"{root}/viewer/", title=f"Gld8tr-3dcn scene {job_id[:8]} ({name})",
        fov_deg=rec.options.fov_deg,
    )
    # The page carries a bearer-free URL of the file: keep it out of shared caches and referrers.
    return HTMLResponse(page, headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"})


@router.delete(
    "/{job_id}",
    status_code=202,
    response_model=JobPublic,
    responses={**_ERRORS, 204: {"description": "finished job and its files deleted"}},
    operation_id="delete_scene",
    summary="Cancel a queued or running job, or delete a finished one; its files are deleted",
)
async def delete_scene(request: Request, service: ServiceDep, owner: OwnerDep, job_id: str) -> Response | JobPublic:
    rec = await asyncio.to_thread(_own_job, service, owner, job_id)
    if rec.status not in ACTIVE_STATUSES:
        await asyncio.to_thread(jobs.remove, service, job_id)
        return Response(status_code=204)
    updated = await asyncio.to_thread(jobs.cancel, service, job_id)
    return _public(request, updated or rec)
