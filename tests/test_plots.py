from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.image import imread

from signlang import LETTERS
from signlang.normalization import Normalization
from signlang.plots import (
    by_letter_records,
    confident_mistakes,
    examples_per_letter,
    image_plots,
    least_confident,
    spread_sample,
    to_pixels,
)


def test_to_pixels_undoes_the_normalization() -> None:
    normalization = Normalization(mean=0.6, std=0.2)
    pixels = np.array([0, 51, 255], dtype=np.uint8)
    images = normalization.to_model_input(np.tile(pixels[:, None], (1, 784)))
    assert to_pixels(images, normalization)[:, 0, 0] == pytest.approx([0.0, 0.2, 1.0], abs=1e-6)


def test_examples_are_the_first_images_of_each_letter() -> None:
    labels = np.array([2, 0, 2, 0, 0, 2, 5])
    assert examples_per_letter(labels, 2).tolist() == [1, 3, 0, 2, 6]


def test_spread_sample_covers_the_set_evenly() -> None:
    assert spread_sample(10, 3).tolist() == [0, 4, 9]  # 4.5 rounds to even
    assert spread_sample(2, 5).tolist() == [0, 1]


def test_confident_mistakes_are_the_highest_probability_wrong_predictions() -> None:
    y_true = np.array([0, 1, 2, 3, 4, 5])
    y_pred = np.array([0, 2, 2, 0, 1, 5])  # wrong: 1, 3, 4
    confidence = np.array([0.99, 0.6, 0.98, 0.9, 0.7, 0.97])
    assert confident_mistakes(y_true, y_pred, confidence, 2).tolist() == [3, 4]
    assert confident_mistakes(y_true, y_true, confidence, 2).tolist() == []


def test_least_confident_are_the_lowest_probability_predictions() -> None:
    assert least_confident(np.array([0.9, 0.4, 0.99, 0.41, 0.4]), 3).tolist() == [1, 4, 3]


def test_image_plots_writes_four_readable_grids() -> None:
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.arange(3), 10)
    y_pred = y_true.copy()
    y_pred[::4] = 0
    pngs = image_plots(rng.random((30, 28, 28)), y_true, y_pred, rng.random(30), LETTERS)
    assert set(pngs) == {"examples.png", "predictions.png", "mistakes.png", "least_confident.png"}
    sizes = {name: imread(io.BytesIO(png)).shape for name, png in pngs.items()}
    # 12 columns of 1.1 inch at 80 dpi; rows: 12 examples -> 1, 30 predictions -> 3, 5 mistakes -> 1,
    # 24 least confident -> 2
    assert sizes["examples.png"][:2] == (101, 1056)
    assert sizes["predictions.png"][:2] == (303, 1056)
    assert sizes["mistakes.png"][:2] == (101, 1056)
    assert sizes["least_confident.png"][:2] == (202, 1056)


def test_a_model_without_mistakes_gets_a_mistakes_png_that_says_so() -> None:
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.arange(3), 4)
    pngs = image_plots(rng.random((12, 28, 28)), y_true, y_true, rng.random(12), LETTERS)
    mistakes = imread(io.BytesIO(pngs["mistakes.png"]))
    assert mistakes.shape[:2] == (101, 1056)
    assert mistakes[..., :3].min() < 0.5  # dark text on the white panel, not an empty figure


def test_by_letter_records_leave_out_letters_without_test_images() -> None:
    per_class = {
        "A": {"precision": 1.0, "recall": 0.5, "f1": 0.6, "support": 2},
        "J": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }
    assert by_letter_records(per_class) == [{"letter": "A", "recall": 0.5, "f1": 0.6, "support": 2}]
