#!/usr/bin/env python3
"""A plain PyTorch (eager) twin of selfsup's default BYOL training step on Fashion-MNIST, for the throughput
comparison in bench/twin-compare --method byol. Same model (small ConvNet width 32, depth 1; projector 512-128 and
predictor 512-128, both with batch norm), same target network (an EMA of encoder and projector, momentum from 0.99
to 1 along a cosine), same batch (256), the augmentations of simclr_twin.py, the same loss (4 - 4 mean cosine over
both directions) and AdamW (lr 0.004, weight decay 1e-4). Prints one JSON line as simclr_twin.py does.
"""
import copy
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclr_twin import SmallConvNet, augment, setup  # noqa: E402


def mlp(cin, hidden, out):
    return nn.Sequential(nn.Linear(cin, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out))


def main():
    a, gen, images, mean, std = setup(__doc__.splitlines()[0])
    online = nn.Sequential(SmallConvNet(32, mean, std), mlp(128, 512, 128))
    predictor = mlp(128, 512, 128)
    target = copy.deepcopy(online)
    for q in target.parameters():
        q.requires_grad_(False)
    opt = torch.optim.AdamW(list(online.parameters()) + list(predictor.parameters()), lr=0.004, weight_decay=1e-4)
    n = images.shape[0]
    order = torch.randperm(n, generator=gen)
    times = []
    loss = None
    b = a.batch_size
    for step in range(a.steps):
        t0 = time.perf_counter()
        start = (step * b) % (n - b)
        x = images[order[start:start + b]].float().div_(255)
        v = torch.cat([augment(x, 28, gen), augment(x, 28, gen)])
        p_ = predictor(online(v))
        with torch.no_grad():
            z = target(v)
        swapped = torch.cat([z[b:], z[:b]])
        loss = 4 - 4 * (F.normalize(p_, dim=1) * F.normalize(swapped, dim=1)).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        m = 1 - (1 - 0.99) * (math.cos(math.pi * (step + 1) / a.steps) + 1) / 2
        with torch.no_grad():
            for po, pt in zip(online.parameters(), target.parameters()):
                pt.mul_(m).add_(po, alpha=1 - m)
        times.append(time.perf_counter() - t0)
    warm = min(10, len(times) // 5)
    median = statistics.median(times[warm:])
    print(json.dumps({
        "impl": "pytorch-eager",
        "method": "byol",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "batch_size": b,
        "median_step_seconds": round(median, 4),
        "images_per_second": round(b / median, 1),
        "final_loss": round(loss.item(), 4),
    }))


if __name__ == "__main__":
    main()
