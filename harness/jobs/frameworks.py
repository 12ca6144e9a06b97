"""The one place a framework adapter is chosen: imported lazily, so `harness` itself never loads one."""

import importlib

from harness.core import registry

# keras_torch (Keras 3 on its PyTorch backend) is a column of `harness bench` only: specs name the first two.
ADAPTERS = {"tensorflow": "models_tf", "torch": "models_torch", "keras_torch": "models_keras_torch"}


def load(framework: str):
    """The adapter module for a framework name ('tensorflow' or 'torch')."""
    return importlib.import_module(registry.get(ADAPTERS, framework, "framework"))


def load_module(framework: str, name: str):
    """One of the adapter's optional modules: 'parity' (layer outputs, instrumented steps), 'tensorboard'."""
    return importlib.import_module(f"{registry.get(ADAPTERS, framework, 'framework')}.{name}")


def load_parity(framework: str):
    """The adapter's parity module (layer outputs and instrumented training steps)."""
    return load_module(framework, "parity")
