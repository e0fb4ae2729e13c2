"""The train_hands stage: HandNet on the landmarks of the training photos, `more-hands` and your own.

Every photo whose hand was found is one example: its image and world landmarks made canonical once
(``canonical``), then each augmented afresh every epoch in that canonical frame (``augment_landmarks``),
and each branch of HandNet trained on its own with its own loss: turned in the image plane,
stretched along one axis (a camera seeing the hand a little from the side), every joint moved by a little
noise, and (with ``mirror``) flipped to the other hand. Photos in data/extra count ``extra_weight`` times.
The last epoch is kept; the development photos' loss and accuracy are recorded each epoch to watch, not
to choose by (they share people with the training photos).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from signlang.device import select_device
from signlang.errors import SignlangError
from signlang.files import staged_outputs
from signlang.handnet import HandNet, canonical, handnet_checkpoint_writer
from signlang.landmarks import LandmarkSet, read_landmarks
from signlang.model import count_parameters
from signlang.params import HandsAugmentParams, HandsParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandEpoch:
    epoch: int
    train_loss: float
    dev_loss: float
    dev_accuracy: float


Hands = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # canonical image and world landmarks, labels


def canonical_hands(landmarks: LandmarkSet) -> Hands:
    """The found hands of a set: canonical image and world landmarks (N, 21, 3) float32, labels (N,) int64."""
    found = landmarks.found
    handedness = torch.from_numpy(landmarks.handedness[found])
    points = canonical(torch.from_numpy(landmarks.landmarks[found]), handedness)
    world = canonical(torch.from_numpy(landmarks.world[found]), handedness)
    return points, world, torch.from_numpy(landmarks.labels[found])


def join(parts: list[Hands]) -> Hands:
    points, world, labels = zip(*parts)
    return torch.cat(points), torch.cat(world), torch.cat(labels)


def augment_landmarks(points: torch.Tensor, params: HandsAugmentParams, generator: torch.Generator) -> torch.Tensor:
    """Canonical landmarks (B, 21, 3), each hand with a fresh draw: rotated about the wrist in the image
    plane by up to ``rotation`` degrees, stretched along a random image axis by a factor in [1 - stretch,
    1 + stretch], moved joint by joint by Gaussian noise of ``jitter`` palms, mirrored with probability
    ``mirror``."""
    count = len(points)
    uniform = torch.rand(count, 4, generator=generator, device=points.device) * 2 - 1  # [-1, 1)
    angle = uniform[:, 0] * math.radians(params.rotation)
    cos, sin = torch.cos(angle), torch.sin(angle)
    axis = uniform[:, 1] * math.pi
    factor = 1 + uniform[:, 2] * params.stretch
    x, y, z = points.unbind(dim=2)
    x, y = cos[:, None] * x - sin[:, None] * y, sin[:, None] * x + cos[:, None] * y
    along = torch.cos(axis)[:, None] * x + torch.sin(axis)[:, None] * y  # the component along the axis
    x = x + (factor - 1)[:, None] * along * torch.cos(axis)[:, None]
    y = y + (factor - 1)[:, None] * along * torch.sin(axis)[:, None]
    flip = torch.where(uniform[:, 3] * 0.5 + 0.5 < params.mirror, -1.0, 1.0)
    moved = torch.stack([x * flip[:, None], y, z], dim=2)
    noise = torch.randn(moved.shape, generator=generator, device=points.device) * params.jitter
    return moved + noise


def fit_handnet(
    train: Hands, weights: torch.Tensor, dev: Hands, params: HandsParams, device: torch.device,
) -> tuple[HandNet, list[HandEpoch]]:
    """Train a HandNet on canonical ``train`` hands, drawing each example ``weights`` times an epoch."""
    torch.manual_seed(params.seed)
    generator = torch.Generator(device=device).manual_seed(params.seed)
    points, world, labels = (tensor.to(device) for tensor in train)
    dev_hands = tuple(tensor.to(device) for tensor in dev)
    order = torch.repeat_interleave(torch.arange(len(labels), device=device), weights.to(device))
    model = HandNet(params.width, params.dropout).to(device)
    model.fit_standardization(points, world)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    steps = math.ceil(len(order) / params.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, epochs=params.epochs,
                                                    steps_per_epoch=steps)
    criterion = nn.CrossEntropyLoss(label_smoothing=params.label_smoothing)
    history = []
    for epoch in range(1, params.epochs + 1):
        model.train()
        shuffled = order[torch.randperm(len(order), generator=generator, device=device)]
        total = torch.zeros((), device=device)
        for start in range(0, len(shuffled), params.batch_size):
            batch = shuffled[start : start + params.batch_size]
            image, world_logits = model.branch_logits(augment_landmarks(points[batch], params.augment, generator),
                                                      augment_landmarks(world[batch], params.augment, generator))
            loss = criterion(image, labels[batch]) + criterion(world_logits, labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(batch)
        dev_loss, dev_accuracy = evaluate_handnet(model, *dev_hands)
        history.append(HandEpoch(epoch, float(total) / len(shuffled), dev_loss, dev_accuracy))
    return model.eval(), history


@torch.no_grad()
def evaluate_handnet(model: HandNet, points: torch.Tensor, world: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Cross-entropy of the answer (the branches' mean log-probability, renormalized) and top-1 accuracy."""
    if not len(labels):
        return float("nan"), float("nan")
    model.eval()
    logits = model.classify(points, world)
    loss = nn.functional.cross_entropy(logits, labels)
    return float(loss), float((logits.argmax(dim=1) == labels).float().mean())


def train_hands(
    *, train_sets: list[Path], extra: Path, dev: Path, model: Path, metrics: Path, loss_plot: Path,
    params: HandsParams,
) -> dict[str, object]:
    """The train_hands stage: HandNet from the landmark sets, its checkpoint, metrics and per-epoch losses."""
    device = select_device(params.device, "params: 'hands.device'")
    parts = [canonical_hands(read_landmarks(path)) for path in [*train_sets, extra]]
    hands = join(parts)
    labels = hands[2]
    yours = len(parts[-1][2])
    weights = torch.ones(len(labels), dtype=torch.int64)
    weights[len(labels) - yours :] = params.extra_weight
    if len(torch.unique(labels)) < 2:
        raise SignlangError(f"{', '.join(map(str, train_sets))}: hands found for {len(torch.unique(labels))} letter(s); "
                            "training HandNet needs at least two")
    started = time.perf_counter()
    net, history = fit_handnet(hands, weights, canonical_hands(read_landmarks(dev)), params, device)
    seconds = time.perf_counter() - started
    scores = {
        "hands": len(labels), "extra_hands": yours, "parameters": count_parameters(net),
        "epochs": params.epochs, "device": device.type,
        "dev_loss": history[-1].dev_loss, "dev_accuracy": history[-1].dev_accuracy,
    }
    with staged_outputs() as outputs:
        outputs.write(model, handnet_checkpoint_writer(net.cpu(), params.fusion_weight))
        outputs.write_json(metrics, scores)
        outputs.write_json(loss_plot, [asdict(record) for record in history])
    log.info("HandNet: %d hands (%d of yours), %d parameters, %d epochs in %.1f s on %s; development photos' "
             "hands %.4f", len(labels), yours, scores["parameters"], params.epochs, seconds,
             device.type, history[-1].dev_accuracy)
    return scores
