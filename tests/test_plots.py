from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from signlang import LETTERS
from signlang.normalization import Normalization
from signlang.plots import (
    CELL_HEIGHT,
    CELL_WIDTH,
    COLUMNS,
    GAP,
    SCALE,
    TITLE_PIXELS,
    by_letter_records,
    confident_mistakes,
    examples_per_letter,
    image_grid,
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
    sizes = {name: np.asarray(Image.open(io.BytesIO(png))).shape for name, png in pngs.items()}
    # 12 columns of 88 px (84 px images and a 4 px gap) and a 4 px margin; rows of 104 px
    # (a 16 px title, the image, the gap): 12 examples -> 1 row, 30 predictions -> 3, 5 mistakes -> 1, 24 -> 2
    assert sizes["examples.png"][:2] == (108, 1060)
    assert sizes["predictions.png"][:2] == (316, 1060)
    assert sizes["mistakes.png"][:2] == (108, 1060)
    assert sizes["least_confident.png"][:2] == (212, 1060)


def test_a_grid_shows_each_image_under_its_title_and_wrong_titles_in_red() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(14, 28, 28)).astype(np.float64) / 255  # exact grey levels
    wrong = np.zeros(14, dtype=bool)
    wrong[[2, 13]] = True
    grid = np.asarray(image_grid(pixels, [f"A/{i}" for i in range(14)], wrong))
    for i in range(14):
        row, column = divmod(i, COLUMNS)
        x, y = GAP + column * CELL_WIDTH, GAP + row * CELL_HEIGHT
        cell = grid[y + TITLE_PIXELS : y + TITLE_PIXELS + 84, x : x + 84]
        expected = np.kron(np.round(pixels[i] * 255).astype(np.uint8), np.ones((SCALE, SCALE), dtype=np.uint8))
        np.testing.assert_array_equal(cell[..., 0], expected, err_msg=f"image {i}")
        title = grid[y : y + TITLE_PIXELS, x : x + 84].astype(int)
        red = ((title[..., 0] > 150) & (title[..., 1] < 80)).sum()
        dark = (title.max(axis=2) < 100).sum()
        assert (red > 10) == wrong[i] and (dark > 10) != wrong[i], f"title {i}: {red} red, {dark} dark pixels"


def test_a_model_without_mistakes_gets_a_mistakes_png_that_says_so() -> None:
    rng = np.random.default_rng(0)
    y_true = np.repeat(np.arange(3), 4)
    pngs = image_plots(rng.random((12, 28, 28)), y_true, y_true, rng.random(12), LETTERS)
    mistakes = np.asarray(Image.open(io.BytesIO(pngs["mistakes.png"])))
    assert mistakes.shape[:2] == (108, 1060)
    assert mistakes[..., :3].min() < 128  # dark text on the white panel, not an empty figure


def test_by_letter_records_leave_out_letters_without_test_images() -> None:
    per_class = {
        "A": {"precision": 1.0, "recall": 0.5, "f1": 0.6, "support": 2},
        "J": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }
    assert by_letter_records(per_class) == [{"letter": "A", "recall": 0.5, "f1": 0.6, "support": 2}]
