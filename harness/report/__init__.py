"""Pure renderers of a `Results`: Markdown, HTML, LaTeX, plots, the comparison of two folders, MLflow and the
TensorBoard reader.

Rule: renders what it is given; imports only `harness.results` and the rooms below.
"""
