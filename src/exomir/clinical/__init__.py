"""Clinical endpoints, populations, biomarker association and the trial merge."""
