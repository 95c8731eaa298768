import hashlib

import cv2
import numpy as np
import pandas as pd
import pytest

from spndl.synth import generate
from spndl.synth.face import EXPRESSION_AUS, expression_shape, neutral_shape, sample_identity


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic_per_seed(tmp_path):
    a = generate(tmp_path / "a", seed=5, size="tiny", datasets=("rafdb",))
    b = generate(tmp_path / "b", seed=5, size="tiny", datasets=("rafdb",))
    c = generate(tmp_path / "c", seed=6, size="tiny", datasets=("rafdb",))
    assert _digest(a) == _digest(b) != _digest(c)


def test_ckplus_layout_matches_the_real_one(synth_root):
    ck = synth_root / "ckplus"
    truth = pd.read_csv(synth_root / "synth_truth.csv", keep_default_na=False)
    truth = truth[truth["dataset"] == "ckplus"]
    labelled = truth[truth["written_label"] != ""]
    assert 0 < len(labelled) < len(truth)  # some sequences are unlabelled, as in CK+
    assert set(labelled["written_label"]) == {"anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"}
    sizes, modes = set(), set()
    for seq in truth["sequence"]:
        frames = sorted((ck / "cohn-kanade-images" / seq).glob("*.png"))
        emotion = list((ck / "Emotion" / seq).glob("*_emotion.txt"))
        if seq in set(labelled["sequence"]):
            assert [e.name for e in emotion] == [f"{frames[-1].stem}_emotion.txt"]  # only on the last frame
            assert emotion[0].read_text().startswith("   ") and "e+00" in emotion[0].read_text()
        else:
            assert emotion == []
        for f in frames:
            assert (ck / "Landmarks" / seq / f"{f.stem}_landmarks.txt").is_file()
        img = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
        sizes.add(img.shape[:2])
        modes.add(img.ndim)
    assert {(490, 640), (480, 640)} <= sizes and modes == {2, 3}
    lm = np.loadtxt(next((ck / "Landmarks").rglob("*_landmarks.txt")))
    assert lm.shape == (68, 2)


def test_oulu_layout_holds_distractor_cameras_and_lights(synth_root):
    base = synth_root / "oulu" / "OriginalImg"
    assert (base / "NI" / "Strong").is_dir() and (base / "VL" / "Dark").is_dir()
    seqs = list((base / "VL" / "Strong").glob("P*/*"))
    assert {s.name for s in seqs} == {"Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"}
    frames = sorted(seqs[0].glob("*.jpeg"))
    assert frames[0].name == "000.jpeg" and cv2.imread(str(frames[0])).shape == (240, 320, 3)


@pytest.mark.parametrize("trait, value, expression", [
    ("eye_open", 0.5, "disgust"), ("mouth_curve", 0.08, "sadness"), ("brow_height", 0.1, "surprise")])
def test_identity_traits_mimic_expressions(trait, value, expression):
    """Figure 1 built in: a neutral face with the trait moves the same landmarks, in the same
    direction, as the expression does on an average face."""
    rng = np.random.default_rng(0)
    avg = sample_identity(rng)
    for k in ("eye_open", "mouth_curve", "brow_height"):
        setattr(avg, k, {"eye_open": 1.0, "mouth_curve": 0.0, "brow_height": 0.0}[k])
    avg.expressivity = 1.0
    trait_face = sample_identity(np.random.default_rng(0))
    trait_face.__dict__.update({k: getattr(avg, k) for k in ("eye_open", "mouth_curve", "brow_height",
                                                             "expressivity")})
    setattr(trait_face, trait, value)
    by_trait = neutral_shape(trait_face) - neutral_shape(avg)
    by_expr = expression_shape(avg, expression, 1.0) - neutral_shape(avg)
    moved = np.linalg.norm(by_trait, axis=1) > 1e-9  # the landmarks the trait moves
    by_trait, by_expr = by_trait[moved], by_expr[moved]
    cos = (by_trait * by_expr).sum() / (np.linalg.norm(by_trait) * np.linalg.norm(by_expr))
    assert cos > 0.3
    assert 0.3 < np.linalg.norm(by_trait) / np.linalg.norm(by_expr) < 3


def test_neutral_intensity_is_the_identity_shape():
    idt = sample_identity(np.random.default_rng(1))
    for e in EXPRESSION_AUS:
        np.testing.assert_array_equal(expression_shape(idt, e, 0.0), neutral_shape(idt))


def test_the_paper_size_keeps_every_written_class_count_and_still_mislabels(tmp_path, monkeypatch):
    """SynthSize.written_exact (the paper's size, held to the real per-class counts by check-data):
    the written labels keep the listed counts; the mislabelled samples show another expression."""
    from dataclasses import replace

    from spndl.synth import layouts

    monkeypatch.setattr(layouts, "MISLABEL_RATE", 0.4)
    monkeypatch.setattr(layouts, "RAF_MISLABEL_RATE", 0.4)
    size = replace(layouts.SIZES["tiny"], written_exact=True)
    truth: list[dict] = []
    layouts.write_ckplus(tmp_path / "ckplus", size, 0, truth)
    layouts.write_rafdb(tmp_path / "rafdb", size, 0, truth)
    t = pd.DataFrame(truth)
    ck = t[(t["dataset"] == "ckplus") & (t["written_label"] != "")]
    assert ck["written_label"].value_counts().to_dict() == {k: v for k, v in size.ck_labelled.items() if v}
    assert (ck["true_label"] != ck["written_label"]).sum() >= 5
    raf = t[t["dataset"] == "rafdb"]
    train = raf[raf["image"].str.startswith("train")]
    assert train["written_label"].value_counts().to_dict() == size.raf_train
    assert (raf["true_label"] != raf["written_label"]).sum() >= 20
    # What check-data reads is the written label: RAF-DB's list file carries exactly those counts.
    codes = pd.read_csv(tmp_path / "rafdb/basic/EmoLabel/list_patition_label.txt", sep=" ", header=None)
    assert len(codes) == sum(size.raf_train.values()) + sum(size.raf_test.values())
    assert sorted(codes[1].value_counts()) == sorted(raf["written_label"].value_counts())
