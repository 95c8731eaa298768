"""The real datasets' distribution forms and variants: acquire, check and prepare give the exact counts."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
from archives import ckplus_zips, oulu_tree, pack, rafdb_packed_images, unmarked

from spndl.cli import main
from spndl.data.acquire import acquire
from spndl.data.check import check_data
from spndl.data.crop import FaceDetector, crop_resize
from spndl.data.prepare import prepare
from spndl.data.records import DataError
from spndl.data.spec import OULU_CLASSES, RAFDB_CODES
from spndl.fsutil import sha256_file
from spndl.synth.layouts import SIZES

TINY = SIZES["tiny"]
QUIET = {"log": lambda s: None}


def _truth(synth_root, dataset):
    t = pd.read_csv(synth_root / "synth_truth.csv", keep_default_na=False)
    return t[t["dataset"] == dataset]


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_ckplus_three_zips_give_the_exact_counts(synth_root, tmp_path, nested):
    zips = ckplus_zips(unmarked(synth_root / "ckplus", tmp_path / "real-like"), tmp_path / "dl", nested)
    acquire("ckplus", [str(z) for z in zips], tmp_path / "raw", **QUIET)
    info = prepare("ckplus", tmp_path / "raw", tmp_path / "prepared", size=32)
    c = info["counts"]
    assert c["labelled_sequences"] == sum(TINY.ck_labelled.values())
    assert c["subjects"] == TINY.ck_subjects and c["labelled_subjects"] == TINY.ck_labelled_subjects
    assert c["sequences"] == sum(TINY.ck_labelled.values()) + TINY.ck_unlabelled
    # Labels as written in the Emotion files, three peak frames each.
    written = _truth(synth_root, "ckplus").query("written_label != ''")["written_label"].value_counts()
    assert c["samples"] == 3 * sum(TINY.ck_labelled.values())
    assert c["samples_per_class"] == {k: 3 * int(written.get(k, 0)) for k in c["samples_per_class"]}
    assert info["acquired"]["sources"][0]["name"] == "cohn-kanade-images.zip"
    assert not info["synthetic"]  # the archives hold no SYNTHETIC.txt: the check treats them as real
    report = check_data("ckplus", tmp_path / "raw")
    assert report.counts["samples"] == c["samples"] and report.anomalies == []
    assert not report.ok and "samples: found 81, paper 981" in report.deviations


OULU_VARIANTS = {
    "originals": dict(original_level=True, cropped_parent=None),
    "originals without OriginalImg/": dict(original_level=False, cropped_parent=None),
    "cropped PreProcess": dict(cropped_parent="PreProcess"),
    "cropped PreProcess_Img": dict(cropped_parent="PreProcess_Img"),
    "cropped PreProcessImg": dict(cropped_parent="PreProcessImg", original_level=False),
}


@pytest.mark.parametrize("variant", sorted(OULU_VARIANTS))
def test_oulu_variants_give_the_exact_counts(synth_root, tmp_path, variant):
    kw = OULU_VARIANTS[variant]
    tree = oulu_tree(synth_root / "oulu", tmp_path / "copy", **kw)
    archive = pack(tmp_path / "dl/Oulu_CASIA_NIR_VIS.tar.gz", {"Oulu_CASIA_NIR_VIS": tree})
    acquire("oulu", [str(archive)], tmp_path / "raw", **QUIET)
    images = "owners" if kw["cropped_parent"] else "original"
    report = check_data("oulu", tmp_path / "raw", images=images)
    n_seq = 6 * TINY.oulu_subjects
    assert report.counts["subjects"] == TINY.oulu_subjects and report.counts["sequences"] == n_seq
    assert report.counts["samples"] == 3 * n_seq and report.anomalies == []
    info = prepare("oulu", tmp_path / "raw", tmp_path / "prepared", size=32, images=images)
    m = pd.read_csv(tmp_path / "prepared/manifest.csv")
    excl = pd.read_csv(tmp_path / "prepared/exclusions.csv", keep_default_na=False)
    if images == "owners":
        assert info["counts"]["samples"] == 3 * n_seq and set(m["crop"]) == {"owners"} and excl.empty
        assert info["crop"] == "owners" and kw["cropped_parent"] in m["target"].iloc[0]
    else:
        # Every frame the detector misses is listed and excluded; nothing else is. A sequence
        # whose neutral frame is missed gives no sample, otherwise each missed peak costs one.
        missed = excl[excl["reason"] == "no face found by the detector"].groupby("sequence")["path"].apply(list)
        assert set(excl["reason"]) <= {"no face found by the detector",
                                       "neutral reference 000.jpeg unusable: sequence dropped"}
        expected = sum(0 if any(p.endswith("/000.jpeg") for p in missed.get(seq, [])) else 3 - len(missed.get(seq, []))
                       for seq in _truth(synth_root, "oulu")["sequence"])
        assert info["counts"]["samples"] == len(m) == expected
        assert set(m["crop"]) == {"detector"} and info["crop"] == "detector"
        assert ("OriginalImg/VL/Strong" in m["target"].iloc[0]) == kw["original_level"]
    # Labels come from the folder names, whatever was excluded.
    assert (m["label_name"] == m["sequence"].str.split("/").str[1].map(
        {"Anger": "anger", "Disgust": "disgust", "Fear": "fear", "Happiness": "happy",
         "Sadness": "sadness", "Surprise": "surprise"})).all()


@pytest.mark.parametrize("images", ["original", "owners"])
def test_a_missing_oulu_sequence_is_reported_and_shifts_no_label(synth_root, tmp_path, images):
    copy = oulu_tree(synth_root / "oulu", tmp_path / "copy", cropped_parent="PreProcess_Img", drop="P003/Fear")
    acquire("oulu", [str(pack(tmp_path / "dl/oulu.zip", {"OULU-CASIA": copy}))], tmp_path / "raw", **QUIET)
    tree = tmp_path / "raw"
    report = check_data("oulu", tree, images=images)
    n_seq = 6 * TINY.oulu_subjects - 1
    assert report.counts["sequences"] == n_seq and report.counts["sequences/fear"] == TINY.oulu_subjects - 1
    missing = [a for a in report.anomalies if a["reason"] == "missing sequence"]
    assert [(a["sequence"], a["label"]) for a in missing] == [("P003/Fear", "fear")]
    assert missing[0]["path"].endswith("P003/Fear")
    assert "sequences: found 59, paper 480" in report.deviations
    if images == "owners":
        info = prepare("oulu", tree, tmp_path / "prepared", size=32, images=images)
        assert info["counts"]["samples"] == 3 * n_seq
        assert info["counts"]["samples_per_class"] == {c: 3 * (TINY.oulu_subjects - (c == "fear"))
                                                      for c in OULU_CLASSES}


def test_oulu_without_a_cropped_copy_says_which_spellings_it_looked_for(synth_root, tmp_path, capsys):
    tree = oulu_tree(synth_root / "oulu", tmp_path / "copy", cropped_parent=None)
    assert main(["check-data", "--dataset", "oulu", "--root", str(tree), "--images", "owners"]) == 2
    err = capsys.readouterr().err
    assert f"{tree}: no cropped copy (PreProcess or PreProcess_Img or PreProcessImg/VL_Acropped/Strong" in err


def test_rafdb_label_file_with_aligned_images_and_with_originals_and_the_detector(synth_root, tmp_path):
    archive = pack(tmp_path / "dl/basic.zip", {"basic": synth_root / "rafdb/basic"})
    acquire("rafdb", [str(archive)], tmp_path / "raw", **QUIET)
    labels = {ln.split()[0].removesuffix(".jpg"): RAFDB_CODES[int(ln.split()[1])]
              for ln in (synth_root / "rafdb/basic/EmoLabel/list_patition_label.txt").read_text().splitlines()}
    info = prepare("rafdb", tmp_path / "raw", tmp_path / "aligned", size=32)
    assert info["counts"]["train"] == sum(TINY.raf_train.values()) and info["counts"]["samples"] == len(labels)
    info = prepare("rafdb", tmp_path / "raw", tmp_path / "original", size=32, images="original")
    m = pd.read_csv(tmp_path / "original/manifest.csv")
    excl = pd.read_csv(tmp_path / "original/exclusions.csv", keep_default_na=False)
    assert set(excl["reason"]) <= {"no face found by the detector"}
    assert len(m) + len(excl) == len(labels)  # every image is either a sample or listed
    assert (m["label_name"] == m["sample_id"].map(labels)).all()
    assert set(m["crop"]) == {"detector"} and info["crop"] == "detector"
    report = check_data("rafdb", tmp_path / "raw", images="original")
    assert report.counts["train"] == sum(TINY.raf_train.values())
    assert report.counts["test/happy"] == TINY.raf_test["happy"]


@pytest.mark.parametrize("own_folder", [True, False], ids=["aligned/ inside", "flat"])
def test_rafdb_images_packed_inside_basic_are_unpacked_by_acquire(synth_root, tmp_path, own_folder):
    basic = rafdb_packed_images(synth_root / "rafdb/basic", tmp_path / "dl/basic", own_folder)
    with pytest.raises(DataError, match="aligned.zip beside it is still packed"):
        prepare("rafdb", basic, tmp_path / "unusable", size=32)
    archive = pack(tmp_path / "dl/basic.zip", {"basic": basic})
    rec = acquire("rafdb", [str(archive)], tmp_path / "raw", **QUIET)
    image = tmp_path / "raw/basic/Image"
    assert sorted(p.name for p in image.iterdir()) == ["aligned", "original"]  # the zips are gone
    for kind in ("aligned", "original"):
        assert sorted(p.name for p in (image / kind).iterdir()) == \
            sorted(p.name for p in (synth_root / "rafdb/basic/Image" / kind).iterdir())
    assert [(n["archive"], n["unpacked_to"], n["sha256"]) for n in rec["unpacked_inside"]] == \
        [(f"basic/Image/{k}.zip", f"basic/Image/{k}", sha256_file(basic / f"Image/{k}.zip"))
         for k in ("aligned", "original")]
    report = check_data("rafdb", tmp_path / "raw")
    assert (report.counts["train"], report.counts["test"]) == \
        (sum(TINY.raf_train.values()), sum(TINY.raf_test.values()))


def test_check_data_lists_every_anomaly_with_its_path(synth_root, tmp_path):
    root = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", root)
    seqs = sorted(p for p in (root / "Emotion").glob("*/*") if any(p.iterdir()))
    # A missing landmark file on a peak frame, an unreadable neutral frame, a code out of range.
    s1, s2, s3 = seqs[0], seqs[1], seqs[2]
    peak = sorted((root / "Landmarks" / s1.parent.name / s1.name).iterdir())[-1]
    peak.unlink()
    neutral = sorted((root / "cohn-kanade-images" / s2.parent.name / s2.name).iterdir())[0]
    neutral.write_bytes(b"not a png")
    next(s3.iterdir()).write_text("   9.0000000e+00\n")
    report = check_data("ckplus", root)
    got = {(a["path"], a["reason"]) for a in report.anomalies}
    assert (str(peak), "landmark file missing") in got
    assert (str(neutral), "unreadable image") in got
    assert (str(next(s3.iterdir())), "emotion code 9 outside 1..7") in got
    full = 3 * sum(TINY.ck_labelled.values())
    assert report.counts["samples"] == full - 1 - 3 - 3
    info = prepare("ckplus", root, tmp_path / "prepared", size=32)
    assert info["counts"]["samples"] == report.counts["samples"]


def test_check_data_cli_reports_synthetic_counts_and_stops_on_real_deviations(synth_root, tmp_path, capsys):
    for d in ("ckplus", "oulu", "rafdb"):
        assert main(["check-data", "--dataset", d, "--root", str(synth_root / d),
                     "--report", str(tmp_path / f"{d}.json")]) == 0
        out = capsys.readouterr().out
        assert "SYNTHETIC data" in out and "verdict: synthetic data; going on." in out
        saved = json.loads((tmp_path / f"{d}.json").read_text())
        assert saved["synthetic"] and saved["ok"] and not saved["matches"]
    main(["check-data", "--dataset", "ckplus", "--root", str(synth_root / "ckplus")])
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.split() == ["samples", "81", "981", "<-", "differs"] for ln in lines)
    # The same tree without its marks (SYNTHETIC.txt, the images' own) is held to the paper's counts.
    unmarked(synth_root / "oulu", tmp_path / "oulu")
    assert main(["check-data", "--dataset", "oulu", "--root", str(tmp_path / "oulu")]) == 3
    assert "stopping" in capsys.readouterr().out
    assert main(["check-data", "--dataset", "oulu", "--root", str(tmp_path / "oulu"), "--allow-deviation",
                 "--report", str(tmp_path / "allowed.json")]) == 0
    assert json.loads((tmp_path / "allowed.json").read_text())["allowed"]


def test_the_shipped_detector_finds_a_real_face_in_a_320x240_frame():
    from skimage import data

    photo = data.astronaut()                       # 512x512; her face spans about x 170-290, y 40-190
    small = cv2.resize(photo, (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[40:240, 80:280] = small                  # pasted at (80, 40), scale 200/512
    box = FaceDetector().detect(frame)
    assert box is not None
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    s = 200 / 512
    assert 80 + 170 * s < cx < 80 + 290 * s and 40 + 40 * s < cy < 40 + 190 * s
    assert 30 < box[2] - box[0] < 90
    assert crop_resize(frame, box, 64).shape == (3, 64, 64)
    assert FaceDetector().detect(np.full((240, 320, 3), 90, np.uint8)) is None
