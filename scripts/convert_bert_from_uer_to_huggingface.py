"""Convert a UER BERT checkpoint to a HuggingFace model directory (config.json, weights,
vocab.txt) that transformers' from_pretrained loads (options: uer/convert/cli.py).

Example:
    python3 scripts/convert_bert_from_uer_to_huggingface.py \
        --input_model_path models/google_zh_model.bin \
        --config_path models/google_zh_model_config.json --vocab_path models/google_zh_vocab.txt \
        --output_model_path models/bert_zh_hf/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.convert.cli import uer_to_huggingface as main  # noqa: E402

if __name__ == "__main__":
    main()
