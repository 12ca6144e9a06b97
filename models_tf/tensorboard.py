"""TensorBoard scalars written by TensorFlow itself: the same API, tags and steps as `models_torch.tensorboard`."""

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

# What tf.summary.scalar writes (a float32 tensor marked for the scalars plugin), written with tf.summary.write:
# tf.summary.scalar goes through tensorboard.compat, which models_torch.tensorboard may have pointed at
# TensorBoard's TensorFlow-free stub when both frameworks share a process (`harness run --in-process`).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


class Writer:
    """One run's event files, under `logdir`."""

    def __init__(self, logdir: str):
        self._writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Writes {tag: value} at `step` (the 1-based epoch) and flushes, so a live TensorBoard sees every epoch."""
        with self._writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(value, dtype=tf.float32), metadata=_SCALAR_METADATA)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def open_writer(logdir: str) -> Writer:
    return Writer(logdir)
