"""The `gld8tr` entry point dispatches to subcommands and turns user errors into exit code 2."""

import subprocess
import sys


def _gld8tr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gld8tr", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    res = _gld8tr("--help")
    assert res.returncode == 0
    for name in ("run", "train", "benchmark", "serve", "worker", "models", "view"):
        assert name in res.stdout


def test_unknown_command_exits_2_without_traceback():
    res = _gld8tr("frobnicate")
    assert res.returncode == 2
    assert "unknown command" in res.stderr
    assert "Traceback" not in res.stderr


def _photo(path) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_bad_backend_specs_are_one_line_errors_with_exit_2(tmp_path, capsys):
    """Every mistake in a registry spec is the user's: one line on stderr and exit 2, never a traceback."""
    from gld8tr.cli import main

    photo = _photo(tmp_path / "p.png")
    for flag, spec, words in (
        ("--depth-model", "nearest:foo", "takes no argument"),
        ("--depth-model", "laplacian:x", "takes no argument"),
        ("--depth-model", "nosuchmodel", "unknown depth completer"),
        ("--depth-model", "ckpt:", "needs a checkpoint"),
        ("--inpainter", "patchmatch:4", "odd patch size"),
        ("--inpainter", "", "empty backend name"),
    ):
        code = main(["run", "--image", photo, "--mode", "stage", "--device", "cpu", "--no-progress", flag, spec,
                     "-o", str(tmp_path / "out.ply")])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip() and " INFO " not in ln]
        assert code == 2 and len(lines) == 1, (spec, err)
        assert lines[0].startswith("gld8tr run: error:") and words in lines[0], (spec, lines)
        assert not (tmp_path / "out.ply").exists()


def test_bad_spec_through_the_real_entry_point_has_no_traceback(tmp_path):
    res = _gld8tr("run", "--image", _photo(tmp_path / "p.png"), "--depth-model", "nearest:foo", "--device", "cpu",
                  "-o", str(tmp_path / "out.ply"))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "gld8tr run: error: the 'nearest' depth completer takes no argument, got 'foo'"
    )


def test_run_help_does_not_import_torch():
    code = (
        "import sys\nfrom gld8tr.cli import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'fastapi' not in sys.modules, 'heavy import for --help'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--depth-model" in res.stdout


def test_device_mistakes_are_input_errors():
    import pytest

    from core.errors import InputError
    from core.vram import resolve_device

    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
