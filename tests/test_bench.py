"""`harness bench`: statistics on known samples, settings and sweep validation, the tables, and real runs of
every framework in fresh processes. No test asserts a wall-clock figure."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import one_error_line

from harness.bench import report as bench_report
from harness.bench import run as bench
from harness.bench import settings
from harness.bench import stats as bench_stats
from harness.cli import main
from harness.core.errors import SpecError
from harness.core.validate import load_spec
from harness.jobs.job import Job

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "experiments" / "mlp_mnist1d.yaml"
NO_GPU = "no NVIDIA GPU on this machine: the GPU path (both frameworks on the GPU, timing synchronised with " \
         "the device, TF32 off) is not exercised here"


# ---- statistics on known samples (numpy's linear interpolation, Hyndman & Fan type 7) ----

@pytest.mark.parametrize("samples, expected", [
    (range(1, 10), dict(n=9, median=5, q1=3, q3=7, iqr=4, p95=8.6, min=1, max=9, spread_percent=80)),
    ([4.0, 1.0, 3.0, 2.0], dict(n=4, median=2.5, q1=1.75, q3=3.25, iqr=1.5, p95=3.85, spread_percent=60)),
    ([0.002] * 5, dict(n=5, median=0.002, iqr=0, p95=0.002, spread_percent=0)),
    ([10.0, 10.0, 10.0, 10.0, 30.0], dict(median=10, q3=10, iqr=0, p95=26, max=30)),  # one outlier: IQR ignores it
    ([1.0, 2.0, 3.0, 4.0, 100.0], dict(median=3, q1=2, q3=4, p95=80.8)),
])
def test_summary_statistics_of_known_samples(samples, expected):
    summary = bench_stats.summarize(samples)
    for name, value in expected.items():
        assert summary[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert summary["p50"] == summary["median"]


def test_summary_of_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        bench_stats.summarize([])


@pytest.mark.parametrize("a, b, fraction, expected", [(100, 109, 0.10, True), (100, 111, 0.10, False),
                                                      (2.0, 1.9, 0.10, True), (1.0, 1.2, 0.10, False)])
def test_repeatability_check(a, b, fraction, expected):
    assert bench_stats.within(a, b, fraction) is expected


def test_ratio_is_nan_when_a_figure_is_missing():
    assert bench_stats.ratio(3.0, 2.0) == 1.5
    assert math.isnan(bench_stats.ratio(3.0, 0.0)) and math.isnan(bench_stats.ratio(float("nan"), 2.0))


# ---- settings, sweeps, bad input ----

@pytest.mark.parametrize("changes, field", [
    (dict(repeats=2), "--repeats"), (dict(threads=0), "--threads"), (dict(warmup_steps=-1), "--warmup-steps"),
    (dict(modes=("graph", "turbo")), "--modes"), (dict(modes=("torch:graph",)), "--modes"),
    (dict(frameworks=("jax",)), "--frameworks"),
    (dict(device="tpu"), "--device"), (dict(steps=0), "--steps"),
])
def test_bad_settings_name_the_option(changes, field):
    with pytest.raises(SpecError) as error:
        settings.Settings(**changes).check()
    assert str(error.value).startswith(field) and "received" in str(error.value)


def test_runs_put_each_default_mode_first_and_filter_by_mode():
    assert settings.Settings().check().runs()[:3] == [("tensorflow", "graph"), ("tensorflow", "eager"),
                                                   ("tensorflow", "xla")]
    pairs = settings.Settings(modes=("compile", "eager")).check().runs()
    assert pairs == [("tensorflow", "eager"), ("torch", "eager"), ("torch", "compile"), ("keras_torch", "eager"),
                     ("keras_torch", "compile")]
    pairs = settings.Settings(modes=("tensorflow:spe", "torch:eager")).check().runs()
    assert pairs == [("tensorflow", "spe"), ("torch", "eager")]


@pytest.mark.parametrize("text, expected", [("batch_size=16,32,64", ("batch_size", (16, 32, 64))),
                                            ("model.layers.0.units=8, 16", ("model.layers.0.units", (8, 16)))])
def test_parse_sweep(text, expected):
    assert settings.parse_sweep(text) == expected


def test_sweep_aliases_change_the_spec():
    spec = load_spec(MLP)
    (_, small), (_, large) = bench.points(spec, ("width", (16, 512)))
    assert [layer.units for layer in small.model.layers if layer.type == "dense"] == [16, 10]  # not the output
    assert [layer.units for layer in large.model.layers if layer.type == "dense"] == [512, 10]
    assert [s.training.batch_size for _, s in bench.points(spec, ("batch_size", (8, 1024)))] == [8, 1024]
    sunspots = load_spec(ROOT / "experiments" / "lstm_sunspots.yaml")
    assert [s.model.input_shape for _, s in bench.points(sunspots, ("sequence_length", (10, 40)))] == [[10, 1],
                                                                                                      [40, 1]]


@pytest.mark.parametrize("arguments, field", [
    (["--repeats", "1"], "--repeats"), (["--sweep", "batch_size"], "--sweep"),
    (["--sweep", "model.layers.7.units=8"], "--sweep"), (["--sweep", "batch_size=0"], "--sweep"),
    (["--modes", "warp"], "--modes"),
])
def test_bad_bench_input_is_one_line_and_exit_2(arguments, field, capsys, tmp_path):
    assert main(["bench", str(MLP), "--out", str(tmp_path / "b"), *arguments]) == 2
    assert one_error_line(capsys).startswith(f"error: {field}")
    assert not (tmp_path / "b").exists()  # nothing measured, nothing written


@pytest.mark.skipif(bench.gpu_visible(), reason="this machine has a GPU")
def test_gpu_asked_of_a_cpu_only_machine(capsys, tmp_path):
    assert main(["bench", str(MLP), "--device", "gpu", "--out", str(tmp_path / "b")]) == 2
    assert "no NVIDIA GPU" in one_error_line(capsys)


def test_an_adapter_without_a_gpu_says_so(torch_adapter):
    import torch

    from harness.core.errors import Unavailable
    from models_torch import bench as torch_bench

    if torch.cuda.is_available():
        pytest.skip("this PyTorch sees a GPU")
    with pytest.raises(Unavailable, match="no GPU"):
        torch_bench.setup_device("gpu", tf32=False)


@pytest.mark.parametrize("framework, mode", [(f, m) for f in ("tensorflow", "torch") for m in settings.MODES[f]])
def test_every_mode_reaches_the_trainer(adapters, framework, mode):
    """The execution settings of each mode are what the trainer holds (read back, not assumed)."""
    from conftest import dense, make_spec

    spec = make_spec([dense(3, "softmax")])
    adapter = adapters[framework]
    trainer = adapter.make_trainer(spec, adapter.build_model(spec.model, seed=0), _target(),
                                   execution=bench.execution(framework, mode, settings.Settings(steps_per_execution=7)))
    held = trainer.execution_settings()
    asked = bench.execution(framework, mode, settings.Settings(steps_per_execution=7))
    assert {name: held[name] for name in asked} == asked
    if framework == "tensorflow":  # the epoch mode runs a whole epoch per call: Keras stops where the data ends
        whole_epoch = 2**31 - 1 if held.get("epoch_per_execution") else None
        assert held["steps_per_execution"] == (whole_epoch or (7 if "spe" in mode else 1))
        assert held["jit_compile"] is ("xla" in mode) and held["run_eagerly"] is (mode == "eager")
    else:  # eager asks for nothing: what the trainer holds must still say it is not compiled
        assert held == {"compile": mode == "compile", "compiled_step": mode == "compiled_step"}


def _target():
    from harness.core.data import Target

    return Target(task="classification", label_format="sparse", metric="accuracy", accuracy="sparse_categorical",
                  units=3)


def test_unknown_execution_settings_are_refused(adapters):
    from conftest import dense, make_spec

    spec = make_spec([dense(3, "softmax")])
    for adapter in adapters.values():
        with pytest.raises(ValueError, match="unknown"):
            adapter.make_trainer(spec, adapter.build_model(spec.model, seed=0), _target(), execution={"warp": 9})


# ---- the tables, from synthetic records (no framework) ----

def _record(framework, mode, step_seconds, point=0, sweep_value=None, status="ok"):
    if status != "ok":
        return {"framework": framework, "mode": mode, "point": point, "sweep_value": sweep_value,
                "status": status, "error": "boom", "order": 0}
    return {"framework": framework, "mode": mode, "point": point, "sweep_value": sweep_value, "status": "ok",
            "device": "cpu", "threads": {"intra_op_threads": 1, "inter_op_threads": 1}, "batch_size": 100,
            "steps": 10, "ready_seconds": 3.0, "first_step_seconds": 1.0, "train_step_seconds": step_seconds,
            "infer_batch1_seconds": [0.001, 0.002, 0.003], "infer_large_seconds": [0.01, 0.01, 0.02],
            "matmul_gflops": [40.0, 50.0, 45.0], "params": 10, "train_flops_per_sample": 1_000_000,
            "peak_rss_mb": 500.0, "versions": {"x": "1"}, "order": 0}


def test_summary_table_speedups_and_achieved_flops():
    records = [_record("tensorflow", "graph", [0.010, 0.010, 0.012]), _record("tensorflow", "spe", [0.005] * 3),
               _record("torch", "eager", [0.004, 0.004, 0.004]), _record("torch", "compile", [], status="failed")]
    table = bench_report.summary_table(records).set_index(["framework", "mode"])
    assert table.loc[("tensorflow", "graph"), "samples_per_second"] == pytest.approx(10_000)  # 100 / 0.010
    assert table.loc[("tensorflow", "spe"), "speedup_vs_default"] == pytest.approx(2.0)
    assert table.loc[("torch", "eager"), "speedup_vs_reference"] == pytest.approx(2.5)      # against TF graph
    assert table.loc[("torch", "eager"), "achieved_gflops"] == pytest.approx(25.0)         # 1e6 x 25000 / 1e9
    assert table.loc[("torch", "eager"), "peak_share_percent"] == pytest.approx(50.0)      # of the best, 50
    assert table.loc[("tensorflow", "graph"), "step_ms_iqr"] == pytest.approx(1.0)         # 10, 10, 12 ms
    assert np.isnan(table.loc[("torch", "compile"), "speedup_vs_default"])
    raw = bench_report.raw_samples(records, None)
    assert (raw[raw["figure"] == "train_step_seconds"].groupby(["framework", "mode"]).size() == 3).all()


def test_rounds_are_pooled_and_a_failed_round_fails_the_run():
    records = [_record("torch", "eager", [0.001, 0.002, 0.003]), _record("torch", "eager", [0.004, 0.005, 0.006]),
               _record("torch", "compile", [0.001] * 3), _record("torch", "compile", [], status="failed")]
    records[1]["first_step_seconds"], records[1]["peak_rss_mb"] = 3.0, 700.0
    table = bench_report.summary_table(records).set_index("mode")
    assert table.loc["eager", "repeats"] == 6 and table.loc["eager", "rounds"] == 2
    assert table.loc["eager", "step_ms_median"] == pytest.approx(3.5)       # of the six pooled samples
    assert table.loc["eager", "round_medians_ms"] == "2.000 5.000"
    assert table.loc["eager", "first_step_seconds"] == pytest.approx(2.0)   # median of 1.0 and 3.0
    assert table.loc["eager", "peak_rss_mb"] == pytest.approx(600.0)
    assert table.loc["compile", "status"] == "failed" and table.loc["compile", "error"] == "boom"


# A stand-in worker that speaks the turn protocol without a framework: it logs each repeat to a shared file next
# to its result. The worker labelled "b" dies once it is ready.
TURN_WORKER = """
import json, os, sys
job = json.load(open(sys.argv[1]))
print("@@ready", flush=True)
if job["label"] == "b":
    sys.exit(3)
