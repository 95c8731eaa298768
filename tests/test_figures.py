"""Figures 5 and 6 from run folders: epoch curves and SPL's pace boundaries after the warm-up."""

import json

import pandas as pd
from PIL import Image

from spndl.report.figures import fig5_paces, fig6_losses, pace_spans, run_history


def _run(root, name, paces, variant):
    d = root / name
    d.mkdir()
    n = len(paces)
    pd.DataFrame({"epoch": range(1, n + 1), "pace": paces, "train_loss": [2.0 - 0.1 * e for e in range(n)],
                  "test_accuracy": [0.2 + 0.05 * e for e in range(n)]}).to_csv(d / "history.csv", index=False)
    (d / "metrics.json").write_text(json.dumps({"dataset": "oulu", "fold": 0, "seed": 0, "synthetic": True,
                                                "variant": variant, "accuracy": 0.2 + 0.05 * (n - 1), "epochs": n,
                                                "classes": ["anger", "happy"], "confusion_matrix": [[1, 0], [0, 1]]}))
    return d


def test_pace_spans_start_after_the_warm_up_and_the_figures_draw(tmp_path):
    spl = _run(tmp_path, "spl", [0, 1, 1, 2, 3], "spl")
    spndl = _run(tmp_path, "spndl", [0, 1, 1, 2, 3], "spndl")
    base = _run(tmp_path, "base", [1] * 5, "baseline")
    ndf = _run(tmp_path, "ndf", [1] * 5, "ndf")
    assert pace_spans(run_history(spndl, ())) == {0: (1, 1), 1: (2, 3), 2: (4, 4), 3: (5, 5)}
    assert pace_spans(run_history(base, ())) == {1: (1, 5)}
    for out, draw in ((tmp_path / "f5.png", lambda o: fig5_paces(spl, spndl, base, ndf, o)),
                      (tmp_path / "f6.png", lambda o: fig6_losses(spndl, ndf, o))):
        draw(out)
        with Image.open(out) as im:
            assert im.format == "PNG" and im.size[0] > 300


def _titles(monkeypatch):
    """Every title and panel text of the figures drawn while the returned list is watched."""
    from spndl.report import figures

    seen = []
    save = figures._save

    def spy(fig, out):
        texts = [fig._suptitle.get_text() if fig._suptitle else ""]
        texts += [ax.get_title() for ax in fig.axes] + [t.get_text() for ax in fig.axes for t in ax.texts]
        seen.append("\n".join(texts))
        save(fig, out)

    monkeypatch.setattr(figures, "_save", spy)
    return seen


def test_a_bounded_runs_figures_state_the_bound_and_what_it_never_reached(tmp_path, monkeypatch):
    from spndl.report.figures import fig8_excluded, not_reached

    seen = _titles(monkeypatch)
    runs = {}
    for name, variant in (("spl", "spl"), ("spndl", "spndl"), ("base", "baseline"), ("ndf", "ndf")):
        runs[name] = _run(tmp_path, name, [0], variant)
        m = json.loads((runs[name] / "metrics.json").read_text())
        (runs[name] / "metrics.json").write_text(json.dumps({**m, "max_steps": 1}))
    (runs["spndl"] / "spl_selection.csv").write_text("pace,sample_id,label,loss,selected\n")
    fig5_paces(runs["spl"], runs["spndl"], runs["base"], runs["ndf"], tmp_path / "f5.png")
    fig6_losses(runs["spndl"], runs["ndf"], tmp_path / "f6.png")
    # No pace was scored: Fig. 8 says so instead of drawing an empty grid (its data are never read).
    fig8_excluded(runs["spndl"], tmp_path / "no-such-data", tmp_path / "f8.png")
    not_reached(json.loads((runs["spndl"] / "metrics.json").read_text()), "Fig. 7 embeds pace models",
                tmp_path / "f7.png")
    assert len(seen) == 4
    for text in seen:
        assert "REHEARSAL, NOT A RESULT: at most 1 optimiser step(s) per run (train.max_steps)" in text, text
        assert "SYNTHETIC data" in text
    assert "Not drawn" in seen[2] and "scored no pace" in seen[2] and "stopped after 1" in seen[3]


def test_an_unbounded_runs_figures_say_nothing_of_a_rehearsal(tmp_path, monkeypatch):
    seen = _titles(monkeypatch)
    spl = _run(tmp_path, "spl", [0, 1, 2], "spl")
    base = _run(tmp_path, "base", [1] * 3, "baseline")
    fig6_losses(spl, base, tmp_path / "f6.png")
    assert "REHEARSAL" not in seen[0] and "SYNTHETIC data" in seen[0]
