"""Incremental decoding for the gpt encoder: each layer's keys and values are kept, so a new
token costs one position instead of a forward pass over the whole prefix.

``CachedDecoder(model)`` wraps a pre-training model (``embedding`` bert/word, ``encoder`` gpt,
optionally ``target`` lm) and reuses its weights; the modules themselves are not changed. Call
``start(src)`` with the prompt ids [B, T] (returns the last-layer hidden states [B, T, H]), then
``step(ids)`` with the next ids [B, 1] (returns [B, 1, H]). Only for eval mode: dropout is not
applied. The result equals the full causal forward over the sequence up to rounding."""
import torch
import torch.nn.functional as F

from uer.constants import MAX_POSITIONS
from uer.embeddings.bert import BertEmbedding
from uer.embeddings.word import WordEmbedding
from uer.encoders.bert import BertEncoder
from uer.errors import UerError
from uer.layers.onednn_linear import linear


def supports_cache(model):
    """True when ``model`` has a causal post-LN transformer encoder and a bert/word embedding
    (a pre-LN model generates through the uncached loop)."""
    return (isinstance(model.encoder, BertEncoder) and model.encoder.causal
            and not model.encoder.pre_norm
            and isinstance(model.embedding, (BertEmbedding, WordEmbedding)))


class CachedDecoder:
    def __init__(self, model, max_length=MAX_POSITIONS):
        if not supports_cache(model):
            raise UerError("the key/value cache needs --encoder gpt with --embedding bert or word")
        self.embedding, self.encoder = model.embedding, model.encoder
        self.max_length = max_length
        self.keys = self.values = None
        # Q/K/V weights of each layer concatenated once (the model is not trained meanwhile).
        with torch.no_grad():
            self.qkv = [(torch.cat([lin.weight for lin in attn.linear_layers]),
                         torch.cat([lin.bias for lin in attn.linear_layers]))
                        for attn in (self.encoder.layer(i).self_attn
                                     for i in range(self.encoder.layers_num))]
        self.length = 0

    # --- pieces of the model, at an offset ---------------------------------------------
    def _embed(self, src, offset):
        emb = self.embedding
        hidden = emb.word_embedding(src)
        if isinstance(emb, BertEmbedding):
            if offset + src.size(1) > MAX_POSITIONS:
                raise UerError(f"sequence length {offset + src.size(1)} exceeds the "
                               f"{MAX_POSITIONS} positions of the bert embedding")
            positions = torch.arange(offset, offset + src.size(1), device=src.device)
            # Segment 1 everywhere: generation has no padding (as the uncached loop).
            hidden = (hidden + emb.position_embedding(positions)[None]
                      + emb.segment_embedding.weight[1])
        return emb.layer_norm(hidden)

    def _attend(self, layer_index, attn, x):
        """Self-attention of the new positions ``x`` [B, T, H] over the cache and themselves."""
        batch, count, hidden_size = x.shape
        weight, bias = self.qkv[layer_index]
        qkv = linear(x, weight, bias).view(batch, count, 3, attn.heads_num, attn.per_head_size)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        start, end = self.length, self.length + count
        self.keys[layer_index][:, :, start:end] = k
        self.values[layer_index][:, :, start:end] = v
        keys = self.keys[layer_index][:, :, :end]
        values = self.values[layer_index][:, :, :end]
        if count == 1:
            mask = None  # one query sees every cached position and itself
        else:  # query i (absolute start + i) sees keys 0 .. start + i
            mask = torch.ones(count, end, dtype=torch.bool, device=x.device).tril(start)
        context = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return attn.final_linear(context.transpose(1, 2).reshape(batch, count, hidden_size))

    def _layers(self, hidden):
        encoder = self.encoder
        if encoder.factorized:
            hidden = encoder.linear(hidden)
        for index in range(encoder.layers_num):
            layer = encoder.layer(index)
            inter = layer.layer_norm_1(hidden + self._attend(index, layer.self_attn, hidden))
            hidden = layer.layer_norm_2(inter + layer.feed_forward(inter))
        return hidden

    def _allocate(self, batch, reference):
        attn = self.encoder.layer(0).self_attn
        shape = (batch, attn.heads_num, self.max_length, attn.per_head_size)
        dtype, device_type = reference.dtype, reference.device.type
        if torch.is_autocast_enabled(device_type):  # --fp16: keys/values come out in bf16/fp16
            dtype = torch.get_autocast_dtype(device_type)
        # zeros, not empty: a masked key's value still enters the product (0 x NaN = NaN)
        make = lambda: reference.new_zeros(shape, dtype=dtype)  # noqa: E731
        self.keys = [make() for _ in range(self.encoder.layers_num)]
        self.values = [make() for _ in range(self.encoder.layers_num)]

    # --- several sequences of different lengths ------------------------------------------
    @torch.inference_mode()
    def start_rows(self, prompts):
        """Reset the cache for len(prompts) sequences of any lengths (lists of ids); each
        prompt is run on its own. Returns each prompt's last hidden state [B, H]."""
        longest = max(len(p) for p in prompts)
        if longest > self.max_length or min(len(p) for p in prompts) < 1:
            raise UerError(f"prompts must have 1 to {self.max_length} tokens")
        reference = self.embedding.word_embedding.weight
        self._allocate(len(prompts), reference)
        full_keys, full_values = self.keys, self.values
        last = []
        for row, prompt in enumerate(prompts):
            self.keys = [k[row:row + 1] for k in full_keys]  # views: written in place
            self.values = [v[row:row + 1] for v in full_values]
            self.length = 0
            last.append(self._layers(self._embed(torch.tensor([prompt]), 0))[0, -1])
        self.keys, self.values = full_keys, full_values
        self.lengths = torch.tensor([len(p) for p in prompts])
        self.length = None
        return torch.stack(last)

    def _attend_rows(self, layer_index, attn, x):
        """One new position per row, at each row's own length."""
        batch, _, hidden_size = x.shape
        weight, bias = self.qkv[layer_index]
        qkv = linear(x, weight, bias).view(batch, 1, 3, attn.heads_num, attn.per_head_size)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        rows = torch.arange(batch)
        self.keys[layer_index][rows, :, self.lengths] = k[:, :, 0]
        self.values[layer_index][rows, :, self.lengths] = v[:, :, 0]
        end = int(self.lengths.max()) + 1
        mask = (torch.arange(end)[None, :] <= self.lengths[:, None])[:, None, None, :]
        context = F.scaled_dot_product_attention(q, self.keys[layer_index][:, :, :end],
                                                 self.values[layer_index][:, :, :end],
                                                 attn_mask=mask)
        return attn.final_linear(context.transpose(1, 2).reshape(batch, 1, hidden_size))

    @torch.inference_mode()
    def step_rows(self, ids):
        """Append one id per row (``ids`` [B]) after ``start_rows``; hidden states [B, H]."""
        if int(self.lengths.max()) + 1 > self.max_length:
            raise UerError(f"a sequence would exceed the cache ({self.max_length} tokens)")
        emb = self.embedding
        hidden = emb.word_embedding(ids[:, None])
        if isinstance(emb, BertEmbedding):
            hidden = (hidden + emb.position_embedding(self.lengths)[:, None]
                      + emb.segment_embedding.weight[1])
        hidden = emb.layer_norm(hidden)
        encoder = self.encoder
        if encoder.factorized:
            hidden = encoder.linear(hidden)
        for index in range(encoder.layers_num):
            layer = encoder.layer(index)
            inter = layer.layer_norm_1(hidden + self._attend_rows(index, layer.self_attn, hidden))
            hidden = layer.layer_norm_2(inter + layer.feed_forward(inter))
        self.lengths = self.lengths + 1
        return hidden[:, 0]

    def keep_rows(self, index):
        """Drop the other rows (finished sequences) from the cache; ``index`` LongTensor."""
        self.keys = [k[index] for k in self.keys]
        self.values = [v[index] for v in self.values]
        self.lengths = self.lengths[index]

    # --- public ------------------------------------------------------------------------
    @torch.inference_mode()
    def start(self, src):
        """Reset the cache and run the prompt ``src`` [B, T]; hidden states [B, T, H]."""
        if src.size(1) > self.max_length:
            raise UerError(f"prompt of {src.size(1)} tokens exceeds the cache ({self.max_length})")
        self.length = 0
        hidden = self._embed(src, 0)
        self._allocate(src.size(0), hidden)
        out = self._layers(hidden)
        self.length = src.size(1)
        return out

    @torch.inference_mode()
    def step(self, ids):
        """Append ``ids`` [B, T] (usually T = 1) after the cached positions; [B, T, H]."""
        if self.keys is None:
            raise UerError("CachedDecoder.step before start")
        if self.length + ids.size(1) > self.max_length:
            raise UerError(f"sequence of {self.length + ids.size(1)} tokens exceeds the cache "
                           f"({self.max_length})")
        out = self._layers(self._embed(ids, self.length))
        self.length += ids.size(1)
        return out
