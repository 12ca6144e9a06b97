"""The command line only: parse, call, print. Every error is one line and exit status 2.

Rule: the top floor; nothing imports it but `harness.__main__`.
"""

from harness.cli.commands import main

__all__ = ["main"]
