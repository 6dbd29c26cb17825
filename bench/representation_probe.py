"""What does a pre-trained encoder hand to fine-tuning? Per layer, on book_review reviews:
how alike the pooled vectors of different reviews are (mean pairwise cosine), how alike the
positions of one review are, and how well a frozen linear probe (logistic regression on the
mean-pooled vectors) separates the labels. Prints one table per model.

Example (a model from pretrain.py against random initialisation of the same config):
    python3 bench/representation_probe.py --load_model_path /tmp/plateau.bin \
        --config_path models/bert_tiny_config.json

A model whose upper layers map every review to nearly the same direction (cosine near 1)
and whose probe falls to chance has nothing to transfer: see bench/RESULTS.md "Why a plateau
model fine-tunes to chance".
"""
import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
sys.path.insert(0, ROOT)

from uer.checkpoint import init_weights, load_model  # noqa: E402
from uer.layers.multi_headed_attn import padding_mask  # noqa: E402
from uer.model import build_model, model_args  # noqa: E402
from uer.seed import set_seed  # noqa: E402
from uer.tokenizers import str2tokenizer  # noqa: E402


def read_rows(path, count):
    with open(path, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t", 1) for line in handle][1:count + 1]
    return [int(label) for label, _ in rows], [text for _, text in rows]


def encode(tokenizer, texts, seq_length):
    vocab = tokenizer.vocab_obj
    ids = [[vocab.cls_id, *tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))[:seq_length - 2],
            vocab.sep_id] for text in texts]
    src = torch.tensor([row + [0] * (seq_length - len(row)) for row in ids])
    return src, (src > 0).long()


@torch.inference_mode()
def layer_outputs(model, src, seg, batch=64):
    """[layers + 1] lists of (mean-pooled [N, H], first-token [N, H], within-review cosine [N])."""
    encoder = model.encoder
    pooled = None
    for start in range(0, len(src), batch):
        s, g = src[start:start + batch], seg[start:start + batch]
        hidden = model.embedding(s, g)
        mask = padding_mask(g, hidden.dtype)
        real = (g > 0).unsqueeze(-1).float()
        outputs = [hidden]
        for index in range(encoder.layers_num):
            hidden = encoder.layer(index)(hidden, mask)
            outputs.append(hidden)
        rows = []
        for out in outputs:
            mean = (out * real).sum(1) / real.sum(1)
            unit = torch.nn.functional.normalize(out, dim=-1) * real
            # mean cosine between distinct real positions of a review
            summed = unit.sum(1)
            count = real.sum((1, 2))
            within = ((summed * summed).sum(-1) - count) / (count * (count - 1)).clamp(min=1)
            rows.append((mean, out[:, 0], within))
        pooled = rows if pooled is None else [
            tuple(torch.cat([a, b]) for a, b in zip(old, new)) for old, new in zip(pooled, rows)]
    return pooled


def mean_pairwise_cosine(vectors):
    unit = torch.nn.functional.normalize(vectors, dim=-1)
    n = len(unit)
    total = unit.sum(0)
    return float(((total @ total) - n) / (n * (n - 1)))


def probe_accuracy(train_x, train_y, dev_x, dev_y, steps=200):
    """Logistic regression (L-BFGS, light L2) on standardised features; dev accuracy."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x, d = (train_x - mean) / std, (dev_x - mean) / std
    y = torch.tensor(train_y, dtype=torch.float32)
    weight = torch.zeros(x.size(1), requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weight + bias, y) \
            + 1e-3 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = (d @ weight + bias > 0).long()
    return float((predicted == torch.tensor(dev_y)).float().mean())


def describe(name, model, data):
    (train_src, train_seg, train_y), (dev_src, dev_seg, dev_y) = data
    model.eval()
    train_layers = layer_outputs(model, train_src, train_seg)
    dev_layers = layer_outputs(model, dev_src, dev_seg)
    print(f"\n{name}")
    print("| layer | cosine between reviews (mean-pooled) | cosine between reviews ([CLS]) "
          "| cosine between positions of a review | probe dev acc (mean-pooled) |")
    print("|---|---:|---:|---:|---:|")
    for index, ((train_mean, _, _), (dev_mean, dev_first, within)) in enumerate(
            zip(train_layers, dev_layers)):
        label = "embedding" if index == 0 else f"layer {index}"
        accuracy = probe_accuracy(train_mean, train_y, dev_mean, dev_y)
        print(f"| {label} | {mean_pairwise_cosine(dev_mean):.3f} | {mean_pairwise_cosine(dev_first):.3f} "
              f"| {float(within.mean()):.3f} | {accuracy:.3f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load_model_path", action="append", default=[],
                        help="A pre-trained model (repeatable); random init is always shown.")
    parser.add_argument("--config_path", default=os.path.join(ROOT, "models", "bert_tiny_config.json"))
    parser.add_argument("--vocab_path", default=os.path.join(SHARED, "vocab", "google_zh_vocab.txt"))
    parser.add_argument("--train_rows", type=int, default=2000)
    parser.add_argument("--dev_rows", type=int, default=1000)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--layernorm_positioning", default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tokenizer = str2tokenizer["bert"](argparse.Namespace(vocab_path=args.vocab_path, spm_model_path=None))
    book = os.path.join(SHARED, "datasets", "book_review")
    train_y, train_texts = read_rows(os.path.join(book, "train.tsv"), args.train_rows)
    dev_y, dev_texts = read_rows(os.path.join(book, "dev.tsv"), args.dev_rows)
    data = ((*encode(tokenizer, train_texts, args.seq_length), train_y),
            (*encode(tokenizer, dev_texts, args.seq_length), dev_y))
    extra = {} if args.layernorm_positioning is None else {
        "layernorm_positioning": args.layernorm_positioning}

    def fresh():
        return build_model(model_args(args.config_path, tokenizer.vocab_obj, target="bert", **extra))

    set_seed(7)
    model = fresh()
    init_weights(model)
    describe("random init (seed 7)", model, data)
    for path in args.load_model_path:
        model = fresh()
        load_model(model, path, verbose=False)
        describe(path, model, data)


if __name__ == "__main__":
    main()
