"""Exact weight converters between UER BERT checkpoints and HuggingFace / Google BERT.

- ``bert_keys``: the parameter names in the three formats; layer counting.
- ``uer_model``: the UER side (checkpoint, config JSON, segment and position tables).
- ``layernorm``: carrying LayerNorms across UER-py's formula and the standard one.
- ``huggingface``, ``google``: reading and writing each foreign format (TensorFlow is imported
  by ``google`` only, when called).
- ``cli``: the options and ``main`` functions of the four scripts in scripts/.

Exactness: a model converted into UER gets ``"layernorm": "standard"`` in its UER config, so
this project computes with the source's LayerNorm formula (uer/layers/layer_norm.py); gelu is
exact (erf) in UER as in HuggingFace; HuggingFace token type t is UER segment t + 1.
"""
