"""Finding the hand in a photo: MediaPipe Hands' 21 landmarks, with a retry ladder for hands it misses.

MediaPipe Hands (whose models ship inside the mediapipe wheel and run offline on the CPU) first finds
the palm, then the 21 joints in a square around it. A hand that fills the photo, or is cut by its edge,
leaves the palm detector nothing to frame, so it misses: the first steps of ``LADDER`` pad the photo a
little more each, replicating its edge pixels outward (a cut wrist becomes a longer arm); the last ones
also halve the photo, and run the lite landmark model at a lower detection threshold, until a hand is
found. The landmarks found on a changed copy are mapped back to the photo's own pixels. Which steps, in
which order: docs/benchmarks.md, "Finding the hand".

Every photo the project reads goes through ``HandFinder.find``: the landmarks stage (training,
development and your own photos), `signlang predict` and so the evaluate_photos stage; the demo page
replays the same ladder (web/demo/hands.js).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from signlang import IMAGE_SIZE
from signlang.framing import Box, center_square, frame_pixels, square_around

LANDMARKS = 21  # MediaPipe Hands' joints: 0 the wrist, then four per finger from thumb to little finger


@dataclass(frozen=True)
class Step:
    """One try of the ladder: MediaPipe Hands with ``complexity`` (1: hand_landmark_full.tflite, 0: lite) and
    ``confidence`` (its min_detection_confidence), on the photo scaled by ``scale`` and padded on every side by
    ``pad`` of its longer side, edge pixels repeated."""

    complexity: int
    confidence: float
    pad: float
    scale: float = 1.0


FULL, LITE = (1, 0.3), (0, 0.1)
LADDER = (
    Step(*FULL, 0.0), Step(*FULL, 0.3), Step(*FULL, 0.6), Step(*FULL, 1.0),
    Step(*LITE, 1.0), Step(*LITE, 0.6, 0.5), Step(*FULL, 0.6, 0.5), Step(*LITE, 0.3), Step(*LITE, 0.0, 0.5),
)
LANDMARK_PADDING = 0.1  # the landmarks are joint centres: their box grows by this share of its size each side


@dataclass(frozen=True)
class Hand:
    """One hand as MediaPipe Hands sees it, in the photo's own pixels."""

    landmarks: np.ndarray  # (21, 3) float32: x, y in pixels of the upright photo; z, depth from the wrist, in x's scale
    world: np.ndarray  # (21, 3) float32: metres, from the hand's centre (MediaPipe's world landmarks)
    handedness: float  # +1 for MediaPipe's "Right", -1 for "Left"
    score: float  # MediaPipe's confidence in that handedness
    step: int  # the index in LADDER of the try that found it

    def box(self, size: tuple[int, int]) -> Box | None:
        """The landmarks' bounding box grown by LANDMARK_PADDING on each side (to cover the fingertips and the
        wrist, as labelled hand boxes do), within an image of ``size``; None if it is empty there."""
        width, height = size
        xs, ys = self.landmarks[:, 0], self.landmarks[:, 1]
        pad_x, pad_y = LANDMARK_PADDING * np.ptp(xs), LANDMARK_PADDING * np.ptp(ys)
        box = Box(
            float(max(xs.min() - pad_x, 0.0)), float(max(ys.min() - pad_y, 0.0)),
            float(min(xs.max() + pad_x, width)), float(min(ys.max() + pad_y, height)),
        )
        return box if box.width > 0 and box.height > 0 else None


def hand_square(hand: Hand | None, size: tuple[int, int]) -> Box:
    """The square SignConvNet's crop is cut from: around the hand's box, or the photo's centre square where
    no hand was found."""
    box = hand.box(size) if hand is not None else None
    return square_around(box, size) if box is not None else center_square(size)


def find_and_frame(image: Image.Image, finder: HandFinder) -> tuple[Hand | None, np.ndarray]:
    """The hand in ``image`` and its 28x28 crop (784,) uint8, as `signlang predict` frames it. An image no
    larger than 28x28 is taken as already framed: its centre square, unsearched."""
    hand = finder.find(image) if min(image.size) > IMAGE_SIZE else None
    return hand, frame_pixels(image, hand_square(hand, image.size))


def edge_padded(rgb: np.ndarray, share: float) -> tuple[np.ndarray, int]:
    """``rgb`` (H, W, 3) padded on every side by ``share`` of its longer side, its edge pixels repeated;
    and that padding in pixels."""
    pad = round(share * max(rgb.shape[:2]))
    return np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge"), pad


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what MediaPipe's C++ side writes straight to file descriptor 2 (TFLite and absl log lines,
    not ours), and its Python warnings, so that errors stay one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class HandFinder:
    """MediaPipe Hands on still photos (one hand each), tried on each step of LADDER until it finds one.
    MediaPipe loads on first use; use the finder as a context manager, or call ``close``."""

    def __init__(self) -> None:
        self._hands: dict[tuple[int, float], Any] = {}  # by (complexity, confidence)

    def find(self, image: Image.Image) -> Hand | None:
        """The hand in ``image``, or None when no step of the ladder finds one."""
        for index, step in enumerate(LADDER):
            scaled = image if step.scale == 1.0 else image.resize(
                (max(1, round(image.width * step.scale)), max(1, round(image.height * step.scale))),
                Image.Resampling.BILINEAR,
            )
            rgb = np.asarray(scaled.convert("RGB"))
            padded, pad = edge_padded(rgb, step.pad) if step.pad else (rgb, 0)
            hand = self._landmarks(padded, pad, step, index, image.width / scaled.width)
            if hand is not None:
                return hand
        return None

    def _model(self, step: Step) -> Any:
        key = (step.complexity, step.confidence)
        if key not in self._hands:
            from mediapipe.python.solutions import hands  # 1 s to load: only where a photo needs it

            self._hands[key] = hands.Hands(
                static_image_mode=True, max_num_hands=1, model_complexity=step.complexity,
                min_detection_confidence=step.confidence,
            )
        return self._hands[key]

    def _landmarks(self, rgb: np.ndarray, pad: int, step: Step, index: int, factor: float) -> Hand | None:
        """The hand on ``rgb`` (a copy of the photo, scaled by 1 / ``factor`` and padded by ``pad``), in the
        photo's own pixels."""
        with quiet_native_stderr():
            result = self._model(step).process(np.ascontiguousarray(rgb))
        if not result.multi_hand_landmarks:
            return None
        height, width = rgb.shape[:2]
        points = result.multi_hand_landmarks[0].landmark
        landmarks = factor * np.array(
            [(p.x * width - pad, p.y * height - pad, p.z * width) for p in points], np.float32
        )
        world = np.array([(p.x, p.y, p.z) for p in result.multi_hand_world_landmarks[0].landmark], np.float32)
        label = result.multi_handedness[0].classification[0]
        return Hand(landmarks.astype(np.float32), world, 1.0 if label.label == "Right" else -1.0, float(label.score),
                    index)

    def close(self) -> None:
        for hands in self._hands.values():
            hands.close()
        self._hands.clear()

    def __enter__(self) -> HandFinder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
