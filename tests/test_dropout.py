"""The packed CPU dropout: drop rate, scaling, gradient, determinism and the fallbacks."""
import pytest
import torch

from uer.layers.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    x = torch.ones(400_000)
    y = dropout(x, p)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)), rtol=1e-4)
    assert abs(y.mean().item() - 1.0) < 0.01  # expectation preserved


def test_masks_are_fresh_per_call_but_follow_the_seed():
    x = torch.ones(1000)
    torch.manual_seed(1)
    a, b = dropout(x, 0.5), dropout(x, 0.5)
    torch.manual_seed(1)
    assert not torch.equal(a, b) and torch.equal(a, dropout(x, 0.5))


def test_gradient_passes_through_kept_elements_only():
    torch.manual_seed(2)
    x = torch.randn(64, 33, requires_grad=True)  # an odd element count
    y = dropout(x, 0.3)
    y.backward(torch.ones_like(y))
    kept = y != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.7), rtol=1e-4)
    assert torch.all(x.grad[~kept] == 0)


def test_module_behaves_like_nn_dropout_outside_training():
    module = Dropout(0.4)
    x = torch.randn(10, 10)
    assert isinstance(module, torch.nn.Dropout) and module.p == 0.4
    assert torch.equal(module.eval()(x), x)
    assert torch.equal(dropout(x, 0.0), x) and torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    assert dropout(torch.empty(0, 3), 0.5).shape == (0, 3)


def test_bf16_inputs_keep_their_dtype():
    y = dropout(torch.ones(100, dtype=torch.bfloat16), 0.5)
    assert y.dtype == torch.bfloat16
