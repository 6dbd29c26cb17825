"""Distributed pre-training on CPU with gloo: argument checks before any connection, spawned
processes on one node, two "nodes" as two pretrain.py invocations, equivalence of 2 ranks x B
with 1 process x 2B, and a clear timeout when a peer never arrives."""
import os
import subprocess
import sys
import time

import pytest
import torch

import pretrain
from pretrain_helpers import (api_args, assert_same_state, fixed_loader_factory, free_port,
                              state_of, tiny_dataset, write_config)
from uer.checkpoint import init_weights
from uer.distributed import plan_layout
from uer.errors import UerError
from uer.model import build_model
from uer.trainer import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only rules")


def layout_args(tmp_path, *argv):
    return api_args(tmp_path, argv)


# --- argument checks (no process group is ever created) -----------------------------------
@pytest.mark.parametrize("argv,message", [
    (["--world_size", 2], "--world_size 2 needs --gpu_ranks"),
    (["--world_size", 2, "--gpu_ranks", 0, 1, 2], "has 3 entries but --world_size is 2"),
    (["--world_size", 2, "--gpu_ranks", 0, 0], "ranks must be unique"),
    (["--world_size", 2, "--gpu_ranks", 2], "must be below --world_size 2"),
    (["--world_size", 1, "--gpu_ranks", 0, 1], "has 2 entries but --world_size is 1"),
    (["--world_size", 0], "must be at least 1"),
    (["--world_size", 2, "--gpu_ranks", 0, "--master_ip", "localhost:1"], "expected tcp://"),
])
def test_bad_layouts_are_refused(tmp_path, argv, message):
    with pytest.raises(UerError, match=message):
        plan_layout(layout_args(tmp_path, *argv))


@needs_no_cuda
def test_gpu_rank_without_cuda_is_refused(tmp_path):
    with pytest.raises(UerError, match="CUDA is not available; omit --gpu_ranks"):
        plan_layout(layout_args(tmp_path, "--gpu_ranks", 3))


@needs_no_cuda
def test_layouts_cpu_and_nccl_fallback(tmp_path, capsys):
    assert plan_layout(layout_args(tmp_path)).mode == "cpu"
    layout = plan_layout(layout_args(tmp_path, "--world_size", 4, "--gpu_ranks", 2, 3,
                                     "--master_ip", "tcp://10.0.0.1:5000"))
    assert (layout.mode, layout.ranks, layout.backend, layout.world_size) == (
        "distributed", [2, 3], "gloo", 4)
    assert layout.init_method == "tcp://10.0.0.1:5000"
    assert str(layout.device(1)) == "cpu"
    assert "gloo backend is used on CPU instead of nccl" in capsys.readouterr().out


def test_torchrun_environment_needs_no_uer_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("UER_DIST_TIMEOUT", "12")
    layout = plan_layout(layout_args(tmp_path, "--backend", "gloo"))
    assert (layout.mode, layout.ranks, layout.world_size, layout.init_method) == (
        "torchrun", [3], 4, "env://")
    assert layout.timeout_s == 12.0


def test_cli_refuses_a_bad_layout_before_connecting(tmp_path, zh_vocab_path, capsys):
    began = time.time()
    with pytest.raises(SystemExit) as exit_info:
        pretrain.main(["--vocab_path", zh_vocab_path, "--output_model_path", str(tmp_path / "m"),
                       "--config_path", write_config(tmp_path), "--world_size", "2",
                       "--gpu_ranks", "0", "1", "2", "--backend", "gloo",
                       "--dataset_path", str(tmp_path / "absent.pt")])
    assert exit_info.value.code == 1
    assert "has 3 entries but --world_size is 2" in capsys.readouterr().err
    assert time.time() - began < 5


