"""The Kaggle CSV format (``label,pixel1,...,pixel784``, one 28x28 image a row): finding, reading
and validating one file. prepare reads the two Kaggle files with it, `signlang predict` any CSV given."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from signlang import IMAGE_SIZE, NUM_CLASSES
from signlang.errors import SignlangError

NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
HEADER: tuple[str, ...] = ("label", *(f"pixel{i}" for i in range(1, NUM_PIXELS + 1)))
RAW_FILES = {"train": "sign_mnist_train.csv", "test": "sign_mnist_test.csv"}


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
    """Read and validate one Kaggle CSV: returns pixels (N, 784) uint8 and labels (N,) int64.

    A valid file parses into int64 columns, which then only need a range check (asking pandas for
    uint8 directly takes about 1.9x as long with pandas 3.1: benchmarks/speed.py); any other column
    type (a fraction, text, an empty cell, a repeated header) sends the frame to the slower checks
    that find the first bad cell."""
    frame = _read_frame(path, na_filter=False)  # no NA scan: 15% faster; an empty cell stays ''
    _check_header(path, list(frame.columns))
    if frame.empty:
        raise SignlangError(f"{path}: line 2: no data rows, only the header")
    _check_line_endings(path)
    if not all(dtype == np.int64 for dtype in frame.dtypes):
        frame = _check_cells(path, frame)
    values = frame.to_numpy(dtype=np.int64)
    labels, pixels = values[:, 0], values[:, 1:]
    _check_range(path, labels[:, None], 0, NUM_CLASSES - 1, column_offset=0)
    _check_range(path, pixels, 0, 255, column_offset=1)
    return pixels.astype(np.uint8), labels.copy()


def _check_line_endings(path: Path) -> None:
    """All CRLF or all LF: pandas would take a mix silently, but it means the file was spliced."""
    carriage_returns = sum(_count_byte(chunk, "\r") for chunk in _byte_chunks(path))
    if carriage_returns == 0:  # all LF, as Kaggle ships the files: one pass
        return
    if carriage_returns == sum(_count_byte(chunk, "\n") for chunk in _byte_chunks(path)):
        return
    with open_raw(path, "rb") as handle:
        first = handle.readline().endswith(b"\r\n")
        for number, line in enumerate(handle, start=2):
            if line.endswith(b"\n") and line.endswith(b"\r\n") != first:
                got, expected = ("CRLF", "LF") if not first else ("LF", "CRLF")
                raise SignlangError(
                    f"{path}: line {number}: ends in {got}, but line 1 ends in {expected}; use one line ending"
                )
    raise SignlangError(f"{path}: mixes CR, LF and CRLF line endings; use one line ending")


def _count_byte(chunk: np.ndarray, byte: str) -> int:
    return int(np.count_nonzero(chunk == ord(byte)))  # numpy counts bytes 2x faster than bytes.count


def _byte_chunks(path: Path) -> Iterator[np.ndarray]:
    """The file's bytes as uint8 arrays: a plain file memory-mapped whole, a gzip'd one 16 MiB at a time."""
    if path.suffix == ".gz":
        with open_raw(path, "rb") as handle:
            while chunk := handle.read(1 << 24):
                yield np.frombuffer(chunk, dtype=np.uint8)
    else:
        yield np.memmap(path, dtype=np.uint8, mode="r")


def _check_cells(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Name the first cell that is not an integer, or a repeated header row; else return it all numeric."""
    labels = frame[HEADER[0]]
    if not pd.api.types.is_integer_dtype(labels.dtype):
        repeats = np.flatnonzero(labels.astype(str).str.strip().to_numpy() == HEADER[0])
        if len(repeats):
            raise SignlangError(f"{path}: line {file_line(path, int(repeats[0]))}: the header row is repeated")
    _check_integers(path, frame)
    return frame.apply(pd.to_numeric)  # integers written as '7.0', or with spaces around them


def open_raw(path: Path, mode: str, **options: Any) -> IO[Any]:
    """Open a raw CSV, decompressing it on the fly where it ends in .gz."""
    return (gzip.open if path.suffix == ".gz" else open)(path, mode, **options)


def _read_frame(path: Path, **options: Any) -> pd.DataFrame:
    try:
        # pandas' defaults are fast (low_memory=False or skip_blank_lines=False cost 40%); blank
        # lines are skipped, and error messages map rows back to file lines
        return pd.read_csv(path, encoding="utf-8-sig", **options)
    except FileNotFoundError as error:
        raise SignlangError(f"{path}: not found") from error
    except pd.errors.EmptyDataError as error:
        message = f"{path}: line 1: file is empty, expected the header 'label,pixel1,...,pixel784'"
        raise SignlangError(message) from error
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
        if isinstance(cell, np.generic):
            cell = cell.item()  # 1.5, not np.float64(1.5)
        shown = "an empty cell" if pd.isna(cell) or cell == "" else repr(cell)
        raise SignlangError(
            f"{path}: line {file_line(path, row)}, column {frame.columns[col_index]!r}: "
            f"expected an integer, got {shown}"
        )


def _check_range(path: Path, values: np.ndarray, low: int, high: int, column_offset: int) -> None:
    if values.min() >= low and values.max() <= high:
        return
    bad = (values < low) | (values > high)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise SignlangError(
            f"{path}: line {file_line(path, row)}, column {HEADER[col + column_offset]!r}: "
            f"expected an integer in {low}..{high}, got {values[row, col]}"
        )


def file_line(path: Path, row: int) -> int:
    """The 1-based line of data row ``row`` (0-based) in the file, counting the blank lines pandas skips."""
    with open_raw(path, "rt", encoding="utf-8-sig", newline="") as handle:
        non_blank = 0  # the header is the first non-blank line, data row 0 the second
        for number, line in enumerate(handle, start=1):
            if line.strip():
                if non_blank == row + 1:
                    return number
                non_blank += 1
    return row + 2
