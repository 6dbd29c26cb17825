"""Carrying LayerNorms across the formula difference (SPEC §4.1).

UER-py normalises by the unbiased std plus 1e-6; HuggingFace and Google BERT by
sqrt(biased variance + 1e-12). Since std_unbiased = std_biased * sqrt(n / (n - 1)), a UER-formula
LayerNorm equals a standard one whose gamma is multiplied by sqrt((n - 1) / n), up to where the
eps enters (a relative difference of about 1e-6 / std). So:

- into UER, ``--layernorm standard`` (default) copies gamma and writes ``"layernorm": "standard"``
  (and the source's eps) into the UER config: this project then computes exactly like the
  source. ``--layernorm uer`` rescales gamma instead and leaves the config key out, for
  tools that only know UER-py's formula (UER-py itself): close, not exact.
- out of UER, a model whose config has ``"layernorm": "standard"`` is copied as is (exact).
  A UER-formula model (every UER-py checkpoint) has its gammas rescaled by default
  (``--uer_layernorm rescale``), which makes the target compute like UER to about 1e-6
  relative; ``--uer_layernorm copy`` keeps the tensors bit-identical (UER-py's behaviour), and
  the target then differs by sqrt(n / (n - 1)) per LayerNorm (0.07% at n = 768).
"""
import math

from uer.errors import UerError
from uer.layers.layer_norm import LAYERNORM_FORMULAS, STANDARD_EPS

FORMULA_KEY = "layernorm"
EPS_KEY = "layernorm_eps"
INTO_UER_CHOICES = ("standard", "uer")
OUT_OF_UER_CHOICES = ("rescale", "copy")


def gamma_keys(state):
    return [key for key in state if key.endswith(".gamma")]


def _scaled(tensor, factor):
    # In float64 so the only rounding is the final cast back to the tensor's dtype.
    return (tensor.double() * factor).to(tensor.dtype)


def uer_to_standard_factor(size):
    return math.sqrt((size - 1) / size)


def formula_of(config):
    formula = config.get(FORMULA_KEY) or "uer"
    if formula not in LAYERNORM_FORMULAS:
        raise UerError(f"config key '{FORMULA_KEY}' has unknown value {formula!r}; use one of: "
                       + ", ".join(LAYERNORM_FORMULAS))
    return formula


def into_uer(state, mode, source_eps):
    """Adapt the gammas of a standard-formula model now in UER names; returns the config keys
    that make UER compute with the intended formula."""
    if mode == "standard":
        return {FORMULA_KEY: "standard", EPS_KEY: source_eps}
    for key in gamma_keys(state):
        state[key] = _scaled(state[key], 1.0 / uer_to_standard_factor(state[key].numel()))
    print(f"note: --layernorm uer: LayerNorm gammas rescaled for UER-py's formula; outputs match "
          f"the source to about 1e-6 relative (not exactly; eps {source_eps:g} vs UER's 1e-6)")
    return {}


def out_of_uer(state, config, mode):
    """Adapt the gammas of a UER state for a standard-formula target, in place; returns the
    eps the target must use."""
    if formula_of(config) == "standard":
        return float(config.get(EPS_KEY) or STANDARD_EPS)
    if mode == "rescale":
        for key in gamma_keys(state):
            state[key] = _scaled(state[key], uer_to_standard_factor(state[key].numel()))
        print("note: the UER config uses UER-py's LayerNorm formula: gammas rescaled by "
              "sqrt((n-1)/n) so the target computes like UER (to about 1e-6 relative); "
              "--uer_layernorm copy keeps them unchanged")
    else:
        print("warning: --uer_layernorm copy: the target's LayerNorm formula differs from "
              "UER-py's, so its outputs will not match this model's (about 0.07% per LayerNorm "
              "at hidden size 768)")
    return STANDARD_EPS
