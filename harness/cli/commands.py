"""The commands that train, measure or write: `run | bench | parity | convert | compare | mlflow | report`. Each
imports what it needs when it runs, so building the command line stays light."""

import re
import sys
from pathlib import Path

from harness.core.errors import SpecError


def analysis_of(args, current: dict) -> dict:
    """spec.analysis with the command line's --margin and --target applied."""
    analysis = {**current, "margins": {**current.get("margins", {}), **dict(args.margin or [])}}
    if args.target:
        name, value = args.target
        split, _, metric = name.rpartition(":")
        analysis["target"] = {"metric": metric, "value": value, "split": split or "val"}
    return analysis


def _run_sweep(spec, args) -> int:
    from harness.core.overrides import spec_dump, with_overrides
    from harness.sweep.run import run_sweep

    spec = with_overrides(spec, args.frameworks, args.seeds, args.epochs, args.init, args.optimizer_defaults,
                          dict(args.execution or []))
    out, summary = run_sweep(spec, spec_dump(spec), args.out, executor=args.executor, jobs=args.jobs or 1,
                             retries=args.retries, force=args.force, address=args.address, threads=args.threads,
                             allow_large=args.allow_large)
    print("\n" + (out / "sweep_report.md").read_text().split("## Against")[0].strip())
    print(f"\nreport: {out / 'sweep_report.md'}")
    return 0 if (summary["status"] != "failed").all() else 1


