"""exomir: plasma small-RNA-seq, EV product and clinical analysis for exosome trials.

The package holds all of the logic; the Snakemake workflow only wires the steps
together. Every module is importable and usable without Snakemake.
"""

__version__ = "0.1.0"
