"""Malformed variants of what a user writes or is given, from a seeded generator: CK+ label and
landmark files, RAF-DB's label list, the own-dataset CSV, --set values, a params file of one's
own, the records of runs and snapshots (metrics.json, per_fold.csv, snapshot.json) and
symbolic links in a dataset's tree. Every command must
either succeed or print one line and exit 2 (3: check-data's counts differ): never a
traceback, never exit 1 (spndl.cli's unexpected error), never a half-written output.

Each kind gets an equal share of a time budget (SPNDL_FUZZ_SECONDS, default 60) and runs
cases until it is spent; the seed (SPNDL_FUZZ_SEED, default 0) makes a failure repeatable,
and the failing case is printed with its seed and number."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import pytest
import yaml

from custom_csv import write_custom
from spndl.cli import main
from spndl.data.custom import CSV_NAME
from spndl.fsutil import is_temporary

pytestmark = pytest.mark.slow
BUDGET = float(os.environ.get("SPNDL_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("SPNDL_FUZZ_SEED", "0"))

# Pieces a malformed value is made of: numbers at and past their limits, YAML's specials,
# brackets that do not close, control characters, bytes that are not UTF-8.
ATOMS = ["", " ", "0", "-1", "1", "7", "99", "1e400", "-1e400", "nan", "inf", "-inf", "3.0000000e+00",
         "1.5", "0x10", "1_000", "true", "null", "~", "[", "]", "{", "}", "[1, 2", "{a: 1", "a: b",
         "!!python/object:os.system", "&a", "*a", "'", '"', "\\", "\t", "\x00", "\x1b", "é", "😀",
         "..", "/", "../../etc/passwd", "C:\\x", ",", ";", "=", "==", "#", "--", "%s", "{0}",
         "a" * 300, "9" * 40, "²", "٣", "\ufeff", "../../../victim", "fold0/../..", "seed0\n"]


def _value(rng: random.Random) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 3)))


def _mutate(rng: random.Random, text: str) -> bytes:
    """``text`` with one of a few kinds of damage."""
    lines = text.splitlines(keepends=True)
    how = rng.randrange(8)
    if how == 0:  # cut short
        return text.encode()[: rng.randrange(len(text.encode()) + 1)]
    if how == 1:  # a line replaced
        if lines:
            lines[rng.randrange(len(lines))] = _value(rng) + "\n"
        return "".join(lines).encode(errors="surrogateescape")
    if how == 2:  # a field within a line replaced
        if lines:
            k = rng.randrange(len(lines))
            sep = "," if "," in lines[k] else " "
            parts = lines[k].rstrip("\n").split(sep)
            parts[rng.randrange(len(parts))] = _value(rng)
            lines[k] = sep.join(parts) + "\n"
        return "".join(lines).encode()
    if how == 3:  # lines dropped or repeated
        if lines:
            k = rng.randrange(len(lines))
            lines = lines[:k] + lines[k + 1:] if rng.random() < 0.5 else lines + [lines[k]] * rng.randint(1, 3)
        return "".join(lines).encode()
    if how == 4:  # bytes that are not UTF-8
        data = bytearray(text.encode())
        data.insert(rng.randrange(len(data) + 1), rng.choice([0xff, 0xfe, 0xc3, 0x80]))
        return bytes(data)
    if how == 5:  # empty
        return b""
    if how == 6:  # a byte-order mark in front (a spreadsheet's "CSV UTF-8")
        return b"\xef\xbb\xbf" + text.encode()
    return (text + _value(rng) + "\n").encode()  # something appended


def _check_outcome(rc: int, err: str, case: str, usage: bool = False) -> None:
    """Exit 0, 2 or 3, no traceback, and a failure in one line "spndl COMMAND: error: ...";
    argparse's own refusals (``usage``) print the usage lines before that one."""
    assert "Traceback" not in err, f"{case}: a traceback:\n{err[-2000:]}"
    assert rc in (0, 2, 3), f"{case}: exit {rc}: {err[-1000:]}"
    if rc == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        if usage:
            assert lines[0].startswith("usage: spndl ") and lines[-1].startswith("spndl ") and \
                ": error: " in lines[-1], f"{case}: not argparse's usage and one error line:\n{err[-1000:]}"
        else:
            assert len(lines) == 1 and lines[0].startswith("spndl "), f"{case}: not one line:\n{err[-1000:]}"


def _check_no_partial(out: Path, rc: int, case: str) -> None:
    """A failed prepare leaves no output; a finished one a complete folder; neither a temporary."""
    left = [p.name for p in out.parent.iterdir() if is_temporary(p.name)]
    assert not left, f"{case}: temporaries left: {left}"
    if rc == 0:
        assert (out / "dataset.json").is_file() and (out / "manifest.csv").is_file(), case
    else:
        assert not out.exists(), f"{case}: a failed prepare left {out}"


