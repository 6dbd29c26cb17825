"""--fp16 takes the bf16 autocast path on CPUs with native bf16 in pre-training, fine-tuning,
inference and the scripts/ utilities that run a model, and the results agree with fp32 within
bf16 rounding. The native-bf16 check is patched to True, so the path is the same on any CPU
(where bf16 is emulated it is only slower)."""
import sys

import pytest
import torch

import uer.amp
from _scripts_data import save_tiny, write_tiny_config, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import cloze_test  # noqa: E402
import extract_feature  # noqa: E402
import generate  # noqa: E402
import topn_words_dep  # noqa: E402


@pytest.fixture(autouse=True)
def native_bf16(monkeypatch):
    monkeypatch.setattr(uer.amp, "cpu_has_native_bf16", lambda: True)


@pytest.fixture
def autocast_seen():
    """The CPU autocast dtype (None when off) of every module call while the fixture lives."""
    seen = []

    def hook(module, inputs, output):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu")
                    else None)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield seen
    handle.remove()


def only(seen, dtype):
    assert seen, "the model never ran"
    assert set(seen) == {dtype}
    seen.clear()


def test_fp16_alone_picks_bf16_on_native_cpus():
    import argparse

    args = argparse.Namespace(fp16=True, fp16_opt_level="O1", amp_dtype="auto")
    precision = uer.amp.build_precision(args, torch.device("cpu"))
    assert precision.enabled and precision.dtype == torch.bfloat16
    assert not precision.scaler.is_enabled()  # a GradScaler only for fp16
    args.fp16_opt_level = "O0"
    assert not uer.amp.build_precision(args, torch.device("cpu")).enabled


@pytest.fixture
def files(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    bert, _ = save_tiny(tmp_path / "bert.bin", vocab)
    gpt, _ = save_tiny(tmp_path / "gpt.bin", vocab, target="lm", encoder="gpt")
    (tmp_path / "in.txt").write_text("我是中国人\n他们在这个国工作\n大\n", encoding="utf-8")
    return {"vocab": vocab, "config": write_tiny_config(tmp_path / "tiny.json"), "bert": bert,
            "gpt": gpt, "input": str(tmp_path / "in.txt"), "dir": tmp_path}


def common(files, model="bert"):
    return ["--vocab_path", files["vocab"], "--config_path", files["config"],
            "--pretrained_model_path", files[model]]


def test_extract_feature_fp16_is_bf16_and_close(files, autocast_seen):
    outputs = {}
    for flags, dtype in (([], None), (["--fp16"], torch.bfloat16)):
        out = files["dir"] / f"f{len(outputs)}.pt"
        extract_feature.main(common(files) + ["--input_path", files["input"], "--output_path",
                                              str(out), "--seq_length", "10", *flags])
        only(autocast_seen, dtype)
        outputs[dtype] = torch.load(out, weights_only=True)
    fp32, bf16 = outputs[None], outputs[torch.bfloat16]
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape  # the file format stays
    assert not torch.equal(bf16, fp32)  # bf16 rounding happened
    assert torch.allclose(bf16, fp32, atol=0.1, rtol=0.05)


def test_cloze_and_topn_words_dep_fp16(files, autocast_seen, capsys):
    texts = []
    for flags, dtype in (([], None), (["--fp16"], torch.bfloat16)):
        out = files["dir"] / f"cloze{len(texts)}.txt"
        cloze_test.main(common(files) + ["--input_path", files["input"], "--output_path",
                                         str(out), "--seq_length", "12", "--topn", "3", *flags])
        only(autocast_seen, dtype)
        texts.append(out.read_text(encoding="utf-8"))
    # Same sentences and masked positions; each line's predictions are the MLM head's top 3.
    lines = [text.split("\n") for text in texts]
    assert [x for x in lines[0] if not x.startswith("Predicted")] == \
           [x for x in lines[1] if not x.startswith("Predicted")]

    (files["dir"] / "sents.txt").write_text("我 是 中 国 人\t中\n", encoding="utf-8")
    (files["dir"] / "cand.txt").write_text("\n".join("的一是在不了有和人这") + "\n",
                                           encoding="utf-8")
    sims = []
    for flags, dtype in (([], None), (["--fp16"], torch.bfloat16)):
        capsys.readouterr()
        topn_words_dep.main(common(files) + ["--sent_path", str(files["dir"] / "sents.txt"),
                                             "--cand_vocab_path", str(files["dir"] / "cand.txt"),
                                             "--tokenizer", "space", "--seq_length", "8",
                                             "--topn", "9", *flags])
        only(autocast_seen, dtype)
        pairs = [line.split("\t") for line in capsys.readouterr().out.split("\n")[2:11]]
        sims.append({word: float(value) for word, value in pairs})
    assert sims[0].keys() == sims[1].keys()
    assert all(abs(sims[0][w] - sims[1][w]) < 0.05 for w in sims[0])


def test_generate_fp16_with_and_without_cache(files, autocast_seen):
    outputs = []
    for flags in (["--fp16"], ["--fp16", "--no_cache"]):
        out = files["dir"] / f"gen{len(outputs)}.txt"
        generate.main(common(files, "gpt") + ["--input_path", files["input"], "--output_path",
                                              str(out), "--seq_length", "12", *flags])
        only(autocast_seen, torch.bfloat16)
        outputs.append(out.read_text(encoding="utf-8"))
    for text in outputs:
        blocks = text.split("\n\n")[:-1]
        assert [b.split("\n")[0] for b in blocks] == ["我是中国人", "他们在这个国工作", "大"]
        assert all(b.split("\n")[1].startswith(b.split("\n")[0]) for b in blocks)


def test_bf16_cached_decoder_matches_fp32_hidden_states(files):
    from _scripts_data import tiny_model
    from uer.tools.kv_cache import CachedDecoder

    model = tiny_model(files["vocab"], target="lm", encoder="gpt")
    src = torch.tensor([[2, 7, 9, 11, 13, 8, 6, 30]])
    with torch.no_grad():
        full = model.encoder(model.embedding(src, torch.ones_like(src)), torch.ones_like(src))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        decoder = CachedDecoder(model, max_length=16)
        pieces = [decoder.start(src[:, :3])] + [decoder.step(src[:, i:i + 1]) for i in range(3, 8)]
    cached = torch.cat(pieces, dim=1).float()
    assert torch.allclose(cached, full, atol=0.1, rtol=0.05)


def test_finetuning_and_inference_fp16_is_bf16_and_close(tmp_path, autocast_seen):
    import argparse

    from _finetune_data import TINY_CONFIG
    from uer.finetune.batching import Example
    from uer.finetune.engine import Engine
    from uer.finetune.heads import Classifier
    from uer.finetune.tasks.classifier import ClassificationTask
    from uer.model import model_args
    from uer.seed import set_seed
    from uer.vocab import Vocab

    vocab = Vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)])
    data = [Example([2] + [5 + (i * 7 + j) % 40 for j in range(i % 5 + 1)] + [3], i % 5 + 3,
                    label=i % 2) for i in range(12)]
    results = {}
    for fp16 in (False, True):
        set_seed(0)
        model = Classifier(model_args(dict(TINY_CONFIG), vocab, pooling="mean"), 2)
        args = argparse.Namespace(batch_size=4, learning_rate=1e-3, warmup=0.1, epochs_num=1,
                                  report_steps=100, seed=3, fp16=fp16, fp16_opt_level="O1",
                                  amp_dtype="auto", output_model_path=str(tmp_path / f"{fp16}.bin"))
        engine = Engine(args, ClassificationTask(2), model)
        before = engine.predict_stacked(data)
        engine.fit(data, data[:4])
        results[fp16] = before, engine.predict_stacked(data)
        only(autocast_seen, torch.bfloat16 if fp16 else None)
    assert results[True][0].dtype == torch.float32
    # inference from the same weights: bf16 rounding only
    assert torch.allclose(results[True][0], results[False][0], atol=0.05)
    # after a short training run the two models still predict alike
    assert torch.allclose(results[True][1], results[False][1], atol=0.1)


