"""Every layer family x every export format of both frameworks, as `harness export` makes them: the README's table.

Each family's model gets its initial weights (batch normalization's statistics drawn away from 0 and 1), then one
`harness.port.exporting.export` per family writes every artifact, checks it in its runtime against the framework's
own output on a 1024-sample probe batch, and times batch 1 and batch 1024 there (one CPU thread, warm-up first,
medians). Each (framework, format) runs in a fresh worker process unless --in-process.

    .venv/bin/python benchmarks/exports.py [--repeats N] [--in-process] [--json rows.json]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from harness.core import init, validate, weights_npz  # noqa: E402
from harness.port import exporting  # noqa: E402

PACKAGES = ("numpy", "tensorflow-cpu", "keras", "torch", "onnx", "onnxscript", "onnxruntime", "tf2onnx",
            "ai-edge-litert")


def _dense(units, activation="linear"):
    return {"type": "dense", "units": units, "activation": activation, "bias_initializer": "he_uniform"}


FAMILIES = {
    "dense MLP": ([8], [_dense(16, "relu"), _dense(4, "softmax")]),
    "conv1d + pool": ([16, 3], [{"type": "conv1d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                                {"type": "max_pool1d"}, {"type": "flatten"}, _dense(3, "softmax")]),
    "conv2d + pool + flatten + dense": ([8, 8, 2], [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"}, {"type": "max_pool2d"},
        {"type": "flatten"}, _dense(6, "tanh"), _dense(3, "softmax")]),
    "batch normalization": ([6], [_dense(8), {"type": "batch_normalization", "epsilon": 0.01},
                                  _dense(3, "softmax")]),
    "embedding": ([6], [{"type": "embedding", "input_dim": 12, "output_dim": 4},
                        {"type": "global_average_pool1d"}, _dense(3, "softmax")]),
    "lstm": ([5, 3], [{"type": "lstm", "units": 4}, _dense(3, "softmax")]),
    "gru": ([5, 3], [{"type": "gru", "units": 4}, _dense(3, "softmax")]),
    "simple_rnn": ([5, 3], [{"type": "simple_rnn", "units": 4}, _dense(3, "softmax")]),
}


def spec_of(family: str):
    shape, layers = FAMILIES[family]
    return validate.parse_spec({
        "name": family.split()[0].replace("+", ""), "loss": "categorical_crossentropy", "optimizer": "sgd",
        "data": {"dataset": "iris", "standardize": family != "embedding"},  # never loaded here
        "model": {"input_shape": shape, "layers": layers}})


def weights_of(spec) -> list[np.ndarray]:
    """Initial weights; batch normalization's gamma, beta and moving statistics drawn away from 1 and 0."""
    rng = np.random.default_rng(7)
    arrays = []
    for name, array, _ in init.canonical_weights(spec.model, 0):
        if name.endswith(("moving_variance", "gamma")):
            array = rng.uniform(0.5, 2.0, array.shape)
        elif name.endswith(("moving_mean", "beta")):
            array = rng.normal(size=array.shape)
        arrays.append(np.asarray(array, np.float32))
    return arrays


def versions() -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return (f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
            + ", ".join(found))


def table(rows_by_family: dict) -> str:
    header = ["family", *exporting.HEADER]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 4 + "---:|" * 4]
    notes, judges = [], ["| family | ONNX judge: tensorflow vs torch | ONNX operators (tensorflow / torch) |",
                         "|---|---:|---:|"]
    for family, rows in rows_by_family.items():
        for row in rows:
            if row.get("kind") == "onnx_judge":
                totals = [sum(pair[index] for pair in row["operators"].values()) for index in (0, 1)]
                judges.append(f"| {family} | {row['max_difference']:.1e} | {totals[0]} / {totals[1]} |")
                continue
            lines.append("| " + " | ".join([family, *exporting.row_cells(row)]) + " |")
            if row["status"] != "ok":
                notes.append(f"- {family}, {row['framework']} {row['format']}: "
                             f"{row.get('reason') or row.get('error')}")
    return "\n\n".join(["\n".join(lines), "\n".join(notes) or "(every format exported every family)",
                        "\n".join(judges)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per batch size (default: 25 at "
                                                                  "batch 1, 5 at batch 1024)")
    parser.add_argument("--in-process", action="store_true", help="no worker processes (quicker, less isolated)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row (raw latency samples too)")
    args = parser.parse_args()
    rows_by_family = {}
    with tempfile.TemporaryDirectory(prefix="harness-exports-") as folder:
        for index, family in enumerate(FAMILIES):
            spec, work = spec_of(family), Path(folder) / str(index)
            work.mkdir()
            weights_npz.save(work / "weights.npz", spec.model, weights_of(spec))
            print(f"{family} ...", file=sys.stderr, flush=True)
            rows_by_family[family] = exporting.export(
                spec, work / "weights.npz", frameworks=("tensorflow", "torch"), formats=("all",), out=work / "out",
                in_process=args.in_process, log=lambda line: None, repeats=args.repeats)
    print(versions(), "\n")
    print(table(rows_by_family))
    if args.json:
        args.json.write_text(json.dumps(rows_by_family, indent=1))


if __name__ == "__main__":
    main()
