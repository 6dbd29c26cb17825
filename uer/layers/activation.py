"""Activation functions selectable through the config key ``hidden_act``."""
import torch.nn.functional as F

from uer.errors import UerError
from uer.hparams import Key


def gelu(x):
    """Exact (erf) GELU, as UER-py: x * 0.5 * (1 + erf(x / sqrt(2)))."""
    return F.gelu(x)


def relu(x):
    return F.relu(x)


ACTIVATIONS = {"gelu": gelu, "relu": relu}
# The config key, for the config_keys of the components whose layers call get_activation.
HIDDEN_ACT = Key("hidden_act", str, choices=tuple(sorted(ACTIVATIONS)))


def get_activation(name):
    """The function named by the config's ``hidden_act``; an unknown or missing name is an error."""
    if name is None:
        raise UerError("config key 'hidden_act' is missing; use one of: "
                       + ", ".join(sorted(ACTIVATIONS)))
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise UerError(f"config key 'hidden_act' has unknown value {name!r}; use one of: "
                       + ", ".join(sorted(ACTIVATIONS))) from None
