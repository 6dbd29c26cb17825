"""Process layout for pre-training: CPU, one GPU, several processes per machine, several machines,
or a torchrun launch. Everything the user typed is checked here, before any connection is tried,
so a wrong --world_size/--gpu_ranks never ends in a silent rendezvous hang (UER-py bug 28)."""
import contextlib
import datetime
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field

import torch

from uer.errors import PeerLost, UerError

# A person at a terminal should not wait half an hour for a typo; clusters set --dist_timeout.
DEFAULT_TIMEOUT_S = 300.0
WAIT_FIRST_NOTICE_S = 3.0     # a join that takes longer than this is announced ...
WAIT_REPEAT_S = 30.0          # ... and the notice repeated this often
WAIT_MARGIN_S = 3.0           # past the timeout, the watchdog ends a join torch did not end
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Layout:
    """Where the processes of one pre-training run live.

    mode: "cpu", "gpu" (one process on one GPU), "distributed" (UER flags) or "torchrun".
    ranks: global ranks of the processes this invocation runs; local process j gets ranks[j].
    """
    mode: str
    world_size: int = 1
    ranks: list = field(default_factory=lambda: [0])
    gpu_id: int = None          # single-GPU mode: the GPU index the user named
    use_cuda: bool = False
    backend: str = None
    init_method: str = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    local_rank: int = None      # torchrun: this process's LOCAL_RANK

    @property
    def distributed(self):
        return self.mode in ("distributed", "torchrun")

    def device(self, local_index):
        """Device of local process ``local_index`` (its position in --gpu_ranks)."""
        if not self.use_cuda:
            return torch.device("cpu")
        if self.mode == "gpu":
            return torch.device("cuda", self.gpu_id)
        if self.mode == "torchrun":
            return torch.device("cuda", self.local_rank)
        return torch.device("cuda", local_index)

    def describe(self):
        where = "CUDA" if self.use_cuda else "CPU"
        if self.mode == "cpu":
            return "Using CPU mode for training."
        if self.mode == "gpu":
            return f"Using GPU {self.gpu_id} for training."
        return (f"Using distributed mode for training. World size: {self.world_size}, "
                f"ranks on this node: {self.ranks}, backend: {self.backend} on {where}, "
                f"init: {self.init_method}")


def rendezvous_timeout(args):
    """Seconds to wait for peers (rendezvous and every collective): --dist_timeout, then the
    UER_DIST_TIMEOUT environment variable, then 5 minutes."""
    value = getattr(args, "dist_timeout", None)
    if value is None:
        raw = os.environ.get("UER_DIST_TIMEOUT")
        if raw is None:
            return DEFAULT_TIMEOUT_S
        try:
            value = float(raw)
        except ValueError:
            raise UerError(f"UER_DIST_TIMEOUT={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise UerError(f"--dist_timeout {value}: must be positive (seconds)")
    return float(value)


def launched_by_torchrun():
    return all(name in os.environ for name in TORCHRUN_VARS)


def _pick_backend(requested, use_cuda):
    if not use_cuda and requested == "nccl":
        print("Notice: CUDA is not available, so the gloo backend is used on CPU instead of nccl.",
              flush=True)
        return "gloo"
    return requested


def plan_layout(args):
    """Check --world_size/--gpu_ranks/--master_ip/--backend and return the Layout to run."""
    timeout_s = rendezvous_timeout(args)
    cuda = torch.cuda.is_available()
    backend = getattr(args, "backend", "nccl")

    if launched_by_torchrun():
        world_size = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ["LOCAL_RANK"])
        if cuda and local_rank >= torch.cuda.device_count():
            raise UerError(f"LOCAL_RANK={local_rank}: only {torch.cuda.device_count()} GPUs visible")
        if world_size == 1:
            # torchrun --nproc_per_node 1: no process group needed.
            if cuda:
                return Layout("gpu", gpu_id=local_rank, use_cuda=True, timeout_s=timeout_s)
            return Layout("cpu", timeout_s=timeout_s)
        return Layout("torchrun", world_size=world_size, ranks=[rank], use_cuda=cuda,
                      backend=_pick_backend(backend, cuda), init_method="env://",
                      timeout_s=timeout_s, local_rank=local_rank)

    world_size = args.world_size
    gpu_ranks = list(args.gpu_ranks or [])
    if world_size < 1:
        raise UerError(f"--world_size {world_size}: must be at least 1")
    if len(set(gpu_ranks)) != len(gpu_ranks):
        raise UerError(f"--gpu_ranks {' '.join(map(str, gpu_ranks))}: ranks must be unique")
    for rank in gpu_ranks:
        if rank < 0:
            raise UerError(f"--gpu_ranks: rank {rank} is negative")

    if world_size == 1:
        if not gpu_ranks:
            return Layout("cpu", timeout_s=timeout_s)
        if len(gpu_ranks) > 1:
            raise UerError(f"--gpu_ranks has {len(gpu_ranks)} entries but --world_size is 1; "
                           f"give --world_size {len(gpu_ranks)} for several processes")
        gpu_id = gpu_ranks[0]
        if not cuda:
            raise UerError(f"--gpu_ranks {gpu_id} asks for GPU {gpu_id} but CUDA is not available; "
                           f"omit --gpu_ranks to train on CPU")
        if gpu_id >= torch.cuda.device_count():
            raise UerError(f"--gpu_ranks {gpu_id}: only {torch.cuda.device_count()} GPUs visible")
        return Layout("gpu", gpu_id=gpu_id, use_cuda=True, timeout_s=timeout_s)

    if not gpu_ranks:
        raise UerError(f"--world_size {world_size} needs --gpu_ranks: the global ranks of the "
                       f"processes to start on this machine (e.g. --gpu_ranks 0 1)")
    if len(gpu_ranks) > world_size:
        raise UerError(f"--gpu_ranks has {len(gpu_ranks)} entries but --world_size is {world_size}")
    too_big = [rank for rank in gpu_ranks if rank >= world_size]
    if too_big:
        raise UerError(f"--gpu_ranks {too_big[0]}: a global rank must be below --world_size {world_size}")
    if cuda and len(gpu_ranks) > torch.cuda.device_count():
        raise UerError(f"--gpu_ranks starts {len(gpu_ranks)} processes on this machine but only "
                       f"{torch.cuda.device_count()} GPUs are visible")
    master_ip = args.master_ip
    if not (master_ip.startswith("tcp://") or master_ip.startswith("file://")
            or master_ip == "env://"):
        raise UerError(f"--master_ip {master_ip}: expected tcp://host:port")
    return Layout("distributed", world_size=world_size, ranks=gpu_ranks, use_cuda=cuda,
                  backend=_pick_backend(backend, cuda), init_method=master_ip, timeout_s=timeout_s)


