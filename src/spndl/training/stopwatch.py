"""Seconds spent in the named parts of a training run (benchmarks/profile_job.py reads them).

``train`` times its parts with ``Stopwatch.part``; the default stopwatch only adds up
perf_counter differences, so a run that nobody profiles pays nothing measurable. On a
GPU, a part ends with a device synchronisation only when ``sync`` is set: otherwise the
asynchronous kernels of one part would be counted in the next.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator


class Stopwatch:
    def __init__(self, sync: Callable[[], None] | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._sync = sync

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self._sync is not None:
                self._sync()
            self.seconds[name] += time.perf_counter() - t0
            self.counts[name] += 1

    def table(self) -> list[dict]:
        """One row per part, in the order first timed: name, calls, seconds."""
        return [{"part": k, "calls": self.counts[k], "seconds": round(v, 3)} for k, v in self.seconds.items()]
