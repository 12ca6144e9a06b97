"""The network as code: a spec written out as two standalone scripts, `model_keras.py` (Sequential, compile, fit)
and `model_torch.py` (an nn.Module, its optimizer, its loss, its loop), as a careful person would write them.

Text only: no framework is imported here. The scripts import only numpy and their framework; each place where
the frameworks differ and the script does something about it carries a comment that starts with
`# Differs from Keras:` or `# Differs from PyTorch:` (`common.DIFFERS`), which the report marks.
"""
