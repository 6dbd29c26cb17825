"""scripts/cloze_test.py, topn_words_indep.py and topn_words_dep.py on tiny models."""
import sys

import pytest
import torch

from _scripts_data import CHARS, save_tiny, write_tiny_config, write_vocab
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import cloze_test  # noqa: E402
import topn_words_dep  # noqa: E402
import topn_words_indep  # noqa: E402


@pytest.fixture
def files(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    model_path, model = save_tiny(tmp_path / "bert.bin", vocab)
    (tmp_path / "cand.txt").write_text("\n".join(CHARS[:12] + ["不在表"]) + "\n", encoding="utf-8")
    return {"vocab": vocab, "config": write_tiny_config(tmp_path / "tiny.json"),
            "model": model_path, "net": model, "cand": str(tmp_path / "cand.txt"), "dir": tmp_path}


def test_cloze_format_and_seed(files):
    lines = ["我是中国人", "", "他们在这个国工作"]
    (files["dir"] / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(seed, name):
        out = files["dir"] / name
        cloze_test.main(["--pretrained_model_path", files["model"], "--vocab_path", files["vocab"],
                         "--config_path", files["config"], "--input_path",
                         str(files["dir"] / "in.txt"), "--output_path", str(out),
                         "--seq_length", "12", "--topn", "3", "--seed", str(seed)])
        return out.read_text(encoding="utf-8")

    text = run(1, "a.txt")
    blocks = text.split("\n\n")
    assert len(blocks) == 3 and blocks[-1] == ""
    sentence, predicted, correct = blocks[0].split("\n")
    tokens = sentence.split(" ")
    assert tokens[0] == "[CLS]" and tokens.count("[MASK]") == 1 and len(tokens) == 6
    masked = tokens.index("[MASK]")
    assert correct == f"Correct answer: {'我是中国人'[masked - 1]}"
    assert predicted.startswith("Predicted answer: ") and len(predicted.split(" ")) == 2 + 3
    # the prediction is the MLM head's argmax at the masked position
    from uer.tools.runner import mlm_logits
    from uer.vocab import Vocab
    vocab = Vocab.from_file(files["vocab"])
    ids = torch.tensor([[vocab.get(t) for t in tokens]])
    net = files["net"]
    with torch.no_grad():
        hidden = net.encoder(net.embedding(ids, torch.ones_like(ids)), torch.ones_like(ids))
        best = mlm_logits(net.target, hidden[0, masked]).argmax().item()
    assert predicted.split(" ")[2] == vocab.i2w[best]
    assert run(1, "b.txt") == text


def test_topn_words_indep(files, capsys):
    (files["dir"] / "words.txt").write_text("的\n", encoding="utf-8")
    topn_words_indep.main(["--target_words_path", str(files["dir"] / "words.txt"),
                           "--vocab_path", files["vocab"], "--cand_vocab_path", files["cand"],
                           "--pretrained_model_path", files["model"], "--topn", "5"])
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Target word: 的" and lines[6] == ""
    pairs = [line.split("\t") for line in lines[1:6]]
    assert all(word != "的" for word, _ in pairs)
    sims = [float(s) for _, s in pairs]
    assert sims == sorted(sims, reverse=True)
    weight = torch.nn.functional.normalize(files["net"].embedding.word_embedding.weight, dim=-1)
    from uer.vocab import Vocab
    vocab = Vocab.from_file(files["vocab"])
    want = (weight[vocab.get(pairs[0][0])] @ weight[vocab.get("的")]).item()
    assert abs(sims[0] - want) < 1e-5


def test_topn_words_dep(files, capsys):
    (files["dir"] / "sents.txt").write_text("我 是 中 国 人\t中\n", encoding="utf-8")
    topn_words_dep.main(["--sent_path", str(files["dir"] / "sents.txt"), "--vocab_path",
                         files["vocab"], "--cand_vocab_path", files["cand"],
                         "--pretrained_model_path", files["model"], "--config_path",
                         files["config"], "--seq_length", "8", "--batch_size", "4", "--topn", "4"])
    lines = capsys.readouterr().out.split("\n")
    assert lines[:2] == ["Original sentence: 我 是 中 国 人", "Target word: 中"]
    pairs = [line.split("\t") for line in lines[2:6]]
    assert lines[6] == "" and all(word != "中" for word, _ in pairs)
    # the top candidate's similarity, recomputed with every layer of the model
    from uer.vocab import Vocab
    vocab = Vocab.from_file(files["vocab"])
    ids = [vocab.cls_id] + [vocab.get(c) for c in "我是中国人"]
    src = torch.tensor([ids + [0, 0]])
    seg = torch.tensor([[1] * 6 + [0, 0]])
    net = files["net"]
    with torch.no_grad():
        ref = net.encoder(net.embedding(src, seg), seg)[0, 3]
        src[0, 3] = vocab.get(pairs[0][0])
        alt = net.encoder(net.embedding(src, seg), seg)[0, 3]
    assert abs(torch.cosine_similarity(ref, alt, dim=0).item() - float(pairs[0][1])) < 1e-5


SCRIPTS = ["average_model", "multi_single_convert", "check_model", "diff_vocab",
           "extract_embedding", "dynamic_vocab_adapter", "extract_feature", "cloze_test",
           "topn_words_indep", "topn_words_dep", "generate"]


def test_every_script_has_help():
    """Each script run as a file (``python3 scripts/X.py --help``, here in one interpreter)."""
    import subprocess
    code = ("import runpy, sys\n"
            "for name in sys.argv[1:]:\n"
            "    sys.argv = [f'scripts/{name}.py', '--help']\n"
            "    try:\n"
            "        runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "    except SystemExit as e:\n"
            "        assert e.code in (0, None), name\n"
            "    print('##', name)\n")
    result = subprocess.run([sys.executable, "-c", code, *SCRIPTS], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in SCRIPTS:
        assert f"## {name}" in result.stdout
    assert result.stdout.count("usage: ") == len(SCRIPTS)
