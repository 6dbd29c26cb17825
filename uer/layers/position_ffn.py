"""Position-wise feed-forward block: linear_2(act(linear_1(x))), H -> F -> H, no inner dropout."""
import torch
from torch import nn

from uer.layers.activation import gelu, get_activation
from uer.layers.onednn_linear import Linear
from uer.layers.residual import add_linear


class PositionwiseFeedForward(nn.Module):
    def __init__(self, hidden_size, feedforward_size, hidden_act="gelu"):
        super().__init__()
        self.linear_1 = Linear(hidden_size, feedforward_size)
        self.linear_2 = Linear(feedforward_size, hidden_size)
        self.act = get_activation(hidden_act)

    def forward(self, x, residual=None, overwrite=False):
        """linear_2(act(linear_1(x))), plus ``residual`` when given (accumulated into it
        without autograd when the caller gives it up: ``overwrite``, uer/layers/residual.py)."""
        inner = self.linear_1(x)
        if self.act is gelu and not torch.is_grad_enabled():
            # no autograd: GELU over its own input, no second [rows, F] buffer
            inner = torch._C._nn.gelu(inner, out=inner)
        else:
            inner = self.act(inner)
        if residual is None:
            return self.linear_2(inner)
        return add_linear(residual, inner, self.linear_2, overwrite)
