"""How fast the commands that only read start: `harness --help`, `list`, `schema`, `run --help`, each in a fresh
process, median and spread of several runs, next to a bare `python -c pass` on the same machine.

    .venv/bin/python benchmarks/startup.py [--runs 9]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HARNESS = Path(sys.executable).with_name("harness")
COMMANDS = {"python -c pass": [sys.executable, "-c", "pass"], "harness --help": [str(HARNESS), "--help"],
            "harness list": [str(HARNESS), "list"], "harness schema": [str(HARNESS), "schema"],
            "harness run --help": [str(HARNESS), "run", "--help"]}


def seconds(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)  # warm the file cache
    found = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        found.append(time.perf_counter() - start)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    base = None
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'x python':>9}")
    for name, command in COMMANDS.items():
        found = seconds(command, args.runs)
        median = statistics.median(found)
        base = base or median
        print(f"{name:<22} {median:>9.3f} {min(found):>7.3f} {max(found):>7.3f} {median / base:>9.1f}")


if __name__ == "__main__":
    main()
