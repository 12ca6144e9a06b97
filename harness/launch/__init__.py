"""How jobs get to processes: a local subprocess (or the calling process), bench turns, Ray.

Rule: imports only `harness.jobs` and `harness.core`.
"""
