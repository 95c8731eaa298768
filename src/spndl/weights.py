"""Initial backbone weights: none (random, offline), torchvision's ImageNet, or an MS-Celeb-1M checkpoint.

The paper fine-tunes a ResNet-18 pretrained on ImageNet (section 4.2) or on
MS-Celeb-1M (section 3.2). The community MS-Celeb-1M file is a dict with a
``state_dict`` entry whose keys may carry a ``module.`` prefix (saved from
DataParallel) and whose ``fc.*`` head belongs to face identification.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models import ResNet18_Weights

from spndl.checkpoint import CheckpointError
from spndl.checkpoint import load as load_checkpoint
from spndl.fsutil import sha256_file
from spndl.model import SPNDLNet, backbone


class WeightsError(ValueError):
    pass


def imagenet_state() -> tuple[dict, str]:
    """torchvision's ImageNet weights from the torch cache (downloaded there if a network exists)."""
    w = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
    try:
        state = w.get_state_dict(progress=False, check_hash=True)
    except OSError as e:  # no network (URLError), or a refused download
        raise WeightsError(f"imagenet: {cached} is not in the torch cache and downloading {w.url} failed ({e}); "
                           "copy the file there from a machine with a network") from None
    return state, sha256_file(cached)


def checkpoint_state(path: str | Path) -> tuple[dict, str]:
    """A ResNet-18 state dict from a checkpoint file in the common MS-Celeb-1M format."""
    path = Path(path)
    try:
        obj = load_checkpoint(path, "weight file")
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict (or a dict with 'state_dict'), found {type(obj).__name__}")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors, found other values")
    return {k.removeprefix("module."): v for k, v in obj.items()}, sha256_file(path)


def backbone_state(spec: str) -> tuple[dict | None, str]:
    """(state dict without the fc head, sha256 of the file) for a weights setting."""
    if spec == "none":
        return None, ""
    state, digest = imagenet_state() if spec == "imagenet" else checkpoint_state(spec)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = backbone().state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or shapes:
        raise WeightsError(
            f"{spec}: not a ResNet-18 backbone: missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}, "
            f"shape mismatches {shapes[:8]}")
    return state, digest


def weights_for(model: dict, reference_mode: str) -> str:
    """The starting weights of a variant (``model``: the settings' model section): its
    ``weights_wo_neutral`` for the two learned backbones of eq. 8 (section 3.2: MS-Celeb-1M) where
    set, its ``weights`` otherwise."""
    own = model.get("weights_wo_neutral")
    return own if reference_mode == "learned" and own is not None else model["weights"]


def init_weights(model: SPNDLNet, spec: str) -> str:
    """Load ``spec`` into the model's backbone(s); returns the weight file's sha256 ('' for none)."""
    state, digest = backbone_state(spec)
    if state is not None:
        model.load_backbone(state)
    return digest
