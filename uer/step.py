"""One optimizer update, shared by pre-training (uer.trainer) and fine-tuning (uer.finetune.engine).

An update is ``accumulation_steps`` micro-batches: each runs forward under autocast and backward
on its loss / accumulation_steps (scaled by the GradScaler, a no-op unless fp16 on CUDA); under
DDP the gradient all-reduce is skipped on every micro-batch but the last of an update
(``no_sync``). Then: unscale and clip to --max_grad_norm (when > 0), optimizer step, scheduler
step (so the schedule counts updates), zero_grad."""
import contextlib

import torch


class OptimizerStep:
    """``micro_batch(compute_loss, update_now)`` for every micro-batch; the engine decides when
    an update falls (``update_now``: the last micro-batch of an accumulation group)."""

    def __init__(self, model, optimizer, scheduler, precision, accumulation_steps=1,
                 max_grad_norm=0.0, distributed=False):
        self.model = model  # the DDP wrapper under DDP (for no_sync), else the module
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.precision = precision
        self.scaler = precision.scaler
        self.accumulation_steps = accumulation_steps
        self.max_grad_norm = max_grad_norm or 0.0
        self.distributed = distributed

    def micro_batch(self, compute_loss, update_now):
        """Forward + backward of one micro-batch; ``compute_loss()`` returns (loss, extra), run
        under autocast. Returns (loss, extra); the loss is not divided."""
        skip_sync = self.distributed and not update_now
        with self.model.no_sync() if skip_sync else contextlib.nullcontext():
            with self.precision.autocast():
                loss, extra = compute_loss()
            self.scaler.scale(loss / self.accumulation_steps).backward()
        if update_now:
            self.update()
        return loss, extra

    def update(self):
        if self.max_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    # --- resume ------------------------------------------------------------------------
    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])  # empty when saved without scaling
