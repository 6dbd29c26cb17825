"""uer/tools/kv_cache.py, uer/tools/sampling.py and scripts/generate.py on tiny gpt models."""
import sys

import pytest
import torch

from _scripts_data import save_tiny, tiny_model, write_tiny_config, write_vocab
from tests.conftest import REPO
from uer.tools.kv_cache import CachedDecoder
from uer.tools.sampling import filter_logits, generate_cached, generate_uncached

sys.path.insert(0, str(REPO / "scripts"))
import generate  # noqa: E402

PROMPTS = [[2], [2, 7, 9], [2] + list(range(5, 25)), [2, 30, 31, 6]]


@pytest.fixture
def vocab(tmp_path):
    return write_vocab(tmp_path / "vocab.txt")


@pytest.mark.parametrize("overrides", [{}, {"parameter_sharing": True},
                                       {"embedding": "word", "tie_weights": True}])
def test_cache_equals_full_forward(vocab, overrides):
    model = tiny_model(vocab, target="lm", encoder="gpt", **overrides)
    src = torch.tensor([[2, 7, 9, 11, 13, 8, 6, 30]])
    with torch.no_grad():
        full = model.encoder(model.embedding(src, torch.ones_like(src)), torch.ones_like(src))
    decoder = CachedDecoder(model, max_length=16)
    pieces = [decoder.start(src[:, :3])] + [decoder.step(src[:, i:i + 1]) for i in range(3, 8)]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    decoder.start(src[:, :2])
    assert torch.allclose(decoder.step(src[:, 2:8]), full[:, 2:8], atol=1e-5)  # several at once


@pytest.mark.parametrize("sampling", [{"top_k": 0, "top_p": 0.6, "temperature": 1.0},
                                      {"top_k": 5, "top_p": 1.0, "temperature": 0.7},
                                      {"top_k": 0, "top_p": 1.0, "temperature": 2.0}])
def test_cached_and_uncached_give_the_same_tokens(vocab, sampling):
    model = tiny_model(vocab, target="lm", encoder="gpt", seed=1)
    for seed, prompt in enumerate(PROMPTS):
        runs = [fn(model, prompt, 40, torch.Generator().manual_seed(seed), stop_id=None, **sampling)
                for fn in (generate_uncached, generate_cached)]
        assert runs[0] == runs[1] and len(runs[0]) == 40 and runs[0][:len(prompt)] == prompt


def test_filtering():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    assert torch.isinf(filter_logits(logits, top_k=2)[2:]).all()
    assert not torch.isinf(filter_logits(logits, top_k=2)[:2]).any()
    probs = logits.softmax(-1)  # 0.636, 0.234, ...
    kept = ~torch.isinf(filter_logits(logits, top_p=0.6))
    assert kept.tolist() == [True, False, False, False, False]
    kept = ~torch.isinf(filter_logits(logits, top_p=float(probs[0]) + 0.01))
    assert kept.tolist() == [True, True, False, False, False]


def test_generate_script_every_line_and_stop(tmp_path, vocab):
    config = write_tiny_config(tmp_path / "tiny.json")
    model_path, model = save_tiny(tmp_path / "lm.bin", vocab, target="lm", encoder="gpt")
    (tmp_path / "in.txt").write_text("我是\n\n中国人\n大\n", encoding="utf-8")
    outputs = []
    for flags in ([], ["--no_cache"], ["--batch_size", "2"]):
        out = tmp_path / f"out{len(outputs)}.txt"
        generate.main(["--pretrained_model_path", model_path, "--vocab_path", vocab,
                       "--config_path", config, "--input_path", str(tmp_path / "in.txt"),
                       "--output_path", str(out), "--seq_length", "12", "--seed", "3", *flags])
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] == outputs[2]
    blocks = outputs[0].split("\n\n")[:-1]
    assert [b.split("\n")[0] for b in blocks] == ["我是", "中国人", "大"]
    for block, prompt in zip(blocks, ["我是", "中国人", "大"]):
        text = block.split("\n")[1]
        assert text.startswith(prompt) and "[CLS]" not in text
        for special in ("[UNK]", "[MASK]"):
            text = text.replace(special, "?")
        assert len(text) <= 11  # seq_length 12 with [CLS]
    # [SEP] stops a line: make [SEP] (id 3) certain
    with torch.no_grad():
        model.target.output_layer.bias.fill_(-1e4)
        model.target.output_layer.bias[3] = 1e4
    from uer.checkpoint import save_model
    save_model(model, model_path)
    out = tmp_path / "stop.txt"
    generate.main(["--pretrained_model_path", model_path, "--vocab_path", vocab, "--config_path",
                   config, "--input_path", str(tmp_path / "in.txt"), "--output_path", str(out)])
    assert out.read_text(encoding="utf-8") == "我是\n我是\n\n中国人\n中国人\n\n大\n大\n\n"


