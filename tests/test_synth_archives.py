"""spndl synth --archives: the synthetic datasets as their owners ship them, acquired through the
real-data path, give the same prepared data as the synthetic tree, and say they are synthetic."""

import numpy as np
import pandas as pd

from spndl.cli import main
from spndl.data.acquire import acquire
from spndl.data.check import check_data
from spndl.data.prepare import prepare

QUIET = {"log": lambda s: None}


def test_archives_acquired_as_real_data_prepare_to_the_synthetic_trees_data(tmp_path, capsys):
    tree, archives = tmp_path / "tree", tmp_path / "archives"
    assert main(["synth", "--out", str(tree), "--size", "tiny", "--archives", str(archives)]) == 0
    lines = capsys.readouterr().out.splitlines()
    sources = {ln.split(": ")[0]: ln.split(": ")[1].split() for ln in lines[1:]}
    assert [p.rsplit("/", 1)[1] for p in sources["ckplus"]] == ["cohn-kanade-images.zip", "Emotion_labels.zip",
                                                                "Landmarks.zip"]
    assert sources["oulu"][0].endswith("oulu/Oulu_CASIA_NIR_VIS.zip")
    assert sources["rafdb"][0].endswith("rafdb/basic") and (archives / "rafdb/basic/Image/aligned.zip").is_file()
    for dataset, images in (("ckplus", "original"), ("oulu", "original"), ("rafdb", "aligned")):
        raw = tmp_path / "raw" / dataset
        acquire(dataset, sources[dataset], raw, **QUIET)
        report = check_data(dataset, raw, images=images)
        # The marker travelled inside the archive: the acquired tree says it is synthetic.
        assert report.synthetic and report.anomalies == []
        direct = prepare(dataset, tree / dataset, tmp_path / "direct" / dataset, size=32, images=images)
        acquired = prepare(dataset, raw, tmp_path / "acquired" / dataset, size=32, images=images)
        assert acquired["synthetic"] and acquired["counts"] == direct["counts"]
        assert report.counts == check_data(dataset, tree / dataset, images=images).counts
        assert np.array_equal(np.load(tmp_path / "direct" / dataset / "images.npy"),
                              np.load(tmp_path / "acquired" / dataset / "images.npy"))
        cols = ["sample_id", "label"]
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "direct" / dataset / "manifest.csv")[cols],
                                      pd.read_csv(tmp_path / "acquired" / dataset / "manifest.csv")[cols])
