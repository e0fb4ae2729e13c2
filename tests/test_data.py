from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from signlang.data import (
    fit_normalization,
    find_raw_csv,
    load_normalization,
    load_split,
    prepare,
    read_dataset_csv,
    stratified_split,
    to_images,
)
from signlang.errors import SignlangError
from signlang.params import PrepareParams

from conftest import HEADER, csv_text, make_split, write_csv

GOOD_LABELS, GOOD_PIXELS = make_split(3, seed=0)


@pytest.mark.parametrize("name", ["lf.csv", "crlf.csv", "gz.csv.gz"])
def test_read_accepts_lf_crlf_and_gzip_identically(tmp_path: Path, name: str) -> None:
    newline = "\r\n" if name.startswith("crlf") else "\n"
    pixels, labels = read_dataset_csv(write_csv(tmp_path / name, GOOD_LABELS, GOOD_PIXELS, newline))
    np.testing.assert_array_equal(pixels, GOOD_PIXELS)
    np.testing.assert_array_equal(labels, GOOD_LABELS)
    assert pixels.dtype == np.uint8 and labels.dtype == np.int64


def broken_text(kind: str) -> str:
    lines = csv_text(GOOD_LABELS, GOOD_PIXELS).splitlines()
    cells = lines[2].split(",")  # line 3 of the file: the second data row
    if kind == "wrong header":
        lines[0] = lines[0].replace("pixel5,", "pixelfive,")
    elif kind == "786 columns":
        lines = [line + ",0" for line in lines]
    elif kind == "784 columns":
        lines = [line.rsplit(",", 1)[0] for line in lines]
    elif kind == "extra cell in a row":
        lines[2] += ",7"
    elif kind == "non-integer":
        cells[100] = "1.5"
    elif kind == "text cell":
        cells[100] = "abc"
    elif kind == "empty cell":
        cells[100] = ""
    elif kind == "pixel 256":
        cells[100] = "256"
    elif kind == "pixel -1":
        cells[100] = "-1"
    elif kind == "label 26":
        cells[0] = "26"
    elif kind == "label -1":
        cells[0] = "-1"
    elif kind == "header only":
        lines = lines[:1]
    elif kind == "empty file":
        return ""
    if kind in ("non-integer", "text cell", "empty cell", "pixel 256", "pixel -1", "label 26", "label -1"):
        lines[2] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("wrong header", "line 1: column 6 is named 'pixelfive', expected 'pixel5'"),
        ("786 columns", "line 1: header has 786 columns, expected 785"),
        ("784 columns", "line 1: header has 784 columns, expected 785"),
        ("extra cell in a row", "Expected 785 fields in line 3, saw 786"),
        ("non-integer", "line 3, column 'pixel100': expected an integer, got"),
        ("text cell", "line 3, column 'pixel100': expected an integer, got 'abc'"),
        ("empty cell", "line 3, column 'pixel100': expected an integer, got an empty cell"),
        ("pixel 256", "line 3, column 'pixel100': expected an integer in 0..255, got 256"),
        ("pixel -1", "line 3, column 'pixel100': expected an integer in 0..255, got -1"),
        ("label 26", "line 3, column 'label': expected an integer in 0..25, got 26"),
        ("label -1", "line 3, column 'label': expected an integer in 0..25, got -1"),
        ("header only", "has a header but no data rows"),
        ("empty file", "file is empty"),
    ],
)
def test_read_rejects_broken_file_naming_file_and_place(tmp_path: Path, kind: str, expected: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(broken_text(kind), encoding="utf-8")
    with pytest.raises(SignlangError) as error:
        read_dataset_csv(path)
    message = str(error.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_read_rejects_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(csv_text(GOOD_LABELS, GOOD_PIXELS).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SignlangError, match="corrupt or truncated gzip"):
        read_dataset_csv(path)


def test_find_raw_csv_explains_what_goes_where(tmp_path: Path) -> None:
    with pytest.raises(SignlangError, match=r"sign_mnist_train.csv: not found .*put the Kaggle files"):
        find_raw_csv(tmp_path, "sign_mnist_train.csv")
    (tmp_path / "sign_mnist_train.csv").touch()
    (tmp_path / "sign_mnist_train.csv.gz").touch()
    with pytest.raises(SignlangError, match="both"):
        find_raw_csv(tmp_path, "sign_mnist_train.csv")


def test_stratified_split_keeps_class_shares_and_is_seeded() -> None:
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    train, val = stratified_split(labels, 0.1, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[val]).tolist() == [1, 2, 3, 4, 5]
    again_train, again_val = stratified_split(labels, 0.1, seed=3)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, stratified_split(labels, 0.1, seed=4)[1])


def test_prepare_writes_normalized_arrays(raw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("signlang.data.WRITE_CHUNK_ROWS", 7)  # several chunks, the last one short
    out = tmp_path / "prepared"
    sizes = prepare(raw_dir, out, PrepareParams(val_fraction=0.25, seed=0))
    assert sizes == {"train": 120, "val": 40, "test": 40}
    images, labels = load_split(out, "train")
    assert images.shape == (120, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64
    assert abs(float(images.mean())) < 1e-4 and abs(float(images.std()) - 1.0) < 1e-3
    norm = load_normalization(out)
    test_images, _ = load_split(out, "test")
    pixels, _ = read_dataset_csv(raw_dir / "sign_mnist_test.csv")
    expected = (pixels[0].reshape(28, 28) / 255.0 - norm.mean) / norm.std
    np.testing.assert_allclose(test_images[0, 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(test_images, to_images(pixels, norm))  # chunked writing == whole array


def test_prepare_writes_nothing_when_an_input_is_bad(raw_dir: Path, tmp_path: Path) -> None:
    (raw_dir / "sign_mnist_test.csv").write_text(",".join(HEADER) + "\n", encoding="utf-8")
    out = tmp_path / "prepared"
    with pytest.raises(SignlangError, match="sign_mnist_test.csv: has a header but no data rows"):
        prepare(raw_dir, out, PrepareParams())
    assert not out.exists() or not any(out.iterdir())  # not even a temporary file


def test_prepare_rejects_a_single_class(tmp_path: Path) -> None:
    labels, pixels = make_split(5, seed=0)
    write_csv(tmp_path / "sign_mnist_train.csv", np.zeros_like(labels), pixels)
    write_csv(tmp_path / "sign_mnist_test.csv", labels, pixels)
    with pytest.raises(SignlangError, match="single class"):
        prepare(tmp_path, tmp_path / "out", PrepareParams())


def test_error_lines_count_blank_lines_that_pandas_skips(tmp_path: Path) -> None:
    lines = csv_text(GOOD_LABELS, GOOD_PIXELS).splitlines()
    lines.insert(2, "")  # a blank line 3; the second data row moves to line 4
    cells = lines[3].split(",")
    cells[7] = "300"
    lines[3] = ",".join(cells)
    path = write_csv(tmp_path / "blank.csv.gz", GOOD_LABELS, GOOD_PIXELS)
    path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    with pytest.raises(SignlangError, match="line 4, column 'pixel7': expected an integer in 0..255, got 300"):
        read_dataset_csv(path)


def test_fit_normalization_matches_numpy() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(50, 784)).astype(np.uint8)
    norm = fit_normalization(pixels)
    assert norm.mean == pytest.approx((pixels / 255.0).mean(), rel=1e-12)
    assert norm.std == pytest.approx((pixels / 255.0).std(), rel=1e-12)


@pytest.mark.parametrize("row", [0, 159])  # the first and the last data row
def test_prepare_names_a_bad_cell_anywhere_in_the_train_file(raw_dir: Path, tmp_path: Path, row: int) -> None:
    path = raw_dir / "sign_mnist_train.csv"
    lines = path.read_text().splitlines()
    cells = lines[row + 1].split(",")
    cells[5] = "999"
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    expected = rf"line {row + 2}, column 'pixel5': expected an integer in 0..255, got 999"
    with pytest.raises(SignlangError, match=expected):
        prepare(raw_dir, tmp_path / "out", PrepareParams())


def test_prepare_reads_plain_and_gzip_files_alike(raw_dir: Path, tmp_path: Path) -> None:
    prepare(raw_dir, tmp_path / "plain", PrepareParams())
    for name in ("sign_mnist_train.csv", "sign_mnist_test.csv"):
        path = raw_dir / name
        path.with_suffix(".csv.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    prepare(raw_dir, tmp_path / "gz", PrepareParams())
    for split in ("train", "val", "test"):
        for plain, gz in zip(load_split(tmp_path / "plain", split), load_split(tmp_path / "gz", split)):
            np.testing.assert_array_equal(plain, gz)
