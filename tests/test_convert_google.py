"""Google TF checkpoint <-> UER converters: a checkpoint written the way Google's code writes
one (tf.Variables saved by name) converts to a UER model computing like the same weights in
transformers; our output has exactly Google's variable names; round trips are exact."""
import json
import re
import sys

import numpy as np
import pytest
import torch

from _convert_helpers import (TINY, convert, hf_outputs, max_diff, save_bin,  # noqa: E402
                              uer_model, uer_outputs)
from _convert_helpers import batch, hf_pretraining, vocab  # noqa: F401  (fixtures)
from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import convert_bert_from_google_to_uer as google2uer  # noqa: E402
import convert_bert_from_huggingface_to_uer as hf2uer  # noqa: E402
import convert_bert_from_uer_to_google as uer2google  # noqa: E402


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def google_name(hf_key):
    """Google's variable name for a HuggingFace key, written out independently of
    uer/convert/bert_keys.py: (name, transpose) or None for tensors Google does not store."""
    special = {"cls.predictions.bias": "cls/predictions/output_bias",
               "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
               "cls.seq_relationship.bias": "cls/seq_relationship/output_bias"}
    if hf_key in special:
        return special[hf_key], False
    if hf_key.startswith("cls.predictions.decoder"):
        return None
    name = re.sub(r"layer\.(\d+)", r"layer_\1", hf_key)
    name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                       "LayerNorm.beta")
    if "_embeddings." in name:
        return name.rsplit(".", 1)[0].replace(".", "/"), False
    if name.endswith(".weight"):
        return name[:-len(".weight")].replace(".", "/") + "/kernel", True
    return name.replace(".", "/"), False


def write_google_style(tf, hf_model, prefix):
    """Save the HF weights as Google's TF1 code does: named variables through a Saver, plus the
    training variables of a run_pretraining checkpoint (global_step, Adam slots)."""
    variables = {}
    for key, tensor in hf_model.state_dict().items():
        mapped = google_name(key)
        if mapped is None:
            continue
        name, transpose = mapped
        value = tensor.t() if transpose else tensor
        variables[name] = tf.Variable(value.contiguous().numpy(), name=name)
    variables["global_step"] = tf.Variable(np.int64(1000), name="global_step")
    variables["bert/pooler/dense/kernel/adam_m"] = tf.Variable(
        np.ones((32, 32), np.float32), name="bert/pooler/dense/kernel/adam_m")
    tf.compat.v1.train.Saver(var_list=variables).save(None, str(prefix), write_meta_graph=False)
    config = {k: v for k, v in hf_model.config.to_dict().items()
              if k in ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
                       "hidden_size", "initializer_range", "intermediate_size",
                       "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
                       "type_vocab_size", "vocab_size")}
    (prefix.parent / "bert_config.json").write_text(json.dumps(config))
    return {name for name in variables if name != "global_step" and "adam" not in name}


