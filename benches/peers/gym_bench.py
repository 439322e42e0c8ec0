#!/usr/bin/env python3
"""Measure the Gymnasium/ALE peers of `pixelgym bench` on this machine (not run by CI).

Setup (once):   python3 -m venv .venv && .venv/bin/pip install gymnasium ale-py opencv-python-headless
Run:            .venv/bin/python gym_bench.py [--seconds 5] [--json]

Each line is one measurement with the same keys as `pixelgym bench --json`
(env, num_envs, preprocess, steps, seconds, steps_per_sec), stepping random actions
on one thread, resetting on episode end, as pixelgym's bench does.
"""
import argparse
import json
import time

import gymnasium as gym
import numpy as np


def make(kind):
    import ale_py  # noqa: F401  (registers ALE/ ids)

    gym.register_envs(ale_py)
    if kind == "pong_raw":
        # ALE v5 defaults: frameskip 4, sticky actions 0.25, 210x160x3 RGB.
        return "ALE/Pong-v5", "none", gym.make("ALE/Pong-v5")
    if kind in ("pong_atari", "breakout_atari"):
        game = "Pong" if kind == "pong_atari" else "Breakout"
        env = gym.make(f"ALE/{game}-v5", frameskip=1)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
        env = gym.wrappers.FrameStackObservation(env, 4)
        return f"ALE/{game}-v5", "atari", env
    if kind == "cartpole":
        return "CartPole-v1", "none", gym.make("CartPole-v1")
    raise ValueError(kind)


def bench(env, seconds, seed):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    actions = rng.integers(0, env.action_space.n, size=8192)

    def run(budget):
        steps = 0
        start = time.perf_counter()
        while True:
            for _ in range(256):
                _, _, term, trunc, _ = env.step(int(actions[steps % 8192]))
                steps += 1
                if term or trunc:
                    env.reset()
            elapsed = time.perf_counter() - start
            if elapsed >= budget:
                return steps, elapsed

    run(seconds / 10)
    return run(seconds)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("kinds", nargs="*", default=["pong_raw", "pong_atari", "breakout_atari", "cartpole"])
    a = p.parse_args()
    for kind in a.kinds:
        env_id, pre, env = make(kind)
        steps, secs = bench(env, a.seconds, a.seed)
        row = dict(env=env_id, num_envs=1, preprocess=pre, steps=steps, seconds=secs,
                   steps_per_sec=steps / secs, peer=f"gymnasium {gym.__version__}")
        print(json.dumps(row) if a.json else
              f"{env_id:16} {pre:10} {steps:>10} {secs:8.2f} {steps / secs:12.0f}")


if __name__ == "__main__":
    main()