for repeat in range(job["repeats"]):
    sys.stdin.readline()
    with open(os.path.join(os.path.dirname(job["result_path"]), "order.txt"), "a") as order:
        order.write(f"{job['label']}{repeat} ")
    print("@@repeat", flush=True)
sys.stdin.readline()
json.dump({"framework": "torch", "seed": 0, "status": "ok"}, open(job["result_path"], "w"))
"""


def test_workers_take_turns_and_a_dead_one_does_not_stop_the_others(tmp_path, monkeypatch):
    from harness.launch import turns as bench_turns

    script = tmp_path / "turn_worker.py"
    script.write_text(TURN_WORKER)
    monkeypatch.setattr(bench_turns, "worker_command", lambda job_path: [sys.executable, str(script), str(job_path)])
    jobs = [(Job(kind="bench", label=name, framework="torch", seed=0, threads=1, spec={}, repeats=3,
                 result_path=str(tmp_path / f"{name}.json"), data_path="unread", device="cpu", tf32=False,
                 execution={}, warmup_steps=0, large_batch=1, infer_calls=1, matmul_size=16),
             tmp_path / f"{name}.job.json") for name in "abc"]
    results = bench_turns.measure_interleaved(jobs, 3, lambda line: None)
    assert (tmp_path / "order.txt").read_text().split() == ["a0", "c0", "a1", "c1", "a2", "c2"]
    assert [result["status"] for result in results] == ["ok", "failed", "ok"]
    assert "exit status 3" in results[1]["error"]


# ---- real runs: every framework, each (framework, mode) in a fresh process ----

FAST = ["--rounds", "1", "--repeats", "3", "--warmup-steps", "1", "--steps", "3", "--infer-calls", "5",
        "--matmul-size", "64", "--large-batch", "64"]


def test_bench_end_to_end_all_frameworks(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "harness", "bench", str(MLP), "--out", str(out), *FAST,
                           "--modes", "graph", "spe", "eager", "default", "--steps-per-execution", "2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert list(zip(summary["framework"], summary["mode"])) == [
        ("tensorflow", "graph"), ("tensorflow", "eager"), ("tensorflow", "spe"), ("torch", "eager"),
        ("keras_torch", "default"), ("keras_torch", "eager")]
    assert (summary["status"] == "ok").all() and (summary["params"] == 6538).all()
    assert (summary["intra_op_threads"] == 1).all() and (summary["inter_op_threads"] == 1).all()
    raw = pd.read_csv(out / "bench.csv")
    steps = raw[raw["figure"] == "train_step_seconds"]
    assert (steps.groupby(["framework", "mode"]).size() == 3).all() and (steps["value"] > 0).all()
    assert (raw[raw["figure"] == "infer_batch1_seconds"].groupby(["framework", "mode"]).size() == 5).all()
    runs = {path.stem.removesuffix("-point0-round0"): json.loads(path.read_text())
            for path in (out / "runs").glob("*.json")}
    assert runs["tensorflow-spe"]["execution"]["steps_per_execution"] == 2
    assert runs["tensorflow-eager"]["execution"]["run_eagerly"] is True
    assert runs["keras_torch-default"]["versions"]["torch"].startswith("2.")  # Keras really ran on torch
    assert "tensorflow" not in runs["keras_torch-default"]["versions"]
    text = (out / "bench.md").read_text()
    for heading in ("## Training", "## Inference and resources", "## Work and hardware use", "matmul peak"):
        assert heading in text
    assert (out / "bench_throughput.png").stat().st_size > 5000
    assert "## Training" in done.stdout


def test_bench_sweep_with_torch_compile(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", str(MLP), "--out", str(out), *FAST, "--frameworks", "torch", "--modes", "compile",
                 "--sweep", "batch_size=8,16"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["sweep_value"]) == [8, 16] and list(summary["batch_size"]) == [8, 16]
    assert (summary["status"] == "ok").all()
    runs = [json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))]
    assert all(run["execution"] == {"compile": True, "compiled_step": False} for run in runs)
    assert "## Scaling with batch_size" in (out / "bench.md").read_text()
    assert (out / "bench_scaling.png").stat().st_size > 5000


@pytest.mark.skipif(not bench.gpu_visible(), reason=NO_GPU)
def test_bench_on_the_gpu(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", str(MLP), "--out", str(out), *FAST, "--device", "gpu", "--frameworks", "torch",
                 "tensorflow", "--modes", "eager", "graph"]) in (0, 1)
    summary = pd.read_csv(out / "summary.csv").set_index("framework")
    assert summary.loc["torch", "status"] == "ok" and "cuda" in summary.loc["torch", "device"]
    # tensorflow-cpu has no GPU: that column is skipped with its reason, never silently run on the CPU
    assert summary.loc["tensorflow", "status"] in ("ok", "skipped")
    assert json.loads((out / "bench.json").read_text())["settings"]["tf32"] is False
