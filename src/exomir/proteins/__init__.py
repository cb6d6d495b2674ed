"""Protein biomarker layer: immunoassay plates to concentrations (docs/proteins.md).

Modules: ``textexport`` (cells, wells and grid blocks of plate-reader text
files), ``platemap`` (plate maps), ``plates`` (:class:`PlateData`, the ELISA
OD readers), ``curves`` (4PL / 5PL fits, drc's LL.4 / LL.5), ``quant``
(blank, range, sample flags, plate verdicts), ``settings`` (config
``proteins.curve`` / ``proteins.acceptance``), ``sheets`` (cross-checks of the
protein sheets), ``plots`` and ``run`` (the workflow step). The Luminex / Olink
readers (``xponent``, ``luminex``, ``npx``, ``npx_qc``) and the protein analysis
(``analysis``, ``integration``) live in their own modules of this package.
"""
