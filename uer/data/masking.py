"""MLM masking (SPEC §3.8), shared by static preprocessing and the dynamic loader.

Both work on a block of padded instances ``src [M, L]`` at once: token mode is fully
vectorised; whole word mode is vectorised over rows (one step per word rank); span mode draws all span lengths at once and walks the positions per row (the
left-to-right walk depends on the previous span, so it does not vectorise).
All randomness comes from the numpy Generator passed in, so a seed fixes the result.
"""
import numpy as np

from uer.constants import PAD_ID, SPAN_GEO_PROB, SPAN_MAX_LENGTH
from uer.errors import UerError

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
               span_geo_prob=SPAN_GEO_PROB, span_max_length=SPAN_MAX_LENGTH, word_start=None):
    """Mask a block of instances.

    Returns ``(masked_src, tgt)``, both int64 [M, L]: ``tgt`` holds the original id at masked
    positions and 0 elsewhere. Candidates are the positions of the un-padded prefix (up to the
    last non-zero id) that are not [CLS], [SEP] or PAD; the budget per row is
    ``max(1, round(0.15 * prefix_length))`` (numpy rounds half to even, like Python).

    ``word_start`` (bool [M, L], whole word masking): True where a token begins a word; a
    candidate after a non-candidate always begins one. Whole words are masked (see
    ``_choose_words``). Without it, the draws are exactly those of token or span mode.
    """
    if word_start is not None and span_masking:
        raise UerError("--span_masking and --whole_word_masking cannot be used together: "
                       "choose one")
    src = np.asarray(src, dtype=np.int64)
    rows, length = src.shape
    nonzero = src != PAD_ID
    has_tokens = nonzero.any(axis=1)
    prefix = np.where(has_tokens, length - np.argmax(nonzero[:, ::-1], axis=1), 0)
    budget = np.maximum(1, np.round(MASK_RATE * prefix).astype(np.int64))
    candidates = nonzero & (src != cls_id) & (src != sep_id)
    specials = {cls_id, sep_id, mask_id, PAD_ID}
    masked = src.copy()
    if word_start is not None:
        chosen = _mask_words(masked, candidates, np.asarray(word_start, dtype=bool), budget,
                             rng, vocab_size, mask_id, specials)
    elif span_masking:
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
    _apply_decisions(masked, row_index, col_index, decision, rng, vocab_size, mask_id, specials)


def _apply_decisions(masked, row_index, col_index, decision, rng, vocab_size, mask_id, specials):
    """The chosen positions (row_index, col_index) with their uniform draws ``decision``:
    below 0.8 [MASK], below 0.9 a random id, else unchanged."""
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


def _mask_words(masked, candidates, word_start, budget, rng, vocab_size, mask_id, specials):
    """Whole word mode: each row's words are taken in random order while they fit the budget
    (a word longer than what is left is skipped, as in span mode); 80/10/10 is decided once
    per word, and each token of a random-replaced word gets its own random id.

    Vectorised over rows: words are numbered block-wide, their sizes counted with bincount,
    and the greedy pick walks the k-th word (random order) of every row at once."""
    rows, length = candidates.shape
    after_candidate = np.zeros_like(candidates)
    after_candidate[:, 1:] = candidates[:, :-1]
    first = candidates & (word_start | ~after_candidate)
    word_rows = np.nonzero(first)[0]  # row of each word, words numbered in row-major order
    count = len(word_rows)
    chosen = np.zeros((rows, length), dtype=bool)
    if not count:
        return chosen
    flat_candidates = candidates.ravel()
    word_of = np.cumsum(first.ravel()) - 1  # word number of every candidate position
    sizes = np.bincount(word_of[flat_candidates], minlength=count)
    # Sort each row's words by a random key: rank[k] = place of word order[k] in its row.
    order = np.lexsort((rng.random(count), word_rows))
    per_row = np.bincount(word_rows, minlength=rows)
    rank = np.arange(count) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    table = np.full((rows, int(per_row.max())), length + 1)  # empty slots never fit
    table[word_rows, rank] = sizes[order]  # word_rows is sorted, so word_rows == word_rows[order]
    taken = np.zeros(table.shape, dtype=bool)
    left = budget.astype(np.int64)
    for k in range(table.shape[1]):
        fits = table[:, k] <= left
        taken[:, k] = fits
        left -= np.where(fits, table[:, k], 0)
        if not left.any():
            break
    word_taken = np.zeros(count, dtype=bool)
    word_taken[order] = taken[word_rows, rank]
    chosen_flat = flat_candidates & word_taken[word_of]  # word_of is -1 only before candidates
    chosen = chosen_flat.reshape(rows, length)
    decision = rng.random(count)[word_of[chosen_flat]]  # one draw per word, read per token
    row_index, col_index = np.nonzero(chosen)
    _apply_decisions(masked, row_index, col_index, decision, rng, vocab_size, mask_id, specials)
    return chosen
