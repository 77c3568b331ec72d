"""Named production models: name -> backend + hub id + revision + dtype, and where their weights live.

Why names: settings files, CLI flags and API requests should say ``sd2-inpainting`` rather than a hub id and a
revision, and the operator must be able to prefetch exactly those weights (``gld8tr models pull NAME``) on a
machine with network before the worker runs offline. Weights are always looked up in the ``huggingface_hub``
cache (``HF_HOME`` / ``HF_HUB_CACHE`` respected) with ``local_files_only`` unless a download is explicitly
allowed; a missing model raises :class:`~core.errors.ModelNotAvailableError` that names it and says how to
fetch it. There is never a silent fallback to another model.

Registry names are accepted wherever a backend spec is (``--inpainter sd2-inpainting``), and also as the
argument of a backend spec (``diffusers:sd2-inpainting``); :func:`spec_for` turns a name into its spec.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import InputError, ModelNotAvailableError

log = logging.getLogger(__name__)

Kind = Literal["inpainter", "depth_estimator", "depth_completer"]

ALLOW_DOWNLOAD_ENV = "GLD8TR_ALLOW_DOWNLOAD"
"""Set to ``1`` to let backends download missing weights on first use (development machines only)."""


@dataclass(frozen=True)
class ModelEntry:
    """One named model. ``revision`` is what ``pull`` fetches and what backends load (a branch or a commit)."""

    name: str
    kind: Kind
    backend: str  # registry backend name: "diffusers" | "transformers" | "invisible-stitch"
    repo_id: str
    revision: str = "main"
    dtype: str = "auto"  # "auto" = float16 on CUDA, float32 on CPU
    filename: str | None = None  # single-file checkpoints (invisible-stitch); None = whole snapshot
    license: str = ""
    note: str = ""

    @property
    def spec(self) -> str:
        """The backend spec that builds this model through :mod:`core.backends.registry`."""
        return f"{self.backend}:{self.name}"


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "sd2-inpainting", "inpainter", "diffusers", "sd2-community/stable-diffusion-2-inpainting",
            license="CreativeML Open RAIL++-M",
            note="community mirror; the stabilityai repo was taken down in Nov 2025",
        ),
        ModelEntry(
            "depth-anything-v2-small", "depth_estimator", "transformers", "depth-anything/Depth-Anything-V2-Small-hf",
            license="Apache-2.0", note="relative (inverse) depth; converted to pseudo-metric depth",
        ),
        ModelEntry(
            "zoedepth-nyu-kitti", "depth_estimator", "transformers", "Intel/zoedepth-nyu-kitti",
            license="MIT", note="metric depth in metres",
        ),
        ModelEntry(
            "dpt-large", "depth_estimator", "transformers", "Intel/dpt-large",
            license="Apache-2.0", note="MiDaS v3 relative (inverse) depth",
        ),
        ModelEntry(
            "invisible-stitch", "depth_completer", "invisible-stitch", "paulengstler/invisible-stitch",
            filename="invisible-stitch.pt", dtype="float32",  # the metric bins head is not fp16-safe
            license="BSD-3-Clause (code); see the hub card for the weights",
            note="ZoeDepth BEiT-L/384 with 5-channel input, state dict under 'model'",
        ),
    )
}

DEFAULT_FOR_BACKEND: dict[str, str] = {
    "diffusers": "sd2-inpainting",
    "transformers": "depth-anything-v2-small",
    "invisible-stitch": "invisible-stitch",
}


def get(name: str) -> ModelEntry:
    """The entry called ``name``; unknown names raise ``InputError`` listing the known ones."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def spec_for(kind: str, name: str) -> str | None:
    """Backend spec for a registry ``name`` of the given kind, or ``None`` if ``name`` is not a registry name."""
    entry = MODELS.get(name)
    if entry is None:
        return None
    # a monocular estimator also serves as a completer (aligned to the known depth by its backend)
    if entry.kind != kind and not (entry.kind == "depth_estimator" and kind == "depth_completer"):
        return None
    return entry.spec


def pull_command(name: str) -> str:
    return f"gld8tr models pull {name}"


def downloads_allowed(explicit: bool | None = None) -> bool:
    """An explicit option wins; otherwise ``GLD8TR_ALLOW_DOWNLOAD=1``. ``HF_HUB_OFFLINE=1`` always forbids."""
    if _hub_offline():
        return False
    if explicit is not None:
        return explicit
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Resolved:
    """Where a backend loads from: a local path (dir or file), the entry if it came from the registry."""

    path: Path
    entry: ModelEntry | None
    revision: str | None


