"""Photos as input: framing the hand, photo folders and their bad input, mirroring, photo metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from signlang.augment import BatchAugmenter
from signlang.data import framed_photos, photo_crops
from signlang.framing import Box, center_square, frame_pixels, read_photo, square_around
from signlang.hand_finding import HandFinder
from signlang.normalization import Normalization
from signlang.params import AugmentParams, PrepareParams

from helpers import (
    PROJECT, landmarks_without_hands, load_stage, make_split, prepare_argv, project_params, write_photo_folder,
)

# a development photo whose hand MediaPipe frames well, and its labelled hand box
HAND_PHOTO, HAND_BOX = PROJECT / "data/photos/dev/V/V2.jpg", Box(93, 195, 308, 388)


def hand_on_canvas(offset: tuple[int, int], size: tuple[int, int] = (900, 700)) -> tuple[Image.Image, Box]:
    """The hand of HAND_PHOTO (its box and a band of 40 px around it) pasted at ``offset`` on a synthetic
    canvas of noise over a gradient; returns the canvas and where the hand's box now is."""
    rng = np.random.default_rng(0)
    gradient = np.linspace(60, 200, size[0])[None, :, None] * np.ones((size[1], 1, 3))
    canvas = Image.fromarray(np.clip(gradient + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8))
    band = 40
    crop = read_photo(HAND_PHOTO).crop((HAND_BOX.x0 - band, HAND_BOX.y0 - band, HAND_BOX.x1 + band, HAND_BOX.y1 + band))
    canvas.paste(crop, offset)
    x, y = offset[0] + band, offset[1] + band
    return canvas, Box(x, y, x + HAND_BOX.width, y + HAND_BOX.height)


@pytest.mark.parametrize("offset", [(20, 30), (500, 60), (300, 350)])
def test_the_hand_finder_finds_a_hand_placed_at_a_known_spot(offset: tuple[int, int]) -> None:
    canvas, expected = hand_on_canvas(offset)
    with HandFinder() as finder:
        found = finder.find(canvas)
    assert found is not None
    box = found.box(canvas.size)
    assert box is not None and box.iou(expected) >= 0.8, (box, expected)


def test_no_hand_is_found_in_noise() -> None:
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    with HandFinder() as finder:
        assert finder.find(noise) is None


def test_square_around_a_hand_stays_inside_the_image() -> None:
    assert square_around(Box(40, 40, 60, 80), (200, 100), margin=0.25) == Box(20, 30, 80, 90)
    assert square_around(Box(0, 0, 20, 10), (200, 100), margin=0.5) == Box(0, 0, 40, 40)  # moved in
    assert square_around(Box(10, 10, 190, 20), (200, 100), margin=0.0) == Box(50, 0, 150, 100)  # shrunk to fit
    assert center_square((200, 100)) == Box(50, 0, 150, 100)


def test_framing_crops_the_square_and_makes_28x28_grayscale() -> None:
    image = Image.new("RGB", (100, 80), (255, 255, 255))
    image.paste((0, 0, 0), (20, 10, 48, 38))  # a black 28x28 square
    pixels = frame_pixels(image, Box(20, 10, 48, 38))
    assert pixels.shape == (784,) and pixels.dtype == np.uint8 and pixels.max() == 0
    assert frame_pixels(image, Box(60, 40, 88, 68)).min() == 255


def test_box_parse_takes_four_numbers_in_order() -> None:
    assert Box.parse("1,2,30.5,40") == Box(1, 2, 30.5, 40)
    for bad in ("1,2,3", "a,b,c,d", "5,5,4,10"):
        with pytest.raises(ValueError):
            Box.parse(bad)


def test_mirroring_flips_about_half_the_images_and_keeps_them_exact() -> None:
    """A mirrored image is its exact left-right flip (same pixels, so the same letter, signed by the
    other hand); the labels of a batch are never touched by augmentation."""
    off = AugmentParams(enabled=True, mirror=True, rotation=0, translation=0, scale=0, brightness=0, contrast=0)
    images = torch.from_numpy(np.random.default_rng(0).random((200, 1, 28, 28), dtype=np.float32))  # in [0, 1]
    out = BatchAugmenter(off, Normalization(0.0, 1.0), seed=0)(images.clone())
    flipped = torch.tensor([torch.allclose(o, torch.flip(i, dims=[2]), atol=1e-5) for o, i in zip(out, images)])
    same = torch.tensor([torch.allclose(o, i, atol=1e-5) for o, i in zip(out, images)])
    assert bool((flipped ^ same).all())  # each image is one or the other
    assert 70 < int(flipped.sum()) < 130
    never = BatchAugmenter(dataclasses.replace(off, mirror=False), Normalization(0.0, 1.0), seed=0)(images.clone())
    torch.testing.assert_close(never, images, atol=1e-5, rtol=0)


def break_by_renaming(old: str, new: str) -> Callable[[Path], Path]:
    def breaks(photos: Path) -> Path:
        (photos / old).rename(photos / new)
        return photos / new

    return breaks


def not_an_image(photos: Path) -> Path:
    path = photos / "B/notes.jpg"
    path.write_text("not an image", encoding="utf-8")
    return path


def truncated_jpeg(photos: Path) -> Path:
    path = photos / "C/cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:600])
    return path


def empty_folder(photos: Path) -> Path:
    (photos / "E").mkdir()
    return photos / "E"


def text_file(photos: Path) -> Path:
    path = photos / "A/notes.txt"
    path.write_text("notes", encoding="utf-8")
    return path


