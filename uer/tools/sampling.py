"""Next-token sampling for generate.py: temperature, top-k, then nucleus (top-p) filtering,
then a multinomial draw (inverse CDF, one uniform number per token); and the generation loops
with and without the key/value cache."""
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


def candidates(logits, top_k=0, top_p=1.0, start=64):
    """The tokens ``filter_logits`` keeps, as (ids in increasing order, their probabilities),
    without sorting the whole vocabulary when the nucleus lies among the ``start`` best tokens
    (otherwise one full sort). Ties aside, the same set as ``filter_logits``."""
    vocab_size = logits.size(-1)
    if 0 < top_k < vocab_size:
        values, ids = logits.topk(top_k)
        probs = values.softmax(-1)  # the distribution renormalised over the top k
    else:
        log_total = torch.logsumexp(logits, -1)
        values, ids = logits.topk(min(start, vocab_size))
        probs = (values - log_total).exp()
        if top_p >= 1.0 or probs.sum() <= top_p:
            values, ids = logits.sort(descending=True)
            probs = (values - log_total).exp()
    if top_p < 1.0:
        crossed = (probs.cumsum(-1) > top_p).nonzero()
        keep = int(crossed[0]) + 1 if len(crossed) else len(probs)
        ids, probs = ids[:keep], probs[:keep]
    # Drawn in id order: near-equal probabilities swapping places by rounding (the cached and
    # the uncached loop differ in the last bits) cannot change the token drawn.
    kept = torch.zeros(vocab_size, dtype=probs.dtype)
    kept[ids] = probs
    ids = kept.nonzero().flatten()  # increasing, without a sort
    return ids, kept[ids]


def sample_next(logits, generator, top_k=0, top_p=1.0, temperature=1.0):
    """One token id from the last position's ``logits`` [V]: temperature, top-k, nucleus, then a
    multinomial draw among the kept tokens."""
    ids, probs = candidates(logits.float() / temperature, top_k, top_p)
    # Inverse-CDF draw (what torch.multinomial does for one sample, at a fraction of its cost
    # on a large vocabulary): one uniform number per token from ``generator``.
    cumulative = probs.double().cumsum(0)
    point = torch.rand((), generator=generator, dtype=torch.float64) * cumulative[-1]
    index = int(torch.searchsorted(cumulative, point, right=True).clamp(max=len(ids) - 1))
    return int(ids[index])


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


def generate_batch(model, prompts, max_length, generators, stop_id=None, decoder=None,
                   **sampling):
    """``generate_cached`` for several prompts at once (one ``generators[i]`` per prompt, so
    each result is the one ``generate_cached(model, prompts[i], ..., generators[i])`` gives);
    each step runs the rows still going as one batch."""
    decoder = decoder or CachedDecoder(model, max_length=max_length)
    results = [list(p) for p in prompts]
    active = [i for i, p in enumerate(prompts) if len(p) < max_length]
    if not active:
        return results
    with torch.inference_mode():
        hidden = decoder.start_rows([prompts[i] for i in active])
        while True:
            logits = model.target.output_layer(hidden)
            tokens, still = [], []
            for row, i in enumerate(active):
                token = sample_next(logits[row], generators[i], **sampling)
                results[i].append(token)
                if token != stop_id and len(results[i]) < max_length:
                    still.append(row)
                    tokens.append(token)
            if not still:
                return results
            if len(still) < len(active):
                decoder.keep_rows(torch.tensor(still))
                active = [active[row] for row in still]
            hidden = decoder.step_rows(torch.tensor(tokens))
