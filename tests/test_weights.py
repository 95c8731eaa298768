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
