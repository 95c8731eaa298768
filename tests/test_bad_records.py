"""Records and inputs a user may have been given or got wrong: nothing is written outside an
output, no figure is drawn from a broken record, and each case is one line naming the file
or setting (docs/reliability.md lists every kind)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from spndl import cli, configuration
from spndl.cli import main
from spndl.config import ConfigError, load_config
from spndl.data.prepare import prepare
from spndl.data.records import DataError
from spndl.report.runkey import parse_run_path, run_key
from spndl.report.snapshot import publish, snapshot_meta

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "results" / "synthetic_full"
A_RUN = "ckplus/baseline/fold0/seed0"


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err
    return err


def _tree(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its size: what a command may not change."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")}


# Kind: a record whose dataset, variant, fold or seed is a path out of the output.
@pytest.mark.parametrize("field, value", [("dataset", "../../../victim/x"), ("variant", "../../victim"),
                                          ("fold", "../../victim"), ("seed", "1/../../../victim"),
                                          ("dataset", "ckplus\n"), ("seed", 2**40), ("fold", "²")])
def test_run_keys_are_checked_where_a_record_is_read(field, value):
    good = {"dataset": "ckplus", "variant": "spndl", "fold": 3, "seed": 0}
    assert run_key(**good, where="x").path == "ckplus/spndl/fold3/seed0"
    with pytest.raises(DataError, match=f"^rec.json: {field} .* is not "):
        run_key(**{**good, field: value}, where="rec.json")
    assert parse_run_path("rafdb/ndf_wo_neutral/split/seed2", "s").path == "rafdb/ndf_wo_neutral/split/seed2"
    for bad in ("../ckplus/baseline/fold0/seed0", "ckplus/baseline/fold0/seed0/..", "ckplus/x/fold0/seed0"):
        with pytest.raises(DataError, match="snapshot.json: "):
            parse_run_path(bad, "snapshot.json")


def test_crafted_records_make_no_command_write_outside_its_output(tmp_path, capsys):
    """publish, tables, verify and figure, each given records with '../' in every field: each
    fails with one line, and nothing outside its output (and the temporary folder) changes."""
    work = tmp_path / "work"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("the user's file\n")
    # A run folder whose metrics.json names a dataset, variant, fold and seed out of the tree.
    run = work / "given-run"
    shutil.copytree(SNAPSHOT / "runs" / A_RUN, run)
    m = json.loads((run / "metrics.json").read_text())
    crafted = {"dataset": "../../../victim/d", "variant": "../../victim/v", "fold": "../../victim", "seed": "../x"}
    snap = work / "snap"
    shutil.copytree(SNAPSHOT, snap)
    meta = json.loads((snap / "snapshot.json").read_text())
    (snap / "snapshot.json").write_text(json.dumps({**meta, "runs": ["../../victim/v/fold0/seed0"]}))
    before = _tree(tmp_path)
    for field, value in crafted.items():
        (run / "metrics.json").write_text(json.dumps({**m, field: value}))
        out = work / f"tables-{field}"
        assert main(["tables", "--run", str(run), "--out", str(out)]) == 2
        assert f"{run / 'metrics.json'}: {field} " in _err(capsys) and not out.exists()
        for fig, args in (("4", ["--run", str(run)]), ("6", ["--with-spl", str(run), "--without-spl", str(run)])):
            png = work / f"fig{fig}-{field}.png"
            assert main(["figure", fig, *args, "--out", str(png)]) == 2
            assert f"{field} " in _err(capsys) and not png.exists()
    assert main(["verify", str(snap)]) == 3  # a difference, named; nothing rebuilt from it
    assert "run '../../victim/v/fold0/seed0' is not DATASET/VARIANT" in capsys.readouterr().out
    # A snapshot whose run record (config.yaml) names a dataset out of the tree: refused before retraining.
    (snap / "snapshot.json").write_text(json.dumps(meta))
    record = snap / "runs" / A_RUN / "config.yaml"
    record.write_text(record.read_text().replace("dataset: ckplus", "dataset: ../../../victim/r", 1))
    assert main(["verify", str(snap), "--retrain", A_RUN]) == 2
    assert f"{record}: dataset '../../../victim/r' is not one of" in capsys.readouterr().err
    for given, says in (("../../../victim/v/fold0/seed0", "expected DATASET/VARIANT/FOLD/SEED"),
                        ("../victim/fold0/seed0", "--retrain: run '../victim/fold0/seed0' is not")):
        assert main(["verify", str(SNAPSHOT), "--retrain", given]) == 2
        assert says in capsys.readouterr().err
    # publish, from a project whose per_fold.csv a user was given.
    params = {**configuration.merged_params([str(REPO / "params.yaml")]), "preset": "synthetic_full"}
    tables = work / "project" / "results" / configuration.name(params) / "tables"
    tables.mkdir(parents=True)
    pf = pd.read_csv(SNAPSHOT / "tables" / "per_fold.csv")
    for field in ("dataset", "variant", "fold", "seed"):
        pf.astype({field: object}).assign(**{field: "../../../../victim/p"}).to_csv(tables / "per_fold.csv",
                                                                                    index=False)
        with pytest.raises(DataError, match=f"per_fold.csv: {field} '../../../../victim/p' is not"):
            publish(work / "project", work / "published", snapshot_meta(params, "synthetic_full", "c", 1.0),
                    params)
        assert not (work / "published").exists()
    after = _tree(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # Only the run's own metrics.json (rewritten by this test) and the project folder it made.
    assert {k for k in changed if not k.startswith("work/project")} == {
        "work/given-run/metrics.json", "work/snap/snapshot.json", f"work/snap/runs/{A_RUN}/config.yaml"}
    assert _tree(victim) == {"keep.txt": 16}


# Kind: a seed no generator takes, a list setting of the wrong shape, a negative --seed.
def test_a_seed_out_of_range_is_refused_before_a_run_folder(prepared, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--variant", "baseline", "--fold", "0",
                 "--out", str(out), "--set", "seed=99999999999999999999999"]) == 2
    assert "seed: 99999999999999999999999 is invalid; expected an integer 0..4294967295" in _err(capsys)
    assert not out.exists()
    with pytest.raises(SystemExit) as e:
        main(["prepare", "--dataset", "ckplus", "--root", str(tmp_path), "--out", str(tmp_path / "p"),
              "--fold-rule", "stratified", "--seed", "-1"])
    assert e.value.code == 2 and "argument --seed: '-1': expected an integer 0..4294967295" in capsys.readouterr().err


@pytest.mark.parametrize("setting, says", [("augment.ops=[1, x]", "augment.ops[0]: expected a name, got 1"),
                                           ("augment.ops=[[flip]]", "augment.ops[0]: expected a name, got ['flip']"),
                                           ("spl.pace_epochs=[1, true]", "spl.pace_epochs[1]: expected an integer"),
                                           ("train.betas=[0.9, x]", "train.betas[1]: expected a number")])
def test_list_settings_take_their_declared_element_type(setting, says):
    with pytest.raises(ConfigError, match=f"--set: {says}".replace("[", r"\[").replace("]", r"\]")):
        load_config([], [setting])


def test_a_setting_with_a_trailing_newline_is_refused():
    with pytest.raises(ConfigError, match=r"train.device: 'cpu\\n' is invalid"):
        load_config([], ['train.device="cpu\\n"'])


# Kind: a run whose final files were not all written; tables over a partial run.
def test_a_train_that_fails_writing_its_last_file_leaves_no_final_file(prepared, tmp_path, monkeypatch, capsys):
    import spndl.training.runfolder as rf

    def full_disk(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rf, "model_card", full_disk)
    out = tmp_path / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--variant", "baseline", "--fold", "0",
                 "--out", str(out), "--set", "train.epochs=1", "--set", "train.batch_size=16"]) == 2
    assert f"{out / 'MODEL_CARD.md'}: could not be written" in _err(capsys)
    assert not any((out / f).exists() for f in ("metrics.json", "predictions.csv", "MODEL_CARD.md"))
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--variant", "baseline", "--fold", "0",
                 "--out", str(out), "--set", "train.epochs=1", "--set", "train.batch_size=16"]) == 0
    (out / "predictions.csv").unlink()  # a run folder that lost one of its final files
    assert main(["tables", "--run", str(out), "--out", str(tmp_path / "t")]) == 2
    assert f"{out / 'predictions.csv'}: missing beside its metrics.json" in _err(capsys)
    assert not (tmp_path / "t").exists()


def test_tables_write_all_their_files_or_none(tmp_path, capsys):
    runs = [SNAPSHOT / "runs" / r for r in json.loads((SNAPSHOT / "snapshot.json").read_text())["runs"]]
    out = tmp_path / "t"
    assert main(["tables", *[a for r in runs[:20] for a in ("--run", str(r))], "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken"
    shutil.copytree(runs[20], broken)
    (broken / "history.csv").write_text("epoch,pace\n")  # found only while the curves are built
    assert main(["tables", *[a for r in [*runs[:20], broken] for a in ("--run", str(r))], "--out", str(out)]) != 0
    capsys.readouterr()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# Kind: a history.csv or metrics.json cut short, given to a figure.
def test_figures_refuse_cut_records_naming_the_file(tmp_path, capsys):
    spl, base = tmp_path / "spl", tmp_path / "base"
    shutil.copytree(SNAPSHOT / "runs" / "ckplus/spl/fold0/seed0", spl)
    shutil.copytree(SNAPSHOT / "runs" / A_RUN, base)
    text = (base / "history.csv").read_text()
    (base / "history.csv").write_text(text[:60])
    png = tmp_path / "f.png"
    assert main(["figure", "6", "--with-spl", str(spl), "--without-spl", str(base), "--out", str(png)]) == 2
    assert f"{base / 'history.csv'}: " in _err(capsys) and not png.exists()
    (base / "history.csv").write_text(text)
    (base / "metrics.json").write_text((base / "metrics.json").read_text()[:100])
    for fig, args in (("4", ["--run", str(base)]), ("6", ["--with-spl", str(spl), "--without-spl", str(base)])):
        assert main(["figure", fig, *args, "--out", str(png)]) == 2
        assert f"{base / 'metrics.json'}: truncated or not JSON" in _err(capsys) and not png.exists()
    # Two runs of different lengths on one axis.
    shutil.copy(SNAPSHOT / "runs" / A_RUN / "metrics.json", base / "metrics.json")
    h = pd.read_csv(base / "history.csv").iloc[:3]
    h.to_csv(base / "history.csv", index=False)
    m = json.loads((base / "metrics.json").read_text())
    (base / "metrics.json").write_text(json.dumps({**m, "epochs": 3}))
    assert main(["figure", "6", "--with-spl", str(spl), "--without-spl", str(base), "--out", str(png)]) == 2
    assert "has 3 epochs where" in _err(capsys) and not png.exists()


# Kind: a frame name with a trailing newline; a Unicode digit in a label or fold; a BOM.
def test_a_frame_named_with_a_trailing_newline_is_named_not_read(synth_root, tmp_path):
    from spndl.data import ckplus

    root = tmp_path / "ckplus"
    shutil.copytree(synth_root / "ckplus", root)
    seq = sorted((root / "cohn-kanade-images").glob("*/*"))[0]
    frame = sorted(seq.iterdir())[1]
    frame.rename(frame.with_name(frame.name + "\n"))
    read = ckplus.read(root)
    assert not any(frame.name + "\n" == f.name for s in read.sequences for f in s.frames)
    assert any("a frame's name with white space or a control character" in e.reason for e in read.exclusions)


def test_unicode_digits_and_byte_order_marks(synth_root, tmp_path):
    from spndl.data import rafdb

    root = tmp_path / "rafdb"
    shutil.copytree(synth_root / "rafdb", root)
    labels = next(root.rglob("list_patition_label.txt"))
    text = labels.read_text()
    labels.write_bytes(b"\xef\xbb\xbf" + text.encode())  # saved by an editor that writes a BOM
    assert len(rafdb.read(root).sequences) == len([line for line in text.splitlines() if line.strip()])
    first = text.splitlines()[0].split()
    labels.write_text(text.replace(" ".join(first), f"{first[0]} ²", 1))
    with pytest.raises(DataError, match=f"{labels}:1: expected '<name>.jpg <code>', found"):
        rafdb.read(root)


def test_a_custom_csv_with_a_bom_and_a_unicode_digit_fold(synth_root, tmp_path):
    from custom_csv import write_custom  # the custom dataset the custom tests use

    from spndl.data.custom import CSV_NAME

    root = tmp_path / "custom"
    write_custom(synth_root, root, column="fold")
    csv = root / CSV_NAME
    text = csv.read_text()
    csv.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert prepare("custom", root, tmp_path / "p", size=16)["counts"]["samples"] > 0
    lines = text.splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("fold")] = "²"
    csv.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=f"{csv}:2: fold '²' is not a whole number"):
        prepare("custom", root, tmp_path / "p2", size=16)


# Kind: synthetic data copied out of its tree.
def test_a_copied_subfolder_of_synthetic_data_is_still_synthetic(synth_root, tmp_path):
    elsewhere = tmp_path / "a" / "b" / "c" / "ckplus"  # no SYNTHETIC.txt at or above it
    shutil.copytree(synth_root / "ckplus", elsewhere)
    assert not any((p / "SYNTHETIC.txt").exists() for p in elsewhere.parents)
    assert prepare("ckplus", elsewhere, tmp_path / "p", size=16)["synthetic"] is True
    # A real photograph carries no mark: the same frames re-encoded by OpenCV are "real".
    from spndl.opencv import cv2
    for f in elsewhere.rglob("*.png"):
        cv2.imwrite(str(f), cv2.imread(str(f), cv2.IMREAD_UNCHANGED))
    assert prepare("ckplus", elsewhere, tmp_path / "p2", size=16)["synthetic"] is False


# Kind: symbolic link loops.
def test_link_loops_are_named_as_such(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for args in (["prepare", "--dataset", "ckplus", "--root", str(tmp_path / "a"), "--out", str(tmp_path / "p")],
                 ["check-data", "--dataset", "ckplus", "--root", str(tmp_path / "a")],
                 ["synth", "--out", str(tmp_path / "a"), "--size", "tiny"]):
        assert main(args) == 2
        assert f"{tmp_path / 'a'}: a symbolic link loop" in _err(capsys)
    src = tmp_path / "src" / "cohn-kanade-images"
    src.mkdir(parents=True)
    (src / "up").symlink_to("..")
    assert main(["acquire", "--dataset", "ckplus", "--source", str(src.parent), "--out", str(tmp_path / "acq")]) == 2
    err = _err(capsys)
    assert f"{src / 'up'}: link to '..', a folder that holds the link: a link loop" in err and len(err) < 300
    assert not (tmp_path / "acq").exists()


# Kind: publish's errors, Ctrl-C.
def test_publish_names_itself_in_its_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["publish", "--out", str(tmp_path / "s"), "--preset", "synthetic_full", "--params",
                 str(REPO / "params.yaml"), "--command", "snakemake --profile a/b", "--wall-s", "1"]) == 2
    err = _err(capsys)
    assert err.startswith("spndl publish: error: ") and "per_fold.csv" in err


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_tables", interrupted)
    assert main(["tables", "--run", str(tmp_path), "--out", str(tmp_path / "t")]) == 130
    assert capsys.readouterr().err == "spndl tables: interrupted; no output is left half-written\n"


def test_an_interrupted_swap_keeps_the_old_output(tmp_path, monkeypatch):
    from spndl import ownership

    out = tmp_path / "out"
    with ownership.atomic_dir(out, lambda p: True, "x") as tmp:
        (tmp / "f").write_text("old")
    real = os.replace
    calls = []

    def interrupt_second(a, b):
        calls.append((a, b))
        if len(calls) == 2:  # the new folder's rename, after the old one moved aside
            raise KeyboardInterrupt
        return real(a, b)

    monkeypatch.setattr(ownership.os, "replace", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        with ownership.atomic_dir(out, lambda p: True, "x") as tmp:
            (tmp / "f").write_text("new")
    monkeypatch.undo()
    assert (out / "f").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no hidden temporary left


def test_verify_prints_what_it_found_before_a_retrain_fails(tmp_path, capsys):
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, snap)
    (snap / "tables" / "table1.md").write_text("edited\n")
    assert main(["verify", str(snap), "--retrain", "ckplus/baseline/fold0/seed99"]) == 2
    captured = capsys.readouterr()
    assert "table1.md" in captured.out and "no run 'ckplus/baseline/fold0/seed99'" in captured.err


# Kind: predict given an image too small to crop, a named pipe and a truncated PNG in a folder.
def test_predict_names_the_file_and_keeps_going_through_a_folder(prepared, tmp_path, capsys):
    import numpy as np

    from spndl.opencv import cv2

    run = tmp_path / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--variant", "baseline", "--fold", "0",
                 "--out", str(run), "--set", "train.epochs=1", "--set", "train.batch_size=16"]) == 0
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(run), "--image", str(tiny), "--no-detect"]) == 2
    assert _err(capsys).startswith(f"spndl predict: error: {tiny}: crop box")
    folder = tmp_path / "photos"
    folder.mkdir()
    face = prepared["ckplus"][1] / "images.npy"
    img = np.load(face, mmap_mode="r")[0].transpose(1, 2, 0)
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(folder / name), np.ascontiguousarray(img[..., ::-1]))
    (folder / "b.png").write_bytes((folder / "a.png").read_bytes()[:40])  # cut short
    os.mkfifo(folder / "p.png")
    out = tmp_path / "rows.csv"
    assert main(["predict", "--checkpoint", str(run), "--folder", str(folder), "--no-detect", "--out", str(out)]) == 0
    rows = pd.read_csv(out).set_index("file")
    assert [Path(f).name for f in rows.index] == ["a.png", "b.png", "c.png", "p.png"]
    status = {Path(f).name: s for f, s in rows["status"].items()}
    assert status["a.png"] == status["c.png"] == "ok"
    assert status["b.png"].startswith("unreadable: ") and status["p.png"].startswith("unreadable: ")
    assert "not a regular file" in status["p.png"]
