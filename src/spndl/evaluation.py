"""Score a part of the data in eval mode, without augmentation: per-sample losses with
the probabilities (a run's predictions; SPL's scores at a pace's start, eq. 10) or the
features V_tar - V_ref (eq. 3). Training and the inference package both call it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spndl.batching import Batches, Part
from spndl.model import SPNDLNet
from spndl.runtime.devices import gpu_path

__all__ = ["autocast", "predict"]


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on a GPU where the run asks for it (train.amp); full precision on the CPU
    (spndl.runtime.devices.gpu_path: the tests take the GPU's branch on the CPU too)."""
    if gpu_path(device) and enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def predict(model: SPNDLNet, batches: Batches, part: Part, batch_size: int, amp: bool,
            features: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample loss, probabilities or features) over a part, in eval mode, no augmentation."""
    model.eval()
    losses, outs = [], []
    n = len(part.labels)
    for i in range(0, n, batch_size):
        idx = torch.arange(i, min(n, i + batch_size), device=batches.device)
        t, r, y = batches.get(part, idx)
        with autocast(batches.device, amp):
            v = model.features(batches.normalise(t), batches.normalise(r))
            logits = model.fc(v)
        logits = logits.float()
        losses.append(F.cross_entropy(logits, y, reduction="none").cpu())
        outs.append(v.float().cpu() if features else logits.softmax(1).cpu())
    return torch.cat(losses), torch.cat(outs)
