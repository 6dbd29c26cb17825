"""Shared by the converter tests: a tiny BERT size, real text from the shared corpus as
UER and HuggingFace inputs, random models with every tensor perturbed, outputs of both."""
import contextlib
import io
import json

import pytest
import torch
import torch.nn.functional as F

from conftest import shared_path
from uer.checkpoint import init_weights, load_model, save_model
from uer.model import build_model, model_args
from uer.tokenizers import BertTokenizer
from uer.vocab import Vocab

HIDDEN, LAYERS, HEADS, FF = 32, 2, 2, 64
TINY = {"emb_size": HIDDEN, "feedforward_size": FF, "hidden_size": HIDDEN, "hidden_act": "gelu",
        "heads_num": HEADS, "layers_num": LAYERS, "dropout": 0.1}


@pytest.fixture(scope="module")
def vocab():
    return Vocab.from_file(shared_path("vocab", "google_zh_vocab.txt"))


@pytest.fixture(scope="module")
def batch(vocab):
    """Sentence pairs from the shared corpus as UER (src, seg) and HF inputs; lengths differ,
    so there is padding."""
    tokenizer = BertTokenizer(None, vocab)
    path = shared_path("corpora", "CLUECorpusSmall_sampled.txt")
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for _, line in zip(range(8), handle) if line.strip()]
    rows = []
    for i in range(0, 8, 2):
        a = tokenizer.encode(lines[i])[: 6 + 3 * i]
        b = tokenizer.encode(lines[i + 1])[:10]
        ids = [vocab.cls_id] + a + [vocab.sep_id] + b + [vocab.sep_id]
        rows.append((ids, [1] * (len(a) + 2) + [2] * (len(b) + 1)))
    length = max(len(ids) for ids, _ in rows)
    src = torch.tensor([ids + [0] * (length - len(ids)) for ids, _ in rows])
    seg = torch.tensor([s + [0] * (length - len(s)) for _, s in rows])
    return {"src": src, "seg": seg, "real": seg > 0,
            "hf": {"input_ids": src, "attention_mask": (seg > 0).long(),
                   "token_type_ids": (seg - 1).clamp(min=0)}}


def hf_config(vocab, **extra):
    import transformers

    return transformers.BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN,
                                   num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                   intermediate_size=FF, **extra)


def perturb(model, seed):
    """Random values everywhere (biases, LayerNorms, token types): a swapped or dropped tensor
    then shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            scale = 0.2 if ("LayerNorm" in name or "layer_norm" in name) else 0.05
            param.add_(torch.randn(param.shape, generator=generator) * scale)
    return model.eval()


@pytest.fixture(scope="module")
def hf_pretraining(vocab):
    import transformers

    torch.manual_seed(0)
    return perturb(transformers.BertForPreTraining(hf_config(vocab)), 1)


def hf_outputs(model, batch):
    with torch.no_grad():
        out = model(**batch["hf"], output_hidden_states=True)
    result = {"hidden": out.hidden_states[-1]}
    if hasattr(out, "prediction_logits"):
        result.update(mlm=out.prediction_logits, nsp=out.seq_relationship_logits)
    elif hasattr(out, "logits"):
        result["mlm"] = out.logits
    return result


def uer_outputs(model_path, config_path, vocab, batch, target="bert", strict=True):
    args = model_args(config_path, vocab, target=target)
    model = build_model(args)
    load_model(model, model_path, strict=strict, verbose=False)
    return run_uer(model.eval(), batch)


def run_uer(model, batch):
    with torch.no_grad():
        hidden = model.encoder(model.embedding(batch["src"], batch["seg"]), batch["seg"])
        t = model.target
        result = {"hidden": hidden,
                  "mlm": t.mlm_linear_2(t.layer_norm(F.gelu(t.mlm_linear_1(hidden))))}
        if hasattr(t, "nsp_linear_1"):
            result["nsp"] = t.sentence_logits(hidden)
    return result


def max_diff(ours, theirs, batch, keys):
    """Largest difference over real tokens (padding rows are never read)."""
    diffs = {}
    for key in keys:
        a, b = ours[key], theirs[key]
        if key != "nsp":
            a, b = a[batch["real"]], b[batch["real"]]
        diffs[key] = (a - b).abs().max().item()
    return diffs


def convert(main, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


def save_bin(state, path):
    torch.save(state, path)
    return str(path)


def uer_model(vocab, tmp_path, name, seed, tied=False, **config):
    """A random UER BERT model and its config file (perturbed LayerNorms, zero padding row)."""
    config = dict(TINY, **config)
    config_path = tmp_path / f"{name}_config.json"
    config_path.write_text(json.dumps(config))
    torch.manual_seed(seed)
    model = build_model(model_args(config, vocab, tie_weights=tied))
    init_weights(model)
    perturb(model, seed + 1)
    with torch.no_grad():
        model.embedding.segment_embedding.weight[0].zero_()
    save_model(model, str(tmp_path / f"{name}.bin"))
    return model, str(tmp_path / f"{name}.bin"), str(config_path)
