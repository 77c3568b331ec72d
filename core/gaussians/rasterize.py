"""Reference Gaussian rasteriser in plain torch: project, depth-sort, alpha-composite. CPU and CUDA, same code.

This is the EWA splatting model of 3DGS (and gsplat's ``rasterization`` in "classic" mode) written without
tiles, so that tests and CPU-only machines can render and fit Gaussians, and so that the fast CUDA path has an
obviously-correct twin to be compared with (``tests/gaussians/test_gsplat_agreement.py``).

Why this design: every Gaussian touches the pixels of its screen-space bounding box. All (Gaussian, pixel)
pairs are generated at once, pairs too faint to matter (alpha < 1/255, as in 3DGS) are dropped without
autograd, and the survivors are sorted by the key (pixel, depth rank) in one int32 radix sort; Gaussians were
depth-sorted first, so each pixel's run of pairs is front-to-back. Transmittance is then a segmented exclusive
cumulative sum of ``log(1 - alpha)`` (in float64, since the running sum spans every pixel), and colours are
segment sums over each pixel's run. Projection is plain autograd except the SH colours; compositing and the SH
colours have hand-written backwards (``_CompositePairs``, ``core.gaussians.sh``) because autograd's pair-sized
intermediates and batched outer products were several times slower; everything is checked against finite
differences in ``tests/gaussians/test_rasterize.py``. On the CPU the pair-sized work is channel-major (one 1-D
vector per parameter: 1-D gathers and index_adds are ~2x faster than row-wise ones) and the 3x3 covariance
algebra runs on [M] vectors, not [M, 3, 3] tensors (``python -m benchmark.gaussian_speed``, docs/SPEED.md).

Conventions: pixel centres at integer coordinates (the project's convention; gsplat puts them at +0.5, see
``core.gaussians.gsplat_backend``), OpenCV camera axes, ``world_to_cam`` = inverse of ``Camera.cam_to_world``.
Bounding boxes are opacity-aware: a Gaussian of peak opacity o reaches alpha 1/255 at Mahalanobis radius
``sqrt(2 ln(255 o))``, so the box at that radius holds every pair that can pass the threshold.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from core.camera import Camera
from core.gaussians.model import Gaussians, quat_to_rotmat_entries
from core.gaussians.sh import eval_sh_colors_of

log = logging.getLogger(__name__)

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
EPS2D = 0.3
"""Screen-space dilation (pixels^2) added to every 2D covariance, the anti-aliasing low-pass filter of 3DGS."""
NEAR = 0.01
MAX_PAIRS = 60_000_000
"""Guard against a pathological scene (Gaussians right at the camera) exhausting memory."""


@dataclass
class GaussianRender:
    """What one camera sees of a set of Gaussians."""

    image: torch.Tensor  # [H, W, 3] float, background blended in
    alpha: torch.Tensor  # [H, W] accumulated opacity in [0, 1]
    depth: torch.Tensor  # [H, W] expected camera z (accumulated z * weight / alpha), 0 where alpha == 0
    means2d: torch.Tensor  # [M, 2] pixel coordinates of the rendered Gaussians (differentiable, grads retained)
    visible: torch.Tensor  # [M] int64 indices into the Gaussians of ``means2d`` rows
    radii: torch.Tensor  # [M, 2] int64 half-extents of the screen boxes (pixels)
    num_pairs: int  # (Gaussian, pixel) pairs composited: the cost measure (-1 when the renderer does not say)

    def screen_grads(self) -> torch.Tensor | None:
        """Gradient [M, 2] of the loss w.r.t. the screen means of the ``visible`` Gaussians (after backward)."""
        grad = self.means2d.grad
        if grad is None:
            return None
        return grad[0][self.visible] if grad.ndim == 3 else grad  # gsplat keeps a camera axis and all N rows


def camera_tensors(
    camera: Camera, device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """``(K [3, 3], world_to_cam [4, 4], width, height)`` of a project camera on ``device``."""
    intr = camera.intrinsics
    K = intr.matrix(device=device, dtype=dtype)
    w2c = camera.world_to_cam().to(device=device, dtype=dtype)
    return K, w2c, intr.width, intr.height


def project_gaussians(
    g: Gaussians, K: torch.Tensor, world_to_cam: torch.Tensor, width: int, height: int, *,
    near: float = NEAR, eps2d: float = EPS2D,
) -> dict[str, torch.Tensor]:
    """Screen-space footprint of every Gaussian in front of the camera.

    Returns (rows = visible Gaussians, depth-sorted front to back): ``ids`` [M], ``means2d`` [M, 2] (leaf with
    retained grad), ``conics`` [M, 3] (inverse 2D covariance a, b, c), ``z`` [M], ``opacities`` [M],
    ``colors`` [M, 3] and ``radii`` [M, 2].
    """
    R, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    cam = g.means @ R.T + t
    z_all = cam[:, 2]
    opac_all = g.opacities
    ids = torch.nonzero((z_all > near) & (opac_all > ALPHA_MIN)).squeeze(1)
    every = len(ids) == len(z_all)  # the usual case: no gathers (and no scatters in the backward)
    cam, z = (cam, z_all) if every else (cam[ids], z_all[ids])
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]

    # Jacobian of the perspective map at the mean; x/z and y/z are clamped a little beyond the frustum (as gsplat
    # does) so that Gaussians far off-screen do not get absurd footprints.
    lim_x_pos, lim_x_neg = (width - cx) / fx + 0.3 * width / fx, cx / fx + 0.3 * width / fx
    lim_y_pos, lim_y_neg = (height - cy) / fy + 0.3 * height / fy, cy / fy + 0.3 * height / fy
    tx = torch.minimum(torch.maximum(cam[:, 0] / z, -lim_x_neg), lim_x_pos) * z
    ty = torch.minimum(torch.maximum(cam[:, 1] / z, -lim_y_neg), lim_y_pos) * z
    # cov2d = J R Sigma R^T J^T with Sigma = M M^T, M = rot(q) diag(s). T = J R is written out (J has two zeros,
    # so each row of T blends two rows of R) and cov2d = (T M)(T M)^T, all elementwise on [M] vectors: tiny
    # batched matmuls, and even [M, 3, 3] broadcasts, are the slowest way to do 3x3 algebra on a CPU.
    ax, bx = fx / z, fx * tx / (z * z)
    ay, by = fy / z, fy * ty / (z * z)
    T0 = [ax * R[0, i] - bx * R[2, i] for i in range(3)]  # row 0 of T, three [M] vectors
    T1 = [ay * R[1, i] - by * R[2, i] for i in range(3)]
    rot = quat_to_rotmat_entries(g.quats if every else g.quats[ids])
    scale = (g.log_scales if every else g.log_scales[ids]).exp().unbind(-1)
    # Row r of T M, column j: s_j (T_r0 R_0j + T_r1 R_1j + T_r2 R_2j).
    A0 = [scale[j] * (T0[0] * rot[j] + T0[1] * rot[3 + j] + T0[2] * rot[6 + j]) for j in range(3)]
    A1 = [scale[j] * (T1[0] * rot[j] + T1[1] * rot[3 + j] + T1[2] * rot[6 + j]) for j in range(3)]
    a = A0[0] * A0[0] + A0[1] * A0[1] + A0[2] * A0[2] + eps2d
    b = A0[0] * A1[0] + A0[1] * A1[1] + A0[2] * A1[2]
    c = A1[0] * A1[0] + A1[1] * A1[1] + A1[2] * A1[2] + eps2d
    det = (a * c - b * b).clamp_min(1e-12)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)

    u = fx * cam[:, 0] / z + cx
    v = fy * cam[:, 1] / z + cy
    means2d = torch.stack([u, v], dim=-1)
    opac = opac_all if every else opac_all[ids]

    with torch.no_grad():
        reach = torch.sqrt(2.0 * torch.log(opac * 255.0).clamp_min(0.0))
        rx = torch.ceil(reach * a.sqrt()).clamp(max=max(width, height)).long()
        ry = torch.ceil(reach * c.sqrt()).clamp(max=max(width, height)).long()
        on_screen = (
            (u + rx >= 0) & (u - rx <= width - 1) & (v + ry >= 0) & (v - ry <= height - 1) & (rx > 0) & (ry > 0)
        )
        keep = torch.nonzero(on_screen).squeeze(1)
        order = keep[torch.argsort(z[keep], stable=True)]

    # 1-D index_select gathers: advanced indexing (and its backward) is several times slower on the CPU.
    means2d = means2d.index_select(0, order)
    if means2d.requires_grad:
        means2d.retain_grad()
    rows = ids.index_select(0, order)
    dirs = g.means.index_select(0, rows) - (-R.T @ t)
    colors = eval_sh_colors_of(g.sh, rows, dirs)
    return {
        "ids": rows,
        "means2d": means2d,
        "conics": conics.index_select(0, order),
        "z": z.index_select(0, order),
        "opacities": opac.index_select(0, order),
        "colors": colors,
        "radii": torch.stack([rx, ry], dim=-1).index_select(0, order),
    }


def _candidate_pairs(
    params: torch.Tensor, radii: torch.Tensor, width: int, height: int, *, sort_rows: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (Gaussian row [P], pixel index [P] int32) that pass the alpha threshold, in Gaussian (depth) order.

    ``params`` [M, 6] = (u, v, conic a, b, c, opacity), detached. Gaussians are bucketed by box half-size so each
    bucket is one broadcast ``[rows, (2r+1)^2]`` evaluation instead of a ragged loop; a pair's order key is
    (row, offset), so concatenating buckets and sorting by row restores depth order.
    """
    device = params.device
    half = radii.max(dim=1).values
    rows_out, pix_out = [], []
    for r in torch.unique(half).tolist():
        rows = torch.nonzero(half == r).squeeze(1)
        p = params[rows]
        offs = torch.arange(-r, r + 1, device=device, dtype=params.dtype)
        cu, cv = torch.round(p[:, 0]), torch.round(p[:, 1])
        px = (cu[:, None] + offs[None, :])[:, None, :]  # [m, 1, S]
        py = (cv[:, None] + offs[None, :])[:, :, None]  # [m, S, 1]
        dx = px - p[:, 0, None, None]
        dy = py - p[:, 1, None, None]
        # The quadratic form split into its row, column and cross terms, so only two passes run over [m, S, S].
        # A window column or row outside the image gets the term -inf: no separate bounds mask over [m, S, S].
        row_term = torch.where((px >= 0) & (px <= width - 1), -0.5 * p[:, 2, None, None] * dx * dx, -math.inf)
        col_term = torch.where((py >= 0) & (py <= height - 1), -0.5 * p[:, 4, None, None] * dy * dy, -math.inf)
        power = (row_term + col_term) - (p[:, 3, None, None] * dx) * dy
        ok = (power <= 0) & (p[:, 5, None, None] * torch.exp(power) >= ALPHA_MIN)
        # Flat indices into the [m, S, S] window (row-major, as the 3-D nonzero would list them), then 1-D gathers:
        # advanced indexing with three index tensors is several times slower on the CPU.
        flat = torch.nonzero(ok.view(-1)).squeeze(1)
        grid = (py * width).to(torch.int32) + px.to(torch.int32)  # pixel index, [m, S, S] (int32 adds: cheap)
        pix = grid.view(-1).index_select(0, flat)
        rows_out.append(rows.index_select(0, torch.div(flat, ok.shape[1] * ok.shape[2], rounding_mode="floor")))
        pix_out.append(pix)
    if not rows_out:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.int()
    rows, pix = torch.cat(rows_out), torch.cat(pix_out)
    if len(rows_out) > 1 and sort_rows:
        order = torch.sort(rows, stable=True).indices
        rows, pix = rows[order], pix[order]
    if len(rows) > MAX_PAIRS:
        raise MemoryError(f"{len(rows)} Gaussian-pixel pairs exceed the reference rasteriser's limit {MAX_PAIRS}")
    return rows, pix


