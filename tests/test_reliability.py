"""Bad input and faults: what the user sees (docs/reliability.md), one test per kind.

Each kind is listed in the table of docs/reliability.md; the comment above each test names it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch

from spndl.cli import main
from spndl.config import ConfigError, load_config
from spndl.data.acquire import ACQUIRED_FILE, Limits, acquire
from spndl.data.prepared import load_prepared
from spndl.data.records import DataError
from spndl.fsutil import TEMP_PATTERN, is_temporary

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--variant", "baseline", "--fold", "0", "--set", "train.epochs=2", "--set", "train.batch_size=16"]


def _listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def ck_copy(synth_root, tmp_path_factory):
    """A private copy of the tiny CK+ tree, for tests that point outputs at it."""
    dest = tmp_path_factory.mktemp("ck") / "ckSame"
    shutil.copytree(synth_root / "ckplus", dest)
    return dest


# --- Output folders ----------------------------------------------------------------------------

# Kind: prepare --out equal to --root.
def test_prepare_into_its_own_input_is_refused_and_the_raw_tree_survives(ck_copy, capsys):
    before = _listing(ck_copy)
    assert main(["prepare", "--dataset", "ckplus", "--root", str(ck_copy), "--out", str(ck_copy), "--size", "32"]) == 2
    assert "would replace or lie inside the input" in _err(capsys)
    assert _listing(ck_copy) == before


# Kind: prepare --out inside --root, or --root inside --out.
def test_prepare_into_a_folder_inside_its_input_or_around_it_is_refused(ck_copy, capsys):
    before = _listing(ck_copy)
    for out in (ck_copy / "prepared", ck_copy.parent):
        assert main(["prepare", "--dataset", "ckplus", "--root", str(ck_copy), "--out", str(out), "--size", "32"]) == 2
        assert "would replace or lie inside the input" in _err(capsys)
    assert _listing(ck_copy) == before


# Kind: prepare --out naming a user's non-empty folder.
def test_prepare_refuses_a_users_folder_and_keeps_the_users_file(synth_root, tmp_path, capsys):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "thesis.txt").write_text("x")
    assert main(["prepare", "--dataset", "ckplus", "--root", str(synth_root / "ckplus"), "--out", str(user),
                 "--size", "32"]) == 2
    err = _err(capsys)
    assert f"{user}: folder is not empty and is not a prepared folder" in err
    assert (user / "thesis.txt").read_text() == "x" and sorted(p.name for p in user.iterdir()) == ["thesis.txt"]


# Kind: prepare --out naming an existing file.
def test_prepare_refuses_an_existing_file_as_output(synth_root, tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    assert main(["prepare", "--dataset", "ckplus", "--root", str(synth_root / "ckplus"), "--out", str(f),
                 "--size", "32"]) == 2
    assert f"{f}: exists and is not a folder" in _err(capsys)
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# Kind: prepare over its own earlier output (replaced, atomically), and an empty folder.
def test_prepare_replaces_its_own_earlier_output_and_fills_an_empty_folder(synth_root, tmp_path):
    out = tmp_path / "prep"
    out.mkdir()
    assert main(["prepare", "--dataset", "rafdb", "--root", str(synth_root / "rafdb"), "--out", str(out),
                 "--size", "16"]) == 0
    assert json.loads((out / "dataset.json").read_text())["size"] == 16
    assert main(["prepare", "--dataset", "rafdb", "--root", str(synth_root / "rafdb"), "--out", str(out),
                 "--size", "24"]) == 0
    assert json.loads((out / "dataset.json").read_text())["size"] == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep"]  # no .old or temporary beside it


# Kind: acquire --out naming a user's folder; acquire into its own source.
def test_acquire_refuses_a_users_folder_and_its_own_source(synth_root, tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "data.csv").write_text("1,2\n")
    src = str(synth_root / "rafdb")
    assert main(["acquire", "--dataset", "rafdb", "--source", src, "--out", str(user)]) == 2
    assert "is not a tree spndl acquired" in _err(capsys) and (user / "data.csv").read_text() == "1,2\n"
    copy = tmp_path / "copy"
    shutil.copytree(synth_root / "rafdb", copy)
    assert main(["acquire", "--dataset", "rafdb", "--source", str(copy), "--out", str(copy / "inner")]) == 2
    assert "lie inside the input" in _err(capsys) and not (copy / "inner").exists()
    # Its own earlier tree is replaced.
    acquire("rafdb", [src], tmp_path / "raw", log=lambda s: None)
    acquire("rafdb", [src], tmp_path / "raw", log=lambda s: None)
    assert (tmp_path / "raw" / ACQUIRED_FILE).is_file()


# Kind: synth --out naming a user's folder.
def test_synth_refuses_a_users_folder(tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "keep.txt").write_text("k")
    assert main(["synth", "--out", str(user), "--size", "tiny", "--datasets", "rafdb"]) == 2
    assert "is not a synthetic tree" in _err(capsys) and sorted(p.name for p in user.iterdir()) == ["keep.txt"]


# Kind: train --out naming a user's folder.
def test_train_refuses_a_users_folder(prepared, tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "metrics.txt").write_text("mine")
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(user), *TRAIN]) == 2
    assert "holds no run of spndl train" in _err(capsys) and sorted(p.name for p in user.iterdir()) == ["metrics.txt"]
    # A file of a run's name is not a run: the user's own config.yaml is not overwritten.
    (user / "config.yaml").write_text("mine: true\n")
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(user), *TRAIN]) == 2
    assert "holds no run of spndl train" in _err(capsys) and (user / "config.yaml").read_text() == "mine: true\n"


# --- Training: divergence and settings -----------------------------------------------------------

# Kind: a run whose loss becomes NaN; and one whose loss explodes (lr 1e6).
@pytest.mark.parametrize("lr, why", [("1e30", "is not finite"), ("1000000.0", "is above 19.5")])
def test_a_diverged_run_is_an_error_and_writes_no_metrics(prepared, tmp_path, capsys, lr, why):
    run = tmp_path / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *TRAIN,
                 "--set", f"train.lr={lr}"]) == 2
    err = _err(capsys)
    assert "training diverged at epoch 1" in err and why in err and "lower train.lr" in err
    assert not (run / "metrics.json").exists() and not (run / "predictions.csv").exists()
    assert not (run / "checkpoint.pt").exists()  # the diverged epoch is not kept to resume from


# Kind: numbers in any YAML spelling (1e-4 is a string to YAML 1.1).
def test_numbers_in_exponent_spelling_are_accepted():
    cfg = load_config([], ["train.lr=1e-4", "augment.noise_std=5E-2", "train.betas=[0.9, 9.99e-1]"])
    assert cfg.train.lr == 1e-4 and cfg.augment.noise_std == 0.05 and cfg.train.betas == (0.9, 0.999)


# Kind: settings out of range or misspelt values, refused where they are parsed.
@pytest.mark.parametrize("setting, key", [
    ("train.lr=-1", "train.lr"), ("train.lr=.inf", "train.lr"), ("train.lr=abc", "train.lr"),
    ("train.betas=[2,5]", "train.betas"), ("train.device=banana", "train.device"),
    ("spl.paces=0", "spl.paces"), ("spl.start=1.5", "spl.start"), ("augment.prob=2", "augment.prob"),
    ("data.size=0", "data.size"), ("train.batch_size=0", "train.batch_size"), ("train.epochs=true", "train.epochs"),
    ("spl.step=0.01", "spl"), ("train.lr=[1", "train.lr"),
])
def test_bad_settings_are_refused_naming_the_key(prepared, tmp_path, capsys, setting, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config([], [setting])
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(tmp_path / "r"), *TRAIN,
                 "--set", setting]) == 2
    assert key in _err(capsys) and not (tmp_path / "r").exists()


# --- One error boundary --------------------------------------------------------------------------

# Kind: a CK+ Emotion file that is not UTF-8 text.
def test_a_binary_emotion_file_is_an_exclusion_naming_it(ck_copy, tmp_path):
    tree = tmp_path / "ck"
    shutil.copytree(ck_copy, tree)
    emo = sorted((tree / "Emotion").rglob("*_emotion.txt"))[0]
    emo.write_bytes(b"\xff\xfe3.0\n")
    assert main(["prepare", "--dataset", "ckplus", "--root", str(tree), "--out", str(tmp_path / "p"),
                 "--size", "16"]) == 0
    ex = pd.read_csv(tmp_path / "p/exclusions.csv")
    row = ex[ex["path"] == str(emo)]
    assert len(row) == 1 and "not a UTF-8 text file" in row["reason"].iloc[0]


# Kind: CK+ landmarks that lie outside their frame (the crop box names no file of its own).
def test_landmarks_outside_the_frame_exclude_that_frame(ck_copy, tmp_path):
    tree = tmp_path / "ck"
    shutil.copytree(ck_copy, tree)
    emo = sorted((tree / "Emotion").rglob("*_emotion.txt"))[0]
    seq = emo.relative_to(tree / "Emotion").parent
    lm = sorted((tree / "Landmarks" / seq).glob("*_landmarks.txt"))[-1]
    lm.write_text("".join(f"{5000 + i} {6000 + i}\n" for i in range(68)))
    assert main(["prepare", "--dataset", "ckplus", "--root", str(tree), "--out", str(tmp_path / "p"),
                 "--size", "16"]) == 0
    ex = pd.read_csv(tmp_path / "p/exclusions.csv")
    frame = tree / "cohn-kanade-images" / seq / lm.name.replace("_landmarks.txt", ".png")
    row = ex[ex["path"] == str(frame)]
    assert len(row) == 1 and row["reason"].iloc[0].startswith("crop box (5000, 6000, ")


# Kind: a RAF-DB label file that is not UTF-8 text.
def test_a_binary_rafdb_label_file_is_an_error_naming_file_and_line(synth_root, tmp_path, capsys):
    tree = tmp_path / "raf"
    shutil.copytree(synth_root / "rafdb", tree)
    label = tree / "basic/EmoLabel/list_patition_label.txt"
    label.write_bytes(label.read_bytes() + b"train_\xe9.jpg 1\n")
    n = label.read_bytes().count(b"\n")
    assert main(["prepare", "--dataset", "rafdb", "--root", str(tree), "--out", str(tmp_path / "p")]) == 2
    assert f"{label}:{n}: not a UTF-8 text file" in _err(capsys)


# Kind: an image file name that is not valid UTF-8 (refused before any work).
def test_a_non_utf8_file_name_is_refused_before_the_work(synth_root, tmp_path, capsys):
    tree = tmp_path / "raf"
    shutil.copytree(synth_root / "rafdb", tree)
    folder = os.fsencode(tree / "basic/Image/aligned")
    with open(folder + b"/train_\xff_aligned.jpg", "wb") as f:
        f.write(b"x")
    assert main(["prepare", "--dataset", "rafdb", "--root", str(tree), "--out", str(tmp_path / "p")]) == 2
    assert "train_\\xff_aligned.jpg: file name is not valid UTF-8" in _err(capsys)
    assert not (tmp_path / "p").exists()


# Kind: prepare --size 0 and --folds 0.
@pytest.mark.parametrize("option, message", [(["--size", "0"], "--size 0"), (["--folds", "0"], "--folds 0")])
def test_prepare_sizes_and_folds_out_of_range(synth_root, tmp_path, capsys, option, message):
    assert main(["prepare", "--dataset", "ckplus", "--root", str(synth_root / "ckplus"),
                 "--out", str(tmp_path / "p"), *option]) == 2
    assert message in _err(capsys) and not (tmp_path / "p").exists()


@pytest.fixture
def finished_run(prepared, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *TRAIN]) == 0
    return run


# Kind: a truncated checkpoint.pt; under --restart-on-change it is moved aside and the run restarts.
def test_a_truncated_checkpoint_is_named_and_restarts_under_restart_on_change(prepared, finished_run, capsys):
    ck = finished_run / "checkpoint.pt"
    metrics = json.loads((finished_run / "metrics.json").read_text())
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    args = ["train", "--data", str(prepared["ckplus"][1]), "--out", str(finished_run), *TRAIN]
    assert main(args) == 2
    err = _err(capsys)
    assert f"{ck}: unreadable checkpoint, truncated or not a PyTorch file" in err and "--restart-on-change" in err
    assert main([*args, "--restart-on-change"]) == 0
    out = capsys.readouterr().out
    assert "moved it to checkpoint.pt.unreadable1 and starting over" in out
    assert (finished_run / "checkpoint.pt.unreadable1").stat().st_size == len(data) // 2
    assert json.loads((finished_run / "metrics.json").read_text()) == metrics  # the same numbers, from scratch


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


# Kind: a malicious checkpoint or weight file (a pickle that runs code).
def test_malicious_checkpoint_and_weights_are_refused_in_one_line(prepared, tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _Evil()}, evil)
    data = str(prepared["ckplus"][1])
    assert main(["features", "--checkpoint", str(evil), "--data", data, "--out", str(tmp_path / "f.npz")]) == 2
    assert f"{evil}: checkpoint refused: it asks to run code" in _err(capsys)
    assert main(["train", "--data", data, "--out", str(tmp_path / "r"), *TRAIN, "--set", f"model.weights={evil}"]) == 2
    assert f"{evil}: weight file refused" in _err(capsys)
    # A run's own checkpoint replaced by one that runs code: refused when the run resumes.
    run = tmp_path / "r2"
    assert main(["train", "--data", data, "--out", str(run), *TRAIN]) == 0
    shutil.copy(evil, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(["train", "--data", data, "--out", str(run), *TRAIN]) == 2
    assert "checkpoint refused" in _err(capsys)


# Kind: a shell script given as model.weights.
def test_a_script_as_weights_is_named(prepared, tmp_path, capsys):
    script = tmp_path / "weights.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(tmp_path / "r"), *TRAIN,
                 "--set", f"model.weights={script}"]) == 2
    assert f"{script}: not a PyTorch weight file" in _err(capsys)


# Kind: an expected failure shows its traceback with SPNDL_DEBUG=1.
def test_spndl_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SPNDL_DEBUG", "1")
    with pytest.raises(DataError, match="not a folder"):
        main(["prepare", "--dataset", "rafdb", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])


_FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from spndl.cli import main
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) as on a full disk
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.exit(main(sys.argv[2:]))
""")


