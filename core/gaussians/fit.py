"""Fit Gaussians to a generated scene: the input photo and every inpainted view, each with its camera.

Steps (``fit_gaussians``):
1. Pick the renderer (gsplat on CUDA when installed, the plain-torch reference otherwise) and the working
   resolution (full size on CUDA; at most ``DEFAULT_CPU_MAX_SIDE`` pixels on CPU so a fit takes minutes).
2. Initialise one Gaussian per point (``core.gaussians.init``), capped near one Gaussian per target pixel.
3. Optimise 0.8 L1 + 0.2 (1 - SSIM) with Adam over the views in shuffled epochs, with 3DGS learning rates
   (means scaled by the scene extent and decayed exponentially), SH degree raised over time, and adaptive
   density control (``core.gaussians.densify``).
4. Report PSNR per view before and after, and the time taken.

The scene is duck-typed: anything with ``points``, ``colors``, ``normals``, ``cameras`` and ``views`` as in
``core.pipeline.Scene`` (see docs/CONTRACTS.md) works, so this module does not depend on the pipeline.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch

from core.camera import Camera
from core.gaussians.densify import DensifyConfig, DensifyState, densify_and_prune
from core.gaussians.init import gaussians_from_points
from core.gaussians.model import Gaussians
from core.gaussians.rasterize import GaussianRender, psnr, rasterize_reference

log = logging.getLogger(__name__)

Renderer = Literal["auto", "reference", "gsplat"]
DEFAULT_CPU_MAX_SIDE = 160
DEFAULT_ITERS_CPU = 300
DEFAULT_ITERS_CUDA = 1000


class SceneLike(Protocol):
    points: np.ndarray
    colors: np.ndarray
    normals: np.ndarray | None
    cameras: list[Camera]
    views: list[np.ndarray]


@dataclass
class FitConfig:
    """Hyper-parameters of one fit; the defaults are 3DGS's, adapted to short runs."""

    iters: int | None = None  # None: DEFAULT_ITERS_CUDA on CUDA, DEFAULT_ITERS_CPU on CPU
    max_side: int | None = -1  # working resolution (longest side); -1: full on CUDA, DEFAULT_CPU_MAX_SIDE on CPU
    sh_degree: int = 3
    sh_interval: int = 250  # raise the active SH degree by one every this many iterations
    lambda_ssim: float = 0.2
    lr_means: float = 1.6e-4  # times the scene extent; decays to 1/100 by the end
    lr_sh_dc: float = 2.5e-3
    lr_sh_rest: float = 2.5e-3 / 20
    lr_opacity: float = 0.05
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_init_per_pixel: float = 1.5  # init cap: this many Gaussians per working-resolution target pixel
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    seed: int = 0


@dataclass
class FitResult:
    gaussians: Gaussians  # detached, on the CPU
    psnr_input: float  # dB, input camera vs the input photo, at the working resolution
    psnr_views: list[float]  # dB per view (views[0] = the input photo)
    psnr_input_init: float
    psnr_views_init: list[float]
    iterations: int
    seconds: float  # optimisation wall time (excludes init and evaluation)
    renderer: str
    resolution: tuple[int, int]  # working (width, height) of view 0
    num_init: int

    def summary(self) -> dict[str, Any]:
        """JSON-friendly metrics (for the scene sidecar and the job result)."""
        return {
            "num_gaussians": len(self.gaussians),
            "num_init": self.num_init,
            "iterations": self.iterations,
            "seconds": round(self.seconds, 3),
            "renderer": self.renderer,
            "resolution": list(self.resolution),
            "psnr_input_db": round(self.psnr_input, 3),
            "psnr_views_db": [round(p, 3) for p in self.psnr_views],
            "psnr_input_init_db": round(self.psnr_input_init, 3),
            "psnr_views_init_db": [round(p, 3) for p in self.psnr_views_init],
        }


RenderFn = Callable[..., GaussianRender]


def pick_renderer(renderer: Renderer, device: torch.device) -> tuple[str, RenderFn]:
    """``(name, render function)``; ``auto`` means gsplat on CUDA when it imports, else the reference."""
    from core.gaussians.gsplat_backend import gsplat_available, rasterize_gsplat

    if renderer == "gsplat" or (renderer == "auto" and device.type == "cuda" and gsplat_available()):
        if device.type != "cuda" or not gsplat_available():
            raise RuntimeError("the gsplat renderer needs CUDA and the gsplat package (pip install '.[cuda]')")
        return "gsplat", rasterize_gsplat
    return "reference", rasterize_reference


