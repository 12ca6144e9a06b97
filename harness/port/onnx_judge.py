"""One referee for both frameworks: their ONNX exports of the same spec and weights, run in the same onnxruntime
(one CPU thread, no framework loaded) on the same probe batch. Two files that compute the same function agree to
float32 round-off; their operator lists show how differently the two exporters spell it.
"""

import numpy as np

from harness.core.onnx_runtime import onnx_runner
from harness.jobs.artifact import TOLERANCE, operator_counts

SIDES = ("tensorflow", "torch")


def judge(tf_onnx_path, torch_onnx_path, batch: np.ndarray) -> dict:
    """Both ONNX files on `batch` (N, *input_shape) float32. Returns max_difference between their outputs,
    within_tolerance (<= TOLERANCE), samples, the onnxruntime version and operators {op_type: [tensorflow count,
    torch count]}."""
    import onnxruntime

    paths = dict(zip(SIDES, (tf_onnx_path, torch_onnx_path)))
    outputs = {side: onnx_runner(path)(batch) for side, path in paths.items()}
    if outputs["tensorflow"].shape != outputs["torch"].shape:
        raise ValueError(f"the exports' outputs differ in shape: {outputs['tensorflow'].shape} (tensorflow) vs "
                         f"{outputs['torch'].shape} (torch)")
    difference = float(np.max(np.abs(outputs["tensorflow"] - outputs["torch"])))
    counts = {side: operator_counts(path) for side, path in paths.items()}
    names = sorted(set(counts["tensorflow"]) | set(counts["torch"]))
    return {"max_difference": difference, "within_tolerance": difference <= TOLERANCE, "tolerance": TOLERANCE,
            "samples": int(len(batch)), "onnxruntime": onnxruntime.__version__,
            "operators": {name: [counts[side].get(name, 0) for side in SIDES] for name in names}}


def judge_table(result: dict) -> str:
    """The judge's verdict line, then a Markdown table of operator counts side by side."""
    verdict = "agree" if result["within_tolerance"] else "DISAGREE"
    lines = [f"ONNX judge (onnxruntime {result['onnxruntime']}, {result['samples']} probe samples): largest "
             f"difference tensorflow vs torch export {result['max_difference']:.2g} "
             f"(tolerance {result['tolerance']:g}: {verdict})", "",
             "| ONNX operator | tensorflow | torch |", "|---|---:|---:|"]
    lines += [f"| {name} | {tf_count} | {torch_count} |"
              for name, (tf_count, torch_count) in result["operators"].items()]
    totals = [sum(counts[index] for counts in result["operators"].values()) for index in (0, 1)]
    lines.append(f"| **all** | {totals[0]} | {totals[1]} |")
    return "\n".join(lines)
