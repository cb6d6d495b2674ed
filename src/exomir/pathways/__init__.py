"""PI3K/AKT and MAPK target-pathway scoring of miRNA changes (analysis_spec.md §2).

Modules: :mod:`~exomir.pathways.network` (interaction tables, miRTarBase
conversion, miRBase name mapping), :mod:`~exomir.pathways.genesets` (GMT
gene sets, pathway roles), :mod:`~exomir.pathways.scoring` (weighted
network, decoupler per-sample scores, contrast enrichment with a
degree-preserving null), :mod:`~exomir.pathways.stats` (ANCOVA, Holm,
plot) and :mod:`~exomir.pathways.run` (workflow steps).
"""
