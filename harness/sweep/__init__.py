"""`harness run` on a spec with a `sweep:` block: points, run records, Ray or local processes, the sweep report.

Rule: built from the rooms below; never imports another command package.
"""
