"""The evaluate_photos stage: each photo set photos.score names, answered by SignConvNet, HandNet and both
fused, from the hands and crops its landmarks stage found and framed (``find_and_frame``, as `signlang
predict` frames a photo), scored against their folders' letters: all of the set, and each source in it.

HandNet has no answer for a photo without a hand: it counts as a miss in its top-1 and top-3."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from signlang.files import staged_outputs
from signlang.fusion import Answers, Models, log_probabilities
from signlang.handnet import load_handnet
from signlang.landmarks import LandmarkSet, read_landmarks
from signlang.metrics import confusion_records
from signlang.model import load_checkpoint
from signlang.params import PhotosParams

log = logging.getLogger(__name__)
TOP = 3
CONFUSION_SET = "dev"  # the confusion plot: the fused answers on the development photos (in every clone)


def model_metrics(answers: Answers, model: str, labels: np.ndarray, classes: tuple[str, ...]) -> dict[str, object]:
    """Top-1 and top-3 accuracy and each letter's recall of one model; an input it has no answer for is a miss."""
    answered = answers.answered[model].numpy()
    ranked = answers.log_probabilities[model].topk(TOP, dim=1).indices.numpy()
    hit1 = (ranked[:, 0] == labels) & answered
    hit3 = (ranked == labels[:, None]).any(axis=1) & answered
    recall = {classes[label]: float(hit1[labels == label].mean()) for label in np.unique(labels)}
    return {"top1": float(hit1.mean()), f"top{TOP}": float(hit3.mean()), "recall": recall}


def set_metrics(answers: Answers, landmarks: LandmarkSet, classes: tuple[str, ...]) -> dict[str, object]:
    """Photos, hands found, and each model's metrics, for one set (or source)."""
    scores: dict[str, object] = {"photos": len(landmarks), "hands_found": int(landmarks.found.sum())}
    for model in answers.log_probabilities:
        scores[model] = model_metrics(answers, model, landmarks.labels, classes)
    return scores


def subset(answers: Answers, mask: np.ndarray) -> Answers:
    keep = torch.from_numpy(mask)
    return Answers({name: values[keep] for name, values in answers.log_probabilities.items()},
                   {name: values[keep] for name, values in answers.answered.items()})


def score_set(models: Models, landmarks: LandmarkSet, name: str) -> tuple[dict[str, object], Answers]:
    """Metrics of the whole set under ``name``, and of each source in it under ``name/source``; and the
    answers."""
    answers = log_probabilities(models, landmarks.pixels, landmarks.found, landmarks.landmarks, landmarks.world,
                                landmarks.handedness)
    scores: dict[str, object] = {name: set_metrics(answers, landmarks, models.classes())}
    for source in sorted(set(landmarks.sources.tolist()) - {""}):
        mask = landmarks.sources == source
        scores[f"{name}/{source}"] = set_metrics(subset(answers, mask), landmarks.subset(mask), models.classes())
    return scores, answers


def evaluate_photos(
    *, model: Path, hand_model: Path, landmarks_dir: Path, metrics: Path, confusion: Path, params: PhotosParams
) -> dict[str, object]:
    """The evaluate_photos stage; on the CPU, as `signlang predict` runs by default."""
    device = torch.device("cpu")
    models = Models(load_checkpoint(model, device), load_handnet(hand_model, device))
    scores: dict[str, object] = {}
    records: list[dict[str, str]] = []
    for name in params.score:
        landmarks = read_landmarks(landmarks_dir / name)
        if not len(landmarks):  # data/people in a fresh clone
            continue
        set_scores, answers = score_set(models, landmarks, name)
        scores |= set_scores
        if name == CONFUSION_SET:
            fused = answers.log_probabilities["fused"].argmax(dim=1).numpy()
            records = confusion_records(landmarks.labels, fused, models.classes())
    with staged_outputs() as outputs:
        outputs.write_json(metrics, scores)
        outputs.write_json(confusion, records)
    for name, entry in scores.items():
        assert isinstance(entry, dict)
        log.info("%s: %d photos, hand found in %d; top-1 fused %.4f, HandNet %.4f, SignConvNet %.4f", name,
                 entry["photos"], entry["hands_found"], entry["fused"]["top1"], entry["hands"]["top1"],
                 entry["cnn"]["top1"])
    return scores
