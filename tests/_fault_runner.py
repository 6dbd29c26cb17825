"""Run a script with a fault point, for tests/test_faults.py.

    python3 tests/_fault_runner.py POINT MARKER SCRIPT [ARGS...]

When the process (or one of its forked workers) reaches POINT it writes its PID to MARKER and
waits there, so the test can send a signal at exactly that moment. Points:
  backward:N    the N-th loss.backward() (a training step)
  save:TEXT[:N] the (N-th) torch.save whose path contains TEXT, after half a file is written
  feed:N        preprocess --target bert: the N-th corpus line fed to the builder (parsing)
  flush:N       preprocess: the N-th block of instances written to the part files (building)
  merge         preprocess: the dataset file is written but not yet renamed into place
"""
import os
import runpy
import sys
import time

import torch


def pause(marker):
    with open(f"{marker}.part", "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(f"{marker}.part", marker)
    while True:
        time.sleep(0.02)  # the signal arrives here


def counting(original, count, marker):
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == count:
            pause(marker)
        return original(*args, **kwargs)

    return wrapper


def install(point, marker):
    name, _, value = point.partition(":")
    if name == "backward":
        torch.Tensor.backward = counting(torch.Tensor.backward, int(value), marker)
    elif name == "save":
        original = torch.save
        text, _, nth = value.partition(":")
        seen = [0]

        def save(obj, path, *args, **kwargs):
            if text in str(path):
                seen[0] += 1
            if text in str(path) and seen[0] == int(nth or 1):
                original(obj, path, *args, **kwargs)
                size = os.path.getsize(path)
                with open(path, "r+b") as handle:
                    handle.truncate(size // 2)  # a half-written file, as a kill mid-write leaves
                pause(marker)
            return original(obj, path, *args, **kwargs)

        torch.save = save
    elif name == "feed":
        from uer.data.builders import str2builder

        builder = str2builder["bert"]  # the target the fault tests build
        builder.feed = counting(builder.feed, int(value), marker)
    elif name == "flush":
        from uer.data.part_writer import PartWriter

        PartWriter.flush = counting(PartWriter.flush, int(value), marker)
    elif name == "merge":
        from uer.data import part_writer

        original = part_writer.write_dataset

        def write_dataset(*args, **kwargs):
            result = original(*args, **kwargs)
            pause(marker)
            return result

        part_writer.write_dataset = write_dataset
    else:
        raise SystemExit(f"unknown fault point {point}")


def main():
    point, marker, script, *args = sys.argv[1:]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo)
    install(point, marker)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
