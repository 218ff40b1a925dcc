#!/usr/bin/python3
"""PyTorch anchor for bench_train: the same two Fashion-MNIST models, batch size, optimizer,
learning rate and thread count as nibble's bench_train, timed the same way.

Run through bench/compare_training.sh, which gives PyTorch its best configuration:
torch.set_num_threads(2) with OPENBLAS_NUM_THREADS=1 (two thread pools fighting over 2 cores
would slow it down), and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for this run only.
Prints one line per figure:  torch <name> <value> <unit>
"""
import gzip
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist


def read_idx(path, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    y = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz", 8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = x.reshape(-1, 784)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 5, padding=2)
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def epoch_seconds(model, x, y, batch=64, lr=0.01):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    perm = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def tiny_op_microseconds(backward, repeats=20000):
    a = torch.randn(16, requires_grad=backward)
    b = torch.randn(16, requires_grad=backward)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            c = a + b
            if backward:
                c.sum().backward()
        times.append((time.perf_counter() - start) / repeats * 1e6)
    return statistics.median(times)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = load("train")
    xt, yt = load("test")
    for name, cls in (("mlp", Mlp), ("cnn", Cnn)):
        model = cls()
        times = [epoch_seconds(model, x, y) for _ in range(epochs)]
        print(f"torch {name}_epoch_s {statistics.median(times):.3f} s")
        print(f"torch {name}_test_accuracy {accuracy(model, xt, yt):.4f} fraction")
    print(f"torch add16_forward_us {tiny_op_microseconds(False):.2f} us")
    print(f"torch add16_forward_backward_us {tiny_op_microseconds(True):.2f} us")


if __name__ == "__main__":
    main()
