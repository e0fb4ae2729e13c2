"""Kaggle CSVs in, validated and normalized arrays out; and the arrays back in for training."""

from __future__ import annotations

import gzip
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from signlang import IMAGE_SIZE, NUM_CLASSES
from signlang.errors import SignlangError
from signlang.files import read_json, save_npy, write_json
from signlang.params import PrepareParams

log = logging.getLogger(__name__)

NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
HEADER: tuple[str, ...] = ("label", *(f"pixel{i}" for i in range(1, NUM_PIXELS + 1)))
RAW_FILES = {"train": "sign_mnist_train.csv", "test": "sign_mnist_test.csv"}
SPLITS = ("train", "val", "test")
NORMALIZATION_FILE = "normalization.json"


@dataclass(frozen=True)
class Normalization:
    """Pixels become ``(value / 255 - mean) / std``; mean and std come from the train split."""

    mean: float
    std: float

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        scaled = pixels.astype(np.float32) / np.float32(255.0)
        return (scaled - np.float32(self.mean)) / np.float32(self.std)

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


def find_raw_csv(raw_dir: Path, name: str) -> Path:
    """The plain or gzip'd CSV called ``name`` in ``raw_dir``; exactly one of the two must exist."""
    found = [path for path in (raw_dir / name, raw_dir / f"{name}.gz") if path.is_file()]
    if not found:
        raise SignlangError(
            f"{raw_dir / name}: not found (nor {name}.gz); put the Kaggle files sign_mnist_train.csv and "
            f"sign_mnist_test.csv in {raw_dir}/ (see README, 'Get the data')"
        )
    if len(found) > 1:
        raise SignlangError(f"{raw_dir}: both {name} and {name}.gz are present; keep one")
    return found[0]


def read_dataset_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one Kaggle CSV: returns pixels (N, 784) uint8 and labels (N,) int64."""
    frame = _read_frame(path)
    _check_header(path, list(frame.columns))
    if frame.empty:
        raise SignlangError(f"{path}: has a header but no data rows")
    _check_integers(path, frame)
    values = frame.to_numpy(dtype=np.int64)
    labels, pixels = values[:, 0], values[:, 1:]
    _check_range(path, labels[:, None], 0, NUM_CLASSES - 1, column_offset=0)
    _check_range(path, pixels, 0, 255, column_offset=1)
    return pixels.astype(np.uint8), labels


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8-sig", skip_blank_lines=False, low_memory=False)
    except FileNotFoundError as error:
        raise SignlangError(f"{path}: not found") from error
    except pd.errors.EmptyDataError as error:
        raise SignlangError(f"{path}: file is empty, expected a header 'label,pixel1,...,pixel784'") from error
    except pd.errors.ParserError as error:
        detail = str(error).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise SignlangError(f"{path}: malformed CSV: {detail} (expected {len(HEADER)} fields)") from error
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise SignlangError(f"{path}: corrupt or truncated gzip data ({error})") from error
    except UnicodeDecodeError as error:
        raise SignlangError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error


def _check_header(path: Path, columns: list[str]) -> None:
    if len(columns) != len(HEADER):
        raise SignlangError(
            f"{path}: line 1: header has {len(columns)} columns, expected {len(HEADER)} "
            "(label,pixel1,...,pixel784)"
        )
    for index, (got, expected) in enumerate(zip(columns, HEADER, strict=True)):
        if got != expected:
            raise SignlangError(f"{path}: line 1: column {index + 1} is named {got!r}, expected {expected!r}")


def _check_integers(path: Path, frame: pd.DataFrame) -> None:
    """Every cell must be an integer; name the first one that is not (top to bottom, left to right)."""
    first: tuple[int, int] | None = None
    for col_index, name in enumerate(frame.columns):
        column = frame[name]
        if pd.api.types.is_integer_dtype(column.dtype):
            continue
        numeric = pd.to_numeric(column, errors="coerce")
        bad = numeric.isna().to_numpy() | (numeric.to_numpy() != np.round(numeric.to_numpy()))
        row = int(np.argmax(bad))
        if bad[row] and (first is None or row < first[0]):
            first = (row, col_index)
    if first is not None:
        row, col_index = first
        cell = frame.iat[row, col_index]
        shown = "an empty cell" if pd.isna(cell) else repr(cell)
        raise SignlangError(
            f"{path}: line {row + 2}, column {frame.columns[col_index]!r}: expected an integer, got {shown}"
        )


def _check_range(path: Path, values: np.ndarray, low: int, high: int, column_offset: int) -> None:
    bad = (values < low) | (values > high)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise SignlangError(
            f"{path}: line {row + 2}, column {HEADER[col + column_offset]!r}: "
            f"expected an integer in {low}..{high}, got {values[row, col]}"
        )


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (train, val): each class gives ``round(val_fraction * count)`` images to val."""
    rng = np.random.default_rng(seed)
    val_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        val_parts.append(rng.permutation(members)[: round(val_fraction * len(members))])
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[np.concatenate(val_parts)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def fit_normalization(pixels: np.ndarray) -> Normalization:
    scaled = pixels.astype(np.float64) / 255.0
    return Normalization(mean=float(scaled.mean()), std=float(scaled.std()))


def to_images(pixels: np.ndarray, normalization: Normalization) -> np.ndarray:
    """(N, 784) uint8 -> (N, 1, 28, 28) float32, normalized."""
    return normalization.apply(pixels).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


def prepare(raw_dir: Path, out_dir: Path, params: PrepareParams) -> dict[str, int]:
    """Validate both CSVs, split val off train, normalize, and write the arrays. Returns split sizes."""
    train_pixels, train_labels = read_dataset_csv(find_raw_csv(raw_dir, RAW_FILES["train"]))
    test_pixels, test_labels = read_dataset_csv(find_raw_csv(raw_dir, RAW_FILES["test"]))
    if len(np.unique(train_labels)) < 2:
        raise SignlangError(f"{raw_dir / RAW_FILES['train']}: holds a single class; expected at least two")
    train_index, val_index = stratified_split(train_labels, params.val_fraction, params.seed)
    normalization = fit_normalization(train_pixels[train_index])
    splits = {
        "train": (train_pixels[train_index], train_labels[train_index]),
        "val": (train_pixels[val_index], train_labels[val_index]),
        "test": (test_pixels, test_labels),
    }
    for split, (pixels, labels) in splits.items():
        save_npy(out_dir / f"{split}_images.npy", to_images(pixels, normalization))
        save_npy(out_dir / f"{split}_labels.npy", labels.astype(np.int64))
    write_json(out_dir / NORMALIZATION_FILE, normalization.to_dict())
    sizes = {split: len(labels) for split, (_, labels) in splits.items()}
    log.info("prepared %s, normalization mean %.4f std %.4f", sizes, normalization.mean, normalization.std)
    return sizes


def load_split(prepared_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Memory-map one split's images (N, 1, 28, 28) float32 and labels (N,) int64."""
    images = np.load(prepared_dir / f"{split}_images.npy", mmap_mode="r")
    labels = np.load(prepared_dir / f"{split}_labels.npy", mmap_mode="r")
    return images, labels


def load_normalization(prepared_dir: Path) -> Normalization:
    values = read_json(prepared_dir / NORMALIZATION_FILE)
    return Normalization(mean=float(values["mean"]), std=float(values["std"]))