RAY_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9_.-]{1,253}(:[0-9]{1,5})?|(ray://)?\[[0-9A-Fa-f:]{2,45}\](:[0-9]{1,5})?")


def _check_address(args) -> None:
    if args.address is None:
        return
    if args.executor != "ray":
        raise SpecError("--address", f"needs --executor ray; received --executor {args.executor}")
    if not RAY_ADDRESS.fullmatch(args.address):
        raise SpecError("--address", f"expected auto, HOST:PORT or ray://HOST:PORT; received {args.address[:80]!r}")


def _check_sweep_options(args) -> None:
    """The options a sweep cannot honour are refused, never dropped: its runs go to worker processes (or Ray), it
    writes no TensorBoard files and saves no weights, and MLflow logs a results folder of one experiment."""
    if args.in_process:
        raise SpecError("--in-process", "is for one experiment; a sweep (a sweep: block or --executor ray) runs "
                                        "every point in worker processes")
    if args.mlflow is not None:
        raise SpecError("--mlflow", "logs one experiment's results folder; a sweep's folder holds many (run "
                                    "`harness mlflow` on a results folder of one point instead)")
    if args.no_tensorboard:
        raise SpecError("--no-tensorboard", "a sweep writes no TensorBoard files; leave the option out")
    if args.no_save_weights:
        raise SpecError("--no-save-weights", "a sweep saves no weights (its points' results are tables); leave the "
                                             "option out")
    if args.resume:
        raise SpecError("--resume", "continues one experiment's runs from their checkpoints; a sweep keeps its "
                                    "finished points on a rerun and redoes the others (leave the option out)")


def cmd_run(args) -> int:
    from harness.core.overrides import spec_dump
    from harness.core.validate import load_spec, parse_spec
    from harness.run.experiment import run_experiment

    _check_address(args)
    spec = load_spec(args.spec)
    if args.margin or args.target:
        spec = parse_spec({**spec_dump(spec), "analysis": analysis_of(args, spec_dump(spec).get("analysis", {}))})
    if spec.sweep or args.executor == "ray":
        _check_sweep_options(args)
        return _run_sweep(spec, args)
    if args.mlflow is not None:
        from harness.report.tracking import check_tracking_uri

        check_tracking_uri(args.mlflow, field="--mlflow")
    results, trained = run_experiment(
        spec, args.out, frameworks=args.frameworks, seeds=args.seeds, epochs=args.epochs, init_mode=args.init,
        optimizer_defaults=args.optimizer_defaults, execution=dict(args.execution or []), in_process=args.in_process,
        threads=args.threads, jobs=args.jobs,
        tensorboard=not args.no_tensorboard, force=args.force, allow_large=args.allow_large,
        save_weights=not args.no_save_weights, resume=args.resume)
    if args.mlflow is not None:
        from harness.report.tracking import log_to_mlflow

        print(f"{len(log_to_mlflow(results.out_dir, args.mlflow))} runs logged to MLflow at {args.mlflow}")
    from harness.results.side_by_side import contention_note, execution_note

    print()
    print(results.table().to_markdown())
    for note in (contention_note(results.summary, results.manifest), execution_note(results.manifest)):
        if note:
            print(f"\n{note}")
    print(f"\nreport: {results.out_dir / 'report.md'}")
    return 1 if any(record["status"] == "failed" for record in trained) else 0


def cmd_parity(args) -> int:
    from harness.core.validate import load_spec
    from harness.parity.run import run_parity

    if args.modes is not None:
        return _modes_parity(load_spec(args.spec), args)
    result = run_parity(load_spec(args.spec), args.out, steps=args.steps, dtype=args.dtype,
                        in_process=args.in_process, threads=args.threads, allow_large=args.allow_large)
    print((result.out_dir / "parity.md").read_text().split("## Forward")[0].rstrip())
    print(f"\nreport: {result.out_dir / 'parity.md'}")
    return 0 if result.passed else 1


def _modes_parity(spec, args) -> int:
    from harness.parity.modes import run_modes_parity

    if args.in_process:
        raise SpecError("--in-process", "each mode trains in its own worker process; leave the option out")
    result = run_modes_parity(spec, args.out, epochs=args.epochs, modes=args.modes, threads=args.threads,
                              allow_large=args.allow_large)
    print("\n" + (result.out_dir / "modes.md").read_text().rstrip())
    print(f"\nreport: {result.out_dir / 'modes.md'}")
    return 0 if result.passed else 1


def cmd_convert(args) -> int:
    from harness.core.validate import load_spec
    from harness.run.convert import convert

    convert(load_spec(args.spec), args.source, args.weights, args.out, force=args.force)
    return 0


def _update_analysis(out: Path, args) -> None:
    """Validates the new analysis settings like a spec's, then records them in the manifest."""
    from pydantic import ValidationError

    from harness.core import atomic
    from harness.core.spec import Analysis
    from harness.core.validate import check_analysis, spec_error
    from harness.results.load import read_manifest

    manifest = read_manifest(out / "manifest.json")
    try:
        analysis = Analysis.model_validate(analysis_of(args, manifest.get("analysis", {})))
    except ValidationError as error:
        raise spec_error(error, prefix="analysis") from None
    check_analysis(analysis, manifest["task"], manifest["metric"])
    if analysis.target and analysis.target.split == "val" and manifest.get("matched", {}).get("n_val") == 0:
        raise SpecError("--target", "the folder's runs had no validation split: use train:METRIC=VALUE; received "
                                    f"val:{analysis.target.metric}={analysis.target.value:g}")
    atomic.write_json(out / "manifest.json", {**manifest, "analysis": analysis.model_dump(mode="json")})


def cmd_mlflow(args) -> int:
    from harness.report.tracking import check_tracking_uri, log_to_mlflow
    from harness.results.load import require_folder

    check_tracking_uri(args.tracking_uri)
    run_ids = log_to_mlflow(require_folder(args.out), args.tracking_uri, args.experiment)
    print(f"{len(run_ids)} MLflow runs logged to {args.tracking_uri}")
    return 0


def cmd_compare(args) -> int:
    from harness.core import atomic
    from harness.core.folders import check_new_file
    from harness.report.compare import compare

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
    from harness.bench.run import run_bench
    from harness.bench.settings import Settings, parse_sweep
    from harness.core.validate import load_spec

    settings = Settings(repeats=args.repeats, rounds=args.rounds, interleave=not args.sequential,
                        warmup_steps=args.warmup_steps, steps=args.steps, threads=args.threads,
                        device=args.device, tf32=args.tf32,
                        frameworks=tuple(args.frameworks), modes=tuple(args.modes) if args.modes else None,
                        steps_per_execution=args.steps_per_execution, large_batch=args.large_batch,
                        infer_calls=args.infer_calls, matmul_size=args.matmul_size,
                        sweep=parse_sweep(args.sweep) if args.sweep else None).check()
    out, summary = run_bench(load_spec(args.spec), settings, args.out,
                             command="harness bench " + " ".join(sys.argv[2:]), allow_large=args.allow_large)
    print("\n" + (out / "bench.md").read_text().split("![throughput]")[0].strip())
    print(f"\nreport: {out / 'bench.md'}")
    return 1 if summary["status"].eq("failed").any() else 0


def cmd_report(args) -> int:
    from harness.core import folders
    from harness.report.write import write_report
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
