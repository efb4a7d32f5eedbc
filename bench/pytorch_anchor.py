#!/usr/bin/env python3
"""The speed anchor of shared/BENCHMARK.md: the workloads of bench/cnn-small.ts, in PyTorch.

    /usr/bin/python3 bench/pytorch_anchor.py [--threads 2] [--steps 30] [--epochs 3]
                                             [--workload cnn-small:32x32x3,cnn-small:28x28x1,mlp,resnet:16:10:128]

Prints one JSON line per workload with the same fields as bench/cnn-small.ts ("framework":
"pytorch"), which BLAS library the process loaded (Debian's python3-torch links libblas.so.3,
which is the reference BLAS unless libopenblas0-openmp or -pthread is installed) and, for OpenBLAS,
its build string with the CPU core whose kernels it runs (OPENBLAS_CORETYPE picks it; bench/cnn-small.ts
passes the engine's). The same models,
batch sizes, optimiser (SGD, lr 0.01, momentum 0.9), standard-normal inputs and uniform labels,
3 warm-up steps; figures over the median step (cnn-small) or epoch (mlp).
"""
import argparse
import ctypes
import json
import os
import statistics
import time

import torch
from torch import nn

WARMUP = 3
CNN_BATCH = 128
MLP_BATCH = 64
MLP_EXAMPLES = 12_800


def loaded_blas():
    """Real paths of the BLAS/LAPACK libraries mapped into this process."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if "/" in line else ""
            name = os.path.basename(path)
            if "blas" in name or "lapack" in name or "mkl" in name:
                found.add(os.path.realpath(path))
    return sorted(found)


def openblas_config():
    """OpenBLAS's build string, with the core whose kernels it runs (e.g. "... Cooperlake MAX_THREADS=64"), if loaded."""
    for path in loaded_blas():
        if "openblas" in os.path.basename(path):
            try:
                library = ctypes.CDLL(path)
                library.openblas_get_config.restype = ctypes.c_char_p
                return library.openblas_get_config().decode()
            except (OSError, AttributeError):
                return None
    return None


def cnn_small(channels, height, width):
    flat = 64 * (height // 4) * (width // 4)
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


class BasicBlock(nn.Module):
    """The CIFAR ResNet-18's block (kuangliu/pytorch-cifar), as core/resnet builds it."""

    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def resnet18(width, classes=10):
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    inputs = width
    for stage, factor in enumerate([1, 2, 4, 8]):
        outputs = factor * width
        layers += [BasicBlock(inputs, outputs, 1 if stage == 0 else 2), BasicBlock(outputs, outputs, 1)]
        inputs = outputs
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inputs, classes)]
    return nn.Sequential(*layers)


def run_resnet(width, steps, batch):
    """resnet-18 on 32x32x3 at `width`: training (train mode, SGD as above) and inference (eval mode)."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    torch.manual_seed(1)
    model = resnet18(width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x).numpy()

    infer_rate = rate(batch, timed(steps, infer))
    train_rate = rate(batch, timed(steps, train))
    return {
        "workload": "resnet", "model": f"resnet-18 width {width}", "shape": "32x32x3", "batch": batch, "steps": steps,
        "train_img_s": round(train_rate["median"], 1), "infer_img_s": round(infer_rate["median"], 1),
    }


def timed(steps, fn):
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def rate(count, seconds):
    return {"median": count / statistics.median(seconds), "best": count / min(seconds)}


def run_cnn(shape, steps):
    height, width, channels = (int(v) for v in shape.split("x"))
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(CNN_BATCH, channels, height, width, generator=gen)
    y = torch.randint(0, 10, (CNN_BATCH,), generator=gen)
    torch.manual_seed(1)
    model = cnn_small(channels, height, width)
    loss_fn = nn.CrossEntropyLoss()

    def infer():
        with torch.no_grad():
            model(x).numpy()

    def input_grad():
        xg = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xg), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xg)
        g.numpy()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    infer_rate = rate(CNN_BATCH, timed(steps, infer))
    grad_rate = rate(CNN_BATCH, timed(steps, input_grad))
    train_rate = rate(CNN_BATCH, timed(steps, train))
    return {
        "workload": "cnn-small", "shape": shape, "batch": CNN_BATCH, "steps": steps,
        "train_img_s": round(train_rate["median"], 1), "infer_img_s": round(infer_rate["median"], 1),
        "input_grad_img_s": round(grad_rate["median"], 1),
        "loss_first": round(statistics.mean(losses[WARMUP:WARMUP + 5]), 4), "loss_last": round(statistics.mean(losses[-5:]), 4),
        "best_step_img_s": {"train": round(train_rate["best"], 1), "infer": round(infer_rate["best"], 1), "input_grad": round(grad_rate["best"], 1)},
    }


def run_mlp(epochs):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(MLP_EXAMPLES, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (MLP_EXAMPLES,), generator=gen)
    torch.manual_seed(1)
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    order_gen = torch.Generator().manual_seed(3)
    epoch_losses = []

    def epoch():
        order = torch.randperm(MLP_EXAMPLES, generator=order_gen)
        total = 0.0
        for start in range(0, MLP_EXAMPLES, MLP_BATCH):
            idx = order[start:start + MLP_BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item()
        epoch_losses.append(total / (MLP_EXAMPLES // MLP_BATCH))

    def input_grads():
        out = torch.empty_like(x)
        for start in range(0, MLP_EXAMPLES, MLP_BATCH):
            xg = x[start:start + MLP_BATCH].clone().requires_grad_(True)
            loss = nn.functional.cross_entropy(model(xg), y[start:start + MLP_BATCH], reduction="sum")
            (g,) = torch.autograd.grad(loss, xg)
            out[start:start + MLP_BATCH] = g
        out.numpy()

    # One warm-up epoch (200 steps ≥ the 3 warm-up steps), then `epochs` timed ones.
    epoch()
    train_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch()
        train_times.append(time.perf_counter() - t0)
    input_grads()
    grad_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        input_grads()
        grad_times.append(time.perf_counter() - t0)
    train_rate = rate(MLP_EXAMPLES, train_times)
    grad_rate = rate(MLP_EXAMPLES, grad_times)
    return {
        "workload": "mlp", "shape": "28x28x1", "hidden": [512, 512], "batch": MLP_BATCH, "examples": MLP_EXAMPLES, "epochs": epochs,
        "train_ex_s": round(train_rate["median"], 1), "input_grad_ex_s": round(grad_rate["median"], 1),
        "loss_first": round(epoch_losses[1], 4), "loss_last": round(epoch_losses[-1], 4),
        "best_epoch_ex_s": {"train": round(train_rate["best"], 1), "input_grad": round(grad_rate["best"], 1)},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workload", default="cnn-small:32x32x3,cnn-small:28x28x1,mlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common = {
        "framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas": loaded_blas(), "openblas": openblas_config(), "mkldnn": torch.backends.mkldnn.is_available(),
    }
    for item in args.workload.split(","):
        name, _, shape = item.partition(":")
        if name == "resnet":
            width, steps, batch = (int(v) for v in shape.split(":"))
            record = run_resnet(width, steps, batch)
        else:
            record = run_cnn(shape, args.steps) if name == "cnn-small" else run_mlp(args.epochs) if name == "mlp" else None
        if record is None:
            raise SystemExit(f"pytorch_anchor: unknown workload {item!r}")
        print(json.dumps({**record, **common, "loadavg_1m": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
