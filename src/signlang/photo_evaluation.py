"""The evaluate_photos stage: the development photos, each framed and answered by the code of
`signlang predict` (the hand found by MediaPipe), scored against their folders' letters."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from signlang.errors import SignlangError
from signlang.files import staged_outputs
from signlang.metrics import confusion_records, per_class_metrics
from signlang.model import LoadedModel, load_checkpoint
from signlang.photos import Photo, read_photo_folder
from signlang.predict import AUTO, predict_files

log = logging.getLogger(__name__)
TOP = 3


def photo_metrics(photos: list[Photo], loaded: LoadedModel) -> tuple[dict[str, object], list[dict[str, str]]]:
    """Top-1 and top-3 accuracy, how many hands were found and each letter's recall, and one confusion
    record per photo; with no photos, only ``{"photos": 0}``."""
    if not photos:
        return {"photos": 0}, []
    report = predict_files([photo.path for photo in photos], loaded, top=TOP, framing=AUTO)
    if report.errors:
        raise SignlangError(report.errors[0][1])
    y_true = np.array([photo.label for photo in photos], dtype=np.int64)
    ranked = np.array([[loaded.classes.index(letter) for letter in p.letters] for p in report.predictions])
    y_pred = ranked[:, 0]
    letters = per_class_metrics(y_true, y_pred, loaded.classes)
    metrics = {
        "top1": float(np.mean(y_pred == y_true)),
        f"top{TOP}": float(np.mean((ranked == y_true[:, None]).any(axis=1))),
        "photos": len(photos),
        "hands_found": sum(p.frame is not None and p.frame.how == "hand" for p in report.predictions),
        "recall": {letter: row["recall"] for letter, row in letters.items() if row["support"] > 0},
    }
    return metrics, confusion_records(y_true, y_pred, loaded.classes)


def evaluate_photos(*, model: Path, dev_photos: Path, metrics: Path, confusion: Path) -> dict[str, object]:
    """The evaluate_photos stage; on the CPU, as `signlang predict` runs by default."""
    photos = read_photo_folder(dev_photos)
    scores, records = photo_metrics(photos, load_checkpoint(model, torch.device("cpu")))
    with staged_outputs() as outputs:
        outputs.write_json(metrics, scores)
        outputs.write_json(confusion, records)
    if photos:
        log.info("development photos: top-1 %.4f, top-3 %.4f on %d photos (hand found in %d)",
                 scores["top1"], scores[f"top{TOP}"], len(photos), scores["hands_found"])
    return scores
