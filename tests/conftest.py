"""Shared fixtures: the tiny synthetic datasets, generated and prepared once per test session."""

from __future__ import annotations

import os

from spndl.runtime.numerics import environment

# The default's CPU numerics (spndl.runtime.numerics) in this process and every command it starts,
# set before numpy, OpenCV and torch start: they read them once.
os.environ.update(environment("avx2", 1))

import pytest  # noqa: E402

from spndl.data.prepare import prepare  # noqa: E402
from spndl.synth import generate  # noqa: E402


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth") / "tiny", seed=0, size="tiny")


@pytest.fixture(scope="session")
def prepared(synth_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("prepared")
    return {d: (prepare(d, synth_root / d, base / d, size=32), base / d) for d in ("ckplus", "oulu", "rafdb")}


def pytest_collection_modifyitems(config, items):
    """The two whole-DAG modules first: with pytest-xdist's workers (pyproject's addopts) they
    start at once, beside the rest of the suite, instead of last and alone."""
    first = ("test_pipeline.py", "test_slurm.py")
    items.sort(key=lambda item: item.path.name not in first)  # a stable sort: the rest keep their order
