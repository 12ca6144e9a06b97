"""Does the harness cost anything? The study notes' own code against the harness, on experiments/mlp_mnist1d.yaml.

One invocation, interleaved rounds, every run in a fresh process with the same threads and the same prepared
MNIST-1D training set. Each round:
  1. per framework, the hand-written script (benchmarks/notes_keras.py or notes_torch.py) and the harness training
     the spec (`harness run`'s worker, in its default mode; early stopping off, since the notes' code has none),
     E epochs each, twice each in the order A B B A, so that a drift of the machine's speed within the round
     falls on both alike;
  2. every execution mode of both frameworks as `harness bench` measures it: each mode's worker alive at once,
     the workers taking turns one timed repeat at a time (steady-state throughput).
The order of the frameworks, which of the two is A, and the order of the modes alternate from round to round.

Printed per framework:
  - training time ratio harness / hand-written: sum of the harness' epoch times against the hand-written
    training loop's wall time, E epochs each, first-epoch tracing included on both sides (per round: the mean of
    the two runs each; median over rounds);
  - the fastest mode's steady-state throughput against the hand-written one (epochs 2..E, median).
Printed per mode: its steady-state throughput over TensorFlow graph mode's, taken within each round (median over
rounds). Absolute speeds drift together on a shared machine; these ratios are what must repeat: with --previous
OUT/overhead.json of another invocation, each mode's ratio is set beside that run's, with their relative
difference (repeatable within 10 %).

    .venv/bin/python benchmarks/overhead.py [--rounds 5] [--epochs 10] [--threads 1] [--out results/bench/overhead]
                                            [--previous results/bench/overhead-1/overhead.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.bench.run import bench_job, environment, measure_jobs
from harness.bench.settings import DEFAULT_MODES, MODES, Settings
from harness.bench.stats import summarize
from harness.core import atomic, data, guard
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.validate import load_spec, parse_spec
from harness.jobs.job import Job
from harness.launch.local import run_in_subprocess
from harness.results import manifest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("tensorflow", "torch")
SCRIPTS = {"tensorflow": ROOT / "benchmarks" / "notes_keras.py", "torch": ROOT / "benchmarks" / "notes_torch.py"}


def hand_written(framework: str, data_path: Path, work: Path, args, env: dict) -> dict:
    out = work / f"hand-{framework}.json"
    command = [sys.executable, str(SCRIPTS[framework]), str(data_path), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--out", str(out)]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


def harness_run(spec, framework: str, data_path: Path, work: Path, args) -> dict:
    job = Job(spec=spec_dump(spec), framework=framework, seed=spec.seeds[0], threads=args.threads,
              data_path=str(data_path), result_path=str(work / f"run-{framework}.json"),
              environment=environment(Settings(threads=args.threads), "cpu"))
    result = run_in_subprocess(job, work / f"run-{framework}.job.json", lambda line: None)
    if result["status"] != "ok":
        raise RuntimeError(f"harness run of {framework} failed: {result.get('error')}")
    epoch_seconds = [row["epoch_seconds"] for row in result["epochs"]]
    return {"total_seconds": sum(epoch_seconds), "epoch_seconds": epoch_seconds}


def harness_modes(spec, data_path: Path, work: Path, args, index: int) -> dict:
    """{framework: {mode: steady-state samples/s}} of every execution mode of both frameworks, measured as
    `harness bench` measures them by default: each mode in its own live worker, the workers taking turns one timed
    repeat at a time (harness.launch.turns), so every mode's samples fall in the same seconds of the round."""
    settings = Settings(threads=args.threads, repeats=args.repeats, infer_calls=5, matmul_size=64)
    pairs = [(framework, mode) for framework in FRAMEWORKS for mode in MODES[framework]
             if not (framework == "tensorflow" and mode == "eager")]  # 20x slower than graph: minutes per round
    order = pairs if index % 2 == 0 else pairs[::-1]  # who builds first, and who takes the first turn, alternates
    jobs = [(bench_job(spec, framework, mode, settings, "cpu", data_path, work / f"bench-{framework}-{mode}.json"),
             work / f"bench-{framework}-{mode}.job.json") for framework, mode in order]
    results = dict(zip(order, measure_jobs(jobs, settings, lambda line: None)))
    found = {framework: {} for framework in FRAMEWORKS}
    for (framework, mode), result in ((pair, results[pair]) for pair in pairs):  # the table's order
        if result["status"] == "ok":
            found[framework][mode] = result["batch_size"] / summarize(result["train_step_seconds"])["median"]
    return found


