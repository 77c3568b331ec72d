"""The depth network's configuration: the constructor arguments, saved as ``config.json`` beside the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

FILL_PRIORS = ("nearest", "push_pull", "background", "laplacian", "bilateral", "colorization", "plane", "none")


@dataclass
class DepthNetConfig:
    """Architecture and input conventions of :class:`~core.depthnet.model.DepthCompletionNet`.

    Only values that change what the weights mean belong here; training hyper-parameters live in the training
    config. Every field has a default so configs written by older versions keep loading.
    """

    base_channels: int = 16
    """Channels of the first U-Net level; level ``i`` has ``base_channels * channel_mults[i]``."""
    channel_mults: tuple[int, ...] = (1, 2, 4, 8, 8)
    """One entry per resolution level; the input is padded to a multiple of ``2 ** (len - 1)``."""
    groups: int = 8
    """GroupNorm groups (batch statistics are useless at the batch sizes a CPU affords)."""
    mono_log_scale: float = 1.0
    """log(metres) of the reference depth used when no depth is known: the monocular head then predicts
    log(depth / exp(mono_log_scale)), so a typical indoor depth (~2.7 m) sits near an output of 0."""
    max_log_ratio: float = 4.0
    """Known log(depth / median) values are clipped to +-this before entering the net (e^4 ~ 55x)."""
    fill_prior: str = "nearest"
    """One of :data:`FILL_PRIORS`: start from a classical fill of the known log depth (the nearest known pixel, a
    smooth push-pull interpolation, a far-biased max push-pull that fills disocclusions with the background side
    of a depth edge, the exact harmonic interpolation, the image-guided joint-bilateral or colourisation fill, or
    the planar extrapolation of the local surface at the hole's edge)
    given as a seventh input channel, and predict a residual to it. A small CPU-trained net then begins at a
    classical fill's accuracy in the holes instead of having to learn to propagate depth from scratch; with
    nothing known the fill is 0 and the net is monocular."""
    mixture_priors: tuple[str, ...] = ()
    """Extra classical fills (names from :data:`FILL_PRIORS`) given as further input channels, among which the net
    *chooses per pixel*: the head then also outputs one logit per candidate -- its own prediction and each of
    these fills -- and the output is the softmax-weighted mean of the candidates in log depth. Why: on real photos
    the free residual a CPU-trained net learns on synthetic scenes transfers poorly, while a per-pixel choice
    among classical fills stays within what the known depth supports (the per-pixel best of the fills has a
    fraction of any single fill's error). With nothing known only the net's own candidate is used. Empty: the
    plain residual net."""
    row_coordinate: bool = False
    """Give the net each pixel's row (-1 at the top of the image, +1 at the bottom) as a last input channel. Why:
    a convolutional net with reflection padding cannot tell where in the frame a pixel is, yet for a roughly level
    camera the row alone says much about depth (floor below the horizon, ceiling above); on the validation frames
    one fixed per-row depth profile, median-scaled, has a lower AbsRel than the v3 net without this channel (0.418
    against 0.448, ``python -m benchmark.depth_diagnostics row-profile``)."""
    image_input: bool = True
    """Whether the net sees the photo. False zeroes its RGB input channels (the image-guided fills still use the
    photo): an ablation of whether the per-pixel choice among fills, learned on synthetic scenes, is misled on
    real photos by their colours (MODEL_CARD.md). The net then has no monocular cue of its own."""
    flip_average: bool = False
    """At inference (the module in eval mode), average the log prediction with that of the mirrored input
    (left-right), mirrored back. Why: the net is trained on flipped crops, so both are equally valid estimates and
    their errors are partly independent; on the monocular checkpoint's validation frames the average lowers the
    median-scaled AbsRel by about 3% for a second forward pass (MODEL_CARD.md). Training passes stay single; the
    completion checkpoint leaves it off, because its image-guided fills would run twice."""
    min_depth: float = 0.05
    max_depth: float = 200.0
    """Predictions are clamped to [min_depth, max_depth] metres."""

    def __post_init__(self) -> None:
        if self.fill_prior not in FILL_PRIORS:
            raise ValueError(f"fill_prior must be one of {', '.join(FILL_PRIORS)}; got {self.fill_prior!r}")
        self.mixture_priors = tuple(self.mixture_priors)
        bad = [p for p in self.mixture_priors if p not in FILL_PRIORS or p == "none"]
        if bad or (self.mixture_priors and self.fill_prior == "none"):
            raise ValueError(f"mixture_priors must name fills of {', '.join(FILL_PRIORS[:-1])} on top of a "
                             f"fill_prior; got {list(self.mixture_priors)} with fill_prior {self.fill_prior!r}")

    @property
    def in_channels(self) -> int:
        """RGB + known log-depth ratio + known mask + "any depth known" flag (+ the filled log ratio and the
        mixture's fills)."""
        return (6 if self.fill_prior == "none" else 7) + len(self.mixture_priors) + int(self.row_coordinate)

    @property
    def out_channels(self) -> int:
        """The residual, plus one logit per mixture candidate (the net's own prediction and each extra fill)."""
        return 1 + (1 + len(self.mixture_priors) if self.mixture_priors else 0)

    @property
    def stride(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        data["mixture_priors"] = list(self.mixture_priors)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthNetConfig:
        """Build from a dict, ignoring unknown keys (e.g. ``model_type`` written for humans)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if isinstance(kwargs.get("fill_prior"), bool):  # early interim checkpoints stored a flag
            kwargs["fill_prior"] = "push_pull" if kwargs["fill_prior"] else "none"
        if "channel_mults" in kwargs:
            kwargs["channel_mults"] = tuple(int(m) for m in kwargs["channel_mults"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        data = {"model_type": "gld8tr-depth-unet", **self.to_dict()}
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> DepthNetConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
