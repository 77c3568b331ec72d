"""The generation modes, defined once and torch-free: ``core.trajectory`` turns them into camera paths and the
service's request schema (``service.schemas.SceneOptions``) validates them without importing torch."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["single", "stage", "360"]
MODES: tuple[str, ...] = get_args(Mode)
