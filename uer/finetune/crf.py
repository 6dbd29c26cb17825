"""A linear-chain conditional random field over tag emissions (``run_ner.py --crf_target``).

Scores of a tag path y over positions 1..n: start[y1] + sum emission[t, yt] +
sum transition[y(t-1), yt] + end[yn]. Training minimises the negative log-likelihood of the gold
path (forward algorithm in log space); prediction is the Viterbi path. Masks must be prefixes
(real positions first, then padding), as fine-tuning batches are. Parameter names are those of
later UER-py versions (``crf.start_transitions``, ``crf.end_transitions``, ``crf.transitions``)."""
import torch
from torch import nn


class CRF(nn.Module):
    def __init__(self, tags_num):
        super().__init__()
        self.tags_num = tags_num
        self.start_transitions = nn.Parameter(torch.empty(tags_num).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(tags_num).uniform_(-0.1, 0.1))
        # transitions[i, j]: score of tag j following tag i.
        self.transitions = nn.Parameter(torch.empty(tags_num, tags_num).uniform_(-0.1, 0.1))

    def path_score(self, emissions, tags, mask):
        """Score of the given tag paths: [B]. emissions [B, L, T], tags [B, L], mask [B, L]."""
        maskf = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = self.start_transitions[tags[:, 0]] + (emitted * maskf).sum(dim=1)
        steps = self.transitions[tags[:, :-1], tags[:, 1:]]
        score = score + (steps * maskf[:, 1:]).sum(dim=1)
        last = tags.gather(1, (mask.sum(dim=1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        return score + self.end_transitions[last]

    def log_partition(self, emissions, mask):
        """log of the summed exp-scores of every path: [B]."""
        alpha = self.start_transitions + emissions[:, 0]  # [B, T]
        for t in range(1, emissions.size(1)):
            step = alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1)
            alpha = torch.where(mask[:, t:t + 1], torch.logsumexp(step, dim=1), alpha)
        return torch.logsumexp(alpha + self.end_transitions, dim=1)

    def neg_log_likelihood(self, emissions, tags, mask):
        """Summed over the batch; every row needs at least one real position."""
        emissions = emissions.float()
        return (self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)).sum()

    def decode(self, emissions, mask):
        """Viterbi tags [B, L]; positions after a row's end repeat its last tag."""
        emissions = emissions.float()
        batch, length, tags_num = emissions.shape
        score = self.start_transitions + emissions[:, 0]
        keep = torch.arange(tags_num, device=emissions.device).expand(batch, tags_num)
        pointers = []
        for t in range(1, length):
            step = score.unsqueeze(2) + self.transitions  # [B, from, to]
            best, previous = step.max(dim=1)
            real = mask[:, t:t + 1]
            score = torch.where(real, best + emissions[:, t], score)
            # Past a row's end the pointer is the identity, so backtracking walks through.
            pointers.append(torch.where(real, previous, keep))
        tag = (score + self.end_transitions).argmax(dim=1)
        path = [tag]
        for previous in reversed(pointers):
            tag = previous.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        path.reverse()
        return torch.stack(path, dim=1)
