"""Figures 5 and 6 from run folders: epoch curves and SPL's pace boundaries after the warm-up."""

import json

import pandas as pd
from PIL import Image

from spndl.report.figures import fig5_paces, fig6_losses, pace_spans


def _run(root, name, paces, variant):
    d = root / name
    d.mkdir()
    n = len(paces)
    pd.DataFrame({"epoch": range(1, n + 1), "pace": paces, "train_loss": [2.0 - 0.1 * e for e in range(n)],
                  "test_accuracy": [0.2 + 0.05 * e for e in range(n)]}).to_csv(d / "history.csv", index=False)
    (d / "metrics.json").write_text(json.dumps({"dataset": "oulu", "fold": 0, "synthetic": True, "variant": variant,
                                                "accuracy": 0.2 + 0.05 * (n - 1)}))
    return d


def test_pace_spans_start_after_the_warm_up_and_the_figures_draw(tmp_path):
    spl = _run(tmp_path, "spl", [0, 1, 1, 2, 3], "spl")
    spndl = _run(tmp_path, "spndl", [0, 1, 1, 2, 3], "spndl")
    base = _run(tmp_path, "base", [1] * 5, "baseline")
    ndf = _run(tmp_path, "ndf", [1] * 5, "ndf")
    assert pace_spans(spndl) == {0: (1, 1), 1: (2, 3), 2: (4, 4), 3: (5, 5)}
    assert pace_spans(base) == {1: (1, 5)}
    for out, draw in ((tmp_path / "f5.png", lambda o: fig5_paces(spl, spndl, base, ndf, o)),
                      (tmp_path / "f6.png", lambda o: fig6_losses(spndl, ndf, o))):
        draw(out)
        with Image.open(out) as im:
            assert im.format == "PNG" and im.size[0] > 300
