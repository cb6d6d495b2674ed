"""Clinical analyses: endpoints, biomarker ROC, CONSORT flow, safety and the DSMB interim."""
