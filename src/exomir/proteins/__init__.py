"""Protein biomarker layer: plate reads, multiplex and Olink NPX inputs."""
