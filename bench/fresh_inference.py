"""Inference examples/s of one NER/CMRC/C3 contender in a process of its own, as
inference/run_*_infer.py runs: nothing before it has grown the heap.

bench/finetune_bench.py times inference in lockstep after the training steps, in the process
that trained both models: by then the C library's heap holds the training peak, so a model's
fresh buffers cost no page faults. A prediction run starts cold instead, and a model that
allocates more pays for each new mapping there. This child measures that case: the same batches
and weights (same seeds) as the lockstep rows, one warm-up batch, then ``--passes`` passes.

    python3 bench/fresh_inference.py --task cmrc --contender 0   # 0 = ours, 1 = HuggingFace
"""
import argparse
import os
import resource
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def child_rate(task, contender, passes, task_infer_examples, threads):
    """(examples/s, minor page faults) of one contender, measured in a new process."""
    command = [sys.executable, os.path.abspath(__file__), "--task", task, "--contender",
               str(contender), "--passes", str(passes), "--task_infer_examples",
               str(task_infer_examples), "--threads", str(threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate, faults = out.strip().splitlines()[-1].split()
    return float(rate), int(faults)


def fresh_rates(task, args, rounds=2):
    """Best examples/s of (ours, HF) over ``rounds`` alternating child processes, and the page
    faults of the best run of each."""
    best = [(0.0, 0), (0.0, 0)]
    for _ in range(rounds):
        for contender in (0, 1):
            measured = child_rate(task, contender, 2, args.task_infer_examples, args.threads)
            if measured[0] > best[contender][0]:
                best[contender] = measured
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True, choices=["ner", "cmrc", "c3"])
    parser.add_argument("--contender", type=int, required=True, choices=[0, 1])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--task_infer_examples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0)
    child = parser.parse_args()
    sys.argv = [sys.argv[0], "--tasks", child.task, "--task_infer_examples",
                str(child.task_infer_examples)]
    sys.path.insert(0, BENCH)
    import torch

    import finetune_bench
    from finetune_tasks import CASES
    from uer.checkpoint import init_weights
    from uer.config import load_config
    from uer.model import model_args
    from uer.vocab import Vocab

    if child.threads:
        torch.set_num_threads(child.threads)
    args = finetune_bench.parse_args()
    args.train_batches, args.infer_examples = 0, child.task_infer_examples
    torch.manual_seed(7)  # the lockstep rows' seeds: same batches, same weights
    config = load_config(args.config_path)
    vocab = Vocab.from_file(args.vocab_path)
    margs = model_args(config, vocab, vocab_path=args.vocab_path, spm_model_path=None)
    torch.manual_seed(7)
    case = CASES[child.task](args, margs, config, vocab, finetune_bench.SHARED)
    init_weights(case.ours.model)
    contender = (case.ours, case.hf)[child.contender]
    contender.model.eval()
    with torch.inference_mode():
        contender.predict(case.infer_batches[0])
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in range(child.passes):
            for batch in case.infer_batches:
                contender.predict(batch)
        seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    count = child.passes * sum(batch["src"].size(0) for batch in case.infer_batches)
    print(f"{count / seconds:.2f} {faults}")


if __name__ == "__main__":
    main()
