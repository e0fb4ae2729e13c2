"""`signlang predict`: letters for image files or dataset-format CSVs, from a trained checkpoint.

An image is framed as the dataset frames a hand (``signlang.framing``): by default around the hand
that MediaPipe finds, else around a box given with ``--box``, else (``--no-frame``, or no hand found)
the centre square; then 28x28 grayscale and the checkpoint's normalization. The evaluate stage scores
the development photos through ``predict_files``, the code path of this command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from signlang import IMAGE_SIZE
from signlang.errors import SignlangError
from signlang.framing import Box, HandFinder, center_square, frame_pixels, read_photo, square_around
from signlang.model import LoadedModel, predict_logits

CSV_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class Framing:
    """How to frame an image: around the hand found in it (``find_hand``), around a given hand box
    (``box``), or neither: the centre square, also where no hand is found."""

    find_hand: bool
    box: Box | None = None


AUTO = Framing(find_hand=True)
NO_FRAME = Framing(find_hand=False)


@dataclass(frozen=True)
class Framed:
    """An image's 28x28 pixels, the square they were cut from, and how that square was chosen."""

    pixels: np.ndarray  # (784,) uint8
    square: Box
    how: str  # "hand" (found), "box" (given), "centre"


@dataclass(frozen=True)
class Prediction:
    """The ``top`` most likely letters for one input (a file, or ``file:row`` of a CSV)."""

    input: str
    letters: tuple[str, ...]
    probabilities: tuple[float, ...]
    label: str | None = None  # the CSV's own label, where the input has one
    frame: Framed | None = None  # images only

    def to_dict(self) -> dict[str, object]:
        pairs = zip(self.letters, self.probabilities)
        predictions = [{"letter": letter, "probability": probability} for letter, probability in pairs]
        extra: dict[str, object] = {"label": self.label} if self.label else {}
        if self.frame is not None:
            extra["frame"] = {"how": self.frame.how, "square": [round(v, 2) for v in self.frame.square.as_tuple()]}
        return {"input": self.input, **extra, "predictions": predictions}

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


def frame_image(path: Path, framing: Framing, finder: HandFinder) -> Framed:
    """Any PNG/JPEG (any size, RGB, grayscale, palette, with or without alpha), framed as ``framing``
    says. An image no larger than 28x28 is taken as already framed: its centre square, unsearched."""
    image = read_photo(path)
    hand, how = framing.box, "box"
    if hand is None and framing.find_hand and min(image.size) > IMAGE_SIZE:
        hand, how = finder.find(image), "hand"
    square = square_around(hand, image.size) if hand else center_square(image.size)
    return Framed(frame_pixels(image, square), square, how if hand else "centre")


def image_pixels(path: Path, framing: Framing = NO_FRAME) -> np.ndarray:
    """(784,) uint8 pixels of one image, framed as ``framing`` says."""
    with HandFinder() as finder:
        return frame_image(path, framing, finder).pixels


def read_inputs(
    path: Path, framing: Framing, finder: HandFinder
) -> tuple[list[str], np.ndarray, list[int | None], list[Framed | None]]:
    """Names, (N, 784) uint8 pixels, labels (CSV only) and frames (images only) of the inputs in one file."""
    if is_csv(path):
        from signlang.kaggle import read_dataset_csv  # pandas and the CSV checks: only when a CSV is given

        pixels, labels = read_dataset_csv(path)
        names = [f"{path}:{row}" for row in range(1, len(labels) + 1)]  # data rows, counted from 1
        return names, pixels, labels.tolist(), [None] * len(labels)
    framed = frame_image(path, framing, finder)
    return [str(path)], framed.pixels[None, :], [None], [framed]


def predict_files(paths: list[Path], loaded: LoadedModel, top: int, framing: Framing = AUTO) -> Report:
    """Read every file (a bad one is reported, the others still answered), then predict in batches."""
    report = Report()
    names: list[str] = []
    labels: list[str | None] = []
    frames: list[Framed | None] = []
    parts: list[np.ndarray] = []
    with HandFinder() as finder:
        for path in paths:
            try:
                file_names, pixels, file_labels, file_frames = read_inputs(path, framing, finder)
            except SignlangError as error:
                report.errors.append((str(path), str(error)))
                continue
            names += file_names
            labels += [None if label is None else loaded.classes[label] for label in file_labels]
            frames += file_frames
            parts.append(pixels)
    if not parts:
        return report
    probabilities = class_probabilities(loaded, np.concatenate(parts))
    top = min(top, probabilities.shape[1])
    values, indices = probabilities.topk(top, dim=1)
    for name, label, frame, row_values, row_indices in zip(names, labels, frames, values.tolist(), indices.tolist()):
        letters = tuple(loaded.classes[i] for i in row_indices)
        report.predictions.append(Prediction(name, letters, tuple(row_values), label, frame))
    return report


def class_probabilities(loaded: LoadedModel, pixels: np.ndarray) -> torch.Tensor:
    """Softmax over the classes, (N, classes), for uint8 pixels (N, 784) normalized as prepare does."""
    device = next(loaded.model.parameters()).device
    images = loaded.normalization.to_model_input(pixels)  # (N, 1, 28, 28)
    logits = predict_logits(loaded.model, torch.from_numpy(images).to(device))
    return torch.softmax(logits, dim=1).cpu()
