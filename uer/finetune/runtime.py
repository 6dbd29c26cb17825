"""Device and mixed precision for fine-tuning and inference.

--fp16 runs the forward pass under torch.autocast (uer.amp): float16 with a GradScaler on CUDA,
bfloat16 on CPUs with native bf16 (fp32 elsewhere, with a notice). --fp16_opt_level O0 keeps fp32."""
import torch

from uer.amp import build_precision
from uer.compile import compile_model


class Runtime:
    """Where and how the model runs: ``device`` (a GPU when one is visible), ``precision``."""

    def __init__(self, args, device=None):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.precision = build_precision(args, self.device)
        self.gpus = torch.cuda.device_count() if self.device.type == "cuda" else 0
        self.args = args  # --compile

    def autocast(self):
        return self.precision.autocast()

    def to_device(self, batch):
        return {key: value.to(self.device, non_blocking=True) if torch.is_tensor(value) else value
                for key, value in batch.items()}

    def wrap(self, model):
        """Move to the device; several visible GPUs share each batch (nn.DataParallel)."""
        model = model.to(self.device)
        if self.gpus > 1:
            print(f"{self.gpus} GPUs are available. Let's use them.")
            model = torch.nn.DataParallel(model)
        return compile_model(model, self.args)

    def backward_and_step(self, loss, optimizer, scheduler):
        scaler = self.precision.scaler
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

