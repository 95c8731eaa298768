"""Independent random streams for one run.

Model initialisation, data order, augmentation, the control pairing and the
SPL selection's tie-breaking each draw from their own generator, seeded from (seed, fold, stream). A fold's
result depends on nothing but its own settings, whichever other jobs ran
before or beside it, and changing the augmentation does not reshuffle the
data order.
"""

from __future__ import annotations

import numpy as np
import torch

STREAMS = {"init": 0, "order": 1, "augment": 2, "pairing": 3, "ties": 4, "score": 5}


def stream_seed(seed: int, fold: int, stream: str, *index: int) -> int:
    """The seed of one stream; ``index`` tells apart the draws of one stream (a pace's ties)."""
    ss = np.random.SeedSequence([seed, fold + 1, STREAMS[stream], *index])
    return int(ss.generate_state(1, np.uint64)[0] >> 1)


def generator(seed: int, fold: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(seed, fold, stream))
    return g
