"""Three published models, written as published, through `harness import`: keras.io's "Simple MNIST convnet"
(.keras), pytorch/examples' MNIST Net as an nn.Sequential and the MNIST-1D authors' ConvBase (.pt2, from
torch.export.save). Prints the README's import table: parameter counts and the proof's largest difference.

    .venv/bin/python benchmarks/published_models.py [--out DIR]   (default: a temporary folder, removed after)
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]


def keras_convnet(path: Path) -> None:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                      layers.MaxPooling2D(pool_size=(2, 2)), layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                      layers.MaxPooling2D(pool_size=(2, 2)), layers.Flatten(), layers.Dropout(0.5),
                      layers.Dense(10, activation="softmax")]).save(str(path))


def torch_programs(folder: Path) -> list[Path]:
    import torch
    from torch import nn

    class ConvBase(nn.Module):  # github.com/greydanus/mnist1d, as published
        def __init__(self, output_size=10, channels=25, linear_in=125):
            super().__init__()
            self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
            self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
            self.linear = nn.Linear(linear_in, output_size)

        def forward(self, x):
            x = x.view(-1, 1, x.shape[-1])
            h1 = self.conv1(x).relu()
            h2 = self.conv2(h1).relu()
            h3 = self.conv3(h2).relu()
            h3 = h3.view(h3.shape[0], -1)
            return self.linear(h3)

    torch.manual_seed(0)
    mnist = nn.Sequential(nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25), nn.Flatten(1), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(128, 10), nn.LogSoftmax(dim=1))
    paths = [folder / "pytorch_mnist.pt2", folder / "mnist1d_convbase.pt2"]
    for path, module, example in ((paths[0], mnist, torch.randn(2, 1, 28, 28)), (paths[1], ConvBase(),
                                                                                   torch.randn(2, 40))):
        torch.export.save(torch.export.export(module.eval(), (example,)), str(path))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="keep the model files and the imports here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-published-") as scratch:
        folder = Path(args.out or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        keras_convnet(folder / "mnist_convnet.keras")
        files = [folder / "mnist_convnet.keras", *torch_programs(folder)]
        print("| model file | parameters (original / spec) | largest difference, other framework vs original |")
        print("|---|---:|---:|")
        for path in files:
            done = subprocess.run([sys.executable, "-m", "harness", "import", str(path), "--out",
                                   str(folder / path.stem), "--force"], capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(f"| {path.name} | failed: {done.stderr.strip()} | |")
                continue
            counts = re.search(r"parameters: ([\d,]+) in the original .*?; ([\d,]+) in the spec", done.stdout)
            difference = re.search(r"largest difference (\S+)", done.stdout)
            print(f"| {path.name} | {counts[1]} / {counts[2]} | {difference[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
