#!/usr/bin/env bash
# The GPU work of issue 4 in one or two calls of the device tool's `run` (10 minutes each):
#
#   bash bench/gpu_session.sh bench      # versions, bench/gpu.py -> $OUT/RESULTS-gpu.md
#   bash bench/gpu_session.sh tests      # tests/test_cuda.py on the GPU (GRAPHC_TEST_CUDA=gpu)
#
# The device machine cannot install anything; its image already has numba, numba-cuda, NumPy,
# pytest, hypothesis, PyTorch and JAX for python3, so graphc runs from this checkout through
# PYTHONPATH. Logs and results go to $OUT (the device tool's folder; /tmp/graphc-gpu here).
# Arguments after the first go to bench/gpu.py. Dry run without a GPU:
#   NUMBA_ENABLE_CUDASIM=1 bash bench/gpu_session.sh bench --tiny
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 GRAPHC_CACHE_DIR="${TMPDIR:-/tmp}/graphc-gpu-cache"
OUT="${OUT:-/tmp/graphc-gpu}"
mkdir -p "$OUT"
what="${1:-bench}"
shift || true

{
    date -u
    nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"
    python3 - <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
print("python", sys.version.split()[0])
for name in ("numpy", "numba", "numba-cuda", "llvmlite", "torch", "jax"):
    try:
        print(name, version(name))
    except PackageNotFoundError:
        print(name, "absent")
EOF
} 2>&1 | tee "$OUT/versions.txt"

case "$what" in
    bench)
        timeout 540 python3 bench/gpu.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu-bench.log"
        ;;
    tests)
        GRAPHC_TEST_CUDA=gpu timeout 540 python3 -m pytest -q -p no:cacheprovider \
            tests/test_cuda.py 2>&1 | tee "$OUT/test-cuda-gpu.log"
        ;;
    *)
        echo "usage: bash bench/gpu_session.sh bench|tests [gpu.py arguments]" >&2
        exit 2
        ;;
esac
