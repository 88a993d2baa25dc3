#!/usr/bin/env bash
# Retrain LKDN-S x2/x3 and AIDN x2/x3 on one CUDA GPU and evaluate them (benchmarks/train_gpu.py),
# within 10 minutes. Run from the repository root with srzoo[train] installed; SRZOO_SHARED
# (default ../shared) holds the official weights and the datasets.
#   benchmarks/train_gpu.sh            # on a CUDA machine
#   benchmarks/train_gpu.sh --dry-run  # the same steps on the CPU, tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
export SRZOO_SHARED="${SRZOO_SHARED:-$(cd .. && pwd)/shared}"
exec timeout 600 python benchmarks/train_gpu.py --shared "$SRZOO_SHARED" "$@"
