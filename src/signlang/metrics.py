"""Metrics from true and predicted letters, by scikit-learn, and the records DVC's confusion plots read."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


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
