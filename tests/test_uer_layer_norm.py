"""The fused UER LayerNorm (uer/layers/uer_layer_norm_kernel.py) against UER-py's formula
composed of torch ops and differentiated by autograd: outputs and the gradients of x, gamma and
beta, in fp32 and bf16, on random, constant, large-mean and tiny-variance rows."""
import pytest
import torch

from uer.layers.layer_norm import LayerNorm
from uer.layers.uer_layer_norm_kernel import uer_layer_norm

EPS = 1e-6


def composed(x, gamma, beta, eps=EPS):
    """UER-py's formula as torch ops: gamma * (x - mean) / (std_unbiased + eps) + beta, with the
    statistics in fp32 (fp64 for fp64 input), the result in x's dtype."""
    dtype = x.dtype
    x = x if dtype == torch.float64 else x.float()
    centered = x - x.mean(-1, keepdim=True)
    std = torch.linalg.vector_norm(centered, dim=-1, keepdim=True) * max(x.size(-1) - 1, 1) ** -0.5
    return (gamma * centered / (std + eps) + beta).to(dtype)


def rows(kind, shape=(3, 5, 384)):
    generator = torch.Generator().manual_seed(11)
    noise = torch.randn(shape, generator=generator)
    return {"random": noise * 2.0 + 0.5,
            "large_mean": 1000.0 + noise,
            "tiny_variance": 0.3 + 1e-5 * noise,
            "constant": torch.full(shape, 3.0),
            # Its mean is not exact in fp32: the composed fp32 formula divides the rounding noise
            # by eps there; the exact value (fp64) is beta.
            "constant_inexact_mean": torch.full(shape, 0.1),
            "mixed": torch.cat([noise[:1], torch.full_like(noise[:1], -2.5), noise[2:] * 50],
                               0)}[kind]


def fp32_tolerance(kind):
    """What fp32 allows: x - mean is off by about ulp(mean), relative to the row's std that is
    ulp(1000) / 1 = 6e-5 for large_mean and ulp(0.3) / 1e-5 = 3e-3 for tiny_variance."""
    return {"large_mean": 2e-4, "tiny_variance": 5e-3}.get(kind, 2e-6)


def run(function, x, gamma, beta, grad, dtype):
    leaves = [t.detach().to(dtype).requires_grad_() for t in (x, gamma, beta)]
    out = function(*leaves)
    out.backward(grad.to(out.dtype))
    return [out.detach()] + [leaf.grad for leaf in leaves]


def parameters(features=384, seed=3):
    generator = torch.Generator().manual_seed(seed)
    gamma = 1.0 + 0.2 * torch.randn(features, generator=generator)
    beta = 0.1 * torch.randn(features, generator=generator)
    return gamma, beta


def assert_close(actual, expected, rtol):
    """Each tensor within rtol of the largest magnitude of its reference."""
    for name, a, e in zip(("out", "dx", "dgamma", "dbeta"), actual, expected):
        assert a.dtype == e.dtype, name
        scale = e.double().abs().max().clamp(min=1e-30)
        error = (a.double() - e.double()).abs().max() / scale
        assert error <= rtol, f"{name}: relative error {error:.2e} > {rtol:.0e}"


KINDS = ["random", "large_mean", "tiny_variance", "constant", "constant_inexact_mean", "mixed"]


# The composed formula in fp32 is wrong on rows whose fp32 mean is inexact (see ``rows``).
CASES = ([(kind, torch.float64) for kind in KINDS]
         + [(kind, torch.float32) for kind in KINDS if kind != "constant_inexact_mean"])


@pytest.mark.parametrize("kind,reference_dtype", CASES)
def test_fp32_matches_the_formula_and_its_gradient(kind, reference_dtype):
    """Against the exact values (the formula in fp64) and against the composed formula in fp32."""
    x = rows(kind)
    gamma, beta = parameters()
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    ours = run(uer_layer_norm_eps, x, gamma, beta, grad, torch.float32)
    reference = run(composed, x, gamma, beta, grad, reference_dtype)
    both_rounded = 1 if reference_dtype == torch.float64 else 2
    assert_close(ours, [t.float() for t in reference], both_rounded * fp32_tolerance(kind))


def test_constant_rows_give_beta_and_the_formulas_gradient():
    x = torch.full((4, 16), -2.5)
    gamma, beta = parameters(16)
    grad = torch.randn(4, 16, generator=torch.Generator().manual_seed(7))
    out, dx, dgamma, dbeta = run(uer_layer_norm_eps, x, gamma, beta, grad, torch.float32)
    assert torch.equal(out, beta.expand(4, 16))
    # std is 0, so the gradient is (g - mean(g)) / eps with g = dy * gamma; xh is 0.
    g = grad * gamma
    expected = [beta.expand(4, 16), (g - g.mean(-1, keepdim=True)) / EPS, torch.zeros(16),
                grad.sum(0)]
    assert_close([out, dx, dgamma, dbeta], expected, 1e-6)
    assert torch.equal(dgamma, torch.zeros(16))


