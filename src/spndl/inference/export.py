"""Export a trained run as an ONNX graph, with the run's preprocessing in its metadata.

Inputs are named ``target`` (and ``reference``, the neutral photo, for the NDF
variants): float32 (batch, 3, S, S), face crops scaled to [0, 1] and normalised
with the ImageNet mean and std stored in the metadata; the batch is dynamic.
Outputs are ``logits`` and ``probabilities`` over the classes in the metadata's
order. The graph is the eval-mode model: BatchNorm uses its running statistics,
so the target and reference pass the backbone separately, with the same result
as the joint batch of training would give in eval mode.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from spndl.batching import MEAN, STD
from spndl.data.records import DataError
from spndl.inference.run import TrainedRun, load_run
from spndl.ownership import check_output_file, output_file
from spndl.runtime.kernels import uninstall


class _Graph(nn.Module):
    """What the ONNX graph computes: logits and probabilities from normalised images."""

    def __init__(self, run: TrainedRun):
        super().__init__()
        uninstall(run.model)  # the graph holds torch's own Conv and Gemm operators, never spndl's GEMM
        self.model = run.model

    def forward(self, target: torch.Tensor, reference: torch.Tensor | None = None):
        m = self.model
        if m.reference == "neutral":
            v = m.backbone(target) - m.backbone(reference)  # eq. 3, eval mode
        else:
            v = m.features(target)
        logits = m.fc(v)
        return logits, logits.softmax(1)


def metadata(run: TrainedRun) -> dict[str, str]:
    """What a user of the .onnx file needs to feed it as the run was trained."""
    mt = run.metrics
    return {
        "spndl_variant": run.variant,
        "classes": json.dumps(run.classes),
        "image_size": str(run.image_size),
        "input_scale": "RGB uint8 / 255, then (x - mean) / std per channel",
        "mean": json.dumps(MEAN.flatten().tolist()),
        "std": json.dumps(STD.flatten().tolist()),
        "inputs": "target" + (", reference (a neutral photo of the same person)" if run.needs_neutral else ""),
        "face_crop": "OpenCV's Haar frontal-face cascade (haarcascade_frontalface_alt2), box resized with INTER_AREA",
        "dataset": str(mt.get("dataset")),
        "synthetic": str(bool(mt.get("synthetic"))),
        "data_checksum": str(mt.get("data_checksum")),
        "fold": str(mt.get("fold")),
        "seed": str(mt.get("seed")),
        "accuracy": f"{mt.get('accuracy')}",
        "n_test": str(mt.get("n_test")),
    }


def export_onnx(run_path: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write ``out`` (.onnx) for the run; an existing file is replaced only where spndl wrote
    it, or with ``force`` (spndl.ownership)."""
    import onnx

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise DataError(f"{out}: the output must end in .onnx")
    check_output_file(out, force)  # before the minutes of exporting; output_file checks again
    run = load_run(run_path)
    graph = _Graph(run).eval()
    s = run.image_size
    example = (torch.zeros(2, 3, s, s),) + ((torch.zeros(2, 3, s, s),) if run.needs_neutral else ())
    names = ["target", "reference"][:len(example)]
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        # Both inputs share the batch axis; the exporter says it keeps one name for it.
        warnings.filterwarnings("ignore", message=r".*shares the same shape constraints.*")
        program = torch.onnx.export(graph, example, input_names=names, output_names=["logits", "probabilities"],
                                    dynamic_shapes={n: {0: batch} for n in names}, dynamo=True, verbose=False)
    proto = program.model_proto
    for k, v in metadata(run).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    with output_file(out, force) as tmp:
        onnx.save_model(proto, str(tmp))
    return {"path": str(out), "bytes": out.stat().st_size, "inputs": names}
