"""Optimizer and learning-rate schedule shared by pre-training and fine-tuning (SPEC §6.2).

The update is UER-py's and Google BERT's Adam: no bias correction, so the first updates are as
large as the later ones at the same --learning_rate (users' recipes were tuned for that). Two
UER-py bugs are fixed: weight decay is really applied (decoupled, 0.01, none on biases and layer
norms; UER-py's never was) and the schedule counts optimizer updates, not micro-batches.
--adam_bias_correction gives torch's AdamW update instead."""
import math

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


class BertAdam(torch.optim.Optimizer):
    """Adam with decoupled weight decay; per parameter, at update t (m, v start at 0):

        m = b1*m + (1-b1)*g        v = b2*v + (1-b2)*g*g
        p = p - lr*wd*p - lr * m_hat / (sqrt(v_hat) + eps)

    where m_hat, v_hat = m, v (``bias_correction=False``, UER-py / Google BERT) or
    m/(1-b1^t), v/(1-b2^t) (``bias_correction=True``, torch.optim.AdamW's update).

    On CPU and CUDA the update runs in torch's fused AdamW kernel (``fused_adam_step``);
    elsewhere each line is one torch._foreach op over the tensors that share a step count.
    Neither loops over tensors in Python (that loop cost ~8x the fused kernel on CPU)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0,
                 bias_correction=False):
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"BertAdam: bad lr {lr}, eps {eps} or betas {betas}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        bias_correction=bias_correction)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Parameters that missed some updates (no gradient) have their own step count.
            buckets = {}
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError("BertAdam does not support sparse gradients")
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                key = (int(state["step"].item()), param.device, param.dtype)
                buckets.setdefault(key, []).append(param)
            for (step, _, _), params in buckets.items():
                self._update(group, step, params)
        return loss

    def _update(self, group, step, params):
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        grads = [p.grad for p in params]
        exp_avgs = [self.state[p]["exp_avg"] for p in params]
        exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
        if params[0].device.type in FUSED_DEVICES and params[0].is_floating_point():
            fused_adam_step(params, grads, exp_avgs, exp_avg_sqs, step, lr, beta1, beta2, eps,
                            decay, group["bias_correction"])
            return
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        step_size, root_correction = lr, 1.0
        if group["bias_correction"]:
            step_size = lr / (1 - beta1 ** step)
            root_correction = math.sqrt(1 - beta2 ** step)
        denominators = torch._foreach_sqrt(exp_avg_sqs)
        if root_correction != 1.0:
            torch._foreach_div_(denominators, root_correction)
        torch._foreach_add_(denominators, eps)
        if decay != 0:
            torch._foreach_mul_(params, 1 - lr * decay)
        torch._foreach_addcdiv_(params, exp_avgs, denominators, -step_size)


# Devices with torch's fused AdamW kernel: one pass over memory instead of the ~9 the foreach
# ops above make (bert_tiny on CPU, best of 15: 9 ms per update against 25 ms).
FUSED_DEVICES = ("cpu", "cuda")


def fused_adam_step(params, grads, exp_avgs, exp_avg_sqs, step, lr, beta1, beta2, eps, decay,
                    bias_correction):
    """BertAdam's update through torch's fused AdamW kernel, which always bias-corrects:
    p -= (lr/c1) * m / (sqrt(v)/s + eps) with c1 = 1-b1^t, s = sqrt(1-b2^t). Passing
    lr*c1/s, eps/s and decay*s/c1 instead gives p -= lr * m / (sqrt(v) + eps) exactly
    (up to rounding), with the decay term lr*decay*p unchanged."""
    if not bias_correction:
        c1 = 1 - beta1 ** step
        s = math.sqrt(1 - beta2 ** step)
        lr, eps, decay = lr * c1 / s, eps / s, decay * s / c1
    steps = [torch.full((), float(step), device=params[0].device)] * len(params)
    torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=lr, beta1=beta1,
                        beta2=beta2, weight_decay=decay, eps=eps, amsgrad=False, maximize=False)


def build_optimizer(model, learning_rate, betas=(0.9, 0.999), weight_decay=0.01, eps=1e-6,
                    bias_correction=False):
    return BertAdam(parameter_groups(model, weight_decay), lr=learning_rate, betas=betas,
                    eps=eps, bias_correction=bias_correction)


def optimizer_from_args(model, args):
    """The optimizer that pretrain.py's and the run_* scripts' options describe."""
    betas = (getattr(args, "beta1", 0.9), getattr(args, "beta2", 0.999))
    return build_optimizer(model, args.learning_rate, betas=betas,
                           bias_correction=bool(getattr(args, "adam_bias_correction", False)))


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
