"""Pre-training engine behind pretrain.py (SPEC §6).

``train(args, model=None, loader_factory=None)`` runs a whole pre-training job in any device mode
(CPU, one GPU, several spawned processes, one slice of a multi-machine job, or torchrun).
``model`` and ``loader_factory(args, rank, world_size) -> iterable of batches`` may be given from
Python (notebooks, tests); by default they come from ``uer.model.build_model`` and
``uer.data.loader.build_pretrain_loader``.

Departures from UER-py, on purpose: the LR schedule counts optimizer updates (so
--accumulation_steps works), DDP skips the gradient all-reduce on non-final micro-batches
(``no_sync``), the final model is also written to --output_model_path, mixed precision uses
torch.autocast, and --max_grad_norm (off by default, as in UER-py) clips gradients."""
import contextlib
import math
import os
import pickle
import re
from functools import partial

import torch

from uer.amp import build_precision
from uer.checkpoint import init_weights, load_model, save_model, unwrap
from uer.compile import LENGTH_BUCKET, compile_enabled, compile_model
from uer.distributed import (destroy_process_group, init_process_group, peer_failures,
                             plan_layout)
from uer.errors import UerError
from uer.logging_sinks import RunSinks
from uer.optim import build_scheduler, optimizer_from_args
from uer.outputs import save_or_rescue
from uer.padding_trim import can_trim, trim_padding
from uer.report import Reporter, total_loss
from uer.resume import resume_training, save_state, state_path, training_state
from uer.seed import set_seed
from uer.step import OptimizerStep
from uer.learning_watch import LearningWatch


# --- setup ------------------------------------------------------------------------------
def check_step_options(args):
    for name in ("total_steps", "report_steps", "save_checkpoint_steps", "accumulation_steps",
                 "batch_size"):
        value = getattr(args, name)
        if value < 1:
            raise UerError(f"--{name} {value}: must be at least 1")
    if not 0.0 <= args.warmup <= 1.0:
        raise UerError(f"--warmup {args.warmup}: must be a fraction between 0 and 1")


def count_parameters(model):
    seen, total = set(), 0
    for param in model.parameters():
        if id(param) not in seen:  # tied weights count once
            seen.add(id(param))
            total += param.numel()
    return total


def prepare_model(args):
    """Build the model, then load --pretrained_model_path into it or apply UER-py's init."""
    from uer.model import build_model

    model = build_model(args)
    if getattr(args, "pretrained_model_path", None):
        # Incremental pre-training: matching tensors are copied, the rest is reported; a shape
        # mismatch is an error naming the parameter (uer.checkpoint.load_model).
        load_model(model, args.pretrained_model_path)
    else:
        init_weights(model)
    return model


def check_dataset_for(args):
    """Refuse a dataset built for another target or vocabulary before building the model; the
    header also gives cls its number of labels."""
    from uer.data.loader import check_dataset

    from uer.targets import str2target

    header = check_dataset(args.dataset_path, args.target, getattr(args, "vocab", None))
    if getattr(args, "whole_word_masking", False):  # the loader's checks, before the model
        from uer.data.loader import PretrainLoader

        PretrainLoader(args.dataset_path, 1, vocab=getattr(args, "vocab", None),
                       span_masking=getattr(args, "span_masking", False), whole_word_masking=True)
    if getattr(args, "dev_dataset_path", None):  # before the model is built: fail early
        check_dataset(args.dev_dataset_path, args.target, getattr(args, "vocab", None))
    labels_from_dataset = getattr(str2target[args.target], "labels_from_dataset", False)
    if labels_from_dataset and not getattr(args, "labels_num", None):
        args.labels_num = header.get("labels_num") or labels_in(args.dataset_path)
    return header


def labels_in(dataset_path):
    """cls: the number of classes = largest label + 1 (labels are 0-based integers)."""
    from uer.data.storage import open_dataset

    labels = open_dataset(dataset_path).arrays.get("label")
    if labels is None or len(labels) == 0:
        raise UerError(f"{dataset_path}: a cls dataset must hold labels")
    return max(2, int(labels.max()) + 1)


def default_loader_factory(args, rank, world_size):
    from uer.data.loader import build_pretrain_loader

    return build_pretrain_loader(args, rank=rank, world_size=world_size)


# --- batches ----------------------------------------------------------------------------
def split_batch(target, batch):
    """Loader tuple -> (src, tgt, seg) as the model's forward takes them, laid out by the
    target's declared ``batch_fields``."""
    from uer.targets import str2target
    from uer.targets.common import split_batch as split_fields

    return split_fields(str2target[target].batch_fields, batch)


