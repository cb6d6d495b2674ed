"""Simulation of the NCT07183384 trial with known truth.

``exomir simulate`` (:mod:`~exomir.simulate.scenario`) writes a complete
scenario directory and its ``truth/``; :mod:`~exomir.simulate.accuracy` checks
a workflow run against that truth. One module per concern (trial, clinical,
adverse events, EV, read model, references, expression, library, sequencing,
study, truth, pathways); the layout is described in ``docs/simulate.md``.
"""
