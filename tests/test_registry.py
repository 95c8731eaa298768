"""The dataset registry is the one list: the params schema, params.yaml and dvc.yaml's plot
series must name the same datasets, images options and variants (a test, since YAML files
cannot import it)."""

from pathlib import Path

import yaml

from spndl.data.registry import DATASETS
from spndl.model import VARIANTS

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/params.schema.yaml").read_text())
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
NAMES = list(DATASETS)


def test_the_schema_lists_the_registrys_datasets_and_their_options():
    props = SCHEMA["properties"]
    assert props["datasets"]["items"]["enum"] == NAMES
    assert props["data"]["properties"]["allow_deviation"]["items"]["enum"] == NAMES
    assert list(props["data"]["properties"]["real"]["properties"]) == NAMES
    images = props["data"]["properties"]["images"]["properties"]
    assert {d: images[d]["enum"] for d in images} == {d: list(s.images) for d, s in DATASETS.items()}
    assert SCHEMA["definitions"]["variant"]["enum"] == list(VARIANTS)
    variants = props["variants"]["properties"]
    assert list(variants) == NAMES
    for d, s in DATASETS.items():
        allowed = [v for v, (ref, _) in VARIANTS.items() if s.paired or ref != "neutral"]
        items = variants[d]["items"]
        assert (items["enum"] if "enum" in items else SCHEMA["definitions"]["variant"]["enum"]) == allowed, d
    preset = SCHEMA["definitions"]["preset"]["properties"]
    assert [k.removeprefix("config_") for k in preset if k.startswith("config_")] == NAMES


def test_params_name_every_dataset_and_valid_choices():
    assert set(PARAMS["data"]["images"]) == set(NAMES) == set(PARAMS["data"]["real"])
    for d in PARAMS["datasets"]:
        assert PARAMS["data"]["images"][d] in DATASETS[d].images
        assert PARAMS["variants"][d], d


def test_dvc_plots_name_every_run_series_of_params():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    want = [f"{d}/{v}" for d in PARAMS["datasets"] for v in PARAMS["variants"][d]]
    for plot in dvc["plots"]:
        (spec,) = plot.values()
        (series,) = spec["y"].values()
        assert series == want, list(plot)


def test_a_spec_is_consistent():
    for d, s in DATASETS.items():
        assert s.name == d and s.classes and len(set(s.classes)) == len(s.classes)
        assert s.protocol in ("folds", "split") and s.ours in VARIANTS
        assert s.paired or VARIANTS[s.ours][0] != "neutral"  # the method must run without a reference
