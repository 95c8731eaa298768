"""Outputs replace only what spndl wrote (spndl.ownership), and one writer per run folder
(spndl.training.runlock). Each defect that lost a user's files has its test here; docs/reliability.md's
reliability table lists each kind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spndl.cli import main
from spndl.ownership import RECORD, foreign_path
from spndl.training.runlock import LOCK, holding

TRAIN = ["--variant", "baseline", "--fold", "0", "--set", "train.batch_size=16", "--set", "data.size=32"]


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _prepare(root: Path, out: Path) -> int:
    return main(["prepare", "--dataset", "ckplus", "--root", str(root), "--out", str(out), "--size", "32"])


# Kind: prepare again into a prepared folder that holds a user's notes and a run trained into it.
def test_preparing_again_refuses_while_the_old_output_holds_a_users_files(synth_root, tmp_path, capsys):
    out = tmp_path / "prep"
    assert _prepare(synth_root / "ckplus", out) == 0
    assert (out / RECORD).is_file() and foreign_path(out) is None
    assert _prepare(synth_root / "ckplus", out) == 0  # nothing but spndl's own files: replaced
    (out / "runs/base0").mkdir(parents=True)
    (out / "runs/base0/metrics.json").write_text("{}")
    (out / "NOTES.md").write_text("my notes")
    capsys.readouterr()
    assert _prepare(synth_root / "ckplus", out) == 2
    err = _err(capsys)
    assert f"{out / 'NOTES.md'}: was not written by spndl" in err and f"refusing to replace {out}" in err
    assert (out / "NOTES.md").read_text() == "my notes" and (out / "runs/base0/metrics.json").is_file()
    (out / "NOTES.md").unlink()
    assert _prepare(synth_root / "ckplus", out) == 2  # the run is still in the way
    assert f"{out / 'runs'}: was not written by spndl" in _err(capsys)


# Kind: a file spndl wrote into its output, edited since (its size changed).
def test_an_edited_file_of_an_output_counts_as_the_users(synth_root, tmp_path, capsys):
    out = tmp_path / "prep"
    assert _prepare(synth_root / "ckplus", out) == 0
    with open(out / "manifest.csv", "a") as f:
        f.write("my,own,row\n")
    capsys.readouterr()
    assert _prepare(synth_root / "ckplus", out) == 2
    assert f"{out / 'manifest.csv'}: was not written by spndl, or was changed since" in _err(capsys)
    assert (out / "manifest.csv").read_text().endswith("my,own,row\n")


# Kind: synth again into a synthetic tree that holds a user's annotations and a folder.
def test_synthesising_again_keeps_a_users_files_in_the_old_tree(tmp_path, capsys):
    out = tmp_path / "synth"
    cmd = ["synth", "--out", str(out), "--size", "tiny", "--datasets", "rafdb"]
    assert main(cmd) == 0 and main(cmd) == 0
    (out / "my_annotations.csv").write_text("a,b\n")
    (out / "mine").mkdir()
    capsys.readouterr()
    assert main(cmd) == 2
    assert "was not written by spndl" in _err(capsys)
    assert (out / "my_annotations.csv").read_text() == "a,b\n" and (out / "mine").is_dir()


# Kind: check-data --report pointed at a file of the user's (here a label file of the raw tree).
def test_check_data_never_overwrites_a_file_it_did_not_write(synth_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", root)
    label = next(root.glob("Emotion/*/*/*_emotion.txt"))
    before = label.read_bytes()
    check = ["check-data", "--dataset", "ckplus", "--root", str(root), "--allow-deviation"]
    assert main([*check, "--report", str(label)]) == 2
    assert f"{label}: exists and was not written by spndl" in _err(capsys) and label.read_bytes() == before
    # Its own report it replaces; a folder at the path is refused, --force or not.
    report = tmp_path / "reports/ck.json"
    assert main([*check, "--report", str(report)]) == 0 and main([*check, "--report", str(report)]) == 0
    assert json.loads(report.read_text())["dataset"] == "ckplus"
    capsys.readouterr()
    assert main([*check, "--report", str(tmp_path / "reports"), "--force"]) == 2
    assert "is a folder" in _err(capsys)
    mine = tmp_path / "reports/mine.json"
    mine.write_text("{}")
    assert main([*check, "--report", str(mine)]) == 2
    assert main([*check, "--report", str(mine), "--force"]) == 0 and json.loads(mine.read_text())["dataset"] == "ckplus"


# Kind: features --out onto an existing file of the user's.
def test_features_never_overwrites_a_file_it_did_not_write(prepared, tmp_path, capsys):
    data = prepared["ckplus"][1]
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TRAIN, "--set", "train.epochs=1"]) == 0
    out = tmp_path / "mine.npz"
    out.write_bytes(b"my array")
    cmd = ["features", "--checkpoint", str(run / "checkpoint.pt"), "--data", str(data), "--out", str(out)]
    capsys.readouterr()
    assert main(cmd) == 2
    assert f"{out}: exists and was not written by spndl" in _err(capsys) and out.read_bytes() == b"my array"
    assert main([*cmd, "--force"]) == 0 and out.read_bytes() != b"my array"
    assert main(cmd) == 0  # now it is spndl's own


# Kind: train --restart-on-change in a folder of the user's that holds a run's file names.
def test_restart_on_change_never_takes_over_a_users_folder(prepared, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    files = {"checkpoint.pt": b"my weights", "config.yaml": b"lr: 0.1\n", "metrics.json": b"{\"mine\": 1}",
             "history.csv": b"epoch,loss\n1,0.5\n"}
    for name, content in files.items():
        (out / name).write_bytes(content)
    for extra in ([], ["--restart-on-change"]):
        assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(out), *TRAIN, *extra]) == 2
        assert "holds no run of spndl train" in _err(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # not even a lock file was added


# Kind: two spndl train on one --out at once.
def test_a_second_writer_of_a_run_folder_fails_at_once_naming_the_first(prepared, tmp_path, capsys):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "spndl", "train", "--data", str(prepared["ckplus"][1]),
                              "--out", str(out), *TRAIN, "--set", "train.epochs=30"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ((out / LOCK).is_file() and (out / LOCK).read_text()) and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.05)
        t0 = time.monotonic()
        assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(out), *TRAIN,
                     "--set", "train.epochs=1"]) == 2
        err = _err(capsys)
        assert time.monotonic() - t0 < 30  # at once: no waiting for the first to finish
        assert f"host {socket.gethostname()} pid {first.pid}" in err and "another spndl train" in err
    finally:
        first.kill()
        first.wait(60)
        first.stderr.close()
    with holding(out):  # the kernel dropped the killed holder's lock
        pass


def test_a_run_folder_holding_only_a_dead_runs_lock_counts_as_empty(prepared, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(f"host {socket.gethostname()} pid {os.getpid() + 10**6}\n")
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(out), *TRAIN,
                 "--set", "train.epochs=1"]) == 0
    assert (out / "metrics.json").is_file()


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` px in a few bytes (its pixels never follow)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))


# Kind: an image that declares more pixels than spndl decodes (a 1 MB PNG may declare 32,000 px square).
@pytest.mark.parametrize("size", [(32000, 32000), (11000, 10000)])
def test_an_image_above_the_pixel_limit_is_refused_before_decoding(synth_root, tmp_path, size):
    import shutil

    from spndl.data.crop import MAX_PIXELS, read_image
    from spndl.data.prepare import prepare
    from spndl.data.records import DataError

    assert size[0] * size[1] > MAX_PIXELS
    root = tmp_path / "rafdb"
    shutil.copytree(synth_root / "rafdb", root)
    big = sorted((root / "basic/Image/aligned").glob("test_*_aligned.jpg"))[0]
    _png_header(big, *size)  # a JPEG's name, a PNG's bytes: the header decides, as in OpenCV
    with pytest.raises(DataError, match=f"{big}: .*above the limit of 100 megapixels per image"):
        read_image(big)
    info = prepare("rafdb", root, tmp_path / "prep", size=32)
    import pandas as pd

    excl = pd.read_csv(tmp_path / "prep/exclusions.csv")
    row = excl[excl["path"] == str(big)]
    assert len(row) == 1 and "above the limit of 100 megapixels" in row["reason"].iloc[0]
    assert info["counts"]["exclusions"] == len(excl)


# Kind: acquire --keep naming a folder that holds a user's file under an archive's name.
def test_acquire_keeps_no_copy_over_a_users_file(synth_root, tmp_path, capsys):
    from archives import ckplus_zips

    zips = ckplus_zips(synth_root / "ckplus", tmp_path / "dl", nested=False)
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / zips[0].name).write_bytes(b"my own zip")
    cmd = ["acquire", "--dataset", "ckplus", *[a for z in zips for a in ("--source", str(z))],
           "--out", str(tmp_path / "raw"), "--keep", str(keep)]
    assert main(cmd) == 2
    assert f"{keep / zips[0].name}: exists and was not written by spndl" in _err(capsys)
    assert ((keep / zips[0].name).read_bytes() == b"my own zip"
            and sorted(p.name for p in keep.iterdir()) == [zips[0].name])
    assert not (tmp_path / "raw").exists()
    (keep / zips[0].name).unlink()
    assert main(cmd) == 0 and main([*cmd[:-4], "--out", str(tmp_path / "raw2"), "--keep", str(keep)]) == 0
