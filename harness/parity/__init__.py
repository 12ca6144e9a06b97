"""`harness parity`: the frameworks and the numpy reference step by step from the same weights and batches.

Rule: built from the rooms below; never imports another command package.
"""
