from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from signlang.arrays import load_normalization, load_split
from signlang.data import near_duplicate_groups, prepare, stratified_split
from signlang.kaggle import find_raw_csv, read_dataset_csv
from signlang.errors import SignlangError
from signlang.normalization import fit_normalization
from signlang.params import PrepareParams

from helpers import load_stage, make_split, prepare_argv, project_params, write_csv, hand_landmarks

GOOD_LABELS, GOOD_PIXELS = make_split(3, seed=0)
prepare_stage = load_stage("prepare")


TRAIN, TEST = "sign_mnist_train.csv", "sign_mnist_test.csv"


def edit_lines(path: Path, edit: Callable[[list[str]], list[str]], newline: str = "\n") -> Path:
    """Rewrite the CSV at ``path`` with the lines ``edit`` makes of its lines (index 0 is the header)."""
    lines = edit(path.read_text().splitlines())
    path.write_bytes((newline.join(lines) + newline).encode("utf-8", errors="surrogateescape"))
    return path


def change_line(path: Path, line: int, change: Callable[[str], str]) -> Path:
    """Replace file line ``line`` (1 is the header) by ``change(line)``."""
    return edit_lines(path, lambda lines: [*lines[: line - 1], change(lines[line - 1]), *lines[line:]])


def set_cell(path: Path, line: int, column: int, value: str) -> Path:
    """Set cell ``column`` (0 is the label) of file line ``line`` (1 is the header)."""
    def change(text: str) -> str:
        cells = text.split(",")
        return ",".join([*cells[:column], value, *cells[column + 1 :]])

    return change_line(path, line, change)


