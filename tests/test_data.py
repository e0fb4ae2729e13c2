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

from conftest import PROJECT, load_stage, make_split, write_csv

GOOD_LABELS, GOOD_PIXELS = make_split(3, seed=0)
prepare_stage = load_stage("prepare")
PARAMS = str(PROJECT / "params.yaml")


def mutate(kind: str, text: str) -> str:
    """``text`` (a valid CSV with LF line endings) broken in the way ``kind`` names, on line 3 where it
    concerns one row."""
    lines = text.splitlines()
    cells = lines[2].split(",")  # line 3 of the file: the second data row
    if kind == "header only":
        return lines[0] + "\n"
    if kind == "wrong header":
        lines[0] = lines[0].replace("pixel5,", "pixelfive,")
    elif kind == "784 columns":
        lines = [line.rsplit(",", 1)[0] for line in lines]
    elif kind == "786 columns":
        lines = [line + ",0" for line in lines]
    elif kind == "extra cell in a row":
        lines[2] += ",7"
    elif kind == "mixed CRLF/LF":
        return "\r\n".join(lines[:2]) + "\r\n" + "\n".join(lines[2:]) + "\n"
    elif kind == "repeated header row":
        lines.insert(2, lines[0])
    elif kind == "not UTF-8":
        lines[2] = lines[2].replace(",", ",\udcff", 1)  # a lone 0xff byte after the label
    else:
        column, value = {
            "non-integer": (100, "1.5"),
            "text cell": (100, "abc"),
            "empty cell": (100, ""),
            "pixel 256": (100, "256"),
            "pixel -1": (100, "-1"),
            "label 26": (0, "26"),
            "label -1": (0, "-1"),
        }[kind]
        cells[column] = value
        lines[2] = ",".join(cells)
    return "\n".join(lines) + "\n"


