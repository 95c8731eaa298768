"""spndl predict, spndl export and the model card, on runs trained on the tiny synthetic data."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from spndl.cli import main
from spndl.config import load_config
from spndl.data.prepared import load_prepared, split_indices
from spndl.inference.predict import Predictor
from spndl.training.train import train

SETS = ["data.size=32", "train.epochs=2", "train.batch_size=16"]


@pytest.fixture(scope="module")
def runs(prepared, tmp_path_factory):
    base = tmp_path_factory.mktemp("predict-runs")
    _, data = prepared["ckplus"]
    return {v: (train(data, v, 0, base / v, load_config([], SETS), log=lambda s: None), base / v)
            for v in ("baseline", "ndf")}


def _write_rgb(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV writes BGR
    return path


def _test_crops(prepared, tmp_path):
    """The test fold's prepared target crops as PNG files, named by manifest row."""
    data = load_prepared(prepared["ckplus"][1])
    _, test_rows = split_indices(data, 0)
    folder = tmp_path / "crops"
    folder.mkdir()
    m = data.manifest.iloc[test_rows]
    for row, t in zip(test_rows, m["target_index"]):
        _write_rgb(folder / f"{row:05d}.png", data.images[t].transpose(1, 2, 0))
    return data, m, folder


def test_predictions_on_the_prepared_crops_equal_the_runs_own(runs, prepared, tmp_path):
    _, run = runs["baseline"]
    data, m, folder = _test_crops(prepared, tmp_path)
    out = tmp_path / "p.csv"
    assert main(["predict", "--checkpoint", str(run), "--folder", str(folder), "--no-detect", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    want = pd.read_csv(run / "predictions.csv")
    assert len(got) == len(want) == len(m) and (got["status"] == "ok").all()
    assert got["prediction"].tolist() == [data.classes[k] for k in want["prediction"]]
    probs = [f"prob_{c}" for c in data.classes]
    np.testing.assert_allclose(got[probs].to_numpy(), want[probs].to_numpy(), atol=1e-5)
    assert (got["x0"] == 0).all() and (got["x1"] == 32).all()  # --no-detect: the whole crop is the face


def test_an_ndf_run_predicts_against_each_subjects_neutral_photo(runs, prepared, tmp_path):
    _, run = runs["ndf"]
    data, m, _ = _test_crops(prepared, tmp_path)
    want = pd.read_csv(run / "predictions.csv").set_index("sample_id")
    p = Predictor(run, detect=False)
    for sid, t, r in list(zip(m["sample_id"], m["target_index"], m["reference_index"]))[:6]:
        row, = p.predict([data.images[t].transpose(1, 2, 0)], neutral=data.images[r].transpose(1, 2, 0))
        got = [row[f"prob_{c}"] for c in data.classes]
        np.testing.assert_allclose(got, want.loc[sid, [f"prob_{c}" for c in data.classes]].to_numpy(float), atol=1e-5)


def test_a_real_photo_gives_one_face_inside_her_face_and_a_photo_without_one_a_no_face_row(runs, tmp_path):
    from skimage import data

    _, run = runs["baseline"]
    photo = _write_rgb(tmp_path / "astronaut.jpg", data.astronaut())  # her face: about x 170-290, y 40-190
    empty = _write_rgb(tmp_path / "wall.png", np.full((240, 320, 3), 90, np.uint8))
    out = tmp_path / "p.json"
    assert main(["predict", "--checkpoint", str(run), "--image", str(photo), str(empty), "--out", str(out)]) == 0
    face, none = json.loads(out.read_text())
    assert face["file"] == str(photo) and face["status"] == "ok"
    cx, cy = (face["x0"] + face["x1"]) / 2, (face["y0"] + face["y1"]) / 2
    assert 170 < cx < 290 and 40 < cy < 190
    probs = [v for k, v in face.items() if k.startswith("prob_")]
    assert len(probs) == 7 and sum(probs) == pytest.approx(1, abs=1e-5) and face["prediction"]
    assert none["file"] == str(empty) and none["status"] == "no_face" and none["prediction"] is None


def test_a_video_gives_one_row_per_sampled_frame(runs, tmp_path):
    from skimage import data

    _, run = runs["baseline"]
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    face = cv2.resize(data.astronaut(), (256, 256))[..., ::-1]
    for k in range(10):
        w.write(np.ascontiguousarray(face if k % 2 == 0 else face[:, ::-1]))
    w.release()
    out = tmp_path / "v.csv"
    assert main(["predict", "--checkpoint", str(run), "--video", str(video), "--every", "3", "--out", str(out)]) == 0
    rows = pd.read_csv(out)
    assert rows["frame"].tolist() == [0, 3, 6, 9] and (rows["file"] == str(video)).all()
    assert rows["status"].isin(["ok", "no_face"]).all()


def _err(capsys):
    return capsys.readouterr().err


def test_bad_inputs_are_clear_errors_that_name_the_file(runs, tmp_path, capsys):
    _, base = runs["baseline"]
    _, ndf = runs["ndf"]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    assert main(["predict", "--checkpoint", str(base), "--image", str(bad)]) == 2
    assert f"{bad}: unreadable image" in _err(capsys)
    missing = tmp_path / "nowhere"
    assert main(["predict", "--checkpoint", str(missing), "--image", str(bad)]) == 2
    assert f"{missing}: no such run folder" in _err(capsys)
    photo = _write_rgb(tmp_path / "x.png", np.zeros((32, 32, 3), np.uint8))
    assert main(["predict", "--checkpoint", str(base), "--image", str(photo), "--neutral", str(photo)]) == 2
    assert f"{base}: variant baseline uses no neutral photo; leave out --neutral {photo}" in _err(capsys)
    assert main(["predict", "--checkpoint", str(ndf), "--image", str(photo), "--no-detect"]) == 2
    assert f"{ndf}: variant ndf classifies the difference to a neutral photo" in _err(capsys)
    assert main(["predict", "--checkpoint", str(ndf), "--image", str(photo), "--neutral", str(photo)]) == 2
    assert f"{photo}: the detector finds no face in the neutral image" in _err(capsys)
    # A folder whose checkpoint is another variant's than its metrics say.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "metrics.json").write_text((ndf / "metrics.json").read_text())
    (mixed / "checkpoint.pt").write_bytes((base / "checkpoint.pt").read_bytes())
    assert main(["predict", "--checkpoint", str(mixed), "--image", str(photo), "--no-detect"]) == 2
    assert f"{mixed / 'checkpoint.pt'}: a checkpoint of variant 'baseline', but" in _err(capsys)


@pytest.mark.slow
def test_the_onnx_graph_gives_pytorchs_probabilities(runs, prepared, tmp_path, capsys):
    import onnx
    import onnxruntime as ort
    import torch

    _, run = runs["ndf"]
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(run), "--out", str(out)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    data = load_prepared(prepared["ckplus"][1])
    assert json.loads(meta["classes"]) == data.classes and meta["image_size"] == "32"
    assert meta["spndl_variant"] == "ndf" and meta["synthetic"] == "True" and meta["data_checksum"] == data.checksum
    p = Predictor(run, detect=False)
    x = torch.from_numpy(data.images[:5]).float() / 255
    r = torch.from_numpy(data.images[5:10]).float() / 255
    mean = torch.tensor(json.loads(meta["mean"])).view(1, 3, 1, 1)
    std = torch.tensor(json.loads(meta["std"])).view(1, 3, 1, 1)
    xn, rn = ((x - mean) / std).numpy(), ((r - mean) / std).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["target", "reference"]
    logits, probs = session.run(["logits", "probabilities"], {"target": xn, "reference": rn})
    with torch.no_grad():
        want = p.run.model(torch.from_numpy(xn), torch.from_numpy(rn))
    np.testing.assert_allclose(logits, want.numpy(), atol=1e-4)
    np.testing.assert_allclose(probs, want.softmax(1).numpy(), atol=1e-4)
    # A batch of another size goes through the same graph.
    assert session.run(["probabilities"], {"target": xn[:3], "reference": rn[:3]})[0].shape == (3, 7)
    # Its own earlier file is replaced; a file spndl did not write is kept unless --force.
    assert main(["export", "--checkpoint", str(run), "--out", str(out)]) == 0
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"my graph")
    assert main(["export", "--checkpoint", str(run), "--out", str(mine)]) == 2
    assert f"{mine}: exists and was not written by spndl" in _err(capsys) and mine.read_bytes() == b"my graph"
    assert main(["export", "--checkpoint", str(run), "--out", str(mine), "--force"]) == 0
    assert mine.read_bytes() != b"my graph"


def test_every_finished_run_has_a_model_card(runs):
    m, run = runs["ndf"]
    card = (run / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: ndf on ckplus (SYNTHETIC data)")
    assert f"**Accuracy.** {m['accuracy']:.4f} on {m['n_test']} test samples" in card
    assert "needs a neutral photo of the same person" in card and "--neutral NEUTRAL.jpg" in card
    assert f"spndl export --checkpoint {run} --out model.onnx" in card
    for c, a in m["per_class_accuracy"].items():
        assert f"| {c} | {a:.3f} |" in card


def test_the_inference_package_never_loads_the_training_loop():
    # A user of a trained model needs the model and its preprocessing, not the training loop:
    # the package's boundary, checked in a fresh interpreter.
    code = ("import sys, spndl.inference.run, spndl.inference.predict, spndl.inference.export, "
            "spndl.inference.features, spndl.inference.model_card; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('spndl.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "spndl.inference.predict" in loaded
    assert not [m for m in loaded if m.startswith("spndl.training")], loaded
