"""Optimizer and learning-rate schedule shared by pre-training and fine-tuning.

UER-py's AdamW never applied weight decay and had no bias correction, and its schedule counted
micro-batches; here decay is real (0.01, none on biases and layer norms), bias correction is on,
and the schedule counts optimizer steps."""
import torch

NO_DECAY_MARKERS = ("bias", "gamma", "beta", "layer_norm", "LayerNorm")


def parameter_groups(model, weight_decay=0.01):
    decay, no_decay = [], []
    seen = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue  # tied weights appear once
        seen.add(id(param))
        (no_decay if any(m in name for m in NO_DECAY_MARKERS) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


# Devices with torch's fused AdamW kernel: on CPU it made the update ~8x faster than the default
# per-tensor loop (bert_tiny: ~400 ms -> ~50 ms per step), with the same arithmetic.
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def build_optimizer(model, learning_rate, betas=(0.9, 0.999), weight_decay=0.01, eps=1e-6):
    groups = parameter_groups(model, weight_decay)
    params = [p for group in groups for p in group["params"]]
    fused = bool(params) and all(p.device.type in FUSED_ADAMW_DEVICES and p.is_floating_point()
                                 for p in params)
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=fused or None)


def warmup_linear_multiplier(total_steps, warmup_steps):
    """Multiplier for update number k = s + 1: k/W during warm-up, then linear decay to 0 at T."""
    total_steps = max(1, int(total_steps))
    warmup_steps = int(warmup_steps)

    def multiplier(step):
        k = step + 1
        if k <= warmup_steps:
            return k / max(1, warmup_steps)
        return max(0.0, (total_steps - k + 1) / max(1, total_steps - warmup_steps))

    return multiplier


def build_scheduler(optimizer, total_steps, warmup_fraction):
    """``total_steps`` counts optimizer updates (micro-batches / accumulation_steps)."""
    multiplier = warmup_linear_multiplier(total_steps, total_steps * warmup_fraction)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
