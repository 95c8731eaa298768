"""The SPNDL network: a torchvision ResNet-18 and a linear head over (differences of) pooled features.

Three reference modes (section 3.2):

* ``none``: the baseline, V = f(x_tar) (eq. 7 on the target alone).
* ``neutral``: target and neutral reference pass through *one* backbone in
  one batch, so every BatchNorm layer computes its statistics over the joint
  target+reference batch (eqs. 4-6); the NDF is V_tar - V_ref (eq. 3).
* ``learned``: no neutral image; two trainable ResNet-18s from the same
  initial weights give f(x) - f'(x) (eq. 8, Figure 3).

A linear layer maps the feature to class logits (eq. 11).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models import resnet18

REFERENCE_MODES = ("none", "neutral", "learned")
FEATURE_DIM = 512  # ResNet-18's pooled feature width


def backbone() -> nn.Module:
    """torchvision's ResNet-18 with its classifier removed: image -> 512-d pooled feature."""
    net = resnet18(weights=None)
    net.fc = nn.Identity()
    return net


class SPNDLNet(nn.Module):
    def __init__(self, num_classes: int, reference: str = "neutral"):
        super().__init__()
        if reference not in REFERENCE_MODES:
            raise ValueError(f"unknown reference mode {reference!r}; choose one of {REFERENCE_MODES}")
        self.reference = reference
        self.backbone = backbone()
        # f' of eq. 8 starts as a copy of f: at the start V_tar and V_ref are almost equal,
        # and the model learns what to subtract (section 3.2).
        self.neutral_backbone = copy.deepcopy(self.backbone) if reference == "learned" else None
        self.fc = nn.Linear(FEATURE_DIM, num_classes)

    def load_backbone(self, state: dict[str, torch.Tensor]) -> None:
        """Load pretrained backbone weights into f (and f', which starts equal to f)."""
        self.backbone.load_state_dict(state, strict=True)
        if self.neutral_backbone is not None:
            self.neutral_backbone.load_state_dict(state, strict=True)

    def features(self, target: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """The feature the head classifies: pooled V (none) or the NDF V_exp-d (eq. 3 / eq. 8)."""
        if self.reference == "none":
            return self.backbone(target)
        if self.reference == "learned":
            return self.backbone(target) - self.neutral_backbone(target)  # eq. 8
        if reference is None:
            raise ValueError("reference mode 'neutral' needs a reference image per target")
        # BN sees target and reference in one batch: eqs. 4-6 normalise them jointly.
        v = self.backbone(torch.cat([target, reference]))
        v_tar, v_ref = v.chunk(2)
        return v_tar - v_ref  # eq. 3

    def forward(self, target: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.features(target, reference))  # eq. 11 logits
