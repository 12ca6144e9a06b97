"""The parity report: parity.md (verdict, forward table, training table, conventions, defaults diff),
parity_steps.csv, parity_forward.csv, parity.json and parity_deltas.png, all written atomically."""

import pandas as pd

from harness.core import atomic, defaults
from harness.jobs import trace


def _weights_note(result) -> str:
    if result.dtype not in trace.MIXED:
        return ""
    return f"; {trace.WEIGHTS_IN_LR:g} learning rates in {result.dtype}"


def _forward_frame(result) -> pd.DataFrame:
    rows = {}
    for comparison in result.comparisons:
        for row in comparison.forward:
            entry = rows.setdefault(row["index"], {"layer": row["index"], "type": row["type"]})
            entry[f"max |Δ| {comparison.a}−{comparison.b}"] = row["max_abs"]
            entry[f"within tolerance {comparison.a}−{comparison.b}"] = row["ok"]
    return pd.DataFrame(list(rows.values()))


def _steps_frame(result) -> pd.DataFrame:
    rows = {}
    for comparison in result.comparisons:
        pair = f"{comparison.a}−{comparison.b}"
        for row in comparison.steps:
            entry = rows.setdefault(row["step"], {"step": row["step"]})
            entry[f"loss_{comparison.a}"], entry[f"loss_{comparison.b}"] = row["loss_a"], row["loss_b"]
            for what in ("loss", "gradients", "weights"):
                entry[f"max |Δ {what}| {pair}"] = row[what]
    return pd.DataFrame(list(rows.values()))


def _summary_lines(result) -> list[str]:
    lines = ["| pair | max \\|Δ loss\\| | max \\|Δ gradient\\| | max \\|Δ weight\\| | first divergence | verdict |",
             "|---|---|---|---|---|---|"]
    for comparison in result.comparisons:
        maxima = comparison.maxima()
        layer, step = comparison.first_forward_divergence, comparison.first_step_divergence
        where = "none"
        if layer:
            where = f"forward, layer {layer['index']} ({layer['type']}): max \\|Δ\\| {layer['max_abs']:.2e}"
        elif step:
            row, quantities = step
            tensor = row["weight_tensor"] if "weights" in quantities else row["gradient_tensor"]
            where = f"step {row['step']}: {', '.join(quantities)} (worst tensor {tensor})"
        lines.append(f"| {comparison.a} − {comparison.b} | {maxima['loss']:.2e} | {maxima['gradients']:.2e} | "
                     f"{maxima['weights']:.2e} | {where} | {'PASS' if comparison.passed else 'FAIL'} |")
    return lines


def known_limits(spec, dtype: str) -> list[str]:
    """Where this spec cannot reach the tolerances, and why (said in the report, before any verdict is read)."""
    activations = {getattr(layer, "activation", None) for layer in spec.model.layers}
    limits = []
    if dtype == "float64" and activations & {"gelu", "leaky_relu"}:
        limits.append("float64 with gelu or leaky_relu: TensorFlow rounds gelu's 1/sqrt(2) and LeakyRelu's slope to "
                      "float32 even for float64 tensors (PyTorch and numpy do not), so differences of about 1e-8 "
                      "remain and the 1e-10 tolerance is not reachable; float32 parity is unaffected.")
    return limits


def _markdown(result, forward: pd.DataFrame) -> str:
    spec, tolerances = result.spec, result.comparisons[0].tolerances
    defaults_table = pd.DataFrame(defaults.table(spec)).to_markdown(index=False)
    conventions = "\n".join(f"- **{side}**: {text}" for side, text in result.conventions.items())
    return "\n".join([
        f"# Parity: {spec.name} — {'PASS' if result.passed else 'FAIL'}", "",
        f"{result.steps} training steps in {result.dtype} from the same initial weights (seed {spec.seeds[0]}), on "
        f"identical batches. Tolerances: forward {tolerances['forward']:g} (relative to outputs larger than 1), "
        f"loss {tolerances['loss']:g}, gradients {tolerances['gradients']:g}"
        f"{' (relative to gradients larger than 1)' if tolerances.get('relative_gradients') else ''}, weights "
        f"{tolerances['weights']:g} (absolute{_weights_note(result)}).", "",
        *[f"**Known limit**: {limit}\n" for limit in known_limits(spec, result.dtype)],
        "## Training", "", *_summary_lines(result), "", "![|Δ| per step](parity_deltas.png)", "",
        "## Forward, layer by layer (inference mode, 64 training samples)", "",
        forward.to_markdown(index=False, floatfmt=".2e"), "",
        "## What parity mode made identical", "",
        "- **Dropout**: one numpy mask per step and dropout layer, applied as x · mask / (1 − rate) on every side.",
        "- **Optimizer update rule**, Keras' convention (Adam: epsilon added to sqrt(v) before the bias "
        "correction; RMSprop and Adagrad: epsilon inside the square root):", conventions,
        "- **Loss**: cross-entropy on logits, mean over the batch; the L1/L2 penalty added to the loss.",
        "- **Compared**: trainable weights (batch normalization's moving statistics do not train; the layer "
        "outputs in inference mode, which use them, are compared by `harness run`'s validation figures).",
        f"- **numpy reference**: {result.reference_note}", "",
        "## Defaults that differ between the frameworks", "",
        "What a naive port would use on each side, and what the harness sets.", "", defaults_table, "",
    ])


def _plot(result, path) -> None:
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are

    from harness.report.plots import write_figure

    figure = Figure(figsize=(13, 3.6))
    axes = figure.subplots(1, 3, sharex=True)
    for axis, what in zip(axes, ("loss", "gradients", "weights")):
        for comparison, style in zip(result.comparisons, ("-", "--", ":")):
            values = [max(row[what], 1e-18) for row in comparison.steps]  # log scale: show exact zeros at 1e-18
            axis.plot([row["step"] for row in comparison.steps], values, style,
                      label=f"{comparison.a} − {comparison.b}")
        axis.axhline(result.comparisons[0].tolerances[what], color="red", linewidth=0.8, label="tolerance")
        axis.set(yscale="log", xlabel="step", title=f"max |Δ {what}|")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{result.spec.name}: parity in {result.dtype}")
    figure.tight_layout()
    write_figure(figure, path)


def write(result) -> None:
    out = result.out_dir
    forward, steps = _forward_frame(result), _steps_frame(result)
    atomic.write_csv(out / "parity_forward.csv", forward)
    atomic.write_csv(out / "parity_steps.csv", steps)
    _plot(result, out / "parity_deltas.png")
    atomic.write_json(out / "parity.json", {
        "spec": result.spec.name, "dtype": result.dtype, "steps": result.steps, "passed": result.passed,
        "pairs": [{"a": c.a, "b": c.b, "passed": c.passed, "maxima": c.maxima(), "tolerances": c.tolerances}
                  for c in result.comparisons]})
    atomic.write_text(out / "parity.md", _markdown(result, forward))
