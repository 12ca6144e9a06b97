"""Two `harness bench` runs of the same spec side by side: does each (framework, mode) give the same median?

    .venv/bin/python benchmarks/repeatability.py results/bench/run1 results/bench/run2 [--tolerance 0.10]

Prints, per (sweep value, framework, mode), the median step time of each run, their ratio, and whether they are
within the tolerance (of the smaller one); exit status 1 when any is not.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness.bench.stats import within

KEY = ["sweep_value", "framework", "mode"]


def compare(first: Path, second: Path, tolerance: float) -> pd.DataFrame:
    a, b = (pd.read_csv(folder / "summary.csv", dtype={"sweep_value": str}).query("status == 'ok'")
            for folder in (first, second))
    both = a.merge(b, on=KEY, suffixes=("_1", "_2"), how="outer", sort=False)
    both["ratio"] = both["step_ms_median_2"] / both["step_ms_median_1"]
    both["within"] = [within(x, y, tolerance) for x, y in zip(both["step_ms_median_1"], both["step_ms_median_2"])]
    return both[KEY + ["step_ms_median_1", "step_ms_median_2", "ratio", "within"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.10)
    args = parser.parse_args()
    table = compare(args.first, args.second, args.tolerance)
    if table["sweep_value"].isna().all():
        table = table.drop(columns="sweep_value")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print(f"\n{int(table['within'].sum())} of {len(table)} medians within {100 * args.tolerance:.0f} %")
    return 0 if table["within"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
