"""The training recipe as data: one YAML file validated into :class:`TrainConfig` (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Strict):
    """Architecture; mirrors :class:`core.depthnet.DepthNetConfig` (saved inside every checkpoint)."""

    base_channels: int = 16
    channel_mults: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 8])
    groups: int = 8
    mono_log_scale: float = 1.0
    fill_prior: Literal["nearest", "push_pull", "background", "laplacian", "bilateral", "colorization", "plane",
                        "none"] = "nearest"
    mixture_priors: list[Literal["nearest", "push_pull", "background", "laplacian", "bilateral",
                                 "colorization", "plane"]] = Field(default_factory=list)
    row_coordinate: bool = False
    image_input: bool = True
    """False: the net's RGB channels are zero (an ablation; :class:`core.depthnet.DepthNetConfig`)."""
    flip_average: bool = False
    """Inference averages with the mirrored input's prediction (validation too, so selection sees what ships)."""


class SyntheticSection(_Strict):
    """Procedural scenes rendered once into a frame cache; validation scenes use disjoint seeds."""

    train_scenes: int = 32
    val_scenes: int = 6
    frames_per_scene: int = 4
    """Cameras per scene drawn by the engine; each also gets one rendered neighbour ("next") view."""
    height: int = 112
    width: int = 144
    seed: int = 0
    """First scene seed; validation scenes come from the engine's reserved validation seed range."""
    cache_dir: str | None = None
    """Where the rendered frame cache lives; default ``OUT/cache``. Reused when its recipe matches."""
    photo_textures: float = Field(default=0.0, ge=0.0, le=1.0)
    """Domain randomisation of training scenes: the fraction of materials replaced by crops of bundled photos
    (:mod:`training.synth.randomize`). Validation scenes always use the default engine look."""
    lighting: bool = False
    """Domain randomisation of training scenes: wider ranges of light colour, ambient and strength."""
    neighbour_motions: tuple[Literal["turn", "shift"], ...] = Field(default=("turn",), min_length=1)
    """The rendered neighbours of each training camera, one per entry: ``turn`` (yawed 8-30 degrees, the
    pipeline's next view: mostly a new strip) and ``shift`` (translated sideways by 5-25% of the median depth:
    disocclusions beside every depth edge). Validation scenes always have the turn alone."""


class SelfTrainingSection(_Strict):
    """Unlabelled photos: the model's own (EMA) prediction, or the teacher's, is the target for warp-masked
    completion samples."""

    images: str | None = None
    """A folder of photos, or ``"skimage"`` for the sample photos bundled with scikit-image."""
    weight: float = 0.5
    start_step: int = 0
    per_batch: int = 2
    """Self-training samples appended to each batch once ``start_step`` is reached."""


class TrainConfig(_Strict):
    task: Literal["depth"] = "depth"
    """Which network a recipe trains; ``task: camera`` recipes are :class:`training.camera.config.CameraTrainConfig`,
    ``task: recon`` ones :class:`training.recon.config.ReconConfig`."""
    seed: int = 0
    model: ModelSection = Field(default_factory=ModelSection)
    synthetic: SyntheticSection = Field(default_factory=SyntheticSection)
    crop: tuple[int, int] = (96, 128)
    batch_size: int = 8
    max_steps: int = 1000
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    p_completion: float = 0.5
    """Fraction of samples that are completion tasks (the rest are monocular: empty depth channels)."""
    p_warp: float = 0.7
    """Among completion samples, fraction with multi-view warp masks (the rest get random blob masks)."""
    camera_effects: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of synthetic training samples passed through :func:`training.synth.randomize.camera_effects`
    (exposure, white balance, blur, noise, JPEG)."""
    init: str | None = None
    """Checkpoint folder whose weights start the run (same architecture; the fill prior may differ): a warm start
    instead of a random initialisation. Recorded here so the run's recipe says where it came from."""
    rescale: tuple[float, float] = (0.5, 2.0)
    """Completion samples' depth is multiplied by a log-uniform factor in this range (as the paper)."""
    silog_lambda: float = 0.85
    """Scale-invariance of the SILog loss on monocular samples (1 = fully scale invariant, 0 = log RMSE)."""
    silog_lambda_completion: float = 0.85
    """The same for completion samples, whose scale the known depth fixes."""
    consistency_weight: float = 1.0
    depth_l1_weight: float = 0.0
    """Weight of an L1 loss on depth (not log depth) in the holes of completion samples, in units of the known
    depth's median: log losses weigh a far pixel's error in metres down by its depth, the hole MAE in metres
    that the benchmark reports does not."""
    select_metric: Literal["hole_absrel", "hole_mae", "frame_scaled_absrel"] = "hole_absrel"
    """Validation metric (lower is better) that picks the checkpoint kept in ``OUT/best``."""
    ema_decay: float = 0.995
    teacher: str | None = None
    """A ``DepthEstimator`` registry spec whose predictions are distillation targets for image-only data."""
    self_training: SelfTrainingSection = Field(default_factory=SelfTrainingSection)
    log_every: int = 10
    eval_every: int = 200
    save_every: int = 50
    num_threads: int | None = None
    device: str = "auto"
    """``auto`` (``cuda:LOCAL_RANK`` when CUDA is available, else the CPU), ``cpu`` or ``cuda[:N]``."""

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        return cls.from_dict(read_recipe(path, overrides), source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"{source}: {exc}") from exc

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def read_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A recipe file (YAML, or the JSON a run saved) as a dict with ``overrides`` applied; every task's loader
    and the ``gld8tr train`` dispatch read recipes through here, so a bad file fails the same way everywhere."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"training config {str(p)!r} not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{p}: a training recipe is a mapping of keys, got {type(data).__name__}")
    data.update(overrides or {})
    return data


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Any:
    """A recipe of either task: its ``task:`` key (default ``depth``) picks the schema."""
    p = Path(path)
    data = read_recipe(p, overrides)
    task = data.get("task", "depth")
    if task == "camera":
        from training.camera.config import CameraTrainConfig

        try:
            return CameraTrainConfig.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"{p}: {exc}") from exc
    if task != "depth":
        raise InputError(f"{p}: task must be 'depth' or 'camera', got {task!r}")
    return TrainConfig.from_dict(data, source=str(p))
