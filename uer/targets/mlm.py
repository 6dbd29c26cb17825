"""Masked language model target (SPEC §4.4): logits only at the masked rows (tgt > 0)."""
import torch.nn.functional as F
from torch import nn

from uer.hparams import HIDDEN_SIZE, read
from uer.layers.layer_norm import LAYER_NORM_KEYS, layer_norm_from_args
from uer.layers.onednn_linear import Linear
from uer.targets import str2target
from uer.targets.common import TOKEN_METRICS, token_prediction_loss


@str2target.register("mlm")
class MlmTarget(nn.Module):
    """``mlm_linear_1`` H -> M, ``layer_norm(M)``, ``mlm_linear_2`` M -> V, with M = hidden_size
    (albert overrides ``mlm_size`` to emb_size). forward(memory_bank, tgt_mlm) ->
    (loss, correct, denominator)."""

    name = "mlm"
    tied_output_name = "mlm_linear_2"
    batch_fields = ("src", "tgt_mlm", "seg")
    metrics = TOKEN_METRICS
    padding_invariant = True
    config_keys = (HIDDEN_SIZE, *LAYER_NORM_KEYS)

    def __init__(self, args, vocab_size):
        super().__init__()
        config = read(args, self)
        hidden_size = config.hidden_size
        mlm_size = self.mlm_size(config)
        self.mlm_linear_1 = Linear(hidden_size, mlm_size)
        self.layer_norm = layer_norm_from_args(args, mlm_size)
        self.mlm_linear_2 = Linear(mlm_size, vocab_size)

    def mlm_size(self, config):
        """Width of the MLM transform, from the checked config values."""
        return config.hidden_size

    def mlm(self, memory_bank, tgt_mlm):
        labels = tgt_mlm.reshape(-1)
        rows = labels > 0
        hidden = memory_bank.reshape(-1, memory_bank.size(-1))[rows]
        labels = labels[rows]
        # gelu is fixed here (not hidden_act), as in UER-py.
        hidden = self.layer_norm(F.gelu(self.mlm_linear_1(hidden)))
        return token_prediction_loss(self.mlm_linear_2(hidden), labels)

    def rows_read(self, tgt):
        """Bool [B, L]: the encoder rows this loss reads (the masked ones)."""
        return tgt > 0

    def forward(self, memory_bank, tgt):
        return self.mlm(memory_bank, tgt)
