"""Keras beyond `spe`: what each lever is worth, as steady-state training samples/s of whole epochs.

One process, one thread (set before TensorFlow starts), one model per variant, all from the same initial weights
and trained on the same epochs (the harness' batch order, the last partial batch kept). Each variant's first
epoch (tracing, XLA compilation) is untimed; then, in each round, every variant trains one epoch, in an order
that reverses from round to round. The ratio to the default `graph` mode is taken within each round, and the
table gives its median over rounds, so machine load that drifts between rounds cancels.

The variants are models_tf.train.Trainer execution settings, and reproductions of what the trainer does not do.
Those without "input dataset" in their name pass fit the numpy arrays (input=arrays), as the harness' modes did
before they took a tf.data.Dataset (the default now); `graph` with the arrays is the reference of the ratios.
  - `graph, read per step (before)`: what the graph mode did before the step losses were recorded on the device:
    a Keras callback resets the loss tracker before each batch (two eager assigns) and reads the loss after it
    (`float(logs["loss"])`);
  - `graph, float(logs) per step`: the same read without the reset, on top of the graph mode with arrays;
  - `graph, input dataset, prefetch(1)`: the tf.data input with one batch prefetched;
  - `..., loop train_function`: Keras' step function (model.train_function) called over an iterator of the
    epoch's tf.data batches without fit; its difference to the fit variant is fit's cost per call and per step.
Two columns: the median of the per-round ratios, and the ratio of each variant's fastest epoch to graph's fastest
(on a loaded machine the fastest epoch is the least disturbed one).

    .venv/bin/python benchmarks/keras_levers.py [--rounds 7] [--threads 1] [--spec experiments/mlp_mnist1d.yaml]
        [--out results/bench/keras_levers.json]
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from harness.core import atomic, data, init
from harness.core.data import batch_size_of, epoch_order
from harness.core.validate import load_spec
from harness.results import manifest

ROOT = Path(__file__).resolve().parent.parent
EPOCH = {"epoch_per_execution": True}
DATASET = {"input": "dataset"}  # what every TensorFlow mode of the harness feeds fit today
ARRAYS = {"input": "arrays"}    # the numpy arrays, Keras' own pipeline: what the modes fed fit before
# name -> Trainer execution settings (N = 32 for the spe rows; N=epoch: one call per epoch); "graph" (numpy arrays)
# is the reference of the ratios
VARIANTS = {
    "graph": ARRAYS,
    "graph, read per step (before)": ARRAYS,
    "graph, float(logs) per step": ARRAYS,
    "graph, input dataset": DATASET,
    "graph, input dataset, prefetch(1)": DATASET,
    "graph, loop train_function": ARRAYS,
    "spe N=32": {"steps_per_execution": 32, **ARRAYS},
    "spe N=32, input dataset": {"steps_per_execution": 32, **DATASET},
    "spe N=32, loop train_function": {"steps_per_execution": 32, **ARRAYS},
    "spe N=epoch": {**EPOCH, **ARRAYS},
    "spe N=epoch, input dataset (mode epoch)": {**EPOCH, **DATASET},
    "spe N=epoch, loop train_function": {**EPOCH, **ARRAYS},
    "xla": {"jit_compile": True, **ARRAYS},
    "xla spe N=32": {"jit_compile": True, "steps_per_execution": 32, **ARRAYS},
    "xla spe N=epoch": {"jit_compile": True, **EPOCH, **ARRAYS},
    "xla spe N=epoch, input dataset": {"jit_compile": True, **EPOCH, **DATASET},
}
# the fit variant and its loop train_function twin, whose difference is fit's fixed cost per call
FIT_COST_PAIRS = [("graph, input dataset", "graph, loop train_function"),
                  ("spe N=epoch, input dataset (mode epoch)", "spe N=epoch, loop train_function")]


def _read_per_step_callback(keras, tracker, reset: bool):
    class ReadPerStep(keras.callbacks.Callback):
        """Reads each batch's loss on the host after the step; with `reset`, resets the loss tracker before it."""

        def on_train_batch_begin(self, batch, logs=None):
            if reset:
                tracker.reset_state()

        def on_train_batch_end(self, batch, logs=None):
            if not math.isfinite(float(logs["loss"])):
                self.model.stop_training = True

    return ReadPerStep()


def _read_per_step(reset: bool):
    """fit on the numpy arrays with a callback that reads every batch's loss (and resets the tracker)."""
    import keras

    def epoch(trainer, x, y, batch_size):
        trainer.step_losses.start(math.ceil(len(x) / batch_size))
        callback = _read_per_step_callback(keras, trainer.step_losses.tracker, reset)
        trainer.model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[callback])
        return trainer.step_losses.read()

    return epoch


def _prefetched(trainer, x, y, batch_size):
    """fit on the tf.data input with one batch prefetched."""
    import tensorflow as tf

    trainer.step_losses.start(math.ceil(len(x) / batch_size))
    trainer.model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(1), epochs=1,
                      verbose=0, shuffle=False)
    return trainer.step_losses.read()


