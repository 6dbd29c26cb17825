"""ALBERT target: MLM projected back to emb_size, plus sentence-order prediction (SPEC §4.5)."""
from uer.hparams import EMB_SIZE, HIDDEN_SIZE
from uer.layers.layer_norm import LAYER_NORM_KEYS
from uer.targets import str2target
from uer.targets.bert import BertTarget, mlm_and_sentence_metrics


@str2target.register("albert")
class AlbertTarget(BertTarget):
    """``mlm_linear_1`` H -> E, ``layer_norm(E)``, ``mlm_linear_2`` E -> V, ``sop_linear_1/2``
    (label 1 = swapped). forward(memory_bank, (tgt_mlm, is_swapped)) ->
    (loss_mlm, loss_sop, correct_mlm, correct_sop, denominator)."""

    name = "albert"
    sentence_head = "sop"
    metrics = mlm_and_sentence_metrics("sop")
    config_keys = (HIDDEN_SIZE, EMB_SIZE, *LAYER_NORM_KEYS)

    def mlm_size(self, config):
        return config.emb_size
