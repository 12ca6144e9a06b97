"""The command line's arguments: every command, its options and their defaults, and the types that check them.

Building the parser imports no framework and none of pandas, matplotlib or Ray: `harness --help` stays fast.
"""

import argparse
import math
import os
import re

from harness import __version__
from harness.core import registry

CORES = os.cpu_count() or 1
SEED_MAX = 2 ** 32 - 1


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: not where the help already says it, nor for an unset option or a flag."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with the harness' error convention: one line on stderr, exit status 2, no usage block."""

    def error(self, message: str):
        command = self.prog.removeprefix("harness").strip()
        help_command = f"harness {command} --help" if command else "harness --help"
        if message.startswith("argument "):  # "argument --jobs: expected ..." names its field as a SpecError does
            message = message.removeprefix("argument ")
        elif command:
            message = f"{command}: {message}"
        self.exit(2, f"error: {message} (see {help_command})\n")


def _integer(least: int, most: int):
    """An argparse type: an integer in [least, most], else one line with the range and what was received."""
    def parse(text: str) -> int:
        allowed = f"expected an integer in [{least}, {most:,}]"
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", text.strip()):  # ASCII digits only: int() also reads '٣' and '1_0'
            shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
            raise argparse.ArgumentTypeError(f"{allowed}; received {shown}")
        value = int(text)
        if not least <= value <= most:
            raise argparse.ArgumentTypeError(f"{allowed}; received {value:,}")
        return value
    parse.__name__ = "integer"
    return parse


def _execution(text: str) -> tuple:
    """An argparse type: FRAMEWORK=MODE (the modes are checked with the spec, harness.core.execution)."""
    framework, equals, mode = text.partition("=")
    if not equals or not framework.strip() or not mode.strip():
        shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
        raise argparse.ArgumentTypeError(f"expected FRAMEWORK=MODE, e.g. torch=compiled_step; received {shown}")
    return framework.strip(), mode.strip()


THREADS = _integer(1, 4 * CORES)  # more threads than 4 per core only oversubscribes the machine


def _assignment(text: str) -> tuple[str, float]:
    """'name=value' -> (name, float(value)), for --margin and --target; the value a finite number."""
    name, _, value = text.partition("=")
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?", value.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, a name and a finite number; received "
                                         f"{text[:80]!r}")  # a pattern: float() also reads 'inf', '1_0' and '١'.
    number = float(value)
    if not name.strip() or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, a name and a finite number; received {text[:80]!r}")
    return name.strip(), number


def _analysis_arguments(parser) -> None:
    parser.add_argument("--margin", type=_assignment, action="append", metavar="FIGURE=VALUE",
                        help="equivalence margin for a summary figure, e.g. test_accuracy=0.005 (repeatable; "
                             "default 1 point of accuracy, 5%% relative for losses and errors)")
    parser.add_argument("--target", type=_assignment, metavar="[SPLIT:]METRIC=VALUE",
                        help="time to target, e.g. accuracy=0.9 or train:loss=0.5 (split val by default)")


def _allow_large(parser) -> None:
    parser.add_argument("--allow-large", action="store_true",
                        help="run even when the memory estimate exceeds the memory available (see harness validate)")


def _bench_parser(commands) -> None:
    from harness.bench.settings import MODES, SWEEP_ALIASES, Settings

    defaults = Settings()
    modes = sorted({mode for table in MODES.values() for mode in table})
    bench = commands.add_parser("bench", help="training and inference speed of every framework and execution mode, "
                                "each in a fresh process with the same threads, data and batch",
                                formatter_class=DefaultsFormatter)
    bench.add_argument("spec")
    bench.add_argument("--repeats", type=_integer(3, 10_000), default=defaults.repeats,
                       help="timed repeats (median, IQR over them)")
    bench.add_argument("--rounds", type=_integer(1, 1000), default=defaults.rounds,
                       help="fresh processes per (framework, mode), one round after another; samples pooled")
    bench.add_argument("--sequential", action="store_true",
                       help="measure each run to its end before starting the next, instead of keeping every run's "
                            "process alive and taking turns one repeat at a time (less memory, more exposed to drift)")
    bench.add_argument("--warmup-steps", type=_integer(0, 1_000_000), default=defaults.warmup_steps,
                       help="untimed steps first")
    bench.add_argument("--steps", type=_integer(1, 10_000_000),
                       help="training steps per repeat; None: one pass over the training set")
    bench.add_argument("--threads", type=THREADS, default=defaults.threads,
                       help="intra- and inter-op threads, the same in every framework")
    bench.add_argument("--device", choices=["cpu", "gpu", "auto"], default=defaults.device)
    bench.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on a GPU, in every framework")
    bench.add_argument("--frameworks", nargs="+", choices=list(MODES), default=list(defaults.frameworks))
    bench.add_argument("--modes", nargs="+", metavar="MODE",
                       help=f"execution modes, None for all: {', '.join(modes)}; FRAMEWORK:MODE picks one framework's")
    bench.add_argument("--steps-per-execution", type=_integer(1, 100_000), default=defaults.steps_per_execution,
                       help="N of the Keras modes spe and xla_spe")
    bench.add_argument("--large-batch", type=_integer(1, 10_000_000), default=defaults.large_batch,
                       help="the large inference batch")
    bench.add_argument("--infer-calls", type=_integer(1, 1_000_000), default=defaults.infer_calls,
                       help="timed inference calls at batch 1 (a tenth of them, at least 5, at the large batch)")
    bench.add_argument("--matmul-size", type=_integer(16, 65_536),
                       help="side of the square matmul for the peak; None: 1024 on the CPU, 4096 on a GPU")
    bench.add_argument("--sweep", metavar="AXIS=V1,V2,...", help=f"scaling: AXIS one of {', '.join(SWEEP_ALIASES)} "
                                                                 f"or a dotted path into the spec")
    bench.add_argument("--out", help="bench folder (default: results/bench/<spec name>)")
    _allow_large(bench)