def gzip_truncated(path: Path) -> Path:
    data = gzip.compress(path.read_bytes())
    path.unlink()
    gz = path.with_suffix(".csv.gz")
    gz.write_bytes(data[: len(data) // 2])
    return gz


def add_gzip_copy(path: Path) -> Path:
    path.with_suffix(".csv.gz").write_bytes(gzip.compress(path.read_bytes()))
    return path.parent


def single_letter(path: Path) -> Path:
    labels, pixels = make_split(5, seed=0)
    return write_csv(path, np.full_like(labels, 2), pixels)


def blank_lines_then_bad_label(path: Path) -> Path:
    """Two blank lines after the first data row, then label 300 on file line 6: blank lines count."""

    edit_lines(path, lambda lines: [*lines[:2], "", "", *lines[2:]], newline="\r\n")
    return set_cell(path, 6, 0, "300")


def mixed_line_endings(path: Path) -> Path:
    lines = path.read_text().splitlines()
    path.write_text("\r\n".join(lines[:2]) + "\r\n" + "\n".join(lines[2:]) + "\n", newline="")
    return path


@dataclass(frozen=True)
class Broken:
    """One way to break data/raw: ``breaks`` damages one file and returns the path the message names."""

    name: str
    file: str
    breaks: Callable[[Path], Path]
    message: str


# Every kind of malformed input the issue lists (and a few more): the message names the file and,
# where the fault is in one place, the line; the exit code is 1 and data/prepared stays empty.
BROKEN_INPUTS = [
    Broken("missing file", TRAIN, lambda p: (p.unlink(), p)[1],
           "not found (nor sign_mnist_train.csv.gz); put the Kaggle files"),
    Broken("empty file", TEST, lambda p: (p.write_bytes(b""), p)[1],
           "line 1: file is empty, expected the header 'label,pixel1,...,pixel784'"),
    Broken("header only", TEST, lambda p: edit_lines(p, lambda lines: lines[:1]),
           "line 2: no data rows, only the header"),
    Broken("wrong header", TRAIN, lambda p: set_cell(p, 1, 5, "pixelfive"),
           "line 1: column 6 is named 'pixelfive', expected 'pixel5'"),
    Broken("784 columns", TRAIN, lambda p: edit_lines(p, lambda ls: [line.rsplit(",", 1)[0] for line in ls]),
           "line 1: header has 784 columns, expected 785"),
    Broken("786 columns", TRAIN, lambda p: edit_lines(p, lambda ls: [line + ",0" for line in ls]),
           "line 1: header has 786 columns, expected 785"),
    Broken("extra cell in a row", TRAIN, lambda p: change_line(p, 3, lambda line: line + ",7"),
           "malformed CSV: Expected 785 fields in line 3, saw 786"),
    Broken("non-integer", TRAIN, lambda p: set_cell(p, 3, 100, "1.5"),
           "line 3, column 'pixel100': expected an integer, got 1.5"),
    Broken("text cell", TRAIN, lambda p: set_cell(p, 3, 100, "abc"),
           "line 3, column 'pixel100': expected an integer, got 'abc'"),
    Broken("empty cell", TRAIN, lambda p: set_cell(p, 3, 100, ""),
           "line 3, column 'pixel100': expected an integer, got an empty cell"),
    Broken("pixel 256", TRAIN, lambda p: set_cell(p, 3, 100, "256"),
           "line 3, column 'pixel100': expected an integer in 0..255, got 256"),
    Broken("pixel -1", TRAIN, lambda p: set_cell(p, 3, 100, "-1"),
           "line 3, column 'pixel100': expected an integer in 0..255, got -1"),
    Broken("label 26", TEST, lambda p: set_cell(p, 3, 0, "26"),
           "line 3, column 'label': expected an integer in 0..25, got 26"),
    Broken("label -1", TRAIN, lambda p: set_cell(p, 3, 0, "-1"),
           "line 3, column 'label': expected an integer in 0..25, got -1"),
    Broken("truncated .gz", TRAIN, gzip_truncated, "corrupt or truncated gzip data"),
    Broken("mixed CRLF/LF", TRAIN, mixed_line_endings,
           "line 3: ends in LF, but line 1 ends in CRLF; use one line ending"),
    Broken("repeated header row", TRAIN, lambda p: edit_lines(p, lambda ls: [*ls[:2], ls[0], *ls[2:]]),
           "line 3: the header row is repeated"),
    Broken("single-class training set", TRAIN, single_letter,
           "lines 2-21: every row has label 2 (C); training needs at least two letters"),
    Broken("not UTF-8", TRAIN, lambda p: change_line(p, 3, lambda line: line.replace(",", ",\udcff", 1)),
           "not UTF-8 text (invalid start byte"),
    Broken("both .csv and .csv.gz", TEST, add_gzip_copy,
           "both sign_mnist_test.csv and sign_mnist_test.csv.gz are present; keep one"),
    Broken("pixel 999 on row 0", TRAIN, lambda p: set_cell(p, 2, 5, "999"),
           "line 2, column 'pixel5': expected an integer in 0..255, got 999"),
    Broken("pixel 999 on row 159", TRAIN, lambda p: set_cell(p, 161, 5, "999"),
           "line 161, column 'pixel5': expected an integer in 0..255, got 999"),
    Broken("blank lines, then a bad cell", TRAIN, blank_lines_then_bad_label,
           "line 6, column 'label': expected an integer in 0..25, got 300"),
]


@pytest.mark.parametrize("case", BROKEN_INPUTS, ids=[case.name for case in BROKEN_INPUTS])
def test_prepare_rejects_broken_input_in_one_line_and_writes_nothing(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    case: Broken,
) -> None:
    named = case.breaks(raw_dir / case.file)
    out = tmp_path / "prepared"
    code = prepare_stage.main(prepare_argv(raw_dir, out, photos_dir, extra_dir))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {named}"), err
    assert case.message in err, err
    assert not out.exists() or not any(out.rglob("*"))  # no output, not even a temporary file


VALID_VARIANTS = ["LF", "CRLF", "gzip", "UTF-8 BOM", "BOM, CRLF and gzip", "no final newline", "blank lines"]


@pytest.mark.parametrize("variant", VALID_VARIANTS)
def test_valid_variants_give_identical_arrays(raw_dir: Path, extra_dir: Path, tmp_path: Path, variant: str) -> None:
    reference = tmp_path / "reference"
    assert prepare_stage.main(prepare_argv(raw_dir, reference, extra_dir, extra_dir)) == 0
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
    assert prepare_stage.main(prepare_argv(raw_dir, out, extra_dir, extra_dir)) == 0
    written = sorted(path.name for path in reference.iterdir())
    assert written == sorted(path.name for path in out.iterdir()) and len(written) == 11
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


def photo_variants(photos_per_letter: int, variants: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels, labels and photo ids of images made as the Kaggle CSVs were: each random "photo" grown into
    ``variants`` copies with another brightness, contrast and a little noise."""
    rng = np.random.default_rng(seed)
    photos = rng.uniform(0, 255, size=(4 * photos_per_letter, 28, 28))
    photo_ids = np.repeat(np.arange(len(photos)), variants)
    gain, offset = rng.uniform(0.85, 1.15, size=(2, len(photo_ids), 1, 1))
    noise = rng.normal(0, 8, size=(len(photo_ids), 28, 28))
    pixels = np.clip(photos[photo_ids] * gain + 20 * (offset - 1) + noise, 0, 255).astype(np.uint8)
    return pixels.reshape(len(photo_ids), -1), photo_ids % 4, photo_ids


def test_near_duplicate_groups_finds_each_photos_variants() -> None:
    pixels, labels, photo_ids = photo_variants(photos_per_letter=6, variants=5, seed=0)
    groups = near_duplicate_groups(pixels, labels)
    assert len(np.unique(groups)) == len(np.unique(photo_ids))
    for group in np.unique(groups):
        assert len(np.unique(photo_ids[groups == group])) == 1  # one photo's variants, and all of them
    identical = np.repeat(pixels[:1], 3, axis=0)  # the same image under two letters: never one group
    assert len(np.unique(near_duplicate_groups(identical, np.array([0, 1, 1])))) == 2


def test_stratified_split_keeps_groups_whole_and_class_shares() -> None:
    pixels, labels, photo_ids = photo_variants(photos_per_letter=10, variants=4, seed=1)
    groups = near_duplicate_groups(pixels, labels)
    train, val = stratified_split(labels, groups, 0.2, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert not set(photo_ids[train]) & set(photo_ids[val])  # no photo on both sides
    assert np.bincount(labels[val]).tolist() == [8, 8, 8, 8]  # two of each letter's ten photos
    np.testing.assert_array_equal(val, stratified_split(labels, groups, 0.2, 3)[1])
    assert not np.array_equal(val, stratified_split(labels, groups, 0.2, 4)[1])


def test_stratified_split_of_unrelated_images_takes_the_share_of_each_letter() -> None:
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    train, val = stratified_split(labels, np.arange(len(labels)), 0.1, seed=3)
    assert np.bincount(labels[val]).tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("val_split", ["random", "grouped"])
def test_prepare_keeps_each_photos_variants_on_one_side_when_grouped(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path, val_split: str
) -> None:
    pixels, labels, photo_ids = photo_variants(photos_per_letter=10, variants=4, seed=2)
    write_csv(raw_dir / TRAIN, labels, pixels)
    params = project_params(PrepareParams, "prepare", val_fraction=0.2, val_split=val_split, photo_crops=1)
    prepare(raw_dir=raw_dir, photos_dir=photos_dir, extra_dir=extra_dir, **hand_landmarks(photos_dir, extra_dir, tmp_path / "landmarks"), out_dir=tmp_path / "out", params=params)
    row_of = {row.tobytes(): i for i, row in enumerate(load_normalization(tmp_path / "out").to_model_input(pixels))}
    side_photos = [{photo_ids[row_of[image.tobytes()]] for image in load_split(tmp_path / "out", split)[0]}
                   for split in ("train", "val")]
    shared = side_photos[0] & side_photos[1]
    assert (not shared) if val_split == "grouped" else len(shared) > 10, shared


def test_prepare_writes_normalized_arrays(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("signlang.arrays.WRITE_CHUNK_ROWS", 7)  # several chunks, the last one short
    out = tmp_path / "prepared"
    params = project_params(PrepareParams, "prepare", val_fraction=0.25, photo_crops=3)
    sizes = prepare(raw_dir=raw_dir, photos_dir=photos_dir, extra_dir=extra_dir, **hand_landmarks(photos_dir, extra_dir, tmp_path / "landmarks"), out_dir=out, params=params)
    assert sizes == {"train": 120, "val": 40, "test": 40, "photos": 4 * 3 * 3, "extra": 0}
    images, labels = load_split(out, "train")
    assert images.shape == (120, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64
    assert abs(float(images.mean())) < 1e-4 and abs(float(images.std()) - 1.0) < 1e-3
    norm = load_normalization(out)
    test_images, _ = load_split(out, "test")
    pixels, _ = read_dataset_csv(raw_dir / "sign_mnist_test.csv")
    expected = (pixels[0].reshape(28, 28) / 255.0 - norm.mean) / norm.std
    np.testing.assert_allclose(test_images[0, 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(test_images, norm.to_model_input(pixels))  # chunked writing == whole array


def test_fit_normalization_matches_numpy() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(50, 784)).astype(np.uint8)
    norm = fit_normalization(pixels)
    assert norm.mean == pytest.approx((pixels / 255.0).mean(), rel=1e-12)
    assert norm.std == pytest.approx((pixels / 255.0).std(), rel=1e-12)
