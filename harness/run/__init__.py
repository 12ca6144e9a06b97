"""`harness run` and `harness convert`: one experiment's runs, trained in workers and reported.

Rule: built from the rooms below; never imports another command package (`sweep`, `bench`, `parity`).
"""
