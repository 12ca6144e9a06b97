"""The command line only: parse, call, print. Every error is one line and exit status 2.

`harness run | bench | parity | convert | compare | mlflow | report` (commands.py), `import | export | code` (port.py),
`validate | list | schema` (info.py); the options are in parser.py. No framework is imported here: `run` starts
worker processes (or imports an adapter lazily with --in-process).

Rule: the top floor; nothing imports it but `harness.__main__`.
"""

import os
import signal
import sys
import threading
import warnings

from harness.cli import commands, info, port
from harness.cli.parser import build_parser
from harness.core.errors import SpecError

COMMANDS = {"run": commands.cmd_run, "bench": commands.cmd_bench, "parity": commands.cmd_parity,
            "convert": commands.cmd_convert, "compare": commands.cmd_compare, "mlflow": commands.cmd_mlflow,
            "validate": info.cmd_validate, "list": info.cmd_list, "schema": info.cmd_schema,
            "report": commands.cmd_report, "import": port.cmd_import, "export": port.cmd_export,
            "code": port.cmd_code}


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: workers stopped, working folders removed


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help (0) or a refused argument (2, its one line already printed)
        return exit.code if isinstance(exit.code, int) else 0
    warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes on absurd inputs: the checks say more
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return COMMANDS[args.command](args)
    except SpecError as error:
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: a failure no check foresaw still ends in one line
        if os.environ.get("HARNESS_DEBUG"):
            raise
        kind = "" if isinstance(error, (OSError, MemoryError)) else "unexpected "
        print(f"error: {kind}{type(error).__name__}: {_one_line(str(error))[:300]} (HARNESS_DEBUG=1 shows where)",
              file=sys.stderr)
        return 2
