"""Configurations apart (spndl.configuration): names, data keys, the settings guard, old layouts."""

import copy
from pathlib import Path

import pytest
import yaml

from spndl import configuration
from spndl.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def params(**changes):
    p = copy.deepcopy(PARAMS)
    for key, value in changes.items():
        *path, last = key.split("__")
        node = p
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    return p


def test_the_name_is_preset_and_source_unless_given():
    assert configuration.name(PARAMS) == "synthetic_cpu-synthetic"
    assert configuration.name(params(preset="paper", data__source="real")) == "paper-real"
    assert configuration.name(params(name="lr-half")) == "lr-half"


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "-x", "x\n", "ckplus", "", "a" * 81])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(bad):
    if bad == "":
        assert configuration.name(params(name=bad)) == "synthetic_cpu-synthetic"  # empty: the default
        return
    with pytest.raises(ConfigError, match="name"):
        configuration.name(params(name=bad))


def test_prepared_data_are_shared_where_made_alike_and_apart_where_not():
    base = configuration.prepared_key(PARAMS, "ckplus")
    assert base.startswith("synthetic-small-seed0-32px-")
    # Another preset with the same data and image size shares the prepared folder ...
    other = params(preset="synthetic_cpu", name="other")
    assert configuration.prepared_key(other, "ckplus") == base
    # ... a change of size, source, fold rule or image kind does not.
    assert configuration.prepared_key(params(preset="paper"), "ckplus") != base
    assert configuration.prepared_key(params(prepare__fold_rule="stratified"), "ckplus") != base
    assert configuration.prepared_key(params(data__images__oulu="owners"), "oulu") != \
        configuration.prepared_key(PARAMS, "oulu")
    assert configuration.prepared_key(params(data__source="real"), "ckplus").startswith("real-32px-")
    # The real archives' paths are not the data's identity: a moved copy is the same data.
    moved = params(data__source="real")
    moved["data"]["real"]["ckplus"]["sources"] = ["/elsewhere/a.zip"]
    assert configuration.prepared_key(moved, "ckplus") == configuration.prepared_key(params(data__source="real"),
                                                                                  "ckplus")


def test_a_changed_setting_under_the_same_name_stops_with_what_changed(tmp_path):
    configuration.write_record(PARAMS, tmp_path / "runs/synthetic_cpu-synthetic/configuration.yaml")
    configuration.check(tmp_path, PARAMS)  # the same settings: nothing to say
    changed = copy.deepcopy(PARAMS)
    changed["presets"]["synthetic_cpu"]["config"]["train"]["lr"] = 0.0005
    with pytest.raises(ConfigError) as e:
        configuration.check(tmp_path, changed)
    text = str(e.value)
    assert "\n" not in text and "runs/synthetic_cpu-synthetic: made with other settings" in text
    assert "ckplus: run.train.lr: unset -> 0.0005" in text and "(and 2 more)" in text
    assert "--config name=NEW" in text and "mv runs/synthetic_cpu-synthetic" in text
    # Under a name of its own it goes on; so do more folds, seeds, variants or datasets.
    configuration.check(tmp_path, {**changed, "name": "lr-half"})
    grown = params(presets__synthetic_cpu__folds=[0, 1, 2], datasets=["ckplus", "oulu", "rafdb", "custom"])
    configuration.check(tmp_path, grown)


def test_a_record_that_is_not_one_is_named(tmp_path):
    path = tmp_path / "runs/synthetic_cpu-synthetic/configuration.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2")
    with pytest.raises(ConfigError, match="configuration.yaml: not a configuration record"):
        configuration.check(tmp_path, PARAMS)


def test_outputs_of_the_old_layout_are_named_with_how_to_move_them(tmp_path):
    assert configuration.old_layout_message(tmp_path, PARAMS) is None
    (tmp_path / "runs/ckplus/baseline").mkdir(parents=True)
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "runs/synthetic_cpu-synthetic").mkdir(parents=True)  # a configuration's: not old
    line = configuration.old_layout_message(tmp_path, PARAMS)
    assert "\n" not in line and line.startswith("runs/ckplus, results/tables: outputs of the layout before")
    assert "mkdir -p runs/synthetic_cpu-synthetic && mv runs/ckplus runs/synthetic_cpu-synthetic/" in line
    assert "mv results/tables results/synthetic_cpu-synthetic/" in line
