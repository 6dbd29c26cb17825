"""Next-token sampling for generate.py: temperature, top-k, then nucleus (top-p) filtering,
then multinomial sampling; and the generation loops with and without the key/value cache."""
import torch

from uer.tools.kv_cache import CachedDecoder


def filter_logits(logits, top_k=0, top_p=1.0):
    """``logits`` [V] with the tokens outside the top-k (k > 0) and then outside the nucleus
    (the smallest prefix of the sorted distribution whose probability exceeds p; at least one
    token) set to -inf."""
    logits = logits.clone()
    if 0 < top_k < logits.size(-1):
        threshold = logits.topk(top_k).values[-1]
        logits[logits < threshold] = float("-inf")
    if top_p < 1.0:
        ordered, order = logits.sort(descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative > top_p
        drop[1:] = drop[:-1].clone()  # keep the token that crosses p
        drop[0] = False
        logits[order[drop]] = float("-inf")
    return logits


def sample_next(logits, generator, top_k=0, top_p=1.0, temperature=1.0):
    """One token id from the last position's ``logits`` [V]."""
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def generate_uncached(model, prompt, max_length, generator, stop_id=None, **sampling):
    """UER-py's loop: the whole sequence through the model for every new token."""
    ids = list(prompt)
    with torch.inference_mode():
        while len(ids) < max_length:
            src = torch.tensor([ids])
            seg = torch.ones_like(src)
            hidden = model.encoder(model.embedding(src, seg), seg)
            token = sample_next(model.target.output_layer(hidden[0, -1]), generator, **sampling)
            ids.append(token)
            if token == stop_id:
                break
    return ids


def generate_cached(model, prompt, max_length, generator, stop_id=None, decoder=None, **sampling):
    """The same tokens as ``generate_uncached`` (same generator state), one position per step."""
    decoder = decoder or CachedDecoder(model, max_length=max_length)
    ids = list(prompt)
    if len(ids) >= max_length:
        return ids
    with torch.inference_mode():
        hidden = decoder.start(torch.tensor([ids]))[0, -1]
        while True:
            token = sample_next(model.target.output_layer(hidden), generator, **sampling)
            ids.append(token)
            if token == stop_id or len(ids) >= max_length:
                break
            hidden = decoder.step(torch.tensor([[token]]))[0, -1]
    return ids
