"""numba set-up and shared helpers: 3-bit base codes, key hashing, insertion."""

from __future__ import annotations

from typing import Any

import numpy as np


def _import_numba_without_blas() -> None:
    """Load numba's array lowering without its BLAS probe.

    The first call of any compiled (or cached) kernel makes numba import
    ``numba.np.arraymath``, which probes for BLAS by importing
    ``scipy.linalg``: 0.4 CPU-s per process, for ``np.dot`` and friends that
    these kernels do not use. Unless scipy's linear algebra is already
    loaded, the probe is answered "absent" here (only numba's own compiled
    linear algebra is affected; nothing in exomir compiles any) and the
    import system is left as it was.
    """
    import sys

    name = "scipy.linalg.cython_blas"
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    sys.modules[name] = None  # type: ignore[assignment]  # import raises
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]


def _load_cached_kernels_lightly() -> None:
    """Load this package's cached kernels without numba's full target refresh.

    Before loading a kernel from its cache, numba refreshes its CPU target:
    it imports about 30 of its own modules (typed containers, random
    generators, polynomials, linear algebra, jitclass...) and installs their
    typing and lowering registries, about 0.1 CPU-s per process, which
    *compiling* needs but running machine code from the cache does not. For
    the kernels of :mod:`exomir.reads` a cache load here only initialises
    numba's runtime (NRT, which the kernels call to allocate arrays); a cache
    miss still compiles with the full refresh (numba's compiler refreshes the
    target itself), a load that fails this way is retried numba's way, and
    every other package's cached functions load numba's way.
    """
    import os
    from pathlib import Path

    from numba.core import caching
    from numba.core.runtime import rtsys

    standard = caching.Cache.load_overload
    if getattr(standard, "exomir_light", False):
        return
    ours = str(Path(__file__).resolve().parents[1]) + os.sep

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        code = getattr(getattr(self, "_py_func", None), "__code__", None)
        if not str(getattr(code, "co_filename", "")).startswith(ours):
            return standard(self, sig, target_context)
        rtsys.initialize(target_context)
        try:
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception:  # e.g. a symbol that only the full refresh provides
            return standard(self, sig, target_context)

    load_overload.exomir_light = True  # type: ignore[attr-defined]
    caching.Cache.load_overload = load_overload  # type: ignore[method-assign]


try:
    import numba as nb

    _import_numba_without_blas()
    _load_cached_kernels_lightly()
    NUMBA = True
    njit = nb.njit
except ImportError:  # pragma: no cover - plain Python (slow) without numba
    NUMBA = False

    def njit(*args, **kwargs):
        """Return the function unchanged (numba is not installed)."""
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


#: Bases per 64-bit key word.
BASES_PER_WORD = 21


_CODE = np.zeros(256, dtype=np.uint64)
for _i, _b in enumerate(b"ACGNT"):
    _CODE[_b] = _i + 1
_BASE2 = np.full(256, 255, dtype=np.uint8)  # 2-bit code for the probe search
for _i, _b in enumerate(b"ACGT"):
    _BASE2[_b] = _i
_LETTERS = np.frombuffer(b"\x00ACGNT\x00\x00", dtype=np.uint8).copy()

_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_SH = np.uint64(31)


@njit(inline="always")
def _hash(words: np.ndarray, nw: int) -> np.uint64:
    h = np.uint64(0)
    for w in range(nw):
        h = (h ^ words[w]) * _MIX1
        h ^= h >> _SH
    h *= _MIX2
    h ^= h >> _SH
    return h


@njit(inline="always")
def _add(
    tkeys: np.ndarray, tcount: np.ndarray, words: np.ndarray, nw: int, n: int
) -> int:
    """Add ``n`` to the count of ``words``; return 1 if the key is new."""
    mask = np.uint64(len(tcount) - 1)
    h = _hash(words, nw) & mask
    while True:
        c = tcount[h]
        if c == 0:
            for w in range(nw):
                tkeys[h, w] = words[w]
            tcount[h] = np.uint64(n)
            return 1
        same = True
        for w in range(nw):
            if tkeys[h, w] != words[w]:
                same = False
                break
        if same:
            tcount[h] = c + np.uint64(n)
            return 0
        h = (h + np.uint64(1)) & mask


@njit(inline="always")
def _encode(buf, start: int, length: int, words: np.ndarray, nw: int) -> None:
    for w in range(nw):
        words[w] = np.uint64(0)
    for j in range(length):
        w = j // BASES_PER_WORD
        k = j - w * BASES_PER_WORD
        shift = np.uint64(3 * (BASES_PER_WORD - 1 - k))
        words[w] |= _CODE[buf[start + j]] << shift
