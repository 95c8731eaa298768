import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from spndl.model import SPNDLNet
from spndl.weights import WeightsError, init_weights


@pytest.fixture
def hub_dir(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


def _reference_state(seed=3):
    torch.manual_seed(seed)
    return resnet18(weights=None).state_dict()


def test_imagenet_weights_come_from_the_local_torch_cache(hub_dir):
    state = _reference_state()
    cached = hub_dir / "checkpoints" / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    model = SPNDLNet(7, "learned")
    digest = init_weights(model, "imagenet")
    assert len(digest) == 64
    for net in (model.backbone, model.neutral_backbone):
        torch.testing.assert_close(net.conv1.weight, state["conv1.weight"])
        torch.testing.assert_close(net.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_msceleb_checkpoint_with_module_prefix_and_foreign_head(tmp_path):
    state = _reference_state()
    state = {f"module.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    state["module.fc.weight"] = torch.zeros(10575, 512)  # the identity head: skipped
    state["module.fc.bias"] = torch.zeros(10575)
    path = tmp_path / "resnet18_msceleb.pth"
    torch.save({"state_dict": state, "epoch": 30}, path)
    model = SPNDLNet(6, "neutral")
    assert init_weights(model, str(path))
    torch.testing.assert_close(model.backbone.layer1[0].conv1.weight, state["module.layer1.0.conv1.weight"])
    assert model.fc.weight.shape == (6, 512)


def test_mismatched_keys_are_listed(tmp_path):
    state = _reference_state()
    del state["layer2.0.bn1.weight"]
    state["layer9.conv.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"missing keys \['layer2.0.bn1.weight'\].*layer9.conv.weight"):
        init_weights(SPNDLNet(7, "none"), str(path))


def test_missing_weight_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        init_weights(SPNDLNet(7, "none"), str(tmp_path / "nope.pth"))


def test_imagenet_without_cache_or_network_names_the_cache_file(hub_dir, monkeypatch):
    import urllib.error

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "urlopen", offline)  # never download in a test
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd.pth is not in the torch cache and downloading"):
        init_weights(SPNDLNet(7, "none"), "imagenet")


def test_a_wo_neutral_run_starts_from_its_own_msceleb_file_and_says_so(prepared, tmp_path):
    """model.weights_wo_neutral (section 3.2: eq. 8's two backbones from MS-Celeb-1M): a file in the
    field's common layout ({'state_dict': ...}, `module.` prefixes, a face-identity fc head) starts
    the w/o-neutral run only; its metrics.json, model card and Table 3's provenance name it and its
    sha256, while the baseline keeps model.weights."""
    import hashlib
    import json

    import pandas as pd

    from spndl.config import load_config
    from spndl.report.tables import provenance
    from spndl.training.train import train

    state = {f"module.{k}": v for k, v in _reference_state().items() if not k.startswith("fc.")}
    state["module.fc.weight"] = torch.zeros(8631, 512)
    state["module.fc.bias"] = torch.zeros(8631)
    path = tmp_path / "resnet18_msceleb.pth"
    torch.save({"state_dict": state}, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = load_config([], ["data.size=32", "train.epochs=3", "train.batch_size=16", "spl.paces=2", "spl.step=0.5",
                              f"model.weights_wo_neutral={path}"])
    rows = []
    for variant in ("baseline", "spndl_wo_neutral"):
        out = tmp_path / variant
        m = train(prepared["rafdb"][1], variant, None, out, cfg, log=lambda _: None)
        rows.append({**m, "run": str(out)})
    base, wo = rows
    assert (wo["weights"], wo["weights_sha256"]) == (str(path), sha)
    assert (base["weights"], base["weights_sha256"]) == ("none", "")
    assert f"Starting weights: {path} (sha256 {sha})." in (tmp_path / "spndl_wo_neutral/MODEL_CARD.md").read_text()
    # What set_up loads for each variant: both of eq. 8's backbones from the file, the others from model.weights.
    from spndl.weights import weights_for

    model = SPNDLNet(7, "learned")
    init_weights(model, weights_for(cfg.to_dict()["model"], "learned"))
    for backbone in (model.backbone, model.neutral_backbone):
        torch.testing.assert_close(backbone.conv1.weight, state["module.conv1.weight"])
    assert weights_for(cfg.to_dict()["model"], "neutral") == "none"
    per_fold = pd.DataFrame([{k: r[k] for k in ("dataset", "variant", "fold", "seed", "synthetic", "data_checksum",
                                                "n_folds", "image_size", "epochs", "weights", "weights_sha256",
                                                "numerics", "run")} for r in rows])
    note = provenance(per_fold, "rafdb")
    assert f"{path} (sha256 {sha}) for spndl_wo_neutral" in note and "none for baseline" in note, note
    assert json.loads((tmp_path / "spndl_wo_neutral/metrics.json").read_text())["weights"] == str(path)