def to_device(value, device):
    if isinstance(value, tuple):
        return tuple(to_device(item, device) for item in value)
    return value.to(device, non_blocking=True)


# --- the step loop ----------------------------------------------------------------------
def run_worker(local_index, layout, model, args, loader_factory):
    """One process of the job: local process ``local_index`` has global rank
    ``layout.ranks[local_index]``."""
    rank = layout.ranks[local_index]
    world_size = layout.world_size
    # Each rank draws its own dropout masks; the data order comes from the loader's own seeds.
    set_seed(args.seed + rank)
    device = layout.device(local_index)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    model.to(device)

    if layout.distributed:
        print(f"Worker {rank} is training ... ", flush=True)
        init_process_group(layout, rank)
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        print("Worker is training ...", flush=True)
        ddp_model = model

    watch = (peer_failures(rank, layout.timeout_s) if layout.distributed
             else contextlib.nullcontext())
    try:
        loader = loader_factory(args, rank, world_size)
        with watch:  # a dead or stopped peer: one line per surviving rank, exit 1
            # torch.compile around DDP, so that it can split the graphs at the gradient buckets
            train_steps(compile_model(ddp_model, args), loader, args, device, world_size, rank,
                        layout.distributed)
            if layout.distributed:
                import torch.distributed as dist
                dist.barrier()  # nobody leaves while rank 0 still writes the model
    finally:
        if layout.distributed:
            destroy_process_group()


def train_steps(model, loader, args, device, world_size=1, rank=0, distributed=False):
    """The loop of SPEC §6.3: ``args.total_steps`` micro-batches, an optimizer update every
    ``args.accumulation_steps`` of them, a report line and checkpoints on rank 0; with
    ``args.resume`` it continues from the training state saved beside the model."""
    is_main = rank == 0
    module = unwrap(model)
    accumulation = args.accumulation_steps
    total_steps = args.total_steps
    updates = math.ceil(total_steps / accumulation)
    optimizer = optimizer_from_args(module, args)
    scheduler = build_scheduler(optimizer, updates, args.warmup)
    precision = build_precision(args, device)
    # Without no_sync DDP would all-reduce after every micro-batch (UER-py did).
    stepper = OptimizerStep(model, optimizer, scheduler, precision, accumulation,
                            getattr(args, "max_grad_norm", None), distributed)
    reporter = Reporter(args.target, total_steps, world_size)
    if is_main:
        print(f"Training {total_steps} steps ({updates} optimizer updates), batch size "
              f"{args.batch_size} per process x {world_size} process(es) x "
              f"{accumulation} accumulation step(s); precision: {precision.describe()}",
              flush=True)

    first_step = 1
    if getattr(args, "resume", False):
        first_step = resume_training(args, world_size, rank, module, stepper, loader) + 1
        if is_main:
            print(f"Resuming after step {first_step - 1}", flush=True)

    # Log file, TensorBoard and progress bar (rank 0 only): uer.logging_sinks.
    sinks = RunSinks(args, total_steps, first_step, progress=True) if is_main else None
    trim = can_trim(module, args.target)
    trim_multiple = LENGTH_BUCKET if compile_enabled(args) else 1
    watch = LearningWatch(args, is_main, trim, precision)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    batches = iter(loader)
    for step in range(first_step, total_steps + 1):
        batch = next(batches)
        watch.saw(batch)
        src, tgt, seg = to_device(split_batch(args.target, batch), device)
        # Counted before trimming: tokens/s is instances x seq_length per second, as UER-py's.
        batch_tokens, batch_instances = src.numel(), src.size(0)
        if trim:
            src, tgt, seg = trim_padding(src, tgt, seg, trim_multiple)
        update_now = step % accumulation == 0 or step == total_steps

        def compute_loss():
            outputs = model(src, tgt, seg)
            return total_loss(args.target, outputs), outputs

        _, outputs = stepper.micro_batch(compute_loss, update_now)
        reporter.add(outputs, batch_tokens, batch_instances)
        if sinks is not None:
            sinks.advance()

        if step % args.report_steps == 0:
            if is_main:
                line = reporter.line(step)
                sinks.pretrain_report(step, line, reporter.last_loss,
                                      optimizer.param_groups[0]["lr"])
                watch.reported(reporter.last_values, sinks)
                if not math.isfinite(reporter.last_loss):
                    raise UerError(f"the loss is not finite at step {step}; lower "
                                   "--learning_rate or drop --fp16")
            reporter.reset()
        if watch.dev_due(step):
            watch.evaluate(module, step, device, sinks)
        checkpoint = step % args.save_checkpoint_steps == 0
        if is_main and checkpoint:
            save_or_rescue(partial(save_model, module, args=args), f"{args.output_model_path}-{step}")
        if update_now and (checkpoint or step == total_steps):
            # Every rank takes part (its data position and generators are gathered).
            state = training_state(step, module, stepper, loader, distributed, args)
            if is_main:
                # The state holds the weights too: a failed write is rescued, not lost.
                save_or_rescue(lambda path: save_state(path, state),
                               state_path(args.output_model_path))
            del state

    if is_main:
        if watch.evaluator is not None and watch.last_dev_step != total_steps:
            watch.evaluate(module, total_steps, device, sinks)
        watch.summary(total_steps, sinks)
        args.learning_check = watch.record(total_steps)  # into the final model's sidecar
        sinks.close()
        save_or_rescue(partial(save_model, module, args=args), args.output_model_path,
                       last_checkpoint_note(args))
        print(f"Saved the model to {args.output_model_path}", flush=True)


