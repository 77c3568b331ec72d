"""Procedural synthetic scenes (rooms and streets) ray-cast in torch with exact depth, normals and poses."""

from training.synth.reader import VALIDATION_SEED_START, SyntheticReader
from training.synth.scene import ENGINE_VERSION, KINDS, SceneRender, SyntheticScene

__all__ = ["ENGINE_VERSION", "KINDS", "VALIDATION_SEED_START", "SceneRender", "SyntheticReader", "SyntheticScene"]