def test_google_checkpoint_to_uer_matches_transformers(tf, hf_pretraining, vocab, batch, tmp_path):
    (tmp_path / "google").mkdir()
    prefix = tmp_path / "google" / "bert_model.ckpt"
    names = write_google_style(tf, hf_pretraining, prefix)
    log = convert(google2uer.main, ["--input_model_path", str(prefix), "--output_model_path",
                                    str(tmp_path / "uer.bin")])
    assert "not converted: bert/pooler/dense/kernel/adam_m" not in log  # training slots skipped
    config = json.loads((tmp_path / "uer_config.json").read_text())
    assert config == dict(TINY, layernorm="standard", layernorm_eps=1e-12)
    ours = uer_outputs(str(tmp_path / "uer.bin"), str(tmp_path / "uer_config.json"), vocab, batch)
    diffs = max_diff(ours, hf_outputs(hf_pretraining, batch), batch, ("hidden", "mlm", "nsp"))
    assert max(diffs.values()) < 1e-5, diffs

    # The same tensors as the HuggingFace route.
    hf_pretraining.save_pretrained(tmp_path / "hf")
    convert(hf2uer.main, ["--input_model_path", str(tmp_path / "hf"), "--output_model_path",
                          str(tmp_path / "via_hf.bin")])
    a = torch.load(tmp_path / "uer.bin", weights_only=True)
    b = torch.load(tmp_path / "via_hf.bin", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # Back to Google: exactly Google's variable names and the same values.
    convert(uer2google.main, ["--input_model_path", str(tmp_path / "uer.bin"), "--config_path",
                              str(tmp_path / "uer_config.json"), "--output_model_path",
                              str(tmp_path / "out" / "bert_model.ckpt")])
    out_prefix = str(tmp_path / "out" / "bert_model.ckpt")
    assert {name for name, _ in tf.train.list_variables(out_prefix)} == names
    reader, original = tf.train.load_checkpoint(out_prefix), tf.train.load_checkpoint(str(prefix))
    for name in names:
        assert np.array_equal(reader.get_tensor(name), original.get_tensor(name)), name
    written = json.loads((tmp_path / "out" / "bert_config.json").read_text())
    assert written == json.loads((tmp_path / "google" / "bert_config.json").read_text())


def test_uer_google_uer_round_trip_is_exact(tf, vocab, tmp_path, zh_vocab_path):
    _, path, config_path = uer_model(vocab, tmp_path, "tied", 21, tied=True, layernorm="standard")
    convert(uer2google.main, ["--input_model_path", path, "--config_path", config_path,
                              "--output_model_path", str(tmp_path / "g" / "model.ckpt"),
                              "--vocab_path", zh_vocab_path])
    assert (tmp_path / "g" / "vocab.txt").read_bytes() == open(zh_vocab_path, "rb").read()
    convert(google2uer.main, ["--input_model_path", str(tmp_path / "g"), "--output_model_path",
                              str(tmp_path / "back.bin")])
    original = torch.load(path, weights_only=True)
    back = torch.load(tmp_path / "back.bin", weights_only=True)
    assert original.keys() == back.keys()
    assert all(torch.equal(original[k], back[k]) for k in original)
    assert json.loads((tmp_path / "back_config.json").read_text()) == dict(
        json.loads(open(config_path).read()), layernorm_eps=1e-12)

    # An untied MLM output cannot be stored (Google ties it): everything else still is.
    _, path, config_path = uer_model(vocab, tmp_path, "untied", 23, layernorm="standard")
    log = convert(uer2google.main, ["--input_model_path", path, "--config_path", config_path,
                                    "--output_model_path", str(tmp_path / "u" / "model.ckpt")])
    assert "warning: target.mlm_linear_2.weight differs from the word embeddings" in log
    convert(google2uer.main, ["--input_model_path", str(tmp_path / "u" / "model.ckpt.index"),
                              "--output_model_path", str(tmp_path / "u.bin"), "--target", "mlm"])
    original = torch.load(path, weights_only=True)
    back = torch.load(tmp_path / "u.bin", weights_only=True)
    assert set(back) == {k for k in original if not k.startswith("target.nsp")}
    assert all(torch.equal(original[k], back[k]) for k in back if k != "target.mlm_linear_2.weight")


def test_google_errors(tf, hf_pretraining, tmp_path, capsys):
    prefix = tmp_path / "bert_model.ckpt"
    write_google_style(tf, hf_pretraining, prefix)
    cases = (
        (google2uer.main, ["--input_model_path", str(prefix), "--layers_num", "12"],
         "--layers_num 12 but "),
        (google2uer.main, ["--input_model_path", str(tmp_path / "nothing.ckpt")],
         "no TensorFlow checkpoint with this prefix"),
    )
    for main, argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv + ["--output_model_path", str(tmp_path / "never.bin")])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 1 and err.startswith("error: ") and message in err, err
        assert len(err.splitlines()) == 1
    assert not list(tmp_path.glob("never*"))


def test_missing_tensorflow_is_a_one_line_error(monkeypatch, vocab, tmp_path, capsys):
    _, path, config_path = uer_model(vocab, tmp_path, "m", 25)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow -> ImportError
    with pytest.raises(SystemExit):
        uer2google.main(["--input_model_path", path, "--config_path", config_path,
                         "--output_model_path", str(tmp_path / "x" / "model.ckpt")])
    err = capsys.readouterr().err.strip()
    assert err == "error: the Google BERT converters need TensorFlow: pip install tensorflow-cpu"
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        google2uer.main(["--input_model_path", save_bin({}, tmp_path / "m.ckpt.index")[:-6],
                         "--output_model_path", str(tmp_path / "never.bin")])
    assert "pip install tensorflow-cpu" in capsys.readouterr().err


