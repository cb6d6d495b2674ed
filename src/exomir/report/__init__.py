"""The HTML report: one offline file per audience (open and closed DSMB).

Use :func:`exomir.report.builder.build_report`.
"""