def test_generate_errors(tmp_path, vocab, capsys):
    config = write_tiny_config(tmp_path / "tiny.json")
    model_path, _ = save_tiny(tmp_path / "bert.bin", vocab)  # an MLM model: no output_layer
    (tmp_path / "in.txt").write_text("我\n", encoding="utf-8")
    base = ["--pretrained_model_path", model_path, "--vocab_path", vocab, "--config_path", config,
            "--input_path", str(tmp_path / "in.txt"), "--output_path", str(tmp_path / "o.txt")]
    for extra in ([], ["--temperature", "0"]):
        with pytest.raises(SystemExit) as info:
            generate.main(base + extra)
        assert info.value.code == 1
        assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "o.txt").exists()


def test_candidates_are_the_filtered_set():
    from uer.tools.sampling import candidates
    generator = torch.Generator().manual_seed(0)
    for scale in (0.5, 3.0, 8.0):
        logits = torch.randn(500, generator=generator) * scale
        for top_k, top_p in ((0, 0.6), (0, 0.95), (20, 0.6), (20, 1.0), (0, 1.0)):
            ids, probs = candidates(logits, top_k, top_p, start=8)
            kept = (~torch.isinf(filter_logits(logits, top_k, top_p))).nonzero().flatten()
            assert ids.tolist() == kept.tolist(), (scale, top_k, top_p)
            want = filter_logits(logits, top_k, top_p).softmax(-1)[ids]
            assert torch.allclose(probs / probs.sum(), want, atol=1e-6)


def test_draws_follow_the_distribution():
    from uer.tools.sampling import sample_next
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    generator = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([sample_next(logits, generator, top_p=1.0)
                                          for _ in range(4000)]), minlength=4)
    assert torch.allclose(counts / 4000.0, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)
    # top_p 0.7: 0.5 + 0.3 crosses it; tokens 2 and 3 are never drawn
    counts = torch.bincount(torch.tensor([sample_next(logits, generator, top_p=0.7)
                                          for _ in range(2000)]), minlength=4)
    assert counts[2:].sum() == 0 and abs(counts[0] / 2000.0 - 0.625) < 0.04


@pytest.mark.parametrize("overrides", [{}, {"embedding": "word", "emb_size": 8,
                                            "factorized_embedding_parameterization": True}])
def test_batch_equals_one_at_a_time(vocab, overrides):
    from uer.tools.sampling import generate_batch
    model = tiny_model(vocab, target="lm", encoder="gpt", seed=2, **overrides)
    prompts = PROMPTS + [[2] * 30, [2] * 29]
    stop = 9
    alone = [generate_cached(model, p, 30, torch.Generator().manual_seed(i), stop_id=stop,
                             top_k=0, top_p=0.9) for i, p in enumerate(prompts)]
    together = generate_batch(model, prompts, 30, [torch.Generator().manual_seed(i)
                                                    for i in range(len(prompts))],
                              stop_id=stop, top_k=0, top_p=0.9)
    assert together == alone
