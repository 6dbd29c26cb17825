"""Training attention scores (uer/layers/multi_headed_attn.py ``_scores``): one baddbmm with the
scale and the mask fused in, equal to ``q k^T / sqrt(d) + mask`` written out, values and
gradients, for every mask shape the encoders pass."""
import math

import pytest
import torch

from uer.layers.multi_headed_attn import MultiHeadedAttention, causal_mask, padding_mask

BATCH, HEADS, LQ, LK, D = 3, 4, 5, 7, 8


def masks():
    seg = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 2, 2, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]])
    generator = torch.Generator().manual_seed(2)
    return {"none": None, "padding": padding_mask(seg),
            "causal": causal_mask(LK, torch.float32, "cpu")[-LQ:],
            "per_query": torch.randn(BATCH, 1, LQ, LK, generator=generator),
            "per_head": torch.randn(BATCH, HEADS, LQ, LK, generator=generator)}


@pytest.mark.parametrize("kind", sorted(masks()))
def test_scores_equal_the_written_out_formula(kind):
    mask = masks()[kind]
    attn = MultiHeadedAttention(HEADS * D, HEADS, dropout=0.1)
    generator = torch.Generator().manual_seed(3)
    q = torch.randn(BATCH, HEADS, LQ, D, generator=generator, requires_grad=True)
    k = torch.randn(BATCH, HEADS, LK, D, generator=generator, requires_grad=True)
    # Non-contiguous heads, as the projection's permute gives them.
    q_t = q.transpose(1, 2).contiguous().transpose(1, 2)
    ours = attn._scores(q_t, k, mask)
    expected = q @ k.transpose(-1, -2) / math.sqrt(D)
    if mask is not None:
        expected = expected + mask
    assert ours.shape == (BATCH, HEADS, LQ, LK)
    finite = torch.isfinite(expected)
    torch.testing.assert_close(ours[finite], expected[finite], rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.isfinite(ours), finite)
    grad = torch.randn(ours.shape, generator=generator).masked_fill(~finite, 0.0)
    ours_grads = torch.autograd.grad(ours, (q, k), grad)
    expected_grads = torch.autograd.grad(expected, (q, k), grad)
    for a, b in zip(ours_grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