def steady_samples_per_second(records: list[dict], samples: int) -> float:
    """Samples per second over epochs 2..E (the first carries tracing and start-up), pooled over the records."""
    return samples / statistics.median(seconds for record in records for seconds in record["epoch_seconds"][1:])


def one_round(index: int, spec, data_path: Path, samples: int, work: Path, args) -> dict:
    """Per framework, the hand-written script and the harness twice each, in the order A B B A (a drift of the
    machine's speed within the round falls on both alike; which one is A alternates from round to round), then
    every mode of both frameworks interleaved."""
    frameworks = list(FRAMEWORKS) if index % 2 == 0 else list(FRAMEWORKS)[::-1]
    env = {**os.environ, **environment(Settings(threads=args.threads), "cpu")}
    found = {}
    for framework in frameworks:
        first, second = ("hand", "harness") if index % 2 == 0 else ("harness", "hand")
        taken = {"hand": [], "harness": []}
        for name in (first, second, second, first):
            taken[name].append(hand_written(framework, data_path, work, args, env) if name == "hand"
                               else harness_run(spec, framework, data_path, work, args))
        hand, ours = ([record["total_seconds"] for record in taken[name]] for name in ("hand", "harness"))
        found[framework] = {"hand_seconds": statistics.mean(hand), "harness_seconds": statistics.mean(ours),
                            "hand_runs_seconds": hand, "harness_runs_seconds": ours,
                            "hand_samples_per_second": steady_samples_per_second(taken["hand"], samples),
                            "harness_samples_per_second": steady_samples_per_second(taken["harness"], samples)}
    modes = harness_modes(spec, data_path, work, args, index)
    for framework in FRAMEWORKS:
        record = found[framework]
        record["modes_samples_per_second"] = modes[framework]
        print(f"round {index + 1} {framework}: hand-written {' '.join(f'{s:.3f}' for s in record['hand_runs_seconds'])}"
              f" s, harness {' '.join(f'{s:.3f}' for s in record['harness_runs_seconds'])} s (ratio "
              f"{record['harness_seconds'] / record['hand_seconds']:.3f}); modes "
              + ", ".join(f"{mode} {rate:,.0f}/s" for mode, rate in modes[framework].items()), flush=True)
    return found


def summary(rounds: list[dict], framework: str) -> dict:
    runs = [r[framework] for r in rounds]
    ratios = [r["harness_seconds"] / r["hand_seconds"] for r in runs]
    hand_rate = statistics.median(r["hand_samples_per_second"] for r in runs)
    modes = {mode: statistics.median(r["modes_samples_per_second"][mode] for r in runs
                                     if mode in r["modes_samples_per_second"])
             for mode in runs[0]["modes_samples_per_second"]}
    fastest = max(modes, key=modes.get)
    return {"time_ratio_median": statistics.median(ratios), "time_ratios": ratios,
            "hand_seconds_median": statistics.median(r["hand_seconds"] for r in runs),
            "harness_seconds_median": statistics.median(r["harness_seconds"] for r in runs),
            "hand_samples_per_second": hand_rate, "modes_samples_per_second": modes, "fastest_mode": fastest,
            "fastest_over_hand": modes[fastest] / hand_rate,
            "default_mode_over_hand": modes[DEFAULT_MODES[framework]] / hand_rate}


REFERENCE = ("tensorflow", "graph")
REPEATABLE = 0.10  # two invocations' ratios to TensorFlow graph mode agree within this (relative)


def ratios_to_reference(rounds: list[dict]) -> dict:
    """{"framework mode": median over rounds of (its samples/s / TensorFlow graph mode's in the same round)}."""
    framework, mode = REFERENCE
    per_mode: dict = {}
    for found in rounds:
        reference = found[framework]["modes_samples_per_second"].get(mode)
        for name, values in found.items():
            for each, rate in values["modes_samples_per_second"].items():
                if reference:
                    per_mode.setdefault(f"{name} {each}", []).append(rate / reference)
    return {key: statistics.median(values) for key, values in per_mode.items()}


def previous_ratios(path: str) -> dict:
    """The ratios another invocation wrote, checked before any measuring; else one line and exit status 2."""
    try:
        saved = guard.read_json(path, "--previous")
        found = saved.get("ratios") if isinstance(saved, dict) else None
        if not isinstance(found, dict) or not all(guard.finite(value) and value > 0 for value in found.values()):
            raise SpecError("--previous", f"expected an overhead.json with positive ratios; received {path}")
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return found


