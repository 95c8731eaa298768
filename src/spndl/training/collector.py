"""Python's cyclic garbage collector kept out of the training steps.

A training step allocates thousands of short-lived Python objects (autograd nodes, tensor
wrappers), and each allocation burst triggers a collection that walks every tracked object,
the model's and the data's included: about a tenth of a step's time at the default's
sizes (benchmarks/cpu_numerics.py --gc measures it). Reference counting frees a step's
objects without the collector, so it can wait: ``settle`` moves what set-up built out of its
reach (``gc.freeze``), and ``paused`` disables it for an epoch and collects once after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle() -> None:
    """Collect once, then exempt every object alive now (the model, the data) from later passes."""
    gc.collect()
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block; one full collection when it ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()
