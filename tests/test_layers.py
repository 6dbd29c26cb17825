"""Building blocks: UER-py's LayerNorm formula, activations, attention masks, layer names."""
import math

import numpy as np
import pytest
import torch

from uer.errors import UerError
from uer.layers.activation import get_activation
from uer.layers.layer_norm import LayerNorm
from uer.layers.multi_headed_attn import MultiHeadedAttention, padding_mask
from uer.layers.transformer import TransformerLayer


def test_layer_norm_matches_unbiased_std_formula():
    torch.manual_seed(0)
    norm = LayerNorm(5)
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0, 3.0]))
        norm.beta.copy_(torch.tensor([0.0, 0.1, -0.2, 0.3, 1.0]))
    x = torch.randn(4, 3, 5)
    got = norm(x).detach().numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)
    mean = xs.mean(-1, keepdims=True)
    std = np.sqrt(((xs - mean) ** 2).sum(-1, keepdims=True) / (5 - 1))  # N - 1
    expected = norm.gamma.detach().numpy() * (xs - mean) / (std + 1e-6) + norm.beta.detach().numpy()
    assert np.abs(got - expected).max() < 1e-5
    # torch's own LayerNorm (biased variance, eps inside the sqrt) is clearly different here.
    torch_ln = torch.nn.functional.layer_norm(x, (5,), norm.gamma, norm.beta, eps=1e-6)
    assert (torch_ln - norm(x)).abs().max().item() > 0.05


def test_layer_norm_parameter_names_and_init():
    names = dict(LayerNorm(7).named_parameters())
    assert set(names) == {"gamma", "beta"}
    assert torch.equal(names["gamma"], torch.ones(7))
    assert torch.equal(names["beta"], torch.zeros(7))


def test_activation_lookup():
    x = torch.tensor([-1.0, 0.5, 2.0])
    exact = x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    assert torch.allclose(get_activation("gelu")(x), exact, atol=1e-7)
    assert torch.equal(get_activation("relu")(x), torch.tensor([0.0, 0.5, 2.0]))
    with pytest.raises(UerError, match="hidden_act"):
        get_activation("swish")
    with pytest.raises(UerError, match="hidden_act"):
        get_activation(None)


def manual_attention(attn, x, additive_mask):
    """Scores / sqrt(d) + mask, softmax, weighted sum, concat, final linear: written out."""
    batch, length, hidden = x.shape
    heads, d = attn.heads_num, attn.per_head_size

    def split(t):
        return t.view(batch, length, heads, d).transpose(1, 2)

    q, k, v = (split(layer(x)) for layer in attn.linear_layers)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive_mask
    context = torch.softmax(scores, dim=-1) @ v
    return attn.final_linear(context.transpose(1, 2).reshape(batch, length, hidden))


def test_attention_matches_manual_computation_with_padding_mask():
    torch.manual_seed(1)
    attn = MultiHeadedAttention(16, 4, dropout=0.0).eval()
    x = torch.randn(2, 6, 16)
    seg = torch.tensor([[1, 1, 1, 2, 0, 0], [1, 1, 1, 1, 1, 1]])
    mask = padding_mask(seg)
    assert mask.shape == (2, 1, 1, 6)
    got = attn(x, x, x, mask)
    assert torch.allclose(got, manual_attention(attn, x, mask), atol=1e-5)


def test_padding_keys_do_not_influence_real_positions():
    torch.manual_seed(2)
    layer = TransformerLayer(16, 4, 32, dropout=0.0, hidden_act="gelu").eval()
    seg = torch.tensor([[1, 1, 2, 2, 0, 0, 0]])
    x = torch.randn(1, 7, 16)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 3, 16) * 5
    out_a = layer(x, padding_mask(seg))
    out_b = layer(changed, padding_mask(seg))
    assert torch.allclose(out_a[:, :4], out_b[:, :4], atol=1e-5)
    # Without the mask the padding does leak into the real positions.
    assert not torch.allclose(layer(x)[:, :4], layer(changed)[:, :4], atol=1e-3)


def test_causal_mask_hides_future_tokens():
    torch.manual_seed(3)
    layer = TransformerLayer(16, 4, 32, dropout=0.0, hidden_act="relu").eval()
    x = torch.randn(2, 8, 16)
    changed = x.clone()
    changed[:, 5:] = torch.randn(2, 3, 16)
    out_a = layer(x, is_causal=True)
    out_b = layer(changed, is_causal=True)
    assert torch.allclose(out_a[:, :5], out_b[:, :5], atol=1e-5)
    assert not torch.allclose(out_a[:, 5:], out_b[:, 5:], atol=1e-3)
    tril = torch.tril(torch.ones(8, 8))
    causal_additive = (1.0 - tril) * -10000.0
    assert torch.allclose(layer.self_attn(x, x, x, is_causal=True),
                          manual_attention(layer.self_attn, x, causal_additive), atol=1e-5)


def test_attention_dropout_only_in_training():
    torch.manual_seed(4)
    attn = MultiHeadedAttention(16, 2, dropout=0.5)
    x = torch.randn(1, 10, 16)
    attn.train()
    assert not torch.allclose(attn(x, x, x), attn(x, x, x))
    attn.eval()
    assert torch.equal(attn(x, x, x), attn(x, x, x))


def test_transformer_layer_parameter_names():
    layer = TransformerLayer(8, 2, 12, dropout=0.1, hidden_act="gelu")
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {
        **{f"self_attn.linear_layers.{i}.weight": (8, 8) for i in range(3)},
        **{f"self_attn.linear_layers.{i}.bias": (8,) for i in range(3)},
        "self_attn.final_linear.weight": (8, 8), "self_attn.final_linear.bias": (8,),
        "layer_norm_1.gamma": (8,), "layer_norm_1.beta": (8,),
        "feed_forward.linear_1.weight": (12, 8), "feed_forward.linear_1.bias": (12,),
        "feed_forward.linear_2.weight": (8, 12), "feed_forward.linear_2.bias": (8,),
        "layer_norm_2.gamma": (8,), "layer_norm_2.beta": (8,),
    }
    names = dict(layer.named_children())
    assert isinstance(names["dropout_1"], torch.nn.Dropout)
    assert isinstance(names["dropout_2"], torch.nn.Dropout)


def test_heads_must_divide_hidden_size():
    with pytest.raises(UerError, match="heads_num"):
        MultiHeadedAttention(10, 4, dropout=0.0)


def test_training_path_equals_fused_kernel_path():
    # In training with dropout the scores are computed directly (faster than SDPA's CPU math
    # fallback); with a vanishing dropout it must give the fused kernel's result, with padding,
    # causal masking, and separate query/key/value inputs, gradients included.
    torch.manual_seed(5)
    attn = MultiHeadedAttention(16, 4, dropout=1e-12)
    x = torch.randn(2, 6, 16, requires_grad=True)
    other = torch.randn(2, 6, 16)
    mask = padding_mask(torch.tensor([[1, 1, 1, 2, 0, 0], [1, 1, 1, 1, 1, 1]]))
    for inputs, kwargs in (((x, x, x), {"mask": mask}), ((x, x, x), {"is_causal": True}),
                           ((x, other, other), {"mask": mask})):
        grads = []
        for mode in ("train", "eval"):
            getattr(attn, mode)()
            x.grad = None
            out = attn(*inputs, **kwargs)
            out.sum().backward()
            grads.append((out.detach(), x.grad.clone()))
        assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
        assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5)

