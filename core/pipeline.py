"""One photo (+ prompt) in, a coloured point cloud out: the Invisible Stitch loop.

1. Check and load the inputs (photo, optional RGB-D depth, mode or trajectory); resize, crop to multiples of 8.
2. Build the backends (inpainter, depth completer) from spec strings, or take the objects given.
3. First view: depth from ``--depth`` or from the completer with nothing known; snap depth edges; lift every
   valid pixel to a point.
4. For each further camera: render the cloud, close thin cracks, build the inpaint mask (coverage eroded, holes
   dilated), inpaint the image, complete the depth conditioned on the rendered depth, snap depth edges, and lift
   only the pixels no existing point covered.
5. Return a :class:`Scene`; :func:`save_scene` writes the PLY, the sidecar JSON and, optionally, the views.

Usage::

    from core.pipeline import generate_scene, save_scene

    scene = generate_scene("examples/coffee.jpg", "a cup of coffee", mode="stage", seed=0)
    save_scene(scene, "outputs/coffee.ply", views_dir="outputs/coffee_views")
    print(len(scene.points), scene.timings)

Backends may be objects satisfying :mod:`core.backends.base` (tests and the service worker inject them), e.g.
``generate_scene(img, depth=d, depth_model=LaplacianFill(), inpainter=PatchMatchInpainter())``.

Why points are added only where nothing was visible: the input photo is the best information the scene will
ever have, so later views must never overwrite it; adding a point per uncovered pixel also keeps the density
close to one point per pixel of the view that first saw a surface.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import __version__
from core.camera import DEFAULT_FOV_DEG, Camera, Intrinsics, unproject_depth
from core.errors import Cancelled, InputError, ModelNotAvailableError
from core.io.image import ImageSource, crop_box, load_image, resize_max_side
from core.masks import (
    DEFAULT_EDGE_GRAZING_DEG,
    dilate,
    erode,
    fill_from_nearest,
    snap_depth_edges,
    thin_cracks,
)
from core.render import render_points_world_size
from core.trajectory import MODES, load_trajectory, parse_trajectory, poses_for_mode
from core.vram import resolve_device

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class GenerationSettings:
    """Tunables of the loop; the defaults follow the published method where it states them."""

    max_side: int | None = 512  # downscale larger photos (CPU-friendly); None keeps the native size
    multiple: int = 8  # crop so both sides are multiples of this (network stride)
    splat_scale: float = 0.75  # point radius in pixels of the view that created it (0.71 = half diagonal)
    crack_radius: int = 1  # closing radius for thin cracks
    coverage_erode: int = 2  # erode the coverage before building the inpaint mask
    inpaint_dilate: int = 2  # dilate the inpaint mask
    edge_grazing_deg: float = DEFAULT_EDGE_GRAZING_DEG  # steeper depth change = discontinuity
    compute_normals: bool = True
    device_loop: bool | None = None  # masks, completion and lifting on the device (None: off the CPU only)
    camera_method: str = "auto"  # how fov_deg="auto" estimates the camera; "auto" = by depth source (docs/CAMERA.md)
    camera_model: str | None = None  # camera-module checkpoint folder; None = the shipped gld8tr-camera


@dataclass
class Scene:
    """A generated scene; see docs/CONTRACTS.md."""

    points: np.ndarray  # [N, 3] float32, world (input camera) coordinates
    colors: np.ndarray  # [N, 3] uint8
    normals: np.ndarray | None  # [N, 3] float32 or None
    cameras: list[Camera]  # one per view, cameras[0] = input camera
    views: list[np.ndarray]  # uint8 [H, W, 3] per view (views[0] = input photo, others inpainted)
    depths: list[np.ndarray]  # float32 [H, W] completed depth per view
    masks: list[np.ndarray]  # bool [H, W] inpainted pixels per view (all False for view 0)
    timings: dict[str, float]  # seconds per stage
    meta: dict[str, Any] = field(default_factory=dict)  # mode, prompt, backends, versions, seed, ...
    peak_memory_mb: dict[str, float] = field(default_factory=dict)  # MiB per stage; meta["peak_memory_kind"] says what

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])


class _Timer:
    """Seconds per stage, summed over views, and each stage's peak memory (MiB, worst view; see
    :func:`core.vram.peak_memory_kind` for what is measured on which device)."""

    def __init__(self, device: torch.device) -> None:
        from core.vram import peak_memory_kind

        self.device = device
        self.seconds: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}
        self.memory_kind = peak_memory_kind(device)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        from core.vram import track_peak_memory

        t0 = time.perf_counter()
        try:
            with track_peak_memory(stage, self.peak_mib, self.device):
                yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


class _Cloud:
    """The growing point cloud on the compute device, with each point's world radius for splatting."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def add(self, points: torch.Tensor, colors: torch.Tensor, size: torch.Tensor, normals: torch.Tensor | None) -> None:
        self._parts.append((points, colors, size, normals))
        self._cache = None

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._cache is None:
            self._cache = tuple(torch.cat([p[i] for p in self._parts]) for i in range(3))  # type: ignore[assignment]
        return self._cache  # type: ignore[return-value]

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        pts, cols, _ = self.tensors()
        normals = None
        if self._parts and all(p[3] is not None for p in self._parts):
            normals = torch.cat([p[3] for p in self._parts]).cpu().numpy().astype(np.float32)  # type: ignore[misc]
        return pts.cpu().numpy().astype(np.float32), cols.cpu().numpy().astype(np.uint8), normals


