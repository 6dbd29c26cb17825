"""bench/gpu_check.sh --dry: every row of the GPU check runs on the CPU (tiny config, two steps
per row) from a bare copy of the repository, importing nothing but the standard library, torch
(and what torch itself requires), numpy, tqdm and the repository's own modules."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO



def allowed_top_level_modules(roots=("torch", "numpy", "tqdm")):
    """Top-level module names of these distributions and of everything they require (what a
    machine with PyTorch installed, plus requirements.txt's numpy and tqdm, has)."""
    import importlib.metadata as metadata
    import re

    wanted, todo = set(), [r.lower() for r in roots]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower()
                        .replace("_", "-"))
    normal = lambda dist: dist.lower().replace("_", "-")  # noqa: E731
    return {top for top, dists in metadata.packages_distributions().items()
            if any(normal(d) in wanted for d in dists)}


def bare_site(folder):
    """A folder with links to the allowed packages only (and their metadata), and a
    sitecustomize that puts it in place of site-packages: the GPU machine's Python."""
    import importlib.metadata as metadata
    import importlib.util

    packages = folder / "packages"
    packages.mkdir()
    allowed = allowed_top_level_modules()
    for name in allowed:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        source = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
        os.symlink(source, packages / os.path.basename(source))
    for dist in metadata.distributions():
        tops = (dist.read_text("top_level.txt") or "").split()
        info = getattr(dist, "_path", None)
        if info is not None and set(tops) & allowed and not (packages / info.name).exists():
            os.symlink(info, packages / info.name)
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.path[:] = [p for p in sys.path if 'site-packages' not in p and 'dist-packages' not in p]"
        f" + [{str(packages)!r}]\n", encoding="utf-8")
    return site


@pytest.fixture(scope="module")
def bare_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("gpu-check")
    repo = base / "repo"  # no ../shared beside it
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.bin"))
    env = dict(os.environ, PYTHONPATH=str(bare_site(base)), PYTHON=sys.executable,
               OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return base, repo, env


@pytest.fixture(scope="module")
def dry_run(bare_env):
    base, repo, env = bare_env
    result = subprocess.run(["bash", "bench/gpu_check.sh", "--dry", "--json",
                             str(base / "rows.json")], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=600)
    rows = json.loads((base / "rows.json").read_text()) if (base / "rows.json").exists() else None
    return result, rows


def test_dry_run_succeeds_with_every_row(dry_run):
    result, rows = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    rows = rows["rows"]
    kinds = {(r["kind"], r["precision"], r["compile"], r["ddp"]) for r in rows}
    for precision in ("fp32", "bf16", "fp16"):
        for compiled in (False, True):
            for ddp in (False, True):
                assert ("pretrain", precision, compiled, ddp) in kinds
    assert ("finetune", "fp32", False, False) in kinds and ("finetune", "bf16", True, False) in kinds
    for row in rows:
        assert "error" not in row, row
        if row["precision"] == "fp16":  # GradScaler needs CUDA; the dry run is on the CPU
            assert row["note"].startswith("skipped: fp16")
            continue
        assert row["throughput"] > 0 and row["batch"], row
        if row["kind"] == "finetune":
            assert row["infer_throughput"] > 0
    table = result.stdout.split("\n\n")[-1]
    assert table.startswith("| row ") and "DDP nccl x1" in table and "compile" in table
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == len(rows) + 1


def test_the_bare_environment_has_torch_numpy_tqdm_only(bare_env):
    _, repo, env = bare_env
    probe = ("import importlib.util as u; import torch, numpy, tqdm; print(sorted(n for n in "
             "('sentencepiece', 'nltk', 'transformers', 'safetensors', 'pytest') if u.find_spec(n)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_mfu_uses_the_known_peak_or_the_override(monkeypatch):
    sys.path.insert(0, str(REPO / "bench"))
    import gpu_check
    import torch

    assert gpu_check.peaks(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert gpu_check.peaks(torch.device("cuda", 0)) == (989.4, 494.7)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert gpu_check.peaks(torch.device("cuda", 0)) == (756.0, 378.0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    assert gpu_check.peaks(torch.device("cuda", 0)) == (312.0, 156.0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    assert gpu_check.peaks(torch.device("cuda", 0)) is None
    monkeypatch.setenv("UER_GPU_PEAK_TFLOPS", "100")
    assert gpu_check.peaks(torch.device("cuda", 0)) == (100.0, 50.0)


def test_model_flops_count_dense_head_and_attention():
    sys.path.insert(0, str(REPO / "bench"))
    import gpu_check
    from uer.model import build_model, model_args

    vocab = gpu_check.synthetic_vocab(300)
    args = model_args(dict(gpu_check.DRY_CONFIG), vocab)
    model = build_model(args)
    batch = gpu_check.bert_batches(vocab, 2, 16, count=1)[0]
    tokens, masked = 32, int((batch[1] > 0).sum())
    hidden, ff, layers = 32, 64, 2
    per_layer = 4 * (hidden * hidden + hidden) + hidden * ff + ff + ff * hidden + hidden + 4 * hidden
    nsp = hidden * hidden + hidden + 2 * hidden + 2
    head = hidden * hidden + hidden + 2 * hidden + hidden * 300 + 300
    expected = (6 * (layers * per_layer + nsp) * tokens + 6 * head * masked
                + 12 * layers * hidden * 16 * tokens)
    assert gpu_check.flops_per_step(model, args, batch) == expected