@pytest.mark.parametrize("script", ["extract_feature", "cloze_test", "topn_words_dep",
                                    "generate"])
def test_model_utilities_take_fp16(script):
    parser = sys.modules[script].build_parser()
    assert {"--fp16", "--fp16_opt_level", "--amp_dtype"} <= set(parser._option_string_actions)


def test_classifier_inference_script_fp16_is_bf16_and_close(tmp_path, autocast_seen):
    from _finetune_data import CUES, FILLER, easy_rows, write_config, write_tsv
    from _scripts_data import SPECIALS
    from inference import run_classifier_infer
    from uer.checkpoint import init_weights, save_model
    from uer.finetune.heads import Classifier
    from uer.model import model_args
    from uer.vocab import Vocab

    vocab_path = write_vocab(tmp_path / "vocab.txt", SPECIALS + sorted(set(FILLER + "".join(CUES))))
    config = write_config(tmp_path / "tiny.json")
    torch.manual_seed(0)
    model = Classifier(model_args(config, Vocab.from_file(vocab_path), pooling="first"), 2)
    init_weights(model)
    save_model(model, str(tmp_path / "classifier.bin"))
    test_tsv = write_tsv(tmp_path / "test.tsv", ["label", "text_a"], easy_rows(10, 3))
    logits = {}
    for flags, dtype in (([], None), (["--fp16"], torch.bfloat16)):
        out = tmp_path / f"pred{len(logits)}.tsv"
        run_classifier_infer.main(["--load_model_path", str(tmp_path / "classifier.bin"),
                                   "--vocab_path", vocab_path, "--config_path", config,
                                   "--test_path", test_tsv, "--prediction_path", str(out),
                                   "--labels_num", "2", "--seq_length", "32", "--output_logits",
                                   *flags])
        only(autocast_seen, dtype)
        rows = out.read_text(encoding="utf-8").splitlines()[1:]
        logits[dtype] = torch.tensor([[float(x) for x in row.split("\t")[1].split()]
                                      for row in rows])
    assert logits[None].shape == logits[torch.bfloat16].shape == (10, 2)
    assert torch.allclose(logits[None], logits[torch.bfloat16], atol=0.05)


@pytest.mark.parametrize("script", ["inference.run_classifier_infer", "inference.run_ner_infer",
                                    "inference.run_cmrc_infer", "inference.run_c3_infer",
                                    "run_ner", "run_cmrc", "run_c3"])
def test_inference_and_task_scripts_take_fp16(script):
    import importlib

    parser = importlib.import_module(script).build_parser()
    assert {"--fp16", "--fp16_opt_level", "--amp_dtype"} <= set(parser._option_string_actions)
