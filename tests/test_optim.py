"""The Adam update rule (SPEC §6.2) against a formula computed by hand in float64."""
import io
import math

import pytest
import torch

from uer import optim
from uer.optim import BertAdam, build_optimizer, parameter_groups

BETAS, EPS, LR, DECAY = (0.9, 0.999), 1e-6, 1e-2, 0.01


def reference(p, grads, lr, decay, bias_correction):
    """The update written out per step in float64."""
    p = p.double().clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    b1, b2 = BETAS
    for t, g in enumerate(grads, 1):
        g = g.double()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        p = p - lr * decay * p - lr * m_hat / (v_hat.sqrt() + EPS)
    return p


def run(start, grads, lr, decay, bias_correction):
    param = torch.nn.Parameter(start.clone())
    optimizer = BertAdam([{"params": [param], "weight_decay": decay}], lr=lr, betas=BETAS,
                         eps=EPS, bias_correction=bias_correction)
    for g in grads:
        param.grad = g.clone()
        optimizer.step()
    return param.detach()


@pytest.fixture(params=["fused", "foreach"])
def kernel(request, monkeypatch):
    if request.param == "foreach":
        monkeypatch.setattr(optim, "FUSED_DEVICES", ())
    return request.param


@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("decay", [0.0, DECAY])
def test_update_matches_the_hand_written_formula(kernel, bias_correction, decay):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(5, 7, generator=gen)
    grads = [torch.randn(5, 7, generator=gen) * scale for scale in (1.0, 0.01, 3.0, 0.5)]
    got = run(start, grads, LR, decay, bias_correction)
    want = reference(start, grads, LR, decay, bias_correction)
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-6)


def test_first_update_has_no_bias_correction(kernel):
    # Without correction the first step is lr*(1-b1)*g/(sqrt(1-b2)*|g|+eps) ~ 3.16*lr*0.1 per
    # coordinate, not lr as with correction: the rule UER-py's recipes were tuned for.
    start, grad = torch.zeros(3), torch.tensor([1.0, -2.0, 4.0])
    plain = run(start, [grad], LR, 0.0, False)
    corrected = run(start, [grad], LR, 0.0, True)
    expected = -LR * 0.1 / math.sqrt(0.001)
    assert torch.allclose(plain, torch.sign(grad) * expected, rtol=1e-4)
    assert torch.allclose(corrected, -torch.sign(grad) * LR, rtol=1e-4)


def test_bias_correction_option_is_torch_adamw():
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(4, 3, generator=gen)
    grads = [torch.randn(4, 3, generator=gen) for _ in range(5)]
    ours = run(start, grads, LR, DECAY, True)
    param = torch.nn.Parameter(start.clone())
    adamw = torch.optim.AdamW([param], lr=LR, betas=BETAS, eps=EPS, weight_decay=DECAY)
    for g in grads:
        param.grad = g.clone()
        adamw.step()
    assert torch.allclose(ours, param.detach(), rtol=1e-5, atol=1e-7)


def test_a_parameter_without_gradient_keeps_its_own_step_count(kernel):
    gen = torch.Generator().manual_seed(2)
    always, sometimes = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    start = sometimes.detach().clone()
    optimizer = BertAdam([{"params": [always, sometimes], "weight_decay": 0.0}], lr=LR,
                         bias_correction=True)
    grads = []
    for step in range(3):
        always.grad = torch.randn(3, generator=gen)
        sometimes.grad = None if step == 0 else torch.randn(3, generator=gen)
        if sometimes.grad is not None:
            grads.append(sometimes.grad.clone())
        optimizer.step()
    assert optimizer.state[sometimes]["step"].item() == 2
    assert optimizer.state[always]["step"].item() == 3
    want = reference(start, grads, LR, 0.0, True)
    assert torch.allclose(sometimes.detach().double(), want, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    model_a = torch.nn.Linear(4, 2)
    model_b = torch.nn.Linear(4, 2)
    opt_a, opt_b = build_optimizer(model_a, LR), build_optimizer(model_b, LR)
    data = [torch.randn(6, 4) for _ in range(4)]
    for x in data[:2]:
        for model, opt in ((model_a, opt_a), (model_b, opt_b)):
            model(x).square().sum().backward()
            opt.step()
            opt.zero_grad()
    model_b.load_state_dict(model_a.state_dict())
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)  # as --resume stores it
    buffer.seek(0)
    opt_b.load_state_dict(torch.load(buffer, weights_only=True))
    for x in data[2:]:
        for model, opt in ((model_a, opt_a), (model_b, opt_b)):
            model(x).square().sum().backward()
            opt.step()
            opt.zero_grad()
    assert torch.equal(model_a.weight, model_b.weight)


def test_no_decay_on_biases_and_layer_norms():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 3)
            self.layer_norm = torch.nn.LayerNorm(3)

    decay, no_decay = parameter_groups(Tiny())
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) == 1 and len(no_decay["params"]) == 3


def test_options_choose_the_rule():
    import pretrain

    model = torch.nn.Linear(2, 2)
    base = ["--output_model_path", "m.bin"]
    for argv, corrected in ((base, False), (base + ["--adam_bias_correction"], True)):
        args = pretrain.build_parser().parse_args(argv + ["--beta1", "0.8"])
        optimizer = optim.optimizer_from_args(model, args)
        group = optimizer.param_groups[0]
        assert group["bias_correction"] is corrected and group["betas"] == (0.8, 0.999)
        assert group["eps"] == 1e-6 and group["weight_decay"] == 0.01
