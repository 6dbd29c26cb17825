"""Position-wise feed-forward block: linear_2(act(linear_1(x))), H -> F -> H, no inner dropout."""
from torch import nn

from uer.layers.activation import get_activation


class PositionwiseFeedForward(nn.Module):
    def __init__(self, hidden_size, feedforward_size, hidden_act="gelu"):
        super().__init__()
        self.linear_1 = nn.Linear(hidden_size, feedforward_size)
        self.linear_2 = nn.Linear(feedforward_size, hidden_size)
        self.act = get_activation(hidden_act)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))
