"""`signlang predict`: letters for image files or dataset-format CSVs, from the trained models.

An image is framed as the dataset frames a hand (``signlang.framing``): by default around the hand
MediaPipe finds (``signlang.hand_finding``), else around a box given with ``--box``, else
(``--no-frame``, or no hand found) the centre square; then 28x28 grayscale for SignConvNet. Where a hand
was found, HandNet reads its landmarks too and the answer fuses both (``signlang.fusion``); CSV rows
and 28x28 images are answered by SignConvNet alone. The evaluate_photos stage answers the photos
through the same ``find_and_frame`` and ``log_probabilities``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from signlang.errors import SignlangError
from signlang.framing import Box, center_square, frame_pixels, read_photo, square_around
from signlang.fusion import Models, log_probabilities
from signlang.hand_finding import LANDMARKS, Hand, HandFinder, find_and_frame, hand_square

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
    """An image's 28x28 pixels, the square they were cut from, how that square was chosen, and the hand
    found in it."""

    pixels: np.ndarray  # (784,) uint8
    square: Box
    how: str  # "hand" (found), "box" (given), "centre"
    hand: Hand | None = None


Ranked = tuple[tuple[str, ...], tuple[float, ...]]  # letters, probabilities


@dataclass(frozen=True)
class Prediction:
    """The ``top`` most likely letters for one input (a file, or ``file:row`` of a CSV), by the model
    asked for, and each model's own where there are several."""

    input: str
    letters: tuple[str, ...]
    probabilities: tuple[float, ...]
    label: str | None = None  # the CSV's own label, where the input has one
    frame: Framed | None = None  # images only
    by_model: dict[str, Ranked] = field(default_factory=dict)  # every model that answered, by name

    def to_dict(self) -> dict[str, object]:
        extra: dict[str, object] = {"label": self.label} if self.label else {}
        if self.frame is not None:
            extra["frame"] = {"how": self.frame.how, "square": [round(v, 2) for v in self.frame.square.as_tuple()]}
            hand = self.frame.hand
            extra["hand_found"] = hand is not None
            if hand is not None:
                extra["hand"] = {
                    "landmarks": np.round(hand.landmarks, 2).tolist(), "handedness": "right" if hand.handedness > 0
                    else "left", "score": round(hand.score, 4), "ladder_step": hand.step,
                }
        models = {name: _ranked_dicts(ranked) for name, ranked in self.by_model.items()}
        return {"input": self.input, **extra, "predictions": _ranked_dicts((self.letters, self.probabilities)),
                "models": models}

    def line(self) -> str:
        ranked = ", ".join(f"{letter} {probability:.4f}" for letter, probability in zip(self.letters, self.probabilities))
        return f"{self.input}: {ranked}" + (f" (label {self.label})" if self.label else "")


def _ranked_dicts(ranked: Ranked) -> list[dict[str, object]]:
    return [{"letter": letter, "probability": probability} for letter, probability in zip(*ranked)]


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
    if framing.box is not None:
        square = square_around(framing.box, image.size)
        return Framed(frame_pixels(image, square), square, "box")
    if framing.find_hand:
        hand, pixels = find_and_frame(image, finder)
        return Framed(pixels, hand_square(hand, image.size), "hand" if hand else "centre", hand)
    square = center_square(image.size)
    return Framed(frame_pixels(image, square), square, "centre")


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


def predict_files(paths: list[Path], models: Models, top: int, framing: Framing = AUTO, model: str = "fused") -> Report:
    """Read every file (a bad one is reported, the others still answered), then predict in batches with
    ``model`` (fused, hands or cnn; where HandNet is asked for and no hand was found, that input is an error)."""
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
            labels += [None if label is None else models.classes()[label] for label in file_labels]
            frames += file_frames
            parts.append(pixels)
    if not parts:
        return report
    hands = [frame.hand if frame is not None else None for frame in frames]
    found = np.array([hand is not None for hand in hands])
    empty = np.zeros((LANDMARKS, 3), np.float32)
    landmarks = np.stack([hand.landmarks if hand else empty for hand in hands])
    world = np.stack([hand.world if hand else empty for hand in hands])
    handedness = np.array([hand.handedness if hand else 0.0 for hand in hands], dtype=np.float32)
    answers = log_probabilities(models, np.concatenate(parts), found, landmarks, world, handedness)
    ranked = {name: _top(values, top, models.classes()) for name, values in answers.log_probabilities.items()}
    for row, (name, label, frame) in enumerate(zip(names, labels, frames)):
        if not answers.answered[model][row]:
            report.errors.append((name, f"{name}: no hand found, so HandNet has no answer; try --model fused or cnn"))
            continue
        by_model = {key: ranking[row] for key, ranking in ranked.items() if answers.answered[key][row]}
        letters, probabilities = ranked[model][row]
        report.predictions.append(Prediction(name, letters, probabilities, label, frame, by_model))
    return report


def _top(log_probabilities: torch.Tensor, top: int, classes: tuple[str, ...]) -> list[Ranked]:
    values, indices = log_probabilities.exp().topk(min(top, log_probabilities.shape[1]), dim=1)
    return [(tuple(classes[i] for i in row_indices), tuple(row_values))
            for row_values, row_indices in zip(values.tolist(), indices.tolist())]