def google_bert_graph(tf, prefix, config, batch):
    """BERT's forward pass as Google's TF1 code builds it: variables made by name in a graph,
    filled by ``tf.compat.v1.train.init_from_checkpoint`` (how Google's run_classifier.py loads a
    checkpoint), then LayerNorm with eps 1e-12 and an additive -10000 attention mask. GELU is the
    exact (erf) form: Google's original modeling.py used the tanh approximation, which alone
    moves outputs by about 1e-3."""
    v1 = tf.compat.v1
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    shapes = dict(tf.train.list_variables(prefix))
    graph = tf.Graph()
    with graph.as_default():
        def var(name):
            return v1.get_variable(name, shape=shapes[name], dtype=tf.float32)

        def dense(x, scope):
            return tf.matmul(x, var(scope + "/kernel")) + var(scope + "/bias")

        def layer_norm(x, scope):
            mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
            return ((x - mean) * tf.math.rsqrt(variance + 1e-12) * var(scope + "/gamma")
                    + var(scope + "/beta"))

        ids = tf.constant(batch["hf"]["input_ids"].numpy(), tf.int32)
        types = tf.constant(batch["hf"]["token_type_ids"].numpy(), tf.int32)
        mask = tf.constant(batch["hf"]["attention_mask"].numpy(), tf.float32)
        rows, length = batch["src"].shape
        x = (tf.gather(var("bert/embeddings/word_embeddings"), ids)
             + tf.gather(var("bert/embeddings/token_type_embeddings"), types)
             + var("bert/embeddings/position_embeddings")[:length][None])
        x = tf.reshape(layer_norm(x, "bert/embeddings/LayerNorm"), [rows * length, hidden])
        adder = (1.0 - mask[:, None, None, :]) * -10000.0

        def split(t):
            return tf.transpose(tf.reshape(t, [rows, length, heads, hidden // heads]), [0, 2, 1, 3])

        for layer in range(config["num_hidden_layers"]):
            scope = f"bert/encoder/layer_{layer}"
            q, k, v = (split(dense(x, f"{scope}/attention/self/{n}")) for n in ("query", "key", "value"))
            scores = tf.matmul(q, k, transpose_b=True) / float(hidden // heads) ** 0.5 + adder
            context = tf.reshape(tf.transpose(tf.matmul(tf.nn.softmax(scores), v), [0, 2, 1, 3]),
                                 [rows * length, hidden])
            x = layer_norm(dense(context, f"{scope}/attention/output/dense") + x,
                           f"{scope}/attention/output/LayerNorm")
            inner = dense(x, f"{scope}/intermediate/dense")
            inner = 0.5 * inner * (1.0 + tf.math.erf(inner / 2.0 ** 0.5))
            x = layer_norm(dense(inner, f"{scope}/output/dense") + x, f"{scope}/output/LayerNorm")
        out = tf.reshape(x, [rows, length, hidden])
        # As Google's get_assignment_map_from_checkpoint: every graph variable, by its name.
        made = [variable.name.split(":")[0] for variable in v1.global_variables()]
        v1.train.init_from_checkpoint(prefix, {name: name for name in made})
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            return torch.from_numpy(session.run(out))


def test_google_bert_code_loads_our_checkpoint(tf, vocab, batch, tmp_path):
    """A UER model (UER-py's own LayerNorm) converted to Google loads by name into a TF1 graph
    and computes our encoder output there within 1e-4."""
    model, path, config_path = uer_model(vocab, tmp_path, "uer_ln", 31)
    prefix = str(tmp_path / "g" / "bert_model.ckpt")
    convert(uer2google.main, ["--input_model_path", path, "--config_path", config_path,
                              "--output_model_path", prefix])
    config = json.loads((tmp_path / "g" / "bert_config.json").read_text())
    theirs = google_bert_graph(tf, prefix, config, batch)
    ours = uer_outputs(path, config_path, vocab, batch)
    diff = (ours["hidden"][batch["real"]] - theirs[batch["real"]]).abs().max().item()
    assert diff < 1e-4, diff
