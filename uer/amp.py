"""Mixed precision for pre-training through torch.autocast (UER-py used NVIDIA apex).

--fp16_opt_level keeps apex's names: O0 = full fp32; O1, O2 and O3 = autocast. Weights and the
optimizer state always stay fp32 here (apex O2/O3 cast the weights), which is what apex's "master
weights" gave anyway. On CUDA the autocast dtype is fp16 with a GradScaler; on CPU it is bf16,
which needs no loss scaling, but only on CPUs with native bf16 (AVX512-BF16/AMX): elsewhere
--fp16 falls back to fp32 with a notice. --amp_dtype bfloat16 forces bf16 (also on CUDA)."""
import contextlib
from dataclasses import dataclass

import torch

from uer.errors import UerError


@dataclass
class Precision:
    enabled: bool
    device_type: str
    dtype: torch.dtype = None
    scaler: object = None  # a torch.amp.GradScaler, enabled only for fp16

    def __post_init__(self):
        if self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.device_type, enabled=False)

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def describe(self):
        if not self.enabled:
            return "fp32"
        name = {torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]
        return f"{name} autocast" + (" with loss scaling" if self.scaler.is_enabled() else "")


def build_precision(args, device):
    enabled = bool(getattr(args, "fp16", False)) and getattr(args, "fp16_opt_level", "O1") != "O0"
    device_type = device.type
    if not enabled:
        return Precision(False, device_type)
    choice = getattr(args, "amp_dtype", None) or "auto"
    if choice == "auto":
        dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
    elif choice == "float16":
        if device_type != "cuda":
            raise UerError("--amp_dtype float16 needs CUDA; on CPU use bfloat16 (the default)")
        dtype = torch.float16
    elif choice == "bfloat16":
        dtype = torch.bfloat16
    else:
        raise UerError(f"--amp_dtype {choice}: expected auto, float16 or bfloat16")
    if device_type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        # Emulated bf16 matmuls measured 8x slower than fp32 on an AVX2-only CPU.
        if choice == "auto":
            print("Notice: this CPU has no native bf16 instructions (AVX512-BF16/AMX), so --fp16 "
                  "would be slower than fp32; training in fp32 (--amp_dtype bfloat16 forces "
                  "bf16).", flush=True)
            return Precision(False, device_type)
        print("Notice: this CPU has no native bf16 instructions; bf16 autocast will be slow.",
              flush=True)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)
    return Precision(True, device_type, dtype, scaler)


def cpu_has_native_bf16():
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
