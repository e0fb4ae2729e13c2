"""The landmarks stage: every photo of a folder through ``HandFinder`` once, into arrays DVC tracks.

For each photo: whether a hand was found and on which step of the retry ladder, its 21 landmarks in the
photo's pixels and MediaPipe's world landmarks, the handedness and its score, the photo's size, and the
28x28 crop SignConvNet reads, framed as `signlang predict` frames it. prepare crops the training photos
around these hands, train_hands trains HandNet on them, and evaluate_photos answers each photo from them
as `signlang predict` would, without running MediaPipe a second time.

A set is a folder of ``.npy`` files (np.save writes the same bytes for the same arrays, so an identical
rerun leaves dvc.lock unchanged; an .npz would carry the time it was written).
"""

from __future__ import annotations

import importlib.metadata
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from signlang import IMAGE_SIZE
from signlang.errors import SignlangError
from signlang.files import staged_outputs
from signlang.framing import read_photo
from signlang.hand_finding import LANDMARKS, Hand, HandFinder, find_and_frame
from signlang.photos import Photo, read_photo_folder

log = logging.getLogger(__name__)
PARALLEL_FROM = 64  # photos: fewer are searched in this process (starting workers takes a few seconds)
CHUNK = 8  # photos a worker takes at a time


@dataclass(frozen=True)
class LandmarkSet:
    """One row per photo, in read_photo_folder's order."""

    names: np.ndarray  # (N,) str: the path under the folder, e.g. "A/A0_292a0804.jpg" or "hackmit/A/..."
    sources: np.ndarray  # (N,) str: the <source>/ folder, "" in a folder of letters
    labels: np.ndarray  # (N,) int64: index into LETTERS
    found: np.ndarray  # (N,) bool
    step: np.ndarray  # (N,) int64: the ladder step that found the hand, -1 where none was found
    landmarks: np.ndarray  # (N, 21, 3) float32: Hand.landmarks, zeros where none was found
    world: np.ndarray  # (N, 21, 3) float32: Hand.world, zeros where none was found
    handedness: np.ndarray  # (N,) float32: +1 right, -1 left, 0 where none was found
    score: np.ndarray  # (N,) float32: the handedness score, 0 where none was found
    size: np.ndarray  # (N, 2) int64: the upright photo's width and height
    pixels: np.ndarray  # (N, 784) uint8: SignConvNet's crop, framed as `signlang predict` frames it

    def __len__(self) -> int:
        return len(self.labels)

    def hand(self, index: int) -> Hand | None:
        if not self.found[index]:
            return None
        return Hand(self.landmarks[index], self.world[index], float(self.handedness[index]),
                    float(self.score[index]), int(self.step[index]))

    def subset(self, mask: np.ndarray) -> LandmarkSet:
        return LandmarkSet(**{field.name: getattr(self, field.name)[mask] for field in fields(self)})


def check_mediapipe(expected: str) -> None:
    """The landmarks depend on MediaPipe's models: params.yaml names the version they were extracted with,
    so that `dvc repro` re-extracts when it changes."""
    installed = importlib.metadata.version("mediapipe")
    if installed != expected:
        raise SignlangError(
            f"params.yaml: 'landmarks.mediapipe' is {expected!r}, but mediapipe {installed} is installed; "
            f"set it to {installed!r} to extract the landmarks with it"
        )


def extract_landmarks(photos: list[Photo], workers: int | None = None) -> LandmarkSet:
    """Find the hand in every photo (one process per CPU) and frame SignConvNet's crop."""
    workers = workers or os.cpu_count() or 1
    paths = [photo.path for photo in photos]
    if workers == 1 or len(photos) < PARALLEL_FROM:
        rows = [_find(path) for path in paths]
    else:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked MediaPipe state
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            rows = list(pool.map(_find, paths, chunksize=CHUNK))
    hands = [hand for hand, _, _ in rows]
    empty = np.zeros((LANDMARKS, 3), np.float32)
    return LandmarkSet(
        names=np.array([photo.key for photo in photos], dtype=str).reshape(-1),
        sources=np.array([photo.source for photo in photos], dtype=str).reshape(-1),
        labels=np.array([photo.label for photo in photos], dtype=np.int64),
        found=np.array([hand is not None for hand in hands], dtype=bool),
        step=np.array([-1 if hand is None else hand.step for hand in hands], dtype=np.int64),
        landmarks=np.stack([empty if hand is None else hand.landmarks for hand in hands] or [empty[:0]])
        .reshape(-1, LANDMARKS, 3),
        world=np.stack([empty if hand is None else hand.world for hand in hands] or [empty[:0]])
        .reshape(-1, LANDMARKS, 3),
        handedness=np.array([0.0 if hand is None else hand.handedness for hand in hands], dtype=np.float32),
        score=np.array([0.0 if hand is None else hand.score for hand in hands], dtype=np.float32),
        size=np.array([size for _, size, _ in rows], dtype=np.int64).reshape(-1, 2),
        pixels=np.array([pixels for _, _, pixels in rows], dtype=np.uint8).reshape(-1, IMAGE_SIZE * IMAGE_SIZE),
    )


_finder: HandFinder | None = None  # one per process, kept for the process's next photos


def _find(path: Path) -> tuple[Hand | None, tuple[int, int], np.ndarray]:
    global _finder
    _finder = _finder or HandFinder()
    image = read_photo(path)
    hand, pixels = find_and_frame(image, _finder)
    return hand, image.size, pixels


def write_landmarks(directory: Path, landmarks: LandmarkSet) -> None:
    """One .npy file per field in ``directory``, all or none of them."""
    with staged_outputs() as outputs:
        for field in fields(landmarks):
            outputs.save_npy(directory / f"{field.name}.npy", getattr(landmarks, field.name))


def read_landmarks(directory: Path) -> LandmarkSet:
    values = {}
    for field in fields(LandmarkSet):
        path = directory / f"{field.name}.npy"
        try:
            values[field.name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise SignlangError(f"{path}: cannot read landmarks ({str(error).splitlines()[0]}); "
                                "run 'dvc repro' to extract them") from error
    return LandmarkSet(**values)


def landmarks_stage(*, photos: Path, out: Path, mediapipe: str) -> LandmarkSet:
    """The landmarks stage for one photo folder (a missing one has no photos: data/extra is optional)."""
    check_mediapipe(mediapipe)
    found = read_photo_folder(photos) if photos.exists() else []
    result = extract_landmarks(found)
    write_landmarks(out, result)
    steps = np.bincount(result.step[result.found], minlength=1).tolist()
    log.info("%s: hand found in %d of %d photos (by ladder step: %s)", photos, result.found.sum(), len(result), steps)
    return result
