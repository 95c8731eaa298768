"""MODEL_CARD.md of a finished run: what the model is, what it scored, what it is for and not for."""

from __future__ import annotations

import shlex
from pathlib import Path

from spndl.variants import VARIANTS

_WHAT = {
    "none": "a ResNet-18 that classifies the peak-expression photo alone (the paper's baseline)",
    "neutral": "a ResNet-18 that classifies the difference between the features of a peak-expression photo "
               "and a neutral photo of the same person (NDF, eq. 3)",
    "learned": "two ResNet-18s whose feature difference f(x) - f'(x) is classified, with no neutral photo "
               "(eq. 8)",
}


def model_card(metrics: dict, settings: dict, run: Path) -> str:
    """The card's Markdown text."""
    mode, spl = VARIANTS[metrics["variant"]]
    cfg = settings["config"]
    synthetic = bool(metrics.get("synthetic"))
    split = "RAF-DB's official train/test split" if metrics["fold"] is None else \
        f"test fold {metrics['fold']} of {metrics.get('n_folds') or 10} (subject-independent)"
    per_class = "\n".join(f"| {c} | {a:.3f} |" for c, a in metrics["per_class_accuracy"].items())
    absent = metrics.get("classes_absent_from_test") or []
    q = shlex.quote(str(run))
    neutral = " --neutral NEUTRAL.jpg" if mode == "neutral" else ""
    lines = [
        f"# Model card: {metrics['variant']} on {metrics['dataset']}" + (" (SYNTHETIC data)" if synthetic else ""),
        "",
        f"**Model.** {_WHAT[mode]}" + (", trained with class-wise self-paced learning (eqs. 9-12)" if spl else "")
        + f"; {len(metrics['classes'])} classes: {', '.join(metrics['classes'])}. "
        f"Input: a {metrics['image_size']} px face crop, RGB scaled to [0, 1] and normalised with the ImageNet "
        "mean and std. Starting weights: " + str(metrics.get("weights"))
        + (f" (sha256 {metrics['weights_sha256']})" if metrics.get("weights_sha256") else "") + ".",
        "",
        "**Data.** " + ("The embedded SYNTHETIC face dataset (drawn faces, not photos of people): these numbers "
                        "say nothing about real faces. " if synthetic else "")
        + f"{metrics['dataset']}, {split}, seed {metrics.get('seed')}; data checksum {metrics['data_checksum']}.",
        "",
        f"**Settings.** {metrics['epochs']} epochs, batch {cfg['train']['batch_size']}, Adam lr {cfg['train']['lr']}"
        + (f"; SPL start {cfg['spl']['start']}, step {cfg['spl']['step']}, {cfg['spl']['paces']} paces, "
           f"{cfg['spl'].get('warmup_epochs', 0)} warm-up epoch(s)" if spl else "")
        + ". The exact settings are in config.yaml beside this card.",
        "",
        f"**Accuracy.** {metrics['accuracy']:.4f} on {metrics['n_test']} test samples (the last epoch; no epoch "
        "was chosen on the test data). One fold and seed: the tables give the mean over runs with its interval.",
        "",
        "| class | accuracy |",
        "| --- | ---: |",
        per_class,
        "",
        *([f"Classes absent from this test part: {', '.join(absent)}.", ""] if absent else []),
        "**Intended use.** Research on facial expression recognition: reproducing and extending the SPNDL paper, "
        "and recognising the posed expressions of the dataset's classes in photos like its own.",
        "",
        "**Limits.** Trained on " + ("synthetic drawings; " if synthetic else "")
        + "posed expressions under laboratory conditions (CK+, Oulu-CASIA) or web photos (RAF-DB), a few hundred "
        "people; it knows only these classes and returns one of them for any face, expression or not. "
        + ("It needs a neutral photo of the same person, cropped the same way; another person's neutral photo "
           "gives worse results. " if mode == "neutral" else "")
        + "Not for decisions about people (hiring, policing, health, emotion 'detection'): a posed expression is "
        "not a felt emotion.",
        "",
        "**Use it.**",
        "",
        "```bash",
        f"spndl predict --checkpoint {q} --image PHOTO.jpg{neutral} --out predictions.csv",
        f"spndl predict --checkpoint {q} --video VIDEO.mp4 --every 5{neutral} --out frames.csv",
        f"spndl export --checkpoint {q} --out model.onnx",
        "```",
        "",
    ]
    return "\n".join(lines)
