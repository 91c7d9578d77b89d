#!/usr/bin/env python3
"""A plain PyTorch (eager) twin of selfsup's default SimCLR training step on Fashion-MNIST, for the throughput
comparison in bench/twin-compare. Same model (small ConvNet width 32, depth 1, MLP head 512-128 with batch norm),
same batch (256), same augmentations done batched on tensors (random resized crop 0.2-1 with ratios 3/4-4/3,
bilinear; horizontal flip p 0.5; brightness and contrast 0.4 with p 0.8), the same NT-Xent (temperature 0.2) and
AdamW (lr 0.004, weight decay 1e-4). Prints one JSON line: the median step time after warm-up and images/s
(source images per second), measured as ssl-bench measures them.
"""
import argparse
import gzip
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w).copy())


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallConvNet(nn.Module):
    def __init__(self, width, mean, std):
        super().__init__()
        w = [width, 2 * width, 4 * width]
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.body = nn.Sequential(
            *conv_bn_relu(1, w[0]), nn.MaxPool2d(2),
            *conv_bn_relu(w[0], w[1]), nn.MaxPool2d(2),
            *conv_bn_relu(w[1], w[2]),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.body((x - self.mean) / self.std)


def random_resized_crop(x, size, scale_min, gen):
    """Batched random resized crop: one box per image as torchvision draws it, bilinear via affine_grid."""
    b, _, h, w = x.shape
    area = torch.empty(b).uniform_(scale_min, 1.0, generator=gen) * h * w
    log_r = torch.empty(b).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen)
    ratio = torch.exp(log_r)
    cw = torch.sqrt(area * ratio).round().clamp(1, w)
    ch = torch.sqrt(area / ratio).round().clamp(1, h)
    top = torch.rand(b, generator=gen) * (h - ch + 1)
    left = torch.rand(b, generator=gen) * (w - cw + 1)
    top, left = top.floor(), left.floor()
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = cw / w
    theta[:, 1, 1] = ch / h
    theta[:, 0, 2] = (2 * left + cw) / w - 1
    theta[:, 1, 2] = (2 * top + ch) / h - 1
    grid = F.affine_grid(theta, (b, x.shape[1], size, size), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment(x, size, gen):
    b = x.shape[0]
    x = random_resized_crop(x, size, 0.2, gen)
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    on = (torch.rand(b, generator=gen) < 0.8).float().view(b, 1, 1, 1)
    bright = 1 + on * (torch.rand(b, 1, 1, 1, generator=gen) * 0.8 - 0.4)
    contrast = 1 + on * (torch.rand(b, 1, 1, 1, generator=gen) * 0.8 - 0.4)
    x = (x * bright).clamp(0, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean).clamp(0, 1)


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    logits = logits - torch.eye(2 * n) * 1e9
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, target)


def setup(description):
    """The twins' common start: options, threads, seeds, Fashion-MNIST and its mean and std."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    images = read_idx_images(f"{a.data_dir}/train-images-idx3-ubyte.gz")
    pixels = images.float() / 255
    mean, std = [pixels.mean().item()], [pixels.std().item()]
    return a, gen, images, mean, std


def main():
    a, gen, images, mean, std = setup(__doc__.splitlines()[0])
    encoder = SmallConvNet(32, mean, std)
    head = nn.Sequential(nn.Linear(128, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                         nn.Linear(512, 128))
    model = nn.Sequential(encoder, head)
    opt = torch.optim.AdamW(model.parameters(), lr=0.004, weight_decay=1e-4)
    n = images.shape[0]
    order = torch.randperm(n, generator=gen)
    times = []
    loss = None
    for step in range(a.steps):
        t0 = time.perf_counter()
        start = (step * a.batch_size) % (n - a.batch_size)
        x = images[order[start:start + a.batch_size]].float().div_(255)
        v1 = augment(x, 28, gen)
        v2 = augment(x, 28, gen)
        z = model(torch.cat([v1, v2]))
        loss = nt_xent(z[:a.batch_size], z[a.batch_size:], 0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    warm = min(10, len(times) // 5)
    median = statistics.median(times[warm:])
    print(json.dumps({
        "impl": "pytorch-eager",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "batch_size": a.batch_size,
        "median_step_seconds": round(median, 4),
        "images_per_second": round(a.batch_size / median, 1),
        "final_loss": round(loss.item(), 4),
    }))


if __name__ == "__main__":
    main()