def write_broken(raw: Path, kind: str) -> Path:
    """Break one file of the valid data/raw in ``raw``; returns the path the error must name."""
    train, test = raw / "sign_mnist_train.csv", raw / "sign_mnist_test.csv"
    if kind == "missing file":
        train.unlink()
        return train
    if kind == "empty file":
        test.write_bytes(b"")
        return test
    if kind == "truncated .gz":
        data = gzip.compress(train.read_bytes())
        train.unlink()
        train = train.with_suffix(".csv.gz")
        train.write_bytes(data[: len(data) // 2])
        return train
    if kind == "both .csv and .csv.gz":
        test.with_suffix(".csv.gz").write_bytes(gzip.compress(test.read_bytes()))
        return raw
    if kind == "single-class training set":
        labels, pixels = make_split(5, seed=0)
        write_csv(train, np.full_like(labels, 2), pixels)
        return train
    if kind.startswith("pixel 999 on row "):
        row = int(kind.rsplit(" ", 1)[1])
        lines = train.read_text().splitlines()
        cells = lines[row + 1].split(",")
        cells[5] = "999"
        lines[row + 1] = ",".join(cells)
        train.write_text("\n".join(lines) + "\n")
        return train
    if kind == "blank lines, then a bad cell":  # blank lines count: the error names the line in the file
        lines = train.read_text().splitlines()
        lines[2:2] = ["", ""]
        lines[5] = "300" + lines[5][lines[5].index(",") :]
        train.write_text("\r\n".join(lines) + "\r\n")
        return train
    path = test if kind in ("header only", "label 26") else train
    path.write_bytes(mutate(kind, path.read_text()).encode("utf-8", errors="surrogateescape"))
    return path


# Every kind of malformed input the issue lists (and a few more): the message names the file and,
# where the fault is in one place, the line; the exit code is 1 and data/prepared stays empty.
BROKEN_INPUTS = [
    ("missing file", "not found (nor sign_mnist_train.csv.gz); put the Kaggle files"),
    ("empty file", "line 1: file is empty, expected the header 'label,pixel1,...,pixel784'"),
    ("header only", "line 2: no data rows, only the header"),
    ("wrong header", "line 1: column 6 is named 'pixelfive', expected 'pixel5'"),
    ("784 columns", "line 1: header has 784 columns, expected 785"),
    ("786 columns", "line 1: header has 786 columns, expected 785"),
    ("extra cell in a row", "malformed CSV: Expected 785 fields in line 3, saw 786"),
    ("non-integer", "line 3, column 'pixel100': expected an integer, got 1.5"),
    ("text cell", "line 3, column 'pixel100': expected an integer, got 'abc'"),
    ("empty cell", "line 3, column 'pixel100': expected an integer, got an empty cell"),
    ("pixel 256", "line 3, column 'pixel100': expected an integer in 0..255, got 256"),
    ("pixel -1", "line 3, column 'pixel100': expected an integer in 0..255, got -1"),
    ("label 26", "line 3, column 'label': expected an integer in 0..25, got 26"),
    ("label -1", "line 3, column 'label': expected an integer in 0..25, got -1"),
    ("truncated .gz", "corrupt or truncated gzip data"),
    ("mixed CRLF/LF", "line 3: ends in LF, but line 1 ends in CRLF; use one line ending"),
    ("repeated header row", "line 3: the header row is repeated"),
    ("single-class training set", "lines 2-21: every row has label 2 (C); training needs at least two letters"),
    ("not UTF-8", "not UTF-8 text (invalid start byte"),
    ("both .csv and .csv.gz", "both sign_mnist_test.csv and sign_mnist_test.csv.gz are present; keep one"),
    ("pixel 999 on row 0", "line 2, column 'pixel5': expected an integer in 0..255, got 999"),
    ("pixel 999 on row 159", "line 161, column 'pixel5': expected an integer in 0..255, got 999"),
    ("blank lines, then a bad cell", "line 6, column 'label': expected an integer in 0..25, got 300"),
]


@pytest.mark.parametrize(("kind", "expected"), BROKEN_INPUTS, ids=[kind for kind, _ in BROKEN_INPUTS])
def test_prepare_rejects_broken_input_in_one_line_and_writes_nothing(
    raw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, expected: str
) -> None:
    named = write_broken(raw_dir, kind)
    out = tmp_path / "prepared"
    code = prepare_stage.main(["--raw-dir", str(raw_dir), "--out-dir", str(out), "--params", PARAMS])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {named}"), err
    assert expected in err, err
    assert not out.exists() or not any(out.rglob("*"))  # no output, not even a temporary file


VALID_VARIANTS = ["LF", "CRLF", "gzip", "UTF-8 BOM", "BOM, CRLF and gzip", "no final newline", "blank lines"]


@pytest.mark.parametrize("variant", VALID_VARIANTS)
def test_valid_variants_give_identical_arrays(raw_dir: Path, tmp_path: Path, variant: str) -> None:
    reference = tmp_path / "reference"
    assert prepare_stage.main(["--raw-dir", str(raw_dir), "--out-dir", str(reference), "--params", PARAMS]) == 0
    for name in ("sign_mnist_train.csv", "sign_mnist_test.csv"):
        path = raw_dir / name
        text = path.read_text()
        if "CRLF" in variant:
            text = text.replace("\n", "\r\n")
        if "BOM" in variant:
            text = "\ufeff" + text
        if variant == "no final newline":
            text = text.rstrip("\n")
        if variant == "blank lines":
            text = text.replace("\n", "\n\n", 3) + "\n"
        data = text.encode("utf-8")
        if "gzip" in variant:
            path.unlink()
            path, data = path.with_suffix(".csv.gz"), gzip.compress(data)
        path.write_bytes(data)
    out = tmp_path / "variant"
    assert prepare_stage.main(["--raw-dir", str(raw_dir), "--out-dir", str(out), "--params", PARAMS]) == 0
    written = sorted(path.name for path in reference.iterdir())
    assert written == sorted(path.name for path in out.iterdir()) and len(written) == 7
    for name in written:
        assert (reference / name).read_bytes() == (out / name).read_bytes(), name


def test_read_returns_uint8_pixels_and_int64_labels(tmp_path: Path) -> None:
    pixels, labels = read_dataset_csv(write_csv(tmp_path / "a.csv", GOOD_LABELS, GOOD_PIXELS))
    np.testing.assert_array_equal(pixels, GOOD_PIXELS)
    np.testing.assert_array_equal(labels, GOOD_LABELS)
    assert pixels.dtype == np.uint8 and labels.dtype == np.int64


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


def test_fit_normalization_matches_numpy() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(50, 784)).astype(np.uint8)
    norm = fit_normalization(pixels)
    assert norm.mean == pytest.approx((pixels / 255.0).mean(), rel=1e-12)
    assert norm.std == pytest.approx((pixels / 255.0).std(), rel=1e-12)
