"""Measure signlang's speed on the real data, side by side with the seed notebook, in one run.

    python benchmarks/speed.py [--raw-dir ../shared/data/sign-language-mnist]

(a) one epoch of the seed's data feed (its Dataset + DataLoader, batch 128) against signlang's;
(b) one training epoch of the seed's loop against signlang's train_one_epoch;
(c) a large float32 matrix product's GFLOP/s, and the GFLOP/s the training epoch achieves;
(d) prepare's wall time against a bare pandas.read_csv of both files (each a fresh process), and
    in this process: prepare's int64 parse against parsing straight into uint8, and its line-ending check;
(e) evaluate's images per second;
(f) each stage's wall time and peak memory as a process, and `dvc repro` with nothing to do.
Prints a Markdown table. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision.transforms as T
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from signlang.arrays import load_split
from signlang.data import _check_line_endings
from signlang.device import to_device
from signlang.model import SignConvNet, predict_logits
from signlang.params import AugmentParams, TrainParams, load_params
from signlang.training import build_optimization, train_one_epoch

PROJECT = Path(__file__).resolve().parents[1]
BATCH = 128
REPEAT_PROCESS = 5
REPEAT_EPOCH = 2
Row = tuple[str, str, str, str]


# --- the seed notebook's data feed and loop, as it wrote them -------------------------------------
class SeedSignDataset(Dataset):
    def __init__(self, img: np.ndarray, label: np.ndarray) -> None:
        self.classes = np.array(label)
        img = img / 255.0
        self.img = np.array(img).reshape(-1, 28, 28, 1)
        self.transform = T.Compose([T.ToTensor()])

    def __len__(self) -> int:
        return len(self.img)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        label = self.classes[index]
        img = self.img[index]
        img = self.transform(img)
        label = torch.LongTensor([label])
        img = img.float()
        return img, label


def seed_training_epoch(model: nn.Module, loader: DataLoader) -> None:
    criterion = nn.CrossEntropyLoss()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    with tqdm(loader, unit="batch", disable=True) as tepoch:
        for data, target in tepoch:
            out = model(data)
            loss = criterion(out, target.squeeze())
            loss.backward()
            optim.step()
            optim.zero_grad()
            tepoch.set_postfix(loss=loss.item())


# --- measurements ---------------------------------------------------------------------------------
def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def signlang_feed_epoch(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> None:
    order = torch.randperm(len(labels), generator=generator)
    for start in range(0, len(order), BATCH):
        index = order[start : start + BATCH]
        images.index_select(0, index), labels.index_select(0, index)  # as train_one_epoch does


def matmul_gflops(size: int = 2048, repeat: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    seconds = timed(lambda: [a @ b for _ in range(repeat)], repeat=3)
    return 2 * size**3 * repeat / seconds / 1e9


def training_flops_per_image() -> float:
    """Forward + backward FLOPs of one image, counted by PyTorch on a batch of 128."""
    model = SignConvNet()
    batch = torch.randn(BATCH, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(batch), torch.zeros(BATCH, dtype=torch.long)).backward()
    return counter.get_total_flops() / BATCH


def peak_process(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command, run under a fresh Python that waits for it."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, check=True, capture_output=True, text=True)
    seconds, megabytes = out.stdout.split()
    return float(seconds), float(megabytes)


def stage_processes(raw_dir: Path, work: Path) -> list[Row]:
    """(d) and (f): prepare against bare read_csv, then each stage's wall time and peak memory."""
    paths = [str(raw_dir / f"sign_mnist_{split}.csv") for split in ("train", "test")]
    paths = [p if Path(p).exists() else f"{p}.gz" for p in paths]
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"] |= {"epochs": 1, "device": "cpu"}
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    bare = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({paths[0]!r}); pd.read_csv({paths[1]!r})"]
    stage = [sys.executable, str(PROJECT / "stages/prepare.py"), "--raw-dir", str(raw_dir), "--out-dir", "prepared",
             "--params", "params.yaml"]
    reads, runs = [], []
    for _ in range(REPEAT_PROCESS):  # interleaved, best of each: this VM's timings wander by 20%
        reads.append(peak_process(bare, work)[0])
        runs.append(peak_process(stage, work))
    read_s, prepare_s, prepare_mb = min(reads), min(r[0] for r in runs), max(r[1] for r in runs)
    train_s, train_mb = peak_process(
        [sys.executable, str(PROJECT / "stages/train.py"), "--prepared-dir", "prepared", "--model", "model.pt",
         "--metrics", "train.json", "--loss-plot", "loss.json", "--timing", "time.json", "--params", "params.yaml"],
        work)
    eval_s, eval_mb = peak_process(
        [sys.executable, str(PROJECT / "stages/evaluate.py"), "--model", "model.pt", "--prepared-dir", "prepared",
         "--metrics", "eval.json", "--per-class", "per_class.json", "--confusion", "confusion.json",
         "--by-letter", "by_letter.json", "--images-dir", "images"], work)
    return [
        ("(d) bare pandas.read_csv of both CSVs (process)", f"{read_s:.2f} s", "", ""),
        ("(d) prepare stage (process)", f"{prepare_s:.2f} s", f"{prepare_s / read_s:.2f}x read_csv", "≤ 1.3x"),
        ("(f) peak memory: prepare", f"{prepare_mb:.0f} MB", "", "≤ 1500 MB"),
        ("(f) peak memory: train (1 epoch)", f"{train_mb:.0f} MB", f"{train_s:.1f} s wall", "≤ 1500 MB"),
        ("(f) peak memory: evaluate", f"{eval_mb:.0f} MB", f"{eval_s:.1f} s wall", "≤ 1500 MB"),
    ]


