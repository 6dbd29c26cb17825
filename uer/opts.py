"""Option groups shared by the entry scripts: one definition, one default, one help text each.

Names, choices and defaults follow UER-py 2020 (see SPEC.md §1). Component choices are the
registries themselves: they import their modules only when argparse first reads them."""
import argparse
import sys

from uer.config import bounded
from uer.constants import SPAN_GEO_PROB, SPAN_MAX_LENGTH

from uer.embeddings import str2embedding
from uer.encoders import str2encoder
from uer.tokenizers import str2tokenizer

POOLING_CHOICES = ("mean", "max", "first", "last")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's own errors (unknown choice, bad number, missing option) end like every other
    bad input: one line ``error: ...`` and exit code 1, instead of the usage block and exit
    code 2 (also when ``parse_args`` is called outside ``cli_main``)."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1)


def new_parser(description=None):
    # allow_abbrev=False: explicit-option detection (config merge) must see full names.
    return OneLineErrorParser(description=description, allow_abbrev=False,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def vocab_opts(parser, vocab_required=False):
    parser.add_argument("--vocab_path", default=None, type=str, required=vocab_required,
                        help="Path of the vocabulary file (one token per line).")
    parser.add_argument("--spm_model_path", default=None, type=str,
                        help="Path of the sentencepiece model; replaces the vocabulary file.")


def tokenizer_opts(parser):
    parser.add_argument("--tokenizer", choices=str2tokenizer, default="bert",
                        help="Tokenizer: bert (basic + WordPiece), char, or space.")


def config_opts(parser, default="./models/bert_base_config.json"):
    parser.add_argument("--config_path", default=default, type=str,
                        help="Hyper-parameter JSON; options typed on the command line win over it.")


def masking_opts(parser):
    # Span and whole word masking are two ways to pick the masked tokens: one at a time.
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--span_masking", action="store_true", help="Mask contiguous spans.")
    mode.add_argument("--whole_word_masking", action="store_true",
                      help="Mask whole words (Chinese words cut by --segmenter, WordPiece ## "
                           "pieces with their word); pretrain.py needs a dataset built with "
                           "--whole_word_masking --dynamic_masking.")
    parser.add_argument("--span_geo_prob", type=float, default=SPAN_GEO_PROB,
                        help="p of the truncated geometric distribution of span lengths.")
    parser.add_argument("--span_max_length", type=int, default=SPAN_MAX_LENGTH,
                        help="Longest masked span.")
    bounded(parser, "--span_geo_prob", above=0, maximum=1)
    bounded(parser, "--span_max_length", minimum=1)


def segmenter_opts(parser):
    """preprocess.py: how --whole_word_masking finds the words of a line."""
    from uer.data.segmenter import str2segmenter

    parser.add_argument("--segmenter", choices=sorted(str2segmenter), default="jieba",
                        help="Word segmenter for --whole_word_masking.")
    parser.add_argument("--user_dict", type=str, default=None,
                        help="User dictionary of the segmenter (jieba: lines 'word [freq] [tag]').")


def model_opts(parser):
    """--embedding --encoder --bidirectional --factorized_embedding_parameterization --parameter_sharing"""
    parser.add_argument("--embedding", choices=str2embedding, default="bert",
                        help="Embedding: bert = word+position+segment, word = word only.")
    parser.add_argument("--encoder", choices=str2encoder, default="bert", help="Encoder type.")
    parser.add_argument("--bidirectional", action="store_true",
                        help="Bidirectional lstm/gru (hidden size per direction is half).")
    parser.add_argument("--factorized_embedding_parameterization", action="store_true",
                        help="ALBERT: project emb_size to hidden_size before the encoder.")
    parser.add_argument("--parameter_sharing", action="store_true",
                        help="ALBERT: one transformer layer reused layers_num times.")
    parser.add_argument("--layernorm_positioning", choices=("post", "pre"), default=None,
                        help="Transformer LayerNorm before (pre) or after (post, UER-py's) each "
                             "sub-layer; also a config key (default: the config's, else post).")


def optimizer_opts(parser, learning_rate=2e-5, betas=False):
    parser.add_argument("--learning_rate", type=float, default=learning_rate, help="Peak learning rate.")
    parser.add_argument("--warmup", type=float, default=0.1,
                        help="Fraction of the training steps used for linear warm-up.")
    if betas:
        parser.add_argument("--beta1", type=float, default=0.9, help="Adam beta1.")
        parser.add_argument("--beta2", type=float, default=0.999, help="Adam beta2.")
        bounded(parser, "--beta1", minimum=0, maximum=1)
        bounded(parser, "--beta2", minimum=0, maximum=1)
    bounded(parser, "--learning_rate", above=0)
    bounded(parser, "--warmup", minimum=0, maximum=1)
    parser.add_argument("--adam_bias_correction", action="store_true",
                        help="Bias-corrected Adam (torch's AdamW) instead of UER-py's and Google "
                             "BERT's update, whose first steps are larger at the same rate.")
    fp16_opts(parser)
    compile_opts(parser)


def accumulation_opts(parser):
    parser.add_argument("--accumulation_steps", type=int, default=1,
                        help="Micro-batches per optimizer update.")
    bounded(parser, "--accumulation_steps", minimum=1)


def max_grad_norm_opts(parser):
    parser.add_argument("--max_grad_norm", type=float, default=0.0,
                        help="Clip the gradient norm to this value; 0 = no clipping (as UER-py).")
    bounded(parser, "--max_grad_norm", minimum=0)


def device_opts(parser):
    """Process layout (uer.distributed.plan_layout): CPU, one GPU, several processes, torchrun."""
    parser.add_argument("--world_size", type=int, default=1, help="Total number of processes (all nodes).")
    parser.add_argument("--gpu_ranks", type=int, nargs="+", default=[],
                        help="Global ranks of the processes started on this node; local process j "
                             "uses GPU j. With --world_size 1, one value = the GPU id to use.")
    parser.add_argument("--master_ip", type=str, default="tcp://localhost:12345",
                        help="Rendezvous address of rank 0 (init_method).")
    parser.add_argument("--backend", choices=["nccl", "gloo"], default="nccl",
                        help="torch.distributed backend (gloo is used on machines without CUDA).")
    parser.add_argument("--dist_timeout", type=float, default=None,
                        help="Seconds to wait for the other processes (default: $UER_DIST_TIMEOUT "
                             "or 300).")


def fp16_opts(parser):
    parser.add_argument("--fp16", action="store_true",
                        help="Mixed precision: torch.autocast (fp16 + GradScaler on CUDA, bf16 on CPU).")
    parser.add_argument("--fp16_opt_level", choices=["O0", "O1", "O2", "O3"], default="O1",
                        help="apex-style level: O0 = fp32, O1/O2 = autocast, O3 = autocast with "
                             "half-precision weights (apex is used only if installed).")
    parser.add_argument("--amp_dtype", choices=["auto", "float16", "bfloat16"], default="auto",
                        help="With --fp16: auto = fp16 on CUDA, bf16 on CPUs with native bf16 "
                             "(fp32 otherwise); bfloat16 forces bf16.")


def compile_opts(parser):
    parser.add_argument("--compile", action="store_true",
                        help="Wrap the model in torch.compile (dynamic shapes; costs compile time "
                             "at the start).")
    parser.add_argument("--compile_backend", choices=["inductor", "aot_eager", "eager"],
                        default="inductor",
                        help="torch.compile backend with --compile (aot_eager/eager: no code "
                             "generation, for checking).")


def training_opts(parser, dropout=0.5, epochs_num=3, seed=7):
    """Fine-tuning loop options."""
    parser.add_argument("--dropout", type=float, default=dropout, help="Dropout.")
    parser.add_argument("--epochs_num", type=int, default=epochs_num, help="Number of epochs.")
    parser.add_argument("--report_steps", type=int, default=100, help="Report every n steps.")
    parser.add_argument("--seed", type=int, default=seed, help="Random seed.")
    bounded(parser, "--dropout", minimum=0, maximum=1)
    bounded(parser, "--epochs_num", minimum=1)
    bounded(parser, "--report_steps", minimum=1)


def pooling_opts(parser):
    parser.add_argument("--pooling", choices=POOLING_CHOICES, default="first",
                        help="Pooling over the real (non-padding) positions.")


def soft_target_opts(parser):
    parser.add_argument("--soft_targets", action="store_true",
                        help="Train on the teacher logits column too (distillation).")
    parser.add_argument("--soft_alpha", type=float, default=0.5,
                        help="Weight of the soft-target MSE loss.")
    bounded(parser, "--soft_alpha", minimum=0, maximum=1)
