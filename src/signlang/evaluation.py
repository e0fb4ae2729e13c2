"""The evaluate stage: test-set predictions, scikit-learn metrics, the confusion records and image plots."""

from __future__ import annotations

import logging
from pathlib import Path

from signlang.arrays import load_split
from signlang.device import select_device, to_device
from signlang.files import staged_outputs
from signlang.metrics import confusion_records, per_class_metrics, summary_metrics
from signlang.model import load_checkpoint, predict_logits
from signlang.plots import by_letter_records, image_plots, to_pixels

log = logging.getLogger(__name__)


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
