"""Image plots for the evaluate stage: test images, predictions and the most confident mistakes.

Every pick is deterministic, so a re-run draws the same images: examples are the first few test
images of each letter, the prediction grid is an evenly spaced sample of the test set, the
mistakes are the wrong predictions with the highest softmax probability, and the least confident
are the predictions, right or wrong, with the lowest. Wrong predictions have a red title; a model
that makes no mistake gets a mistakes.png that says so. Each grid is one image composed with Pillow
(the images enlarged 3x, nearest neighbour, titles drawn above them) and returned as PNG bytes: one
subplot per image took matplotlib about 6 s for the four grids.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from signlang import IMAGE_SIZE
from signlang.normalization import Normalization

EXAMPLES_PER_LETTER = 4  # test images per letter in examples.png
PREDICTION_SAMPLE = 48  # images in predictions.png
MISTAKES_SHOWN = 24  # images in mistakes.png
LEAST_CONFIDENT_SHOWN = 24  # images in least_confident.png
COLUMNS = 12
SCALE = 3  # each 28x28 image is drawn 84x84
TITLE_PIXELS = 16  # the band above each image that holds its title
GAP = 4  # pixels between cells and around the grid
FONT_SIZE = 12
WRONG_COLOR = (220, 0, 0)
TITLE_COLOR = (0, 0, 0)
CELL_WIDTH = IMAGE_SIZE * SCALE + GAP
CELL_HEIGHT = TITLE_PIXELS + IMAGE_SIZE * SCALE + GAP


def to_pixels(images: np.ndarray, normalization: Normalization) -> np.ndarray:
    """Normalized (N, 1, 28, 28) images -> (N, 28, 28) grey levels in [0, 1], as the camera saw them."""
    return np.clip(normalization.to_unit(np.asarray(images, dtype=np.float32)[:, 0]), 0.0, 1.0)


def examples_per_letter(labels: np.ndarray, per_letter: int) -> np.ndarray:
    """Indices of the first ``per_letter`` images of each letter that occurs, letter by letter."""
    picks = [np.flatnonzero(labels == letter)[:per_letter] for letter in np.unique(labels)]
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def spread_sample(count: int, size: int) -> np.ndarray:
    """``size`` indices spread evenly over ``range(count)`` (all of them if there are fewer)."""
    return np.unique(np.linspace(0, count - 1, num=min(size, count)).round().astype(np.int64))


def confident_mistakes(y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` wrong predictions with the highest confidence, most confident first."""
    wrong = np.flatnonzero(y_true != y_pred)
    order = np.argsort(-confidence[wrong], kind="stable")
    return wrong[order[:size]]


def least_confident(confidence: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` predictions with the lowest confidence, least confident first."""
    return np.argsort(confidence, kind="stable")[:size]


def message_panel(text: str, columns: int = COLUMNS) -> Image.Image:
    """A grid-wide, one-row-high white image holding only ``text``: what an empty grid shows instead."""
    panel = Image.new("RGB", (GAP + columns * CELL_WIDTH, GAP + CELL_HEIGHT), "white")
    ImageDraw.Draw(panel).text(
        (panel.width / 2, panel.height / 2), text, fill=TITLE_COLOR, font=_font(), anchor="mm"
    )
    return panel


def image_grid(pixels: np.ndarray, titles: list[str], wrong: np.ndarray, columns: int = COLUMNS) -> Image.Image:
    """One grey image per cell (N, 28, 28) in [0, 1], its title above it; titles of ``wrong`` cells are red."""
    rows = max(1, -(-len(pixels) // columns))
    grid = Image.new("RGB", (GAP + columns * CELL_WIDTH, GAP + rows * CELL_HEIGHT), "white")
    draw = ImageDraw.Draw(grid)
    side = IMAGE_SIZE * SCALE
    for i, (image, title, bad) in enumerate(zip(pixels, titles, wrong, strict=True)):
        row, column = divmod(i, columns)
        x, y = GAP + column * CELL_WIDTH, GAP + row * CELL_HEIGHT
        grey = Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L")
        grid.paste(grey.resize((side, side), Image.Resampling.NEAREST), (x, y + TITLE_PIXELS))
        color = WRONG_COLOR if bad else TITLE_COLOR
        draw.text((x + side / 2, y + TITLE_PIXELS / 2), title, fill=color, font=_font(), anchor="mm")
    return grid


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)  # Pillow's own font: no system font needed


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def prediction_titles(
    indices: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
) -> list[str]:
    """'true/predicted' letters, e.g. 'M/N'."""
    return [f"{classes[y_true[i]]}/{classes[y_pred[i]]}" for i in indices.tolist()]


def image_plots(
    pixels: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    confidence: np.ndarray,
    classes: tuple[str, ...],
) -> dict[str, bytes]:
    """PNG bytes by file name: examples.png, predictions.png, mistakes.png and least_confident.png."""
    examples = examples_per_letter(y_true, EXAMPLES_PER_LETTER)
    sample = spread_sample(len(y_true), PREDICTION_SAMPLE)
    mistakes = confident_mistakes(y_true, y_pred, confidence, MISTAKES_SHOWN)
    unsure = least_confident(confidence, LEAST_CONFIDENT_SHOWN)
    example_titles = [classes[y_true[i]] for i in examples.tolist()]
    grids = {  # examples: 3 letters a row
        "examples.png": image_grid(
            pixels[examples], example_titles, np.zeros(len(examples), bool), EXAMPLES_PER_LETTER * 3
        ),
        "predictions.png": image_grid(
            pixels[sample], prediction_titles(sample, y_true, y_pred, classes), y_true[sample] != y_pred[sample]
        ),
        "mistakes.png": (
            image_grid(pixels[mistakes], titles_with_confidence(mistakes, y_true, y_pred, confidence, classes),
                       np.ones(len(mistakes), bool))
            if len(mistakes)
            else message_panel(f"No wrong predictions among the {len(y_true)} test images.")
        ),
        "least_confident.png": image_grid(
            pixels[unsure], titles_with_confidence(unsure, y_true, y_pred, confidence, classes),
            y_true[unsure] != y_pred[unsure],
        ),
    }
    return {name: png_bytes(image) for name, image in grids.items()}


def titles_with_confidence(
    indices: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray, classes: tuple[str, ...]
) -> list[str]:
    """'true/predicted probability', e.g. 'M/N 97%'."""
    titles = prediction_titles(indices, y_true, y_pred, classes)
    return [f"{title} {confidence[i]:.0%}" for title, i in zip(titles, indices.tolist())]


def by_letter_records(per_class: dict[str, dict[str, float | int]]) -> list[dict[str, str | float | int]]:
    """One record per letter in the test labels (J and Z never occur), for DVC's bar plot."""
    return [
        {"letter": letter, "recall": row["recall"], "f1": row["f1"], "support": row["support"]}
        for letter, row in per_class.items()
        if row["support"] > 0
    ]