def last_checkpoint_note(args):
    """What is left when the final model cannot be written: the last -<step> checkpoint."""
    step = (args.total_steps // args.save_checkpoint_steps) * args.save_checkpoint_steps
    path = f"{args.output_model_path}-{step}"
    return f"the last good checkpoint is {path}" if step and os.path.isfile(path) else None


# --- process launch ---------------------------------------------------------------------
_ERROR_LINE = re.compile(r"^uer\.errors\.UerError: (.*)$", re.MULTILINE)


class PrivateCopy:
    """Carries an object to spawned processes as plain pickle bytes. torch.multiprocessing
    would otherwise hand CPU tensors over in shared memory: every rank would then update the
    same weights (and a large model would have to fit in /dev/shm)."""

    def __init__(self, obj):
        self.payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def get(self):
        return pickle.loads(self.payload)  # bytes made by our own parent process


def _spawned_worker(local_index, layout, model_copy, args, loader_factory, threads, parent_pid):
    from uer.lifecycle import die_with_parent

    die_with_parent(parent_pid)  # a killed launcher must not leave ranks training
    torch.set_num_threads(threads)
    run_worker(local_index, layout, model_copy.get(), args, loader_factory)


def spawn_workers(layout, model, args, loader_factory):
    """One process per entry of --gpu_ranks; a UerError in a child is raised again here."""
    import torch.multiprocessing as mp

    nprocs = len(layout.ranks)
    threads = torch.get_num_threads() if layout.use_cuda else max(1, (os.cpu_count() or 1) // nprocs)
    try:
        mp.spawn(_spawned_worker,
                 args=(layout, PrivateCopy(model), args, loader_factory, threads, os.getpid()),
                 nprocs=nprocs, join=True)
    except mp.ProcessRaisedException as err:
        found = _ERROR_LINE.findall(str(err))
        if found:
            raise UerError(found[-1]) from None
        raise
    except mp.ProcessExitedException as err:
        raise UerError(f"a training process ended unexpectedly ({err})") from None


def train(args, model=None, loader_factory=None):
    """Run a pre-training job described by pretrain.py's options (see module docstring).

    Returns the trained model when it ran in this process (CPU, one GPU, one rank per node,
    torchrun), None when spawned processes trained it (load --output_model_path then)."""
    check_step_options(args)
    layout = plan_layout(args)  # refuses bad --world_size/--gpu_ranks before any connection
    if getattr(args, "vocab", None) is None:
        from uer.vocab import load_vocab
        args.vocab = load_vocab(args)
    # torchrun starts every process alike: let one per machine describe the job.
    say = print if layout.mode != "torchrun" or layout.local_rank == 0 else (lambda *a, **k: None)
    say(f"Vocabulary size:  {len(args.vocab)}", flush=True)
    if loader_factory is None:
        check_dataset_for(args)
        loader_factory = default_loader_factory

    set_seed(args.seed)
    if model is None:
        model = prepare_model(args)
    say(f"Model: embedding {getattr(args, 'embedding', '?')}, encoder "
          f"{getattr(args, 'encoder', '?')}, target {args.target}; "
          f"{count_parameters(model):,} parameters", flush=True)
    say(layout.describe(), flush=True)

    if layout.mode == "distributed" and len(layout.ranks) > 1:
        spawn_workers(layout, model, args, loader_factory)
        return None  # the trained copies lived in the child processes; read the saved file
    run_worker(0, layout, model, args, loader_factory)
    return model