def _with_file_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _FULL_DISK, str(limit), *args], capture_output=True, text=True,
                          timeout=300)


# Kind: the disk fills up while training writes its checkpoint.
@pytest.mark.slow
def test_a_full_disk_during_training_is_one_line_and_leaves_no_temporary(prepared, tmp_path):
    run = tmp_path / "run"
    r = _with_file_limit(1 << 20, "train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *TRAIN)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"{run / 'checkpoint.pt'}: could not be written" in r.stderr and "nothing was replaced" in r.stderr
    assert not [p for p in run.iterdir() if is_temporary(p.name)] and not (run / "metrics.json").exists()


# Kind: the disk fills up while prepare writes its arrays.
def test_a_full_disk_during_prepare_is_one_line_and_leaves_nothing(synth_root, tmp_path):
    out = tmp_path / "p"
    r = _with_file_limit(4096, "prepare", "--dataset", "ckplus", "--root", str(synth_root / "ckplus"),
                         "--out", str(out), "--size", "32")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"{out}: could not be written (" in r.stderr and "nothing was replaced" in r.stderr
    assert list(tmp_path.iterdir()) == []


# Kind: a zip that holds a file and a folder of the same name (basic/x and basic/x/y).
def test_a_member_that_is_file_and_folder_is_refused(tmp_path, capsys):
    z = tmp_path / "basic.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("basic/x", "a")
        zf.writestr("basic/x/y", "b")
    assert main(["acquire", "--dataset", "rafdb", "--source", str(z), "--out", str(tmp_path / "raw")]) == 2
    assert "refused member 'basic/x': it is a file and also the folder of 'basic/x/y'" in _err(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basic.zip"]


# --- Leftovers of killed runs, permissions --------------------------------------------------------

_KILL_IN_WRITE = textwrap.dedent("""
    import os, signal, sys
    import torch
    real = torch.save
    calls = []
    def save_then_die(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == int(sys.argv[1]):  # killed half way through writing this checkpoint
            with open(f, "wb") as out:
                out.write(b"PK partial")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(obj, f, *a, **k)
    torch.save = save_then_die
    from spndl.cli import main
    sys.exit(main(sys.argv[2:]))
""")


# Kind: a run killed during a checkpoint write leaves a temporary file; the next run removes it.
@pytest.mark.slow
def test_a_kill_during_a_checkpoint_write_leaves_nothing_after_the_next_run(prepared, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *TRAIN,
            "--set", "train.checkpoint_every_s=0"]
    r = subprocess.run([sys.executable, "-c", _KILL_IN_WRITE, "2", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL
    assert [p for p in run.iterdir() if is_temporary(p.name)], "the kill should leave the partial write behind"
    assert main(args) == 0
    assert not [p for p in run.iterdir() if is_temporary(p.name)]
    assert (run / "metrics.json").is_file()


# Kind: a run killed at random moments under the time-based checkpoint cadence (a checkpoint
# once 0.4 s have passed: some epochs write one, some do not), once during a checkpoint write,
# resumes each time and ends with an uninterrupted run's numbers.
@pytest.mark.slow
def test_a_run_killed_at_random_moments_ends_as_an_uninterrupted_one(prepared, tmp_path):
    import random

    spl = ["--variant", "spl", "--fold", "0", "--set", "train.epochs=7", "--set", "train.batch_size=16",
           "--set", "spl.paces=3", "--set", "spl.step=0.25", "--set", "data.size=32",
           "--set", "train.checkpoint_every_s=0.4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

    def cli(run, *pre):
        return [sys.executable, *pre, "train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *spl]

    full = tmp_path / "full"
    assert subprocess.run(cli(full, "-m", "spndl"), env=env, capture_output=True, timeout=600).returncode == 0
    run = tmp_path / "cut"
    # The first kill: half way through the first checkpoint write.
    r = subprocess.run(cli(run, "-c", _KILL_IN_WRITE, "1"), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL and not (run / "metrics.json").exists()
    assert [p for p in run.iterdir() if is_temporary(p.name)], "the kill should leave the partial write behind"
    rng = random.Random(0)
    for _ in range(3):  # then at random moments within a random epoch
        proc = subprocess.Popen(cli(run, "-m", "spndl"), env=env, stdout=subprocess.PIPE, text=True)
        at = rng.randint(2, 4)
        # Killed in or after epoch `at`, once a checkpoint of this cadence exists to resume from.
        for line in proc.stdout:
            if line.startswith("epoch ") and int(line.split()[1].split("/")[0]) >= at and \
                    (run / "checkpoint.pt").exists():
                break
        time.sleep(rng.uniform(0, 0.5))
        proc.kill()
        proc.wait(60)
        proc.stdout.close()
        assert not (run / "metrics.json").exists(), "the kill came too late to cut the run"
    last = subprocess.run(cli(run, "-m", "spndl"), env=env, capture_output=True, text=True, timeout=600)
    assert last.returncode == 0 and "resuming" in last.stdout, last.stdout
    assert json.loads((run / "metrics.json").read_text()) == json.loads((full / "metrics.json").read_text())
    pd.testing.assert_frame_equal(pd.read_csv(run / "predictions.csv"), pd.read_csv(full / "predictions.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(run / "history.csv").drop(columns="seconds"),
                                  pd.read_csv(full / "history.csv").drop(columns="seconds"))
    assert not [p for p in run.iterdir() if is_temporary(p.name)]


# Kind: prepare killed while writing leaves a temporary folder; the next prepare removes it.
def test_a_killed_prepare_leaves_nothing_after_the_next_one(synth_root, tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        np.save = die
        from spndl.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    args = ["prepare", "--dataset", "rafdb", "--root", str(synth_root / "rafdb"), "--out", str(tmp_path / "p"),
            "--size", "16"]
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL
    assert [p.name for p in tmp_path.iterdir() if is_temporary(p.name)]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


# Kind: a temporary file of a live writer (another process) is left alone.
def test_a_live_writers_temporary_is_left_alone(tmp_path):
    from spndl.fsutil import remove_stale_temporaries, temp_prefix

    live = tmp_path / f"{temp_prefix(tmp_path / 'x')}abcd1234.tmp"  # this process: alive
    live.write_text("")
    user = tmp_path / ".notes.tmp"  # not of the pattern
    user.write_text("")
    assert remove_stale_temporaries(tmp_path) == [] and live.exists() and user.exists()


# Kind: outputs readable by a colleague (the user's umask, not mkstemp's 0600).
def test_outputs_get_the_users_permissions(prepared, tmp_path):
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert main(["train", "--data", str(prepared["ckplus"][1]), "--out", str(run), *TRAIN]) == 0
    finally:
        os.umask(old)
    for name in ("checkpoint.pt", "metrics.json", "history.csv", "config.yaml"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(prepared["ckplus"][1].stat().st_mode) & 0o055 == 0o055  # the prepared folder too


# Kind: temporary names are ignored by git and DVC.
def test_temporary_names_are_ignored_by_git_and_dvc():
    name = "runs/ckplus/baseline/fold0/.checkpoint.pt.host-123.abcd1234.tmp"
    for ignore in (".gitignore", ".dvcignore"):
        assert TEMP_PATTERN in (REPO / ignore).read_text().splitlines()
    # (runs/ is ignored by git as a whole: ask about a folder that is not)
    git = subprocess.run(["git", "check-ignore", "--no-index", "-v", "workflow/" + Path(name).name], cwd=REPO,
                         capture_output=True, text=True)
    assert git.returncode == 0 and TEMP_PATTERN in git.stdout
    dvc = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", "-d", name], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert dvc.returncode == 0 and ".dvcignore" in dvc.stdout, dvc.stdout + dvc.stderr


# --- Unpacking limits and names -------------------------------------------------------------------

def _bomb(path: Path, nbytes: int) -> Path:
    """A zip with a label file and ``nbytes`` of zeros, which deflate about 1000:1."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("basic/EmoLabel/list_patition_label.txt", "train_00001.jpg 1\n")
        zf.writestr("basic/zeros.bin", bytes(nbytes))
    return path


# Kind: an archive that expands 1000:1 (a zip bomb), refused unless the limit is raised.
def test_a_1000_to_1_archive_is_refused_by_default_and_accepted_with_a_raised_limit(tmp_path, capsys):
    z = _bomb(tmp_path / "basic.zip", 200 << 20)  # about 200 KB that unpack to 200 MB
    ratio = sum(i.file_size for i in zipfile.ZipFile(z).infolist()) / z.stat().st_size
    assert ratio > 500
    out = tmp_path / "raw"
    assert main(["acquire", "--dataset", "rafdb", "--source", str(z), "--out", str(out)]) == 2
    assert "over the limit of 100:1" in _err(capsys) and not out.exists()
    assert main(["acquire", "--dataset", "rafdb", "--source", str(z), "--out", str(out), "--max-ratio", "2000"]) == 0
    assert (out / "basic/zeros.bin").stat().st_size > 0


# Kind: the same bomb inside a source (an inner archive), and a total size over the limit.
def test_limits_hold_inside_a_source_and_for_the_total(tmp_path):
    src = tmp_path / "src/basic/Image"
    src.mkdir(parents=True)
    _bomb(src / "aligned.zip", 20 << 20)
    with pytest.raises(DataError, match=r"aligned\.zip: would unpack .* over the limit of 100:1"):
        acquire("rafdb", [str(tmp_path / "src")], tmp_path / "raw", log=lambda s: None)
    z = _bomb(tmp_path / "basic.zip", 1 << 20)
    with pytest.raises(DataError, match="unpacking 1,048,594 more bytes would exceed the limit"):
        acquire("rafdb", [str(z)], tmp_path / "raw", log=lambda s: None,
                limits=Limits(max_bytes=1 << 20, max_ratio=10**6))
    assert not (tmp_path / "raw").exists()


# Kind: member names with control characters or bytes that are not UTF-8.
@pytest.mark.parametrize("kind", ["zip newline", "tar newline", "tar bytes", "zip bytes"])
def test_member_names_that_break_later_steps_are_refused(tmp_path, capsys, kind):
    path = tmp_path / ("basic.zip" if kind.startswith("zip") else "basic.tar")
    bad = "basic/a\nb.jpg" if "newline" in kind else "basic/caf\udce9.jpg"
    if kind.startswith("zip"):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("basic/ok.txt", "x")
            zf.writestr("basic/a\nb.jpg" if "newline" in kind else "basic/cafX.jpg", "x")
        if "bytes" in kind:  # zipfile writes only ASCII or flagged UTF-8: put a latin-1 byte in by hand
            path.write_bytes(path.read_bytes().replace(b"cafX.jpg", b"caf\xe9.jpg"))
            assert not zipfile.ZipFile(path).infolist()[1].flag_bits & 0x800
    else:
        with tarfile.open(path, "w", encoding="utf-8", errors="surrogateescape") as tf:
            m = tarfile.TarInfo(bad)
            m.size = 1
            tf.addfile(m, io.BytesIO(b"x"))
    assert main(["acquire", "--dataset", "rafdb", "--source", str(path), "--out", str(tmp_path / "raw")]) == 2
    err = _err(capsys)
    assert ("control character" in err) if "newline" in kind else ("name is not valid UTF-8" in err)
    assert not (tmp_path / "raw").exists()


# Kind: an edited field of dataset.json that decides what a run means: a reordered class list
# (it would swap per-class accuracy names), another dataset's name (the run would go to that
# dataset's table), synthetic data marked real, another fold count.
@pytest.mark.parametrize("edit", ["classes", "dataset", "synthetic", "n_folds"])
def test_an_edited_field_of_dataset_json_is_caught_by_the_checksum(prepared, tmp_path, edit):
    copy = tmp_path / "prep"
    shutil.copytree(prepared["ckplus"][1], copy)
    info = json.loads((copy / "dataset.json").read_text())
    load_prepared(copy)
    if edit == "classes":
        info["classes"][0], info["classes"][1] = info["classes"][1], info["classes"][0]
    else:
        info[edit] = {"dataset": "rafdb", "synthetic": False, "n_folds": 5}[edit]
    (copy / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="a field of dataset.json .* changed since prepare"):
        load_prepared(copy)


# --- params.yaml mistakes, at parse time ----------------------------------------------------------

# Kind: params.yaml mistakes that the schema lets through (figures, presets' training blocks, variants).
@pytest.mark.slow
@pytest.mark.parametrize("mistake, key", [
    ("figures: {fold: 42}", "figures.fold"),
    ("figures: {fold: 7}", "figures.fold"),
    ("presets: {tiny: {config: {train: {epochs: abc}}}}", "train.epochs"),
    ("presets: {tiny: {config: {train: {epoch: 3}}}}", "train.epoch: unknown setting"),
    ("figures: {tsne_classes: [fear, banana]}", "figures.tsne_classes"),
    ("figures: {tsne_paces: [2, 9]}", "figures.tsne_paces"),
    ("variants: {oulu: []}", "variants.oulu"),
    ("presets: {tiny: {config: {train: {lr: -1}}}}", "train.lr"),
    ("presets: {tiny: {config: {seed: 3}}}", "presets.tiny.config.seed: seeds are set by presets.tiny.seeds"),
    ("presets: {tiny: {seeds: [1, 1]}}", "non-unique elements"),
])
def test_params_mistakes_fail_the_dry_run_naming_the_key(tmp_path, mistake, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(mistake + "\n")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
           "--configfile", str(REPO / "workflow/tests/params-tiny.yaml"), str(bad)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert key in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