_PROJECT_PACKAGES = ("core", "service", "api", "worker", "gld8tr", "training", "benchmark")
"""A missing module of these is a bug of ours, never a missing optional extra."""


def _build_backend(kind: str, spec: Any, device: torch.device, **options: Any) -> Any:
    """A backend from a registry spec built with ``options``, or the given object unchanged after a protocol check
    (a prebuilt object already carries its options, e.g. the worker's ``low_vram``)."""
    from core.backends import base, registry

    protocol = {"inpainter": base.Inpainter, "depth_completer": base.DepthCompleter}[kind]
    if not isinstance(spec, str):
        if not isinstance(spec, protocol):
            raise TypeError(f"{kind} object {spec!r} does not implement {protocol.__name__}")
        return spec
    try:
        return registry.build(kind, spec, device=str(device), **options)  # type: ignore[arg-type]
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in _PROJECT_PACKAGES:
            raise
        raise ModelNotAvailableError(
            f"{kind.replace('_', ' ')} {spec!r} needs the Python package {exc.name!r}; "
            "install the optional extra: pip install 'gld8tr-3dcn[hf]'"
        ) from None


def _prepare_inputs(
    image: ImageSource, depth: Any, settings: GenerationSettings
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode, downscale and crop the photo, and the depth map identically (nearest sampling for depth)."""
    from core.io.depth import load_depth

    rgb = load_image(image)
    depth_m = None
    if depth is not None:
        depth_m = load_depth(depth, expected_shape=rgb.shape[:2])
    h0, w0 = rgb.shape[:2]
    rgb = resize_max_side(rgb, settings.max_side)
    h, w = rgb.shape[:2]
    if depth_m is not None and (h, w) != (h0, w0):
        ys = np.clip(((np.arange(h) + 0.5) * h0 / h).astype(int), 0, h0 - 1)
        xs = np.clip(((np.arange(w) + 0.5) * w0 / w).astype(int), 0, w0 - 1)
        depth_m = depth_m[ys[:, None], xs[None, :]]
    top, left, nh, nw = crop_box(h, w, settings.multiple)
    rgb = np.ascontiguousarray(rgb[top : top + nh, left : left + nw])
    if depth_m is not None:
        depth_m = np.ascontiguousarray(depth_m[top : top + nh, left : left + nw])
    return rgb, depth_m


def _camera_poses(mode: str, trajectory: Any) -> tuple[list[torch.Tensor], str]:
    if trajectory is None:
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)} or give a trajectory file")
        return poses_for_mode(mode), mode
    if isinstance(trajectory, str | Path):
        return load_trajectory(trajectory), "trajectory"
    if isinstance(trajectory, list | dict):
        return parse_trajectory(trajectory), "trajectory"
    poses = [torch.as_tensor(p, dtype=torch.float32) for p in trajectory]
    return parse_trajectory([p.tolist() for p in poses]), "trajectory"


def _normals_from_points(pts_cam: torch.Tensor) -> torch.Tensor:
    """Unit normals [H, W, 3] from a camera-space point map [H, W, 3] (central differences), facing the camera."""
    p = torch.nn.functional.pad(pts_cam.permute(2, 0, 1)[None], (1, 1, 1, 1), mode="replicate")[0].permute(1, 2, 0)
    du = p[1:-1, 2:] - p[1:-1, :-2]
    dv = p[2:, 1:-1] - p[:-2, 1:-1]
    n = torch.linalg.cross(du, dv)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    flip = (n * pts_cam).sum(-1, keepdim=True) > 0
    return torch.where(flip, -n, n)


def _lift(
    depth: np.ndarray,
    image: np.ndarray,
    select: np.ndarray,
    camera: Camera,
    settings: GenerationSettings,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """World points, colours, world radii and normals of the ``select``ed pixels of one view."""
    d = torch.as_tensor(depth, dtype=torch.float32, device=device)
    K = camera.intrinsics.matrix(device)
    pts_cam = unproject_depth(d, K)
    sel = torch.as_tensor(select, dtype=torch.bool, device=device)
    pose = camera.cam_to_world.to(device)
    pts = pts_cam[sel] @ pose[:3, :3].T + pose[:3, 3]
    # A decoded photo is often a read-only array; torch warns on those, so copy it only then.
    colors = torch.as_tensor(np.require(image, dtype=np.uint8, requirements='W'), device=device)[sel]
    size = d[sel] * (settings.splat_scale / camera.intrinsics.fx)
    normals = None
    if settings.compute_normals:
        normals = _normals_from_points(pts_cam)[sel] @ pose[:3, :3].T
    return pts, colors, size, normals


def _device_view(
    cloud: _Cloud, cam: Camera, intr: Intrinsics, inpaint: Any, completer: Any, prompt: str, seed: int,
    settings: GenerationSettings, timer: _Timer,
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step 4 for one camera with everything but the inpainter on the cloud's device: render, masks
    (:mod:`core.masks_device`), completion (``complete_tensor`` when the completer has it), edge snapping and
    lifting. Only the rendered view and its mask go to the host, for the inpainter, and the inpainted view comes
    back. Returns ``(view, depth, inpaint mask, new point count)``, the last three still on the device."""
    from core.masks_device import dilate_t, erode_t, fill_from_nearest_t, snap_depth_edges_t, thin_cracks_t

    dev = cloud.device
    H, W = intr.height, intr.width
    with timer("render"):
        pts, cols, size = cloud.tensors()
        r = render_points_world_size(pts, cols, size, intr.matrix(dev), cam.world_to_cam().to(dev), H, W)
    with timer("masks"):
        cracks = thin_cracks_t(r.mask, settings.crack_radius)
        rimg = fill_from_nearest_t(r.image, r.mask, cracks)
        rdep = fill_from_nearest_t(r.depth, r.mask, cracks)
        covered = r.mask | cracks
        holes = ~covered
        known = erode_t(covered, settings.coverage_erode)
        any_hole = bool(holes.any())  # the one decision the host needs
        inpaint_mask = dilate_t(~known, settings.inpaint_dilate) if any_hole else torch.zeros_like(holes)
    if not any_hole:
        return rimg, rdep, inpaint_mask, torch.zeros((), dtype=torch.int64, device=dev)
    with timer("inpaint"):
        view = inpaint(rimg.cpu().numpy(), inpaint_mask.cpu().numpy(), prompt, seed=seed)
    with timer("complete"):
        known_depth = known & (rdep > 0)
        sparse = torch.where(known_depth, rdep, 0.0)
        if hasattr(completer, "complete_tensor"):
            completed = completer.complete_tensor(view, sparse, known_depth).to(dev)
        else:  # a backend without a tensor entry point: one host round trip
            completed = torch.from_numpy(completer(view, sparse.cpu().numpy(), known_depth.cpu().numpy())).to(dev)
        full = torch.where(covered & (rdep > 0), rdep, completed.float())
        full = torch.where(torch.isfinite(full) & (full > 0), full, 0.0)
    with timer("merge"):
        full = snap_depth_edges_t(full, intr.fx, settings.edge_grazing_deg)
        new = holes & (full > 0)
        cloud.add(*_lift(full, view, new, cam, settings, dev))
    return view, full, inpaint_mask, new.sum()


def generate_scene(
    image: ImageSource,
    prompt: str = "",
    mode: str = "stage",
    *,
    depth: str | Path | np.ndarray | None = None,
    fov_deg: float | str | None = None,
    trajectory: Any = None,
    inpainter: Any = "patchmatch",
    depth_model: Any = "gld8tr",
    device: str | torch.device = "auto",
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    settings: GenerationSettings | None = None,
    low_vram: bool = False,
) -> Scene:
    """Generate a scene from one photo; see the module docstring. Raises ``InputError`` for unusable inputs.

    ``low_vram`` is passed to backends built here from spec strings (the Hugging Face ones then keep idle models
    on the CPU; diffusers adds model CPU offload and attention slicing); backend objects are used as given.
    """
    settings = settings or GenerationSettings()
    t_start = time.perf_counter()

    # 1. Check and load inputs (cheap checks first, so a bad mode fails before any decoding).
    poses, mode_label = _camera_poses(mode, trajectory)
    dev = resolve_device(device)
    timer = _Timer(dev)
    auto_fov = parse_fov(fov_deg) == "auto"
    with timer("load"):
        rgb, depth_in = _prepare_inputs(image, depth, settings)
    H, W = rgb.shape[:2]
    intr = Intrinsics.from_fov(W, H, DEFAULT_FOV_DEG if auto_fov or fov_deg is None else float(fov_deg))
    cameras = [Camera(intr, p.float()) for p in poses]
    torch.manual_seed(seed)

    # 2. Backends: only those this run needs.
    with timer("backends"):
        need_completer = depth_in is None or len(cameras) > 1
        # Only a requested low_vram is passed on, so runs without it build exactly as before.
        options: dict[str, Any] = {"low_vram": True} if low_vram else {}
        completer = _build_backend("depth_completer", depth_model, dev, **options) if need_completer else None
        inpaint = _build_backend("inpainter", inpainter, dev, **options) if len(cameras) > 1 else None

    def progress(stage: str, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(stage, done, total)

    # 3. First view: depth, edge snapping, lift.
    progress("view", 0, len(cameras))
    with timer("depth"):
        if depth_in is None:
            assert completer is not None
            empty = np.zeros((H, W), dtype=bool)
            try:
                d0 = completer(rgb, np.zeros((H, W), np.float32), empty)
            except ValueError as exc:
                raise InputError(
                    f"depth model {getattr(completer, 'name', depth_model)!r} cannot predict depth from the photo "
                    f"alone ({exc}); pass --depth FILE or choose a learned depth model"
                ) from None
        else:
            d0 = depth_in
        d0 = np.where(np.isfinite(d0) & (d0 > 0), d0, 0).astype(np.float32)
    camera_estimate = None
    if auto_fov:
        # 3a. The camera from the first view's depth: its field of view, and for relative (affine-invariant)
        # depth models also the depth shift, which is removed before lifting (scale stays arbitrary).
        with timer("camera"):
            d0, intr, camera_estimate = _auto_camera(d0, completer, depth_in is not None, settings, W, H)
        cameras = [Camera(intr, c.cam_to_world) for c in cameras]
    cloud = _Cloud(dev)
    with timer("merge"):
        d0 = snap_depth_edges(d0, intr.fx, settings.edge_grazing_deg)
        cloud.add(*_lift(d0, rgb, d0 > 0, cameras[0], settings, dev))
    views, depths, masks = [rgb], [d0], [np.zeros((H, W), dtype=bool)]
    new_counts = [int((d0 > 0).sum())]
    progress("view", 1, len(cameras))

    # 4. Every further camera.
    on_device = settings.device_loop if settings.device_loop is not None else dev.type != "cpu"
    for i, cam in enumerate(cameras[1:], start=1):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"cancelled after {i} of {len(cameras)} views")
        assert completer is not None and inpaint is not None
        if on_device:
            view, full, inpaint_mask, new = _device_view(cloud, cam, intr, inpaint, completer, prompt, seed + i,
                                                         settings, timer)
            views.append(view)
            depths.append(full)
            masks.append(inpaint_mask)
            new_counts.append(new)
            progress("view", i + 1, len(cameras))
            continue
        with timer("render"):
            pts, cols, size = cloud.tensors()
            r = render_points_world_size(pts, cols, size, intr.matrix(dev), cam.world_to_cam().to(dev), H, W)
            rimg = r.image.cpu().numpy()
            rdep = r.depth.cpu().numpy()
            coverage = r.mask.cpu().numpy()
        with timer("masks"):
            cracks = thin_cracks(coverage, settings.crack_radius)
            if cracks.any():
                rimg = fill_from_nearest(rimg, coverage, cracks)
                rdep = fill_from_nearest(rdep, coverage, cracks)
            covered = coverage | cracks
            holes = ~covered
            known = erode(covered, settings.coverage_erode)
            inpaint_mask = dilate(~known, settings.inpaint_dilate) if holes.any() else np.zeros_like(holes)
        if not holes.any():
            views.append(rimg)
            depths.append(rdep)
            masks.append(inpaint_mask)
            new_counts.append(0)
            progress("view", i + 1, len(cameras))
            continue
        with timer("inpaint"):
            view = inpaint(rimg, inpaint_mask, prompt, seed=seed + i)
        with timer("complete"):
            # Condition on all reliable rendered depth (the eroded coverage), right up to the hole, so the
            # completion meets the existing surfaces at the seam; the image band around the hole is repainted.
            known_depth = known & (rdep > 0)
            completed = completer(view, np.where(known_depth, rdep, 0).astype(np.float32), known_depth)
            full = np.where(covered & (rdep > 0), rdep, completed).astype(np.float32)
            full = np.where(np.isfinite(full) & (full > 0), full, 0).astype(np.float32)
        with timer("merge"):
            full = snap_depth_edges(full, intr.fx, settings.edge_grazing_deg)
            new = holes & (full > 0)
            cloud.add(*_lift(full, view, new, cam, settings, dev))
        views.append(view)
        depths.append(full)
        masks.append(inpaint_mask)
        new_counts.append(int(new.sum()))
        progress("view", i + 1, len(cameras))
    # Views of the device loop come back to the host once, after the loop.
    depths = [d.cpu().numpy() if isinstance(d, torch.Tensor) else d for d in depths]
    masks = [m.cpu().numpy() if isinstance(m, torch.Tensor) else m for m in masks]
    views = [v.cpu().numpy() if isinstance(v, torch.Tensor) else v for v in views]
    new_counts = [int(n) for n in new_counts]

    # 5. Assemble.
    points, colors, normals = cloud.numpy()
    timings = {k: round(v, 4) for k, v in timer.seconds.items()}
    timings["total"] = round(time.perf_counter() - t_start, 4)
    meta = {
        "mode": mode_label,
        "prompt": prompt,
        "seed": int(seed),
        "fov_deg": intr.fov_x_deg,
        "camera": camera_estimate.to_dict() if camera_estimate is not None else {"method": "given" if fov_deg
                                                                                   is not None else "fixed"},
        "device": str(dev),
        "backends": {
            "inpainter": _backend_name(inpaint, inpainter),
            "depth_model": "input-depth" if completer is None else _backend_name(completer, depth_model),
        },
        "input_depth": depth_in is not None,
        "low_vram": bool(low_vram),
        "peak_memory_kind": timer.memory_kind,
        "new_points_per_view": new_counts,
        "azimuths_deg": [_yaw_deg(c.cam_to_world) for c in cameras],
        "versions": _versions(),
        "settings": settings.__dict__.copy(),
    }
    log.debug("scene: %d points from %d views in %.2f s", len(points), len(cameras), timings["total"])
    peak = {k: round(v, 1) for k, v in timer.peak_mib.items()}
    return Scene(points, colors, normals, cameras, views, depths, masks, timings, meta, peak)


def parse_fov(value: float | str | None) -> float | str | None:
    """``None``, a number of degrees in [1, 179] or ``"auto"``; anything else is an ``InputError``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"--fov must be a number of degrees or 'auto', got {value!r}") from None
    if not (1.0 <= float(value) <= 179.0):
        raise InputError(f"--fov must lie in [1, 179] degrees, got {value}")
    return float(value)


def _relative_depth(completer: Any) -> bool:
    """Whether the depth model's first-view output is only affine-invariant (relative models such as Depth
    Anything relative or DPT, wrapped by aligned-mono): their depth shift must be recovered too."""
    estimator = getattr(completer, "estimator", completer)
    return getattr(estimator, "kind", "metric") != "metric"


def _auto_camera(
    d0: np.ndarray, completer: Any, input_depth: bool, settings: GenerationSettings, W: int, H: int
) -> tuple[np.ndarray, Intrinsics, Any]:
    """``fov_deg="auto"``: estimate the camera from the first view's depth; returns the (shift-corrected) depth,
    the intrinsics and the estimate recorded in the sidecar (its ``method`` is ``fallback`` with a reason when
    the depth cannot tell, and the default FOV is used)."""
    from core.camera_recovery import estimate_camera

    relative = not input_depth and _relative_depth(completer)
    method = settings.camera_method
    if method == "auto":  # measured: the geometric refinement helps measured depth, hurts predicted depth (CAMERA.md)
        method = "module+refine" if input_depth else "module"
    est = estimate_camera(d0, method=method, estimate_shift=relative, expected_shape=(H, W),
                          model=settings.camera_model)
    if est.shift_applied and est.shift != 0:
        corrected = est.corrected_depth(d0)
        valid = corrected > 0
        # Keep the depth's overall size (relative depth has no metric scale anyway): same median as before.
        d0 = corrected * float(np.median(d0[valid]) / np.median(corrected[valid])) if valid.any() else d0
    log.info("camera: %s FOV %.2f deg (shift %.4g)%s", est.method, est.fov_x_deg, est.shift,
             f" -- fallback: {est.fallback_reason}" if est.fallback_reason else "")
    return d0.astype(np.float32), Intrinsics.from_fov(W, H, est.fov_x_deg), est


def _backend_name(backend: Any, spec: Any) -> str:
    if backend is None:
        return "none"
    return str(getattr(backend, "name", spec if isinstance(spec, str) else type(backend).__name__))


def _yaw_deg(cam_to_world: torch.Tensor) -> float:
    """Heading of the optical axis in degrees (0 = input camera, positive = right)."""
    z = cam_to_world[:3, 2]
    return round(math.degrees(math.atan2(float(z[0]), float(z[2]))), 4)


def _versions() -> dict[str, str]:
    import PIL
    import scipy

    return {"gld8tr": __version__, "torch": torch.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
            "scipy": scipy.__version__}


_SIDECAR_EXTRA = ("fov_deg", "camera", "azimuths_deg", "new_points_per_view", "input_depth", "low_vram")


def save_scene(scene: Scene, output_path: str | Path, *, views_dir: str | Path | None = None) -> dict:
    """Write the PLY (and ``<name>.json`` beside it) atomically, plus views when ``views_dir``; returns the sidecar.

    Views are ``view_XX.png`` (RGB), ``mask_XX.png`` (inpainted pixels, white) and ``depth_XX.png`` (16-bit mm).
    """
    from core.io.atomic import atomic_path
    from core.io.ply import write_ply
    from core.io.sidecar import CameraRecord, SceneSidecar, sidecar_path, write_sidecar

    output_path = Path(output_path)
    sidecar_file = sidecar_path(output_path)
    view_files: list[str] = []
    if views_dir is not None:
        view_files = _save_views(scene, Path(views_dir), sidecar_file.parent)
    H, W = scene.views[0].shape[:2]
    sidecar = SceneSidecar(
        ply=output_path.name,
        num_points=scene.num_points,
        has_normals=scene.normals is not None,
        mode=str(scene.meta.get("mode", "")),
        prompt=str(scene.meta.get("prompt", "")),
        seed=int(scene.meta.get("seed", 0)),
        image_size=(W, H),
        cameras=[CameraRecord(**c.to_dict()) for c in scene.cameras],  # type: ignore[arg-type]
        backends={k: str(v) for k, v in scene.meta.get("backends", {}).items()},
        device=str(scene.meta.get("device", "")),
        timings=scene.timings,
        peak_memory_mb=scene.peak_memory_mb,
        peak_memory_kind=str(scene.meta.get("peak_memory_kind", "")),
        versions=scene.meta.get("versions", _versions()),
        views=view_files,
        extra={k: v for k, v in scene.meta.items() if k in _SIDECAR_EXTRA},
    )
    # Both files appear together or not at all: written to temporaries, renamed JSON first, PLY last.
    with atomic_path(output_path) as tmp_ply, atomic_path(sidecar_file) as tmp_json:
        write_ply(tmp_ply, scene.points, scene.colors, scene.normals, comments=[f"gld8tr {__version__}"])
        write_sidecar(tmp_json, sidecar)
    return sidecar.model_dump(mode="json")


def _save_views(scene: Scene, vdir: Path, base: Path) -> list[str]:
    """Write every view's image, inpaint mask and depth; returns the image paths relative to ``base``."""
    from PIL import Image

    from core.io.atomic import atomic_path
    from core.io.depth import write_depth_png

    vdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (img, mask, dep) in enumerate(zip(scene.views, scene.masks, scene.depths, strict=True)):
        with atomic_path(vdir / f"view_{i:02d}.png") as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
        with atomic_path(vdir / f"mask_{i:02d}.png") as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
        with atomic_path(vdir / f"depth_{i:02d}.png") as tmp:
            write_depth_png(tmp, dep)
        files.append(_relative(vdir / f"view_{i:02d}.png", base))
    return files


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())
