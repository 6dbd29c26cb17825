"""uer/layers/onednn_linear.py: the oneDNN road gives F.linear's results (forward, gradients,
the fused residual sum), the backend choice follows the machine and the environment variable,
and everything the road does not serve falls back to F.linear exactly."""
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from uer.errors import UerError
from uer.layers import onednn_linear
from uer.layers.onednn_linear import Linear, backend, linear, linear_add

needs_onednn = pytest.mark.skipif(not onednn_linear._onednn_available(),
                                  reason="torch built without oneDNN")


@pytest.fixture
def use_backend(linear_backend, monkeypatch):
    def choose(name):
        if name == "auto":  # the conftest fixture knows the two backends only
            monkeypatch.setenv("UER_LINEAR_BACKEND", name)
            onednn_linear._reset_backend()
        else:
            linear_backend(name)
    return choose


def _close(a, b, tol=1e-4):
    assert a.shape == b.shape
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a - b).abs().max().item()


@needs_onednn
@pytest.mark.parametrize("shape", [(7, 24), (3, 5, 24), (2, 3, 4, 24)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_and_gradients_match_f_linear(use_backend, shape, with_bias):
    use_backend("onednn")
    assert backend() == "onednn"
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    weight = torch.randn(10, 24, requires_grad=True)
    bias = torch.randn(10, requires_grad=True) if with_bias else None
    grad = torch.randn(*shape[:-1], 10)
    ours = linear(x, weight, bias)
    assert ours.grad_fn is not None and "OneDnn" in type(ours.grad_fn).__name__
    ours_grads = torch.autograd.grad(ours, [x, weight] + ([bias] if with_bias else []), grad)
    ref = F.linear(x, weight, bias)
    ref_grads = torch.autograd.grad(ref, [x, weight] + ([bias] if with_bias else []), grad)
    _close(ours, ref)
    for a, b in zip(ours_grads, ref_grads):
        _close(a, b)


@needs_onednn
def test_only_the_needed_gradients_are_computed(use_backend):
    use_backend("onednn")
    x = torch.randn(6, 8)  # no grad: a first layer's input
    layer = Linear(8, 4)
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
    _close(layer.bias.grad, torch.full((4,), 6.0))
    frozen = Linear(8, 4).requires_grad_(False)
    x = torch.randn(6, 8, requires_grad=True)
    frozen(x).sum().backward()
    _close(x.grad, frozen.weight.sum(0).expand(6, 8))
    assert frozen.weight.grad is None


@needs_onednn
def test_non_contiguous_input_and_transposed_weight(use_backend):
    use_backend("onednn")
    x = torch.randn(24, 9).t()  # [9, 24], strided
    weight = torch.randn(24, 10).t()  # [10, 24], strided
    with torch.no_grad():
        _close(linear(x, weight), F.linear(x, weight))


@needs_onednn
def test_linear_add_is_the_residual_sum_without_autograd(use_backend):
    use_backend("onednn")
    layer = Linear(16, 12)
    residual, h = torch.randn(4, 5, 12), torch.randn(4, 5, 16)
    with torch.no_grad():
        fused = linear_add(residual, h, layer.weight, layer.bias)
        _close(fused, residual + F.linear(h, layer.weight, layer.bias))
        assert linear_add(residual[:, :3], h, layer.weight, layer.bias) is None  # shapes differ
    assert linear_add(residual, h, layer.weight, layer.bias) is None  # autograd on


def test_mkl_backend_is_f_linear_exactly(use_backend):
    use_backend("mkl")
    assert backend() == "mkl"
    torch.manual_seed(1)
    layer = Linear(16, 8)
    x = torch.randn(3, 16)
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    with torch.no_grad():
        assert linear_add(torch.randn(3, 8), x, layer.weight, layer.bias) is None


@needs_onednn
def test_what_onednn_does_not_serve_falls_back_to_f_linear(use_backend):
    use_backend("onednn")
    torch.manual_seed(2)
    x = torch.randn(3, 16)
    weight, bias = torch.randn(8, 16), torch.randn(8)
    for dtype in (torch.bfloat16, torch.float64):
        out = linear(x.to(dtype), weight.to(dtype), bias.to(dtype))
        assert torch.equal(out, F.linear(x.to(dtype), weight.to(dtype), bias.to(dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = linear(x, weight, bias)
        assert out.dtype == torch.bfloat16
        assert torch.equal(out, F.linear(x, weight, bias))
    empty = linear(torch.randn(0, 16), weight, bias)
    assert empty.shape == (0, 8)


def test_auto_takes_onednn_only_off_intel_with_avx512(use_backend, monkeypatch):
    if not onednn_linear._onednn_available():
        pytest.skip("torch built without oneDNN")
    cases = [("GenuineIntel", "AVX512", "mkl"), ("AuthenticAMD", "AVX512", "onednn"),
             ("AuthenticAMD", "AVX2", "mkl"), ("", "AVX512", "mkl")]
    for vendor, capability, expected in cases:
        monkeypatch.setattr(onednn_linear, "_cpu_vendor", lambda v=vendor: v)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        use_backend("auto")
        assert backend() == expected, (vendor, capability)


def test_unknown_backend_is_a_named_error(use_backend):
    use_backend("blas")
    with pytest.raises(UerError, match="UER_LINEAR_BACKEND=blas"):
        backend()


def test_a_script_refuses_a_bad_backend_before_any_work(tmp_path):
    """cli_main checks the environment first: one line, exit 1, nothing written."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    output = tmp_path / "model.bin"
    done = subprocess.run([sys.executable, os.path.join(repo, "run_ner.py"),
                           "--label2id_path", str(tmp_path / "missing.json"),
                           "--train_path", "x", "--dev_path", "y",
                           "--output_model_path", str(output)],
                          env={**os.environ, "UER_LINEAR_BACKEND": "blas"},
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: environment variable UER_LINEAR_BACKEND=blas: unknown value; known: "
        "auto, onednn, mkl"]
    assert list(tmp_path.iterdir()) == []


def test_linear_keeps_nn_linear_parameters_and_names():
    layer = Linear(5, 3)
    assert isinstance(layer, nn.Linear)
    assert list(layer.state_dict()) == ["weight", "bias"]
    plain = nn.Linear(5, 3)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5)
    _close(layer(x), plain(x))


@needs_onednn
def test_a_transformer_training_step_agrees_across_backends(use_backend):
    """One NER-sized step on both backends: the same loss and gradients up to rounding."""
    from uer.layers.transformer import TransformerLayer

    results = []
    for name in ("mkl", "onednn"):
        use_backend(name)
        torch.manual_seed(3)
        layer = TransformerLayer(32, 4, 64, 0.0)
        hidden = torch.randn(3, 7, 32, requires_grad=True)
        loss = layer(hidden).square().mean()
        loss.backward()
        results.append((loss.detach(), hidden.grad,
                        layer.feed_forward.linear_1.weight.grad,
                        layer.self_attn.linear_layers[0].weight.grad))
    for a, b in zip(*results):
        _close(a, b)


@needs_onednn
def test_onednn_keeps_few_kernels_unless_the_user_says_otherwise(use_backend, monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    use_backend("onednn")
    backend()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(
        onednn_linear.PRIMITIVE_CACHE_CAPACITY)
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "500")
    use_backend("onednn")
    backend()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "500"
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    use_backend("mkl")
    backend()
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in os.environ


@needs_onednn
def test_flop_counter_counts_the_onednn_road_as_f_linear(use_backend):
    from torch.utils.flop_counter import FlopCounterMode

    counts = []
    for name in ("mkl", "onednn"):
        use_backend(name)
        layer = Linear(24, 40)
        x = torch.randn(3, 5, 24, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            layer(x).sum().backward()
        counts.append(counter.get_total_flops())
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            fused = linear_add(torch.randn(3, 5, 40), x, layer.weight, layer.bias)
        counts.append(counter.get_total_flops() if fused is not None else 2 * 15 * 24 * 40)
    assert counts == [3 * 2 * 15 * 24 * 40, 2 * 15 * 24 * 40] * 2
