"""Backends by name.

A spec is ``NAME`` or ``NAME:ARG`` (``ckpt:/path/to/dir``, ``diffusers:sd2-community/stable-diffusion-2-inpainting``).
Each name maps to ``"module:factory"``; modules are imported only when a backend is built, so optional heavy
dependencies (diffusers, transformers) never break an import. Every factory is called as
``factory(arg, device=..., **options)`` and returns an object satisfying the matching protocol in
:mod:`core.backends.base`.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from core.errors import InputError

Kind = Literal["inpainter", "depth_estimator", "depth_completer"]

DEFAULT_INPAINTER = "patchmatch"
DEFAULT_DEPTH_MODEL = "gld8tr"

COMPLETION_BASELINES = ("aligned-mono", "nearest", "laplacian", "background", "colorization", "bilateral",
                        "plane")
"""The depth-completion baselines every evaluation compares a network with, by registry name: training validation
(``gld8tr train --eval``), the model card and ``gld8tr benchmark`` all run these same backends under these names."""

_FACTORIES: dict[Kind, dict[str, str]] = {
    "inpainter": {
        "patchmatch": "core.backends.patchmatch_inpainter:build",
        "diffusers": "core.backends.diffusers_inpainter:build",
    },
    "depth_estimator": {
        "gld8tr": "core.backends.network_depth:build_shipped_estimator",
        "ckpt": "core.backends.network_depth:build_estimator",
        "transformers": "core.backends.transformers_depth:build",
    },
    "depth_completer": {
        "gld8tr": "core.backends.network_depth:build_shipped_completer",
        "ckpt": "core.backends.network_depth:build_completer",
        "aligned-mono": "core.backends.aligned_mono:build",
        "nearest": "core.backends.classical_fill:build_nearest",
        "laplacian": "core.backends.classical_fill:build_laplacian",
        "background": "core.backends.classical_fill:build_background",
        "colorization": "core.backends.guided_fill:build_colorization",
        "bilateral": "core.backends.guided_fill:build_bilateral",
        "plane": "core.backends.classical_fill:build_plane",
        "invisible-stitch": "core.backends.invisible_stitch:build",
        "transformers": "core.backends.transformers_depth:build_completer",  # aligned to the known depth
    },
}


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"ckpt:/a/b"`` -> ``("ckpt", "/a/b")``; ``"nearest"`` -> ``("nearest", None)``."""
    if not spec or not spec.strip():
        raise InputError("empty backend name")
    name, sep, arg = spec.strip().partition(":")
    return name, (arg if sep else None)


def available(kind: Kind) -> list[str]:
    return sorted(_FACTORIES[kind])


def build(kind: Kind, spec: str, *, device: str = "cpu", **options: Any) -> Any:
    """Build the backend named by ``spec``; unknown names raise ``InputError`` listing the known ones."""
    name, arg = parse_spec(spec)
    table = _FACTORIES[kind]
    if name not in table and arg is None:  # a named model from core.models, e.g. "sd2-inpainting"
        from core.models import spec_for

        named = spec_for(kind, name)
        if named is not None:
            name, arg = parse_spec(named)
    if name not in table:
        known = ", ".join(sorted(table))
        raise InputError(f"unknown {kind.replace('_', ' ')} {spec!r}; known: {known}")
    module_name, _, attr = table[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(arg, device=device, **options)


def build_inpainter(spec: str = DEFAULT_INPAINTER, *, device: str = "cpu", **options: Any) -> Any:
    return build("inpainter", spec, device=device, **options)


def build_depth_estimator(spec: str = DEFAULT_DEPTH_MODEL, *, device: str = "cpu", **options: Any) -> Any:
    return build("depth_estimator", spec, device=device, **options)


def build_depth_completer(spec: str = DEFAULT_DEPTH_MODEL, *, device: str = "cpu", **options: Any) -> Any:
    return build("depth_completer", spec, device=device, **options)
