"""The scoring loop: one row per pair and method, resume without rescoring, rescore when weights change."""

import numpy as np

from benchmark.pairs import PairConfig, SampleStore, load_or_build_manifest
from benchmark.report import read_pair_rows
from benchmark.runner import run


class Counting:
    """A method that fills the hole with the known median and counts its calls."""

    def __init__(self, name, version=""):
        self.name, self.version, self.calls = name, version, 0

    def predict(self, sample):
        self.calls += 1
        return np.where(sample.known_mask, sample.known_depth, np.median(sample.known_depth[sample.known_mask]))


def test_resume_skips_scored_rows_and_new_weights_are_rescored(tmp_path, analytic_reader):
    config = PairConfig(overlap_min=0.5, overlap_max=0.9, offsets=(3, -3), max_side=None)
    store = SampleStore(tmp_path / "samples")
    manifest = load_or_build_manifest(tmp_path / "pairs.json", analytic_reader, "analytic", None, config, 3, store)
    csv_path = tmp_path / "pairs.csv"
    a, b = Counting("a"), Counting("net", "v1")
    rows = run(analytic_reader, "analytic", manifest, config, [a, b], csv_path, store=store, progress=False)
    assert len(rows) == 6 and a.calls == b.calls == 3
    assert [r["method"] for r in rows] == ["a"] * 3 + ["net"] * 3  # asked-for order

    a2, b2 = Counting("a"), Counting("net", "v1")
    rows2 = run(analytic_reader, "analytic", manifest, config, [a2, b2], csv_path, store=store, progress=False)
    assert a2.calls == b2.calls == 0 and len(rows2) == 6

    b3 = Counting("net", "v2")  # the same name with other weights: scored again, old rows left out
    rows3 = run(analytic_reader, "analytic", manifest, config, [Counting("a"), b3], csv_path, store=store,
                progress=False)  # fmt: skip
    assert b3.calls == 3 and len(rows3) == 6
    assert {r["method_version"] for r in rows3 if r["method"] == "net"} == {"v2"}
    assert len(read_pair_rows(csv_path)) == 9