def resolve(
    backend: str,
    arg: str | None,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    allow_download: bool | None = None,
) -> Resolved:
    """Turn a backend argument (registry name, local path or hub id; ``None`` = the backend's default) into a
    local path, from the hub cache or (when allowed) by downloading. Raises ``ModelNotAvailableError``.
    """
    name = arg or DEFAULT_FOR_BACKEND.get(backend)
    if name is None:
        raise InputError(f"backend {backend!r} needs a model argument")
    local = Path(name).expanduser()
    if local.exists():
        return Resolved(local, None, None)
    entry = MODELS.get(name)
    if entry is not None and entry.backend != backend:
        raise InputError(f"model {name!r} is a {entry.backend} model, not {backend}")
    repo_id = entry.repo_id if entry else name
    rev = revision or (entry.revision if entry else None)
    filename = entry.filename if entry else None
    if "/" not in repo_id or repo_id.count("/") > 1 or repo_id.startswith((".", "/", "~")):
        raise ModelNotAvailableError(f"{name!r} is neither an existing path, a registry name nor a hub id 'org/name'")
    path = _from_cache(repo_id, rev, filename, cache_dir)
    if path is not None:
        return Resolved(path, entry, rev)
    how = pull_command(name) if entry else f"huggingface-cli download {repo_id}" + (f" --revision {rev}" if rev else "")
    if not downloads_allowed(allow_download):
        offline = " (HF_HUB_OFFLINE is set)" if _hub_offline() else ""
        raise ModelNotAvailableError(
            f"weights for {name!r} ({repo_id}{'@' + rev if rev else ''}) are not in the Hugging Face cache{offline}"
            f"{'' if entry else ' and no local directory of that name exists'}; "
            f"fetch them on a machine with network with `{how}` (or set {ALLOW_DOWNLOAD_ENV}=1 to download on use)"
        )
    return Resolved(download(repo_id, rev, filename, cache_dir), entry, rev)


def hub_cache_dir(cache_dir: str | None = None) -> str | None:
    """Explicit dir, else ``HF_HUB_CACHE``, else ``HF_HOME/hub``, read now rather than at import time.

    huggingface_hub reads these variables once when imported; reading them per call lets a long-running
    worker (and the tests) point at another cache without restarting. ``None`` = the library default.
    """
    if cache_dir:
        return cache_dir
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def _from_cache(repo_id: str, revision: str | None, filename: str | None, cache_dir: str | None) -> Path | None:
    """The cached snapshot dir (or file) for ``repo_id@revision``, or ``None`` if it is not fully present."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dir = hub_cache_dir(cache_dir)
    try:
        if filename:
            return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir,
                                        local_files_only=True))
        path = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
        log.debug("%s@%s not cached: %s", repo_id, revision, exc)
        return None
    # a snapshot dir can exist while holding only a few files (an interrupted pull): require a config
    if not any((path / f).exists() for f in ("model_index.json", "config.json")):
        return None
    return path


def _weight_ignore_patterns(repo_id: str, revision: str | None) -> list[str]:
    """Skip formats we never load: single-file SD checkpoints, flax/tf/onnx, and .bin where safetensors exist."""
    from huggingface_hub import HfApi

    ignore = ["*.ckpt", "*.msgpack", "*.h5", "*.onnx", "*.onnx_data", "*.ot", "*.tflite", "*.mlmodel*"]
    files = HfApi().list_repo_files(repo_id, revision=revision)
    if any(f.endswith(".safetensors") for f in files):
        ignore.append("*.bin")
    if any(".fp16." in f for f in files):  # variants are duplicates of the full-precision weights
        ignore.append("*.fp16.*")
    return ignore


def download(repo_id: str, revision: str | None, filename: str | None, cache_dir: str | None) -> Path:
    """Fetch into the hub cache (network). Only called by ``pull`` and by backends allowed to download."""
    from huggingface_hub import hf_hub_download, snapshot_download

    if _hub_offline():
        raise ModelNotAvailableError(f"cannot download {repo_id}: HF_HUB_OFFLINE is set")
    cache_dir = hub_cache_dir(cache_dir)
    log.info("downloading %s%s%s", repo_id, f"/{filename}" if filename else "", f"@{revision}" if revision else "")
    try:
        if filename:
            return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir))
        ignore = _weight_ignore_patterns(repo_id, revision)
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, ignore_patterns=ignore))
    except Exception as exc:  # network, auth, missing repo: all mean "not available", with the cause attached
        raise ModelNotAvailableError(f"could not download {repo_id}@{revision or 'main'}: {exc}") from exc


def pull(name: str, *, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """Prefetch a registry model (or any hub id) into the cache; returns its local path."""
    entry = MODELS.get(name)
    if entry is None and name.count("/") != 1:
        raise InputError(f"{name!r} is neither a registry model ({', '.join(sorted(MODELS))}) nor a hub id org/name")
    repo_id = entry.repo_id if entry else name
    rev = revision or (entry.revision if entry else None)
    return download(repo_id, rev, entry.filename if entry else None, cache_dir)


def installed(entry: ModelEntry, cache_dir: str | None = None) -> Path | None:
    """Local path of a registry model if its weights are in the cache, else ``None`` (no network)."""
    return _from_cache(entry.repo_id, entry.revision, entry.filename, cache_dir)
