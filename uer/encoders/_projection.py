"""Optional emb_size -> hidden_size projection for encoders whose layers need width H on their
input (attn, synt). UER-py silently assumed emb_size == hidden_size there (SPEC bug 17); we add a
Linear named ``linear`` only when the sizes differ, so E == H checkpoints keep UER-py's keys."""
from uer.layers.onednn_linear import Linear


def input_projection(emb_size, hidden_size):
    """``Linear(E, H)`` (an ``nn.Linear``) when the sizes differ, otherwise None."""
    if emb_size == hidden_size:
        return None
    return Linear(emb_size, hidden_size)


def project(linear, emb):
    return emb if linear is None else linear(emb)
