"""The study notes' Keras example (section 3.1), written out as plain code: a Sequential, compile, `model.fit`.

Kept as the notes have it, except for what makes it train exactly what experiments/mlp_mnist1d.yaml trains and
be timed fairly: the spec's L2 penalty (1e-4) on the first kernel, the thread count set as the harness sets it,
`verbose=0` (the harness prints no progress bar either) and an epoch timer callback.

    python benchmarks/notes_keras.py DATA.npz --epochs 10 --batch-size 32 --threads 1 --out result.json

DATA.npz holds `x_train` (N, 40) float32 and `y_train` (N,) integer labels (what `harness.core.data.save` writes).
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from tensorflow.keras import callbacks, layers, models, regularizers, utils

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    with np.load(args.data) as saved:
        train_data, train_labels = saved["x_train"], utils.to_categorical(saved["y_train"], 10)
    input_dim = train_data.shape[1]

    # Build a simple Sequential model
    model = models.Sequential([
        layers.Input(shape=(input_dim,)),
        layers.Dense(128, activation='relu', kernel_regularizer=regularizers.l2(1e-4)),
        layers.Dropout(0.2),
        layers.Dense(10, activation='softmax')  # Output layer for 10-class classification
    ])

    # Compile the model
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

    class EpochTimer(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)

    # Train the model
    epoch_seconds = []
    start = time.perf_counter()
    model.fit(train_data, train_labels, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[EpochTimer()])
    total = time.perf_counter() - start
    with open(args.out, "w") as handle:
        json.dump({"total_seconds": total, "epoch_seconds": epoch_seconds, "samples": len(train_data)}, handle)


if __name__ == "__main__":
    main()
