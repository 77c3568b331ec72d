"""Benchmark pairs: two overlapping views with known depth and poses, and the completion task they define.

For a pair (A, B), A's depth is rendered into B's camera; B's pixels that receive depth are "known", the rest of
B's valid ground truth is the hole a method must fill given B's image. A pair qualifies when its *overlap* --
the fraction of B's valid ground-truth pixels that A's depth covers -- lies in a configured band: too little
overlap leaves nothing to condition on, too much leaves no hole worth scoring.

Selection is deterministic (scenes and frames in reader order, fixed offsets) and the result is
cached in a JSON manifest, so every method and every later run scores exactly the same pairs.

Known depth is cleaned with one rule: a rendered pixel whose depth disagrees with B's ground truth by more than
``consistency`` (relative) is dropped from the known set. Such pixels are background points of A showing
through cracks of a nearer surface, or surfaces A saw that B sees occluded -- B's true surface there was not
seen by A, so the pixel belongs to the hole. This is the per-pixel form of Invisible Stitch's occlusion filter.
The rendering and the rule are the data engineer's :mod:`training.data.pairs` (the same construction makes
training pairs); this module adds selection, caching and crack handling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PairConfig:
    """How pairs are chosen; part of the manifest, so a changed config never reuses stale pairs."""

    overlap_min: float = 0.4
    overlap_max: float = 0.95
    stride: int = 1
    """Every ``stride``-th frame of a scene is a candidate B (ScanNet protocol: 50)."""
    offsets: tuple[int, ...] = (5, -5, 10, -10, 3, -3, 15, -15, 1, -1, 2, -2)
    """A = B + offset, tried in this order; the first A in the band is taken (one pair per B)."""
    consistency: float = 0.05
    """Known pixels farther than this fraction of B's ground truth from it are moved to the hole."""
    max_side: int | None = 640
    """Frames larger than this (longest side, pixels) are resized first: the metrics are per pixel, and CPU
    baselines such as the Laplacian solve scale with the pixel count."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap_min < self.overlap_max <= 1.0:
            raise InputError(
                f"overlap band must satisfy 0 <= min < max <= 1, got [{self.overlap_min}, {self.overlap_max}]"
            )
        if self.stride < 1:
            raise InputError(f"stride must be >= 1, got {self.stride}")
        if not self.offsets or 0 in self.offsets:
            raise InputError(f"offsets must be non-empty and non-zero, got {self.offsets}")


@dataclass(frozen=True)
class Pair:
    """One scored pair: A's depth is rendered into B; B's ground truth is the reference."""

    scene_id: str
    frame_a: str
    frame_b: str
    overlap: float

    @property
    def pair_id(self) -> str:
        return f"{self.scene_id}/{self.frame_a}->{self.frame_b}"


@dataclass
class PairSample:
    """What a method sees of a pair (``image``, ``known_depth``, ``known_mask``) plus what scores it (``gt``)."""

    pair: Pair
    image: np.ndarray  # [H, W, 3] uint8, B's photo
    known_depth: np.ndarray  # [H, W] float32 metres, A's depth seen from B, 0 = unknown
    known_mask: np.ndarray  # [H, W] bool
    gt: np.ndarray  # [H, W] float32 B's ground truth, 0 = invalid
    K: np.ndarray = field(repr=False)  # [3, 3] B's intrinsics

    @property
    def valid(self) -> np.ndarray:
        return self.gt > 0

    @property
    def hole(self) -> np.ndarray:
        return self.valid & ~self.known_mask


def make_sample(frame_a: Any, frame_b: Any, pair: Pair, consistency: float) -> PairSample:
    """The completion task of a pair: A's depth rendered into B and cleaned by the consistency rule
    (:func:`training.data.pairs.make_pair_sample`), with one-pixel cracks taken out of the scored set.

    A surface seen at a grazing angle from A or B leaves pinholes in the re-rendered depth; they are sampling
    artefacts of the pair construction, not disocclusions, and they would pad the hole with pixels any fill gets
    right. Pixels that :func:`training.data.masks.fill_cracks` would close get ground truth 0 (not scored, and
    not known either).
    """
    from training.data.masks import fill_cracks
    from training.data.pairs import make_pair_sample

    task = make_pair_sample(frame_a, frame_b, max_rel_error=consistency)
    known = task["known_mask"]
    cracks = fill_cracks(known, task["sparse_depth"]) & ~known
    gt = np.where(cracks, 0.0, task["target"]).astype(np.float32)
    return PairSample(
        pair=pair, image=task["image"], known_depth=task["sparse_depth"], known_mask=known, gt=gt, K=frame_b.K
    )


def overlap_of(sample: PairSample) -> float:
    """Fraction of B's valid ground-truth pixels covered by the (cleaned) known depth; 0 without valid GT."""
    valid = sample.valid
    n = int(valid.sum())
    return float((sample.known_mask & valid).sum()) / n if n else 0.0


