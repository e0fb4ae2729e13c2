"""Photo folders: ``<LETTER>/*.jpg|jpeg|png`` (the layout torchvision's ImageFolder reads), with an
optional ``boxes.csv`` of labelled hand boxes (``file,letter,x0,y0,x1,y1`` in pixels); or
``<source>/<LETTER>/*.jpg``, one such folder per source (a collection, a person), lowercase names.
A README.md, LICENSE or NOTICE file may sit beside the folders (a source's credit and licence).

Letters are A-Y without J (J and Z need motion, so the dataset has neither). Hidden files (a
``.gitkeep``, ``.DS_Store``) are skipped; anything else that does not fit the layout is bad input,
reported in one line naming the file (and the line of boxes.csv) and what was expected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from signlang import LETTERS
from signlang.errors import SignlangError
from signlang.framing import Box

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
BOXES_FILE = "boxes.csv"
BOXES_HEADER = ("file", "letter", "x0", "y0", "x1", "y1")
NOTICE_FILES = ("README.md", "LICENSE", "NOTICE")
ORIENTATION_TAG = 0x0112  # EXIF
STATIC_LETTERS = tuple(letter for letter in LETTERS if letter not in ("J", "Z"))


@dataclass(frozen=True)
class Photo:
    path: Path
    name: str  # the path under the folder's root, as boxes.csv names it: "A/A0_292a0804.jpg"
    label: int  # index into LETTERS
    group: str  # the versions and shots of one photo share it: the file name before the first '_'
    box: Box | None  # the labelled hand box, where boxes.csv has one
    source: str = ""  # the <source>/ folder it is in; "" in a folder of letters

    @property
    def key(self) -> str:
        """The path under the folder read: ``name``, under its <source>/ folder where it has one."""
        return f"{self.source}/{self.name}" if self.source else self.name


def read_photo_folder(root: Path) -> list[Photo]:
    """Every photo under ``root`` in a fixed order (source, letter, then file name); a folder with no
    letter folders gives none. Raises SignlangError on the first thing that does not fit the layout."""
    if not root.is_dir():
        raise SignlangError(f"{root}: not a folder; expected one <LETTER>/ folder of photos per letter")
    entries = _visible(root)
    folders = [entry for entry in entries if entry.is_dir()]
    if folders and all(entry.name not in STATIC_LETTERS and entry.name.islower() for entry in folders):
        for entry in entries:
            if entry.is_file() and entry.name not in NOTICE_FILES:
                raise SignlangError(f"{entry}: unexpected file; {root} holds <source>/<LETTER>/ folders")
        return [photo for source in folders for photo in _letter_folders(source, source.name)]
    return _letter_folders(root, "")


def _letter_folders(root: Path, source: str) -> list[Photo]:
    files = list(_photo_files(root))
    boxes = _read_boxes(root, {path.relative_to(root).as_posix(): path for path, _ in files})
    names = [path.relative_to(root).as_posix() for path, _ in files]
    return [
        Photo(path, name, label, path.stem.split("_", 1)[0], boxes.get(name), source)
        for (path, label), name in zip(files, names)
    ]


def _visible(folder: Path) -> list[Path]:
    return [entry for entry in sorted(folder.iterdir()) if not entry.name.startswith(".")]


def _photo_files(root: Path) -> Iterable[tuple[Path, int]]:
    for entry in _visible(root):
        if entry.is_file():
            if entry.name not in (BOXES_FILE, *NOTICE_FILES):
                raise SignlangError(f"{entry}: unexpected file; {root} holds <LETTER>/ folders and {BOXES_FILE}")
            continue
        if entry.name not in STATIC_LETTERS:
            raise SignlangError(
                f"{entry}: folder '{entry.name}' is not a letter the model knows; expected one of "
                f"{STATIC_LETTERS[0]}-{STATIC_LETTERS[-1]} without J (J and Z need motion)"
            )
        photos = [path for path in sorted(entry.iterdir()) if not path.name.startswith(".")]
        if not photos:
            raise SignlangError(f"{entry}: empty folder; expected photos ({', '.join(PHOTO_SUFFIXES)}) of {entry.name}")
        for path in photos:
            if not path.is_file() or path.suffix.lower() not in PHOTO_SUFFIXES:
                raise SignlangError(f"{path}: not a photo; expected {', '.join(PHOTO_SUFFIXES)} files in {entry}")
            yield path, LETTERS.index(entry.name)


def _read_boxes(root: Path, photos: dict[str, Path]) -> dict[str, Box]:
    """boxes.csv, if there is one: each row must name a photo under ``root``, its letter, and a box
    inside that photo."""
    path = root / BOXES_FILE
    if not path.is_file():
        return {}
    boxes: dict[str, Box] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != BOXES_HEADER:
            raise SignlangError(f"{path}: line 1: header is {','.join(header)!r}, expected {','.join(BOXES_HEADER)!r}")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            name, box = _parse_box_row(path, number, row)
            if name not in photos:
                raise SignlangError(f"{path}: line {number}: {name!r} is not a photo in {root}")
            if name.split("/")[0] != row[1]:
                folder = name.split("/")[0]
                raise SignlangError(f"{path}: line {number}: letter {row[1]!r}, but {name} is in folder {folder}")
            _check_inside(path, number, name, box, photos[name])
            boxes[name] = box
    return boxes


def _parse_box_row(path: Path, number: int, row: list[str]) -> tuple[str, Box]:
    if len(row) != len(BOXES_HEADER):
        expected = f"{len(BOXES_HEADER)} ({','.join(BOXES_HEADER)})"
        raise SignlangError(f"{path}: line {number}: {len(row)} fields, expected {expected}")
    try:
        box = Box.parse(",".join(row[2:]))
    except ValueError as error:
        raise SignlangError(f"{path}: line {number}: {error}") from error
    return row[0], box


def _check_inside(path: Path, number: int, name: str, box: Box, photo: Path) -> None:
    try:
        with Image.open(photo) as image:  # the header only; the photo is decoded when it is framed
            width, height = image.size
            if image.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8):  # turned a quarter: boxes are upright
                width, height = height, width
    except (UnidentifiedImageError, OSError) as error:
        raise SignlangError(f"{photo}: not a readable image ({str(error).splitlines()[0]})") from error
    if box.x0 < 0 or box.y0 < 0 or box.x1 > width or box.y1 > height:
        raise SignlangError(
            f"{path}: line {number}: box {','.join(f'{v:g}' for v in box.as_tuple())} lies outside {name} "
            f"({width}x{height}); expected 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}"
        )
