"""`signlang predict`: letters for image files or dataset-format CSVs, from a trained checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from signlang import IMAGE_SIZE
from signlang.errors import SignlangError
from signlang.model import LoadedModel, predict_logits

CSV_SUFFIXES = (".csv", ".csv.gz")
BACKGROUND = 255  # transparent pixels become white, as the background of the dataset's photos is light


@dataclass(frozen=True)
class Prediction:
    """The ``top`` most likely letters for one input (a file, or ``file:row`` of a CSV)."""

    input: str
    letters: tuple[str, ...]
    probabilities: tuple[float, ...]
    label: str | None = None  # the CSV's own label, where the input has one

    def to_dict(self) -> dict[str, object]:
        pairs = zip(self.letters, self.probabilities)
        predictions = [{"letter": letter, "probability": probability} for letter, probability in pairs]
        return {"input": self.input, **({"label": self.label} if self.label else {}), "predictions": predictions}

    def line(self) -> str:
        pairs = zip(self.letters, self.probabilities)
        ranked = ", ".join(f"{letter} {probability:.4f}" for letter, probability in pairs)
        return f"{self.input}: {ranked}" + (f" (label {self.label})" if self.label else "")


@dataclass
class Report:
    predictions: list[Prediction] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (input, why)


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(CSV_SUFFIXES)


def image_pixels(path: Path) -> np.ndarray:
    """Any PNG/JPEG (any size, RGB, grayscale, palette, with or without alpha) -> (784,) uint8.

    The image is turned upright by its EXIF orientation, flattened onto white where transparent,
    converted to grayscale (ITU-R 601 luma, as Pillow's "L"), center-cropped to a square and
    resized to 28x28 with a Lanczos filter; a 28x28 grayscale image comes out unchanged."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError as error:
        raise SignlangError(f"{path}: not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise SignlangError(f"{path}: not a readable image ({str(error).splitlines()[0]})") from error
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,))
        image.alpha_composite(rgba)
    gray = image.convert("L")
    if gray.size != (IMAGE_SIZE, IMAGE_SIZE):
        gray = ImageOps.fit(gray, (IMAGE_SIZE, IMAGE_SIZE), method=Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8).reshape(-1)


def read_inputs(path: Path) -> tuple[list[str], np.ndarray, list[int | None]]:
    """Names, (N, 784) uint8 pixels and labels (CSV only) of the inputs in one file."""
    if is_csv(path):
        from signlang.data import read_dataset_csv  # pandas and the CSV checks: only when a CSV is given

        pixels, labels = read_dataset_csv(path)
        names = [f"{path}:{row}" for row in range(1, len(labels) + 1)]  # data rows, counted from 1
        return names, pixels, labels.tolist()
    return [str(path)], image_pixels(path)[None, :], [None]


def predict_files(paths: list[Path], loaded: LoadedModel, top: int) -> Report:
    """Read every file (a bad one is reported, the others still answered), then predict in batches."""
    report = Report()
    names: list[str] = []
    labels: list[str | None] = []
    parts: list[np.ndarray] = []
    for path in paths:
        try:
            file_names, pixels, file_labels = read_inputs(path)
        except SignlangError as error:
            report.errors.append((str(path), str(error)))
            continue
        names += file_names
        labels += [None if label is None else loaded.classes[label] for label in file_labels]
        parts.append(pixels)
    if not parts:
        return report
    probabilities = class_probabilities(loaded, np.concatenate(parts))
    top = min(top, probabilities.shape[1])
    values, indices = probabilities.topk(top, dim=1)
    for name, label, row_values, row_indices in zip(names, labels, values.tolist(), indices.tolist()):
        letters = tuple(loaded.classes[i] for i in row_indices)
        report.predictions.append(Prediction(name, letters, tuple(row_values), label))
    return report


def class_probabilities(loaded: LoadedModel, pixels: np.ndarray) -> torch.Tensor:
    """Softmax over the classes, (N, classes), for uint8 pixels (N, 784) normalized as prepare does."""
    device = next(loaded.model.parameters()).device
    images = loaded.normalization.to_model_input(pixels)  # (N, 1, 28, 28)
    logits = predict_logits(loaded.model, torch.from_numpy(images).to(device))
    return torch.softmax(logits, dim=1).cpu()
