"""``--encoder gru``: a (optionally bidirectional) multi-layer GRU over the embeddings."""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._recurrent import RecurrentEncoder


@str2encoder.register("gru")
class GruEncoder(RecurrentEncoder):
    cell = nn.GRU
