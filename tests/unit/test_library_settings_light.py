"""The per-library job's pickled settings unpickle without numpy or numba.

Snakemake pickles ``params.settings`` of rule ``library`` into every job
script; unpickling imports the modules defining the classes. They live in
light modules (:mod:`exomir.reads.settings`), so the job script can set up
its environment (one OpenBLAS thread) before numpy is first imported. Checked
in a fresh interpreter; the same objects are still exported where they were.
"""

import pickle
import subprocess
import sys

from exomir.reads.annotate import AnnotationParams
from exomir.reads.library import LibrarySettings, library_settings
from exomir.reads.protocols import TrimSettings


def test_settings_unpickle_without_numpy_or_numba():
    cfg = {
        "trimming": {"min_length": 17, "max_length": 30},
        "annotation": {"max_nta": 2},
        "kit_detection": {"probe_length": 12},
    }
    settings = library_settings(cfg)
    assert isinstance(settings, LibrarySettings)
    assert isinstance(settings.trim, TrimSettings)
    assert settings.annotation == AnnotationParams(max_nta=2)
    data = pickle.dumps(settings)
    code = (
        "import pickle, sys\n"
        f"s = pickle.loads({data!r})\n"
        "assert s.annotation.max_nta == 2 and s.trim.min_length == 17\n"
        "heavy = [m for m in ('numpy', 'numba', 'dnaio') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
    assert pickle.loads(data) == settings
