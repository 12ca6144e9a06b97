"""Framework-free facts: errors, the name registry, the guarded file edge, the spec and its validation, shapes,
initial weights, data, metrics, FLOPs, the defaults table, memory estimates, folders and atomic writes, the numpy
reference model.

Rule: imports nothing else of the harness, and never TensorFlow or PyTorch.
"""
