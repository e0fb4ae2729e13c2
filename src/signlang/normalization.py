"""Pixels to model input and back: ``(p / 255 - mean) / std``, with mean and std of the train split.

Every path into the model goes through ``Normalization.to_model_input`` (prepare's arrays and
`signlang predict`'s images), and every path back to grey levels through ``to_unit`` (the image plots
and the augmentation's brightness and contrast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from signlang import IMAGE_SIZE

Array = TypeVar("Array")  # a numpy array or a torch tensor: the arithmetic is the same


@dataclass(frozen=True)
class Normalization:
    mean: float  # of the train split's pixels scaled to [0, 1]
    std: float

    def to_model_input(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 pixels (N, 784) -> float32 (N, 1, 28, 28), as ``(p / 255 - mean) / std`` in one multiply
        and one subtract; ``out`` (N, 784) float32 is an optional buffer to write into."""
        images = np.multiply(pixels, np.float32(1.0 / (255.0 * self.std)), out=out, dtype=np.float32)
        images -= np.float32(self.mean / self.std)
        return images.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)

    def to_unit(self, images: Array) -> Array:
        """Model input -> grey levels on the [0, 1] scale (not clipped)."""
        return images * self.std + self.mean  # type: ignore[operator,return-value]

    def from_unit(self, grey: Array) -> Array:
        """Grey levels on the [0, 1] scale -> model input."""
        return (grey - self.mean) / self.std  # type: ignore[operator,return-value]

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


def fit_normalization(pixels: np.ndarray) -> Normalization:
    """Mean and std of uint8 ``pixels`` scaled to [0, 1], from exact integer sums (20x faster than
    a float64 copy, and no rounding until the last step)."""
    n = pixels.size
    total = int(pixels.sum(dtype=np.int64))
    squares = int(np.square(pixels, dtype=np.uint16).sum(dtype=np.int64))
    mean = total / (n * 255)
    variance = (squares * n - total * total) / (n * n * 255 * 255)
    return Normalization(mean=mean, std=variance**0.5)
