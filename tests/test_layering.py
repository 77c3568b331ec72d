"""The package layering, checked on the source: every import statement of every module (top level or inside a
function, since a lazy import is still a dependency) must point down the stack.

    gld8tr  (CLI, composition roots)
    api     worker        (HTTP; execution)      -- never each other
    service               (job domain, torch-free)
    core                  (library)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("core", "service", "api", "worker", "gld8tr", "training", "benchmark")
FORBIDDEN: dict[str, set[str]] = {
    "core": {"service", "api", "worker", "gld8tr", "training", "benchmark"},
    "service": {"api", "worker", "gld8tr", "training", "benchmark"},
    "api": {"worker", "gld8tr", "training", "benchmark"},
    "worker": {"api", "gld8tr", "training", "benchmark"},
}
# Third-party packages a layer must not pull in (service is shared by the light API process).
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "service": {"torch", "fastapi", "starlette"},
    "api": {"torch"},
}
# core modules the torch-free layers may use: anything else under core/ may import torch.
TORCH_FREE_CORE = {"core", "core.errors", "core.modes", "core.io", "core.io.image", "core.io.depth", "core.viewer"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by ``path`` (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((REPO / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer: str) -> None:
    bad = []
    for path in _modules(layer):
        for module, line in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[layer] or top in FORBIDDEN_THIRD_PARTY.get(layer, set()):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", ["service", "api"])
def test_torch_free_layers_use_only_torch_free_core(layer: str) -> None:
    bad = []
    for path in _modules(layer):
        for module, line in _imports(path):
            if module.split(".")[0] != "core":
                continue
            if not any(module == m or module.startswith(m + ".") for m in TORCH_FREE_CORE):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_fill_module_breaks_the_classical_fill_depthnet_cycle() -> None:
    def deps(rel: str) -> set[str]:
        return {m for m, _ in _imports(REPO / rel)}

    assert not any(m.startswith("core.backends") for p in _modules("core/depthnet") for m, _ in _imports(p))
    assert not any(m.startswith(("core.backends", "core.depthnet")) for m in deps("core/fill.py"))
    assert not any(m.startswith("core.backends") for m in deps("core/masks.py"))


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The walk must not be blind to an import inside a function (the usual way a cycle sneaks in)."""
    probe = REPO / "api" / "_layering_probe.py"
    probe.write_text("def f():\n    from worker.execute import execute_job\n    from . import deps\n")
    try:
        names = [m for m, _ in _imports(probe)]
    finally:
        probe.unlink()
    assert "worker.execute" in names and "api.deps" in names
