"""The prepare stage: the Kaggle CSVs and the photo folders in; validated, split, framed and normalized
arrays out."""

from __future__ import annotations

import logging
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from signlang import IMAGE_SIZE, LETTERS
from signlang.arrays import write_normalization, write_split
from signlang.errors import SignlangError
from signlang.files import staged_outputs
from signlang.framing import Box, frame_pixels, read_photo, square_around
from signlang.hand_finding import hand_square
from signlang.kaggle import RAW_FILES, file_line, find_raw_csv, read_dataset_csv
from signlang.landmarks import LandmarkSet, read_landmarks
from signlang.normalization import fit_normalization
from signlang.params import PrepareParams
from signlang.photos import Photo, read_photo_folder

log = logging.getLogger(__name__)
PARALLEL_FROM = 64  # photos: fewer are framed in this process (starting workers takes a few seconds)


DUPLICATE_SIMILARITY = 0.95  # images of one letter this alike (correlation at 14x14) are one photo's variants


def near_duplicate_groups(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A group id per image: images of one letter join a group when their pixels, pooled to 14x14, correlate
    above ``DUPLICATE_SIMILARITY`` (and transitively). The Kaggle CSVs grew each photo into many variants
    (filters, brightness, a few degrees of rotation): in the training CSV 99% of the images have another
    that correlates above 0.998 with them, while images of different letters stay below 0.95
    (benchmarks/duplicates.py)."""
    features = likeness_features(pixels)
    groups = np.empty(len(labels), dtype=np.int64)
    next_group = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        similar = features[members] @ features[members].T > DUPLICATE_SIMILARITY
        count, component = connected_components(csr_matrix(similar), directed=False)
        groups[members] = next_group + component
        next_group += count
    return groups


def val_groups(pixels: np.ndarray, labels: np.ndarray, val_split: str) -> np.ndarray:
    """The groups `stratified_split` keeps whole for ``prepare.val_split``: one per image (``random``), or
    one per photo's near-duplicates (``grouped``)."""
    return near_duplicate_groups(pixels, labels) if val_split == "grouped" else np.arange(len(labels))


def likeness_features(pixels: np.ndarray) -> np.ndarray:
    """(N, 196) unit vectors of the images pooled to 14x14 and centred: their dot product is the
    correlation of two images, insensitive to brightness and contrast."""
    pooled = pixels.reshape(-1, IMAGE_SIZE // 2, 2, IMAGE_SIZE // 2, 2).astype(np.float32).mean(axis=(2, 4))
    features = pooled.reshape(len(pixels), -1)
    features -= features.mean(axis=1, keepdims=True)
    features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-6)
    return features


def stratified_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (train, val): each letter's groups are drawn in a random order, and a group goes to val
    whole when that brings the letter's val count nearer ``round(val_fraction * count)``. A group's
    near-duplicates all fall on one side, so val accuracy measures images of photos not trained on, as
    the test CSV does, instead of variants of training images."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        wanted, taken = round(val_fraction * len(members)), 0
        for group in rng.permutation(np.unique(groups[members])):
            in_group = members[groups[members] == group]
            if abs(taken + len(in_group) - wanted) < abs(taken - wanted):
                is_val[in_group] = True
                taken += len(in_group)
        if wanted and not taken:
            log.warning("letter %s: its %d images are too few photos' variants to give val any", LETTERS[label],
                        len(members))
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def prepare(
    *, raw_dir: Path, photos_dir: Path, photo_landmarks: Path, extra_dir: Path, extra_landmarks: Path,
    out_dir: Path, params: PrepareParams,
) -> dict[str, int]:
    """Validate both CSVs and both photo folders, split val off the Kaggle train CSV, frame the photos
    around the hands the landmarks stage found, normalize, and write the arrays. Returns the size of
    each split."""
    train_csv, test_csv = (find_raw_csv(raw_dir, RAW_FILES[split]) for split in ("train", "test"))
    train_pixels, train_labels = read_dataset_csv(train_csv)
    test_pixels, test_labels = read_dataset_csv(test_csv)
    if len(np.unique(train_labels)) < 2:
        letter = LETTERS[train_labels[0]]
        raise SignlangError(
            f"{train_csv}: lines 2-{file_line(train_csv, len(train_labels) - 1)}: every row has label "
            f"{train_labels[0]} ({letter}); training needs at least two letters"
        )
    photos = framed_photos(photos_dir, photo_landmarks)
    extra = framed_photos(extra_dir, extra_landmarks)
    groups = val_groups(train_pixels, train_labels, params.val_split)
    train_index, val_index = stratified_split(train_labels, groups, params.val_fraction, params.seed)
    splits = {
        "train": (train_pixels[train_index], train_labels[train_index]),
        "val": (train_pixels[val_index], train_labels[val_index]),
        "test": (test_pixels, test_labels),
        "photos": photo_crops(photos, params),
        "extra": photo_crops(extra, params),
    }
    normalization = fit_normalization(splits["train"][0])
    with staged_outputs() as outputs:
        for split, (pixels, labels) in splits.items():
            write_split(outputs, out_dir, split, pixels, labels, normalization)
        write_normalization(outputs, out_dir, normalization)
    sizes = {split: len(labels) for split, (_, labels) in splits.items()}
    log.info("prepared %s, normalization mean %.4f std %.4f", sizes, normalization.mean, normalization.std)
    return sizes


def framed_photos(folder: Path, landmarks_dir: Path) -> list[tuple[Photo, Box]]:
    """The photos of ``folder`` (none if it is missing: data/extra is optional), each with the square
    `signlang predict` frames around the hand the landmarks stage found in it; where it found none, around
    the labelled box, or else the centre square."""
    photos = read_photo_folder(folder) if folder.exists() else []
    landmarks = read_landmarks(landmarks_dir)
    if [photo.key for photo in photos] != landmarks.names.tolist():
        raise SignlangError(f"{landmarks_dir}: its photos are not those of {folder}; run 'dvc repro' to extract "
                            "their landmarks again")
    return [(photo, _square(photo, landmarks, index)) for index, photo in enumerate(photos)]


def _square(photo: Photo, landmarks: LandmarkSet, index: int) -> Box:
    size = (int(landmarks.size[index, 0]), int(landmarks.size[index, 1]))
    hand = landmarks.hand(index)
    if hand is None and photo.box is not None:
        return square_around(photo.box, size)
    return hand_square(hand, size)


def photo_crops(
    photos: list[tuple[Photo, Box]], params: PrepareParams, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``params.photo_crops`` framed 28x28 crops of each photo, (N * crops, 784) uint8, and their labels.

    The first crop is the square `signlang predict` takes around the hand MediaPipe finds; where it
    found none, the labelled box stands in (or, without one, the centre square). The other crops move
    and resize that square at random (``crop_shift``, ``crop_scale``), within the photo, as a detector
    that frames a little off would; each photo's draws are seeded by ``params.seed`` and its name, so a
    photo's crops do not depend on the other photos, nor on how many processes frame them (one per CPU)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(photos) < PARALLEL_FROM:
        crops = [_frame_photo(photo, square, params) for photo, square in photos]
    else:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            crops = list(pool.map(_frame_photo, *zip(*photos), [params] * len(photos), chunksize=16))
    pixels = np.concatenate(crops) if crops else np.zeros((0, IMAGE_SIZE * IMAGE_SIZE), dtype=np.uint8)
    labels = np.repeat(np.array([photo.label for photo, _ in photos], dtype=np.int64), params.photo_crops)
    log.info("framed %d crops of %d photos", len(labels), len(photos))
    return pixels, labels


def _frame_photo(photo: Photo, square: Box, params: PrepareParams) -> np.ndarray:
    image = read_photo(photo.path)
    rng = np.random.default_rng([params.seed, zlib.crc32(photo.name.encode("utf-8"))])
    boxes = [square] + [jittered(square, image.size, params.crop_scale, params.crop_shift, rng)
                        for _ in range(params.photo_crops - 1)]
    return np.stack([frame_pixels(image, box) for box in boxes])


def jittered(square: Box, size: tuple[int, int], scale: float, shift: float, rng: np.random.Generator) -> Box:
    """``square`` resized by a factor in [1 - scale, 1 + scale] and moved by up to ``shift`` of its side
    on each axis, kept inside the image."""
    factor, dx, dy = rng.uniform(-1.0, 1.0, size=3) * (scale, shift, shift)
    side = square.width * (1.0 + factor)
    cx, cy = (square.x0 + square.x1) / 2 + dx * square.width, (square.y0 + square.y1) / 2 + dy * square.width
    return square_around(Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), size, margin=0.0)
