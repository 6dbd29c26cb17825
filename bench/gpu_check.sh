#!/usr/bin/env bash
# One-command GPU check (see bench/gpu_check.py): BERT-base pre-training tokens/s and MFU in
# fp32 (TF32) / bf16 / fp16, with and without --compile, alone and through DDP; classifier
# fine-tuning and inference examples/s; peak memory. Needs bash, python3 and torch only.
#   bench/gpu_check.sh            # on a machine with one NVIDIA GPU, < 8 minutes
#   bench/gpu_check.sh --dry      # CPU, tiny config, two steps per row (tests/test_gpu_check.py)
# Extra options go to bench/gpu_check.py (--budget SECONDS, --json PATH, --steps N, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
# A hard stop a little after the rows' own budget, so the whole check never passes 8 minutes.
if command -v timeout >/dev/null 2>&1; then
    exec timeout --kill-after=10 470 "$PYTHON" bench/gpu_check.py "$@"
fi
exec "$PYTHON" bench/gpu_check.py "$@"