def _run_parser(commands) -> None:
    run = commands.add_parser("run", help="train the spec in every framework and seed, write the report",
                              formatter_class=DefaultsFormatter)
    run.add_argument("spec", help="YAML or JSON spec file")
    run.add_argument("--out", help="results folder (default: results/<spec name>)")
    run.add_argument("--frameworks", nargs="+", choices=list(registry.FRAMEWORKS), help="override spec.frameworks")
    run.add_argument("--seeds", nargs="+", type=_integer(0, SEED_MAX), help="override spec.seeds")
    run.add_argument("--epochs", type=_integer(1, 100_000), help="override spec.training.epochs")
    run.add_argument("--init", choices=["matched", "native"], help="override spec.init")
    run.add_argument("--execution", nargs="+", type=_execution, metavar="FRAMEWORK=MODE",
                     help="override spec.training.execution: how each framework runs its steps, e.g. "
                          "tensorflow=spe torch=compiled_step (`harness bench` lists the modes)")
    run.add_argument("--optimizer-defaults", choices=["matched", "native"],
                     help="override spec.optimizer_defaults (native: each framework's own optimizer defaults for "
                          "what the spec does not state, as a naive port)")
    run.add_argument("--threads", type=THREADS, default=None,
                     help="intra- and inter-op threads per run, the same for both frameworks (default: the cores "
                          "divided by the runs at a time, --jobs)")
    _analysis_arguments(run)
    run.add_argument("--no-tensorboard", action="store_true",
                     help="do not write TensorBoard event files (OUT/tensorboard/<framework>-seed<k>/)")
    run.add_argument("--no-save-weights", action="store_true",
                     help="do not save each run's final weights (OUT/weights/<framework>-seed<k>.weights.h5 / .pt "
                          "and .weights.npz)")
    run.add_argument("--mlflow", metavar="URI", help="also log every run to this MLflow tracking URI "
                                                     "(e.g. sqlite:///mlflow.db)")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="sweeps: local worker processes, or Ray tasks (a local Ray instance, or --address)")
    run.add_argument("--jobs", type=_integer(1, 4 * CORES), default=None,
                     help="runs at a time, each in its own worker process with --threads threads (default: an "
                          "experiment as many as the cores hold, the cores split between them, and its timing rows "
                          "marked contended; a sweep 1); --jobs 1 times each run alone")
    run.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    run.add_argument("--retries", type=_integer(0, 100), default=2, help="sweeps: retries of a run whose worker died")
    run.add_argument("--force", action="store_true", help="redo runs already finished in the results folder")
    run.add_argument("--resume", action="store_true",
                     help="continue unfinished runs from their checkpoints (written every training.checkpoint_every "
                          "epochs to OUT/checkpoints/)")
    _allow_large(run)
    run.add_argument("--in-process", action="store_true",
                     help="train in this process instead of one fresh process per run (for debugging)")


def _parity_and_convert_parsers(commands) -> None:
    parity = commands.add_parser("parity", help="prove the two compiled models are the same network, step by "
                                 "step (exit status 1 on FAIL)", formatter_class=DefaultsFormatter)
    parity.add_argument("spec")
    parity.add_argument("--steps", type=_integer(1, 1_000_000), default=50, help="training steps compared")
    parity.add_argument("--dtype", choices=["float32", "float64", "bfloat16"], default=None,
                        help="default: bfloat16 for a spec with training.precision: bfloat16, else float32")
    parity.add_argument("--out", help="report folder (default: results/<spec name>/parity)")
    parity.add_argument("--threads", type=THREADS, default=1, help="threads per framework (1 keeps sums in one order)")
    parity.add_argument("--in-process", action="store_true", help="both frameworks in this process (debugging)")
    parity.add_argument("--modes", nargs="*", metavar="MODE", default=None,
                        help="instead: check that execution modes (all, or these: names or FRAMEWORK:MODE) train "
                             "what each framework's default mode trains, dropout off (`harness bench` lists them)")
    parity.add_argument("--epochs", type=_integer(1, 1000), default=3, help="with --modes: epochs per mode")
    _allow_large(parity)

    convert = commands.add_parser("convert", help="move trained weights between the frameworks (Keras .weights.h5 "
                                  "<-> torch .pt, or canonical .npz) for the spec's model")
    convert.add_argument("spec")
    convert.add_argument("--from", dest="source", required=True, choices=[*registry.FRAMEWORKS, "canonical"],
                         help="what wrote --weights: a framework, or canonical (.npz from harness run / import)")
    convert.add_argument("--weights", required=True, help="its weights file (.weights.h5, .pt or .npz)")
    convert.add_argument("--out", required=True, help="the file to write (not an existing file, unless --force): "
                                                      "the other framework's, or .npz for canonical weights")
    convert.add_argument("--force", action="store_true", help="overwrite --out if it exists")