def _run(capsys, argv: list[str]) -> tuple[int, str, bool]:
    """Exit code, standard error, and whether argparse refused the line itself."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's usage errors: exit 2, its usage, then one error line
        return (e.code if isinstance(e.code, int) else 2), capsys.readouterr().err, True
    return rc, capsys.readouterr().err, False


def _cases(seconds: float):
    """Case numbers until ``seconds`` have passed (at least 3)."""
    t0, k = time.monotonic(), 0
    while k < 3 or time.monotonic() - t0 < seconds:
        yield k
        k += 1


SHARE = BUDGET / 8


def _fuzz_file(capsys, tmp_path, tree: Path, files: list[Path], dataset: str, label: str) -> int:
    rng = random.Random(f"{SEED}-{label}")
    n = 0
    for k in _cases(SHARE):
        target = rng.choice(files)
        original = target.read_bytes()
        target.write_bytes(_mutate(rng, original.decode()))
        out = tmp_path / f"prep{k}"
        case = f"{label} case {k} (SPNDL_FUZZ_SEED={SEED}): {target.relative_to(tree)} = {target.read_bytes()[:200]!r}"
        try:
            rc, err, usage = _run(capsys, ["prepare", "--dataset", dataset, "--root", str(tree), "--out", str(out),
                                           "--size", "16", "--folds", "2"])
            _check_outcome(rc, err, case, usage)
            _check_no_partial(out, rc, case)
        finally:
            target.write_bytes(original)
            shutil.rmtree(out, ignore_errors=True)
        n += 1
    print(f"{label}: {n} malformed variants, none gave a traceback or a partial output")
    return n


def test_malformed_ckplus_label_files(synth_root, tmp_path, capsys):
    tree = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", tree)
    assert _fuzz_file(capsys, tmp_path, tree, sorted(tree.glob("Emotion/*/*/*.txt")), "ckplus", "CK+ label files")


def test_malformed_ckplus_landmark_files(synth_root, tmp_path, capsys):
    tree = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", tree)
    files = sorted(tree.glob("Landmarks/*/*/*.txt"))
    assert _fuzz_file(capsys, tmp_path, tree, files, "ckplus", "CK+ landmark files")


def test_malformed_rafdb_label_lists(synth_root, tmp_path, capsys):
    tree = tmp_path / "raf"
    shutil.copytree(synth_root / "rafdb", tree)
    files = [tree / "basic/EmoLabel/list_patition_label.txt"]
    assert _fuzz_file(capsys, tmp_path, tree, files, "rafdb", "RAF-DB label lists")


def test_malformed_own_dataset_csvs(synth_root, tmp_path, capsys):
    tree = tmp_path / "mine"
    write_custom(synth_root, tree)
    assert _fuzz_file(capsys, tmp_path, tree, [tree / CSV_NAME], "custom", "own-dataset CSVs")


# The settings `spndl train` reads; a bad --set must be refused before any data is read, so
# the runs point at data that does not exist: a setting that passes fails on that instead.
SET_KEYS = ["train.epochs", "train.lr", "train.batch_size", "train.betas", "train.device", "train.cpu_isa",
            "spl.paces", "spl.start", "spl.step", "augment.prob", "data.size", "model.weights", "seed",
            "train", "spl", "nonsense.key", "train.nonsense", "", "=", "train..lr", ".lr"]


def test_malformed_set_values(tmp_path, capsys):
    rng = random.Random(f"{SEED}-set")
    n = 0
    for k in _cases(SHARE):
        sets = [f"{rng.choice(SET_KEYS)}{rng.choice(['=', '=', '=', ':', ''])}{_value(rng)}"
                for _ in range(rng.randint(1, 3))]
        case = f"--set case {k} (SPNDL_FUZZ_SEED={SEED}): {sets!r}"
        out = tmp_path / f"run{k}"
        argv = ["train", "--data", str(tmp_path / "no-data"), "--variant", "baseline", "--fold", "0",
                "--out", str(out)]
        for s in sets:
            argv += ["--set", s]
        rc, err, usage = _run(capsys, argv)
        _check_outcome(rc, err, case, usage)
        assert rc != 0, f"{case}: trained on data that does not exist"
        assert not out.exists() or not any(out.iterdir()), f"{case}: wrote into {out}"
        n += 1
    print(f"--set values: {n} malformed variants, none gave a traceback")


def _params_variant(rng: random.Random, base: dict) -> str:
    """params.yaml's text with one part damaged: a key dropped, a value replaced, a wrong type."""
    doc = yaml.safe_load(yaml.safe_dump(base))
    preset = doc["presets"]["synthetic_cpu"]
    how = rng.randrange(6)
    if how == 0:
        preset.pop(rng.choice(sorted(preset)))
    elif how == 1:
        block = rng.choice(["train", "spl", "data", "model"])
        preset.setdefault("config", {}).setdefault(block, {})[rng.choice(["epochs", "lr", "x", "size"])] = _value(rng)
    elif how == 2:
        preset[rng.choice(["config", "folds", "seeds", "image_size", "config_rafdb"])] = rng.choice(
            [_value(rng), [], [_value(rng)], {"a": _value(rng)}, 3, None])
    elif how == 3:
        doc["presets"] = rng.choice([None, [], _value(rng), {"synthetic_cpu": None}])
    elif how == 4:
        return _mutate(rng, yaml.safe_dump(doc)).decode(errors="replace")
    else:
        doc = rng.choice([None, [], _value(rng), {"preset": "synthetic_cpu"}])
    return yaml.safe_dump(doc)


