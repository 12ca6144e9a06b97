"""TensorBoard scalars written by PyTorch itself: the same API, tags and steps as `models_tf.tensorboard`."""

import sys
import types

# torch.utils.tensorboard opens files through tensorboard.compat.tf, which imports all of TensorFlow when it is
# installed: seconds of start-up and hundreds of MB counted in a torch worker's peak_rss_mb. The module
# tensorboard.compat.notf is TensorBoard's own switch to its TensorFlow-free stub. Only where TensorFlow is not
# loaded yet: the switch also disables tf.summary.scalar later in this process (models_tf.tensorboard avoids it).
if "tensorflow" not in sys.modules:
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from torch.utils.tensorboard import SummaryWriter  # noqa: E402


class Writer:
    """One run's event files, under `logdir`."""

    def __init__(self, logdir: str):
        self._writer = SummaryWriter(log_dir=str(logdir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Writes {tag: value} at `step` (the 1-based epoch) and flushes, so a live TensorBoard sees every epoch."""
        for tag, value in values.items():
            self._writer.add_scalar(tag, float(value), global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def open_writer(logdir: str) -> Writer:
    return Writer(logdir)
