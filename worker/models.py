"""Models held resident by a worker process: built once at start, reused by every job.

Built after any fork (the solo pool never forks; the embedded runner builds them on its own thread), so CUDA is
initialised exactly once, in the process that uses it. Backends pick fp16 on CUDA themselves ("auto" dtype in
core/models.py); the worker only chooses the device.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ResidentModels:
    device: str
    inpainter: Any
    depth_model: Any

    @classmethod
    def load(cls, settings: Settings) -> ResidentModels:
        """Build the configured inpainter and depth completer; raises ModelNotAvailableError if weights lack."""
        from core.backends import registry
        from core.vram import resolve_device

        t0 = time.perf_counter()
        device = str(resolve_device(settings.device))
        # Only a requested low_vram is passed on, as in core.pipeline: backends without the option build as usual.
        options = {"low_vram": True} if settings.low_vram else {}
        inpainter = registry.build_inpainter(settings.inpainter, device=device, **options)
        depth_model = registry.build_depth_completer(settings.depth_model, device=device, **options)
        log.info(
            "models resident on %s in %.1f s: inpainter=%s depth=%s",
            device, time.perf_counter() - t0, getattr(inpainter, "name", settings.inpainter),
            getattr(depth_model, "name", settings.depth_model),
        )
        return cls(device=device, inpainter=inpainter, depth_model=depth_model)
