"""exomir's cached kernels load without numba's full target refresh, correctly.

Two fresh processes share an empty numba cache: the first compiles a kernel
(numba's full path, saved to the cache), the second loads it from the cache
through :func:`exomir.reads._kernels.base._load_cached_kernels_lightly`. The
second must get the kernel from the cache (a cache hit, no compilation), give
the same answer as the plain-Python definition, and not have loaded the
modules that only numba's full refresh imports (``numba.np.polynomial``).
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = r"""
import json, sys
import numpy as np
from exomir.reads._kernels import low_complexity
seqs = [b"AAAAAAAAAAAAAAAAAAAC", b"ACGTACGTACGTACGTACGT", b"ACGTTTTTTTTTTTTTTTTT", b""]
buf = np.frombuffer(bytearray(b"".join(seqs)), np.uint8)
lengths = np.array([len(s) for s in seqs], np.int64)
starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
flags = low_complexity(buf, starts, lengths, 0.9, 0.8).tolist()
print(json.dumps({
    "flags": flags,
    "hits": sum(low_complexity.stats.cache_hits.values()),
    "misses": sum(low_complexity.stats.cache_misses.values()),
    "refreshed": "numba.np.polynomial.polynomial_core" in sys.modules,
    "scipy_linalg": "scipy.linalg" in sys.modules,
}))
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cached_kernel_loads_lightly_and_gives_the_same_answer(tmp_path):
    # the definition: one base over 90 %, or a run over 80 % of the length
    want = [True, False, True, False]
    first = _run(tmp_path)
    assert first["flags"] == want and first["misses"] == 1
    assert first["refreshed"]  # compiling refreshes the whole target
    assert not first["scipy_linalg"]  # numba's BLAS probe is skipped
    second = _run(tmp_path)
    assert second["flags"] == want
    assert second["hits"] == 1 and second["misses"] == 0
    assert not second["refreshed"]  # the light load skipped the refresh
    assert not second["scipy_linalg"]
