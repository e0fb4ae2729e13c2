"""Measure the CPU settings signlang trains and infers with, against the alternatives.

    python benchmarks/cpu_settings.py

Times SignConvNet's training step (Adam, cross-entropy, batches gathered with index_select) on random
images, extrapolated to one epoch of the 24,710-image train split: threads 1 vs 2, NCHW vs
channels_last, batch sizes 32 to 512; then inference throughput by batch size; then where the time of
one training step goes, by operator (torch.profiler). Random values run as fast as real ones. Best of
two runs each; prints Markdown tables. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from signlang.model import SignConvNet, predict_logits

TRAIN_IMAGES = 24_710
SAMPLE = 6_144  # images timed per configuration; the epoch time is extrapolated from them


def epoch_seconds(batch_size: int, channels_last: bool, threads: int) -> float:
    torch.set_num_threads(threads)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    images, labels = torch.randn(SAMPLE, 1, 28, 28), torch.randint(0, 24, (SAMPLE,))
    best = float("inf")
    for _ in range(2):
        model = SignConvNet().to(memory_format=memory_format).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randperm(SAMPLE)
        started = time.perf_counter()
        for start in range(0, SAMPLE, batch_size):
            index = order[start : start + batch_size]
            batch = images.index_select(0, index).contiguous(memory_format=memory_format)
            loss = nn.functional.cross_entropy(model(batch), labels.index_select(0, index))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        best = min(best, time.perf_counter() - started)
    return best * TRAIN_IMAGES / SAMPLE


def inference_images_per_second(batch_size: int) -> float:
    model = SignConvNet().to(memory_format=torch.channels_last).eval()
    images = torch.randn(7_172, 1, 28, 28)
    predict_logits(model, images[:batch_size], batch_size)  # warm-up
    best = min(_timed(lambda: predict_logits(model, images, batch_size)) for _ in range(2))
    return len(images) / best


def step_profile(steps: int = 20, batch_size: int = 128) -> list[tuple[str, float]]:
    """Share of self CPU time per operator over ``steps`` channels_last training steps."""
    model = SignConvNet().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.randn(batch_size, 1, 28, 28), torch.randint(0, 24, (batch_size,))
    batch = images.contiguous(memory_format=torch.channels_last)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    events = [(event.key, event.self_cpu_time_total) for event in profiler.key_averages()]
    total = sum(time for _, time in events)
    return sorted(((name, time / total) for name, time in events), key=lambda row: -row[1])


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    default_threads = torch.get_num_threads()
    rows = [
        ("threads 1, channels_last, batch 128", epoch_seconds(128, True, 1)),
        (f"threads {default_threads}, NCHW, batch 128", epoch_seconds(128, False, default_threads)),
    ]
    rows += [
        (f"threads {default_threads}, channels_last, batch {size}", epoch_seconds(size, True, default_threads))
        for size in (32, 64, 128, 256, 512)
    ]
    torch.set_num_threads(default_threads)
    print(f"| training setting (torch {torch.__version__}) | s per epoch |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")
    print("\n| inference batch size | images/s |\n|---|---|")
    for size in (64, 128, 256, 512, 1024, 2048):
        print(f"| {size} | {inference_images_per_second(size):,.0f} |")
    print("\n| operator (one training step, batch 128, channels_last) | share of CPU time |\n|---|---|")
    for name, share in step_profile()[:12]:
        print(f"| {name} | {share:.0%} |")


if __name__ == "__main__":
    main()
