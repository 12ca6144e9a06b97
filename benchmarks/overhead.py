"""Does the harness cost anything? The study notes' own code against the harness, on experiments/mlp_mnist1d.yaml.

One invocation, interleaved rounds. In each round and for each framework, one after another and each in a fresh
process with the same threads and the same prepared MNIST-1D training set:
  1. the hand-written script (benchmarks/notes_keras.py or notes_torch.py), E epochs;
  2. the harness training the spec for the same E epochs (`harness run`'s worker; early stopping off, since the
     notes' code has none);
  3. the harness in each execution mode of `harness bench` (steady-state throughput).
The order of the frameworks, and of steps 1 and 2, alternates from round to round so neither always goes first.

Printed per framework:
  - training time ratio harness / hand-written: sum of the harness' epoch times against the hand-written
    training loop's wall time, E epochs each, first-epoch tracing included on both sides (per round; median);
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

from harness.bench.run import bench_job, environment, run_bench_job
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


def harness_modes(spec, framework: str, data_path: Path, work: Path, args) -> dict:
    """Steady-state samples/s of each execution mode, measured as `harness bench` measures it."""
    settings = Settings(threads=args.threads, repeats=args.repeats, infer_calls=5, matmul_size=64)
    found = {}
    for mode in MODES[framework]:
        if mode == "eager" and framework == "tensorflow":
            continue  # 20x slower than graph: never the fastest, and minutes per round
        job = bench_job(spec, framework, mode, settings, "cpu", data_path, work / f"bench-{framework}-{mode}.json")
        result = run_bench_job(job, work / f"bench-{framework}-{mode}.job.json", lambda line: None)
        if result["status"] == "ok":
            found[mode] = result["batch_size"] / summarize(result["train_step_seconds"])["median"]
    return found


def steady_samples_per_second(record: dict, samples: int) -> float:
    """Samples per second over epochs 2..E (the first carries tracing and start-up)."""
    return samples / statistics.median(record["epoch_seconds"][1:])


def one_round(index: int, spec, data_path: Path, samples: int, work: Path, args) -> dict:
    frameworks = ["tensorflow", "torch"] if index % 2 == 0 else ["torch", "tensorflow"]
    env = {**os.environ, **environment(Settings(threads=args.threads), "cpu")}
    found = {}
    for framework in frameworks:
        if index % 2 == 0:
            hand = hand_written(framework, data_path, work, args, env)
            ours = harness_run(spec, framework, data_path, work, args)
        else:
            ours = harness_run(spec, framework, data_path, work, args)
            hand = hand_written(framework, data_path, work, args, env)
        modes = harness_modes(spec, framework, data_path, work, args)
        found[framework] = {"hand_seconds": hand["total_seconds"], "harness_seconds": ours["total_seconds"],
                            "hand_samples_per_second": steady_samples_per_second(hand, samples),
                            "harness_samples_per_second": steady_samples_per_second(ours, samples),
                            "modes_samples_per_second": modes}
        print(f"round {index + 1} {framework}: hand-written {hand['total_seconds']:.3f} s, harness "
              f"{ours['total_seconds']:.3f} s (ratio {ours['total_seconds'] / hand['total_seconds']:.3f}); modes "
              + ", ".join(f"{mode} {rate:,.0f}/s" for mode, rate in modes.items()), flush=True)
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
        found = guard.read_json(path, "--previous").get("ratios")
        if not isinstance(found, dict) or not all(guard.finite(value) and value > 0 for value in found.values()):
            raise SpecError("--previous", f"expected an overhead.json with positive ratios; received {path}")
    except (SpecError, AttributeError) as error:
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
    results = {framework: summary(rounds, framework) for framework in ("tensorflow", "torch")}
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
