"""MLM masking (SPEC §3.8), shared by static preprocessing and the dynamic loader.

Both work on a block of padded instances ``src [M, L]`` at once: token mode is fully
vectorised; span mode draws all span lengths at once and walks the positions per row (the
left-to-right walk depends on the previous span, so it does not vectorise).
All randomness comes from the numpy Generator passed in, so a seed fixes the result.
"""
import numpy as np

from uer.constants import PAD_ID, SPAN_GEO_PROB, SPAN_MAX_LENGTH

MASK_RATE = 0.15


def span_length_cumsum(geo_prob, max_length):
    """Unnormalised cumulative weights of the truncated geometric P(k) ∝ p(1-p)^(k-1), k=1..max."""
    k = np.arange(1, max_length + 1)
    return np.cumsum(geo_prob * (1.0 - geo_prob) ** (k - 1))


def sample_span_lengths(rng, cumsum, size):
    """Inverse-CDF draws: the smallest k whose cumulative weight exceeds U * cumsum[max]."""
    draws = rng.random(size) * cumsum[-1]
    return np.searchsorted(cumsum, draws, side="right") + 1


def random_token_ids(rng, count, vocab_size, special_ids):
    """``count`` ids uniform in [1, V-1], each re-drawn while it is a special id."""
    ids = rng.integers(1, vocab_size, size=count)
    special = np.asarray(sorted(special_ids))
    bad = np.isin(ids, special)
    while bad.any():
        ids[bad] = rng.integers(1, vocab_size, size=int(bad.sum()))
        bad = np.isin(ids, special)
    return ids


def mask_batch(src, rng, vocab_size, cls_id, sep_id, mask_id, span_masking=False,
               span_geo_prob=SPAN_GEO_PROB, span_max_length=SPAN_MAX_LENGTH):
    """Mask a block of instances.

    Returns ``(masked_src, tgt)``, both int64 [M, L]: ``tgt`` holds the original id at masked
    positions and 0 elsewhere. Candidates are the positions of the un-padded prefix (up to the
    last non-zero id) that are not [CLS], [SEP] or PAD; the budget per row is
    ``max(1, round(0.15 * prefix_length))`` (numpy rounds half to even, like Python).
    """
    src = np.asarray(src, dtype=np.int64)
    rows, length = src.shape
    nonzero = src != PAD_ID
    has_tokens = nonzero.any(axis=1)
    prefix = np.where(has_tokens, length - np.argmax(nonzero[:, ::-1], axis=1), 0)
    budget = np.maximum(1, np.round(MASK_RATE * prefix).astype(np.int64))
    candidates = nonzero & (src != cls_id) & (src != sep_id)
    specials = {cls_id, sep_id, mask_id, PAD_ID}
    masked = src.copy()
    if span_masking:
        chosen = _mask_spans(masked, src, candidates, prefix, budget, rng, vocab_size, mask_id,
                             specials, span_geo_prob, span_max_length)
    else:
        chosen = _choose_tokens(candidates, budget, rng)
        _replace_tokens(masked, chosen, rng, vocab_size, mask_id, specials)
    tgt = np.where(chosen, src, 0)
    return masked, tgt


def _choose_tokens(candidates, budget, rng):
    """A uniform random subset of ``budget[i]`` candidates per row (all of them if fewer):
    the candidates whose random key is among the row's ``budget[i]`` smallest."""
    rows, length = candidates.shape
    keys = rng.random((rows, length))
    keys[~candidates] = 2.0  # non-candidates rank last
    kth = np.minimum(budget, length)[:, None] - 1
    threshold = np.take_along_axis(np.sort(keys, axis=1), kth, axis=1)
    return candidates & (keys <= threshold)


def _replace_tokens(masked, chosen, rng, vocab_size, mask_id, specials):
    """80% [MASK], 10% a random id, 10% unchanged, decided per token."""
    row_index, col_index = np.nonzero(chosen)
    decision = rng.random(len(row_index))
    to_mask = decision < 0.8
    masked[row_index[to_mask], col_index[to_mask]] = mask_id
    to_random = (decision >= 0.8) & (decision < 0.9)
    count = int(to_random.sum())
    if count:
        masked[row_index[to_random], col_index[to_random]] = random_token_ids(
            rng, count, vocab_size, specials)


def _mask_spans(masked, src, candidates, prefix, budget, rng, vocab_size, mask_id, specials,
                geo_prob, max_length):
    """Span mode: spans start at candidates left to right, are shuffled, and taken while they
    fit the budget; 80/10/10 is decided once per span (random ids drawn per token)."""
    rows, length = src.shape
    cumsum = span_length_cumsum(geo_prob, max_length)
    lengths = sample_span_lengths(rng, cumsum, (rows, length))
    chosen = np.zeros((rows, length), dtype=bool)
    for row in range(rows):
        end = int(prefix[row])
        is_candidate = candidates[row].tolist()
        row_lengths = lengths[row].tolist()
        spans = []
        pos = 0
        while pos < end:
            if is_candidate[pos]:
                span = min(row_lengths[pos], end - pos)  # cut at the prefix end
                spans.append((pos, span))
                pos += span
            else:
                pos += 1
        if not spans:
            continue
        left = int(budget[row])
        for index in rng.permutation(len(spans)).tolist():
            start, span = spans[index]
            if span > left:
                continue  # skip a span that would exceed the budget
            left -= span
            chosen[row, start:start + span] = True
            decision = rng.random()
            if decision < 0.8:
                masked[row, start:start + span] = mask_id
            elif decision < 0.9:
                masked[row, start:start + span] = random_token_ids(rng, span, vocab_size, specials)
            if left == 0:
                break
    return chosen
