#!/usr/bin/env bash
# The GPU check in one go (see benchmarks/gpu_check.py): precision vs float32, srzoo bench and a
# 1080p -> 4K video, one table, within 8 minutes. Run from the repository root with srzoo
# installed; SRZOO_SHARED (default ../shared) holds the official weights and Set5.
#   benchmarks/gpu.sh            # on a CUDA machine
#   benchmarks/gpu.sh --dry-run  # every code path on the CPU, tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
export SRZOO_SHARED="${SRZOO_SHARED:-$(cd .. && pwd)/shared}"
exec timeout 480 python benchmarks/gpu_check.py --shared "$SRZOO_SHARED" "$@"
