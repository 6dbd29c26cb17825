"""One call to make a run repeatable: Python, numpy and torch (CPU and CUDA) generators."""
import os
import random

import numpy as np
import torch


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    # UER-py also turned on cudnn.deterministic; it only affects cuDNN kernels (RNN/CNN).
    torch.backends.cudnn.deterministic = True
