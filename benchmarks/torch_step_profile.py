"""Where a PyTorch training step of a small network spends its time: the operator count and the share of the
matrix products, measured with torch.profiler on the harness' own trainer (eager mode).

    .venv/bin/python benchmarks/torch_step_profile.py [--spec experiments/mlp_mnist1d.yaml] [--steps 200]

It explains the ceiling on small nets: when the products take a few percent of a step, a faster mode can only
remove per-operator overhead (Python, dispatcher, autograd bookkeeping), and torch.compile's own per-call guards
and autograd wrapper cost about as much as they save.
"""

import argparse
import time
from collections import Counter


def _step_us(trainer, x, y, batch: int, steps: int, repeats: int = 5) -> float:
    """Median microseconds per training step over `repeats` passes."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        trainer.train_epoch(x, y, batch)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[repeats // 2] / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="experiments/mlp_mnist1d.yaml")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    import models_torch
    from harness.core import data, flops
    from harness.core.validate import load_spec
    from models_torch.bench import matmul_gflops

    models_torch.configure(args.threads, 0)
    spec = load_spec(args.spec)
    dataset = data.prepare(spec)
    batch = spec.training.batch_size
    x, y = dataset.x_train[:args.steps * batch], dataset.y_train[:args.steps * batch]
    steps = len(x) // batch
    trainer = models_torch.make_trainer(spec, models_torch.build_model(spec.model, seed=0), dataset.target)
    trainer.train_epoch(x, y, batch)  # warm-up
    step_us = _step_us(trainer, x, y, batch, steps)

    # The same Adam as one fused kernel per parameter tensor (torch's fused=True), instead of ~10 ops each.
    fused = models_torch.make_trainer(spec, models_torch.build_model(spec.model, seed=0), dataset.target)
    fused.optimizer = torch.optim.Adam(fused.model.parameters(), **{**fused.optimizer_kwargs, "fused": True,
                                                                    "foreach": None})
    fused.train_epoch(x, y, batch)
    fused_us = _step_us(fused, x, y, batch, steps)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_epoch(x, y, batch)
    # the outermost aten operator of each call (under the optimizer's or autograd's named ranges too)
    events = [e for e in prof.events() if e.name.startswith("aten::")
              and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
    top = Counter(e.name for e in events)
    products = sum(e.cpu_time_total for e in events if e.name in ("aten::addmm", "aten::mm", "aten::matmul",
                                                                 "aten::linear"))
    profiled = sum(e.cpu_time_total for e in events)

    rates = matmul_gflops(1024, 10)
    peak = len(rates) / sum(1 / rate for rate in rates)  # GFLOP/s over the ten products together
    step_flops = flops.training_flops(spec.model) * batch

    print(f"{spec.name}, batch {batch}, {args.threads} thread(s), {steps} steps")
    print(f"step time (unprofiled): {step_us:.0f} us")
    print(f"outermost aten operators per step: {len(events) / steps:.0f} (most frequent: "
          + ", ".join(f"{name.removeprefix('aten::')} {count / steps:.1f}" for name, count in top.most_common(6))
          + ")")
    print(f"mean time per operator (profiled): {profiled / len(events):.1f} us")
    print(f"matrix products (addmm/mm/linear incl. backward's mm): {100 * products / profiled:.1f} % of operator time")
    print(f"training FLOPs per step {step_flops / 1e6:.2f} M; at the measured matmul peak ({peak:.0f} GFLOP/s) "
          f"they need {step_flops / peak / 1e3:.1f} us = {100 * step_flops / peak / 1e3 / step_us:.1f} % of the step")
    print(f"samples/s now {batch / step_us * 1e6:,.0f}; if the step were only its products: "
          f"{batch / (step_flops / peak / 1e3) * 1e6:,.0f}")
    print(f"with a fused Adam (fused=True): {fused_us:.0f} us per step, {batch / fused_us * 1e6:,.0f} samples/s "
          f"({step_us / fused_us:.2f}x)")


if __name__ == "__main__":
    main()