class FrameCache:
    """Decoded frames of one scene by id, a few at a time (B and its neighbours are reused across offsets)."""

    def __init__(self, reader: Any, scene_id: str, max_side: int | None, size: int = 8) -> None:
        self.seq = reader.frames(scene_id)
        self.ids = frame_ids(self.seq)
        self._index = {fid: i for i, fid in enumerate(self.ids)}
        self._max_side = max_side
        self._size = size
        self._cache: OrderedDict[str, Any] = OrderedDict()

    def __getitem__(self, frame_id: str) -> Any:
        if frame_id in self._cache:
            self._cache.move_to_end(frame_id)
            return self._cache[frame_id]
        if frame_id not in self._index:
            raise KeyError(f"frame {frame_id!r} not in this scene")
        frame = _limit_size(self.seq[self._index[frame_id]], self._max_side)
        self._cache[frame_id] = frame
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return frame


def frame_ids(seq: Sequence[Any]) -> list[str]:
    """Ids of a reader's frame sequence: its ``frame_ids`` when it has them (lazy), else positions as strings."""
    ids = getattr(seq, "frame_ids", None)
    return [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(seq))]


def _limit_size(frame: Any, max_side: int | None) -> Any:
    if max_side is None or max(frame.height, frame.width) <= max_side:
        return frame
    scale = max_side / max(frame.height, frame.width)
    return frame.resized(round(frame.height * scale), round(frame.width * scale))


def _candidates(reader: Any, scene_id: str, ids: list[str], config: PairConfig) -> Iterator[list[tuple[str, str]]]:
    """Groups of ``(A, B)`` candidates; at most one pair is taken from a group unless the reader chose them.

    Readers that know which pairs are meaningful (``candidate_pairs``, e.g. Middlebury where one view has ground
    truth) give one group per candidate, so every in-band candidate is taken.
    """
    if hasattr(reader, "candidate_pairs"):
        for a, b in reader.candidate_pairs(scene_id):
            yield [(a, b)]
        return
    n = len(ids)
    for b in range(0, n, config.stride):
        yield [(ids[b + off], ids[b]) for off in config.offsets if 0 <= b + off < n]


def select_pairs(
    reader: Any, config: PairConfig, limit: int | None = None, *, on_sample: Callable[[PairSample], None] | None = None
) -> list[Pair]:
    """Deterministic pairs of ``reader`` whose overlap lies in ``[overlap_min, overlap_max]``, at most ``limit``.

    ``on_sample`` receives the completion task of every accepted pair (already computed to measure the overlap),
    so a caller can store it instead of decoding and rendering the frames a second time.
    """
    pairs: list[Pair] = []
    for scene_id in reader.scene_ids():  # reader order: deterministic, and keeps its mix of scene kinds
        cache = FrameCache(reader, scene_id, config.max_side)
        for group in _candidates(reader, scene_id, cache.ids, config):
            for a, b in group:
                probe = Pair(scene_id, a, b, 0.0)
                sample = make_sample(cache[a], cache[b], probe, config.consistency)
                ov = overlap_of(sample)
                log.debug("candidate %s overlap %.3f", probe.pair_id, ov)
                if config.overlap_min <= ov <= config.overlap_max:
                    sample.pair = Pair(scene_id, a, b, round(ov, 6))
                    pairs.append(sample.pair)
                    if on_sample is not None:
                        on_sample(sample)
                    break
            if limit is not None and len(pairs) >= limit:
                return pairs
    return pairs


