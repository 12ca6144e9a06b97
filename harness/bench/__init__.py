"""`harness bench`: fair speed measurement of the frameworks, in turns, with statistics and plots.

Rule: built from the rooms below; never imports another command package.
"""
