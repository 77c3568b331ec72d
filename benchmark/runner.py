"""Score methods on a manifest's pairs, one CSV row per (pair, method), skipping rows already written."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.methods import Baseline, timed_predict
from benchmark.metrics import DEFAULT_SEAM_PX, score
from benchmark.pairs import Manifest, PairConfig, SampleStore, iter_samples
from benchmark.report import PairWriter, read_pair_rows

log = logging.getLogger(__name__)


def run(
    reader: Any,
    dataset: str,
    manifest: Manifest,
    config: PairConfig,
    methods: Sequence[Baseline],
    csv_path: Path,
    *,
    store: SampleStore | None = None,
    seam_px: int = DEFAULT_SEAM_PX,
    device: str = "cpu",
    progress: bool = True,
) -> list[dict[str, object]]:
    """Score every method on every pair not yet in ``csv_path``; returns the rows of this manifest and these methods.

    A row is keyed by (dataset, manifest id, method, weights version, pair id): a rerun after an interruption
    resumes where it stopped, and rows of another pair setting or of older weights in the same CSV are never
    mistaken for this one's.
    """
    from tqdm import tqdm

    names = [m.name for m in methods]
    stamp = f"{manifest.manifest_id}/seam{seam_px}"  # the seam width changes mae_seam: part of a row's identity
    versions = {m.name: str(getattr(m, "version", "")) for m in methods}
    done = {
        (r["method"], r["pair_id"])
        for r in read_pair_rows(csv_path)
        if r["dataset"] == dataset
        and r.get("manifest") == stamp
        and r["method"] in versions
        and (r.get("method_version") or "") == versions[r["method"]]
    }
    todo = [p for p in manifest.pairs if any((n, p.pair_id) not in done for n in names)]
    skipped = len(manifest.pairs) - len(todo)
    if skipped:
        log.info("resuming: %d of %d pairs already scored by every method", skipped, len(manifest.pairs))
    bar = tqdm(total=len(todo) * len(methods), desc=f"benchmark {dataset}", unit="run", disable=not progress)
    with PairWriter(csv_path) as writer:
        for sample in iter_samples(reader, todo, config, store):
            pair = sample.pair
            for method in methods:
                if (method.name, pair.pair_id) in done:
                    bar.update()
                    continue
                depth, seconds = timed_predict(method, sample, device)
                row: dict[str, object] = {
                    "dataset": dataset,
                    "manifest": stamp,
                    "method": method.name,
                    "method_version": versions[method.name],
                    "pair_id": pair.pair_id,
                    "scene_id": pair.scene_id,
                    "frame_a": pair.frame_a,
                    "frame_b": pair.frame_b,
                    "overlap": pair.overlap,
                    "seconds": seconds,
                    **score(depth, sample.gt, sample.known_mask, seam_px),
                }
                writer.write(row)
                bar.set_postfix_str(f"{method.name} mae_hole={row['mae_hole']:.3f}")
                bar.update()
    bar.close()
    # Rows of this manifest and these methods, in the order asked for (methods) and listed (pairs), whatever
    # order earlier, interrupted runs appended them in.
    order = {(n, p.pair_id): (i, j) for i, n in enumerate(names) for j, p in enumerate(manifest.pairs)}
    rows = [
        r
        for r in read_pair_rows(csv_path)
        if r["dataset"] == dataset
        and r.get("manifest") == stamp
        and (r["method"], r["pair_id"]) in order
        and (r.get("method_version") or "") == versions[str(r["method"])]
    ]
    return sorted(rows, key=lambda r: order[(r["method"], r["pair_id"])])