class SampleStore:
    """Completion tasks of a manifest's pairs as compressed ``.npz`` files, so scoring never re-renders them."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def path(self, pair: Pair) -> Path | None:
        if self.directory is None:
            return None
        name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", pair.pair_id)
        return self.directory / f"{name}.npz"

    def save(self, sample: PairSample) -> None:
        path = self.path(sample.pair)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            image=sample.image,
            known_depth=sample.known_depth,
            known_mask=sample.known_mask,
            gt=sample.gt,
            K=sample.K,
        )
        tmp.replace(path)

    def load(self, pair: Pair) -> PairSample | None:
        path = self.path(pair)
        if path is None or not path.exists():
            return None
        with np.load(path) as z:
            return PairSample(
                pair=pair,
                image=z["image"],
                known_depth=z["known_depth"],
                known_mask=z["known_mask"],
                gt=z["gt"],
                K=z["K"],
            )

    def clear(self) -> None:
        if self.directory is not None and self.directory.exists():
            for f in self.directory.glob("*.npz"):
                f.unlink()


@dataclass(frozen=True)
class Manifest:
    """The pairs of one benchmark setting and a short id of that setting (stamped on every result row)."""

    manifest_id: str
    pairs: list[Pair]


def load_or_build_manifest(
    path: Path,
    reader: Any,
    dataset: str,
    root: str | None,
    config: PairConfig,
    limit: int | None,
    store: SampleStore | None = None,
) -> Manifest:
    """Pairs from the manifest at ``path`` if it was built with the same inputs, else built and written there
    (clearing ``store``, whose samples belonged to the old pairs)."""
    key = {"version": MANIFEST_VERSION, "dataset": dataset, "root": root, "config": _config_dict(config),
           "limit": limit}  # fmt: skip
    manifest_id = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    if path.exists():
        data = json.loads(path.read_text())
        if {k: data.get(k) for k in key} == key:
            log.info("reusing %d pairs from %s", len(data["pairs"]), path)
            return Manifest(manifest_id, [Pair(**p) for p in data["pairs"]])
        log.info("manifest %s was built with other settings; rebuilding it", path)
    if store is not None:
        store.clear()
    pairs = select_pairs(reader, config, limit, on_sample=store.save if store is not None else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**key, "manifest_id": manifest_id, "pairs": [asdict(p) for p in pairs]}, indent=1))
    tmp.replace(path)
    return Manifest(manifest_id, pairs)


def _config_dict(config: PairConfig) -> dict[str, Any]:
    data = asdict(config)
    data["offsets"] = list(config.offsets)
    return data


def iter_samples(
    reader: Any, pairs: Sequence[Pair], config: PairConfig, store: SampleStore | None = None
) -> Iterator[PairSample]:
    """The completion task of each pair (same order): from ``store`` when saved there, else rendered (and saved)."""
    caches: dict[str, FrameCache] = {}
    for pair in pairs:
        stored = store.load(pair) if store is not None else None
        if stored is not None:
            yield stored
            continue
        if pair.scene_id not in caches:
            caches.clear()  # pairs come grouped by scene: keep one scene's frames at a time
            caches[pair.scene_id] = FrameCache(reader, pair.scene_id, config.max_side)
        cache = caches[pair.scene_id]
        sample = make_sample(cache[pair.frame_a], cache[pair.frame_b], pair, config.consistency)
        if store is not None:
            store.save(sample)
        yield sample
