"""The training loop: whole-tensor batches on the device, the best validation epoch kept."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from signlang.augment import BatchAugmenter
from signlang.arrays import load_normalization, load_split
from signlang.device import select_device, to_device
from signlang.files import staged_outputs
from signlang.model import SignConvNet, checkpoint_writer, count_parameters, predict_logits
from signlang.normalization import Normalization
from signlang.params import TrainParams

log = logging.getLogger(__name__)

POSTFIX_EVERY = 20  # batches between progress-bar loss updates (each one waits for the device)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float


@dataclass
class FitResult:
    history: list[EpochRecord]
    best: EpochRecord
    best_state: dict[str, torch.Tensor]
    epoch_seconds: list[float]


def configure_torch(params: TrainParams, device: torch.device) -> None:
    torch.manual_seed(params.seed)
    if params.amp and device.type != "cuda":
        log.warning("train.amp has no effect on %s: mixed precision is used on CUDA only", device.type)
    if params.deterministic:
        # cuBLAS is deterministic only with a fixed workspace; it reads this before its first call
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(params.deterministic)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not params.deterministic
        torch.backends.cudnn.deterministic = params.deterministic


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Mixed precision on CUDA only: bfloat16 where the GPU has it, else float16 (with a grad scaler)."""
    if not (enabled and device.type == "cuda"):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=amp_dtype())


def amp_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class Optimization:
    """Everything a training step uses besides the model and the data."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None  # stepped once per batch
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    augment: BatchAugmenter


def build_optimization(
    model: nn.Module, params: TrainParams, steps_per_epoch: int, augment: BatchAugmenter
) -> Optimization:
    """AdamW (plain Adam when weight_decay is 0; one fused kernel on CUDA), the learning-rate schedule,
    loss and grad scaler."""
    device_type = next(model.parameters()).device.type
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.lr, weight_decay=params.weight_decay, fused=device_type == "cuda"
    )
    total_steps = params.epochs * steps_per_epoch
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    if params.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=total_steps)
    elif params.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    use_scaler = params.amp and device_type == "cuda" and amp_dtype() == torch.float16
    return Optimization(
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(device_type, enabled=use_scaler),
        criterion=nn.CrossEntropyLoss(label_smoothing=params.label_smoothing),
        augment=augment,
    )


@dataclass
class TrainingSet:
    """What the epochs draw from: the first ``kaggle`` rows are the Kaggle train split, the rest photo crops.
    An epoch is every Kaggle image once and ``photo_draws`` photo crops, each drawn as often as its
    weight (with replacement), shuffled together."""

    images: torch.Tensor  # (N, 1, 28, 28) on the training device
    labels: torch.Tensor  # (N,)
    kaggle: int
    photo_weights: torch.Tensor  # (N - kaggle,) on the CPU
    photo_draws: int

    def __len__(self) -> int:
        return self.kaggle + self.photo_draws

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The row of each image of the epoch, shuffled."""
        if self.photo_draws == 0:
            return torch.randperm(self.kaggle, generator=generator)
        photos = torch.multinomial(self.photo_weights, self.photo_draws, replacement=True, generator=generator)
        rows = torch.cat([torch.arange(self.kaggle), self.kaggle + photos])
        return rows[torch.randperm(len(rows), generator=generator)]


Split = tuple[np.ndarray, np.ndarray]  # images (N, 1, 28, 28) float32, labels (N,) int64


def training_set(kaggle: Split, photos: Split, extra: Split, params: TrainParams, device: torch.device) -> TrainingSet:
    """The Kaggle train split, and the crops of the photos and of your own photos (data/extra), on the
    device; ``photo_share`` of each epoch's images are crops, and each of yours is drawn ``extra_weight``
    times as often as another."""
    images, labels = to_device(
        np.concatenate([kaggle[0], photos[0], extra[0]]), np.concatenate([kaggle[1], photos[1], extra[1]]),
        device=device,
    )
    weights = torch.cat([torch.ones(len(photos[1])), torch.full((len(extra[1]),), params.extra_weight)])
    share = params.photo_share if len(weights) else 0.0
    draws = round(share / (1.0 - share) * len(kaggle[1]))  # so that crops are `share` of the epoch
    return TrainingSet(images, labels, kaggle=len(kaggle[1]), photo_weights=weights, photo_draws=draws)


def train_one_epoch(
    model: nn.Module,
    data: TrainingSet,
    opt: Optimization,
    params: TrainParams,
    generator: torch.Generator,
    description: str,
) -> float:
    """One pass over a fresh draw of the training set; returns the mean loss per image."""
    model.train()
    images, labels = data.images, data.labels
    order = data.epoch_order(generator).to(images.device)  # one copy to the device an epoch, as the draws:
    draws = opt.augment.draw(len(order), images.device)  # no per-batch copy that would wait for the GPU
    total_loss = torch.zeros((), device=images.device)
    seen = 0
    batches = range(0, len(order), params.batch_size)
    with tqdm(batches, desc=description, unit="batch", leave=False, disable=None) as progress:
        for step, start in enumerate(progress, start=1):
            index = order[start : start + params.batch_size]
            batch = images.index_select(0, index)  # (B, 1, 28, 28); 2.5x faster than images[index]
            rows = slice(start, start + params.batch_size)
            batch = opt.augment.apply(batch, None if draws is None else draws[rows])
            batch = batch.contiguous(memory_format=torch.channels_last)
            with autocast(images.device, params.amp):
                loss = opt.criterion(model(batch), labels.index_select(0, index))
            opt.optimizer.zero_grad(set_to_none=True)
            opt.scaler.scale(loss).backward()
            opt.scaler.step(opt.optimizer)
            opt.scaler.update()
            if opt.scheduler is not None:
                opt.scheduler.step()
            total_loss += loss.detach() * len(index)
            seen += len(index)
            if step % POSTFIX_EVERY == 0 or step == len(batches):
                progress.set_postfix(loss=f"{total_loss.item() / seen:.4f}")
    return total_loss.item() / seen


