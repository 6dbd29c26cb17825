"""``--encoder lstm``: a (optionally bidirectional) multi-layer LSTM over the embeddings."""
from torch import nn

from uer.encoders import str2encoder
from uer.encoders._recurrent import RecurrentEncoder


@str2encoder.register("lstm")
class LstmEncoder(RecurrentEncoder):
    cell = nn.LSTM
