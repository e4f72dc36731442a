"""Test session setup that must run before anything imports Numba.

The CUDA tests run on Numba's simulator unless GRAPHC_TEST_CUDA=gpu. numba-cuda reads
NUMBA_ENABLE_CUDASIM when Numba is imported (and again only on a compile), so it is set here,
before the first test module imports graphc; set in test_cuda.py it came too late whenever an
earlier module had imported Numba and nothing had compiled since, and every CUDA test was
skipped. The flag changes nothing for the CPU tests: only the cuda target imports numba.cuda.
"""

import os

if os.environ.get("GRAPHC_TEST_CUDA") != "gpu":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
