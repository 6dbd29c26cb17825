"""Training state for --resume, kept apart from the model file (which stays a plain UER state
dict): ``<output_model_path>.state`` holds the step, model, optimizer, scheduler, loss scaler,
and for every rank its data position and random generators. Written atomically by rank 0 at
each checkpoint that falls on an optimizer update, and at the end; read with weights_only=True."""
import os
import random

import numpy as np
import torch

from uer.errors import UerError

STATE_VERSION = 1


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


def save_state(path, step, module, optimizer, scheduler, scaler, rank_states, args):
    state = {
        "version": STATE_VERSION,
        "step": step,
        "target": args.target,
        "world_size": len(rank_states),
        "total_steps": args.total_steps,
        "accumulation_steps": args.accumulation_steps,
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "ranks": rank_states,
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
    for key, now in (("target", args.target), ("world_size", world_size),
                     ("total_steps", args.total_steps),
                     ("accumulation_steps", args.accumulation_steps)):
        if state[key] != now:
            raise UerError(f"--resume: {path} was saved with {key} {state[key]}, this run has {now}")
    return state