def _resize_targets(
    cameras: Sequence[Camera], views: Sequence[np.ndarray], max_side: int | None, device: torch.device
) -> tuple[list[Camera], list[torch.Tensor]]:
    """Cameras and float targets [H, W, 3] at the working resolution (area-averaged downsampling)."""
    from PIL import Image

    cams, targets = [], []
    for cam, view in zip(cameras, views, strict=True):
        intr = cam.intrinsics
        if view.shape[:2] != (intr.height, intr.width):
            raise ValueError(f"view of shape {view.shape[:2]} does not match its camera {intr.height}x{intr.width}")
        factor = 1.0 if max_side is None else min(1.0, max_side / max(intr.width, intr.height))
        if factor < 1.0:
            intr = intr.scaled(factor)
            view = np.asarray(Image.fromarray(view).resize((intr.width, intr.height), Image.Resampling.BOX))
        cams.append(Camera(intr, cam.cam_to_world))
        targets.append(torch.from_numpy(np.array(view, dtype=np.uint8)).to(device=device, dtype=torch.float32) / 255.0)
    return cams, targets


def scene_extent(points: torch.Tensor, cameras: Sequence[Camera]) -> float:
    """A length scale for learning rates and densification: median distance of the points from the cameras.

    3DGS uses the spread of the camera centres, which is ~0 for our nearly-rotational trajectories.
    """
    centre = torch.stack([c.cam_to_world[:3, 3] for c in cameras]).mean(0).to(points)
    return float((points - centre).norm(dim=-1).median().clamp_min(1e-3))


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - SSIM (11x11 Gaussian window, sigma 1.5) of [H, W, 3] images in [0, 1]."""
    from kornia.metrics import ssim

    a = pred.permute(2, 0, 1)[None]
    b = target.permute(2, 0, 1)[None]
    return 1.0 - ssim(a, b, 11).mean()


@torch.no_grad()
def evaluate(
    g: Gaussians, cameras: Sequence[Camera], targets: Sequence[torch.Tensor], render: RenderFn = rasterize_reference,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[float]:
    """PSNR (dB) of ``g`` rendered from each camera against its target."""
    pairs = zip(cameras, targets, strict=True)
    return [psnr(render(g, c, background=background).image.clamp(0, 1), t) for c, t in pairs]


def _make_params(g: Gaussians) -> dict[str, torch.nn.Parameter]:
    return {
        "means": torch.nn.Parameter(g.means.clone()),
        "quats": torch.nn.Parameter(g.quats.clone()),
        "log_scales": torch.nn.Parameter(g.log_scales.clone()),
        "opacity_logits": torch.nn.Parameter(g.opacity_logits.clone()),
        "sh_dc": torch.nn.Parameter(g.sh[:, :1].clone()),
        "sh_rest": torch.nn.Parameter(g.sh[:, 1:].clone()),
    }


def _gaussians(params: dict[str, torch.nn.Parameter], active_degree: int | None = None) -> Gaussians:
    sh = torch.cat([params["sh_dc"], params["sh_rest"]], dim=1)
    if active_degree is not None:
        sh = sh[:, : (active_degree + 1) ** 2]
    return Gaussians(params["means"], params["quats"], params["log_scales"], params["opacity_logits"], sh)


def fit_gaussians(
    scene: SceneLike,
    config: FitConfig | None = None,
    *,
    device: str = "auto",
    renderer: Renderer = "auto",
    progress: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    init: Gaussians | None = None,
) -> FitResult:
    """Fit Gaussians to ``scene.views`` seen from ``scene.cameras``; see the module docstring for the steps.

    ``init`` replaces the point-cloud initialisation (tests use it). ``on_progress("gaussians", done, total)`` is
    called every 50 iterations.
    """
    cfg = config or FitConfig()
    # 1. Device, renderer, working resolution.
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    renderer_name, render = pick_renderer(renderer, dev)
    iters = cfg.iters if cfg.iters is not None else (DEFAULT_ITERS_CUDA if dev.type == "cuda" else DEFAULT_ITERS_CPU)
    max_side = cfg.max_side if cfg.max_side != -1 else (None if dev.type == "cuda" else DEFAULT_CPU_MAX_SIDE)
    if not scene.views or len(scene.views) != len(scene.cameras):
        raise ValueError(f"scene needs one camera per view, got {len(scene.cameras)} cameras, {len(scene.views)} views")
    cams, targets = _resize_targets(scene.cameras, scene.views, max_side, dev)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)

    # 2. Initialisation.
    if init is None:
        cap = int(cfg.max_init_per_pixel * sum(t.shape[0] * t.shape[1] for t in targets))
        downsampled = any(c.intrinsics.width < s.intrinsics.width for c, s in zip(cams, scene.cameras, strict=True))
        init = gaussians_from_points(  # merged to working pixels when the targets are smaller than the photos
            scene.points, scene.colors, cams if downsampled else scene.cameras, normals=scene.normals,
            sh_degree=cfg.sh_degree, max_gaussians=cap, merge_cells=downsampled, seed=cfg.seed,
        )
    init = init.with_sh_degree(cfg.sh_degree).to(dev)
    bg = cfg.background
    psnr_init = evaluate(init, cams, targets, render, bg)
    extent = scene_extent(init.means, cams)
    log.info(
        "fitting %d Gaussians to %d views at %dx%d, %d iterations, renderer %s on %s (init PSNR input %.2f dB)",
        len(init), len(cams), targets[0].shape[1], targets[0].shape[0], iters, renderer_name, dev, psnr_init[0],
    )

    # 3. Optimisation.
    params = _make_params(init)
    lrs = {
        "means": cfg.lr_means * extent, "quats": cfg.lr_quats, "log_scales": cfg.lr_scales,
        "opacity_logits": cfg.lr_opacity, "sh_dc": cfg.lr_sh_dc, "sh_rest": cfg.lr_sh_rest,
    }
    optimizer = torch.optim.Adam(
        [{"params": [p], "lr": lrs[k], "name": k} for k, p in params.items()], lr=0.0, eps=1e-15
    )
    dens_cfg = DensifyConfig(**{**asdict(cfg.densify), "max_gaussians": min(cfg.densify.max_gaussians, 2 * len(init))})
    dens = DensifyState(len(init), dev)
    order: list[int] = []
    import kornia.metrics  # noqa: F401 - imported here, before the clock starts, not inside the first iteration
    from tqdm import tqdm

    t0 = time.perf_counter()
    for it in tqdm(range(1, iters + 1), desc="gaussians", disable=not progress, unit="it"):
        if not order:
            order = list(range(len(cams)))
            rng.shuffle(order)
        i = order.pop()
        for group in optimizer.param_groups:
            if group["name"] == "means":  # exponential decay to 1% of the initial rate
                group["lr"] = lrs["means"] * 0.01 ** ((it - 1) / max(iters - 1, 1))
        degree = min(cfg.sh_degree, (it - 1) // cfg.sh_interval)
        out = render(_gaussians(params, degree), cams[i], background=bg)
        target = targets[i]
        l1 = (out.image - target).abs().mean()
        loss = (1 - cfg.lambda_ssim) * l1 + cfg.lambda_ssim * ssim_loss(out.image, target)
        loss.backward()
        grads = out.screen_grads()
        if grads is not None and len(out.visible):
            dens.accumulate(out.visible, grads, target.shape[1], target.shape[0])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if dens_cfg.due(it, iters):
            dens = densify_and_prune(optimizer, params, dens, dens_cfg, extent)
        if on_progress is not None and (it % 50 == 0 or it == iters):
            on_progress("gaussians", it, iters)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0

    # 4. Evaluation.
    final = _gaussians(params).detach()
    psnr_final = evaluate(final, cams, targets, render, bg)
    log.info(
        "fitted %d Gaussians in %.1f s (%.1f ms/iter): PSNR input %.2f dB (init %.2f), views %s",
        len(final), seconds, 1e3 * seconds / max(iters, 1), psnr_final[0], psnr_init[0],
        ", ".join(f"{p:.2f}" for p in psnr_final),
    )
    return FitResult(
        gaussians=final.to("cpu"),
        psnr_input=psnr_final[0],
        psnr_views=psnr_final,
        psnr_input_init=psnr_init[0],
        psnr_views_init=psnr_init,
        iterations=iters,
        seconds=seconds,
        renderer=renderer_name,
        resolution=(targets[0].shape[1], targets[0].shape[0]),
        num_init=len(init),
    )
