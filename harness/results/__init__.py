"""What a finished command leaves behind: the run records, the tables and manifest, one checked `Results` object
loaded once, the statistics and the analysis.

Rule: imports only the rooms below (`launch`, `jobs`, `core`); never a renderer.
"""
