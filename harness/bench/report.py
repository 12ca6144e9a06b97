"""The bench folder: raw samples (bench.csv), one row per measurement (summary.csv), bench.md, bench.json and plots.

Every table is derived from the raw samples in the run records, so the spread shown is the spread measured.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from harness.bench.settings import DEFAULT_MODES, FRAMEWORK_TITLES, MODES
from harness.bench.stats import ratio, summarize
from harness.core import atomic

RAW_FIGURES = ("ready_seconds", "first_step_seconds", "train_step_seconds", "infer_batch1_seconds",
               "infer_large_seconds", "matmul_gflops")


def raw_samples(records: list[dict], axis) -> pd.DataFrame:
    """Long table: one row per sample (framework, mode, sweep value, round, figure, index, value)."""
    rows = []
    for record in records:
        for figure in RAW_FIGURES:
            values = record.get(figure)
            for index, value in enumerate(values if isinstance(values, list) else [values] if values else []):
                rows.append({"framework": record["framework"], "mode": record["mode"], "sweep_axis": axis,
                             "sweep_value": record["sweep_value"], "round": record.get("round", 0),
                             "figure": figure, "index": index, "value": value})
    return pd.DataFrame(rows, columns=["framework", "mode", "sweep_axis", "sweep_value", "round", "figure", "index",
                                       "value"])


POOLED = ("train_step_seconds", "infer_batch1_seconds", "infer_large_seconds", "matmul_gflops")
PER_PROCESS = ("ready_seconds", "first_step_seconds", "peak_rss_mb")


def pool_rounds(records: list[dict]) -> list[dict]:
    """One record per (point, framework, mode): sample lists concatenated over the rounds, per-process figures
    (first step, start-up, peak RSS) as the median over the rounds' processes. A failed round fails the run."""
    groups: dict = {}
    for record in records:
        groups.setdefault((record["point"], record["framework"], record["mode"]), []).append(record)
    pooled = []
    for group in groups.values():
        bad = [record for record in group if record["status"] != "ok"]
        merged = {**group[0], "rounds": len(group)}
        if bad:
            merged.update(status=bad[0]["status"], error=bad[0].get("error", ""))
        else:
            merged.update({name: [v for record in group for v in record[name]] for name in POOLED})
            merged.update({name: float(np.median([record[name] for record in group])) for name in PER_PROCESS})
            merged["round_step_medians"] = [summarize(record["train_step_seconds"])["median"] for record in group]
        pooled.append(merged)
    return pooled


def _row(record: dict) -> dict:
    row = {"point": record["point"], "framework": record["framework"], "mode": record["mode"],
           "sweep_value": record["sweep_value"],
           "status": record["status"], "error": record.get("error", ""), "peak_rss_mb": record.get("peak_rss_mb")}
    if record["status"] != "ok":
        return row
    step = summarize(record["train_step_seconds"])
    batch1, large = summarize(record["infer_batch1_seconds"]), summarize(record["infer_large_seconds"])
    peak = max(record["matmul_gflops"])
    samples_per_second = record["batch_size"] / step["median"]
    achieved = record["train_flops_per_sample"] * samples_per_second / 1e9
    return {**row, "device": record["device"], "intra_op_threads": record["threads"]["intra_op_threads"],
            "inter_op_threads": record["threads"]["inter_op_threads"], "batch_size": record["batch_size"],
            "steps_per_repeat": record["steps"], "rounds": record["rounds"], "repeats": step["n"],
            "round_medians_ms": " ".join(f"{1000 * v:.3f}" for v in record["round_step_medians"]),
            "ready_seconds": record["ready_seconds"],
            "first_step_seconds": record["first_step_seconds"], "step_ms_median": 1000 * step["median"],
            "step_ms_q1": 1000 * step["q1"], "step_ms_q3": 1000 * step["q3"], "step_ms_iqr": 1000 * step["iqr"],
            "step_spread_percent": step["spread_percent"], "samples_per_second": samples_per_second,
            "infer_batch1_ms_p50": 1000 * batch1["p50"], "infer_batch1_ms_p95": 1000 * batch1["p95"],
            "infer_large_ms_p50": 1000 * large["p50"], "infer_large_ms_p95": 1000 * large["p95"],
            "params": record["params"], "train_flops_per_sample": record["train_flops_per_sample"],
            "achieved_gflops": achieved, "matmul_peak_gflops": peak,
            "matmul_median_gflops": float(np.median(record["matmul_gflops"])),
            "peak_share_percent": 100 * achieved / peak}


