"""What runs inside one worker process: the typed Job (one schema for every kind), `execute`, the training loop,
the bench measurements and the parity trace.

Rule: imports only `harness.core`; an adapter (`models_tf`, `models_torch`) is loaded by name in `frameworks`.
"""
