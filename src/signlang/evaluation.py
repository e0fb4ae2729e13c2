"""The evaluate stage: test-set predictions, scikit-learn metrics, the confusion records and image plots."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from signlang.arrays import load_split
from signlang.device import select_device, to_device
from signlang.files import staged_outputs
from signlang.model import load_checkpoint, predict_logits
from signlang.plots import by_letter_records, image_plots, to_pixels

log = logging.getLogger(__name__)


def summary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """Accuracy and macro/weighted precision, recall and F1 over the classes that occur."""
    metrics: dict[str, float | int] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    labels = occurring_labels(y_true, y_pred)
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        metrics |= {
            f"precision_{average}": float(precision),
            f"recall_{average}": float(recall),
            f"f1_{average}": float(f1),
        }
    metrics["images"] = len(y_true)
    return metrics


def per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support for each letter that occurs in the labels or predictions."""
    labels = occurring_labels(y_true, y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        classes[label]: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def confusion_records(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> list[dict[str, str]]:
    """One record per image, as DVC's confusion templates read them."""
    return [{"actual": classes[t], "predicted": classes[p]} for t, p in zip(y_true.tolist(), y_pred.tolist())]


def occurring_labels(y_true: np.ndarray, y_pred: np.ndarray) -> list[int]:
    return sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))


def evaluate(
    *,
    model: Path,
    prepared_dir: Path,
    metrics: Path,
    per_class: Path,
    confusion: Path,
    by_letter: Path,
    images_dir: Path,
) -> dict[str, float | int]:
    """The evaluate stage: the test split through the checkpoint, and every output about it."""
    device = select_device("auto")
    loaded = load_checkpoint(model, device)
    test_images, test_labels = load_split(prepared_dir, "test")
    images, labels = to_device(test_images, test_labels, device=device)
    probabilities = predict_logits(loaded.model, images).softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)
    y_pred = predicted.cpu().numpy()
    y_true = labels.cpu().numpy()
    summary = summary_metrics(y_true, y_pred)
    letters = per_class_metrics(y_true, y_pred, loaded.classes)
    pixels = to_pixels(test_images, loaded.normalization)  # the checkpoint holds prepare's mean and std
    pngs = image_plots(pixels, y_true, y_pred, confidence.cpu().numpy(), loaded.classes)
    with staged_outputs() as outputs:
        outputs.write_json(per_class, letters)
        outputs.write_json(confusion, confusion_records(y_true, y_pred, loaded.classes))
        outputs.write_json(by_letter, by_letter_records(letters))
        for name, png in pngs.items():
            outputs.write(images_dir / name, lambda handle, png=png: handle.write(png))
        outputs.write_json(metrics, summary)
    log.info("test accuracy %.4f on %d images", summary["accuracy"], summary["images"])
    return summary
