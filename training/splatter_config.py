"""The feed-forward Gaussian recipe as data (``task: splatter`` in a training YAML; unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplatterModelSection(_Strict):
    """Architecture; mirrors :class:`core.splatter.SplatterConfig` (``depth_input`` follows ``input_depth``)."""

    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    groups: int = 8
    sh_degree: int = Field(0, ge=0, le=1)
    max_offset: float = 0.1
    offset_px: float | None = None
    init_scale_px: float = 0.7
    max_scale_gain: float = 1.5
    ray_aligned: bool = False
    lateral_scale_gain: float = 0.0
    ray_scale_gain: float = 4.0


class SplatterDataSection(_Strict):
    """Where the training views come from: synthetic scenes rendered once into a cache, or an SRN-layout root."""

    source: Literal["synthetic", "srn"] = "synthetic"
    root: str | None = None
    """SRN layout root (``<root>/<split>/<object>/rgb|pose|intrinsics.txt``); only for ``source: srn``."""
    train_scenes: int = 600
    val_scenes: int = 48
    targets: int = 2
    """Held-out views rendered per scene beside the input view."""
    height: int = 64
    width: int = 64
    seed: int = 0
    downsample: int = Field(1, ge=1)
    """Train at 1/this of the rendered (cached) resolution: a loaded shared CPU affords only tiny renders."""
    depth_model: str = "gld8tr"
    """Depth network whose prediction is variant (b)'s input (a ``ckpt:DIR`` spec or ``gld8tr``)."""
    cache_dir: str | None = None


class SplatterTrainConfig(_Strict):
    task: Literal["splatter"] = "splatter"
    seed: int = 0
    input_depth: Literal["none", "predicted", "true"] = "predicted"
    """The ablation axis: (a) ``none`` RGB only, (b) ``predicted`` depth, (c) ``true`` depth."""
    model: SplatterModelSection = Field(default_factory=SplatterModelSection)
    data: SplatterDataSection = Field(default_factory=SplatterDataSection)
    batch_size: int = 4
    max_steps: int = 2000
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    ssim_from_step: int = 1500
    """Stage 2 (the paper's fine-tuning with a perceptual term) starts here: MSE + ``lambda_ssim`` (1 - SSIM).
    LPIPS, the paper's term, needs VGG weights that cannot be downloaded here; SSIM stands in."""
    lambda_ssim: float = 0.2
    lambda_geometry: float = 0.0
    """Weight of the L1 distance of the splats from their lifted pixels, in pixel footprints
    (``training.splatter_trainer.geometry_departure``); 0 = off (the ablation's recipe)."""
    render_input_view: bool = True
    """Also supervise the input view's own render (the paper renders the source view too)."""
    targets_per_step: int | None = None
    """Held-out views rendered per scene and step (a random subset, from the step's seed); None = all. Rendering
    is most of a step's cost on a CPU."""
    eval_every: int = 200
    save_every: int = 100
    log_every: int = 10
    num_threads: int | None = 1

    @field_validator("input_depth", mode="before")
    @classmethod
    def _yaml_bool(cls, value: object) -> object:
        """YAML reads a bare ``true`` as a boolean: take it to mean true depth (and ``false`` none)."""
        return {True: "true", False: "none"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check(self) -> SplatterTrainConfig:
        if self.data.source == "srn" and not self.data.root:
            raise ValueError("data.root is required for data.source: srn")
        if self.data.source == "srn" and self.input_depth == "true":
            raise ValueError("SRN has no depth maps: use input_depth none or predicted with data.source: srn")
        return self

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> SplatterTrainConfig:
        from training.train_config import read_recipe

        p = Path(path)
        data = read_recipe(p, overrides)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"{p}: {exc}") from exc

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def net_config(self):  # noqa: ANN201 - core.splatter.SplatterConfig, imported lazily (torch)
        from core.splatter import SplatterConfig

        return SplatterConfig(depth_input=self.input_depth != "none", **self.model.model_dump())

