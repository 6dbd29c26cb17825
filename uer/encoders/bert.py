"""Transformer encoder (BERT/ALBERT): padding-key mask from seg > 0 (SPEC §4.3, §4.5)."""
import torch
from torch import nn

from uer.encoders import str2encoder
from uer.errors import UerError
from uer.hparams import (DROPOUT, EMB_SIZE, FEEDFORWARD_SIZE, HEADS_NUM, HIDDEN_SIZE, LAYERS_NUM,
                         Key, read)
from uer.layers.activation import HIDDEN_ACT
from uer.layers.layer_norm import LAYER_NORM_KEYS, build_layer_norm
from uer.layers.multi_headed_attn import PackedRows, padding_mask
from uer.layers.onednn_linear import Linear, preferred_row_multiple
from uer.layers.transformer import POSITIONINGS, TransformerLayer

# Where each layer normalises (TencentPretrain's key): "post" is UER-py's and BERT's layout.
LAYERNORM_POSITIONING = Key("layernorm_positioning", str, choices=POSITIONINGS, default="post")

# Inference on CPU leaves the padding rows out of every row-wise computation (all but the
# attention kernel) when they are at least this share of the batch; below it the scatter and
# gather around attention cost about what they save (bench/finetune_bench.py, NER rows).
PACK_MIN_PADDING = 0.05


def _round_up_count(selected, multiple):
    """``selected`` (bool [N]) with up to ``(-count) % multiple`` more entries set, the first
    unselected ones, and those entries' positions (None when none were added)."""
    extra = (-int(selected.sum())) % multiple
    added = (~selected).nonzero().squeeze(1)[:extra] if extra else None
    if added is None or added.numel() == 0:
        return selected, None
    selected = selected.clone()
    selected[added] = True
    return selected, added


