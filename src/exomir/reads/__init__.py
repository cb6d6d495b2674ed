"""Per-library read preprocessing: FASTQ.gz -> collapsed unique inserts + stats.

Modules
-------
fastq
    Validated, fast FASTQ(.gz) reading (:class:`FastqFormatError`).
protocols
    Library protocols (:data:`PRESETS`), :class:`TrimSettings`, adapter
    detection.
preprocess
    Adapter/UMI handling, length filtering, collapsing
    (:func:`preprocess_library`).

The names below are imported lazily, so that importing another module of this
package (e.g. ``exomir.reads.gff``) does not load dnaio and cutadapt.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FastqFormatError": "exomir.reads.fastq",
    "AdapterNotFoundError": "exomir.reads.preprocess",
    "PreprocessStats": "exomir.reads.preprocess",
    "preprocess_library": "exomir.reads.preprocess",
    "PRESETS": "exomir.reads.protocols",
    "Protocol": "exomir.reads.protocols",
    "TrimSettings": "exomir.reads.protocols",
    "get_protocol": "exomir.reads.protocols",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the public names on first use."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
