import shutil

import numpy as np
import pandas as pd
import pytest

from spndl.data import ckplus
from spndl.data.crop import crop_resize, landmark_box, read_image
from spndl.data.prepare import prepare
from spndl.data.prepared import Prepared, load_prepared, split_indices
from spndl.data.records import DataError


def _truth(root, dataset):
    t = pd.read_csv(root / "synth_truth.csv", keep_default_na=False)
    return t[t["dataset"] == dataset]


def test_ckplus_samples_follow_the_pairing_rule(synth_root, prepared):
    info, path = prepared["ckplus"]
    truth = _truth(synth_root, "ckplus")
    labelled = truth[truth["written_label"] != ""]
    m = pd.read_csv(path / "manifest.csv")
    assert len(m) == 3 * len(labelled) == info["counts"]["samples"]
    assert info["counts"]["sequences"] == len(truth)  # unlabelled ones counted, not used
    for seq, rows in m.groupby("sequence"):
        assert len(rows) == 3 and rows["reference"].nunique() == 1
        assert rows["reference"].iloc[0].endswith("_00000001.png")  # first frame is the reference
        n = len(list((synth_root / "ckplus" / "cohn-kanade-images" / seq).glob("*.png")))
        assert sorted(int(t[-12:-4]) for t in rows["target"]) == [n - 2, n - 1, n]  # last three frames
    # Labels travel with their sequence: they equal the written Emotion label.
    written = dict(zip(labelled["sequence"], labelled["written_label"]))
    assert (m["label_name"] == m["sequence"].map(written)).all()


def test_oulu_uses_vl_strong_only_and_pairs_every_sequence(synth_root, prepared):
    info, path = prepared["oulu"]
    m = pd.read_csv(path / "manifest.csv")
    n_subjects = len(_truth(synth_root, "oulu")["subject"].unique())
    assert info["counts"]["sequences"] == 6 * n_subjects
    # Each sequence gives its three peak frames, less each frame where the detector found no
    # face (listed); a sequence whose neutral frame is missed gives none.
    excl = pd.read_csv(path / "exclusions.csv", keep_default_na=False)
    assert set(excl["reason"]) <= {"no face found by the detector",
                                   "neutral reference 000.jpeg unusable: sequence dropped"}
    missed = excl[excl["reason"] == "no face found by the detector"].groupby("sequence")["path"].apply(list)
    assert len(m) == sum(0 if any(p.endswith("/000.jpeg") for p in missed.get(s, [])) else 3 - len(missed.get(s, []))
                         for s in _truth(synth_root, "oulu")["sequence"])
    assert m["target"].str.startswith("OriginalImg/VL/Strong/").all()
    assert (m["crop"] == "detector").all()


def test_rafdb_split_and_labels(synth_root, prepared):
    info, path = prepared["rafdb"]
    m = pd.read_csv(path / "manifest.csv", keep_default_na=False)
    lines = (synth_root / "rafdb/basic/EmoLabel/list_patition_label.txt").read_text().split()
    assert len(m) == len(lines) // 2
    assert set(m["split"]) == {"train", "test"}
    assert (m["split"] == m["sample_id"].str.split("_").str[0]).all()
    assert (m["reference"] == "").all() and (m["reference_index"] == -1).all()
    truth = _truth(synth_root, "rafdb").set_index("image")["written_label"]
    assert (m["label_name"].to_numpy() == truth.loc[m["sequence"]].to_numpy()).all()


def test_crop_box_is_the_landmark_extremes(synth_root, prepared):
    pts = np.array([[10.2, 50.0], [80.7, 40.1], [45.0, 12.5], [50.0, 99.0]])
    assert landmark_box(pts) == (10, 12, 82, 100)  # x0 = min x, y0 = min y, exclusive ends
    _, path = prepared["ckplus"]
    m = pd.read_csv(path / "manifest.csv")
    images = np.load(path / "images.npy")
    row = m.iloc[4]
    frame = synth_root / "ckplus" / row["target"]
    lm = synth_root / "ckplus/Landmarks" / row["sequence"] / f"{frame.stem}_landmarks.txt"
    expected = crop_resize(read_image(frame), landmark_box(ckplus.read_landmarks(lm)), 32)
    np.testing.assert_array_equal(images[row["target_index"]], expected)


