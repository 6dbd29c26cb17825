"""Runs killed on purpose (SIGKILL, SIGTERM) at chosen points of preprocess, pretrain and
run_classifier (tests/_fault_runner.py stops the process exactly there), and distributed runs
that lose a peer or their launcher.

After each kill: nothing is at an output path unless it is complete and loadable; SIGTERM exits
143 with one line and leaves no temporary file; the next run on the same output removes what
a SIGKILL left; pretrain --resume ends with the same weights as an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pretrain_helpers import free_port, write_config
from tests.conftest import REPO

PY = sys.executable
RUNNER = str(REPO / "tests" / "_fault_runner.py")
VOCAB = str(REPO / "models" / "sample_vocab.txt")
CORPUS = str(REPO / "corpora" / "sample_bert.txt")
TRAIN = str(REPO / "datasets" / "sample_sentiment" / "train.tsv")
DEV = str(REPO / "datasets" / "sample_sentiment" / "dev.tsv")
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def start(argv, log_dir, name):
    out = open(os.path.join(log_dir, f"{name}.out"), "w")
    err = open(os.path.join(log_dir, f"{name}.err"), "w")
    process = subprocess.Popen([PY, *argv], cwd=REPO, env=ENV, stdout=out, stderr=err)
    process.logs = (out.name, err.name)
    return process


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead already
        return handle.read().split(")")[-1].split()[0] != "Z"


def run_to_fault(point, script_argv, folder, sig):
    """Start the script with a fault point, wait for it, send ``sig``; returns the exit code,
    the stderr text and the PID that reached the point."""
    marker = os.path.join(folder, "logs", f"marker-{point.replace(':', '-')}-{int(sig)}")
    process = start([RUNNER, point, marker, *script_argv], os.path.join(folder, "logs"), "fault")
    try:
        wait_for(lambda: os.path.exists(marker) or process.poll() is not None, 120,
                 f"fault point {point}")
        assert process.poll() is None, read(process.logs[1])
        paused = int(read(marker))
        process.send_signal(sig)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_for(lambda: not alive(paused), 10, "the paused process to end with its parent")
    return code, read(process.logs[1]), paused


def check_terminated(code, err):
    assert code == 143, err
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith(("preprocess:", "Epoch"))]
    assert lines == ["error: terminated by SIGTERM; temporary files were removed"], err


def listing(folder):
    return sorted(name for name in os.listdir(folder) if name != "logs")


def faults(*pairs):
    return [pytest.param(point, sig, id=f"{point}-{sig.name}") for point, sig in pairs]


def fresh(tmp_path, name):
    folder = tmp_path / name
    (folder / "logs").mkdir(parents=True)
    return str(folder)


# --- preprocess ----------------------------------------------------------------------------
def preprocess_argv(folder):
    return [str(REPO / "preprocess.py"), "--corpus_path", CORPUS, "--vocab_path", VOCAB,
            "--dataset_path", os.path.join(folder, "d.pt"), "--seq_length", "32",
            "--processes_num", "2", "--dup_factor", "2"]


@pytest.mark.parametrize("point, sig", faults(("feed:50", signal.SIGKILL),
                                               ("flush:1", signal.SIGTERM),
                                               ("merge", signal.SIGKILL),
                                               ("merge", signal.SIGTERM)))
def test_preprocess_killed(tmp_path, point, sig):
    from uer.data.storage import open_dataset

    folder = fresh(tmp_path, "pre")
    argv = preprocess_argv(folder)
    code, err, _ = run_to_fault(point, argv, folder, sig)
    assert "d.pt" not in listing(folder)  # never a partial dataset at the output path
    if sig == signal.SIGTERM:
        check_terminated(code, err)
        assert listing(folder) == []
    else:
        assert code == -signal.SIGKILL
        assert listing(folder), "a SIGKILL leaves debris for the next run to remove"
    done = subprocess.run([PY, *argv], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert listing(folder) == ["d.pt"]
    assert open_dataset(os.path.join(folder, "d.pt")).arrays["src"].shape[0] > 0


# --- pretrain ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pretrain_setup(tmp_path_factory):
    """A dataset, a tiny config and the final weights of an uninterrupted 12-step run."""
    base = tmp_path_factory.mktemp("pretrain-faults")
    dataset = str(base / "d.pt")
    subprocess.run([PY, "preprocess.py", "--corpus_path", CORPUS, "--vocab_path", VOCAB,
                    "--dataset_path", dataset, "--seq_length", "32", "--dup_factor", "1"],
                   cwd=REPO, env=ENV, check=True, capture_output=True)
    config = write_config(str(base))
    reference = str(base / "ref" / "m.bin")
    os.makedirs(os.path.dirname(reference))
    subprocess.run([PY, *pretrain_argv(dataset, config, reference)], cwd=REPO, env=ENV,
                   check=True, capture_output=True)
    return dataset, config, torch.load(reference, weights_only=True)


def pretrain_argv(dataset, config, output, *extra):
    return [str(REPO / "pretrain.py"), "--dataset_path", dataset, "--vocab_path", VOCAB,
            "--config_path", config, "--output_model_path", output, "--total_steps", "12",
            "--save_checkpoint_steps", "4", "--report_steps", "4", "--batch_size", "4",
            "--learning_rate", "1e-3", *extra]


@pytest.mark.parametrize("point, sig", faults(("backward:6", signal.SIGKILL),
                                               ("backward:6", signal.SIGTERM),
                                               ("save:m.bin-8.tmp", signal.SIGKILL),
                                               ("save:m.bin.state.tmp:2", signal.SIGKILL)))
def test_pretrain_killed_then_resumed(tmp_path, pretrain_setup, point, sig):
    dataset, config, reference = pretrain_setup
    folder = fresh(tmp_path, "pt")
    output = os.path.join(folder, "m.bin")
    code, err, _ = run_to_fault(point, pretrain_argv(dataset, config, output), folder, sig)
    names = listing(folder)
    assert "m.bin" not in names  # the final model only appears at the end
    if sig == signal.SIGTERM:
        check_terminated(code, err)
    if point.startswith("save:m.bin-8"):
        assert "m.bin-8" not in names  # killed while writing it: not at its path
    for name in names:
        if name.endswith(".json"):  # a sidecar (uer/sidecar.py) is written after its model
            assert name[:-len(".json")] in names, names
            json.loads(open(os.path.join(folder, name), encoding="utf-8").read())
        elif not name.startswith("."):  # every visible file is complete and loadable
            torch.load(os.path.join(folder, name), weights_only=True)
    if sig == signal.SIGKILL and point.startswith("save:"):
        assert any(name.startswith(".") for name in names)  # the half-written temporary file
    resumed = subprocess.run([PY, *pretrain_argv(dataset, config, output, "--resume")],
                             cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming after step 4" in resumed.stdout
    assert not [name for name in listing(folder) if name.startswith(".")]  # debris removed
    final = torch.load(output, weights_only=True)
    assert final.keys() == reference.keys()
    for key in final:
        assert torch.equal(final[key], reference[key]), key


# --- run_classifier ------------------------------------------------------------------------
def classifier_argv(folder, config):
    train = os.path.join(folder, "logs", "train.tsv")  # 96 rows: 3 batches per epoch
    with open(TRAIN, encoding="utf-8") as source, open(train, "w", encoding="utf-8") as out:
        out.writelines(source.readlines()[:97])
    return [str(REPO / "run_classifier.py"), "--train_path", train, "--dev_path", DEV,
            "--vocab_path", VOCAB, "--config_path", config, "--output_model_path",
            os.path.join(folder, "c.bin"), "--epochs_num", "2", "--batch_size", "32",
            "--seq_length", "32", "--report_steps", "100"]


@pytest.mark.parametrize("point, sig", faults(("backward:5", signal.SIGKILL),
                                               ("save:c.bin.tmp", signal.SIGKILL),
                                               ("save:c.bin.tmp", signal.SIGTERM)))
def test_classifier_killed(tmp_path, point, sig):
    folder = fresh(tmp_path, "cl")
    config = write_config(os.path.join(folder, "logs"))
    argv = classifier_argv(folder, config)
    code, err, _ = run_to_fault(point, argv, folder, sig)
    names = listing(folder)
    if point.startswith("backward"):
        # Killed in epoch 2: the model of epoch 1 is at the path, complete.
        assert "c.bin" in names
        torch.load(os.path.join(folder, "c.bin"), weights_only=True)
    else:
        assert "c.bin" not in names  # killed during its first save
    if sig == signal.SIGTERM:
        check_terminated(code, err)
        assert names == []
    done = subprocess.run([PY, *argv], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert listing(folder) == ["c.bin", "c.bin.json"]  # the model and its sidecar


# --- distributed ---------------------------------------------------------------------------
def distributed_argv(dataset, config, output, port, *extra):
    return [str(REPO / "pretrain.py"), "--dataset_path", dataset, "--vocab_path", VOCAB,
            "--config_path", config, "--output_model_path", output, "--total_steps", "100000",
            "--report_steps", "5", "--save_checkpoint_steps", "100000", "--batch_size", "2",
            "--world_size", "2", "--master_ip", f"tcp://127.0.0.1:{port}", *extra]


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_distributed_peer_dies_or_stops(tmp_path, pretrain_setup, how):
    dataset, config, _ = pretrain_setup
    folder = fresh(tmp_path, "dist")
    logs = os.path.join(folder, "logs")
    output = os.path.join(folder, "m.bin")
    port, timeout = free_port(), 6
    argv = distributed_argv(dataset, config, output, port, "--dist_timeout", str(timeout))
    rank0 = start([*argv, "--gpu_ranks", "0"], logs, "rank0")
    rank1 = start([*argv, "--gpu_ranks", "1"], logs, "rank1")
    try:
        wait_for(lambda: "|" in read(rank0.logs[0]) or rank0.poll() is not None, 120,
                 "the first report line")
        assert rank0.poll() is None, read(rank0.logs[1])
        rank1.send_signal(how)
        began = time.time()
        code = rank0.wait(timeout + 30)
        waited = time.time() - began
    finally:
        for process in (rank0, rank1):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 1
    assert waited < timeout + 15
    line = one_error_line(read(rank0.logs[1]))
    assert "rank 0: lost contact with the other processes" in line
    assert listing(folder) == []


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_killed_launcher_takes_its_workers(tmp_path, pretrain_setup):
    dataset, config, _ = pretrain_setup
    folder = fresh(tmp_path, "launcher")
    output = os.path.join(folder, "m.bin")
    argv = distributed_argv(dataset, config, output, free_port(), "--gpu_ranks", "0", "1")
    launcher = start(argv, os.path.join(folder, "logs"), "launcher")
    try:
        wait_for(lambda: "|" in read(launcher.logs[0]) or launcher.poll() is not None, 180,
                 "the first report line")
        assert launcher.poll() is None, read(launcher.logs[1])
        workers = children_of(launcher.pid)
        assert len(workers) >= 2
        launcher.kill()
        launcher.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers), 15,
                 "the workers to die with their launcher")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert "m.bin" not in listing(folder)


def test_lonely_rank_says_it_waits(tmp_path, pretrain_setup):
    dataset, config, _ = pretrain_setup
    folder = fresh(tmp_path, "lonely")
    port = free_port()
    argv = distributed_argv(dataset, config, os.path.join(folder, "m.bin"), port,
                            "--gpu_ranks", "0", "--dist_timeout", "5")
    began = time.time()
    result = subprocess.run([PY, *argv], cwd=REPO, env=ENV, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert time.time() - began < 60
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    notices = [line for line in lines if not line.startswith("error:")]
    assert notices and all(f"rank 0: waiting for the other 1 process(es) of --world_size 2 at "
                           f"tcp://127.0.0.1:{port}, until " in line for line in notices)
    assert lines[-1].startswith("error: rank 0:") and "within 5 s" in lines[-1]
    assert listing(folder) == []
