from pathlib import Path

import pytest
import yaml

from spndl.config import ConfigError, load_config
from spndl.demo import DEFAULT_CONFIG
from spndl.params import run_config

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_papers_settings():
    cfg = load_config()
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.betas) == (250, 128, 1e-3, (0.9, 0.999))
    assert (cfg.spl.start, cfg.spl.step, cfg.spl.paces) == (0.5, 0.1, 6)


def test_files_then_sets_override(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  epochs: 7\ndata:\n  size: 48\n")
    cfg = load_config([f], ["train.epochs=6", "augment.ops=[flip]", "train.lr=0.01"])
    assert cfg.train.epochs == 6 and cfg.data.size == 48 and cfg.augment.ops == ("flip",) and cfg.train.lr == 0.01


@pytest.mark.parametrize("item, message", [
    ("train.epoch=3", "unknown setting"),
    ("train.epochs=many", "expected int"),
    ("augment.ops=[rotate]", "unknown operation"),
    ("spl.step=0.01", "never reaches"),
    ("data.reference=mirror", "own or other_subject"),
])
def test_bad_settings_are_named(item, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        load_config([], [item])


def test_the_demo_settings_are_the_pipelines_default_preset():
    # params.yaml's presets are the one source; the packaged file must not drift from them.
    params = {**yaml.safe_load((REPO / "params.yaml").read_text()), "preset": "synthetic_cpu"}
    assert load_config([DEFAULT_CONFIG]).to_dict() == run_config(params, "ckplus").to_dict()