def _train_function_loop(trainer, x, y, batch_size):
    """What fit does for one epoch (metrics reset, then Keras' step function over an iterator of the epoch's
    batches, N steps per call) without fit: no data adapter, no callbacks, no thread pool."""
    import tensorflow as tf

    model, steps = trainer.model, math.ceil(len(x) / batch_size)
    trainer.step_losses.start(steps)
    if not model.optimizer.built:  # fit builds the optimizer's slots before tracing
        model.optimizer.build(model.trainable_variables)
    model.make_train_function()
    model.reset_metrics()
    batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size))
    for _ in range(math.ceil(steps / model.steps_per_execution)):
        model.train_function(batches)
    return trainer.step_losses.read()


def _train_epoch(trainer, x, y, batch_size):
    trainer.train_epoch(x, y, batch_size)
    return trainer.batch_losses


# the reproductions; the other variants train through Trainer.train_epoch
HAND_MADE = {"graph, read per step (before)": _read_per_step(reset=True),
             "graph, float(logs) per step": _read_per_step(reset=False),
             "graph, input dataset, prefetch(1)": _prefetched, "graph, loop train_function": _train_function_loop,
             "spe N=32, loop train_function": _train_function_loop,
             "spe N=epoch, loop train_function": _train_function_loop}


def measure(spec, dataset, rounds: int, log) -> dict:
    """{variant: [epoch seconds of rounds 1..R]} and {variant: first-round batch losses}."""
    import models_tf

    weights = init.initial_weights(spec.model, spec.seeds[0])
    batch_size = batch_size_of(spec, dataset.n_train)
    trainers, epochs = {}, {}
    for name, execution in VARIANTS.items():
        model = models_tf.build_model(spec.model, seed=spec.seeds[0])
        models_tf.set_weights(model, weights)
        trainers[name] = models_tf.make_trainer(spec, model, dataset.target, execution)
        epochs[name] = HAND_MADE.get(name, _train_epoch)
    seconds, losses = {name: [] for name in VARIANTS}, {}
    for index in range(rounds + 1):  # round 0: tracing and compilation, untimed
        order = epoch_order(spec.seeds[0], index, dataset.n_train)
        x, y = dataset.x_train[order], dataset.y_train[order]
        names = list(VARIANTS) if index % 2 == 0 else list(VARIANTS)[::-1]
        for name in names:
            start = time.perf_counter()
            found = epochs[name](trainers[name], x, y, batch_size)
            if index:
                seconds[name].append(time.perf_counter() - start)
            else:
                losses[name] = found
        log(f"round {index}/{rounds} done" + (" (warm-up)" if not index else ""))
    return {"seconds": seconds, "batch_losses": losses}


def table(seconds: dict, n_train: int) -> str:
    base = seconds["graph"]
    lines = ["| variant | settings | samples/s, median [min, max] | x graph, median of rounds [min, max] | "
             "x graph, fastest epochs |", "|---|---|---|---|---|"]
    for name, found in seconds.items():
        rates = [n_train / s for s in found]
        ratios = [b / s for b, s in zip(base, found)]
        settings = ", ".join(f"{k}={v}" for k, v in VARIANTS[name].items()) or "-"
        lines.append(f"| {name} | {settings} | {statistics.median(rates):,.0f} [{min(rates):,.0f}, "
                     f"{max(rates):,.0f}] | {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] | "
                     f"{min(base) / min(found):.2f} |")
    lines.append("")
    for with_fit, without in FIT_COST_PAIRS:
        cost = [a - b for a, b in zip(seconds[with_fit], seconds[without])]
        lines.append(f"fit's cost per epoch ({with_fit} minus its loop train_function twin): median "
                     f"{1000 * statistics.median(cost):.1f} ms [{1000 * min(cost):.1f}, {1000 * max(cost):.1f}], "
                     f"fastest epochs {1000 * (min(seconds[with_fit]) - min(seconds[without])):.1f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "mlp_mnist1d.yaml"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="a JSON file for the raw epoch seconds")
    args = parser.parse_args()
    threads = str(args.threads)
    os.environ.update({"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
                       "OMP_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""})  # before TensorFlow starts
    import models_tf

    spec = load_spec(args.spec)
    if spec.training.class_weight is not None:
        raise SystemExit("keras_levers: the reproduced variants pass no class weights; expected a spec without "
                         f"training.class_weight; received {spec.training.class_weight!r}")
    models_tf.configure(args.threads, spec.seeds[0])
    dataset = data.prepare(spec)
    found = measure(spec, dataset, args.rounds, lambda line: print(line, file=sys.stderr, flush=True))
    reference = np.array(found["batch_losses"]["graph"])
    drift = {name: float(np.max(np.abs(np.array(losses) - reference)))
             for name, losses in found["batch_losses"].items()}
    print(f"{spec.name}: {dataset.n_train} training samples, batch {batch_size_of(spec, dataset.n_train)}, "
          f"{args.threads} thread(s), {args.rounds} rounds; {manifest.machine()['cpu']}\n")
    print(table(found["seconds"], dataset.n_train))
    print("\nfirst epoch's batch losses, largest |difference| to graph (XLA draws other dropout masks): "
          + ", ".join(f"{name} {value:.1e}" for name, value in drift.items()))
    if args.out:
        atomic.write_json(Path(args.out), {**found, "drift_to_graph": drift, "arguments": vars(args),
                                           "machine": manifest.machine(), "versions": models_tf.versions(),
                                           "git_commit": manifest.git_commit()})


if __name__ == "__main__":
    main()
