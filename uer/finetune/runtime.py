"""Device, processes and mixed precision for fine-tuning and inference.

--fp16 runs the forward pass under torch.autocast (uer.amp): float16 with a GradScaler on CUDA,
bfloat16 on CPUs with native bf16 (fp32 elsewhere, with a notice). --fp16_opt_level O0 keeps fp32.

Processes: the run_* scripts take pretrain.py's device options (uer.opts.device_opts, checked by
uer.distributed.plan_layout). One process uses the first GPU when one is visible (as UER-py),
else the CPU; under torchrun, or with --world_size N and this process's rank in --gpu_ranks,
every process holds a DistributedDataParallel copy and trains on its share of each batch."""
import argparse

import torch

from uer.amp import build_precision
from uer.compile import compile_model
from uer.distributed import destroy_process_group, init_process_group, plan_layout
from uer.errors import UerError

# For an ``args`` without the device options (inference scripts, the Python API).
SINGLE_PROCESS = dict(world_size=1, gpu_ranks=[], master_ip="tcp://localhost:12345",
                      backend="nccl", dist_timeout=None)


def fine_tuning_layout(args):
    if not hasattr(args, "world_size"):
        return plan_layout(argparse.Namespace(**SINGLE_PROCESS))
    layout = plan_layout(args)
    if layout.mode == "distributed" and len(layout.ranks) > 1:
        raise UerError(f"--gpu_ranks {' '.join(map(str, layout.ranks))}: fine-tuning runs one "
                       "process per invocation; start one per rank (--gpu_ranks R) or use "
                       f"torchrun --nproc_per_node {len(layout.ranks)}")
    return layout


class Runtime:
    """Where and how the model runs: ``device``, ``precision``, and under DDP ``rank`` and
    ``world_size`` (1 and 0 otherwise)."""

    def __init__(self, args, device=None):
        self.layout = getattr(args, "process_layout", None) or fine_tuning_layout(args)
        self.distributed = self.layout.distributed
        self.rank = self.layout.ranks[0] if self.distributed else 0
        self.world_size = self.layout.world_size if self.distributed else 1
        if device is None:
            device = self.layout.device(0)
            if self.layout.mode == "cpu" and torch.cuda.is_available():
                device = torch.device("cuda")  # UER-py's fine-tuning used the GPU when present
        self.device = torch.device(device)
        self.precision = build_precision(args, self.device)
        self.args = args  # --compile

    @property
    def is_main(self):
        return self.rank == 0

    def autocast(self):
        return self.precision.autocast()

    def to_device(self, batch):
        return {key: value.to(self.device, non_blocking=True) if torch.is_tensor(value) else value
                for key, value in batch.items()}

    def wrap(self, model):
        """Move to the device; under DDP join the process group and wrap the model (rank 0's
        weights are broadcast to the others)."""
        model = model.to(self.device)
        if not self.distributed:
            return compile_model(model, self.args)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        init_process_group(self.layout, self.rank)
        print(f"Worker {self.rank} of {self.world_size} is fine-tuning on {self.device}",
              flush=True)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return compile_model(torch.nn.parallel.DistributedDataParallel(model, device_ids=ids),
                             self.args)

    # --- collectives (no-ops in one process) ---------------------------------------------
    def mean_over_ranks(self, value):
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(value)
            value = value / self.world_size
        return value

    def from_main(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self):
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self):
        if self.distributed:
            destroy_process_group()