def test_malformed_params_files_of_ones_own(tmp_path, capsys):
    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    rng = random.Random(f"{SEED}-params")
    n = 0
    for k in _cases(SHARE):
        params = tmp_path / f"params{k}.yaml"
        params.write_text(_params_variant(rng, base))
        case = f"params case {k} (SPNDL_FUZZ_SEED={SEED}):\n{params.read_text()[:1500]}"
        out = tmp_path / f"run{k}"
        rc, err, usage = _run(capsys, ["train", "--data", str(tmp_path / "no-data"), "--variant", "baseline",
                                       "--fold", "0", "--out", str(out), "--preset", "synthetic_cpu",
                                       "--params", str(params)])
        _check_outcome(rc, err, case, usage)
        assert rc != 0 and not out.exists(), case
        n += 1
    print(f"params files: {n} malformed variants, none gave a traceback")


REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "results" / "synthetic_full"


def _files_outside(root: Path, output: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_relative_to(output)}


def _json_variant(rng: random.Random, text: str) -> bytes:
    """A JSON record with one field's value replaced by a malformed one, or damaged as text."""
    import json

    doc = json.loads(text)
    if rng.random() < 0.3 or not isinstance(doc, dict):
        return _mutate(rng, text)
    key = rng.choice(sorted(doc))
    doc[key] = rng.choice([_value(rng), None, -1, 2**70, 1.5, [], {}, [_value(rng)]])
    return json.dumps(doc).encode()


def test_malformed_records_a_user_is_given(tmp_path, capsys):
    """A run folder's metrics.json and history.csv, and a snapshot's snapshot.json and
    per_fold.csv, damaged: tables, figure and verify end in one line or succeed, and write
    nothing outside their output."""
    rng = random.Random(f"{SEED}-records")
    run = tmp_path / "given" / "run"
    shutil.copytree(SNAPSHOT / "runs" / "ckplus/spl/fold0/seed0", run)
    snap = tmp_path / "given" / "snap"
    shutil.copytree(SNAPSHOT, snap, ignore=shutil.ignore_patterns("figures"))
    n = 0
    for k in _cases(SHARE):
        target = rng.choice([run / "metrics.json", run / "history.csv", snap / "snapshot.json",
                             snap / "tables" / "per_fold.csv"])
        original = target.read_bytes()
        target.write_bytes(_json_variant(rng, original.decode()) if target.suffix == ".json"
                           else _mutate(rng, original.decode()))
        out = tmp_path / f"out{k}"
        if target.parent == run:
            argv = rng.choice([["tables", "--run", str(run), "--out", str(out)],
                               ["figure", "4", "--run", str(run), "--out", str(out / "f.png")],
                               ["figure", "6", "--with-spl", str(run), "--without-spl", str(run),
                                "--out", str(out / "f.png")]])
        else:
            argv = ["verify", str(snap)]
        case = f"record case {k} (SPNDL_FUZZ_SEED={SEED}): {target.name} = {target.read_bytes()[:300]!r}: {argv[0]}"
        before = _files_outside(tmp_path, out)
        try:
            rc, err, usage = _run(capsys, argv)
            _check_outcome(rc, err, case, usage)
            after = _files_outside(tmp_path, out)
            assert after == before, f"{case}: changed outside its output: {set(after) ^ set(before)}"
        finally:
            target.write_bytes(original)
            shutil.rmtree(out, ignore_errors=True)
        n += 1
    print(f"records: {n} malformed variants, none gave a traceback or a write outside the output")


def test_symbolic_links_in_a_dataset_tree(synth_root, tmp_path, capsys):
    """Links planted in a CK+ tree (a loop, up to a parent, out of the tree, to nothing):
    prepare and check-data end in one line or succeed."""
    rng = random.Random(f"{SEED}-links")
    tree = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", tree)
    folders = sorted(p for p in tree.rglob("*") if p.is_dir())
    n = 0
    for k in _cases(SHARE):
        where = rng.choice(folders)
        link = where / rng.choice(["up", "S999", "001", "S005_001_00000099.png", "loop"])
        if link.exists() or link.is_symlink():
            continue
        link.symlink_to(rng.choice(["..", ".", "/", str(tmp_path), "missing", str(link)]))
        out = tmp_path / f"prep{k}"
        case = f"link case {k} (SPNDL_FUZZ_SEED={SEED}): {link.relative_to(tree)} -> {os.readlink(link)}"
        try:
            argv = rng.choice([["prepare", "--dataset", "ckplus", "--root", str(tree), "--out", str(out),
                                "--size", "16", "--folds", "2"],
                               ["check-data", "--dataset", "ckplus", "--root", str(tree)]])
            rc, err, usage = _run(capsys, argv)
            _check_outcome(rc, err, case, usage)
            if argv[0] == "prepare":
                _check_no_partial(out, rc, case)
        finally:
            link.unlink()
            shutil.rmtree(out, ignore_errors=True)
        n += 1
    print(f"links: {n} planted links, none gave a traceback or a partial output")
