"""Benchmark preprocess.py: wall time, instances/s, peak RSS of all its processes, file size.

Builds the shared CLUECorpusSmall samples repeated 10 times (about 20 MB each; written to a
temporary folder) with google_zh_vocab.txt:
  1. --target bert --seq_length 128 (dup_factor 5), --processes_num 1
  2. the same with --processes_num 2
  3. --target mlm --dynamic_masking, --processes_num 1

Usage: python3 bench/preprocess_bench.py [--repeat 10] [--shared ../shared/data]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from uer.data.storage import read_header  # noqa: E402


def _children(pid):
    """All descendants of ``pid`` (scanning /proc; no psutil)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(command):
    """(wall seconds, CPU seconds, peak summed RSS in bytes) of a command and its children."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.time()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        pids = [process.pid, *_children(process.pid)]
        peak = max(peak, sum(_rss_bytes(pid) for pid in pids))
        time.sleep(0.05)
    wall = time.time() - began
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()[-2000:]}")
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu, peak


def repeated(source, times, folder, separator=b""):
    path = os.path.join(folder, f"x{times}_" + os.path.basename(source))
    with open(source, "rb") as handle:
        data = handle.read()
    if not data.endswith(b"\n"):
        data += b"\n"
    with open(path, "wb") as out:
        for _ in range(times):
            out.write(data)
            out.write(separator)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    options = parser.parse_args()
    vocab = os.path.join(options.shared, "vocab", "google_zh_vocab.txt")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        bert_corpus = repeated(os.path.join(options.shared, "corpora",
                                            "CLUECorpusSmall_bert_sampled.txt"),
                               options.repeat, folder, separator=b"\n")  # blank: new document
        mlm_corpus = repeated(os.path.join(options.shared, "corpora",
                                           "CLUECorpusSmall_sampled.txt"),
                              options.repeat, folder)
        cases = [
            ("bert, 1 process", bert_corpus, ["--target", "bert", "--processes_num", "1"]),
            ("bert, 2 processes", bert_corpus, ["--target", "bert", "--processes_num", "2"]),
            ("mlm --dynamic_masking, 1 process", mlm_corpus,
             ["--target", "mlm", "--dynamic_masking", "--processes_num", "1"]),
        ]
        for name, corpus, extra in cases:
            output = os.path.join(folder, "dataset.pt")
            command = [sys.executable, "preprocess.py", "--corpus_path", corpus, "--vocab_path",
                       vocab, "--dataset_path", output, "--seq_length", "128", *extra]
            wall, cpu, peak = run(command)
            instances = read_header(output)["counts"]["instances"]
            rows.append((name, os.path.getsize(corpus), wall, cpu, instances, instances / wall,
                         peak, os.path.getsize(output)))
            os.remove(output)
    print("| case | corpus MB | wall s | CPU s | instances | instances/s | peak RSS MB "
          "| dataset MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, corpus_bytes, wall, cpu, instances, rate, peak, size in rows:
        print(f"| {name} | {corpus_bytes / 1e6:.1f} | {wall:.1f} | {cpu:.1f} | {instances:,} | "
              f"{rate:,.0f} | {peak / 1e6:.0f} | {size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
