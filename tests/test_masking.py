"""The shared masking module (SPEC §3.8): token mode, span mode, span-length distribution."""
import numpy as np
import pytest

from uer.data.masking import mask_batch, sample_span_lengths, span_length_cumsum

V, CLS, SEP, MASK = 1000, 101, 102, 103
SPECIALS = {0, CLS, SEP, MASK}


def make_block(rows=2000, seed=0):
    """Padded pair instances [CLS] a [SEP] b [SEP] of random lengths, ids avoiding specials."""
    rng = np.random.default_rng(seed)
    block = np.zeros((rows, 64), dtype=np.int64)
    for row in range(rows):
        a, b = rng.integers(1, 30, size=2)
        ids = rng.integers(200, V, size=a + b)
        block[row, :a + b + 3] = [CLS, *ids[:a], SEP, *ids[a:], SEP]
    return block


def prefix_lengths(block):
    return (block != 0).sum(axis=1)  # no zeros inside the prefix here


@pytest.mark.parametrize("span", [False, True])
def test_special_tokens_and_padding_never_masked_in_token_mode_and_budget(span):
    block = make_block()
    masked, tgt = mask_batch(block, np.random.default_rng(1), V, CLS, SEP, MASK,
                             span_masking=span)
    chosen = tgt != 0
    assert not chosen[block == 0].any()
    assert not chosen[block == CLS].any()
    if not span:
        assert not chosen[block == SEP].any()
    budget = np.maximum(1, np.round(0.15 * prefix_lengths(block)))
    counts = chosen.sum(axis=1)
    if span:
        assert (counts <= budget).all() and counts.mean() > 0.8 * budget.mean()
    else:
        assert (counts == budget).all()
    # Targets are the original ids; unmasked positions are untouched.
    assert (tgt[chosen] == block[chosen]).all()
    assert (masked[~chosen] == block[~chosen]).all()


def test_budget_uses_bankers_rounding_on_the_prefix_length():
    # prefix 10 -> round(1.5) = 2; prefix 30 -> round(4.5) = 4 (half to even); prefix 3 -> 1
    for prefix, expected in [(10, 2), (30, 4), (3, 1), (50, 8)]:
        block = np.zeros((1, 64), dtype=np.int64)
        block[0, :prefix] = [CLS, *range(300, 300 + prefix - 2), SEP]
        _, tgt = mask_batch(block, np.random.default_rng(0), V, CLS, SEP, MASK)
        assert (tgt != 0).sum() == expected, prefix
    assert round(0.15 * 30) == 4  # the rule we mirror


def test_replacement_split_is_80_10_10_and_random_ids_are_never_special():
    block = make_block(4000)
    masked, tgt = mask_batch(block, np.random.default_rng(2), V, CLS, SEP, MASK)
    chosen = tgt != 0
    replaced = masked[chosen]
    original = block[chosen]
    is_mask = replaced == MASK
    kept = replaced == original
    random = ~is_mask & ~kept
    total = chosen.sum()
    assert abs(is_mask.sum() / total - 0.8) < 0.02
    # A random id equal to the original counts as "kept": the kept share is a bit over 10%.
    assert abs(kept.sum() / total - 0.1) < 0.02
    assert abs(random.sum() / total - 0.1) < 0.02
    assert not np.isin(replaced[random], list(SPECIALS)).any()
    assert (replaced[random] >= 1).all() and (replaced[random] < V).all()


def test_positions_are_spread_uniformly_over_candidates():
    block = make_block(3000)
    _, tgt = mask_batch(block, np.random.default_rng(3), V, CLS, SEP, MASK)
    full = prefix_lengths(block) >= 40
    # Among long rows, positions 1..10 (all candidates of segment A) are hit about equally.
    hits = (tgt[full, 1:11] != 0).mean(axis=0)
    assert hits.max() - hits.min() < 0.06
    assert abs(hits.mean() - 0.15) < 0.03


def test_same_seed_same_masks_and_different_seed_differs():
    block = make_block(200)
    for span in (False, True):
        first = mask_batch(block, np.random.default_rng(5), V, CLS, SEP, MASK, span_masking=span)
        second = mask_batch(block, np.random.default_rng(5), V, CLS, SEP, MASK, span_masking=span)
        other = mask_batch(block, np.random.default_rng(6), V, CLS, SEP, MASK, span_masking=span)
        assert (first[0] == second[0]).all() and (first[1] == second[1]).all()
        assert (first[1] != other[1]).any()


def test_span_length_distribution_is_the_truncated_geometric():
    cumsum = span_length_cumsum(0.2, 10)
    lengths = sample_span_lengths(np.random.default_rng(0), cumsum, 200000)
    assert lengths.min() == 1 and lengths.max() == 10
    k = np.arange(1, 11)
    expected = 0.2 * 0.8 ** (k - 1)
    expected /= expected.sum()
    observed = np.bincount(lengths, minlength=11)[1:] / len(lengths)
    assert abs(expected[0] - 0.224) < 0.001  # SPEC: P(1) ~ 0.224
    assert np.abs(observed - expected).max() < 0.005


def test_span_mode_masks_contiguous_runs_with_one_decision_per_span():
    rng = np.random.default_rng(4)
    block = np.zeros((1000, 128), dtype=np.int64)
    block[:, 0] = CLS
    block[:, 1:127] = rng.integers(200, V, size=(1000, 126))
    block[:, 127] = SEP
    masked, tgt = mask_batch(block, np.random.default_rng(7), V, CLS, SEP, MASK,
                             span_masking=True, span_geo_prob=0.2, span_max_length=10)
    chosen = tgt != 0
    runs = []
    mixed = 0
    for row in range(len(block)):
        positions = np.nonzero(chosen[row])[0]
        if not len(positions):
            continue
        breaks = np.nonzero(np.diff(positions) > 1)[0]
        for run in np.split(positions, breaks + 1):
            runs.append(len(run))
            values = masked[row, run]
            if (values == MASK).any() and not (values == MASK).all():
                mixed += 1  # adjacent spans can touch, so a few runs mix decisions
    runs = np.array(runs)
    # Masked runs are mostly longer than one token (token mode would give ~1.2 on average).
    assert runs.mean() > 2.5
    assert mixed / len(runs) < 0.2