def test_bf16_input_matches_the_composed_formula():
    x = rows("random", (4, 9, 64))
    gamma, beta = parameters(64)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    leaves = [x.bfloat16().requires_grad_(), gamma.clone().requires_grad_(),
              beta.clone().requires_grad_()]
    reference_leaves = [t.detach().clone().requires_grad_() for t in leaves]
    out = uer_layer_norm_eps(*leaves)
    reference = composed(*reference_leaves)
    assert out.dtype == reference.dtype == torch.bfloat16
    out.backward(grad.bfloat16())
    reference.backward(grad.bfloat16())
    # Both compute in fp32 and round once to bf16 (8 bits): at most a unit in the last place.
    torch.testing.assert_close(out.float(), reference.float(), rtol=1e-2, atol=1e-2)
    assert leaves[0].grad.dtype == torch.bfloat16
    for ours, theirs in zip(leaves, reference_leaves):
        torch.testing.assert_close(ours.grad.float(), theirs.grad.float(), rtol=2e-2, atol=2e-2)


def test_module_under_bf16_autocast_matches_the_composed_formula():
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 48)
    norm = LayerNorm(48)
    with torch.no_grad():
        norm.gamma.uniform_(0.5, 1.5)
        norm.beta.uniform_(-0.5, 0.5)
    x = torch.randn(6, 7, 32)
    results = []
    for function in (norm, lambda h: composed(h, norm.gamma, norm.beta)):
        linear.zero_grad()
        norm.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = function(linear(x))
        out.float().square().sum().backward()
        results.append((out.float(), linear.weight.grad.clone(), norm.gamma.grad.clone(),
                        norm.beta.grad.clone()))
    assert results[0][0].dtype == torch.float32
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=2e-2, atol=5e-2)


def test_inference_and_no_grad_paths_equal_the_training_path():
    norm = LayerNorm(384)
    with torch.no_grad():
        norm.gamma.uniform_(0.5, 1.5)
        norm.beta.uniform_(-0.5, 0.5)
    for kind in ("random", "large_mean", "constant", "tiny_variance"):
        x = rows(kind)
        trained = norm(x.clone().requires_grad_()).detach()
        with torch.no_grad():
            no_grad = norm(x)
        with torch.inference_mode():
            inferred = norm(x)
        # The paths share the fused statistics, so they agree far better than fp32_tolerance.
        torch.testing.assert_close(no_grad, trained, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(inferred, trained, rtol=1e-6, atol=1e-6)
        exact = composed(x.double(), norm.gamma.double(), norm.beta.double())
        error = (inferred.double() - exact).abs().max() / exact.abs().max()
        assert error <= fp32_tolerance(kind), kind


def test_gradient_of_parameters_only_and_of_input_only():
    x = rows("random", (5, 24))
    gamma, beta = parameters(24)
    grad = torch.randn(5, 24, generator=torch.Generator().manual_seed(9))
    exact = run(composed, x, gamma, beta, grad, torch.float64)
    frozen_x = x.clone()
    leaves = [gamma.clone().requires_grad_(), beta.clone().requires_grad_()]
    uer_layer_norm_eps(frozen_x, *leaves).backward(grad)
    torch.testing.assert_close(leaves[0].grad, exact[2].float())
    torch.testing.assert_close(leaves[1].grad, exact[3].float())
    free_x = x.clone().requires_grad_()
    uer_layer_norm_eps(free_x, gamma, beta).backward(grad)
    torch.testing.assert_close(free_x.grad, exact[1].float(), rtol=1e-5, atol=1e-5)


def test_gradcheck_in_double():
    x = rows("random", (3, 7)).double().requires_grad_()
    gamma, beta = (t.double().requires_grad_() for t in parameters(7))
    assert torch.autograd.gradcheck(uer_layer_norm_eps, (x, gamma, beta))


def test_traces_under_torch_compile():
    norm = LayerNorm(32)
    compiled = torch.compile(norm, backend="aot_eager", fullgraph=True)
    x = rows("random", (4, 32)).requires_grad_()
    reference_x = x.detach().clone().requires_grad_()
    out = compiled(x)
    out.square().sum().backward()
    expected = norm(reference_x)
    expected.square().sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(x.grad, reference_x.grad)


def uer_layer_norm_eps(x, gamma, beta):
    return uer_layer_norm(x, gamma, beta, EPS)
