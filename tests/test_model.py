import pytest
import torch

from spndl.model import SPNDLNet
from spndl.variants import VARIANTS


def _pair(b=4, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, s, s, generator=g), torch.randn(b, 3, s, s, generator=g)


def test_batchnorm_normalises_the_joint_target_reference_batch():
    torch.manual_seed(0)
    model = SPNDLNet(7, "neutral").train()
    seen = {}
    bn = model.backbone.bn1
    # clone: the ReLU after bn1 works in place
    bn.register_forward_hook(lambda m, i, o: seen.update(x=i[0].detach().clone(), y=o.detach().clone()))
    target, reference = _pair(4)
    reference = reference * 3 + 2  # a very different distribution from the target
    model(target, reference)
    x, y = seen["x"], seen["y"]
    assert x.shape[0] == 8, "target and reference must share one forward pass"

    def norm(z, over):
        mu = over.mean((0, 2, 3), keepdim=True)
        var = over.var((0, 2, 3), unbiased=False, keepdim=True)
        return (z - mu) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)

    torch.testing.assert_close(y, norm(x, x), rtol=1e-4, atol=1e-4)  # eqs. 4-6: joint statistics
    assert not torch.allclose(y[:4], norm(x[:4], x[:4]), atol=1e-2)  # not the target half's own
    assert not torch.allclose(y[4:], norm(x[4:], x[4:]), atol=1e-2)  # nor the reference half's


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_target_equal_to_reference_gives_the_logits_of_a_zero_feature(mode):
    torch.manual_seed(0)
    model = SPNDLNet(6, "neutral")
    getattr(model, mode)()
    target, _ = _pair(3)
    with torch.no_grad():
        logits = model(target, target.clone())
        zero = model.fc(torch.zeros(3, 512))
    torch.testing.assert_close(logits, zero, rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_parameter_receives_a_gradient(variant):
    torch.manual_seed(0)
    mode = VARIANTS[variant][0]
    model = SPNDLNet(7, mode).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    target, reference = _pair(6)
    y = torch.arange(6) % 7
    # One step first: in the learned mode f and f' start equal, so V_tar - V_ref = 0 and the
    # head's weight gets no gradient until they differ (eq. 8).
    for _ in range(2):
        opt.zero_grad()
        logits = model(target, reference if mode == "neutral" else None)
        assert logits.shape == (6, 7) and torch.isfinite(logits).all()
        torch.nn.functional.cross_entropy(logits, y).backward()
        opt.step()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_learned_mode_has_two_backbones_with_equal_initial_weights():
    model = SPNDLNet(7, "learned")
    a, b = model.backbone.state_dict(), model.neutral_backbone.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert model.backbone.conv1.weight.data_ptr() != model.neutral_backbone.conv1.weight.data_ptr()


def test_neutral_mode_requires_a_reference():
    with pytest.raises(ValueError, match="reference"):
        SPNDLNet(7, "neutral")(torch.randn(2, 3, 32, 32))