def _pixel_major(
    rows: torch.Tensor, pix: torch.Tensor, n_rows: int, n_pix: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs reordered by pixel, front to back (row = depth rank) inside each pixel, whatever their order: one sort
    of the unique key ``pixel << bits | row``, in int32 when it fits (a radix sort, ~2x faster than int64), decoded
    by a shift and a mask (integer division, or gathering the pairs by the sort's permutation, is slower)."""
    bits = max(int(n_rows - 1).bit_length(), 1)
    dtype = torch.int32 if (n_pix << bits) < 2**31 else torch.int64
    key = torch.bitwise_left_shift(pix.to(dtype), bits).bitwise_or_(rows.to(dtype))
    key = torch.sort(key, stable=True).values
    return key.bitwise_and(2**bits - 1).long(), key.bitwise_right_shift_(bits)


def _pair_terms(
    params: torch.Tensor, rows: torch.Tensor, pxy: torch.Tensor, seg_start: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Per pair: ``(dx, dy, conic a, b, c, opacity, e^power, raw alpha, alpha, transmittance)``; the compositing
    weight of a pair is ``alpha * transmittance``.

    Channel-major: one 1-D gather per parameter from the small [6, M] transpose (a row gather of [K, 6] is several
    times slower), and every pair-sized tensor is a contiguous [K] vector.
    """
    u, v, ca, cb, cc, op = (col.index_select(0, rows) for col in params.T.contiguous())
    dx = pxy[0] - u
    dy = pxy[1] - v
    power = -0.5 * (ca * dx**2 + cc * dy**2) - cb * dx * dy
    e = torch.exp(power)
    raw = op * e
    alpha = raw.clamp_max(ALPHA_MAX)
    log_t = torch.log1p(-alpha).double()
    excl = torch.cumsum(log_t, 0) - log_t  # float64: the running sum spans every pixel of the image
    trans = torch.exp(excl - excl.index_select(0, seg_start)).to(params.dtype)
    return dx, dy, ca, cb, cc, op, e, raw, alpha, trans


class _CompositePairs(torch.autograd.Function):
    """Alpha compositing of depth-ordered (Gaussian, pixel) pairs with a hand-written backward.

    Forward: per pair k of pixel p, ``alpha_k = min(o e^P_k, ALPHA_MAX)``, ``T_k = prod_{j<k} (1 - alpha_j)``,
    ``w_k = alpha_k T_k``; ``out[p] = sum_k w_k (rgb, z, 1)``. Backward uses
    ``dL/dalpha_k = g_k T_k - (sum_{m>k} g_m w_m) / (1 - alpha_k)`` with ``g_k = dL/dw_k``, a reverse segmented
    sum, instead of letting autograd record a dozen pair-sized intermediate tensors: the same gradients
    (checked against finite differences in the tests) at a fraction of the memory traffic.
    """

    @staticmethod
    def forward(ctx, params, feats, rows, pix, pxy, seg_start, seg_end, n_pix, seg_pix, seg_len):  # noqa: ANN001, ANN205
        dx, dy, ca, cb, cc, op, e, raw, alpha, trans = _pair_terms(params, rows, pxy, seg_start)
        weight = alpha * trans
        f = [col.index_select(0, rows) for col in feats.T.contiguous()]
        vals = torch.empty(len(f) + 1, len(rows), device=params.device, dtype=params.dtype)
        for j, col in enumerate(f):
            torch.mul(col, weight, out=vals[j])
        vals[len(f)] = weight
        # Pairs are pixel-major, so each pixel's sum is a segment sum: ~2x faster than an index_add.
        out = torch.zeros(len(f) + 1, n_pix, device=params.device, dtype=params.dtype)
        if len(rows):
            sums = torch.segment_reduce(vals, "sum", lengths=seg_len.expand(len(vals), -1), axis=1)
            out.index_copy_(1, seg_pix, sums)
        ctx.save_for_backward(rows, pix, seg_end, e, alpha, trans, dx, dy, ca, cb, cc, op, *f)
        ctx.clamped = raw >= ALPHA_MAX
        ctx.shapes = params.shape, feats.shape
        return out.T.contiguous()

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        rows, pix, seg_end, e, alpha, trans, dx, dy, ca, cb, cc, op, *f = ctx.saved_tensors
        (n_rows, n_params), (_, n_feats) = ctx.shapes
        weight = alpha * trans
        g = [col.index_select(0, pix) for col in grad_out.T.contiguous()]  # 5 x [K]
        # Channel-major accumulation: one 1-D index_add per column (a 2-D one is ~2x slower).
        grad_t = weight.new_zeros(n_params + n_feats, n_rows)
        g_w = g[n_feats].clone()  # dL/dw = sum_j g_j f_j + g_alpha-channel
        for j in range(n_feats):
            grad_t[n_params + j].index_add_(0, rows, g[j] * weight)
            g_w.addcmul_(g[j], f[j])
        q = torch.cumsum((g_w * weight).double(), 0)
        behind = (q.index_select(0, seg_end) - q).to(weight.dtype)  # sum over later pairs of the same pixel
        g_alpha = g_w * trans - behind / (1 - alpha)
        g_alpha = torch.where(ctx.clamped, torch.zeros_like(g_alpha), g_alpha)
        g_power = g_alpha * op * e
        per_pair = (
            g_power * (ca * dx + cb * dy),
            g_power * (cc * dy + cb * dx),
            g_power * (-0.5 * dx * dx),
            g_power * (-dx * dy),
            g_power * (-0.5 * dy * dy),
            g_alpha * e,
        )
        for j, col in enumerate(per_pair):
            grad_t[j].index_add_(0, rows, col)
        return grad_t[:n_params].T, grad_t[n_params:].T, None, None, None, None, None, None, None, None


@torch.no_grad()
def _pair_layout(params: torch.Tensor, radii: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, ...]:
    """The (Gaussian, pixel) pairs of an image, pixel-major and front to back inside each pixel:
    ``(rows, pix, pxy [2, K], seg_start, seg_end, seg_len, seg_pix)``, where a pixel's run of pairs is a segment
    (per pair: its run's first and last pair; per run: its length and pixel)."""
    rows, pix = _candidate_pairs(params.detach(), radii, width, height, sort_rows=False)
    rows, pix = _pixel_major(rows, pix, max(len(params), 1), width * height)
    first = torch.ones_like(pix, dtype=torch.bool)
    first[1:] = pix[1:] != pix[:-1]
    starts = torch.nonzero(first).squeeze(1)
    seg_len = torch.diff(starts, append=starts.new_tensor([len(pix)]))
    seg_pix = pix.index_select(0, starts).long()
    seg_start = starts.repeat_interleave(seg_len)
    seg_end = (starts + seg_len - 1).repeat_interleave(seg_len)
    pf = pix.double()  # x, y of the pixel (float64 division: exact, and faster than integer division)
    py = (pf / width).floor_()
    pxy = torch.stack([pf - py * width, py]).to(params.dtype)  # [2, K]
    return rows, pix, pxy, seg_start, seg_end, seg_len, seg_pix


def composite(
    proj: dict[str, torch.Tensor], width: int, height: int, background: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Front-to-back alpha compositing of projected Gaussians: ``(image [H,W,3], alpha [H,W], depth [H,W], pairs)``."""
    means2d = proj["means2d"]
    device, dtype = means2d.device, means2d.dtype
    params = torch.cat([means2d, proj["conics"], proj["opacities"][:, None]], dim=1)  # [M, 6]
    feats = torch.cat([proj["colors"], proj["z"][:, None]], dim=1)  # [M, 4]
    rows, pix, pxy, seg_start, seg_end, seg_len, seg_pix = _pair_layout(params, proj["radii"], width, height)
    n_pix = width * height
    acc = _CompositePairs.apply(params, feats, rows, pix, pxy, seg_start, seg_end, n_pix, seg_pix, seg_len)
    rgb, zsum, alpha_img = acc[:, :3], acc[:, 3], acc[:, 4]
    if background is not None:
        rgb = rgb + (1 - alpha_img)[:, None] * background.to(device=device, dtype=dtype)
    depth = torch.where(alpha_img > 1e-6, zsum / alpha_img.clamp_min(1e-6), torch.zeros_like(zsum))
    return rgb.reshape(height, width, 3), alpha_img.reshape(height, width), depth.reshape(height, width), len(pix)


def rasterize_reference(
    g: Gaussians,
    camera: Camera,
    *,
    background: torch.Tensor | tuple[float, float, float] | None = None,
    near: float = NEAR,
    eps2d: float = EPS2D,
) -> GaussianRender:
    """Render ``g`` from ``camera`` at the camera's own resolution (use ``Intrinsics.scaled`` to change it).

    ``background`` is an RGB triple in [0, 1] blended where the Gaussians leave transmittance (black if None).
    """
    device = g.means.device
    K, w2c, width, height = camera_tensors(camera, device, g.means.dtype)
    proj = project_gaussians(g, K, w2c, width, height, near=near, eps2d=eps2d)
    bg = None if background is None else torch.as_tensor(background, dtype=g.means.dtype, device=device)
    image, alpha, depth, n = composite(proj, width, height, bg)
    return GaussianRender(image, alpha, depth, proj["means2d"], proj["ids"], proj["radii"], n)


@dataclass
class PairWeights:
    """The linear map from Gaussian colours to an image: ``image[pix[k]] += weight[k] * color of ids[k]``.

    Given the geometry and opacities, a rendered image is linear in the Gaussians' colours; these are its nonzero
    entries (the pairs the rasteriser composites), for solving colours in closed form (``core.splatter.color_solve``).
    """

    ids: torch.Tensor  # [K] int64 index into the Gaussians
    pix: torch.Tensor  # [K] int64 flat pixel index (row-major, width of the camera)
    weight: torch.Tensor  # [K] alpha * transmittance
    colors: torch.Tensor  # [K, 3] the pair's Gaussian's colour as seen from this camera (SH evaluated, clamped)


@torch.no_grad()
def pair_weights(
    g: Gaussians, camera: Camera, mask: torch.Tensor | None = None, *, near: float = NEAR, eps2d: float = EPS2D
) -> PairWeights:
    """The compositing weights of ``rasterize_reference(g, camera)`` with a black background (see ``PairWeights``):
    ``index_add`` of ``weight * colors`` at ``pix`` reproduces its image. ``mask`` [H, W] bool keeps only the pairs
    of those pixels, and only Gaussians whose screen box touches one are composited (the box bounds every pair a
    Gaussian has, so the weights of the kept pixels are exact)."""
    K, w2c, width, height = camera_tensors(camera, g.means.device, g.means.dtype)
    proj = project_gaussians(g, K, w2c, width, height, near=near, eps2d=eps2d)
    params = torch.cat([proj["means2d"], proj["conics"], proj["opacities"][:, None]], dim=1)
    ids, radii, colors = proj["ids"], proj["radii"], proj["colors"]
    if mask is not None:
        touch = _boxes_touch(mask.to(torch.bool), params[:, 0], params[:, 1], radii)
        params, ids, radii, colors = params[touch], ids[touch], radii[touch], colors[touch]
    rows, pix, pxy, seg_start, *_ = _pair_layout(params, radii, width, height)
    *_, alpha, trans = _pair_terms(params, rows, pxy, seg_start)
    weight, pix = alpha * trans, pix.long()
    if mask is not None:
        keep = mask.reshape(-1).to(torch.bool).index_select(0, pix)
        rows, pix, weight = rows[keep], pix[keep], weight[keep]
    return PairWeights(ids.index_select(0, rows), pix, weight, colors.index_select(0, rows))


def _boxes_touch(mask: torch.Tensor, u: torch.Tensor, v: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """[M] bool: the screen box (centre rounded, half-sizes ``radii``) holds a pixel of ``mask`` [H, W]; one lookup
    in the mask's summed-area table per box."""
    h, w = mask.shape
    sat = torch.zeros(h + 1, w + 1, dtype=torch.int32, device=mask.device)
    sat[1:, 1:] = mask.to(torch.int32).cumsum(0).cumsum(1)
    cu, cv = torch.round(u).long(), torch.round(v).long()
    x0, x1 = (cu - radii[:, 0]).clamp(0, w), (cu + radii[:, 0] + 1).clamp(0, w)
    y0, y1 = (cv - radii[:, 1]).clamp(0, h), (cv + radii[:, 1] + 1).clamp(0, h)
    flat = sat.reshape(-1)
    count = flat[y1 * (w + 1) + x1] - flat[y0 * (w + 1) + x1] - flat[y1 * (w + 1) + x0] + flat[y0 * (w + 1) + x0]
    return count > 0


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (any matching shapes)."""
    mse = float(torch.mean((pred.detach().float() - target.detach().float()) ** 2))
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)