def parse_choices(raw_dir: Path) -> list[Row]:
    """(d) in this process, best of 5: the parse prepare uses, the uint8 parse, the line-ending check."""
    paths = [raw_dir / f"sign_mnist_{split}.csv" for split in ("train", "test")]
    paths = [path if path.exists() else path.with_name(f"{path.name}.gz") for path in paths]

    def read_all(**options: object) -> None:
        for path in paths:
            pd.read_csv(path, encoding="utf-8-sig", na_filter=False, **options)

    inferred = timed(read_all, repeat=REPEAT_PROCESS)
    as_uint8 = timed(lambda: read_all(dtype=np.uint8), repeat=REPEAT_PROCESS)
    line_endings = timed(lambda: [_check_line_endings(path) for path in paths], repeat=REPEAT_PROCESS)
    return [
        ("(d) read_csv of both CSVs, inferred int64 (prepare's parse)", f"{inferred:.2f} s", "", ""),
        ("(d) read_csv of both CSVs, dtype uint8", f"{as_uint8:.2f} s", f"{as_uint8 / inferred:.2f}x int64", ""),
        ("(d) prepare's line-ending check, both CSVs", f"{line_endings:.3f} s", "", ""),
    ]


def noop_repro() -> Row:
    """(f) `dvc repro` in the project when its pipeline is up to date."""
    dvc = [sys.executable, "-m", "dvc"]
    env = os.environ | {"DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    status = subprocess.run([*dvc, "status", "--json"], cwd=PROJECT, env=env, capture_output=True, text=True)
    if status.returncode != 0 or status.stdout.strip() != "{}":
        return ("(f) dvc repro, nothing changed", "skipped", "pipeline not up to date here", "≤ 1.5 s")
    seconds = timed(lambda: subprocess.run([*dvc, "repro"], cwd=PROJECT, env=env, check=True, capture_output=True), 3)
    return ("(f) dvc repro, nothing changed", f"{seconds:.2f} s", "", "≤ 1.5 s")


def seed_recipe() -> TrainParams:
    """The seed notebook's recipe: Adam at 1e-3, constant, batch 128, no augmentation or smoothing."""
    no_augment = AugmentParams(enabled=False, rotation=0, translation=0, scale=0, brightness=0, contrast=0)
    default = load_params(PROJECT / "params.yaml", "train", TrainParams)
    return dataclasses.replace(default, batch_size=BATCH, lr=1e-3, schedule="constant", weight_decay=0.0,
                               label_smoothing=0.0, device="cpu", augment=no_augment)


def in_process(prepared: Path) -> list[Row]:
    """(a), (b), (c), (e) on the prepared arrays, in this process."""
    np_images, np_labels = load_split(prepared, "train")
    images, labels = to_device(np_images, np_labels, device=torch.device("cpu"))
    # the seed's Dataset takes 0..255 pixels and scales them itself; the values do not change its speed
    seed_set = SeedSignDataset(np.asarray(np_images).reshape(len(np_labels), -1), np.asarray(np_labels))
    seed_loader = DataLoader(seed_set, batch_size=BATCH)
    generator = torch.Generator().manual_seed(0)

    seed_feed = timed(lambda: [None for _ in seed_loader])
    our_feed = timed(lambda: signlang_feed_epoch(images, labels, generator), repeat=3)

    torch.manual_seed(0)
    seed_model = SignConvNet()
    model = SignConvNet().to(memory_format=torch.channels_last)
    params = seed_recipe()
    opt = build_optimization(model, params, steps_per_epoch=len(labels) // BATCH + 1, augment=lambda x: x)
    seed_loops, our_loops = [], []
    for _ in range(REPEAT_EPOCH):  # interleaved, best of each
        seed_loops.append(timed(lambda: seed_training_epoch(seed_model, seed_loader)))
        our_loops.append(timed(lambda: train_one_epoch(model, images, labels, opt, params, generator, "bench")))
    seed_loop, our_loop = min(seed_loops), min(our_loops)

    ceiling = matmul_gflops()
    achieved = training_flops_per_image() * len(labels) / our_loop / 1e9

    test_images, test_labels = to_device(*load_split(prepared, "test"), device=torch.device("cpu"))
    predict_logits(model, test_images[:BATCH])  # warm-up
    eval_s = timed(lambda: predict_logits(model, test_images), repeat=3)
    n = len(labels)
    return [
        (f"(a) seed data feed, one epoch ({n} images)", f"{seed_feed:.2f} s", "", ""),
        ("(a) signlang data feed, one epoch", f"{our_feed:.3f} s", f"{seed_feed / our_feed:.0f}x faster", "≥ 25x"),
        ("(b) seed training loop, one epoch", f"{seed_loop:.1f} s", "", ""),
        ("(b) signlang train_one_epoch", f"{our_loop:.1f} s", f"{our_loop / seed_loop:.2f}x the seed's", "≤ 0.5x"),
        ("(c) float32 matmul 2048², ceiling", f"{ceiling:.0f} GFLOP/s", "", ""),
        ("(c) signlang training epoch, achieved", f"{achieved:.0f} GFLOP/s", f"{achieved / ceiling:.0%} of it", ""),
        (f"(e) evaluate: inference on the test set ({len(test_labels)} images)",
         f"{len(test_labels) / eval_s:,.0f} images/s", f"{eval_s:.2f} s", ""),
    ]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--raw-dir", type=Path, default=PROJECT / "data/raw", help="the Kaggle CSVs, plain or .gz (default: data/raw)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="signlang-bench-"))
    try:
        rows = stage_processes(args.raw_dir.resolve(), work)
        rows += parse_choices(args.raw_dir.resolve())
        rows += in_process(work / "prepared")
        rows.append(noop_repro())
    finally:
        shutil.rmtree(work)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| measurement | value | ratio | target |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
