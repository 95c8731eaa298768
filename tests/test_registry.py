"""The dataset registry is the one list: params.yaml and dvc.yaml's plot series must name the
same datasets, images options and variants (a test, since YAML files cannot import it); the
schema names none, and spndl.params checks the names against the registry."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from spndl.config import ConfigError
from spndl.data.registry import DATASETS
from spndl.variants import VARIANTS
from spndl.params import validate_params

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/params.schema.yaml").read_text())
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
NAMES = list(DATASETS)


def test_the_schema_names_no_dataset_so_the_registry_alone_does():
    """The schema leaves dataset names and images options open; spndl.params checks them
    against the registry at parse time (below), so adding a dataset needs no schema change."""
    text = json.dumps(SCHEMA)  # its content, less the comments
    for name in NAMES:
        assert name not in text, name
    for s in DATASETS.values():
        for images in s.images:
            assert f'"{images}"' not in text, images
    assert SCHEMA["definitions"]["variant"]["enum"] == list(VARIANTS)


def _params(**change) -> dict:
    params = copy.deepcopy(PARAMS)
    for key, value in change.items():
        *path, last = key.split("__")
        node = params
        for k in path:
            node = node[k]
        node[last] = value
    return params


@pytest.mark.parametrize("change, message", [
    ({"datasets": ["ckplus", "mmi"]}, "datasets: unknown dataset 'mmi'"),
    ({"data__images__oulu": "aligned"}, "data.images.oulu: unknown images option 'aligned'"),
    ({"data__allow_deviation": ["ck"]}, "data.allow_deviation: unknown dataset 'ck'"),
    ({"variants__rafdb": ["baseline", "spndl"]}, "variants.rafdb: unknown variant for RAF-DB (no neutral images) "
                                                 "'spndl'"),
    ({"data__real__oulu": {"sources": ["x"], "protocol": "split"}}, "data.real.oulu.protocol"),
    ({"presets__paper__config_mmi": {}}, "presets.paper: unknown dataset 'mmi'"),
])
def test_dataset_names_and_options_are_checked_against_the_registry(change, message):
    validate_params(PARAMS)
    with pytest.raises(ConfigError) as e:
        validate_params(_params(**change))
    assert message in str(e.value)


def test_params_name_every_dataset_and_valid_choices():
    assert set(PARAMS["data"]["images"]) == set(NAMES) == set(PARAMS["data"]["real"])
    for d in PARAMS["datasets"]:
        assert PARAMS["data"]["images"][d] in DATASETS[d].images
        assert PARAMS["variants"][d], d


def test_dvc_plots_name_every_run_series_of_params():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    want = [f"{d}/{v}" for d in PARAMS["datasets"] for v in PARAMS["variants"][d]]
    means = [p for p in dvc["plots"] if isinstance(next(iter(next(iter(p.values()))["y"].values())), list)]
    assert len(means) == 2
    for plot in means:
        (spec,) = plot.values()
        (series,) = spec["y"].values()
        assert series == want, list(plot)


def test_a_spec_is_consistent():
    for d, s in DATASETS.items():
        # A dataset the paper reports lists its classes; a custom one reads them from its CSV.
        assert s.name == d and (s.classes or not s.expected) and len(set(s.classes)) == len(s.classes)
        assert s.protocol in ("folds", "split") and s.ours in VARIANTS
        assert s.paired or VARIANTS[s.ours][0] != "neutral"  # the method must run without a reference
