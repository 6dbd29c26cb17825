"""Training state for --resume, kept apart from the model file (which stays a plain UER state
dict): ``<output_model_path>.state`` holds the step, model, optimizer, scheduler, loss scaler,
the run's options, and for every rank its data position and random generators. Written
atomically by rank 0 at each checkpoint that falls on an optimizer update, and at the end; read
with weights_only=True and restored in one place (``resume_training``)."""
import os
import random

import numpy as np
import torch

from uer.atomic import atomic_path
from uer.errors import UerError

STATE_VERSION = 2  # 2: BertAdam optimizer state, the run's options


def state_path(output_model_path):
    return f"{output_model_path}.state"


def capture_rank_state(loader):
    """This rank's data position and generators (plain types and tensors only)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state(legacy=True)
    state = {
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(position),
                  int(has_gauss), float(cached_gauss)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rank_state(state, loader):
    if state.get("loader") is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state["loader"])
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def gather_rank_states(loader, distributed):
    """Every rank's state, in rank order (a collective call under DDP: all ranks take part)."""
    mine = capture_rank_state(loader)
    if not distributed:
        return [mine]
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    return gathered


# Options that may differ on --resume: they do not change what is trained (when lines are
# printed or checkpoints written, where peers meet, the weights the state replaces anyway).
# Every other option (learning rate, batch size, steps, schedule, model, data, seed, ...) must
# be the one the state was saved with.
CHANGEABLE_ON_RESUME = ("resume", "report_steps", "save_checkpoint_steps", "gpu_ranks",
                        "master_ip", "backend", "dist_timeout", "pretrained_model_path",
                        "world_size",  # checked as the real process count (torchrun sets it)
                        "log_path", "tensorboard_dir",
                        # what is watched, not what is trained
                        "dev_dataset_path", "dev_steps", "dev_instances",
                        "compile", "compile_backend")  # speed only: same numbers as eager
NOTICE_ON_RESUME = ("report_steps", "save_checkpoint_steps")


def run_options(args):
    """The options of this run that the state records (plain values only: the Python API may
    put objects such as a Vocab on ``args``)."""
    plain = (bool, int, float, str, type(None))
    options = {}
    for name, value in sorted(vars(args).items()):
        if isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value):
            value = list(value)
        elif not isinstance(value, plain):
            continue
        options[name] = value
    return options


def training_state(step, module, stepper, loader, distributed, args):
    """Everything --resume restores, as one dict: a collective call under DDP (every rank's
    data position and generators are gathered), to be saved by rank 0 (``save_state``)."""
    ranks = gather_rank_states(loader, distributed)
    return {
        "version": STATE_VERSION,
        "step": step,
        "world_size": len(ranks),
        "options": run_options(args),
        "model": module.state_dict(),
        **stepper.state_dict(),  # optimizer, scheduler, scaler
        "ranks": ranks,
    }


def save_state(path, state):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume_training(args, world_size, rank, module, stepper, loader):
    """Restore the state saved beside --output_model_path into the model, the optimizer step
    (optimizer, scheduler, scaler), the loader and this rank's generators; return the step it
    was saved after."""
    state = load_state(state_path(args.output_model_path), args, world_size)
    module.load_state_dict(state["model"])
    stepper.load_state_dict(state)
    restore_rank_state(state["ranks"][rank], loader)
    return state["step"]


def load_state(path, args, world_size):
    """The saved state, after checking it belongs to a run like this one."""
    if not os.path.isfile(path):
        raise UerError(f"--resume: {path} not found (it is written at each checkpoint of a run "
                       "with the same --output_model_path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file is the user's input problem here
        raise UerError(f"{path}: not a readable training state ({str(err).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise UerError(f"{path}: not a training state file of this version")
    if state["world_size"] != world_size:
        raise UerError(f"--resume: {path} was saved by {state['world_size']} process(es), this "
                       f"run has {world_size}")
    check_options(path, state["options"], run_options(args))
    return state


def check_options(path, saved, now):
    for name in sorted(set(saved) | set(now)):
        before, after = saved.get(name), now.get(name)
        if before == after:
            continue
        if name in NOTICE_ON_RESUME:
            print(f"Notice: --resume with --{name} {after} (the run was saved with {before})",
                  flush=True)
        elif name not in CHANGEABLE_ON_RESUME:
            raise UerError(f"--resume: {path} was saved with --{name} {before}, this run has "
                           f"{after}; resume with the same options or start a new run")
