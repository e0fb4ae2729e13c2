"""Framing a hand as Sign Language MNIST frames it, then the 28x28 grayscale step.

The dataset's images are tight square crops in which the hand fills the frame; a photo has a room
around a small hand. Every photo the project reads (`signlang predict`, the training and development
photos, your own in data/extra) goes through the same three steps:

1. ``read_photo``: upright by its EXIF orientation, RGB (16-bit grayscale by its high byte), transparent
   pixels flattened onto white;
2. a square to crop: around the hand that ``signlang.hand_finding.HandFinder`` finds (MediaPipe Hands,
   whose model ships inside the mediapipe wheel and runs offline on the CPU), or a box you give, or,
   with no hand found, the centre square of the photo;
3. ``frame_pixels``: that square in grayscale (ITU-R 601 luma, Pillow's "L"), resized to 28x28 with a
   Lanczos filter in one step. A 28x28 grayscale image comes out unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from signlang import IMAGE_SIZE
from signlang.errors import SignlangError

BACKGROUND = 255  # transparent pixels become white, as the background of the dataset's photos is light
HAND_MARGIN = 0.15  # the square's side is the hand's longer side times (1 + 2 * HAND_MARGIN)


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates: x to the right, y down, (x0, y0) its top-left corner."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def iou(self, other: Box) -> float:
        """Intersection over union: 1 for the same box, 0 for boxes that do not overlap."""
        width = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        height = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        intersection = width * height
        union = self.width * self.height + other.width * other.height - intersection
        return intersection / union if union > 0 else 0.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    @classmethod
    def parse(cls, text: str) -> Box:
        """``x0,y0,x1,y1`` in pixels, as `signlang predict --box` takes it."""
        try:
            x0, y0, x1, y1 = (float(part) for part in text.split(","))
        except ValueError as error:
            raise ValueError(f"expected x0,y0,x1,y1 (four numbers), got {text!r}") from error
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"expected x0 < x1 and y0 < y1, got {text!r}")
        return cls(x0, y0, x1, y1)


SIXTEEN_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I")  # how Pillow opens a 16-bit grayscale PNG or TIFF


def read_photo(path: Path) -> Image.Image:
    """An image file as upright RGB; a file that is missing or not a readable image is one SignlangError.
    16-bit grayscale becomes 8 bits (its high byte), as a browser shows it."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()  # decode now, so a truncated file fails here
    except FileNotFoundError as error:
        raise SignlangError(f"{path}: not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise SignlangError(f"{path}: not a readable image ({str(error).splitlines()[0]})") from error
    if image.mode in SIXTEEN_BIT_GRAY:  # Pillow's convert would clip every value above 255 to white
        # the high byte, as Chromium decodes a 16-bit PNG (tests/test_demo_page.py): the page sees the same pixels
        image = Image.fromarray((np.asarray(image).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,))
        image.alpha_composite(rgba)
    return image.convert("RGB")


def center_square(size: tuple[int, int]) -> Box:
    """The largest square in the middle of an image of ``size`` (width, height)."""
    width, height = size
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return Box(x0, y0, x0 + side, y0 + side)


def square_around(hand: Box, size: tuple[int, int], margin: float = HAND_MARGIN) -> Box:
    """The square centred on ``hand`` whose side is its longer side times (1 + 2 margin), moved (and if
    need be shrunk) to lie inside an image of ``size``: no pixel is made up."""
    width, height = size
    side = min(max(hand.width, hand.height) * (1.0 + 2.0 * margin), width, height)
    cx, cy = (hand.x0 + hand.x1) / 2, (hand.y0 + hand.y1) / 2
    x0 = min(max(cx - side / 2, 0.0), width - side)
    y0 = min(max(cy - side / 2, 0.0), height - side)
    return Box(x0, y0, x0 + side, y0 + side)


def frame_pixels(image: Image.Image, box: Box) -> np.ndarray:
    """The ``box`` of ``image`` as (784,) uint8: grayscale, resized to 28x28 in one Lanczos step."""
    small = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS, box=box.as_tuple())
    return np.asarray(small, dtype=np.uint8).reshape(-1)
