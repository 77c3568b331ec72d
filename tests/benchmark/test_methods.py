"""Method names resolve through the backend registry: a checkpoint folder (``ckpt:DIR``) and monocular depth
from it aligned to the known pixels (``aligned-mono:ckpt:DIR``), scored like any baseline."""

import numpy as np
import pytest
import torch
from bench_scene import analytic_frame

from benchmark.methods import Baseline, build_method, timed_predict
from benchmark.metrics import score
from benchmark.pairs import Pair, make_sample
from core.errors import InputError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A freshly initialised (untrained) depth network saved the way `gld8tr train` saves one."""
    from core.depthnet import DepthCompletionNet, DepthNetConfig

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("ckpt")
    DepthCompletionNet(DepthNetConfig(base_channels=8)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def sample():
    return make_sample(analytic_frame(0.4, "a"), analytic_frame(0.0, "b"), Pair("wall", "a", "b", 0.0), 0.05)


@pytest.mark.parametrize("prefix", ["ckpt:", "aligned-mono:ckpt:"])
def test_checkpoint_methods_complete_the_hole_and_keep_the_known_depth(checkpoint, sample, prefix):
    spec = f"{prefix}{checkpoint}"
    method = build_method(spec)
    assert isinstance(method, Baseline) and method.name == spec
    depth, seconds = timed_predict(method, sample)
    assert depth.shape == sample.gt.shape and np.isfinite(depth).all() and (depth > 0).all()
    assert seconds > 0
    np.testing.assert_allclose(depth[sample.known_mask], sample.known_depth[sample.known_mask], rtol=1e-5)
    s = score(depth, sample.gt, sample.known_mask)
    assert s["n_hole"] > 0 and s["mae_hole"] > 0  # an untrained net is not the ground truth


def test_unknown_method_is_an_input_error():
    with pytest.raises(InputError, match="unknown depth completer"):
        build_method("no-such-method")


def test_weights_version_follows_the_checkpoint_file(checkpoint):
    import hashlib

    from benchmark.methods import weights_version
    from core.depthnet.model import INFERENCE_REVISION

    expected = hashlib.sha1((checkpoint / "model.safetensors").read_bytes()).hexdigest()[:10]
    expected += f"-r{INFERENCE_REVISION}"
    assert weights_version(f"ckpt:{checkpoint}") == expected
    assert weights_version(f"aligned-mono:ckpt:{checkpoint}") == expected
    assert weights_version("nearest") == ""
