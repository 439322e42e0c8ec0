#!/usr/bin/env python3
"""PyTorch peer of `pixelgym bench-train` (not run by CI): the same networks, the same DQN step.

Setup (once):   python3 -m venv benches/peers/.venv
                benches/peers/.venv/bin/pip install torch   (the CPU wheel index works too)
Run:            benches/peers/.venv/bin/python benches/peers/torch_bench.py \
                    --net nature|small [--size 84] [--batch 32] [--threads 1] [--infer] \
                    [--optimizer adam|rmsprop] [--profile] [--seconds 10] [--json]

One training step, as `pixelgym bench-train` does it: sample a batch of u8 4xNxN frame stacks
from a pool, convert both observation batches to float / 255, target-net forward on the next
observations (no grad) and max, online forward, Q of the taken actions, Huber loss
(smooth_l1, delta 1), backward, optimizer step (Adam lr 1e-4 by default). `--infer` measures
acting instead: online forward of `--batch` observations under no_grad, Q-values read back.

Output keys match `pixelgym bench-train --json` (steps_per_sec, samples_per_sec, cpu_seconds,
peak_rss_mib, baseline_rss_mib, load_avg_1m, ...), with "impl": "torch".
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def nature(size, n_actions=6):
    side = ((size - 8) // 4 + 1 - 4) // 2 + 1 - 3 + 1
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, 512), nn.ReLU(),
        nn.Linear(512, n_actions),
    )


def small(size, n_actions=6):
    side = ((size - 5) // 2 + 1 - 5) // 2 + 1
    return nn.Sequential(
        nn.Conv2d(4, 16, 5, stride=2), nn.ReLU(),
        nn.Conv2d(16, 32, 5, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * side * side, 256), nn.ReLU(),
        nn.Linear(256, n_actions),
    )


def rss_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", choices=["nature", "small"], default="nature")
    ap.add_argument("--size", type=int, default=84)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--optimizer", choices=["adam", "rmsprop"], default="adam")
    ap.add_argument("--infer", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    make = nature if a.net == "nature" else small
    online, target = make(a.size), make(a.size)
    target.load_state_dict(online.state_dict())
    if a.optimizer == "adam":
        opt = torch.optim.Adam(online.parameters(), lr=1e-4, eps=1e-8)
    else:
        opt = torch.optim.RMSprop(online.parameters(), lr=2.5e-4, alpha=0.95, eps=0.01, centered=True)

    rng = np.random.default_rng(0)
    pool = torch.from_numpy(rng.integers(0, 256, size=(1024, 4, a.size, a.size), dtype=np.uint8))
    b = a.batch
    gamma = 0.99
    phases = ["sample+to tensors", "target fwd", "online fwd", "loss", "backward", "optimizer"]
    acc = [0.0] * len(phases)

    def step(profile):
        t = time.process_time()
        marks = []

        def lap():
            nonlocal t
            if profile:
                now = time.process_time()
                marks.append(now - t)
                t = now

        idx = torch.from_numpy(rng.integers(0, 1024, size=b))
        nidx = torch.from_numpy(rng.integers(0, 1024, size=b))
        obs = pool[idx].float().div_(255.0)
        nxt = pool[nidx].float().div_(255.0)
        actions = torch.from_numpy(rng.integers(0, 6, size=b))
        rewards = torch.from_numpy(rng.random(b, dtype=np.float32))
        dones = torch.from_numpy((rng.random(b) < 0.01).astype(np.float32))
        lap()
        with torch.no_grad():
            y = rewards + gamma * (1.0 - dones) * target(nxt).max(dim=1).values
        lap()
        q_all = online(obs)
        lap()
        q = q_all.gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        _ = loss.item()
        lap()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lap()
        opt.step()
        lap()
        if profile:
            for i, m in enumerate(marks):
                acc[i] += m

    obs1 = pool[:b].clone()

    def infer():
        with torch.no_grad():
            q = online(obs1.float().div_(255.0))
            return q.numpy().copy()

    work = infer if a.infer else (lambda: step(a.profile))
    for _ in range(10 if a.infer else 3):
        infer() if a.infer else step(False)
    acc[:] = [0.0] * len(phases)
    baseline = rss_mib("VmRSS")
    reset_peak_rss()
    cpu0 = time.process_time()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < a.seconds or n < 3:
        work()
        n += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    out = {
        "impl": "torch",
        "torch": torch.__version__,
        "net": a.net,
        "mode": "infer" if a.infer else "train",
        "optimizer": a.optimizer,
        "batch": b,
        "size": a.size,
        "threads": a.threads,
        "updates": n,
        "seconds": seconds,
        "steps_per_sec": n / seconds,
        "samples_per_sec": n * b / seconds,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": rss_mib("VmHWM"),
        "load_avg_1m": os.getloadavg()[0],
        "cpu_seconds": cpu,
    }
    if a.profile and not a.infer:
        out["profile_ms"] = [[p, 1e3 * s / n] for p, s in zip(phases, acc)]
    if a.json:
        print(json.dumps(out))
    else:
        what = (f"{out['samples_per_sec']:.0f} samples/s" if a.infer
                else f"{out['steps_per_sec']:.2f} training steps/s")
        print(f"torch {torch.__version__} {a.net} 4x{a.size}x{a.size}, batch {b}, {a.threads} thread(s): "
              f"{what} ({n} in {seconds:.1f} s, {cpu:.1f} s CPU; peak RSS {out['peak_rss_mib']:.0f} MiB, "
              f"{baseline:.0f} before; load {out['load_avg_1m']:.2f})")
        for p, ms in out.get("profile_ms", []):
            print(f"  {p:<18} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
