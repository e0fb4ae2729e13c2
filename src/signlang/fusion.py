"""Answers of SignConvNet, HandNet, and both fused, for a batch of framed crops and the hands found.

Fused: w log p(HandNet) + (1 - w) log p(SignConvNet), renormalized, where a hand was found (w is
hands.fusion_weight, kept in HandNet's checkpoint); SignConvNet alone where none was. HandNet alone has
no answer without a hand. `signlang predict` and the evaluate_photos stage both answer through
``log_probabilities``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from signlang.handnet import LoadedHandNet
from signlang.model import LoadedModel, predict_logits

MODELS = ("fused", "hands", "cnn")


@dataclass(frozen=True)
class Models:
    cnn: LoadedModel
    hands: LoadedHandNet | None  # None: answer with SignConvNet alone (`--model cnn`)

    def classes(self) -> tuple[str, ...]:
        return self.cnn.classes


@dataclass(frozen=True)
class Answers:
    """Log-probabilities (N, classes) of each model, and where each has an answer."""

    log_probabilities: dict[str, torch.Tensor]  # by model name in MODELS
    answered: dict[str, torch.Tensor]  # (N,) bool: HandNet answers where a hand was found, the others always


def cnn_log_probabilities(loaded: LoadedModel, pixels: np.ndarray) -> torch.Tensor:
    """SignConvNet's log-softmax (N, classes) for uint8 crops (N, 784), normalized as prepare does."""
    device = next(loaded.model.parameters()).device
    images = loaded.normalization.to_model_input(pixels)  # (N, 1, 28, 28)
    logits = predict_logits(loaded.model, torch.from_numpy(images).to(device))
    return torch.log_softmax(logits.float(), dim=1).cpu()


@torch.no_grad()
def hand_log_probabilities(
    loaded: LoadedHandNet, landmarks: np.ndarray, world: np.ndarray, handedness: np.ndarray
) -> torch.Tensor:
    """HandNet's log-softmax (N, classes) for landmarks (N, 21, 3) in pixels, world landmarks (N, 21, 3) and
    handedness (N,)."""
    device = loaded.model.feature_mean.device
    inputs = [torch.from_numpy(np.asarray(array, np.float32)).to(device) for array in (landmarks, world, handedness)]
    return torch.log_softmax(loaded.model(*inputs).float(), dim=1).cpu()


def fuse(cnn: torch.Tensor, hands: torch.Tensor, found: torch.Tensor, weight: float) -> torch.Tensor:
    """The fused log-probabilities: the weighted sum renormalized where ``found``, ``cnn`` elsewhere."""
    mixed = torch.log_softmax(weight * hands + (1.0 - weight) * cnn, dim=1)
    return torch.where(found[:, None], mixed, cnn)


def log_probabilities(
    models: Models, pixels: np.ndarray, found: np.ndarray, landmarks: np.ndarray, world: np.ndarray,
    handedness: np.ndarray,
) -> Answers:
    """Every model's answers for N inputs: crops (N, 784) uint8, and where ``found`` (N,) the hand's
    landmarks and world landmarks (N, 21, 3) and handedness (N,) (ignored elsewhere)."""
    cnn = cnn_log_probabilities(models.cnn, pixels)
    everywhere = torch.ones(len(cnn), dtype=torch.bool)
    if models.hands is None:
        return Answers({"cnn": cnn}, {"cnn": everywhere})
    found_t = torch.from_numpy(np.asarray(found, bool))
    hands = torch.zeros_like(cnn)
    if found_t.any():
        hands[found_t] = hand_log_probabilities(models.hands, landmarks[found], world[found], handedness[found])
    fused = fuse(cnn, hands, found_t, models.hands.fusion_weight)
    return Answers({"fused": fused, "hands": hands, "cnn": cnn}, {"fused": everywhere, "hands": found_t, "cnn": everywhere})
