"""Causal convolutions shared by the cnn, gatedcnn, rcnn and crnn encoders.

UER-py stores them as Conv2d modules (first layer: 1 -> H channels, kernel k x E over the
[B, 1, L, E] "image" of the sequence; later layers: H -> H, kernel k x 1), and pads k-1 zero
steps on the left before each one so position t sees only positions <= t. We keep those modules
(so checkpoint keys and shapes match) but run them as 1-d convolutions over [B, C, L], which is
the same arithmetic without the 4-d reshapes.
"""
import torch.nn.functional as F
from torch import nn


def first_conv(in_width, hidden_size, kernel_size):
    """Conv2d(1 -> H, kernel (k, in_width)): reads the whole feature vector of k steps."""
    return nn.Conv2d(1, hidden_size, (kernel_size, in_width))


def next_convs(hidden_size, kernel_size, count):
    """``count`` Conv2d(H -> H, kernel (k, 1)) layers in a ModuleList."""
    return nn.ModuleList(nn.Conv2d(hidden_size, hidden_size, (kernel_size, 1))
                         for _ in range(count))


def _left_pad(x, kernel_size):
    return F.pad(x, (kernel_size - 1, 0))


def apply_first(conv, x):
    """x [B, L, W] -> [B, H, L] through a ``first_conv`` module, causally padded."""
    _, _, kernel_size, _ = conv.weight.shape
    weight = conv.weight.squeeze(1).transpose(1, 2)  # [H, W, k]
    return F.conv1d(_left_pad(x.transpose(1, 2), kernel_size), weight, conv.bias)


def apply_next(conv, x):
    """x [B, H, L] -> [B, H, L] through a ``next_convs`` module, causally padded."""
    kernel_size = conv.weight.shape[2]
    return F.conv1d(_left_pad(x, kernel_size), conv.weight.squeeze(3), conv.bias)


def causal_cnn(conv_1, convs, x):
    """UER-py's plain CNN stack (no nonlinearity between layers): [B, L, W] -> [B, L, H]."""
    hidden = apply_first(conv_1, x)
    for conv in convs:
        hidden = apply_next(conv, hidden)
    return hidden.transpose(1, 2)