def repeatability_lines(ratios: dict, previous: dict) -> list[str]:
    """The table of this invocation's ratios beside another's."""
    lines = ["", f"Ratios to {' '.join(REFERENCE)} mode, this invocation against {previous['path']}:", "",
             "| mode | this run | previous run | relative difference | within 10 % |", "|---|---|---|---|---|"]
    for key, value in ratios.items():
        before = previous["ratios"].get(key)
        if before is None:
            lines.append(f"| {key} | {value:.3f} | (not measured) | | |")
            continue
        difference = abs(value - before) / min(value, before)
        lines.append(f"| {key} | {value:.3f} | {before:.3f} | {100 * difference:.1f} % | "
                     f"{'yes' if difference <= REPEATABLE else 'NO'} |")
    return lines


def markdown(results: dict, args, machine: dict, ratios: dict) -> str:
    lines = [f"# Harness overhead on {args.spec}", "",
             f"{args.rounds} interleaved rounds, {args.epochs} epochs, batch {args.batch_size}, {args.threads} "
             f"thread(s); {machine['cpu']}, {machine['logical_cores']} logical cores.", "",
             "| framework | hand-written (s) | harness (s) | harness / hand-written, median [min, max] | "
             "hand-written samples/s | fastest harness mode | its samples/s | fastest / hand-written |",
             "|---|---|---|---|---|---|---|---|"]
    for framework, found in results.items():
        lines.append(f"| {framework} | {found['hand_seconds_median']:.3f} | {found['harness_seconds_median']:.3f} | "
                     f"{found['time_ratio_median']:.3f} [{min(found['time_ratios']):.3f}, "
                     f"{max(found['time_ratios']):.3f}] | {found['hand_samples_per_second']:,.0f} | "
                     f"{found['fastest_mode']} | {found['modes_samples_per_second'][found['fastest_mode']]:,.0f} | "
                     f"{found['fastest_over_hand']:.2f} |")
    lines += ["", "Steady-state samples/s of every mode (median over rounds), and the default mode against the "
                  "hand-written loop:", ""]
    for framework, found in results.items():
        lines.append(f"- {framework}: " + ", ".join(f"{mode} {rate:,.0f}"
                                                     for mode, rate in found["modes_samples_per_second"].items())
                     + f"; default / hand-written {found['default_mode_over_hand']:.2f}")
    lines += ["", f"Steady-state speed over {' '.join(REFERENCE)} mode, per round (median):", "",
              "| mode | ratio |", "|---|---|"] + [f"| {key} | {value:.3f} |" for key, value in ratios.items()]
    if args.previous:
        lines += repeatability_lines(ratios, {"path": args.previous, "ratios": args.previous_ratios})
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "mlp_mnist1d.yaml"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each mode measurement")
    parser.add_argument("--out", default="results/bench/overhead")
    parser.add_argument("--previous", help="overhead.json of another invocation: compare the ratios to TF graph")
    args = parser.parse_args()
    args.previous_ratios = previous_ratios(args.previous) if args.previous else None
    raw = spec_dump(load_spec(args.spec))
    raw["training"] = {**raw.get("training", {}), "epochs": args.epochs, "early_stopping": None}
    spec = parse_spec(raw)
    args.batch_size = spec.training.batch_size
    dataset = data.prepare(spec)
    with tempfile.TemporaryDirectory(prefix="harness-overhead-") as work:
        work = Path(work)
        data.save(dataset, work / "data.npz")
        rounds = [one_round(index, spec, work / "data.npz", dataset.n_train, work, args)
                  for index in range(args.rounds)]
    results = {framework: summary(rounds, framework) for framework in FRAMEWORKS}
    machine = manifest.machine()
    ratios = ratios_to_reference(rounds)
    text = markdown(results, args, machine, ratios)
    print("\n" + text)
    out = Path(args.out)
    atomic.write_json(out / "overhead.json", {"rounds": rounds, "summary": results, "ratios": ratios,
                                              "machine": machine, "arguments": vars(args),
                                              "git_commit": manifest.git_commit()})
    atomic.write_text(out / "overhead.md", text)
    print(f"written: {out / 'overhead.md'}")


if __name__ == "__main__":
    main()
