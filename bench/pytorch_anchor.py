#!/usr/bin/env python3
"""The speed anchor of shared/BENCHMARK.md: the workloads of bench/cnn-small.ts, in PyTorch.

    /usr/bin/python3 bench/pytorch_anchor.py [--threads 2] [--steps 30] [--epochs 3]
                                             [--workload cnn-small:32x32x3,cnn-small:28x28x1,mlp,resnet:16:10:128,quickstart]
    /usr/bin/python3 bench/pytorch_anchor.py --serve mlp [--threads 2]     (paired epochs, commands on stdin)

Prints one JSON line per workload with the same fields as bench/cnn-small.ts ("framework":
"pytorch"), which BLAS library the process loaded (Debian's python3-torch links libblas.so.3,
which is the reference BLAS unless libopenblas0-openmp or -pthread is installed) and, for OpenBLAS,
its build string with the CPU core whose kernels it runs (OPENBLAS_CORETYPE picks it; bench/cnn-small.ts
passes the engine's). The same models,
batch sizes, optimiser (SGD, lr 0.01, momentum 0.9), standard-normal inputs and uniform labels,
3 warm-up steps; figures over the median step (cnn-small) or epoch (mlp).
"""
import argparse
import copy
import ctypes
import json
import os
import statistics
import sys
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


