"""Measure signlang's speed on the real data, beside the seed notebook, in one run.

    python benchmarks/speed.py [--raw-dir data/raw] [--repeat 3] [--gpu-only]

(a) one epoch of the seed's data feed (its Dataset + DataLoader, batch 128) against signlang's;
(b) one training epoch, interleaved, best of --repeat: the seed notebook's own loop (Adam 1e-3, no
    augmentation), signlang's train_one_epoch with the seed recipe, and with the default recipe of
    params.yaml (augmentation, mirroring, photo crops in the epoch), each against the seed's loop;
(c) a large float32 matrix product's GFLOP/s, and what the default recipe's epoch achieves;
(d) prepare on the two Kaggle CSVs against a bare pandas.read_csv of both (each a fresh process), its
    int64 parse against a uint8 one and its line-ending check; framing the training photos, per photo;
(e) evaluate as a process against `python -c "import torch, sklearn.metrics"`; its inference with
    BatchNorm kept and folded, and the same FLOPs at (c)'s ceiling as a floor; the evaluate stage and
    the train stage's epoch with glibc's default malloc thresholds and with freed memory kept
    (signlang.allocator, what every stage does);
(f) each stage's wall time and peak memory, run as dvc.yaml calls it (train for one epoch), and
    `dvc repro` with nothing to do;
(g) on a CUDA GPU, when there is one: prepare, train (the whole default recipe) and evaluate as
    dvc.yaml calls them, and the default recipe's epoch; --gpu-only measures these alone.
Prints a Markdown table. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import shlex
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

from signlang.allocator import keep_freed_memory
from signlang.arrays import load_normalization, load_split
from signlang.augment import BatchAugmenter
from signlang.device import to_device
from signlang.kaggle import _check_line_endings
from signlang.model import SignConvNet, fold_batch_norms, predict_logits
from signlang.params import TrainParams, load_params
from signlang.training import build_optimization, train_one_epoch, training_set

PROJECT = Path(__file__).resolve().parents[1]
BATCH = 128
REPEAT_PROCESS = 5
STAGE_ORDER = ("prepare", "train", "evaluate", "evaluate_photos", "export")
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
    """Best wall time of ``repeat`` calls, in seconds (CUDA work included)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def interleaved_best(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each callable over ``repeat`` interleaved rounds: this VM's timings wander by 20%."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            best[name] = min(best[name], timed(run))
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


def inference_flops_per_image(model: nn.Module) -> float:
    """Forward FLOPs of one image through ``model`` as evaluate runs it (with its mirror, if it averages)."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.randn(BATCH, 1, 28, 28))
    return counter.get_total_flops() / BATCH


def peak_process(args: list[str] | str, cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command (a list, or a shell line), under a fresh Python that waits for it."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "cmd = sys.argv[1:] if len(sys.argv) > 2 else sys.argv[1]; "
        "subprocess.run(cmd, shell=isinstance(cmd, str), check=True, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    argv = [args] if isinstance(args, str) else args
    out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, env=python_on_path(), check=True,
                         capture_output=True, text=True)
    seconds, megabytes = out.stdout.split()
    return float(seconds), float(megabytes)


def python_on_path() -> dict[str, str]:
    """The environment with this Python's folder first on PATH: the `python` of dvc.yaml's commands is this one."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def stage_commands() -> dict[str, str]:
    """Each stage's command as dvc.yaml writes it, its ${paths.*} resolved by DVC."""
    from dvc.repo import Repo

    with Repo(str(PROJECT)) as repo:
        stages = [stage for stage in repo.index.stages if getattr(stage, "name", None) in STAGE_ORDER]  # not .dvc files
        return {stage.name: stage.cmd for stage in stages}


def pipeline_copy(work: Path, raw_dir: Path, train_changes: dict[str, object], photos: bool = True) -> Path:
    """The project's stages, code, params and photo folders in ``work``, with the Kaggle CSVs of ``raw_dir``:
    the stage commands of dvc.yaml run there as DVC runs them. Without ``photos`` the folders are empty."""
    for folder in ("stages", "src"):
        shutil.copytree(PROJECT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for folder in ("data/photos/train", "data/photos/dev", "data/extra"):
        if photos:
            shutil.copytree(PROJECT / folder, work / folder)
        else:
            (work / folder).mkdir(parents=True)
    (work / "data/raw").symlink_to(raw_dir)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"] |= train_changes
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    return work


def stage_processes(raw_dir: Path, work: Path) -> list[Row]:
    """(d), (e), (f): prepare against bare read_csv, evaluate against importing torch and sklearn, then each
    stage's wall time and peak memory as dvc.yaml runs it (train for one epoch on the CPU)."""
    commands = stage_commands()
    csvs = [str(raw_dir / f"sign_mnist_{split}.csv") for split in ("train", "test")]
    csvs = [p if Path(p).exists() else f"{p}.gz" for p in csvs]
    bare = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({csvs[0]!r}); pd.read_csv({csvs[1]!r})"]
    imports = [sys.executable, "-c", "import torch, sklearn.metrics"]
    kaggle_only = pipeline_copy(work / "kaggle", raw_dir, {"epochs": 1, "device": "cpu"}, photos=False)
    full = pipeline_copy(work / "full", raw_dir, {"epochs": 1, "device": "cpu"})
    reads, prepares = [], []
    for _ in range(REPEAT_PROCESS):  # interleaved, best of each: this VM's timings wander by 20%
        reads.append(peak_process(bare, work)[0])
        prepares.append(peak_process(commands["prepare"], kaggle_only))
    read_s, prepare_s = min(reads), min(r[0] for r in prepares)
    runs = {name: peak_process(commands[name], full) for name in STAGE_ORDER}
    photos = sum(1 for _ in (full / "data/photos/train").rglob("*.jpg"))
    framing_s = (runs["prepare"][0] - prepare_s) / photos
    import_s, evaluate_s = [], []
    for _ in range(3):
        import_s.append(peak_process(imports, work)[0])
        evaluate_s.append(peak_process(commands["evaluate"], full)[0])
    rows: list[Row] = [
        ("(d) bare pandas.read_csv of both CSVs (process)", f"{read_s:.2f} s", "", ""),
        ("(d) prepare, the Kaggle CSVs only (process)", f"{prepare_s:.2f} s", f"{prepare_s / read_s:.2f}x read_csv",
         ""),
        (f"(d) prepare: framing the {photos} training photos (MediaPipe, every core)",
         f"{framing_s * 1000:.0f} ms/photo", f"{runs['prepare'][0]:.1f} s prepare", ""),
        ("(e) python -c 'import torch, sklearn.metrics'", f"{min(import_s):.2f} s", "", ""),
        ("(e) evaluate stage (process)", f"{min(evaluate_s):.2f} s",
         f"{min(evaluate_s) / min(import_s):.2f}x the imports", "≤ 1.5x"),
    ]
    for name in STAGE_ORDER:
        seconds, megabytes = runs[name]
        label = f"{name} (1 epoch)" if name == "train" else name
        rows.append((f"(f) peak memory: {label}", f"{megabytes:.0f} MB", f"{seconds:.1f} s wall", "≤ 1500 MB"))
    return rows


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
    env = python_on_path() | {"DVC_NO_ANALYTICS": "1"}
    status = subprocess.run([*dvc, "status", "--json"], cwd=PROJECT, env=env, capture_output=True, text=True)
    if status.returncode != 0 or status.stdout.strip() != "{}":
        return ("(f) dvc repro, nothing changed", "skipped", "pipeline not up to date here", "≤ 1.5 s")
    seconds = timed(lambda: subprocess.run([*dvc, "repro"], cwd=PROJECT, env=env, check=True, capture_output=True), 3)
    return ("(f) dvc repro, nothing changed", f"{seconds:.2f} s", "", "≤ 1.5 s")


def seed_recipe(default: TrainParams) -> TrainParams:
    """The seed notebook's recipe: Adam at 1e-3, constant, batch 128, dropout 0.5, no augmentation, no photos."""
    no_augment = dataclasses.replace(default.augment, enabled=False, mirror=False)
    return dataclasses.replace(default, batch_size=BATCH, lr=1e-3, schedule="constant", weight_decay=0.0,
                               label_smoothing=0.0, dropout=0.5, photo_share=0.0, augment=no_augment)


def recipe_epoch(prepared: Path, params: TrainParams, device: torch.device) -> tuple[Callable[[], float], int]:
    """One epoch of ``params`` with the training loop, its data on ``device``, as a callable, and the
    number of images in the epoch (with photo crops, more than the Kaggle split)."""
    splits = {split: load_split(prepared, split) for split in ("train", "photos", "extra")}
    data = training_set(splits["train"], splits["photos"], splits["extra"], params, device)
    model = SignConvNet(dropout=params.dropout).to(device, memory_format=torch.channels_last)
    augmenter = BatchAugmenter(params.augment, load_normalization(prepared), seed=0)
    steps = -(-len(data) // params.batch_size)
    opt = build_optimization(model, params, steps_per_epoch=steps * (params.epochs + 3), augment=augmenter)
    generator = torch.Generator().manual_seed(0)
    return (lambda: train_one_epoch(model, data, opt, params, generator, "bench")), len(data)


def in_process(prepared: Path, repeat: int) -> list[Row]:
    """(a), (b), (c) and (e)'s inference rate on the prepared arrays, in this process, on the CPU."""
    cpu = torch.device("cpu")
    np_images, np_labels = load_split(prepared, "train")
    images, labels = to_device(np_images, np_labels, device=cpu)
    # the seed's Dataset takes 0..255 pixels and scales them itself; the values do not change its speed
    seed_set = SeedSignDataset(np.asarray(np_images).reshape(len(np_labels), -1), np.asarray(np_labels))
    seed_loader = DataLoader(seed_set, batch_size=BATCH)
    generator = torch.Generator().manual_seed(0)
    seed_feed = timed(lambda: [None for _ in seed_loader])
    our_feed = timed(lambda: signlang_feed_epoch(images, labels, generator), repeat=3)

    default = dataclasses.replace(load_params(PROJECT / "params.yaml", "train", TrainParams), device="cpu")
    torch.manual_seed(0)
    seed_model = SignConvNet()
    loops: dict[str, tuple[Callable[[], object], int]] = {
        "seed notebook's loop": ((lambda: seed_training_epoch(seed_model, seed_loader)), len(seed_set)),
        "signlang, seed recipe": recipe_epoch(prepared, seed_recipe(default), cpu),
        "signlang, default recipe": recipe_epoch(prepared, default, cpu),
    }
    best = interleaved_best({name: loop for name, (loop, _) in loops.items()}, repeat)
    seed_loop = best["seed notebook's loop"]
    ceiling = matmul_gflops()
    default_images = loops["signlang, default recipe"][1]
    achieved = training_flops_per_image() * default_images / best["signlang, default recipe"] / 1e9

    torch.manual_seed(0)
    model = SignConvNet(mirror_average=default.augment.mirror).eval()
    for module in model.modules():  # trained-looking BatchNorm statistics; the speed does not depend on them
        if isinstance(module, nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
    models = {"BatchNorm kept": model.to(memory_format=torch.channels_last),
              "BatchNorm folded": fold_batch_norms(copy.deepcopy(model)).to(memory_format=torch.channels_last)}
    test_images, test_labels = to_device(*load_split(prepared, "test"), device=cpu)
    inference = interleaved_best(
        {name: (lambda net=net: predict_logits(net, test_images)) for name, net in models.items()}, repeat=3
    )
    floor_s = inference_flops_per_image(model) * len(test_labels) / (ceiling * 1e9)
    n = len(labels)
    rows: list[Row] = [
        (f"(a) seed data feed, one epoch ({n} images)", f"{seed_feed:.2f} s", "", ""),
        ("(a) signlang data feed, one epoch", f"{our_feed:.3f} s", f"{seed_feed / our_feed:.0f}x faster", "≥ 25x"),
    ]
    for name, seconds in best.items():
        ratio = "" if seconds == seed_loop else f"{seconds / seed_loop:.2f}x the seed's loop"
        rows.append((f"(b) training epoch, {name} ({loops[name][1]} images)", f"{seconds:.1f} s", ratio, ""))
    rows += [
        ("(c) float32 matmul 2048², ceiling", f"{ceiling:.0f} GFLOP/s", "", ""),
        ("(c) default recipe's epoch, achieved", f"{achieved:.0f} GFLOP/s", f"{achieved / ceiling:.0%} of it", ""),
    ]
    what = f"{len(test_labels)} test images{', each with its mirror' if default.augment.mirror else ''}"
    for name, seconds in inference.items():
        rows.append((f"(e) evaluate's inference, {name} ({what})", f"{len(test_labels) / seconds:,.0f} images/s",
                     f"{seconds:.2f} s", ""))
    rows.append(("(e) the same FLOPs at the matmul ceiling, a floor", f"{floor_s:.2f} s",
                 f"{floor_s / inference['BatchNorm folded']:.0%} of folded", ""))
    return rows


ALLOCATOR_CHILD = """
import runpy, sys
sys.path.insert(0, "src")  # the copy's code, as its stage scripts take it
import signlang.cli
if sys.argv[1] == "default":
    signlang.cli.keep_freed_memory = lambda: False  # glibc's own malloc thresholds
sys.argv = sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as done:
    sys.exit(done.code)
"""


def allocator_rows(full: Path, repeat: int) -> list[Row]:
    """(e) and (b): the evaluate stage, and the train stage's epoch (train.epochs=1), each as dvc.yaml runs it
    in the pipeline copy ``full``, with glibc's default malloc thresholds against keep_freed_memory's (what
    every stage does), interleaved, best of ``repeat``."""
    commands = {name: shlex.split(stage_commands()[name])[1:] for name in ("evaluate", "train")}
    timing = full / "logs/train_time.json"
    best = {(stage, mode): float("inf") for stage in commands for mode in ("default", "kept")}
    for _ in range(repeat):
        for stage, mode in best:
            seconds, _ = peak_process([sys.executable, "-c", ALLOCATOR_CHILD, mode, *commands[stage]], full)
            if stage == "train":
                seconds = json.loads(timing.read_text())["seconds_per_epoch"]
            best[stage, mode] = min(best[stage, mode], seconds)
    evaluate_ratio = best["evaluate", "kept"] / best["evaluate", "default"]
    epoch_ratio = best["train", "kept"] / best["train", "default"]
    return [
        ("(e) evaluate stage (process), glibc's default malloc thresholds", f"{best['evaluate', 'default']:.2f} s",
         "", ""),
        ("(e) evaluate stage (process), freed memory kept (signlang.allocator)", f"{best['evaluate', 'kept']:.2f} s",
         f"{evaluate_ratio:.2f}x", ""),
        ("(b) train stage's epoch, default recipe, glibc's default thresholds", f"{best['train', 'default']:.1f} s",
         "", ""),
        ("(b) train stage's epoch, freed memory kept", f"{best['train', 'kept']:.1f} s", f"{epoch_ratio:.2f}x", ""),
    ]


def gpu_rows(raw_dir: Path, work: Path) -> list[Row]:
    """(g) the default recipe on the GPU: prepare, train and evaluate as dvc.yaml runs them, then one epoch in
    this process on the arrays that prepare wrote."""
    gpu = torch.device("cuda")
    default = dataclasses.replace(load_params(PROJECT / "params.yaml", "train", TrainParams), device="cuda")
    commands = stage_commands()
    copy = pipeline_copy(work / "gpu", raw_dir, {"device": "cuda"})
    stages = {name: peak_process(commands[name], copy)[0] for name in ("prepare", "train", "evaluate")}
    total = sum(stages.values())
    epoch, _ = recipe_epoch(copy / "data/prepared", default, gpu)
    epoch()  # warm-up: cuDNN autotuning, allocator
    seconds = timed(epoch, repeat=3)
    name = torch.cuda.get_device_name()
    rows: list[Row] = [(f"(g) {name}: default recipe, one epoch", f"{seconds:.2f} s", "", "≤ 0.3 s")]
    for stage, stage_s in stages.items():
        label = f"{stage} (process, {default.epochs} epochs)" if stage == "train" else f"{stage} (process)"
        rows.append((f"(g) {name}: {label}", f"{stage_s:.1f} s", "", ""))
    rows.append((f"(g) {name}: prepare + train + evaluate", f"{total:.1f} s", "", "≤ 30 s"))
    return rows


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
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats of each training epoch")
    parser.add_argument("--gpu-only", action="store_true", help="only the (g) rows (a few minutes on a GPU)")
    args = parser.parse_args()
    raw_dir = args.raw_dir.resolve()
    if args.gpu_only and not torch.cuda.is_available():
        print("error: --gpu-only: torch sees no CUDA device here", file=sys.stderr)
        return 1
    keep_freed_memory()  # as every stage does; the seed notebook's loop, run in this process, gains from it too
    work = Path(tempfile.mkdtemp(prefix="signlang-bench-"))
    try:
        rows: list[Row] = []
        if not args.gpu_only:
            rows += stage_processes(raw_dir, work)
            rows += parse_choices(raw_dir)
            rows += in_process(work / "full/data/prepared", args.repeat)
            rows += allocator_rows(work / "full", repeat=2)
            rows.append(noop_repro())
        if torch.cuda.is_available():
            rows += gpu_rows(raw_dir, work)
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
