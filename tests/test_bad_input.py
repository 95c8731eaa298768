"""No traceback for bad input: the ordinary mistakes that ended in one, each now one line
naming the file or setting; and the last line of defence, for whatever is still a bug."""

from __future__ import annotations

import json
import shutil

import pytest

from spndl import cli
from spndl.cli import main


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# Kind: more folds than subjects.
def test_more_folds_than_subjects_is_one_line(synth_root, tmp_path, capsys):
    out = tmp_path / "prep"
    assert main(["prepare", "--dataset", "ckplus", "--root", str(synth_root / "ckplus"), "--out", str(out),
                 "--size", "16", "--folds", "50"]) == 2
    assert "subjects cannot fill 50 subject-independent folds" in _err(capsys) and not out.exists()


@pytest.fixture(scope="module")
def one_run(prepared, tmp_path_factory):
    """A one-epoch CK+ baseline run, shared by the tests that only read it."""
    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(run), "--variant", "baseline",
                 "--fold", "0", "--set", "train.epochs=1", "--set", "data.size=32",
                 "--set", "train.batch_size=16"]) == 0
    return run


# Kind: an unknown --device, or a GPU this machine does not have.
@pytest.mark.parametrize("device, says", [("banana", "'banana': not a device; use auto, cpu, cuda or cuda:N"),
                                          ("meta", "spndl runs on cpu or cuda"),
                                          ("cuda:7", "device cuda:7: ")])
def test_an_unknown_device_is_one_line(prepared, one_run, tmp_path, capsys, device, says):
    data = prepared["ckplus"][1]
    run = one_run
    capsys.readouterr()
    out = tmp_path / "f.npz"
    assert main(["features", "--checkpoint", str(run / "checkpoint.pt"), "--data", str(data), "--out", str(out),
                 "--device", device]) == 2
    assert says in _err(capsys) and not out.exists()


# Kind: a truncated metrics.json, or a run given twice, to `spndl tables`.
def test_tables_refuse_a_truncated_metrics_file_and_a_run_given_twice(one_run, tmp_path, capsys):
    run = one_run
    capsys.readouterr()
    assert main(["tables", "--run", str(run), "--run", str(run), "--out", str(tmp_path / "t")]) == 2
    assert "the same run (ckplus, baseline, 0, 0, same settings) as" in _err(capsys)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)  # a copy is the same run too
    assert main(["tables", "--run", str(run), "--run", str(copy), "--out", str(tmp_path / "t")]) == 2
    assert "the same run" in _err(capsys)
    text = (copy / "metrics.json").read_text()
    (copy / "metrics.json").write_text(text[: len(text) // 2])
    assert main(["tables", "--run", str(copy), "--out", str(tmp_path / "t")]) == 2
    assert f"{copy / 'metrics.json'}: not the metrics of a finished run of spndl train (truncated or not JSON)" \
        in _err(capsys)
    (copy / "metrics.json").write_text(json.dumps({"dataset": "ckplus"}))
    assert main(["tables", "--run", str(copy), "--out", str(tmp_path / "t")]) == 2
    assert "(no field 'variant')" in _err(capsys)
    assert not (tmp_path / "t").exists()


# Kind: a run folder mixing two runs: one run's checkpoint beside another's metrics.json.
def test_a_folder_mixing_two_datasets_runs_is_refused_by_predict_and_export(prepared, tmp_path, capsys):
    runs = {}
    for ds, fold in (("ckplus", ["--fold", "0"]), ("rafdb", [])):
        runs[ds] = tmp_path / ds
        assert main(["train", "--data", str(prepared[ds][1]), "--out", str(runs[ds]), "--variant", "baseline",
                     *fold, "--set", "train.epochs=1", "--set", "data.size=32", "--set", "train.batch_size=16"]) == 0
    mixed = tmp_path / "mixed"
    shutil.copytree(runs["ckplus"], mixed)
    shutil.copy(runs["rafdb"] / "checkpoint.pt", mixed / "checkpoint.pt")
    capsys.readouterr()
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(mixed), "--out", str(out)]) == 2
    err = _err(capsys)
    assert "a checkpoint of dataset 'rafdb'" in err and "is of dataset 'ckplus'; the folder mixes two runs" in err
    assert not out.exists()


# The last line of defence: an exception that is a bug is still one line, with the traceback
# in a file whose path it prints; --debug shows it instead.
def test_an_unexpected_error_is_one_line_with_its_traceback_in_a_file(tmp_path, capsys, monkeypatch):
    def broken(a):
        raise TypeError("an example bug")

    monkeypatch.setenv("SPNDL_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "cmd_synth", broken)
    assert main(["synth", "--out", str(tmp_path / "s")]) == 1
    err = _err(capsys)
    assert len(err.strip().splitlines()) == 1 and "unexpected error: TypeError: an example bug" in err
    logs = sorted(tmp_path.glob("spndl-synth-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    assert "Traceback" in logs[0].read_text() and "an example bug" in logs[0].read_text()
    with pytest.raises(TypeError, match="an example bug"):
        main(["synth", "--out", str(tmp_path / "s"), "--debug"])


# Kind: a named pipe under a frame's name (it would block the image decoder for ever).
def test_a_named_pipe_among_the_frames_is_an_exclusion_not_a_hang(synth_root, tmp_path):
    import os
    import subprocess
    import sys

    import pandas as pd

    root = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", root)
    label = sorted(root.glob("Emotion/*/*/*_emotion.txt"))[0]  # a labelled sequence's last frame: a peak
    frame = sorted((root / "cohn-kanade-images" / label.parent.parent.name / label.parent.name).glob("*.png"))[-1]
    frame.unlink()
    os.mkfifo(frame)
    out = tmp_path / "prep"
    for cmd in (["check-data", "--dataset", "ckplus", "--root", str(root), "--allow-deviation"],
                ["prepare", "--dataset", "ckplus", "--root", str(root), "--out", str(out), "--size", "16"]):
        r = subprocess.run([sys.executable, "-m", "spndl", *cmd], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    excl = pd.read_csv(out / "exclusions.csv")
    assert "not a regular file" in excl.loc[excl["path"] == str(frame), "reason"].iloc[0]
