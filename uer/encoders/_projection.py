"""Optional emb_size -> hidden_size projection for encoders whose layers need width H on their
input (attn, synt). UER-py silently assumed emb_size == hidden_size there (SPEC bug 17); we add a
Linear named ``linear`` only when the sizes differ, so E == H checkpoints keep UER-py's keys."""
from torch import nn


def input_projection(emb_size, hidden_size):
    """``nn.Linear(E, H)`` when the sizes differ, otherwise None."""
    if emb_size == hidden_size:
        return None
    return nn.Linear(emb_size, hidden_size)


def project(linear, emb):
    return emb if linear is None else linear(emb)