def summary_table(records: list[dict]) -> pd.DataFrame:
    """One row per (sweep value, framework, mode), with speed-ups against the framework's default mode and
    against the reference: the first framework's default mode at the same sweep value."""
    table = pd.DataFrame([_row(record) for record in pool_rounds(records)])
    if "samples_per_second" not in table:
        table["samples_per_second"] = np.nan
    speed = {(r.framework, r.mode, r.point): r.samples_per_second for r in table.itertuples()}
    reference = table["framework"].iloc[0]
    table["speedup_vs_default"] = [ratio(r.samples_per_second, speed.get(
        (r.framework, DEFAULT_MODES[r.framework], r.point), np.nan)) for r in table.itertuples()]
    table["speedup_vs_reference"] = [ratio(r.samples_per_second, speed.get(
        (reference, DEFAULT_MODES[reference], r.point), np.nan)) for r in table.itertuples()]
    return table


def _number(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _run_name(row) -> tuple[str, str]:
    return FRAMEWORK_TITLES.get(row.framework, row.framework), row.mode


def _training_rows(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    rows = []
    for row in table.itertuples():
        name = _run_name(row)
        if row.status != "ok":
            rows.append({"framework": name[0], "mode": name[1], "first step (s)": f"{row.status}: {row.error}"})
            continue
        rows.append({"framework": name[0], "mode": name[1], "first step (s)": _number(row.first_step_seconds),
                     "step (ms), median": _number(row.step_ms_median, 3),
                     "IQR (ms)": f"{_number(row.step_ms_q1, 3)} – {_number(row.step_ms_q3, 3)}",
                     "spread": f"{_number(row.step_spread_percent, 1)} %",
                     "each round's median (ms)": row.round_medians_ms,
                     "samples/s": _number(row.samples_per_second, 0),
                     "× own default": _number(row.speedup_vs_default),
                     f"× {reference}": _number(row.speedup_vs_reference)})
    return pd.DataFrame(rows)


def _inference_rows(table: pd.DataFrame, large_batch: int) -> pd.DataFrame:
    rows = []
    for row in table[table["status"] == "ok"].itertuples():
        name = _run_name(row)
        rows.append({"framework": name[0], "mode": name[1],
                     "batch 1 p50 (ms)": _number(row.infer_batch1_ms_p50, 3),
                     "batch 1 p95 (ms)": _number(row.infer_batch1_ms_p95, 3),
                     f"batch {large_batch} p50 (ms)": _number(row.infer_large_ms_p50, 2),
                     f"batch {large_batch} p95 (ms)": _number(row.infer_large_ms_p95, 2),
                     "peak RSS (MiB)": _number(row.peak_rss_mb, 0), "start-up to data ready (s)":
                     _number(row.ready_seconds)})
    return pd.DataFrame(rows)


def _work_rows(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in table[table["status"] == "ok"].itertuples():
        name = _run_name(row)
        rows.append({"framework": name[0], "mode": name[1], "params": f"{row.params:,}",
                     "training FLOPs / sample": f"{row.train_flops_per_sample:,}",
                     "achieved GFLOP/s": _number(row.achieved_gflops, 2),
                     "matmul peak GFLOP/s": _number(row.matmul_peak_gflops, 1),
                     "share of peak": f"{_number(row.peak_share_percent, 1)} %"})
    return pd.DataFrame(rows)


def _settings_lines(facts: dict, table: pd.DataFrame) -> list[str]:
    settings, machine = facts["settings"], facts["machine"]
    ok = table[table["status"] == "ok"]
    batch = int(ok["batch_size"].iloc[0]) if len(ok) and settings["sweep"] is None else "see the sweep"
    steps = int(ok["steps_per_repeat"].iloc[0]) if len(ok) and settings["sweep"] is None else "one pass"
    threads = sorted({f"{r.intra_op_threads}/{r.inter_op_threads}" for r in ok.itertuples()})
    return [
        f"- **Machine:** {machine['cpu']}, {machine['logical_cores']} logical cores, {machine['platform']}, "
        f"Python {machine['python']}; device **{settings['device_resolved']}**"
        + ("" if settings["device_resolved"] == "cpu" else f" (TF32 {'on' if settings['tf32'] else 'off'})"),
        f"- **Libraries:** {facts.get('versions', '')}; harness commit `{facts['git_commit']}`",
        f"- **Threads:** {settings['threads']} asked of every framework; intra/inter-op reported back: "
        f"{', '.join(threads) or '–'}",
        f"- **Training:** batch {batch}, {steps} steps per timed repeat; {settings['rounds']} rounds (a fresh "
        f"process each) x {settings['repeats']} repeats after {settings['warmup_steps']} warm-up steps, pooled; "
        + ("the runs took turns, one repeat each" if settings.get("interleave") else "one run after another")
        + f"; steps_per_execution N = {settings['steps_per_execution']}",
        f"- **Inference:** {settings['infer_calls']} calls at batch 1, {max(5, settings['infer_calls'] // 10)} at "
        f"batch {settings['large_batch']}, one call at a time after 5 warm-up calls",
        f"- **Command:** `{facts['command']}`" if facts.get("command") else "",
        f"- Finished {facts['finished_at']}.",
    ]


METHOD = """## How this was measured

- Each (framework, mode) ran in its own fresh process, once per round, the rounds one after another; samples
  are pooled over the rounds, so the spread includes process-to-process differences. Within a round the
  processes were started one at a time (build, compile and warm-up alone on the machine) and then took turns,
  one timed repeat each, only one computing at any moment: every run's samples spread over the same minutes,
  so a slow drift of the machine's speed falls on all runs alike (`--sequential` measures each run to its
  end instead). The data was in memory before any
  timing started; every framework got the same batch size, samples in the same order, and the same thread count
  for intra- and inter-op work, set before its first op (and OMP/MKL variables, set before import).
- **First step** covers building the model, compiling it (tracing, XLA or torch.compile) and the first training
  step. **Step time** is the time of one timed repeat (`steps` training steps through the harness' own
  `train_epoch`, as `harness run` trains) divided by its steps; warm-up steps are not counted. The median and the
  interquartile range are over the repeats; *spread* is IQR / median. Python's garbage collector runs before
  each timed repeat and is paused during it, as `timeit` does.
- **Inference** times one call at a time (Keras `predict_on_batch`; PyTorch `forward` under `no_grad` in eval
  mode), including the copy of the result to the host.
- **FLOPs** count the matrix products of the spec's layers (multiply-add = 2 FLOPs, training = 3 × forward);
  elementwise work is left out. **Achieved GFLOP/s** = training FLOPs per sample × samples/s. The **matmul peak**
  is the best of 10 float32 square products (size in bench.json) timed in that process, in that framework, with
  the same threads.
- **Peak RSS** is the process' maximum resident memory (framework import included).
"""


def render_markdown(table: pd.DataFrame, facts: dict) -> str:
    settings = facts["settings"]
    spec = facts["spec"]
    reference = f"{table['framework'].iloc[0]} {DEFAULT_MODES[table['framework'].iloc[0]]}"
    first = table[table["point"] == table["point"].iloc[0]]
    where = f" at {settings['sweep'][0]} = {first['sweep_value'].iloc[0]}" if settings["sweep"] else ""
    parts = [f"# Benchmark: {spec['name']}", "", spec.get("description", ""), "",
             *[line for line in _settings_lines(facts, table) if line], "",
             f"## Training{where}", "", _training_rows(first, reference).to_markdown(index=False), "",
             "![throughput](bench_throughput.png)", "",
             f"## Inference and resources{where}", "",
             _inference_rows(first, settings["large_batch"]).to_markdown(index=False), "",
             f"## Work and hardware use{where}", "", _work_rows(first).to_markdown(index=False), ""]
    if settings["sweep"]:
        parts += [f"## Scaling with {settings['sweep'][0]}", "", scaling_table(table).to_markdown(), "",
                  "![scaling](bench_scaling.png)", ""]
    modes = pd.DataFrame([{"framework": FRAMEWORK_TITLES[f], "mode": m, "what runs": MODES[f][m][1]}
                          for f, m in dict.fromkeys(zip(table["framework"], table["mode"]))])
    parts += ["## Modes", "", modes.to_markdown(index=False), "", METHOD]
    return "\n".join(parts)


def scaling_table(table: pd.DataFrame) -> pd.DataFrame:
    """Samples per second: sweep values down, (framework, mode) across."""
    ok = table[table["status"] == "ok"].copy()
    ok["run"] = ok["framework"] + " " + ok["mode"]
    wide = ok.pivot_table(index="sweep_value", columns="run", values="samples_per_second", sort=False)
    return wide.map(lambda value: _number(value, 0))


def write_bench(out: Path, records: list[dict], facts: dict) -> pd.DataFrame:
    """Writes bench.csv, summary.csv, bench.json, bench.md and the plots into `out`; returns summary.csv's table."""
    from harness.bench.plots import scaling_plot, throughput_plot

    out = Path(out)
    axis = facts["settings"]["sweep"][0] if facts["settings"]["sweep"] else None
    versions = {}
    for record in records:
        versions.update(record.get("versions") or {})
    facts = {**facts, "versions": ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))}
    table = summary_table(records)
    atomic.write_csv(out / "bench.csv", raw_samples(records, axis))
    atomic.write_csv(out / "summary.csv", table)
    atomic.write_json(out / "bench.json", facts)
    throughput_plot(table, out / "bench_throughput.png")
    if axis:
        scaling_plot(table, axis, out / "bench_scaling.png")
    atomic.write_text(out / "bench.md", render_markdown(table, facts))
    return table
