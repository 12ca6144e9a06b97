"""Bench plots: training throughput per (framework, mode) with its spread, and throughput against a swept axis.
matplotlib is imported inside the functions so that importing the harness stays cheap."""

import numpy as np
import pandas as pd

from harness.bench.settings import FRAMEWORK_TITLES
from harness.report.plots import COLORS, write_figure

_COLORS = {**COLORS, "keras_torch": "#2ca02c"}
_LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 3))]


def throughput_plot(table: pd.DataFrame, path) -> None:
    """Horizontal bars: median training samples/s per (framework, mode) at the first sweep value; the error bar
    spans the samples/s of the repeats' quartiles (batch / q3 to batch / q1)."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are

    first = table[table["point"] == table["point"].iloc[0]]
    ok = first[first["status"] == "ok"].iloc[::-1]
    figure = Figure(figsize=(7.5, 0.45 * max(len(ok), 2) + 1.2))
    axes = figure.subplots()
    if len(ok):
        low = ok["batch_size"] / (ok["step_ms_q3"] / 1000)
        high = ok["batch_size"] / (ok["step_ms_q1"] / 1000)
        errors = np.vstack([ok["samples_per_second"] - low, high - ok["samples_per_second"]])
        labels = [f"{FRAMEWORK_TITLES.get(f, f)}: {m}" for f, m in zip(ok["framework"], ok["mode"])]
        axes.barh(labels, ok["samples_per_second"], xerr=errors, capsize=3,
                  color=[_COLORS.get(f, "#777777") for f in ok["framework"]])
    axes.set_xlabel("training samples / s (median of the repeats; bars: interquartile range)")
    axes.grid(axis="x", alpha=0.3)
    write_figure(figure, path)


def scaling_plot(table: pd.DataFrame, axis: str, path) -> None:
    """Training samples/s and achieved GFLOP/s against the swept value, one line per (framework, mode)."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are

    ok = table[table["status"] == "ok"]
    figure = Figure(figsize=(12, 4.5))
    left, right = figure.subplots(1, 2)
    numeric = pd.to_numeric(ok["sweep_value"], errors="coerce")
    for (framework, mode), rows in ok.groupby(["framework", "mode"], sort=False):
        style = _LINESTYLES[list(dict.fromkeys(ok[ok["framework"] == framework]["mode"])).index(mode) % 6]
        x = numeric[rows.index] if numeric.notna().all() else rows["sweep_value"].astype(str)
        for axes, column in ((left, "samples_per_second"), (right, "achieved_gflops")):
            axes.plot(x, rows[column], marker="o", linestyle=style, color=_COLORS.get(framework, "#777777"),
                      label=f"{FRAMEWORK_TITLES.get(framework, framework)}: {mode}")
    if numeric.notna().all() and (numeric > 0).all():
        for axes in (left, right):
            axes.set_xscale("log", base=2)
    left.set_ylabel("training samples / s (median)")
    right.set_ylabel("achieved GFLOP/s (training)")
    if len(ok):
        right.axhline(ok["matmul_peak_gflops"].median(), color="black", linewidth=0.8, linestyle=":",
                      label="matmul peak (median over runs)")
    for axes in (left, right):
        axes.set_xlabel(axis)
        axes.set_yscale("log")
        axes.grid(alpha=0.3, which="both")
    right.legend(fontsize=7, loc="best")
    write_figure(figure, path)