def _waiting_notice(layout, rank, deadline):
    others = layout.world_size - 1
    until = time.strftime("%H:%M:%S", time.localtime(deadline))
    return (f"rank {rank}: waiting for the other {others} process(es) of --world_size "
            f"{layout.world_size} at {layout.init_method}, until {until} "
            f"(--dist_timeout {layout.timeout_s:g} s)")


def _watch_join(layout, rank, joined, deadline, say):
    """Say that this rank waits, repeat it, and end the process if torch never returns."""
    delay = WAIT_FIRST_NOTICE_S
    while not joined.wait(delay):
        if time.time() >= deadline + WAIT_MARGIN_S:
            say(f"error: rank {rank}: the other processes did not join at {layout.init_method} "
                f"within {layout.timeout_s:g} s (--dist_timeout)")
            os._exit(1)
        say(_waiting_notice(layout, rank, deadline))
        delay = min(WAIT_REPEAT_S, max(0.1, deadline + WAIT_MARGIN_S - time.time()))


@contextlib.contextmanager
def _native_stderr_silenced():
    """While joining, torch's C++ side logs every failed connection attempt with stack frames
    to file descriptor 2; they go to /dev/null. Yields a function that still reaches the
    terminal."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield lambda line: print(line, file=sys.stderr, flush=True)
        return
    os.dup2(null, 2)
    os.close(null)

    def say(line):
        with contextlib.suppress(OSError):  # the join may have ended meanwhile
            os.write(saved, (line + "\n").encode("utf-8", "replace"))

    try:
        yield say
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def init_process_group(layout, rank):
    """Join the process group; a peer that never arrives ends in a UerError after the timeout.
    While it waits, the rank says so on stderr (how many, where, until when) every 30 s."""
    import torch.distributed as dist

    timeout = datetime.timedelta(seconds=layout.timeout_s)
    joined = threading.Event()
    deadline = time.time() + layout.timeout_s
    try:
        with _native_stderr_silenced() as say:
            threading.Thread(target=_watch_join, args=(layout, rank, joined, deadline, say),
                             daemon=True).start()
            try:
                dist.init_process_group(layout.backend, init_method=layout.init_method,
                                        world_size=layout.world_size, rank=rank,
                                        timeout=timeout)
            finally:
                joined.set()
    except (dist.DistError, RuntimeError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UerError(f"rank {rank}: could not join {layout.world_size} processes at "
                       f"{layout.init_method} within {layout.timeout_s:g} s ({first_line}); check "
                       f"that every node was started with the same --world_size and --master_ip "
                       f"and that together their --gpu_ranks cover 0..{layout.world_size - 1}") from None


_PEER_FAILURE = re.compile(r"gloo|nccl|connection|timed out|timeout|peer|socket|broken pipe|"
                           r"reset by|closed", re.IGNORECASE)


@contextlib.contextmanager
def peer_failures(rank, timeout_s=None):
    """Inside a distributed run: a collective that fails because a peer died or stopped ends
    in one UerError line for this rank instead of nested tracebacks."""
    import torch.distributed as dist

    try:
        yield
    except UerError:
        raise
    except (dist.DistError, RuntimeError) as err:
        text = str(err).strip()
        if not isinstance(err, dist.DistError) and not _PEER_FAILURE.search(text):
            raise
        first_line = text.splitlines()[0] if text else type(err).__name__
        first_line = re.sub(r"^\[[^\]]*\]\s*", "", first_line)[:160]  # no C++ source location
        limit = f", --dist_timeout {timeout_s:g} s" if timeout_s else ""
        raise PeerLost(f"rank {rank}: lost contact with the other processes (a peer died or "
                       f"was stopped{limit}): {first_line}") from None


def destroy_process_group():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except (dist.DistError, RuntimeError):
            pass  # a peer is already gone; this process is ending anyway
