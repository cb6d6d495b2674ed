"""Protein biomarker layer: quantification, endpoint analysis and integration."""
