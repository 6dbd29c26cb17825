"""Convert a UER BERT checkpoint to a Google BERT TensorFlow checkpoint (name-based, as Google's
modeling.py loads it) and bert_config.json (needs tensorflow-cpu; options: uer/convert/cli.py).

Example:
    python3 scripts/convert_bert_from_uer_to_google.py \
        --input_model_path models/google_zh_model.bin \
        --config_path models/google_zh_model_config.json --vocab_path models/google_zh_vocab.txt \
        --output_model_path models/bert_zh_tf/bert_model.ckpt
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.convert.cli import uer_to_google as main  # noqa: E402

if __name__ == "__main__":
    main()