class MlpWorkload:
    """BENCHMARK.md's mlp workload: 784-512-512-10, batch 64, 12,800 standard-normal examples."""

    def __init__(self):
        gen = torch.Generator().manual_seed(7)
        self.x = torch.randn(MLP_EXAMPLES, 1, 28, 28, generator=gen)
        self.y = torch.randint(0, 10, (MLP_EXAMPLES,), generator=gen)
        torch.manual_seed(1)
        self.model = mlp()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()
        self.order_gen = torch.Generator().manual_seed(3)
        self.epoch_losses = []

    def train_epoch(self):
        order = torch.randperm(MLP_EXAMPLES, generator=self.order_gen)
        total = 0.0
        for start in range(0, MLP_EXAMPLES, MLP_BATCH):
            idx = order[start:start + MLP_BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.epoch_losses.append(total / (MLP_EXAMPLES // MLP_BATCH))

    def input_grads(self):
        x, y = self.x, self.y
        out = torch.empty_like(x)
        for start in range(0, MLP_EXAMPLES, MLP_BATCH):
            xg = x[start:start + MLP_BATCH].clone().requires_grad_(True)
            loss = nn.functional.cross_entropy(self.model(xg), y[start:start + MLP_BATCH], reduction="sum")
            (g,) = torch.autograd.grad(loss, xg)
            out[start:start + MLP_BATCH] = g
        out.numpy()


def serve_mlp(common):
    """Paired timing: one line per command read from stdin ("train" or "grad": one epoch of it).

    bench/cnn-small.ts alternates these epochs with its own, so that both sides of each pair run
    within about a second of each other: on a shared machine whose speed drifts by a third within
    minutes, a ratio of medians over rounds minutes apart measures the drift as much as the code.
    """
    work = MlpWorkload()
    work.train_epoch()  # warm-up (200 steps)
    work.input_grads()
    print(json.dumps({"ready": True, **common}), flush=True)
    for line in iter(input_line, None):
        command = line.strip()
        t0 = time.perf_counter()
        if command == "train":
            work.train_epoch()
        elif command == "grad":
            work.input_grads()
        else:
            raise SystemExit(f"pytorch_anchor: unknown command {command!r}")
        print(json.dumps({"command": command, "seconds": time.perf_counter() - t0, "loss": work.epoch_losses[-1]}), flush=True)


def input_line():
    line = sys.stdin.readline()
    return line if line.strip() not in ("", "exit") else None


def run_quickstart_group(seed):
    """The work of one quickstart seed group (manifests/quickstart.json), as a plain PyTorch script.

    8,000 training points (400 of them Gaussian poisons, x + N(0, 1)) and 2,000 test points of
    28x28x1, standard-normal stand-ins for the digits (the speed does not depend on the values);
    the poisoned model trained 10 epochs on all 8,000, retraining and its replica 10 epochs on the
    7,600 clean points from new initial weights, gradient descent from the poisoned model on the clean
    points for 5% and 10% of retraining's 76,000 examples, then for each of the five models the test
    accuracy and the input gradients of the 400 clean originals of the poisons (GUS, batch 256).
    What the tool also does (loading MNIST, the result store, the report, its process) is not here:
    this is the least any framework must compute for the group.
    """
    gen = torch.Generator().manual_seed(seed)
    train_x = torch.randn(8000, 1, 28, 28, generator=gen)
    train_y = torch.randint(0, 10, (8000,), generator=gen)
    test_x = torch.randn(2000, 1, 28, 28, generator=gen)
    test_y = torch.randint(0, 10, (2000,), generator=gen)
    poisoned_x = train_x.clone()
    poisoned_x[:400] += torch.randn(400, 1, 28, 28, generator=gen)
    clean_x, clean_y = train_x[400:], train_y[400:]
    loss_fn = nn.CrossEntropyLoss()

    def train(model, x, y, max_examples):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        seen = 0
        while seen < max_examples:
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), MLP_BATCH):
                if seen >= max_examples:
                    break
                idx = order[start:min(start + MLP_BATCH, start + max_examples - seen)]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
                loss.item()
                seen += len(idx)
        return model

    t0 = time.perf_counter()
    poisoned = train(mlp(), poisoned_x, train_y, 10 * 8000)
    retrain_examples = 10 * len(clean_x)
    models = [poisoned, train(mlp(), clean_x, clean_y, retrain_examples), train(mlp(), clean_x, clean_y, retrain_examples)]
    for budget in (0.05, 0.1):
        models.append(train(copy.deepcopy(poisoned), clean_x, clean_y, round(budget * retrain_examples)))
    for model in models:
        with torch.no_grad():
            (model(test_x).argmax(1) == test_y).float().mean().item()
        for start in range(0, 400, 256):
            xg = train_x[start:min(400, start + 256)].clone().requires_grad_(True)
            loss = nn.functional.cross_entropy(model(xg), train_y[start:start + len(xg)], reduction="sum")
            torch.autograd.grad(loss, xg)[0].numpy()
    return {"workload": "quickstart-cell-group", "seeds": 1, "seconds": round(time.perf_counter() - t0, 2)}


def run_mlp(epochs):
    work = MlpWorkload()
    # One warm-up epoch (200 steps ≥ the 3 warm-up steps), then `epochs` timed ones.
    work.train_epoch()
    train_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        work.train_epoch()
        train_times.append(time.perf_counter() - t0)
    work.input_grads()
    grad_times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        work.input_grads()
        grad_times.append(time.perf_counter() - t0)
    train_rate = rate(MLP_EXAMPLES, train_times)
    grad_rate = rate(MLP_EXAMPLES, grad_times)
    return {
        "workload": "mlp", "shape": "28x28x1", "hidden": [512, 512], "batch": MLP_BATCH, "examples": MLP_EXAMPLES, "epochs": epochs,
        "train_ex_s": round(train_rate["median"], 1), "input_grad_ex_s": round(grad_rate["median"], 1),
        "loss_first": round(work.epoch_losses[1], 4), "loss_last": round(work.epoch_losses[-1], 4),
        "best_epoch_ex_s": {"train": round(train_rate["best"], 1), "input_grad": round(grad_rate["best"], 1)},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workload", default="cnn-small:32x32x3,cnn-small:28x28x1,mlp")
    parser.add_argument("--serve", choices=["mlp"], help="paired timing: run one epoch per command read from stdin")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common = {
        "framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas": loaded_blas(), "openblas": openblas_config(), "mkldnn": torch.backends.mkldnn.is_available(),
    }
    if args.serve:
        serve_mlp(common)
        return
    for item in args.workload.split(","):
        name, _, shape = item.partition(":")
        if name == "resnet":
            width, steps, batch = (int(v) for v in shape.split(":"))
            record = run_resnet(width, steps, batch)
        else:
            record = (
                run_cnn(shape, args.steps) if name == "cnn-small"
                else run_mlp(args.epochs) if name == "mlp"
                else run_quickstart_group(int(shape or 1)) if name == "quickstart"
                else None
            )
        if record is None:
            raise SystemExit(f"pytorch_anchor: unknown workload {item!r}")
        print(json.dumps({**record, **common, "loadavg_1m": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
