"""A dataset of one's own (`--dataset custom`): a CSV built from the tiny synthetic tree goes
through check-data, prepare, one training job and the tables, and through the whole DAG."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from custom_csv import write_custom

from spndl.cli import main
from spndl.data.check import check_data
from spndl.data.custom import CSV_NAME
from spndl.data.prepare import prepare
from spndl.data.prepared import load_prepared, split_indices
from spndl.data.records import DataError

REPO = Path(__file__).resolve().parents[1]
CFG = "tiny-synthetic"  # params-tiny's preset and source: runs/CFG, results/CFG (the custom data are real)
OULU = ["anger", "disgust", "fear", "happy", "sadness", "surprise"]


@pytest.fixture(scope="module")
def mine(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("mine")
    return out, write_custom(synth_root, out)


@pytest.mark.slow
def test_prepare_train_and_tables_on_a_csv_dataset(mine, tmp_path, capsys):
    root, rows = mine
    report = check_data("custom", root)
    assert report.ok and report.expected == {} and report.counts["samples"] == len(rows) == 180
    info = prepare("custom", root, tmp_path / "prep", size=32)
    # No classes.txt: the CSV's labels, sorted; each listed pair is one sample.
    assert info["classes"] == OULU and info["counts"]["samples"] == 180 and info["synthetic"]
    assert info["pairing"] == "listed pairs" and info["counts"]["images"] == 240  # 60 references, 180 targets
    m = pd.read_csv(tmp_path / "prep/manifest.csv", keep_default_na=False)
    listed = pd.DataFrame(rows)
    assert m["target"].tolist() == listed["target_path"].tolist()
    assert m["reference"].tolist() == listed["reference_path"].tolist()
    assert (m["label_name"] == listed["label"]).all() and (m["label"] == m["label_name"].map(OULU.index)).all()
    # The references are shared: one image per sequence, the same index for its three targets.
    assert m.groupby("sequence")["reference_index"].nunique().eq(1).all()
    # Folds by prepare's rule over the CSV's subjects, subject-independent.
    assert m.groupby("subject")["fold"].nunique().eq(1).all()

    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "prep"), "--variant", "spndl", "--fold", "0", "--out", str(run),
                 "--set", "train.epochs=3", "--set", "spl.paces=2", "--set", "spl.step=0.5"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"] == "custom" and metrics["n_test"] == (m["fold"] == 0).sum()
    assert main(["tables", "--run", str(run), "--out", str(tmp_path / "tables")]) == 0
    text = (tmp_path / "tables/table_custom.md").read_text()
    assert f"| spndl | {metrics['accuracy'] * 100:.2f} ± 0.00 | 1 |" in text
    assert "SYNTHETIC" in text and "The paper reports no result on this dataset" in text
    table = pd.read_csv(tmp_path / "tables/table_custom.csv")
    assert table["reproduced_mean"].tolist() == pytest.approx([metrics["accuracy"] * 100])


def test_a_split_column_without_references(synth_root, tmp_path):
    root = tmp_path / "mine"
    write_custom(synth_root, root, paired=False, column="split")
    info = prepare("custom", root, tmp_path / "prep", size=32)
    assert info["pairing"] == "single images" and "split" in info and "fold" not in info
    data = load_prepared(tmp_path / "prep")
    assert not data.has_references and not data.has_folds
    train, test = split_indices(data, None)
    assert set(data.manifest["subject"].iloc[test]) == {"P001", "P002", "P003"} and len(train) + len(test) == 180
    assert main(["train", "--data", str(tmp_path / "prep"), "--variant", "spndl", "--out", str(tmp_path / "r")]) == 2


def test_a_fold_column_and_a_class_list_are_kept(synth_root, tmp_path):
    root = tmp_path / "mine"
    order = list(reversed(OULU))
    rows = write_custom(synth_root, root, column="fold", classes=order)
    info = prepare("custom", root, tmp_path / "prep", size=32, n_folds=10)
    assert info["n_folds"] == 3 and info["fold_rule"] == "listed (fold column)" and info["classes"] == order
    m = pd.read_csv(tmp_path / "prep/manifest.csv")
    assert m["fold"].tolist() == [r["fold"] for r in rows]
    assert (m["label"] == m["label_name"].map(order.index)).all()


def _rewrite(root: Path, edit) -> Path:
    table = root / CSV_NAME
    edit(pd.read_csv(table, keep_default_na=False, dtype=str)).to_csv(table, index=False)
    return table


# Kind: a custom dataset's CSV that cannot be used: the error names the file, the line and the problem.
def _cell(df, row, column, value):
    df = df.copy()
    df.loc[row, column] = value
    return df


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns="label"), ":1: missing column(s) ['label']"),
    (lambda df: _cell(df, 4, "reference_path", ""), ":6: reference_path must be given in every row"),
    (lambda df: _cell(df, 2, "label", "hapy"), ":4: label 'hapy' is not in"),
    (lambda df: _cell(df, 3, "target_path", df.loc[2, "target_path"]), ":5: target faces/"),
    (lambda df: df.assign(split="val"), ":2: split 'val' is not train or test"),
    (lambda df: df.assign(fold=["0"] * (len(df) - 1) + ["1"]), "folds 0 and 1; the folds must be subject"),
    (lambda df: df.assign(fold="2"), "skips fold(s) [0, 1]"),
])
def test_a_malformed_csv_is_named_with_its_line(synth_root, tmp_path, capsys, edit, message):
    root = tmp_path / "mine"
    write_custom(synth_root, root, classes=OULU)
    table = _rewrite(root, edit)
    assert main(["prepare", "--dataset", "custom", "--root", str(root), "--out", str(tmp_path / "prep")]) == 2
    err = capsys.readouterr().err
    assert str(table) in err and message in err, err
    assert not (tmp_path / "prep").exists()


def test_a_listed_file_that_is_missing_is_an_exclusion_and_shifts_no_label(synth_root, tmp_path):
    root = tmp_path / "mine"
    rows = write_custom(synth_root, root)
    (root / rows[7]["target_path"]).unlink()
    (root / rows[30]["reference_path"]).unlink()  # the reference of three rows: all three go
    info = prepare("custom", root, tmp_path / "prep", size=32)
    excl = pd.read_csv(tmp_path / "prep/exclusions.csv")
    gone = {7, 30, 31, 32} if rows[30]["reference_path"] == rows[31]["reference_path"] else None
    assert gone and info["counts"]["samples"] == 180 - len(gone) and len(excl) == len(gone)
    assert set(excl["reason"]) == {"listed in the CSV but missing"}
    m = pd.read_csv(tmp_path / "prep/manifest.csv", keep_default_na=False)
    kept = [r for i, r in enumerate(rows) if i not in gone]
    assert m["target"].tolist() == [r["target_path"] for r in kept]
    assert m["label_name"].tolist() == [r["label"] for r in kept]


def test_without_a_csv_the_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"{CSV_NAME}: not found; a dataset of your own"):
        prepare("custom", tmp_path / "empty", tmp_path / "prep")


@pytest.mark.slow
def test_the_whole_dag_runs_on_a_csv_dataset_without_code(mine, tmp_path):
    """datasets: [custom] and a folder source: acquire, check, prepare, train, tables, Fig. 4."""
    root, _ = mine
    cfg = tmp_path / "custom.yaml"
    cfg.write_text(json.dumps({"datasets": ["custom"], "variants": {"custom": ["baseline", "spndl"]},
                               "data": {"real": {"custom": {"sources": [str(root)], "protocol": "folds"}}},
                               "presets": {"tiny": {"seeds": [0]}}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path / "wd"),
           "--configfile", str(REPO / "workflow/tests/params-tiny.yaml"), str(cfg), "--cores", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    wd = tmp_path / "wd"
    runs = sorted(p.parent.relative_to(wd / "runs" / CFG).as_posix()
                  for p in wd.glob(f"runs/{CFG}/*/*/*/*/metrics.json"))
    assert runs == [f"custom/{v}/fold0/seed0" for v in ("baseline", "spndl")]
    head = json.loads((wd / f"results/{CFG}/metrics/headline.json").read_text())
    per_fold = pd.read_csv(wd / f"results/{CFG}/tables/per_fold.csv")
    for v in ("baseline", "spndl"):
        acc = per_fold[per_fold["variant"] == v]["accuracy"]
        assert head["custom"][v]["accuracy_mean"] == pytest.approx(acc.mean() * 100, abs=1e-3)
    assert "| spndl |" in (wd / f"results/{CFG}/tables/table_custom.md").read_text()
    assert (wd / f"results/{CFG}/figures/fig4_confusion.png").stat().st_size > 0
    assert (wd / "data/raw/custom" / CSV_NAME).is_file()  # acquired: the project's copy, not the user's folder