def test_missing_peer_ends_with_a_timeout_error(tmp_path):
    args = api_args(tmp_path, ["--world_size", 2, "--gpu_ranks", 0, "--backend", "gloo",
                               "--master_ip", f"tcp://127.0.0.1:{free_port()}",
                               "--dist_timeout", 2, "--total_steps", 1, "--batch_size", 2])
    began = time.time()
    with pytest.raises(UerError, match=r"rank 0: could not join 2 processes .* within 2 s"):
        train(args, model=_model(args), loader_factory=fixed_loader_factory)
    assert time.time() - began < 20
    assert not os.path.exists(args.output_model_path)


# --- real multi-process runs ----------------------------------------------------------------
def _model(args, seed=5):
    torch.manual_seed(seed)
    model = build_model(args)
    init_weights(model)
    return model


def test_two_ranks_of_b_equal_one_process_of_2b(tmp_path, capfd):
    """One node, two spawned processes (--world_size 2 --gpu_ranks 0 1 --backend gloo).
    Dropout 0: DDP's gradient average over 2 ranks x B equals the gradient of a 2B batch
    (every row masks the same number of tokens), so the parameters agree after training.
    (This caught ranks sharing one copy of the CPU weights through torch's shared memory.)"""
    common = ["--target", "bert", "--total_steps", 4, "--report_steps", 2,
              "--save_checkpoint_steps", 3, "--learning_rate", 1e-3, "--warmup", 0.25]
    single = api_args(tmp_path / "one", common + ["--batch_size", 8], dropout=0.0)
    double = api_args(tmp_path / "two", common + [
        "--batch_size", 4, "--world_size", 2, "--gpu_ranks", 0, 1, "--backend", "gloo",
        "--master_ip", f"tcp://127.0.0.1:{free_port()}", "--dist_timeout", 60], dropout=0.0)
    train(single, model=_model(single), loader_factory=fixed_loader_factory)
    assert train(double, model=_model(double), loader_factory=fixed_loader_factory) is None
    out = capfd.readouterr().out
    assert "Using distributed mode for training. World size: 2" in out
    assert "Worker 0 is training ... " in out and "Worker 1 is training ... " in out
    # one report line per window: only rank 0 reports (plus the single-process run's two)
    assert out.count("|        2/       4 steps|") == 2
    one, two = state_of(tmp_path / "one" / "model.bin"), state_of(tmp_path / "two" / "model.bin")
    start = _model(single).state_dict()
    key = "encoder.transformer.1.self_attn.linear_layers.0.weight"
    assert not torch.allclose(start[key], one[key])
    assert_same_state(one, two, atol=2e-5)
    assert sorted(os.listdir(tmp_path / "two")) == ["model.bin", "model.bin-3", "model.bin-3.json",
                                                    "model.bin.json", "model.bin.state"]
    assert len(torch.load(tmp_path / "two" / "model.bin.state", weights_only=True)["ranks"]) == 2


def test_two_nodes_as_two_invocations(tmp_path, zh_vocab_path):
    dataset = tiny_dataset(zh_vocab_path, "bert")
    config = write_config(tmp_path)
    master = f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ, OMP_NUM_THREADS="1", UER_DIST_TIMEOUT="60")

    def node(rank):
        return subprocess.Popen(
            [sys.executable, "pretrain.py", "--dataset_path", dataset, "--vocab_path",
             zh_vocab_path, "--output_model_path", str(tmp_path / f"node{rank}" / "model.bin"),
             "--config_path", config, "--total_steps", "3", "--report_steps", "3",
             "--batch_size", "4", "--world_size", "2", "--gpu_ranks", str(rank),
             "--master_ip", master, "--backend", "gloo"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    nodes = [node(0), node(1)]
    try:
        results = [process.communicate(timeout=120) for process in nodes]
    finally:
        for process in nodes:  # never leave a stuck rank behind
            if process.poll() is None:
                process.kill()
    for process, (out, err) in zip(nodes, results):
        assert process.returncode == 0, err
    assert "|        3/       3 steps|" in results[0][0]
    assert "steps|" not in results[1][0]  # only global rank 0 reports ...
    assert (tmp_path / "node0" / "model.bin").exists()
    assert not (tmp_path / "node1").exists()  # ... and saves