@str2encoder.register("bert")
class BertEncoder(nn.Module):
    """``layers_num`` transformer layers in ``transformer.<i>``; post-LN (UER-py) by default,
    pre-LN with config key / option ``layernorm_positioning: "pre"``, which adds a final
    ``layer_norm`` after the last layer.

    --factorized_embedding_parameterization adds ``linear`` (emb_size -> hidden_size) before the
    first layer; --parameter_sharing keeps one layer ``transformer`` applied layers_num times.
    """
    padding_invariant = True  # real positions never see trailing padding: uer/padding_trim.py
    causal = False  # the gpt subclass sets this
    config_keys = (EMB_SIZE, HIDDEN_SIZE, LAYERS_NUM, HEADS_NUM, FEEDFORWARD_SIZE, DROPOUT,
                   HIDDEN_ACT, *LAYER_NORM_KEYS, LAYERNORM_POSITIONING)

    name = "bert"

    def __init__(self, args):
        super().__init__()
        name = f"encoder {self.name}"
        config = read(args, self)
        emb_size, hidden_size = config.emb_size, config.hidden_size
        self.layers_num = config.layers_num
        self.factorized = bool(getattr(args, "factorized_embedding_parameterization", False))
        self.parameter_sharing = bool(getattr(args, "parameter_sharing", False))
        if self.factorized:
            self.linear = Linear(emb_size, hidden_size)
        elif emb_size != hidden_size:
            raise UerError(f"{name}: emb_size ({emb_size}) differs from hidden_size "
                           f"({hidden_size}); use --factorized_embedding_parameterization "
                           "or make them equal in the config")
        layer_args = (hidden_size, config.heads_num, config.feedforward_size, config.dropout,
                      config.hidden_act, config.layernorm, config.layernorm_eps,
                      config.layernorm_positioning)
        self.pre_norm = config.layernorm_positioning == "pre"
        if self.pre_norm:
            self.layer_norm = build_layer_norm(hidden_size, config.layernorm, config.layernorm_eps)
        if self.parameter_sharing:
            self.transformer = TransformerLayer(*layer_args)
        else:
            self.transformer = nn.ModuleList(
                [TransformerLayer(*layer_args) for _ in range(self.layers_num)])

    def _final(self, hidden):
        """The pre-LN layout's last normalisation (nothing for post-LN)."""
        return self.layer_norm(hidden) if self.pre_norm else hidden

    def layer(self, index):
        return self.transformer if self.parameter_sharing else self.transformer[index]

    @property
    def can_compute_row_subset(self):
        return not self.causal

    @property
    def skips_padding_rows(self):
        """forward(..., real_only=True) is understood (uer.finetune.pooling)."""
        return not self.causal

    def _inference_on_cpu(self, hidden):
        return (not self.training and not torch.is_grad_enabled() and hidden.device.type == "cpu"
                and not torch.compiler.is_compiling())

    def _mask(self, seg, hidden):
        """The padding-key mask; None for a batch without padding at inference on CPU (the
        attention kernel is faster without one, and adding zeros changes nothing)."""
        if self.causal:
            return None
        if self._inference_on_cpu(hidden) and bool((seg > 0).all()):
            return None
        return padding_mask(seg, hidden.dtype)

    def _packed_rows(self, seg, hidden, rows):
        """(PackedRows of the real rows, ``keep``: bool over them, or None for all, the rows
        the caller reads from the last layer, ``filler``: positions computed only to round the
        row counts, or None) for the packed road, or None where it does not
        apply. It applies when at least PACK_MIN_PADDING of the batch's rows need not come out
        of the last layer."""
        if self.causal or not self._inference_on_cpu(hidden):
            return None
        real = seg > 0
        needed = real if rows is None else real & rows
        if real.numel() == 0 or float(needed.float().mean()) > 1.0 - PACK_MIN_PADDING:
            return None
        # Row counts rounded up to the linears' preferred multiple (oneDNN builds a kernel per
        # shape): filler rows are computed like the others and zeroed in the output.
        multiple = preferred_row_multiple()
        computed, filler = _round_up_count(real.reshape(-1), multiple)
        packed_rows = PackedRows.of(computed.view(real.shape))
        keep = None
        if rows is not None:
            keep, kept_filler = _round_up_count(needed.reshape(-1)[packed_rows.index], multiple)
            if kept_filler is not None:
                kept_filler = packed_rows.index[kept_filler]
                filler = kept_filler if filler is None else torch.cat([filler, kept_filler])
        return packed_rows, keep, filler

    def _forward_packed(self, hidden, mask, packed_rows, keep, filler):
        batch_size, seq_length, width = hidden.shape
        index = packed_rows.index
        packed = hidden.reshape(batch_size * seq_length, width).index_select(0, index)
        for layer_index in range(self.layers_num - 1):
            packed = self.layer(layer_index).forward_packed(packed, packed_rows, mask)
        packed = self._final(self.layer(self.layers_num - 1).forward_packed(packed, packed_rows,
                                                                            mask, keep))
        out = packed.new_zeros(batch_size * seq_length, packed.size(1))
        out.index_copy_(0, index if keep is None else index[keep], packed)
        if filler is not None:
            out.index_fill_(0, filler, 0.0)
        return out.view(batch_size, seq_length, -1)

    def forward(self, emb, seg, first_only=False, rows=None, real_only=False):
        """[B, L, H]. Shortcuts, exact where they apply (bidirectional only), since a row's
        output needs only its own input and all keys:
        ``first_only`` computes the first position alone in the last layer and returns
        [B, 1, H] (what "first" pooling reads); ``rows`` (bool [B, L]) says the caller reads
        those rows only: they are computed in the last layer (with a few more to fill a
        rectangle), zeros in the others (what an MLM loss reads); ``real_only`` says the
        caller reads the real positions (seg > 0) only. With ``rows`` or ``real_only``, at
        inference on CPU the padding rows are left out of every layer and the unread rows out
        of the last one (zeros there); elsewhere they are computed as usual."""
        hidden = self.linear(emb) if self.factorized else emb
        mask = self._mask(seg, hidden)
        if (real_only or rows is not None) and not first_only:
            packing = self._packed_rows(seg, hidden, rows)
            if packing is not None:
                return self._forward_packed(hidden, mask, *packing)
        last = self.layers_num - 1
        for index in range(last):
            # the caller's emb stays intact; later inputs are this loop's own buffers
            hidden = self.layer(index)(hidden, mask, is_causal=self.causal,
                                       owns_input=index > 0 or self.factorized)
        layer = self.layer(last)
        owned = last > 0 or self.factorized
        if self.causal or (not first_only and rows is None):
            return self._final(layer(hidden, mask, is_causal=self.causal, owns_input=owned))
        if first_only:
            return self._final(layer(hidden, mask, queries=1))
        count = int(rows.sum(dim=1).max())
        if count >= rows.size(1):
            return self._final(layer(hidden, mask, owns_input=owned))
        # Positions of each row's needed entries first (stable: in order), then filler ones.
        positions = torch.sort((~rows).to(torch.int8), dim=1, stable=True).indices[:, :count]
        computed = self._final(layer(hidden, mask, queries=positions))
        index = positions.unsqueeze(-1).expand(-1, -1, computed.size(-1))
        return torch.zeros_like(hidden).scatter(1, index, computed)
