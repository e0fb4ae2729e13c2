from __future__ import annotations

import numpy as np
import pytest

from signlang import LETTERS
from signlang.metrics import confusion_records, per_class_metrics, summary_metrics

Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 2, 2, 0])


def test_summary_metrics_on_known_predictions() -> None:
    metrics = summary_metrics(Y_TRUE, Y_PRED)
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["images"] == 8
    # per class: A p=1/2 r=1/2, B p=2/3 r=1, C p=1 r=3/4
    assert metrics["precision_macro"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["recall_macro"] == pytest.approx((1 / 2 + 1 + 3 / 4) / 3)
    assert metrics["recall_weighted"] == pytest.approx(6 / 8)  # weighted recall is accuracy


def test_per_class_metrics_are_keyed_by_letter() -> None:
    report = per_class_metrics(Y_TRUE, Y_PRED, LETTERS)
    assert list(report) == ["A", "B", "C"]
    assert report["B"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}


def test_a_letter_only_predicted_gets_a_row_with_zero_support() -> None:
    report = per_class_metrics(np.array([0, 0]), np.array([0, 24]), LETTERS)
    assert report["Y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_confusion_records_are_letters() -> None:
    assert confusion_records(np.array([0, 24]), np.array([1, 24]), LETTERS) == [
        {"actual": "A", "predicted": "B"},
        {"actual": "Y", "predicted": "Y"},
    ]
