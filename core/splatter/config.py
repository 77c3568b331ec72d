"""The splatter network's configuration: its constructor arguments, saved as ``config.json`` beside the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import InputError

MODEL_TYPE = "gld8tr-splatter-unet"
"""Written into ``config.json``; a checkpoint of another architecture is refused by name, not half-loaded."""


@dataclass
class SplatterConfig:
    """Architecture and output parametrisation of :class:`~core.splatter.model.SplatterNet`.

    Only values that change what the weights mean belong here; training hyper-parameters live in the recipe.
    """

    depth_input: bool = True
    """Take a depth map (+ its validity mask) beside the RGB: the seed project's extension of Splatter Image."""
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    groups: int = 8
    sh_degree: int = 0
    """0: view-independent colour (SH DC); 1 adds the 9 degree-1 coefficients per pixel."""
    mono_log_scale: float = 1.0
    """log(metres) of the reference depth when no depth is known (the RGB-only model predicts around e^1 m)."""
    max_log_ratio: float = 4.0
    """Known log(depth / median) values are clipped to +-this before entering the net."""
    max_offset: float = 0.1
    """The 3D offset of a Gaussian from its ray is at most this fraction of its depth (tanh-bounded)."""
    offset_px: float | None = None
    """If set, the offset bound is this many pixel footprints (``depth / focal``) instead of ``max_offset`` x
    depth: resolution-relative, so a net trained on small images does not move splats by a fixed fraction of
    a large image (what broke the depth-fraction offsets on 512-px photos; see the model card)."""
    init_scale_px: float = 0.7
    """Standard deviation at initialisation, in pixel footprints at the Gaussian's depth."""
    max_scale_gain: float = 1.5
    """The log-scale head is clamped to [-6, this]: a Gaussian grows to at most e^1.5 = 4.5x its initial size,
    which bounds the rasteriser's work (pairs) per Gaussian."""
    ray_aligned: bool = False
    """Splats that cannot blur their own view: each sits on its pixel's ray (the depth head moves it along the ray;
    no lateral offset), is round across the ray (one lateral scale, at most ``lateral_scale_gain`` above
    ``init_scale_px``) and may stretch *along* the ray by up to ``ray_scale_gain``. A ray-aligned splat projects
    to its own pixel with a fixed footprint whatever its length, so the input view's render is a fixed,
    well-conditioned blur that the closed-form colour solve (``core.splatter.color_solve``) undoes, while the
    stretch along the ray fills the gaps that novel views open at depth edges. The offset and quaternion heads
    are unused."""
    lateral_scale_gain: float = 0.0
    ray_scale_gain: float = 4.0
    init_opacity: float = 0.95
    min_depth: float = 0.05
    max_depth: float = 1000.0

    @property
    def in_channels(self) -> int:
        """RGB + the pixel's ray direction (x/z, y/z) (+ known log-depth ratio, known mask, "any known" flag)."""
        return 8 if self.depth_input else 5

    @property
    def sh_bases(self) -> int:
        return (self.sh_degree + 1) ** 2

    @property
    def out_channels(self) -> int:
        """Depth correction 1, offset 3, opacity 1, log scale 3, quaternion 4, SH 3 per basis."""
        return 12 + 3 * self.sh_bases

    @property
    def stride(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SplatterConfig:
        model_type = data.get("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise InputError(f"checkpoint is a {model_type!r}, not a {MODEL_TYPE!r} (feed-forward Gaussian) model")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "channel_mults" in kwargs:
            kwargs["channel_mults"] = tuple(int(m) for m in kwargs["channel_mults"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"model_type": MODEL_TYPE, **self.to_dict()}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SplatterConfig:
        data = json.loads(Path(path).read_text())
        if "model_type" not in data:
            raise InputError(f"{path} has no model_type: not a {MODEL_TYPE!r} checkpoint")
        return cls.from_dict(data)
