"""The concatenated Q/K/V weights kept between calls without autograd (uer/layers/qkv_weights.py):
kept while nothing changes, and never stale after a training step, load_state_dict, an in-place
copy, a ``.data`` assignment or a switch between train and eval."""
import torch

from uer.layers.multi_headed_attn import MultiHeadedAttention, padding_mask
from uer.optim import build_optimizer

HIDDEN, HEADS = 16, 4


def attention():
    torch.manual_seed(0)
    attn = MultiHeadedAttention(HIDDEN, HEADS, dropout=0.0)
    return attn.eval()


def inputs():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, HIDDEN, generator=generator)
    seg = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    return x, padding_mask(seg)


def fresh_result(attn, x, mask):
    """The output of a new module holding attn's current weights, with autograd on (no keeping)."""
    clone = MultiHeadedAttention(HIDDEN, HEADS, dropout=0.0).eval()
    clone.load_state_dict(attn.state_dict())
    return clone(x, x, x, mask).detach()


def predict(attn, x, mask):
    with torch.inference_mode():
        return attn(x, x, x, mask).clone()


def test_kept_without_autograd_and_rebuilt_with_it():
    attn = attention()
    with torch.no_grad():
        first = attn._projection_weights(attn.linear_layers)
        assert attn._projection_weights(attn.linear_layers)[0] is first[0]
        assert attn._projection_weights(attn.linear_layers[1:])[0].shape == (2 * HIDDEN, HIDDEN)
        assert attn._projection_weights(attn.linear_layers)[0] is first[0]
    with_grad = attn._projection_weights(attn.linear_layers)
    assert with_grad[0] is not first[0] and with_grad[0].requires_grad
    torch.testing.assert_close(with_grad[0].detach(), first[0])


class DataSgd(torch.optim.Optimizer):
    """Updates through ``.data``, as UER-py's optimizer did: no version counter moves."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.data.add_(param.grad, alpha=-group["lr"])


def test_training_steps_are_seen_with_and_without_a_mode_switch():
    attn = attention()
    x, mask = inputs()
    for optimizer in (DataSgd(attn.parameters(), lr=1e-2), build_optimizer(attn, 1e-2),
                      torch.optim.SGD(attn.parameters(), lr=1e-2)):
        before = predict(attn, x, mask)
        # A step between two predictions, with gradients from elsewhere (so no forward with
        # autograd in between): only the optimizer step hook can tell.
        for param in attn.parameters():
            param.grad = torch.full_like(param, 0.5)
        optimizer.step()
        optimizer.zero_grad()
        after = predict(attn, x, mask)
        assert not torch.allclose(after, before)
        torch.testing.assert_close(after, fresh_result(attn, x, mask))
        # The engine's order: train mode, a step, eval mode, prediction.
        attn.train()
        attn(x, x, x, mask).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        attn.eval()
        torch.testing.assert_close(predict(attn, x, mask), fresh_result(attn, x, mask))


def test_load_state_dict_in_place_copy_and_data_assignment_are_seen():
    attn = attention()
    x, mask = inputs()
    predict(attn, x, mask)
    torch.manual_seed(5)
    other = MultiHeadedAttention(HIDDEN, HEADS, dropout=0.0)
    attn.load_state_dict(other.state_dict())
    torch.testing.assert_close(predict(attn, x, mask), fresh_result(other.eval(), x, mask))

    with torch.no_grad():
        attn.linear_layers[1].weight.mul_(-1.0)
    torch.testing.assert_close(predict(attn, x, mask), fresh_result(attn, x, mask))

    attn.linear_layers[2].weight.data = torch.randn(HIDDEN, HIDDEN)
    attn.linear_layers[0].bias.data = torch.randn(HIDDEN)
    torch.testing.assert_close(predict(attn, x, mask), fresh_result(attn, x, mask))


def test_a_data_write_outside_a_step_is_seen_after_eval():
    attn = attention()
    x, mask = inputs()
    predict(attn, x, mask)
    attn.linear_layers[0].weight.data.add_(1.0)  # no version bump, no optimizer step
    attn.eval()
    torch.testing.assert_close(predict(attn, x, mask), fresh_result(attn, x, mask))


def test_key_value_subset_and_queries_match_uncached():
    """The K/V-only path (queries for a subset of rows) keeps its own pair."""
    attn = attention()
    x, mask = inputs()
    with torch.inference_mode():
        for _ in range(2):
            partial = attn(x[:, :2], x, x, mask).clone()
            full = attn(x, x, x, mask).clone()
    torch.testing.assert_close(partial, full[:, :2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(full, fresh_result(attn, x, mask))
