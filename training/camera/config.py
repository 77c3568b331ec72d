"""The camera module's training recipe (``task: camera`` in the YAML), validated like the depth recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from training.train_config import _Strict


class CameraModelSection(_Strict):
    """Architecture; mirrors :class:`core.camera_recovery.CameraNetConfig` (saved in every checkpoint)."""

    in_channels: Literal[3, 5] = 5
    num_points: int = 1024
    normals: bool = False
    centroids: list[int] = Field(default_factory=lambda: [128, 32])
    neighbours: int = 16
    widths: list[list[int]] = Field(default_factory=lambda: [[32, 32, 64], [64, 64, 128]])
    global_width: int = 256
    guess_fov_deg: float = 60.0
    iterations: int = 2
    pair_bins: int = 0
    """Histogram of the focal votes of pairs of first-level normals (needs ``normals``; 0 = off)."""


class RealSource(_Strict):
    """A real dataset in its usual layout (training/data/kenburns.py, taskonomy.py, scannet.py)."""

    kind: Literal["kenburns", "taskonomy", "scannet"]
    root: str
    max_frames: int = 5000


class CameraDataSection(_Strict):
    """Synthetic frames (exact depth and focal) rendered once into a depth cache; only depth is kept."""

    train_scenes: int = 600
    val_scenes: int = 40
    frames_per_scene: int = 4
    height: int = 96
    width: int = 128
    fov_range_deg: tuple[float, float] = (35.0, 100.0)
    seed: int = 0
    cache_dir: str | None = None
    real: list[RealSource] = Field(default_factory=list)
    """Real frames added to the synthetic training frames (cropped and resized to height x width)."""


class DistortionSection(_Strict):
    """How each training cloud is distorted (LeReS: focal scale ~U[0.6, 1.25], shift ~U[-0.25, 0.8])."""

    shift_range: tuple[float, float] = (-0.25, 0.8)
    p_no_shift: float = 0.25
    """Fraction of clouds left unshifted (metric depth models: the module must then say "no shift")."""
    focal_scale_range: tuple[float, float] = (0.5, 2.1)
    """Log-uniform; wider than LeReS' so that one pass from the 60-degree guess reaches 35-100 degrees."""
    depth_noise: float = 0.01
    """Relative Gaussian noise on depth for half the clouds (predicted depth is never exact)."""


class CameraTrainConfig(_Strict):
    task: Literal["camera"] = "camera"
    seed: int = 0
    model: CameraModelSection = Field(default_factory=CameraModelSection)
    data: CameraDataSection = Field(default_factory=CameraDataSection)
    distortion: DistortionSection = Field(default_factory=DistortionSection)
    batch_size: int = 16
    max_steps: int = 3000
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    shift_weight: float = 1.0
    focal_weight: float = 1.0
    focal_max_shift: float | None = None
    """The focal loss counts only clouds whose shift is at most this (normalised units); None = all. Inference
    reads the focal from clouds whose shift is already corrected (or exact depth), so fitting it on strongly
    bent clouds spends capacity on inputs it never meets."""
    ema_decay: float = 0.99
    log_every: int = 25
    eval_every: int = 250
    save_every: int = 100
    num_threads: int | None = None

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