def edit_boxes(change: Callable[[list[str]], list[str]]) -> Callable[[Path], Path]:
    def breaks(photos: Path) -> Path:
        boxes = photos / "boxes.csv"
        boxes.write_text("\n".join(change(boxes.read_text().splitlines())) + "\n", encoding="utf-8")
        return boxes

    return breaks


@dataclass(frozen=True)
class BadPhotos:
    name: str
    breaks: Callable[[Path], Path]  # damages the photo folder, returns the path the message names
    message: str


BAD_PHOTOS = [
    BadPhotos("not an image", not_an_image, "not a readable image (cannot identify image file"),
    BadPhotos("truncated JPEG", truncated_jpeg, "not a readable image ("),
    BadPhotos("a folder for J", break_by_renaming("D", "J"),
              "folder 'J' is not a letter the model knows; expected one of A-Y without J (J and Z need motion)"),
    BadPhotos("a folder for Z", break_by_renaming("D", "Z"), "folder 'Z' is not a letter the model knows"),
    BadPhotos("a folder that is no letter", break_by_renaming("D", "misc"), "folder 'misc' is not a letter"),
    BadPhotos("an empty folder", empty_folder, "empty folder; expected photos (.jpg, .jpeg, .png) of E"),
    BadPhotos("a text file among photos", text_file, "not a photo; expected .jpg, .jpeg, .png files in"),
    BadPhotos("boxes.csv row for a missing file", edit_boxes(lambda rows: [*rows, "A/gone.png,A,1,1,5,5"]),
              "line 14: 'A/gone.png' is not a photo in"),
    BadPhotos("box outside the image",
              edit_boxes(lambda rows: [rows[0], rows[1].rsplit(",", 1)[0] + ",65", *rows[2:]]),
              "line 2: box"),
    BadPhotos("boxes.csv with a bad header", edit_boxes(lambda rows: ["name,letter,x0,y0,x1,y1", *rows[1:]]),
              "line 1: header is 'name,letter,x0,y0,x1,y1', expected 'file,letter,x0,y0,x1,y1'"),
    BadPhotos("boxes.csv letter not the folder's",
              edit_boxes(lambda rows: [rows[0], rows[1].replace(",A,", ",B,"), *rows[2:]]),
              "line 2: letter 'B', but A/A0_v1.png is in folder A"),
]


@pytest.mark.parametrize("case", BAD_PHOTOS, ids=[case.name for case in BAD_PHOTOS])
def test_prepare_rejects_bad_photos_in_one_line_and_writes_nothing(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    case: BadPhotos,
) -> None:
    named = case.breaks(photos_dir)
    out = tmp_path / "prepared"
    code = load_stage("prepare").main(prepare_argv(raw_dir, out, photos_dir, extra_dir))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {named}"), err
    assert case.message in err, err
    assert not out.exists() or not any(out.rglob("*"))


def test_a_photo_in_data_extra_is_framed_and_trained_on(
    raw_dir: Path, photos_dir: Path, extra_dir: Path, tmp_path: Path
) -> None:
    write_photo_folder(extra_dir, per_letter=1, seed=9, labels=(2,))
    out = tmp_path / "prepared"
    assert load_stage("prepare").main(prepare_argv(raw_dir, out, photos_dir, extra_dir)) == 0
    labels = np.load(out / "extra_labels.npy")
    crops = len(labels)
    assert crops >= 1 and set(labels.tolist()) == {2}
    assert np.load(out / "extra_images.npy").shape == (crops, 1, 28, 28)


def test_a_dataset_image_comes_out_of_framing_unchanged(tmp_path: Path) -> None:
    pixels = make_split(1, seed=4)[1][0]
    Image.fromarray(pixels.reshape(28, 28)).save(tmp_path / "row.png")
    image = read_photo(tmp_path / "row.png")
    np.testing.assert_array_equal(frame_pixels(image, center_square(image.size)), pixels)


@pytest.mark.parametrize(("name", "dtype", "mode"), [("deep.png", np.uint16, "I;16"), ("deep.tif", np.uint16, "I;16"),
                                                     ("deep.tif", np.int32, "I")])
def test_a_16_bit_grayscale_photo_reads_as_its_8_bit_version(tmp_path: Path, name: str, dtype: type, mode: str) -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    low = np.random.default_rng(0).integers(0, 256, pixels.shape)  # 8 bits are its high byte, as a browser's
    Image.fromarray((pixels.astype(dtype) * 256 + low).astype(dtype)).save(tmp_path / name)
    with Image.open(tmp_path / name) as opened:
        assert opened.mode == mode  # as Pillow opens it: not 8 bits already
    np.testing.assert_array_equal(np.asarray(read_photo(tmp_path / name).convert("L")), pixels)


def test_photo_crops_are_the_same_from_one_process_or_several(
    photos_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = project_params(PrepareParams, "prepare", photo_crops=3)
    photos = framed_photos(photos_dir, landmarks_without_hands(photos_dir, tmp_path / "landmarks"))
    one, labels = photo_crops(photos, params, workers=1)
    monkeypatch.setattr("signlang.data.PARALLEL_FROM", 0)
    several, same_labels = photo_crops(photos, params, workers=2)
    np.testing.assert_array_equal(one, several)
    np.testing.assert_array_equal(labels, same_labels)
    assert one.shape == (12 * 3, 784)
    # a photo's crops depend on it alone: without the first photo, the others' crops stay as they were
    rest, _ = photo_crops(photos[1:], params, workers=1)
    np.testing.assert_array_equal(rest, one[3:])
