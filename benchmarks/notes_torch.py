"""The study notes' PyTorch example (section 3.2), written out as plain code: an nn.Module, a DataLoader loop.

Kept as the notes have it, except for what makes it train exactly what experiments/mlp_mnist1d.yaml trains and
be timed fairly: the spec's L2 penalty (1e-4 times the sum of squares of the first kernel, Keras' l2), the thread
count set as the harness sets it, and a timer around each epoch.

    python benchmarks/notes_torch.py DATA.npz --epochs 10 --batch-size 32 --threads 1 --out result.json

DATA.npz holds `x_train` (N, 40) float32 and `y_train` (N,) integer labels (what `harness.core.data.save` writes).
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


# Define a simple feedforward neural network
class SimpleNN(nn.Module):
    def __init__(self, input_dim):
        super(SimpleNN, self).__init__()
        self.fc1 = nn.Linear(input_dim, 128)
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = self.dropout(x)
        x = self.fc2(x)
        return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    with np.load(args.data) as saved:
        x, y = torch.from_numpy(saved["x_train"]), torch.from_numpy(saved["y_train"]).long()
    train_loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)

    # Initialize the model, loss function, and optimizer
    model = SimpleNN(x.shape[1])
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.001)

    # Train the model
    epoch_seconds = []
    start = time.perf_counter()
    for _epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        for data, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(data)
            loss = criterion(outputs, labels) + 1e-4 * model.fc1.weight.pow(2).sum()
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - epoch_start)
    total = time.perf_counter() - start
    with open(args.out, "w") as handle:
        json.dump({"total_seconds": total, "epoch_seconds": epoch_seconds, "samples": len(x)}, handle)


if __name__ == "__main__":
    main()
