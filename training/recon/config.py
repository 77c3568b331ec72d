"""The reconstruction-refiner recipe as data (``configs/recon.yaml``, ``task: recon``); unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReconModelSection(_Strict):
    base_channels: int = 16
    levels: int = 2


class ReconDataSection(_Strict):
    """Synthetic posed sequences: smooth paths through procedural rooms, depth from the project's network."""

    train_scenes: int = 32
    val_scenes: int = 4
    frames: int = 20
    height: int = 120
    width: int = 160
    voxel_size: float = 0.04
    trunc_voxels: float = 3.0
    crops_per_scene: int = 48
    surface_fraction: float = 0.6
    """Share of crops centred on a true surface the frames see (the rest: anywhere in their frustums)."""
    crop: int = 32
    depth_model: str = "gld8tr"
    """Depth of the input sequence: a depth-completer spec (frame-to-frame completion), or ``true``."""
    seed: int = 0


class ReconConfig(_Strict):
    task: Literal["recon"] = "recon"
    seed: int = 0
    model: ReconModelSection = Field(default_factory=ReconModelSection)
    data: ReconDataSection = Field(default_factory=ReconDataSection)
    batch_size: int = 4
    max_steps: int = 800
    lr: float = 2.0e-3
    w_occupancy: float = 0.5
    pos_weight: float = 2.0
    """BCE weight of the in-band class of the two heads (the band is the minority; the meshing threshold is then
    chosen on validation, so the heads need not be calibrated to 0.5)."""
    val_crops: int = 64
    """Validation crops scored at every save (a spread subset of the validation scenes' crops)."""
    log_every: int = 10
    save_every: int = 50
    num_threads: int = 1

    @classmethod
    def load(cls, path: str | Path, overrides: dict | None = None) -> ReconConfig:
        from training.train_config import read_recipe

        raw = read_recipe(path, overrides)
        try:
            return cls(**raw)
        except ValidationError as exc:
            raise InputError(f"{path}: invalid reconstruction recipe: {exc}") from exc
