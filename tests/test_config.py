from pathlib import Path

import pytest
import yaml

from spndl.config import ConfigError, load_config
from spndl.data.registry import for_dataset
from spndl.params import read_preset, run_config

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_papers_settings():
    cfg = load_config()
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.betas) == (128, 1e-3, (0.9, 0.999))
    assert (cfg.spl.start, cfg.spl.step, cfg.spl.paces) == (0.5, 0.1, 6)
    # Epochs are the paper's for the dataset (section 4.2), from the registry; a set value wins.
    assert cfg.train.epochs is None
    assert [for_dataset(cfg, d).train.epochs for d in ("ckplus", "oulu", "rafdb")] == [250, 250, 150]
    assert for_dataset(load_config([], ["train.epochs=7"]), "rafdb").train.epochs == 7
    assert cfg.train.epochs is None  # for_dataset returns a copy


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


def test_a_preset_gives_a_run_by_hand_the_pipelines_settings(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for preset in ("synthetic_cpu", "synthetic_full", "paper"):
        for d in ("ckplus", "rafdb"):
            by_hand = for_dataset(load_config(base=read_preset(REPO / "params.yaml", preset, d)), d)
            assert by_hand.to_dict() == run_config({**params, "preset": preset}, d).to_dict()
            assert by_hand.seed == params["presets"][preset]["seeds"][0]
    assert run_config({**params, "preset": "paper"}, "rafdb").train.epochs == 150
    assert run_config(params, "rafdb").train.epochs == 7  # the default preset's config_rafdb
    with pytest.raises(ConfigError, match="preset 'fast' is not one of synthetic_cpu, synthetic_full, paper"):
        read_preset(REPO / "params.yaml", "fast", "ckplus")


@pytest.mark.parametrize("item", ["train.epochs=many", "data.size=abc", "train.epochs=[3]"])
def test_a_setting_whose_default_is_null_still_has_a_type(item):
    with pytest.raises(ConfigError, match="expected int"):
        load_config([], [item])
