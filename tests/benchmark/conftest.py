"""Fixtures of the benchmark tests; the analytic scene itself lives in ``bench_scene.py``."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bench_scene import AnalyticReader  # noqa: E402


@pytest.fixture
def analytic_reader():
    return AnalyticReader()
