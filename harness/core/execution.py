"""How a framework runs the training steps: the execution modes, by name, with what each one is.

One table for `harness bench` (which measures every mode), `harness run` (which trains in the modes that
`training.execution` or `--execution` names, the defaults otherwise) and the parity check between modes. Light to
import: the spec and the command line read it before any framework loads.
"""

# framework -> mode -> (execution settings for the adapter's make_trainer, what the mode is). A
# "steps_per_execution" of None is filled in from the spec (training.steps_per_execution) or bench's settings.
# Every TensorFlow mode feeds fit a tf.data.Dataset of the epoch's batches (models_tf.train.OWN_DEFAULTS).
MODES = {
    "tensorflow": {
        "eager": ({"run_eagerly": True}, "Keras fit with run_eagerly=True: every op dispatched from Python"),
        "graph": ({}, "Keras fit, the step as a tf.function graph (Keras' default)"),
        "xla": ({"jit_compile": True}, "the graph compiled by XLA (jit_compile=True)"),
        "spe": ({"steps_per_execution": None}, "graph, N steps per tf.function call (steps_per_execution=N)"),
        "xla_spe": ({"jit_compile": True, "steps_per_execution": None}, "XLA and steps_per_execution=N"),
        "epoch": ({"epoch_per_execution": True}, "graph, the whole epoch in one tf.function call"),
    },
    "torch": {
        "eager": ({}, "eager PyTorch, the harness' own loop"),
        "compile": ({"compile": True}, "the model's forward through torch.compile (inductor, no CUDA graphs)"),
        "compiled_step": ({"compiled_step": True},
                          "the whole step (forward, loss, penalty, backward, clipping, optimizer update) as one "
                          "torch.compile graph over torch.func parameters"),
    },
    "keras_torch": {
        "eager": ({"run_eagerly": True}, "Keras fit on the PyTorch backend, run_eagerly=True"),
        "default": ({}, "Keras fit on the PyTorch backend, jit_compile=False (Keras' own step, eager torch)"),
        "compile": ({"jit_compile": True}, "Keras fit on the PyTorch backend, the step through torch.compile"),
    },
}
# What `harness run` trains in unless the spec or --execution says otherwise (Keras' own default on TensorFlow).
DEFAULT_MODES = {"tensorflow": "graph", "torch": "eager", "keras_torch": "default"}
FRAMEWORK_TITLES = {"tensorflow": "Keras on TensorFlow", "torch": "PyTorch", "keras_torch": "Keras on PyTorch"}
STEPS_PER_EXECUTION = 32  # N of the spe modes, unless stated


# (framework, mode) -> {layer type: why the mode cannot train it}
UNSUPPORTED = {("torch", "compiled_step"): {
    kind: "dynamo cannot trace torch's RNN modules inside the step ('Attempted to wrap RNN, GRU, or LSTM'), so "
          "recurrent models train in eager or compile mode" for kind in ("simple_rnn", "lstm", "gru")}}


def unsupported(framework: str, mode: str, layer_types: list[str]) -> str | None:
    """Why the mode cannot train a model of these layer types, or None."""
    refused = UNSUPPORTED.get((framework, mode), {})
    for index, kind in enumerate(layer_types):
        if kind in refused:
            return f"{mode} cannot train the {kind} layer model.layers.{index}: {refused[kind]}"
    return None


def settings_of(framework: str, mode: str, steps_per_execution: int = STEPS_PER_EXECUTION) -> dict:
    """The adapter's execution settings for a mode, with steps_per_execution filled in."""
    found = dict(MODES[framework][mode][0])
    if "steps_per_execution" in found:
        found["steps_per_execution"] = steps_per_execution
    return found


def check_modes(chosen: dict) -> dict:
    """{framework: mode} with every framework and mode known; else a ValueError naming what is allowed."""
    for framework, mode in chosen.items():
        if framework not in MODES:
            raise ValueError(f"expected frameworks among {', '.join(MODES)}; received {framework!r}")
        if mode not in MODES[framework]:
            raise ValueError(f"expected a mode of {framework} among {', '.join(MODES[framework])}; received "
                             f"{mode!r}")
    return chosen


def modes_for(chosen: dict | None) -> dict:
    """Every framework's mode: the chosen ones, the defaults for the rest."""
    return {**DEFAULT_MODES, **(chosen or {})}