def validate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in eval mode."""
    logits = predict_logits(model, images)
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return loss, accuracy


def is_better(candidate: EpochRecord, best: EpochRecord | None, keep: str) -> bool:
    """With ``keep: best``, higher val accuracy wins and at equal accuracy the later epoch does; with
    ``keep: last``, every epoch replaces the one before.

    With ``prepare.val_split: random`` the val split holds near-duplicates of training images, so with
    augmentation it reaches 100% within a few epochs and accuracy ties for the rest of the run: ``best``
    keeps the last epoch too. Breaking ties by val loss was tried and picked an epoch in the middle of the
    OneCycle schedule, at its highest learning rate; a later epoch has seen more training at a lower
    learning rate. With ``grouped``, val accuracy moves by whole groups of ~20 near-duplicates between
    epochs, and the best epoch can be such a jump before the schedule has ended (docs/benchmarks.md)."""
    return best is None or keep == "last" or candidate.val_accuracy >= best.val_accuracy


def seeds_from(seed: int, count: int) -> list[int]:
    """Independent seeds for separate random streams, all derived from one param."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(count)]


def fit(
    model: nn.Module,
    train: TrainingSet,
    val: tuple[torch.Tensor, torch.Tensor],
    params: TrainParams,
    normalization: Normalization,
) -> FitResult:
    shuffle_seed, augment_seed = seeds_from(params.seed, 2)
    generator = torch.Generator().manual_seed(shuffle_seed)
    augmenter = BatchAugmenter(params.augment, normalization, augment_seed)
    steps_per_epoch = math.ceil(len(train) / params.batch_size)
    opt = build_optimization(model, params, steps_per_epoch, augmenter)
    history: list[EpochRecord] = []
    best: EpochRecord | None = None
    best_state: dict[str, torch.Tensor] = {}
    epoch_seconds: list[float] = []
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        description = f"epoch {epoch}/{params.epochs}"
        train_loss = train_one_epoch(model, train, opt, params, generator, description)
        epoch_seconds.append(time.perf_counter() - started)
        val_loss, val_accuracy = validate(model, *val)
        record = EpochRecord(epoch, train_loss, val_loss, val_accuracy)
        history.append(record)
        log.info(
            "%s: train loss %.4f, val loss %.4f, val accuracy %.4f, %.1f s",
            description, train_loss, val_loss, val_accuracy, epoch_seconds[-1],
        )
        if is_better(record, best, params.keep):
            best = record
            best_state = copy.deepcopy(model.state_dict())
    assert best is not None  # epochs >= 1 is checked with the params
    return FitResult(history, best, best_state, epoch_seconds)


def train(
    *, prepared_dir: Path, model: Path, metrics: Path, loss_plot: Path, timing: Path, params: TrainParams
) -> FitResult:
    """The train stage: fit SignConvNet on the train split, select on val, write model, metrics, curves
    and timings. Everything but the timings is the same on every run with the same params and device
    (bit for bit on CPU), so the wall times are kept out of the metrics file."""
    device = select_device(params.device)
    configure_torch(params, device)
    splits = {split: load_split(prepared_dir, split) for split in ("train", "photos", "extra")}
    data = training_set(splits["train"], splits["photos"], splits["extra"], params, device)
    val_split = to_device(*load_split(prepared_dir, "val"), device=device)
    normalization = load_normalization(prepared_dir)
    mirrored = params.augment.enabled and params.augment.mirror
    net = SignConvNet(dropout=params.dropout, mirror_average=mirrored).to(device, memory_format=torch.channels_last)
    log.info(
        "training on %s: %d Kaggle images and %d photo crops an epoch (drawn from %d photo and %d extra crops), "
        "%d val images", device, data.kaggle, data.photo_draws, len(splits["photos"][1]), len(splits["extra"][1]),
        len(val_split[1]),
    )
    result = fit(net, data, val_split, params, normalization)
    net.load_state_dict(result.best_state)
    with staged_outputs() as outputs:
        outputs.write(model, checkpoint_writer(net, normalization))
        outputs.write_json(loss_plot, [asdict(record) for record in result.history])
        outputs.write_json(metrics, train_metrics(result, device, count_parameters(net)))
        outputs.write_json(timing, train_timing(result, device))
    return result


def train_metrics(result: FitResult, device: torch.device, parameters: int) -> dict[str, object]:
    return {
        "best_epoch": result.best.epoch,
        "best_val_accuracy": result.best.val_accuracy,
        "best_val_loss": result.best.val_loss,
        "device": device.type,
        "parameters": parameters,
    }


def train_timing(result: FitResult, device: torch.device) -> dict[str, object]:
    """Wall times: not a metric, since they differ between identical runs."""
    seconds = result.epoch_seconds
    return {
        "device": device.type,
        "seconds_per_epoch": round(sum(seconds) / len(seconds), 2),
        "epoch_seconds": [round(value, 2) for value in seconds],
    }
