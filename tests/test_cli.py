"""The ``spndl`` command end to end on the tiny synthetic data."""

import json

import numpy as np
import pandas as pd
import pytest

from spndl.cli import main

pytestmark = pytest.mark.slow


def test_prepare_train_features_through_the_cli(synth_root, tmp_path, capsys):
    prep = tmp_path / "prep"
    assert main(["prepare", "--dataset", "oulu", "--root", str(synth_root / "oulu"), "--out", str(prep),
                 "--size", "32", "--fold-rule", "stratified"]) == 0
    assert "samples per class" in capsys.readouterr().out
    assert json.loads((prep / "dataset.json").read_text())["fold_rule"] == "stratified"
    run = tmp_path / "run"
    assert main(["train", "--data", str(prep), "--variant", "spl", "--fold", "4", "--out", str(run),
                 "--set", "train.epochs=3", "--set", "spl.paces=2", "--set", "spl.step=0.5",
                 "--set", "train.batch_size=16"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["variant"] == "spl" and out["fold"] == 4
    assert out["accuracy"] == json.loads((run / "metrics.json").read_text())["accuracy"]
    assert main(["features", "--checkpoint", str(run / "checkpoint.pt"), "--data", str(prep),
                 "--out", str(tmp_path / "f.npz"), "--part", "test"]) == 0
    f = np.load(tmp_path / "f.npz")
    assert len(f["sample_id"]) == out["n_test"] == len(pd.read_csv(run / "predictions.csv"))


def test_bad_input_exits_with_a_message_naming_the_path(tmp_path, capsys, prepared):
    missing = tmp_path / "nowhere"
    assert main(["prepare", "--dataset", "rafdb", "--root", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "not a folder" in err
    assert main(["train", "--data", str(tmp_path), "--variant", "ndf", "--fold", "0", "--out", str(tmp_path / "r"),
                 "--set", "train.epoch=3"]) == 2
    assert "unknown setting" in capsys.readouterr().err
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--variant", "spndl", "--fold", "0",
                 "--out", str(tmp_path / "r"), "--set", "train.epochs=3"]) == 2
    assert "train.epochs=3: 2 epochs after 1 warm-up epoch(s) cannot be divided among 6 SPL paces" in \
        capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--image", "a.png", "b.png"], ["--image", "a.png", "--image", "b.png"],
                                  ["--image", "a.png", "--image", "b.png", "c.png"]])
def test_every_image_given_to_predict_is_kept_however_it_is_repeated(argv):
    from spndl.cli import parser

    args = parser().parse_args(["predict", "--checkpoint", "run", *argv])
    assert args.image == [a for a in argv if a != "--image"]
