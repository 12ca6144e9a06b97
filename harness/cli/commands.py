"""The command line: `harness run | bench | parity | convert | compare | mlflow | validate | list | schema | report`.

Bad input of any kind ends in one line on stderr and exit status 2. No framework is imported here: `run`
starts worker processes (or imports an adapter lazily with --in-process).
"""

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import warnings
from pathlib import Path

from harness.core import registry
from harness.core.errors import SpecError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
CORES = os.cpu_count() or 1
SEED_MAX = 2 ** 32 - 1


class _Parser(argparse.ArgumentParser):
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


def _analysis(args, current: dict) -> dict:
    """spec.analysis with the command line's --margin and --target applied."""
    analysis = {**current, "margins": {**current.get("margins", {}), **dict(args.margin or [])}}
    if args.target:
        name, value = args.target
        split, _, metric = name.rpartition(":")
        analysis["target"] = {"metric": metric, "value": value, "split": split or "val"}
    return analysis


def _allow_large(parser) -> None:
    parser.add_argument("--allow-large", action="store_true",
                        help="run even when the memory estimate exceeds the memory available (see harness validate)")


def _bench_parser(commands) -> None:
    from harness.bench.run import MODES, SWEEP_ALIASES, Settings

    defaults = Settings()
    modes = sorted({mode for table in MODES.values() for mode in table})
    bench = commands.add_parser("bench", help="training and inference speed of every framework and execution mode, "
                                "each in a fresh process with the same threads, data and batch",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("spec")
    bench.add_argument("--repeats", type=_integer(3, 10_000), default=defaults.repeats, help="timed repeats (median, IQR over them)")
    bench.add_argument("--rounds", type=_integer(1, 1000), default=defaults.rounds,
                       help="fresh processes per (framework, mode), one round after another; samples pooled")
    bench.add_argument("--sequential", action="store_true",
                       help="measure each run to its end before starting the next, instead of keeping every run's "
                            "process alive and taking turns one repeat at a time (less memory, more exposed to drift)")
    bench.add_argument("--warmup-steps", type=_integer(0, 1_000_000), default=defaults.warmup_steps, help="untimed steps first")
    bench.add_argument("--steps", type=_integer(1, 10_000_000), help="training steps per repeat; None: one pass over the training set")
    bench.add_argument("--threads", type=THREADS, default=defaults.threads,
                       help="intra- and inter-op threads, the same in every framework")
    bench.add_argument("--device", choices=["cpu", "gpu", "auto"], default=defaults.device)
    bench.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on a GPU, in every framework")
    bench.add_argument("--frameworks", nargs="+", choices=list(MODES), default=list(defaults.frameworks))
    bench.add_argument("--modes", nargs="+", metavar="MODE", help=f"execution modes, None for all: {', '.join(modes)}; FRAMEWORK:MODE picks one framework's")
    bench.add_argument("--steps-per-execution", type=_integer(1, 100_000), default=defaults.steps_per_execution,
                       help="N of the Keras modes spe and xla_spe")
    bench.add_argument("--large-batch", type=_integer(1, 10_000_000), default=defaults.large_batch, help="the large inference batch")
    bench.add_argument("--infer-calls", type=_integer(1, 1_000_000), default=defaults.infer_calls,
                       help="timed inference calls at batch 1 (a tenth of them, at least 5, at the large batch)")
    bench.add_argument("--matmul-size", type=_integer(16, 65_536), help="side of the square matmul for the peak; None: 1024 on the "
                                                       "CPU, 4096 on a GPU")
    bench.add_argument("--sweep", metavar="AXIS=V1,V2,...", help=f"scaling: AXIS one of {', '.join(SWEEP_ALIASES)} "
                                                                 f"or a dotted path into the spec")
    bench.add_argument("--out", help="bench folder (default: results/bench/<spec name>)")
    _allow_large(bench)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Train one network spec in TensorFlow (Keras) and "
                                     "PyTorch with matched data, weights and hyperparameters; report side by side.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="train the spec in every framework and seed, write the report",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("spec", help="YAML or JSON spec file")
    run.add_argument("--out", help="results folder (default: results/<spec name>)")
    run.add_argument("--frameworks", nargs="+", choices=list(registry.FRAMEWORKS), help="override spec.frameworks")
    run.add_argument("--seeds", nargs="+", type=_integer(0, SEED_MAX), help="override spec.seeds")
    run.add_argument("--epochs", type=_integer(1, 100_000), help="override spec.training.epochs")
    run.add_argument("--init", choices=["matched", "native"], help="override spec.init")
    run.add_argument("--optimizer-defaults", choices=["matched", "native"],
                     help="override spec.optimizer_defaults (native: each framework's own optimizer defaults for "
                          "what the spec does not state, as a naive port)")
    run.add_argument("--threads", type=THREADS, default=None,
                     help="intra- and inter-op threads, the same for both frameworks (default: all cores)")
    _analysis_arguments(run)
    run.add_argument("--no-tensorboard", action="store_true",
                     help="do not write TensorBoard event files (OUT/tensorboard/<framework>-seed<k>/)")
    run.add_argument("--mlflow", metavar="URI", help="also log every run to this MLflow tracking URI "
                                                     "(e.g. sqlite:///mlflow.db)")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="sweeps: local worker processes, or Ray tasks (a local Ray instance, or --address)")
    run.add_argument("--jobs", type=_integer(1, 4 * CORES), default=1, help="sweeps, local executor: runs at a time")
    run.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    run.add_argument("--retries", type=_integer(0, 100), default=2, help="sweeps: retries of a run whose worker died")
    run.add_argument("--force", action="store_true", help="redo runs already finished in the results folder")
    _allow_large(run)
    run.add_argument("--in-process", action="store_true",
                     help="train in this process instead of one fresh process per run (for debugging)")

    parity = commands.add_parser("parity", help="prove the two compiled models are the same network, step by "
                                 "step (exit status 1 on FAIL)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parity.add_argument("spec")
    parity.add_argument("--steps", type=_integer(1, 1_000_000), default=50, help="training steps compared")
    parity.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parity.add_argument("--out", help="report folder (default: results/<spec name>/parity)")
    parity.add_argument("--threads", type=THREADS, default=1, help="threads per framework (1 keeps sums in one order)")
    parity.add_argument("--in-process", action="store_true", help="both frameworks in this process (debugging)")
    _allow_large(parity)

    convert = commands.add_parser("convert", help="move trained weights between the frameworks (Keras .weights.h5 "
                                  "<-> torch .pt) for the spec's model")
    convert.add_argument("spec")
    convert.add_argument("--from", dest="source", required=True, choices=list(registry.FRAMEWORKS),
                         help="the framework that wrote --weights")
    convert.add_argument("--weights", required=True, help="its weights file (.weights.h5 or .pt)")
    convert.add_argument("--out", required=True, help="the other framework's weights file to write (not an "
                                                      "existing file, unless --force)")
    convert.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    mlflow = commands.add_parser("mlflow", help="log a results folder to MLflow: one run per framework and seed",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    mlflow.add_argument("out", help="results folder written by `harness run`")
    mlflow.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="MLflow tracking URI")
    mlflow.add_argument("--experiment", help="experiment name (default: the spec name)")

    compare = commands.add_parser("compare", help="several results folders in one table (one row per experiment)")
    compare.add_argument("out", nargs="+", help="results folders")
    compare.add_argument("--save", help="also write the table to this .md or .csv file (not an existing file, "
                                         "unless --force)")
    compare.add_argument("--force", action="store_true", help="overwrite --save if it exists")

    _bench_parser(commands)
    validate = commands.add_parser("validate", help="check a spec and its data; print the layer table")
    validate.add_argument("spec")
    _allow_large(validate)
    commands.add_parser("list", help="datasets, layers, activations, losses, optimizers, experiments")
    commands.add_parser("schema", help="JSON Schema of the spec file, for editors")
    report = commands.add_parser("report", help="re-render the reports (md, html, tex) and the plots from a results "
                                 "folder; --margin / --target change the statistics without retraining")
    report.add_argument("out", help="results folder written by `harness run`")
    _analysis_arguments(report)
    return parser


def _layer_table(spec) -> str:
    from harness.core import shapes

    infos = shapes.infer(spec.model)
    lines = [f"{'#':>3}  {'layer':<22} {'output shape':<22} {'params':>10}"]
    for info in infos:
        lines.append(f"{info.index:>3}  {info.type:<22} {str(['batch', *info.output_shape]):<22} {info.params:>10,}")
    lines.append(f"trainable parameters: {shapes.count_params(spec.model):,}")
    frozen = sum(info.non_trainable for info in infos)
    if frozen:
        lines.append(f"non-trainable (batch normalization moving statistics): {frozen:,}")
    return "\n".join(lines)


def cmd_validate(args) -> int:
    from harness.core import data, resources
    from harness.core.validate import check_analysis, load_spec

    spec = load_spec(args.spec)
    heading = None
    if spec.sweep:
        from harness.run.experiment import spec_dump
        from harness.sweep.expand import expand

        points = expand(spec, spec_dump(spec))
        for point in points:
            resources.check(point.spec, allow_large=args.allow_large)
        heading = f"{spec.name}: sweep of {len(points)} points ({spec.mode}); each valid. The first point:"
        spec = points[0].spec
    resources.check(spec, allow_large=args.allow_large)
    dataset = data.prepare(spec)
    samples = dataset.n_train + len(dataset.x_val) + len(dataset.x_test)
    estimate = resources.check(spec, allow_large=args.allow_large, samples=samples)
    check_analysis(spec.analysis, dataset.target.task, dataset.target.metric)
    if heading:
        print(heading)
    print(f"{spec.name}: valid")
    print(_layer_table(spec))
    print(f"data: {dataset.n_train} train / {len(dataset.x_val)} validation / {len(dataset.x_test)} test samples, "
          f"{dataset.target.task}, labels {dataset.target.label_format}")
    for note in data.notes(spec, dataset):
        print(f"note: {note}")
    print(f"memory: {estimate.text()}; {resources.available_bytes() / resources.GIB:.1f} GiB available")
    return 0


def _experiments() -> dict[str, str]:
    from harness.core.spec_file import read_mapping

    found = {}
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        shown = str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
        try:
            found[shown] = str(read_mapping(path).get("description", ""))
        except SpecError:
            found[shown] = "(unreadable)"
    return found


def cmd_list(args) -> int:
    for section, table in {**registry.all_tables(), "experiments": _experiments()}.items():
        print(f"{section}:")
        width = max(map(len, table), default=0)
        for name, text in table.items():
            print(f"  {name:<{width}}  {text}")
    return 0


def cmd_schema(args) -> int:
    from harness.core.spec import Spec

    print(json.dumps(Spec.model_json_schema(), indent=2))
    return 0


def _run_sweep(spec, args) -> int:
    import pandas as pd

    from harness.run.experiment import spec_dump, with_overrides
    from harness.sweep.run import run_sweep

    spec = with_overrides(spec, args.frameworks, args.seeds, args.epochs, args.init, args.optimizer_defaults)
    out = run_sweep(spec, spec_dump(spec), args.out, executor=args.executor, jobs=args.jobs, retries=args.retries,
                    force=args.force, address=args.address, threads=args.threads, allow_large=args.allow_large)
    print("\n" + (out / "sweep_report.md").read_text().split("## Against")[0].strip())
    print(f"\nreport: {out / 'sweep_report.md'}")
    return 0 if (pd.read_csv(out / "summary.csv")["status"] != "failed").all() else 1


RAY_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9_.-]{1,253}(:[0-9]{1,5})?|(ray://)?\[[0-9A-Fa-f:]{2,45}\](:[0-9]{1,5})?")


def _check_address(args) -> None:
    if args.address is None:
        return
    if args.executor != "ray":
        raise SpecError("--address", f"needs --executor ray; received --executor {args.executor}")
    if not RAY_ADDRESS.fullmatch(args.address):
        raise SpecError("--address", f"expected auto, HOST:PORT or ray://HOST:PORT; received {args.address[:80]!r}")


def cmd_run(args) -> int:
    from harness.run.experiment import run_experiment, spec_dump
    from harness.core.validate import load_spec, parse_spec

    _check_address(args)
    spec = load_spec(args.spec)
    if args.margin or args.target:
        spec = parse_spec({**spec_dump(spec), "analysis": _analysis(args, spec_dump(spec).get("analysis", {}))})
    if spec.sweep or args.executor == "ray" or args.jobs > 1:
        return _run_sweep(spec, args)
    if args.mlflow:
        from harness.report.tracking import check_tracking_uri

        check_tracking_uri(args.mlflow, field="--mlflow")
    results, trained = run_experiment(
        spec, args.out, frameworks=args.frameworks, seeds=args.seeds, epochs=args.epochs, init_mode=args.init,
        optimizer_defaults=args.optimizer_defaults, in_process=args.in_process, threads=args.threads,
        tensorboard=not args.no_tensorboard, force=args.force, allow_large=args.allow_large)
    if args.mlflow:
        from harness.report.tracking import log_to_mlflow

        print(f"{len(log_to_mlflow(results.out_dir, args.mlflow))} runs logged to MLflow at {args.mlflow}")
    print()
    print(results.table().to_markdown())
    print(f"\nreport: {results.out_dir / 'report.md'}")
    return 1 if any(record["status"] == "failed" for record in trained) else 0


def cmd_parity(args) -> int:
    from harness.parity.run import run_parity
    from harness.core.validate import load_spec

    result = run_parity(load_spec(args.spec), args.out, steps=args.steps, dtype=args.dtype,
                        in_process=args.in_process, threads=args.threads, allow_large=args.allow_large)
    print((result.out_dir / "parity.md").read_text().split("## Forward")[0].rstrip())
    print(f"\nreport: {result.out_dir / 'parity.md'}")
    return 0 if result.passed else 1


def cmd_convert(args) -> int:
    from harness.run.convert import convert
    from harness.core.validate import load_spec

    convert(load_spec(args.spec), args.source, args.weights, args.out, force=args.force)
    return 0


def _update_analysis(out: Path, args) -> None:
    """Validates the new analysis settings like a spec's, then records them in the manifest."""
    from harness.core import atomic
    from harness.core.spec import Analysis
    from harness.core.validate import _one_line, check_analysis
    from pydantic import ValidationError

    from harness.results.load import read_manifest

    manifest = read_manifest(out / "manifest.json")
    try:
        analysis = Analysis.model_validate(_analysis(args, manifest.get("analysis", {})))
    except ValidationError as error:
        raise _one_line(error, prefix="analysis") from None
    check_analysis(analysis, manifest["task"], manifest["metric"])
    if analysis.target and analysis.target.split == "val" and manifest.get("matched", {}).get("n_val") == 0:
        raise SpecError("--target", "the folder's runs had no validation split: use train:METRIC=VALUE; received "
                                    f"val:{analysis.target.metric}={analysis.target.value:g}")
    atomic.write_json(out / "manifest.json", {**manifest, "analysis": analysis.model_dump(mode="json")})


def cmd_mlflow(args) -> int:
    from harness.results.load import require_folder
    from harness.report.tracking import check_tracking_uri, log_to_mlflow

    check_tracking_uri(args.tracking_uri)
    run_ids = log_to_mlflow(require_folder(args.out), args.tracking_uri, args.experiment)
    print(f"{len(run_ids)} MLflow runs logged to {args.tracking_uri}")
    return 0


def cmd_compare(args) -> int:
    from harness.core import atomic
    from harness.report.compare import compare
    from harness.core.folders import check_new_file

    save = Path(args.save) if args.save else None
    if save is not None:
        if save.suffix not in (".md", ".csv"):
            raise SpecError("--save", f"expected a .md or .csv file; received {save.name}")
        check_new_file(save, "--save", force=args.force)
    table = compare(args.out)
    print(table.to_markdown(index=False))
    if save is not None:
        text = table.to_csv(index=False) if save.suffix == ".csv" else table.to_markdown(index=False) + "\n"
        atomic.write_text(save, text)
    return 0


def cmd_bench(args) -> int:
    import pandas as pd

    from harness.bench.run import Settings, parse_sweep, run_bench
    from harness.core.validate import load_spec

    settings = Settings(repeats=args.repeats, rounds=args.rounds, interleave=not args.sequential,
                        warmup_steps=args.warmup_steps, steps=args.steps, threads=args.threads,
                        device=args.device, tf32=args.tf32,
                        frameworks=tuple(args.frameworks), modes=tuple(args.modes) if args.modes else None,
                        steps_per_execution=args.steps_per_execution, large_batch=args.large_batch,
                        infer_calls=args.infer_calls, matmul_size=args.matmul_size,
                        sweep=parse_sweep(args.sweep) if args.sweep else None).check()
    out = run_bench(load_spec(args.spec), settings, args.out, command="harness bench " + " ".join(sys.argv[2:]),
                    allow_large=args.allow_large)
    print("\n" + (out / "bench.md").read_text().split("![throughput]")[0].strip())
    print(f"\nreport: {out / 'bench.md'}")
    return 1 if pd.read_csv(out / "summary.csv")["status"].eq("failed").any() else 0


def cmd_report(args) -> int:
    from harness.core import folders
    from harness.report.markdown import write_report
    from harness.results.load import load_results, read_manifest, require_folder
    from harness.run.experiment import rebuild

    out = Path(args.out)
    # A folder of stored runs may lack its tables (the driver was killed before writing them); one from before
    # the run store must have them.
    stored = (out / "manifest.json").is_file() and "planned_runs" in read_manifest(out / "manifest.json")
    results = None if stored else load_results(require_folder(out))  # checked before anything is written
    folders.claim(out, "results", field="out")
    if args.margin or args.target:
        _update_analysis(out, args)
        results = None if stored else load_results(out)
    if stored:
        rebuild(out)  # the tables from the stored runs: whole again after a driver was killed mid-run
    else:
        write_report(results)
    print(f"report: {out / 'report.md'}")
    return 0


COMMANDS = {"run": cmd_run, "bench": cmd_bench, "parity": cmd_parity, "convert": cmd_convert, "compare": cmd_compare,
            "mlflow": cmd_mlflow, "validate": cmd_validate, "list": cmd_list, "schema": cmd_schema,
            "report": cmd_report}


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: workers stopped, working folders removed


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
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