def _broken_ckplus(synth_root, tmp_path):
    root = tmp_path / "ck"
    shutil.copytree(synth_root / "ckplus", root)
    truth = _truth(synth_root, "ckplus")
    seqs = truth[truth["written_label"] != ""]["sequence"].tolist()
    img, emo, lmk = root / "cohn-kanade-images", root / "Emotion", root / "Landmarks"
    # 1. too short: keep 3 frames and move the label onto the new last frame.
    s = seqs[0]
    frames = sorted((img / s).glob("*.png"))
    for f in frames[3:]:
        f.unlink()
    label = next((emo / s).glob("*_emotion.txt"))
    label.rename(emo / s / f"{frames[2].stem}_emotion.txt")
    # 2. an emotion file that holds no number.
    bad_label = next((emo / seqs[1]).glob("*_emotion.txt"))
    bad_label.write_text("happy\n")
    # 3. a target frame's landmark file missing.
    last = sorted((img / seqs[2]).glob("*.png"))[-1]
    missing_lm = lmk / seqs[2] / f"{last.stem}_landmarks.txt"
    missing_lm.unlink()
    # 4. an unreadable reference frame.
    ref = sorted((img / seqs[3]).glob("*.png"))[0]
    ref.write_bytes(b"not a png")
    # 5. a label code out of range.
    code_label = next((emo / seqs[4]).glob("*_emotion.txt"))
    code_label.write_text("   9.0000000e+00\n")
    return root, seqs, {"short": frames[0].parent, "bad_label": bad_label, "missing_lm": missing_lm,
                        "ref": ref, "code": code_label}


def test_bad_ckplus_input_is_excluded_with_its_path_and_labels_never_shift(synth_root, tmp_path):
    root, seqs, paths = _broken_ckplus(synth_root, tmp_path)
    info = prepare("ckplus", root, tmp_path / "out", size=32)
    excl = pd.read_csv(tmp_path / "out/exclusions.csv", keep_default_na=False)
    reasons = dict(zip(excl["path"], excl["reason"]))
    assert "pairing rule needs" in reasons[str(paths["short"])]
    assert "does not hold one number" in reasons[str(paths["bad_label"])]
    assert "landmark file missing" in reasons[str(paths["missing_lm"])]
    assert "unreadable" in reasons[str(paths["ref"])]
    assert "outside 1..7" in reasons[str(paths["code"])]
    m = pd.read_csv(tmp_path / "out/manifest.csv")
    per_seq = m.groupby("sequence").size()
    assert seqs[0] not in per_seq and seqs[1] not in per_seq and seqs[3] not in per_seq and seqs[4] not in per_seq
    assert per_seq[seqs[2]] == 2  # only the target without landmarks is dropped
    truth = _truth(synth_root, "ckplus")
    written = dict(zip(truth["sequence"], truth["written_label"]))
    assert (m["label_name"] == m["sequence"].map(written)).all()
    n_labelled = (truth["written_label"] != "").sum()
    assert info["counts"]["samples"] == 3 * (n_labelled - 4) - 1


def test_rafdb_missing_image_and_unlisted_image_are_reported(synth_root, tmp_path):
    root = tmp_path / "raf"
    shutil.copytree(synth_root / "rafdb", root)
    aligned = root / "basic/Image/aligned"
    gone = sorted(aligned.glob("train_*"))[3]
    gone.unlink()
    extra = aligned / "train_99999_aligned.jpg"
    shutil.copy(sorted(aligned.glob("test_*"))[0], extra)
    (aligned / "._train_00001_aligned.jpg").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata, not an image
    prepare("rafdb", root, tmp_path / "out", size=32)
    excl = pd.read_csv(tmp_path / "out/exclusions.csv", keep_default_na=False)
    reasons = dict(zip(excl["path"], excl["reason"]))
    assert reasons == {str(gone): "listed in the label file but missing",
                       str(extra): "image has no line in the label file"}


def test_missing_dataset_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CK\\+ image folder"):
        prepare("ckplus", tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_nested_ckplus_copy_is_read(synth_root, tmp_path):
    root = tmp_path / "nested"
    shutil.copytree(synth_root / "ckplus/cohn-kanade-images", root / "extended-cohn-kanade-images/cohn-kanade-images")
    shutil.copytree(synth_root / "ckplus/Emotion", root / "Emotion_labels/Emotion")
    shutil.copytree(synth_root / "ckplus/Landmarks", root / "Landmarks")
    flat = ckplus.read(synth_root / "ckplus")
    nested = ckplus.read(root)
    assert [s.sequence for s in nested.sequences] == [s.sequence for s in flat.sequences]
    assert [s.label for s in nested.sequences] == [s.label for s in flat.sequences]


def test_a_fold_whose_training_part_lacks_a_class_is_an_error(prepared):
    info, path = prepared["ckplus"]
    data = load_prepared(path)
    m = data.manifest.copy()
    m.loc[m["label_name"] == "contempt", "fold"] = 0  # every contempt sample in the test fold
    broken = Prepared(data.path, data.images, m, data.info, data.checksum)
    with pytest.raises(DataError, match="fold 0: the training part has no sample of class.*contempt"):
        split_indices(broken, 0)


def test_tampered_prepared_data_is_refused(prepared, tmp_path):
    _, path = prepared["oulu"]
    copy = tmp_path / "p"
    shutil.copytree(path, copy)
    m = pd.read_csv(copy / "manifest.csv")
    m.loc[0, "label"] = (m.loc[0, "label"] + 1) % 6
    m.to_csv(copy / "manifest.csv", index=False)
    with pytest.raises(DataError, match="changed since prepare"):
        load_prepared(copy)
