"""Simulation of the NCT07183384 trial with known truth.

Modules
-------
params
    Documented defaults (``defaults.yaml``), presets and overrides.
trial
    Screening, stratified randomisation, disposition, dropouts, sample sheet.
clinical
    Clinical measurements, adverse events and the ED reference standard.
ev
    EV product lots and NanoSight/ZetaView NTA exports.
expression, library
    miRNA expression truth and read-level FASTQ simulation.
scenario
    ``exomir simulate``: writes a complete scenario directory and its truth.
accuracy
    Accuracy of the reads-to-counts stage against the simulator's truth.
pathways
    Small simulated trials for checking the pathway scores.
"""
