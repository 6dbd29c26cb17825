"""Convert a Google BERT TensorFlow checkpoint to a UER checkpoint and its UER config JSON
(needs tensorflow-cpu; options: uer/convert/cli.py).

Example:
    python3 scripts/convert_bert_from_google_to_uer.py \
        --input_model_path models/chinese_L-12_H-768_A-12/bert_model.ckpt \
        --output_model_path models/google_zh_model.bin
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.convert.cli import google_to_uer as main  # noqa: E402

if __name__ == "__main__":
    main()
