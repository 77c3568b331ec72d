"""The benchmark's own sanity checks on real data (Middlebury motorcycle, downsampled): a method that returns
the ground truth scores zero error, a constant-depth method scores worse than every baseline."""

import numpy as np
import pytest

from benchmark.methods import CompleterBaseline
from benchmark.pairs import PairConfig, SampleStore, load_or_build_manifest
from benchmark.report import summarize
from benchmark.runner import run
from core.backends.aligned_mono import AlignedMono
from core.backends.registry import build_depth_completer
from training.data.middlebury import MiddleburyReader


class Oracle:
    name = "oracle"

    def predict(self, sample):
        return sample.gt.copy()


class ConstantDepth:
    """The median known depth everywhere: the least a method can do with the known geometry."""

    name = "constant"

    def predict(self, sample):
        return np.full(sample.gt.shape, np.median(sample.known_depth[sample.known_mask]), np.float32)


class RoughMonoEstimator:
    """Test double of a monocular estimator: ground truth of the current view, blurred (sigma 3 px), holes filled
    and affinely distorted -- the kind of relative estimate aligned-mono must bring back into metres."""

    name = "rough-mono"

    def __init__(self):
        self.gt = None

    def __call__(self, image):
        from scipy import ndimage

        from core.backends.classical_fill import nearest_fill

        filled = nearest_fill(self.gt, self.gt > 0)
        return (0.4 * ndimage.gaussian_filter(filled, 3.0) + 1.0).astype(np.float32)


class AlignedRoughMono:
    name = "aligned-mono"

    def __init__(self):
        self.estimator = RoughMonoEstimator()
        self.completer = AlignedMono(self.estimator)

    def predict(self, sample):
        self.estimator.gt = sample.gt
        return self.completer(sample.image, sample.known_depth, sample.known_mask)


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    reader = MiddleburyReader(max_side=160)
    config = PairConfig(max_side=160)
    store = SampleStore(out / "samples")
    manifest = load_or_build_manifest(out / "pairs.json", reader, "middlebury", None, config, 3, store)
    assert len(manifest.pairs) == 3
    methods = [
        Oracle(),
        ConstantDepth(),
        CompleterBaseline("nearest", build_depth_completer("nearest")),
        CompleterBaseline("laplacian", build_depth_completer("laplacian")),
        AlignedRoughMono(),
    ]
    rows = run(reader, "middlebury", manifest, config, methods, out / "pairs.csv", store=store, progress=False)
    assert len(rows) == 3 * len(methods)
    return {s["method"]: s for s in summarize(rows)}


def test_ground_truth_scores_zero_error(summary):
    oracle = summary["oracle"]
    for key in ("mae_hole", "rmse_hole", "absrel_hole", "mae_seam", "mae_all"):
        assert oracle[key] == 0.0
    assert oracle["delta1_hole"] == 1.0


@pytest.mark.parametrize("baseline", ["nearest", "laplacian", "aligned-mono"])
def test_constant_depth_is_worse_than_every_baseline(summary, baseline):
    const, other = summary["constant"], summary[baseline]
    assert const["mae_hole"] > other["mae_hole"]
    assert const["rmse_hole"] > other["rmse_hole"]
    assert const["mae_all"] > other["mae_all"]


def test_seconds_per_pair_are_measured(summary):
    assert all(s["sec_per_pair"] > 0 for s in summary.values())
    assert summary["laplacian"]["sec_per_pair"] > summary["oracle"]["sec_per_pair"]
