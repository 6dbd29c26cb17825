"""Position-wise feed-forward block: linear_2(act(linear_1(x))), H -> F -> H, no inner dropout."""
import torch
from torch import nn

from uer.layers.activation import gelu, get_activation


class PositionwiseFeedForward(nn.Module):
    def __init__(self, hidden_size, feedforward_size, hidden_act="gelu"):
        super().__init__()
        self.linear_1 = nn.Linear(hidden_size, feedforward_size)
        self.linear_2 = nn.Linear(feedforward_size, hidden_size)
        self.act = get_activation(hidden_act)

    def forward(self, x):
        inner = self.linear_1(x)
        if self.act is gelu and not torch.is_grad_enabled():
            # no autograd: GELU over its own input, no second [rows, F] buffer
            inner = torch._C._nn.gelu(inner, out=inner)
        else:
            inner = self.act(inner)
        return self.linear_2(inner)
