"""Clinical analyses: analysis dataset, endpoint models, biomarker association and ROC, CONSORT flow, safety tables, the DSMB interim and the trial merge."""