EXPORT_FORMATS = ["onnx", "savedmodel", "tflite", "torchscript", "pt2", "all"]


def _port_parsers(commands) -> None:
    """import and export: models in from Keras / PyTorch files, artifacts out to deployment formats."""
    port = commands.add_parser("import", help="a Keras model file (.keras, .h5) or a PyTorch program (.pt2, from "
                               "torch.export.save) -> a spec and its weights, proven exact in the other framework")
    port.add_argument("file", help="the model file; nothing in it is executed")
    port.add_argument("--out", help="folder for NAME.yaml and NAME.weights.npz (default: results/<name>/import)")
    port.add_argument("--force", action="store_true", help="overwrite NAME.yaml / NAME.weights.npz in --out")
    port.add_argument("--in-process", action="store_true", help="both frameworks in this process (debugging)")

    export = commands.add_parser("export", help="the spec's model with trained weights as a deployment artifact, "
                                 "loaded back in its own runtime and checked against the framework",
                                 formatter_class=DefaultsFormatter)
    export.add_argument("spec")
    export.add_argument("--weights", required=True, help="canonical .npz (harness import / run), .weights.h5 or .pt")
    export.add_argument("--framework", choices=["tensorflow", "torch", "both"], default="tensorflow",
                        help="the framework that exports (both: ONNX from each, judged in one onnxruntime)")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="onnx",
                        help="tensorflow: onnx, savedmodel, tflite; torch: onnx, torchscript, pt2; all: every one")
    export.add_argument("--out", help="the artifact to write (a folder when several are made)")
    export.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    export.add_argument("--in-process", action="store_true", help="export in this process (debugging)")


def _code_parser(commands) -> None:
    code = commands.add_parser("code", help="the spec as two standalone scripts, model_keras.py and model_torch.py, "
                               "with the data and initial weights they read", formatter_class=DefaultsFormatter)
    code.add_argument("spec")
    code.add_argument("--out", help="the folder to write (default: results/<name>/code)")
    code.add_argument("--seed", type=int, help="the seed of the batch order and the initial weights (default: the "
                                               "spec's first seed)")
    code.add_argument("--force", action="store_true", help="overwrite the files in --out")
    _allow_large(code)


def _folder_parsers(commands) -> None:
    """mlflow and compare: they read results folders."""
    mlflow = commands.add_parser("mlflow", help="log a results folder to MLflow: one run per framework and seed",
                                 formatter_class=DefaultsFormatter)
    mlflow.add_argument("out", help="results folder written by `harness run`")
    mlflow.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="MLflow tracking URI")
    mlflow.add_argument("--experiment", help="experiment name (default: the spec name)")

    compare = commands.add_parser("compare", help="several results folders in one table (one row per experiment)")
    compare.add_argument("out", nargs="+", help="results folders")
    compare.add_argument("--save", help="also write the table to this .md or .csv file (not an existing file, "
                                         "unless --force)")
    compare.add_argument("--force", action="store_true", help="overwrite --save if it exists")


def _report_parser(commands) -> None:
    report = commands.add_parser("report", help="re-render the reports (md, html, tex) and the plots from a results "
                                 "folder; --margin / --target change the statistics without retraining")
    report.add_argument("out", help="results folder written by `harness run`")
    _analysis_arguments(report)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="harness", description="Train one network spec in TensorFlow (Keras) and "
                                     "PyTorch with matched data, weights and hyperparameters; report side by side.",
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(commands)
    _parity_and_convert_parsers(commands)
    _port_parsers(commands)
    _code_parser(commands)
    _folder_parsers(commands)
    _bench_parser(commands)
    validate = commands.add_parser("validate", help="check a spec and its data; print the layer table")
    validate.add_argument("spec")
    _allow_large(validate)
    commands.add_parser("list", help="datasets, layers, activations, losses, optimizers, experiments")
    commands.add_parser("schema", help="JSON Schema of the spec file, for editors")
    _report_parser(commands)
    return parser
