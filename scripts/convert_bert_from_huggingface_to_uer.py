"""Convert a HuggingFace BERT (BertForPreTraining, BertForMaskedLM or BertModel) to a UER
checkpoint and its UER config JSON (options: uer/convert/cli.py).

Example:
    python3 scripts/convert_bert_from_huggingface_to_uer.py --input_model_path bert-base-chinese/ \
        --output_model_path models/google_zh_model.bin
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from uer.convert.cli import huggingface_to_uer as main  # noqa: E402

if __name__ == "__main__":
    main()
