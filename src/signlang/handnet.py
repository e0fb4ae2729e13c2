"""HandNet: letters from the shape of the hand, MediaPipe's 21 landmarks, instead of from pixels.

Skin, light, room and camera move a photo's pixels; the positions of the joints move with the letter.
HandNet's input is what ``HandFinder`` finds: the landmarks in the photo's pixels, MediaPipe's world
landmarks (its 3D estimate of the same joints, in metres) and the handedness. Its ``forward`` makes both
sets independent of where the hand is, how large, and which hand (``canonical``), turns each into
features (``hand_features``), classifies each with a small MLP of its own, and averages the two
branches' log-probabilities: the two views err on different photos (docs/hands.md). Training augments the
canonical landmarks and calls ``branch_logits``; `signlang predict`, the evaluation and the ONNX export
(so the demo page) call ``forward``: one function computes the features for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from signlang import LETTERS, NUM_CLASSES
from signlang.errors import SignlangError
from signlang.files import Writer
from signlang.hand_finding import LANDMARKS
from signlang.model import read_checkpoint

WRIST, MIDDLE_KNUCKLE = 0, 9  # the palm's length, wrist to the middle finger's knuckle, is the unit of length
CHECKPOINT_FORMAT = 2  # 1: one branch, image landmarks only


def canonical(landmarks: torch.Tensor, handedness: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) landmarks in pixels and (B,) handedness (+1 right, -1 left) -> (B, 21, 3): the wrist at
    the origin, a left hand mirrored to the right one it mirrors, lengths in palms (wrist to middle knuckle
    in the image plane). Moving or scaling the landmarks leaves this unchanged."""
    points = landmarks - landmarks[:, WRIST : WRIST + 1]
    points = torch.cat([points[..., :1] * handedness.reshape(-1, 1, 1), points[..., 1:]], dim=2)  # x mirrored
    palm = points[:, MIDDLE_KNUCKLE, :2].norm(dim=1).clamp_min(1e-6)  # (B,)
    return points / palm.reshape(-1, 1, 1)


_PAIRS = torch.triu_indices(LANDMARKS, LANDMARKS, offset=1)  # (2, 210): every pair of joints once


def hand_features(points: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) canonical landmarks -> (B, 270): the 20 joints' coordinates (the wrist is the origin)
    and the distance between every pair of joints."""
    first, second = _PAIRS.to(points.device)
    distances = (points[:, first] - points[:, second]).norm(dim=2)  # (B, 210)
    return torch.cat([points[:, 1:].flatten(1), distances], dim=1)


FEATURES = (LANDMARKS - 1) * 3 + len(_PAIRS[0])


def mlp(width: int, dropout: float, num_classes: int) -> nn.Sequential:
    """Two hidden layers of ``width`` with ReLU and dropout, then the classes' logits."""
    return nn.Sequential(
        nn.Linear(FEATURES, width), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(width, num_classes),
    )


BRANCHES = ("image", "world")  # the landmarks in the photo's pixels; MediaPipe's world landmarks


class HandNet(nn.Module):
    """Each branch: canonical landmarks -> features -> standardized (by the training set's mean and std) ->
    an MLP; the output is the mean of the two branches' log-probabilities (B, num_classes), index i is
    letter i (A=0 ... Z=25), as SignConvNet's."""

    def __init__(self, width: int, dropout: float, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.width, self.dropout = width, dropout
        self.register_buffer("feature_mean", torch.zeros(len(BRANCHES), FEATURES))
        self.register_buffer("feature_std", torch.ones(len(BRANCHES), FEATURES))
        self.image_mlp = mlp(width, dropout, num_classes)
        self.world_mlp = mlp(width, dropout, num_classes)

    def fit_standardization(self, points: torch.Tensor, world: torch.Tensor) -> None:
        """Standardize each branch's features by their mean and std over the training set's canonical
        ``points`` and ``world`` landmarks."""
        for branch, values in enumerate((points, world)):
            features = hand_features(values)
            self.feature_mean[branch].copy_(features.mean(dim=0))
            self.feature_std[branch].copy_(features.std(dim=0).clamp_min(1e-6))

    def branch_logits(self, points: torch.Tensor, world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 21, 3) canonical image and world landmarks -> each branch's (B, num_classes) logits."""
        image = (hand_features(points) - self.feature_mean[0]) / self.feature_std[0]  # (B, 270)
        world_features = (hand_features(world) - self.feature_mean[1]) / self.feature_std[1]
        return self.image_mlp(image), self.world_mlp(world_features)

    def classify(self, points: torch.Tensor, world: torch.Tensor) -> torch.Tensor:
        """(B, 21, 3) canonical image and world landmarks -> (B, num_classes): the branches' mean log-probability."""
        image, world_logits = self.branch_logits(points, world)
        return (torch.log_softmax(image, dim=1) + torch.log_softmax(world_logits, dim=1)) / 2

    def forward(self, landmarks: torch.Tensor, world: torch.Tensor, handedness: torch.Tensor) -> torch.Tensor:
        """(B, 21, 3) landmarks in pixels, (B, 21, 3) world landmarks, (B,) handedness -> (B, num_classes)."""
        return self.classify(canonical(landmarks, handedness), canonical(world, handedness))


@dataclass(frozen=True)
class LoadedHandNet:
    model: HandNet
    classes: tuple[str, ...]
    fusion_weight: float  # the share of HandNet in the fused answer: w log p_hands + (1 - w) log p_cnn


def handnet_checkpoint_writer(model: HandNet, fusion_weight: float) -> Writer:
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "architecture": "HandNet",
        "width": model.width,
        "dropout": model.dropout,
        "num_classes": model.image_mlp[-1].out_features,
        "classes": list(LETTERS),
        "fusion_weight": fusion_weight,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
    }
    return lambda handle: torch.save(checkpoint, handle)


def load_handnet(path: Path, device: torch.device) -> LoadedHandNet:
    checkpoint = read_checkpoint(path, device)
    if (not isinstance(checkpoint, dict) or checkpoint.get("architecture") != "HandNet"
            or checkpoint.get("format") != CHECKPOINT_FORMAT):
        raise SignlangError(f"{path}: not a HandNet checkpoint (expected format {CHECKPOINT_FORMAT})")
    model = HandNet(checkpoint["width"], checkpoint["dropout"], checkpoint["num_classes"])
    model.load_state_dict(checkpoint["state_dict"])
    return LoadedHandNet(model.eval().to(device), tuple(checkpoint["classes"]), float(checkpoint["fusion_weight"]))
