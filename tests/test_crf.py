"""The CRF: likelihood and Viterbi path checked against enumeration of every tag path."""
import itertools

import pytest
import torch

from uer.finetune.crf import CRF


def brute_force(crf, emissions, length):
    """(log partition, best path) of one row by enumerating all paths of ``length`` tags."""
    scores = {}
    for path in itertools.product(range(crf.tags_num), repeat=length):
        tags = torch.tensor([path])
        mask = torch.ones(1, length, dtype=torch.bool)
        scores[path] = crf.path_score(emissions[:, :length], tags, mask).item()
    log_z = torch.logsumexp(torch.tensor(list(scores.values())), dim=0).item()
    return log_z, list(max(scores, key=scores.get))


def test_partition_and_viterbi_match_enumeration_with_padding():
    torch.manual_seed(0)
    crf = CRF(3)
    emissions = torch.randn(3, 4, 3)
    lengths = [4, 2, 1]
    mask = torch.arange(4).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    log_z = crf.log_partition(emissions, mask)
    decoded = crf.decode(emissions, mask)
    for row, length in enumerate(lengths):
        expected_z, expected_path = brute_force(crf, emissions[row:row + 1], length)
        assert log_z[row].item() == pytest.approx(expected_z, abs=1e-5)
        assert decoded[row, :length].tolist() == expected_path
        assert (decoded[row, length:] == decoded[row, length - 1]).all()


def test_training_lowers_nll_and_learns_transitions():
    torch.manual_seed(1)
    crf = CRF(2)
    # Gold paths alternate 0,1,0,1 while emissions carry no information: only the
    # transitions can learn the pattern.
    tags = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]])
    mask = torch.ones_like(tags, dtype=torch.bool)
    emissions = torch.zeros(2, 4, 2)
    optimizer = torch.optim.SGD(crf.parameters(), lr=0.5)
    first = crf.neg_log_likelihood(emissions, tags, mask).item()
    for _ in range(50):
        optimizer.zero_grad()
        crf.neg_log_likelihood(emissions, tags, mask).backward()
        optimizer.step()
    assert crf.neg_log_likelihood(emissions, tags, mask).item() < first / 2
    assert crf.transitions[0, 1] > crf.transitions[0, 0]
    assert crf.transitions[1, 0] > crf.transitions[1, 1]
